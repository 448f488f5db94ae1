"""docs/protocol.md and docs/configuration.md cover what the code defines.

The protocol document must name every command type, event type and reason code the code
base defines, give each command and event a section listing its fields, and carry a worked
example that is the real output of the Venue. The configuration document must name every
key of the built-in TOML files. Each failure says what is missing, so that the fix is to
document it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pytest

from onshore.broker.disclosures import DisclosureReason
from onshore.broker.findings import Reason
from onshore.broker.onboarding import TradingReason
from onshore.broker.profile import PROFILE_FIELDS
from onshore.config.load import load_config
from onshore.core import events as ev
from onshore.core.commands import COMMAND_TYPES, Command, IndexUpdate, OnboardCustomer, Quote, decode_command
from onshore.core.events import encode_event
from onshore.core.reasons import Cancel, Reject
from onshore.venue import Venue
from onshore.venue import liquidation as liquidation_module
from onshore.venue.state import LOSS_LAYERS
from onshore.venue.venue import REDUCE_ONLY_EXCESS

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "protocol.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"

BASE_COMMAND_FIELDS = {"ts", "id"}  # documented once, under Conventions
BASE_EVENT_FIELDS = {"seq", "ts", "cmd"}

# Keys the configuration loader reads although the built-in files leave them out.
LOADER_ONLY_KEYS = (
    "markets.<market>.position_limits.default",
    "markets.<market>.position_limits.<segment>",
    "markets.<market>.mark.band",
    "markets.<market>.mark.basis_window",
    "markets.<market>.funding.premium_sample_ms",
    "indices.<index>.weights",
    "indices.<index>.hold_ms",
    "indices.<index>.outlier_band",
    "indices.<index>.tick_size",
    "segments.<segment>.markets",
    "clearing.clearing_house_capital",
    "clearing.backstop_accounts",
)


# ----------------------------------------------------------------------------- helpers
def _text(path: Path) -> str:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return path.read_text("utf-8")


def _sections(text: str, marker: str) -> dict[str, str]:
    """Split ``text`` at lines starting with ``marker`` (e.g. ``"## "``): heading -> body."""
    out: dict[str, str] = {}
    heading: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith(marker):
            if heading is not None:
                out[heading] = "\n".join(body)
            heading, body = line[len(marker) :].strip(), []
        elif heading is not None:
            body.append(line)
    if heading is not None:
        out[heading] = "\n".join(body)
    return out


def _part(title: str) -> dict[str, str]:
    """The ``###`` sections of the ``##`` part called ``title``, keyed by the backticked name."""
    parts = _sections(_text(PROTOCOL), "## ")
    assert title in parts, f"docs/protocol.md has no '## {title}' section"
    return {heading.strip("`"): body for heading, body in _sections(parts[title], "### ").items()}


def _tag(cls: type[msgspec.Struct]) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str), f"{cls.__name__} has no string tag"
    return tag


def _field_names(cls: type[msgspec.Struct]) -> list[str]:
    return [field.encode_name for field in msgspec.structs.fields(cls)]


def _event_types() -> list[type[ev.Event]]:
    found: list[type[ev.Event]] = []
    todo: list[type[ev.Event]] = [ev.Event]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            found.append(sub)
            todo.append(sub)
    return sorted(found, key=_tag)


