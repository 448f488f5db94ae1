"""``onshore stress``: who pays when the market breaks (the main job, docs/lab.md)."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from onshore.config.load import load_config
from onshore.core.events import LOSS_LAYERS

if TYPE_CHECKING:  # the lab (numpy, numba, plotly) loads only when a study runs
    from onshore.lab.population import PopulationSpec
    from onshore.lab.study import RunSummary

DEFAULT_CAPS = (2, 5, 10, 20, 50, 100)
LOSS_MODELS = ("us_clearing", "offshore")


def data_dir() -> Path:
    """The shared market data (``ONSHORE_DATA`` or ``../shared/data`` beside the repository)."""
    env = os.environ.get("ONSHORE_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def _population(path: Path | None) -> PopulationSpec:
    from onshore.lab.population import PopulationSpec

    if path is None:
        return PopulationSpec(accounts=1_000)
    raw = tomllib.loads(path.read_text("utf-8")) if path.suffix == ".toml" else json.loads(path.read_text("utf-8"))
    known = {f.name for f in fields(PopulationSpec)} - {"profiles"}
    unknown = set(raw) - known
    if unknown:
        raise typer.BadParameter(f"unknown population keys: {', '.join(sorted(unknown))}", param_hint="--population")
    return PopulationSpec(**raw)


def _scenarios(name: str | None) -> list[Any]:
    from onshore.lab.scenarios import builtin_scenarios, historical_scenarios, load_scenario

    if name:
        try:
            return [load_scenario(name)]
        except (ValueError, KeyError, OSError) as exc:
            raise typer.BadParameter(f"{name}: {exc}", param_hint="--scenario") from exc
    found = list(builtin_scenarios())
    directory = data_dir()
    if directory.is_dir():
        found += list(historical_scenarios(directory))
    return found


def _who_pays(console: Console, runs: list[RunSummary]) -> None:
    table = Table(title="Who pays (USD)")
    for col in (
        "scenario",
        "model",
        "total",
        "traders",
        "ins. fund",
        "ADL",
        "members",
        "DCO+mutual",
        "haircut",
        "uncov.",
        "Cover-2",
    ):
        table.add_column(col, justify="right" if col not in ("scenario", "model", "Cover-2") else "left")
    for r in runs:
        b = r.by_layer
        members = b["member_capital"] + b["member_default_fund"]
        mutual = b["clearing_house_capital"] + b["mutualised_default_fund"] + b["assessments"]
        amounts = [
            r.total_loss,
            b["trader"],
            b["insurance_fund"],
            b["adl"],
            members,
            mutual,
            b["vm_haircut"],
            r.uncovered,
        ]
        table.add_row(r.scenario, r.loss_model, *[_fmt(v) for v in amounts], str(r.cover_2["statement"]))
    console.print(table)


def _fmt(micros: int) -> str:
    return f"{micros / 1e6:,.0f}"


def stress(
    scenario: Annotated[str | None, typer.Option(help="a built-in scenario name or a CSV/Parquet price file")] = None,
    population: Annotated[Path | None, typer.Option(help="a TOML/JSON file of population parameters")] = None,
    loss_model: Annotated[str | None, typer.Option(help="us_clearing or offshore (default: both)")] = None,
    sweep: Annotated[Path | None, typer.Option(help="a TOML sweep: scenarios, leverage_caps, loss_models")] = None,
    workers: Annotated[int, typer.Option(help="worker processes (or Dask workers)")] = 2,
    dask: Annotated[str | None, typer.Option(help="'local' for a local Dask cluster, or a scheduler address")] = None,
    out: Annotated[Path, typer.Option(help="output directory")] = Path("out/study"),
    config: Annotated[Path | None, typer.Option(help="partial venue TOML merged over the defaults")] = None,
    impact: Annotated[bool, typer.Option(help="liquidations fill along a depth curve")] = True,
    mark_follows_fills: Annotated[
        bool, typer.Option(help="with impact, the mark follows each liquidation's last fill (harsher than the Venue)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON summary to stdout")] = False,
) -> None:
    """Run a stress study: scenarios × loss models × leverage caps; report who pays."""
    from onshore.lab.report import write_html, write_tables
    from onshore.lab.study import RunSpec, leverage, run_all

    console = Console(stderr=as_json, width=None if Console().is_terminal else 160)
    config_text = config.read_text("utf-8") if config is not None else None
    venue_config = load_config(config_text)
    market = venue_config.markets["BTC-PERP"]
    pop = _population(population)
    scenarios = _scenarios(scenario)
    models = [loss_model] if loss_model else list(LOSS_MODELS)
    for m in models:
        if m not in LOSS_MODELS:
            raise typer.BadParameter(f"unknown loss model {m!r}", param_hint="--loss-model")
    caps: list[float] = [float(c) for c in DEFAULT_CAPS]
    sweep_scenarios = [s.name for s in scenarios[:3]]
    if sweep is not None:
        raw = tomllib.loads(sweep.read_text("utf-8"))
        caps = [float(c) for c in raw.get("leverage_caps", caps)]
        models = list(raw.get("loss_models", models))
        sweep_scenarios = list(raw.get("scenarios", sweep_scenarios))
        for m in models:
            if m not in LOSS_MODELS:
                raise typer.BadParameter(f"unknown loss model {m!r} in {sweep}", param_hint="--sweep")
    by_name = {s.name: s for s in scenarios}
    for name in sweep_scenarios:
        if name not in by_name:
            by_name[name] = _scenarios(name)[0]
    paths = {name: tuple(int(x) for x in s.ticks(market.tick_size)) for name, s in by_name.items()}
    main_specs = [
        RunSpec(
            s.name,
            paths[s.name],
            m,
            None,
            pop,
            impact=impact,
            mark_follows_fills=mark_follows_fills,
            config_text=config_text,
            keep_detail=True,
        )
        for s in scenarios
        for m in models
    ]
    sweep_specs = [
        RunSpec(
            name,
            paths[name],
            m,
            leverage(c),
            pop,
            impact=impact,
            mark_follows_fills=mark_follows_fills,
            config_text=config_text,
        )
        for name in sweep_scenarios
        for m in models
        for c in caps
    ]
    specs = main_specs + sweep_specs
    with Progress(
        TextColumn("[bold]stress"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("runs", total=len(specs))
        results = run_all(specs, workers=workers, dask=dask, progress=lambda n: progress.advance(task, n))
    main = results[: len(main_specs)]
    swept = results[len(main_specs) :]
    backtest = _backtest(venue_config)
    out.mkdir(parents=True, exist_ok=True)
    tables = write_tables(out, results)
    notes = [
        f"{len(scenarios)} scenarios × {len(models)} loss models at the segments' own leverage caps, then a sweep of "
        f"leverage caps {', '.join(f'{c:g}×' for c in caps)} on {', '.join(sweep_scenarios)}.",
        f"Population: {pop.accounts} directional accounts, {pop.market_makers} market makers and a liquidity account, "
        f"seed {pop.seed}, open interest ≈ ${pop.open_interest_usd:,.0f}, {pop.members} clearing members. "
        f"Price impact {'on' if impact else 'off'}"
        + (", the mark following liquidation fills." if impact and mark_follows_fills else "."),
        "Layers: trader = the liquidated accounts' own collateral; the rest is the deficit as each loss model "
        "allocates it (docs/liquidation.md). Cover-n compares the prefunded default resources with the n largest "
        "members' exposures beyond their own capital.",
    ]
    report = write_html(
        out / "report.html", "Onshore stress study: who pays", main, swept, float(market.tick_size), notes, backtest
    )
    summary = {
        "runs": [r.as_json() for r in results],
        "backtest": {k: v for k, v in (backtest or {}).items() if k != "table"},
        "report": str(report),
        "tables": [str(p) for p in tables],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    if as_json:
        typer.echo(json.dumps(summary))
        return
    _who_pays(console, main)
    console.print(f"Report: {report}  (tables and summary.json beside it)")


def _backtest(config: Any) -> dict[str, Any] | None:
    """The margin backtest on the BTC daily history, when the data and the module are there."""
    directory = data_dir()
    if not directory.is_dir():
        return None
    try:
        from onshore.lab import backtest as module
    except ImportError:
        return None
    runner = getattr(module, "default_backtest", None)
    if runner is None:
        return None
    result: dict[str, Any] | None = runner(directory, config)
    return result


__all__ = ["LOSS_LAYERS", "stress"]
