"""``onshore stress`` end to end, as a user runs it: a real subprocess on a small population.

State: a 200-account population file; the shared data directory when present (the backtest).
Parameters: the −20 % gap, both loss models, the default sweep of leverage caps, or a sweep
file with two caps; one worker process.
Expectations: exit 0 and the JSON of issue 8 on stdout; a self-contained HTML report with its
plots; CSV tables with a header and rows; a clear error and a non-zero exit on bad input.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from onshore.lab.engine import LAYERS

ROOT = Path(__file__).resolve().parents[2]
ONSHORE = Path(sys.executable).parent / "onshore"
PLOT_TITLES = (
    "Price paths and liquidations",
    "Who pays: losses by layer",
    "Losses by segment of the account where they started",
    "us_clearing: losses beyond the traders",
    "offshore: losses beyond the traders",
)


def stress(tmp: Path, *args: str, accounts: int = 200) -> subprocess.CompletedProcess[str]:
    population = tmp / "population.toml"
    population.write_text(f"accounts = {accounts}\nseed = 3\n", "utf-8")
    command = [str(ONSHORE), "stress", "--population", str(population), "--out", str(tmp / "out"), "--workers", "1"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("stress")
    done = stress(tmp, "--scenario", "gap_down_20pct", "--json")
    assert done.returncode == 0, done.stderr
    return tmp / "out", done, json.loads(done.stdout)


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


# ============================================================================ the JSON on stdout
def test_it_exits_0_and_prints_the_summary(study: tuple) -> None:
    out, _, summary = study
    assert {"runs", "backtest", "report"} <= set(summary)
    assert Path(summary["report"]) == out / "report.html"
    assert json.loads((out / "summary.json").read_text("utf-8")) == summary
    assert isinstance(summary["backtest"], dict)


def test_the_runs_are_the_scenario_under_both_models_then_the_default_sweep(study: tuple) -> None:
    runs = study[2]["runs"]
    assert [(r["scenario"], r["loss_model"], r["leverage_cap"]) for r in runs] == [
        ("gap_down_20pct", "us_clearing", None),
        ("gap_down_20pct", "offshore", None),
        *[("gap_down_20pct", m, c) for m in ("us_clearing", "offshore") for c in ("2", "5", "10", "20", "50", "100")],
    ]
    for r in runs:
        assert list(r["by_layer"]) == list(LAYERS)
        total = Decimal(r["total_loss"])
        assert sum(Decimal(v) for v in r["by_layer"].values()) + Decimal(r["uncovered"]) == total
        assert sum(Decimal(v) for v in r["by_segment"].values()) == total
        assert {"count", "notional"} <= set(r["liquidations"])
        assert {"required", "available", "covered"} <= set(r["cover_1"]) and set(r["cover_1"]) == set(r["cover_2"])
    us, off = runs[0], runs[1]
    assert Decimal(us["total_loss"]) > 0 and Decimal(off["total_loss"]) > 0
    assert us["by_layer"]["adl"] == "0" and off["by_layer"]["member_capital"] == "0"


def test_the_lower_the_leverage_cap_the_fewer_the_liquidations(study: tuple) -> None:
    runs = [r for r in study[2]["runs"] if r["leverage_cap"] is not None and r["loss_model"] == "us_clearing"]
    counts = [r["liquidations"]["accounts"] for r in runs]
    assert counts[0] < counts[-1]
    assert Decimal(runs[0]["total_loss"]) < Decimal(runs[-1]["total_loss"])


def test_progress_goes_to_stderr_and_stdout_is_only_json(study: tuple) -> None:
    _, done, _ = study
    assert done.stdout.count("\n") <= 1 and done.stdout.lstrip().startswith("{")
    assert "stress" in done.stderr


# ============================================================================ the report and the tables
def test_the_report_is_self_contained_with_the_plots(study: tuple) -> None:
    html = (study[0] / "report.html").read_text("utf-8")
    assert not re.search(r"<script[^>]*\ssrc\s*=", html)  # plotly inlined, nothing fetched
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?(https?:)?//", html)
    assert "Plotly.newPlot" in html and html.count("<script") >= len(PLOT_TITLES)
    for title in PLOT_TITLES:
        assert title in html, title
    assert "Who pays" in html and "gap_down_20pct" in html


@pytest.mark.parametrize(
    ("name", "header", "rows_per_run"),
    [
        ("runs.csv", ["scenario", "loss_model", "leverage_cap", "total_loss", "uncovered", "liquidated_accounts",
                      "liquidation_notional", "adl_count", "member_defaults", "cover_1", "cover_2"], 1),
        ("layers.csv", ["scenario", "loss_model", "leverage_cap", "layer", "amount"], len(LAYERS)),
        ("segments.csv", ["scenario", "loss_model", "leverage_cap", "segment", "amount"], None),
    ],
)  # fmt: skip
def test_the_tables_have_a_header_and_rows(
    study: tuple, name: str, header: list[str], rows_per_run: int | None
) -> None:
    out, _, summary = study
    got_header, rows = read_csv(out / name)
    assert got_header == header
    assert rows and all(len(row) == len(header) for row in rows)
    if rows_per_run is not None:
        assert len(rows) == rows_per_run * len(summary["runs"])
    else:
        assert len(rows) == sum(len(r["by_segment"]) for r in summary["runs"])
    assert {row[0] for row in rows} == {"gap_down_20pct"}
    first = summary["runs"][0]
    if name == "runs.csv":
        assert rows[0][3] == first["total_loss"] and rows[0][9] == first["cover_1"]["statement"]
    if name == "layers.csv":
        assert {row[3]: row[4] for row in rows[: len(LAYERS)]} == first["by_layer"]


# ============================================================================ bad input and the sweep
def test_a_bad_loss_model_exits_non_zero_with_a_clear_message(tmp_path: Path) -> None:
    done = stress(tmp_path, "--scenario", "gap_down_20pct", "--loss-model", "bogus")
    assert done.returncode != 0
    assert "unknown loss model 'bogus'" in done.stderr and "--loss-model" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "report.html").exists()


def test_a_sweep_file_with_two_caps_produces_the_sweep_runs(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        'scenarios = ["gap_down_20pct", "gap_up_20pct"]\nleverage_caps = [5, 25]\nloss_models = ["offshore"]\n', "utf-8"
    )
    done = stress(tmp_path, "--scenario", "gap_down_20pct", "--sweep", str(sweep), "--json", accounts=80)
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)["runs"]
    assert [(r["scenario"], r["loss_model"], r["leverage_cap"]) for r in runs] == [
        ("gap_down_20pct", "offshore", None),
        ("gap_down_20pct", "offshore", "5"),
        ("gap_down_20pct", "offshore", "25"),
        ("gap_up_20pct", "offshore", "5"),
        ("gap_up_20pct", "offshore", "25"),
    ]
    assert all(Decimal(r["total_loss"]) > 0 for r in runs)
    assert Decimal(runs[1]["total_loss"]) < Decimal(runs[2]["total_loss"])  # 5× loses less than 25×
    _, rows = read_csv(tmp_path / "out" / "runs.csv")
    assert [row[2] for row in rows] == ["", "5", "25", "5", "25"]


def test_the_mark_following_the_fills_is_an_option_that_reaches_the_engine(
    tmp_path: Path, study: tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]]
) -> None:
    """``--mark-follows-fills``: the harsher model (docs/lab.md) loses more on this gap (not on every path)."""
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('scenarios = ["gap_down_20pct"]\nleverage_caps = [5]\n', "utf-8")
    done = stress(tmp_path, "--scenario", "gap_down_20pct", "--sweep", str(sweep), "--mark-follows-fills", "--json")
    assert done.returncode == 0, done.stderr
    follow = json.loads(done.stdout)["runs"][:2]
    default = study[2]["runs"][:2]
    assert [r["loss_model"] for r in follow] == [r["loss_model"] for r in default]
    for f, d in zip(follow, default, strict=True):
        assert Decimal(f["total_loss"]) > Decimal(d["total_loss"])


# ============================================================================ known bugs and doubts
def test_a_sweep_with_an_unknown_loss_model_is_rejected(tmp_path: Path) -> None:
    """``loss_models = ["bogus"]`` runs every study as us_clearing, labelled "bogus", and exits 0.

    ``--loss-model`` is checked; the sweep overrides ``models`` after the check, and
    ``Policy`` treats anything but "offshore" as US clearing.
    """
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('scenarios = ["gap_down_20pct"]\nleverage_caps = [5]\nloss_models = ["bogus"]\n', "utf-8")
    done = stress(tmp_path, "--scenario", "gap_down_20pct", "--sweep", str(sweep), "--json", accounts=30)
    assert done.returncode != 0
    assert "bogus" in done.stderr


def test_an_unknown_scenario_is_a_usage_error(tmp_path: Path) -> None:
    """``--scenario nosuch``: exit 1 and a rich traceback of ``ValueError`` (the message lists the names)."""
    done = stress(tmp_path, "--scenario", "nosuch", accounts=30)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "nosuch" in done.stderr
