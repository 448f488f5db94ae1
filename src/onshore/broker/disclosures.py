"""Versioned risk disclosure documents and the acknowledgments that gate trading.

17 CFR 1.55(a) forbids an FCM to open a futures account for a customer before it has
furnished the risk disclosure statement and received the customer's signed and dated
acknowledgment; NFA Rule 2-30 adds that the disclosure is given at or before the
account opens. Onshore ships two documents, as package data under
``onshore/broker/texts/<document>/<version>.md``:

``risk_disclosure_statement``
    A plain-language summary of the content 17 CFR 1.55(b) prescribes. A real FCM
    must furnish the regulation's exact language (or a statement approved under
    1.55(c)); replace the text and publish a new version to do so.
``perpetual_futures_addendum``
    What is particular to a perpetual contract: no expiry, funding payments, leverage
    and its caps, liquidation, losses beyond the deposit, and the loss model in force.
    The text carries one section per loss model between
    ``<!-- loss-model: NAME -->`` and ``<!-- end loss-model -->`` lines; rendering
    keeps the section of the model in force (``us_clearing`` or ``offshore``) and
    drops the others, so the customer reads, and acknowledges, only the rule that
    applies to them.

Each rendered text has a SHA-256 (of its UTF-8 bytes, ``\\n`` line endings) so that an
acknowledgment can be tied to the exact words acknowledged.

The gate (:func:`can_open_or_increase`, :func:`can_reduce`): an account may open or
increase a position only when it has acknowledged the current version of every
document in force. After a new version is published it may still reduce its
positions: reducing risk is never blocked by paperwork once the account has
acknowledged some version of the 1.55 statement, which is what 1.55(a) requires
before an account trades at all.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from importlib import resources

import msgspec

RISK_DISCLOSURE_STATEMENT = "risk_disclosure_statement"
"""The 17 CFR 1.55 risk disclosure statement."""
PERPETUAL_FUTURES_ADDENDUM = "perpetual_futures_addendum"
"""The perpetual-futures addendum."""
LOSS_MODELS = ("us_clearing", "offshore")
"""The loss models the addendum describes (the venue's ``clearing.loss_model``)."""

VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}\Z")
"""A version: up to 32 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit."""

_DOCUMENT_RE = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_BLOCK_START_RE = re.compile(r"<!-- loss-model: ([a-z_]+) -->\Z")
_BLOCK_END = "<!-- end loss-model -->"


class DisclosureReason(StrEnum):
    """Why a disclosure command was refused (``command_rejected.reason``)."""

    UNKNOWN_DOCUMENT = "unknown_document"
    """The document is not one of the documents in force."""
    INVALID_VERSION = "invalid_version"
    """The version is not a short string of letters, digits, ``.``, ``_`` or ``-``."""
    VERSION_ALREADY_PUBLISHED = "version_already_published"
    """Publishing a version that was already published for that document (versions never return)."""
    NOT_CURRENT_VERSION = "not_current_version"
    """Acknowledging a version that is not the document's current one."""