def _liquidation_stages() -> set[str]:
    """The ``stage`` values the liquidation engine emits, read from its source."""
    tree = ast.parse(Path(liquidation_module.__file__).with_name("liquidation.py").read_text("utf-8"))
    stages: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "stage" and isinstance(node.value, ast.Constant):
            stages.add(str(node.value.value))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "stage" for t in node.targets):
            stages.update(str(c.value) for c in ast.walk(node.value) if isinstance(c, ast.Constant))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_book_close":
            stages.update(str(a.value) for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return stages


def _reason_codes() -> dict[str, set[str]]:
    return {
        "Reject": {str(r) for r in Reject},
        "Cancel": {str(c) for c in Cancel},
        "broker Reason": {str(r) for r in Reason},
        "DisclosureReason": {str(r) for r in DisclosureReason},
        "TradingReason": {str(r) for r in TradingReason},
        "venue order-cancel reasons": {REDUCE_ONLY_EXCESS, str(Cancel.LIQUIDATION)},
        "liquidation stages": _liquidation_stages(),
        "loss layers": set(LOSS_LAYERS),
    }


def _missing(names: set[str] | list[str], text: str) -> list[str]:
    return sorted(name for name in set(names) if f"`{name}`" not in text)


# ----------------------------------------------------------------------------- protocol.md
def test_every_command_type_is_documented_with_its_fields() -> None:
    commands = _part("Commands")
    tags = [_tag(cls) for cls in COMMAND_TYPES]
    assert len(set(tags)) == len(tags) == len(Command.__subclasses__())
    undocumented = [tag for tag in tags if tag not in commands]
    assert not undocumented, f"commands without a '### `type`' section under '## Commands': {undocumented}"
    problems = {}
    for cls in COMMAND_TYPES:
        fields = set(_field_names(cls)) - BASE_COMMAND_FIELDS
        if cls is IndexUpdate:
            fields |= set(_field_names(Quote))
        if cls is OnboardCustomer:
            fields |= set(PROFILE_FIELDS)
        missing = _missing(fields, commands[_tag(cls)])
        if missing:
            problems[_tag(cls)] = missing
    assert not problems, f"command fields not named in their section of docs/protocol.md: {problems}"
    conventions = _sections(_text(PROTOCOL), "## ")["Conventions"]
    assert not _missing(BASE_COMMAND_FIELDS | {"type"}, conventions)


def test_every_event_type_is_documented_with_its_fields() -> None:
    events = _part("Events")
    types = _event_types()
    assert types, "no Event subclasses found"
    undocumented = [_tag(cls) for cls in types if _tag(cls) not in events]
    assert not undocumented, f"events without a '### `type`' section under '## Events': {undocumented}"
    nested: dict[str, list[type[msgspec.Struct]]] = {
        "account_opened": [ev.Disclosure],
        "onboarding_rejected": [ev.OnboardingFinding],
    }
    problems = {}
    for cls in types:
        fields = set(_field_names(cls)) - BASE_EVENT_FIELDS
        for inner in nested.get(_tag(cls), []):
            fields |= set(_field_names(inner))
        missing = _missing(fields, events[_tag(cls)])
        if missing:
            problems[_tag(cls)] = missing
    assert not problems, f"event fields not named in their section of docs/protocol.md: {problems}"
    conventions = _sections(_text(PROTOCOL), "## ")["Conventions"]
    assert not _missing(BASE_EVENT_FIELDS, conventions)


@pytest.mark.parametrize("family", sorted(_reason_codes()))
def test_every_reason_code_is_documented(family: str) -> None:
    codes = _reason_codes()[family]
    assert codes, f"found no {family}"
    missing = _missing(codes, _text(PROTOCOL))
    assert not missing, f"{family} not mentioned (as `code`) in docs/protocol.md: {missing}"


def test_liquidation_stages_are_the_documented_ones() -> None:
    assert _liquidation_stages() == {
        "partial", "full", "backstop", "market", "takeover", "adl", "tear_up", "house_offload"
    }  # fmt: skip


def test_worked_example_is_the_venues_real_output() -> None:
    section = _sections(_text(PROTOCOL), "## ")["A worked example"]
    blocks = re.findall(r"```jsonl\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2, "the worked example needs a ```jsonl block of commands and one of events"
    commands, expected = (block.strip().splitlines() for block in blocks)
    venue = Venue(load_config(None))
    produced = [encode_event(event).decode() for line in commands for event in venue.apply(decode_command(line))]
    assert produced == expected, (
        "the worked example in docs/protocol.md is no longer what the Venue prints: replay its commands with "
        "`onshore replay` and paste the events (and check the explanation below them)"
    )


# ----------------------------------------------------------------------------- configuration.md
def _leaves(value: Any, parts: list[str]) -> Iterator[list[str]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, [*parts, key])
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for item in value:
            yield from _leaves(item, [*parts[:-1], parts[-1] + "[]"])
    else:
        yield parts


def _general(parts: list[str]) -> str:
    """A key's documented form: instance names become placeholders."""
    out = list(parts)
    if out[0] == "markets":
        out[1] = "<market>"
        if len(out) > 3 and out[2] == "position_limits" and out[3] != "default":
            out[3] = "<segment>"
    elif out[0] == "indices":
        out[1] = "<index>"
    elif out[0] == "segments":
        out[1] = "<segment>"
    elif out[:3] == ["broker", "suitability", "product_points"]:
        out[3] = "<product>"
    return ".".join(out)


def _builtin_keys() -> set[str]:
    venue = tomllib.loads(resources.files("onshore.config").joinpath("defaults.toml").read_text("utf-8"))
    broker = tomllib.loads(resources.files("onshore.broker").joinpath("defaults.toml").read_text("utf-8"))
    return {_general(parts) for table in (venue, broker) for parts in _leaves(table, [])}


def test_every_builtin_configuration_key_is_documented() -> None:
    keys = _builtin_keys()
    assert any(key.startswith("broker.") for key in keys) and "markets.<market>.tick_size" in keys
    missing = _missing(keys, _text(CONFIGURATION))
    assert not missing, f"configuration keys not documented (as `dotted.key`) in docs/configuration.md: {missing}"


def test_loader_only_configuration_keys_are_documented() -> None:
    missing = _missing(set(LOADER_ONLY_KEYS), _text(CONFIGURATION))
    assert not missing, f"keys the loader accepts but docs/configuration.md does not name: {missing}"


def test_configuration_doc_explains_the_merge() -> None:
    text = _text(CONFIGURATION)
    assert "`--config FILE`" in text
    assert "tables merge key by key" in text
