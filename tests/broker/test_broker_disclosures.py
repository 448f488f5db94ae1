"""Risk disclosures: the shipped texts, the registry, and the gate on opening and reducing."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from onshore.broker import (
    PERPETUAL_FUTURES_ADDENDUM,
    RISK_DISCLOSURE_STATEMENT,
    BrokerConfig,
    DisclosureError,
    DisclosureReason,
    DisclosureRegistry,
    can_open_or_increase,
    can_reduce,
)
from onshore.broker.disclosures import render, sha256_hex, shipped_documents, shipped_texts

STATEMENT, ADDENDUM = RISK_DISCLOSURE_STATEMENT, PERPETUAL_FUTURES_ADDENDUM

# A shipped text never changes once published: a change is a new version with a new file.
PUBLISHED_SHA256 = {
    ("us_clearing", STATEMENT, "1"): "be3a87f9f9bf166c30378b37785e7f023df81cdcc3035b680e4cbac50cb78024",
    ("offshore", STATEMENT, "1"): "be3a87f9f9bf166c30378b37785e7f023df81cdcc3035b680e4cbac50cb78024",
    ("us_clearing", ADDENDUM, "1"): "cb27be20ae6b0d0e39fbda1c83a2f9e552756fe2bf9aa3bf0e73ca5ba0fba043",
    ("offshore", ADDENDUM, "1"): "d1e9906f059a4ab5214334a1ce20e693c9710eeb6cec1f11cb28b883128152c4",
}


# ----------------------------------------------------------------------------- the texts
def test_the_shipped_documents_and_their_pinned_hashes() -> None:
    assert shipped_documents() == (ADDENDUM, STATEMENT)
    for (loss_model, document, version), sha in PUBLISHED_SHA256.items():
        text = shipped_texts(loss_model)[(document, version)]
        assert text.sha256 == sha == sha256_hex(text.text), (loss_model, document, version)


@pytest.mark.parametrize(
    "phrase",
    [
        "lose everything you deposit, and more",
        "margin at short notice",
        "owe any deficit",
        "not insured",
        "Securities Investor Protection Corporation",
        "impossible to close a position",
        "stop or stop-limit order",
        "Spreads are not necessarily safer",
        "Leverage works both ways",
        "17 CFR 1.55(b)",
    ],
)
def test_the_risk_disclosure_statement_covers_the_content_of_1_55(phrase: str) -> None:
    assert phrase in shipped_texts("us_clearing")[(STATEMENT, "1")].text


@pytest.mark.parametrize(
    "phrase",
    ["No expiry", "Funding payments", "Leverage and its limits", "liquidated", "Losses beyond your deposit", "segment"],
)
def test_the_addendum_covers_what_is_particular_to_perpetuals(phrase: str) -> None:
    for loss_model in ("us_clearing", "offshore"):
        assert phrase in shipped_texts(loss_model)[(ADDENDUM, "1")].text


def test_the_addendum_names_the_loss_model_in_force_and_only_that_one() -> None:
    us = shipped_texts("us_clearing")[(ADDENDUM, "1")].text
    offshore = shipped_texts("offshore")[(ADDENDUM, "1")].text
    assert "The loss model in force is **`us_clearing`**" in us
    assert "insurance fund" not in us and "`offshore`" not in us
    assert "The loss model in force is **`offshore`**" in offshore
    assert "automatically deleverages" in offshore and "`us_clearing`" not in offshore
    assert "<!--" not in us + offshore


def test_rendering_keeps_the_section_of_the_model_and_refuses_broken_markers() -> None:
    text = (
        "a\n"
        "<!-- loss-model: x -->\nonly x\n<!-- end loss-model -->\n"
        "<!-- loss-model: y -->\nonly y\n<!-- end loss-model -->\n"
        "b\n"
    )
    assert render(text, "x") == "a\nonly x\nb\n"
    assert render(text, "y") == "a\nonly y\nb\n"
    assert render("no sections\r\n", "z") == "no sections\n"
    with pytest.raises(ValueError, match="no section for the loss model 'z'"):
        render(text, "z")
    with pytest.raises(ValueError, match="not closed"):
        render("<!-- loss-model: x -->\nx\n", "x")
    with pytest.raises(ValueError, match="closes without opening"):
        render("x\n<!-- end loss-model -->\n", "x")
    with pytest.raises(ValueError, match="opens inside"):
        render("<!-- loss-model: x -->\n<!-- loss-model: y -->\n", "x")


def test_an_unknown_loss_model_or_document_is_refused(config: BrokerConfig) -> None:
    with pytest.raises(ValueError, match="unknown loss model"):
        DisclosureRegistry.builtin(config.disclosure_versions, "socialised")
    with pytest.raises(ValueError, match="unknown disclosure document 'terms'"):
        DisclosureRegistry.builtin({"terms": "1"}, "us_clearing")


# ----------------------------------------------------------------------------- the registry
def test_a_new_account_must_acknowledge_every_current_document(registry: DisclosureRegistry) -> None:
    assert registry.documents == (ADDENDUM, STATEMENT)
    assert registry.required({}) == [(ADDENDUM, "1"), (STATEMENT, "1")]
    assert registry.sha256(STATEMENT, "1") == PUBLISHED_SHA256[("us_clearing", STATEMENT, "1")]
    text = registry.text(ADDENDUM, "1")
    assert text is not None and text.title.startswith("Perpetual futures")


def test_publishing_makes_a_version_current_and_keeps_the_history(registry: DisclosureRegistry) -> None:
    registry.publish(ADDENDUM, "2")
    registry.publish(ADDENDUM, "2.1")
    registry.check_invariants()
    assert registry.current() == {ADDENDUM: "2.1", STATEMENT: "1"}
    assert registry.published(ADDENDUM) == ("1", "2", "2.1")
    assert registry.sha256(ADDENDUM, "2.1") is None  # published without a shipped text
    assert registry.snapshot()[ADDENDUM] == {"current": "2.1", "published": ["1", "2", "2.1"], "sha256": None}


def test_a_snapshot_restores_the_same_registry(registry: DisclosureRegistry) -> None:
    registry.publish(STATEMENT, "2")
    restored = DisclosureRegistry.from_snapshot(registry.snapshot(), "us_clearing")
    assert restored.snapshot() == registry.snapshot()
    assert restored.published(STATEMENT) == ("1", "2")
    broken = registry.snapshot()
    broken[STATEMENT] = {"current": "3", "published": ["1", "2"], "sha256": None}
    with pytest.raises(ValueError, match="current is not the last published"):
        DisclosureRegistry.from_snapshot(broken, "us_clearing")


@pytest.mark.parametrize(
    ("document", "version", "reason"),
    [
        ("terms_of_service", "2", DisclosureReason.UNKNOWN_DOCUMENT),
        (ADDENDUM, "", DisclosureReason.INVALID_VERSION),
        (ADDENDUM, "two words", DisclosureReason.INVALID_VERSION),
        (ADDENDUM, "x" * 33, DisclosureReason.INVALID_VERSION),
        (ADDENDUM, "1", DisclosureReason.VERSION_ALREADY_PUBLISHED),  # the current one
        (STATEMENT, "1", DisclosureReason.VERSION_ALREADY_PUBLISHED),
    ],
)
def test_a_bad_publication_is_refused_and_changes_nothing(
    registry: DisclosureRegistry, document: str, version: str, reason: DisclosureReason
) -> None:
    before = registry.snapshot()
    with pytest.raises(DisclosureError) as caught:
        registry.publish(document, version)
    assert caught.value.reason == reason
    assert registry.snapshot() == before


def test_an_old_version_can_never_come_back(registry: DisclosureRegistry) -> None:
    registry.publish(STATEMENT, "2")
    with pytest.raises(DisclosureError) as caught:
        registry.publish(STATEMENT, "1")
    assert caught.value.reason == DisclosureReason.VERSION_ALREADY_PUBLISHED


def test_only_the_current_version_can_be_acknowledged(registry: DisclosureRegistry) -> None:
    registry.ensure_acknowledgeable(ADDENDUM, "1")
    registry.publish(ADDENDUM, "2")
    with pytest.raises(DisclosureError) as caught:
        registry.ensure_acknowledgeable(ADDENDUM, "1")
    assert caught.value.reason == DisclosureReason.NOT_CURRENT_VERSION
    assert "acknowledge version 2" in caught.value.detail
    with pytest.raises(DisclosureError) as unknown:
        registry.ensure_acknowledgeable("terms", "1")
    assert unknown.value.reason == DisclosureReason.UNKNOWN_DOCUMENT


# ----------------------------------------------------------------------------- the gate
def test_before_acknowledgment_the_account_cannot_open_after_it_can(registry: DisclosureRegistry) -> None:
    acknowledged: dict[str, str] = {}
    assert not can_open_or_increase(acknowledged, registry)
    assert not can_reduce(acknowledged, registry)
    acknowledged[STATEMENT] = "1"
    assert not can_open_or_increase(acknowledged, registry)  # the addendum is still missing
    assert can_reduce(acknowledged, registry)
    acknowledged[ADDENDUM] = "1"
    assert can_open_or_increase(acknowledged, registry)


@pytest.mark.parametrize("document", [STATEMENT, ADDENDUM])
def test_a_new_version_makes_the_account_reduce_only_until_acknowledged(
    registry: DisclosureRegistry, document: str
) -> None:
    acknowledged = {STATEMENT: "1", ADDENDUM: "1"}
    registry.publish(document, "2")
    assert registry.required(acknowledged) == [(document, "2")]
    assert not can_open_or_increase(acknowledged, registry)
    assert can_reduce(acknowledged, registry)
    registry.ensure_acknowledgeable(document, "2")
    acknowledged[document] = "2"
    assert can_open_or_increase(acknowledged, registry)


def test_a_registry_without_the_1_55_statement_gates_reducing_on_every_document() -> None:
    registry = DisclosureRegistry({"house_rules": "1", ADDENDUM: "1"})
    assert not can_reduce({ADDENDUM: "1"}, registry)
    assert can_reduce({ADDENDUM: "1", "house_rules": "1"}, registry)
    registry.publish("house_rules", "2")
    assert can_reduce({ADDENDUM: "1", "house_rules": "1"}, registry)


def test_an_acknowledgment_of_a_version_never_published_counts_for_nothing(registry: DisclosureRegistry) -> None:
    forged = {STATEMENT: "99", ADDENDUM: "99"}
    assert not can_open_or_increase(forged, registry)
    assert not can_reduce(forged, registry)


class DisclosureMachine(RuleBasedStateMachine):
    """Random publications and acknowledgments by a few accounts against a model of the rule."""

    def __init__(self) -> None:
        super().__init__()
        config = BrokerConfig.default()
        self.registry = DisclosureRegistry.builtin(config.disclosure_versions, "offshore")
        self.acks: dict[str, dict[str, str]] = {"alice": {}, "bob": {}, "carol": {}}
        self.acked_statement_ever: set[str] = set()
        self.next_version = 2

    @rule(document=st.sampled_from((STATEMENT, ADDENDUM, "terms")))
    def publish(self, document: str) -> None:
        before = self.registry.snapshot()
        try:
            self.registry.publish(document, str(self.next_version))
        except DisclosureError:
            assert document == "terms"
            assert self.registry.snapshot() == before
            return
        self.next_version += 1

    @rule(account=st.sampled_from(("alice", "bob", "carol")), document=st.sampled_from((STATEMENT, ADDENDUM)))
    def acknowledge_current(self, account: str, document: str) -> None:
        version = self.registry.current_version(document)
        self.registry.ensure_acknowledgeable(document, version)
        self.acks[account][document] = version
        if document == STATEMENT:
            self.acked_statement_ever.add(account)

    @rule(account=st.sampled_from(("alice", "bob", "carol")), document=st.sampled_from((STATEMENT, ADDENDUM)))
    def try_to_acknowledge_an_old_version(self, account: str, document: str) -> None:
        published = self.registry.published(document)
        if len(published) > 1:
            with pytest.raises(DisclosureError):
                self.registry.ensure_acknowledgeable(document, published[0])

    @invariant()
    def the_gate_matches_the_rule(self) -> None:
        self.registry.check_invariants()
        current = self.registry.current()
        for account, acks in self.acks.items():
            all_current = all(acks.get(document) == version for document, version in current.items())
            assert can_open_or_increase(acks, self.registry) is all_current
            assert can_reduce(acks, self.registry) is (account in self.acked_statement_ever)


DisclosureMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestDisclosureMachine = DisclosureMachine.TestCase