class DisclosureError(ValueError):
    """A refused publication or acknowledgment; nothing changed."""

    def __init__(self, reason: DisclosureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class DisclosureText(msgspec.Struct, frozen=True, kw_only=True):
    """One version of one document, rendered for the loss model in force."""

    document: str
    version: str
    title: str
    text: str
    sha256: str


# ----------------------------------------------------------------------------- catalogue
def render(text: str, loss_model: str) -> str:
    """Keep the loss-model section of ``loss_model`` in ``text`` and drop the others.

    A text without loss-model sections is returned unchanged (line endings ``\\n``).
    Raises ``ValueError`` if the text has sections but none for ``loss_model``, or if
    its markers are unbalanced.
    """
    out: list[str] = []
    keep = True
    inside: str | None = None
    seen: set[str] = set()
    for line in text.splitlines():
        start = _BLOCK_START_RE.match(line.strip())
        if start is not None:
            if inside is not None:
                raise ValueError(f"loss-model section {start.group(1)!r} opens inside {inside!r}")
            inside = start.group(1)
            seen.add(inside)
            keep = inside == loss_model
            continue
        if line.strip() == _BLOCK_END:
            if inside is None:
                raise ValueError("a loss-model section closes without opening")
            inside, keep = None, True
            continue
        if keep:
            out.append(line)
    if inside is not None:
        raise ValueError(f"loss-model section {inside!r} is not closed")
    if seen and loss_model not in seen:
        raise ValueError(f"no section for the loss model {loss_model!r} (sections: {', '.join(sorted(seen))})")
    return "\n".join(out).strip("\n") + "\n"


def sha256_hex(text: str) -> str:
    """Return the SHA-256 of ``text`` encoded as UTF-8, in lower-case hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _title(text: str, document: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return document


@cache
def _shipped_sources() -> dict[tuple[str, str], str]:
    root = resources.files("onshore.broker").joinpath("texts")
    sources: dict[tuple[str, str], str] = {}
    for folder in sorted(root.iterdir(), key=lambda entry: entry.name):
        if not folder.is_dir() or _DOCUMENT_RE.match(folder.name) is None:
            continue
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            version = entry.name.removesuffix(".md")
            if entry.is_file() and entry.name.endswith(".md") and VERSION_RE.match(version):
                sources[(folder.name, version)] = entry.read_text("utf-8").replace("\r\n", "\n")
    return sources


def shipped_documents() -> tuple[str, ...]:
    """Return the names of the documents shipped with Onshore, sorted."""
    return tuple(sorted({document for document, _ in _shipped_sources()}))


@cache
def shipped_texts(loss_model: str) -> dict[tuple[str, str], DisclosureText]:
    """Return every shipped ``(document, version)`` rendered for ``loss_model``.

    Runtime complexity: reads the package data once per loss model (cached).
    """
    if loss_model not in LOSS_MODELS:
        raise ValueError(f"unknown loss model {loss_model!r} (known: {', '.join(LOSS_MODELS)})")
    texts: dict[tuple[str, str], DisclosureText] = {}
    for (document, version), source in _shipped_sources().items():
        text = render(source, loss_model)
        texts[(document, version)] = DisclosureText(
            document=document, version=version, title=_title(text, document), text=text, sha256=sha256_hex(text)
        )
    return texts


# ----------------------------------------------------------------------------- registry
class DisclosureRegistry:
    """The documents in force, their current versions and every version published.

    Changed only by :meth:`publish`, which checks everything before it changes
    anything. A version's text is known when it ships with Onshore (or is passed in
    ``texts``); a version published without a known text is still a version: its
    acknowledgment is tracked, its ``sha256`` is ``None``.
    """

    __slots__ = ("_current", "_published", "_texts")

    def __init__(
        self, current: Mapping[str, str], texts: Mapping[tuple[str, str], DisclosureText] | None = None
    ) -> None:
        if not current:
            raise ValueError("a disclosure registry needs at least one document")
        for document, version in current.items():
            if _DOCUMENT_RE.match(document) is None:
                raise ValueError(f"{document!r} is not a document name (lower-case letters, digits and _)")
            if VERSION_RE.match(version) is None:
                raise ValueError(f"{document}: {version!r} is not a version")
        self._current: dict[str, str] = dict(sorted(current.items()))
        self._published: dict[str, list[str]] = {document: [version] for document, version in self._current.items()}
        self._texts: dict[tuple[str, str], DisclosureText] = dict(texts or {})

    @classmethod
    def builtin(cls, versions: Mapping[str, str], loss_model: str) -> DisclosureRegistry:
        """Return a registry of the shipped texts, rendered for ``loss_model``, at ``versions``.

        ``versions`` is ``BrokerConfig.disclosure_versions``; ``loss_model`` is the venue's
        ``clearing.loss_model``. Raises ``ValueError`` for a document that is not shipped.
        """
        texts = shipped_texts(loss_model)
        known = shipped_documents()
        for document in versions:
            if document not in known:
                raise ValueError(f"unknown disclosure document {document!r} (known: {', '.join(known)})")
        return cls(versions, texts)

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Mapping[str, object]], loss_model: str) -> DisclosureRegistry:
        """Rebuild a registry from :meth:`snapshot`, with the shipped texts of ``loss_model``.

        Raises ``ValueError`` if the snapshot is inconsistent (checked by :meth:`check_invariants`).
        """
        registry = cls(
            {document: str(entry["current"]) for document, entry in snapshot.items()}, shipped_texts(loss_model)
        )
        for document, entry in snapshot.items():
            published = entry["published"]
            if not isinstance(published, list) or not all(isinstance(v, str) for v in published):
                raise ValueError(f"{document}: published must be a list of versions")
            registry._published[document] = list(published)
        try:
            registry.check_invariants()
        except AssertionError as exc:
            raise ValueError(f"inconsistent disclosure snapshot: {exc}") from exc
        return registry

    # ------------------------------------------------------------------ reading
    @property
    def documents(self) -> tuple[str, ...]:
        """The documents in force, sorted."""
        return tuple(self._current)

    def current(self) -> dict[str, str]:
        """Return ``{document: current version}`` (a copy)."""
        return dict(self._current)

    def current_version(self, document: str) -> str:
        """Return the current version of ``document``; ``KeyError`` if it is not in force."""
        return self._current[document]

    def published(self, document: str) -> tuple[str, ...]:
        """Return every version of ``document`` ever made current, oldest first."""
        return tuple(self._published[document])

    def text(self, document: str, version: str) -> DisclosureText | None:
        """Return the text of ``version`` of ``document``, or ``None`` if it is not known."""
        return self._texts.get((document, version))

    def sha256(self, document: str, version: str) -> str | None:
        """Return the SHA-256 of the text of ``version`` of ``document``, if the text is known."""
        known = self._texts.get((document, version))
        return None if known is None else known.sha256

    def required(self, acknowledged: Mapping[str, str]) -> list[tuple[str, str]]:
        """Return the ``(document, version)`` pairs still to acknowledge, sorted by document.

        ``acknowledged`` maps each document to the version the account acknowledged last.
        Runtime complexity: O(number of documents in force).
        """
        return [(doc, version) for doc, version in self._current.items() if acknowledged.get(doc) != version]

    # ------------------------------------------------------------------ checks
    def ensure_publishable(self, document: str, version: str) -> None:
        """Raise :class:`DisclosureError` unless ``publish(document, version)`` would succeed."""
        if document not in self._current:
            raise DisclosureError(
                DisclosureReason.UNKNOWN_DOCUMENT,
                f"{document!r} is not a disclosure document in force (documents: {', '.join(self._current)})",
            )
        if not isinstance(version, str) or VERSION_RE.match(version) is None:
            raise DisclosureError(
                DisclosureReason.INVALID_VERSION,
                f"{version!r} is not a version: use up to 32 letters, digits, '.', '_' or '-'",
            )
        if version in self._published[document]:
            raise DisclosureError(
                DisclosureReason.VERSION_ALREADY_PUBLISHED,
                f"version {version} of {document} was already published: publish a new version",
            )

    def ensure_acknowledgeable(self, document: str, version: str) -> None:
        """Raise :class:`DisclosureError` unless ``version`` is the current version of ``document``."""
        if document not in self._current:
            raise DisclosureError(
                DisclosureReason.UNKNOWN_DOCUMENT,
                f"{document!r} is not a disclosure document in force (documents: {', '.join(self._current)})",
            )
        current = self._current[document]
        if version != current:
            raise DisclosureError(
                DisclosureReason.NOT_CURRENT_VERSION,
                f"the current version of {document} is {current}, not {version!r}: acknowledge version {current}",
            )

    # ------------------------------------------------------------------ changing
    def publish(self, document: str, version: str) -> None:
        """Make ``version`` the current version of ``document``.

        Raises :class:`DisclosureError` (and changes nothing) for an unknown document,
        a malformed version, or a version already published for that document.
        """
        self.ensure_publishable(document, version)
        self._published[document].append(version)
        self._current[document] = version

    # ------------------------------------------------------------------ state
    def check_invariants(self) -> None:
        """Raise ``AssertionError`` if the registry is inconsistent."""
        assert list(self._current) == sorted(self._current), "documents out of order"
        assert set(self._current) == set(self._published), "current and published disagree on documents"
        for document, versions in self._published.items():
            assert versions, f"{document}: no version published"
            assert versions[-1] == self._current[document], f"{document}: current is not the last published"
            assert len(set(versions)) == len(versions), f"{document}: a version published twice"

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Return the registry as plain data: ``{document: {"current", "published", "sha256"}}``."""
        return {
            document: {
                "current": version,
                "published": list(self._published[document]),
                "sha256": self.sha256(document, version),
            }
            for document, version in self._current.items()
        }


# ----------------------------------------------------------------------------- the gate
def can_open_or_increase(acknowledged: Mapping[str, str], registry: DisclosureRegistry) -> bool:
    """Return whether the account has acknowledged the current version of every document."""
    return not registry.required(acknowledged)


def can_reduce(acknowledged: Mapping[str, str], registry: DisclosureRegistry) -> bool:
    """Return whether the account may send orders that only reduce its positions.

    True once the account has acknowledged some published version of the 17 CFR 1.55
    statement (a registry without that document requires some version of each
    document instead): a new version, or a new addendum, leaves it reduce-only until
    it acknowledges, never locked into a position.
    """
    gate = (RISK_DISCLOSURE_STATEMENT,) if RISK_DISCLOSURE_STATEMENT in registry.documents else registry.documents
    return all(acknowledged.get(document) in registry.published(document) for document in gate)
