"""Golden scenarios: whole flows replayed through the Venue, events and final state compared exactly.

Each scenario ``NAME`` in this folder is ``NAME.commands.jsonl`` (the input), an optional
``NAME.config.toml`` (merged over the built-in configuration), the expected
``NAME.events.jsonl`` and ``NAME.state.json``, and ``NAME.md``: the numbers worked out by
hand before the expected files were frozen. ``ONSHORE_REGEN_GOLDEN=1`` rewrites the
expected files from the current code; review the diff against ``NAME.md`` before keeping it.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from onshore.adapters.cli import replay_lines
from onshore.config.load import load_config
from onshore.core.events import CommandRejected, event_to_dict
from onshore.venue import Venue
from venue.reference import ReferenceClearing

HERE = Path(__file__).resolve().parent
SCENARIOS = sorted(p.name.removesuffix(".commands.jsonl") for p in HERE.glob("*.commands.jsonl"))
REGEN = os.environ.get("ONSHORE_REGEN_GOLDEN") == "1"


def run_scenario(name: str) -> tuple[list[dict[str, Any]], dict[str, Any], Venue]:
    """Replay a scenario in process: its events (as plain dicts) and final state document."""
    config_file = HERE / f"{name}.config.toml"
    config = load_config(config_file.read_text("utf-8") if config_file.exists() else None)
    venue = Venue(config)
    lines = (HERE / f"{name}.commands.jsonl").read_text("utf-8").splitlines()
    events = [event_to_dict(ev) for ev in replay_lines(venue, lines)]
    venue.check_invariants()
    return events, venue.state_document(), venue


def events_text(events: list[dict[str, Any]]) -> str:
    return "".join(msgspec.json.encode(ev).decode() + "\n" for ev in events)


def state_text(state: dict[str, Any]) -> str:
    return json.dumps(state, indent=2) + "\n"


def first_difference(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> str:
    for i, (want, have) in enumerate(zip(expected, got, strict=False)):
        if want != have:
            keys = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
            return f"event {i + 1} (seq {want.get('seq')}) differs in {keys}:\n  expected {want}\n  got      {have}"
    return f"{len(expected)} events expected, {len(got)} produced"


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_replays_to_its_golden_files(name: str) -> None:
    events, state, _ = run_scenario(name)
    events_file = HERE / f"{name}.events.jsonl"
    state_file = HERE / f"{name}.state.json"
    if REGEN:
        events_file.write_text(events_text(events), "utf-8")
        state_file.write_text(state_text(state), "utf-8")
        return
    assert (HERE / f"{name}.md").exists(), f"{name}.md: work the numbers out by hand before freezing the scenario"
    expected_events = [json.loads(line) for line in events_file.read_text("utf-8").splitlines() if line]
    assert events == expected_events, first_difference(expected_events, events)
    expected_state = json.loads(state_file.read_text("utf-8"))
    if {**state, "state_hash": None} == {**expected_state, "state_hash": None}:
        assert state["state_hash"] == expected_state["state_hash"], (
            f"{name}: the document is the same but the state hash changed: the canonical state gained, lost or "
            "reordered something the document does not show. Regenerate if that was intended (README.md)."
        )
    if state != expected_state:
        diff = difflib.unified_diff(
            state_text(expected_state).splitlines(), state_text(state).splitlines(), "expected", "got", lineterm=""
        )
        pytest.fail(f"{name}: the final state differs from {state_file.name}:\n" + "\n".join(list(diff)[:80]))


def test_every_scenario_is_complete() -> None:
    """Every scenario has its expected files and its hand-worked numbers; no stray files."""
    assert SCENARIOS, "no golden scenarios found"
    for name in SCENARIOS:
        for suffix in (".events.jsonl", ".state.json", ".md"):
            assert (HERE / f"{name}{suffix}").exists(), f"{name}{suffix} is missing"
    known = {f"{name}{suffix}" for name in SCENARIOS for suffix in (".commands.jsonl", ".events.jsonl", ".state.json")}
    known |= {f"{name}.md" for name in SCENARIOS} | {f"{name}.config.toml" for name in SCENARIOS}
    known |= {"README.md", "test_golden.py", "__init__.py"}
    stray = sorted(p.name for p in HERE.iterdir() if p.is_file() and p.name not in known)
    assert not stray, f"files that belong to no scenario: {stray}"


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_agrees_with_the_reference_model(name: str) -> None:
    """The final state is what the slow reference model of tests/venue rebuilds from the events alone."""
    config_file = HERE / f"{name}.config.toml"
    config = load_config(config_file.read_text("utf-8") if config_file.exists() else None)
    venue = Venue(config)
    model = ReferenceClearing(config)
    lines = (HERE / f"{name}.commands.jsonl").read_text("utf-8").splitlines()
    for line in lines:
        events = list(replay_lines(venue, [line]))
        model.begin_command()
        if not any(isinstance(ev, CommandRejected) for ev in events):
            for ev in events:
                model.apply(ev)
            model.end_command()
    model.compare(venue.state_document())


@pytest.mark.skipif(REGEN, reason="regenerating the golden files")
@pytest.mark.parametrize("name", SCENARIOS)
def test_cli_replay_agrees_with_the_golden_files(name: str, tmp_path: Path) -> None:
    """``onshore replay [--config] --state-out`` in a fresh process prints the same events and state.

    A different ``PYTHONHASHSEED`` in the child process: nothing may depend on set or dict
    iteration order of strings.
    """
    state_out = tmp_path / f"{name}.state.json"
    args = [sys.executable, "-m", "onshore.adapters.cli", "replay", str(HERE / f"{name}.commands.jsonl")]
    config_file = HERE / f"{name}.config.toml"
    if config_file.exists():
        args += ["--config", str(config_file)]
    args += ["--state-out", str(state_out)]
    env = dict(os.environ, PYTHONHASHSEED="4242")
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines() if line]
    expected_events = [
        json.loads(line) for line in (HERE / f"{name}.events.jsonl").read_text("utf-8").splitlines() if line
    ]
    assert printed == expected_events, f"{name}: " + first_difference(expected_events, printed)
    assert json.loads(state_out.read_text("utf-8")) == json.loads((HERE / f"{name}.state.json").read_text("utf-8"))
