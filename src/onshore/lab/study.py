"""Studies: scenarios × loss models × leverage caps, run locally or on Dask, summarised.

A study is a list of independent runs (:class:`RunSpec`); each builds its population
(the leverage cap shapes who holds what), runs the engine over the scenario's path and
reduces the result to a summary: losses by layer and by segment, liquidations, member
defaults, and the clearing layer's adequacy — Cover-1 and Cover-2 (PFMI Principle 4,
17 CFR 39.11 and 39.33): whether the prefunded default resources (every member's
default-fund contribution plus the clearing house's own capital) cover the stress
exposure of the largest one and two members, where a member's exposure is what its
customers' deficits exceed its own capital.

Runs are ordered and deterministic, so a study gives the same numbers on one process,
on local worker processes or on a Dask cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onshore.config.load import load_config
from onshore.core.spec import LEVERAGE_SCALE
from onshore.core.units import format_scaled
from onshore.lab.engine import LAYERS, Policy, RunResult, run_scenario
from onshore.lab.population import PopulationSpec, build_population


def money(micros: int) -> str:
    """Micro-dollars as a USD decimal string."""
    return format_scaled(int(micros), 6)


@dataclass(frozen=True)
class RunSpec:
    """One run: a scenario path (market ticks), a loss model, a leverage cap."""

    scenario: str
    path_ticks: tuple[int, ...]
    loss_model: str
    leverage_cap: int | None  # hundredths; None: the segments' own caps
    population: PopulationSpec
    impact: bool = False
    mark_follows_fills: bool = False  # with impact: the harsher model, no Venue counterpart (docs/lab.md)
    insurance_fund_micros: int = 0
    config_text: str | None = None
    market: str = "BTC-PERP"
    keep_detail: bool = False


@dataclass
class RunSummary:
    """The reduced result of one run (JSON-ready through :meth:`as_json`)."""

    scenario: str
    loss_model: str
    leverage_cap: int | None
    total_loss: int
    by_layer: dict[str, int]
    by_segment: dict[str, int]
    uncovered: int
    liquidation_count: int
    liquidated_accounts: int
    liquidation_notional: int
    adl_count: int
    member_defaults: list[str]
    cover_1: dict[str, Any]
    cover_2: dict[str, Any]
    insurance_fund_path: list[int] = field(default_factory=list)
    mark_path: list[int] = field(default_factory=list)
    liquidation_points: list[tuple[int, int, str]] = field(default_factory=list)  # (step, price ticks, stage)

    def as_json(self) -> dict[str, Any]:
        """The summary in the shape of the study's JSON (amounts as decimal strings)."""
        cap = None if self.leverage_cap is None else format_scaled(self.leverage_cap, 2)
        return {
            "scenario": self.scenario,
            "loss_model": self.loss_model,
            "leverage_cap": cap,
            "total_loss": money(self.total_loss),
            "by_layer": {layer: money(self.by_layer.get(layer, 0)) for layer in LAYERS},
            "by_segment": {seg: money(v) for seg, v in sorted(self.by_segment.items())},
            "uncovered": money(self.uncovered),
            "liquidations": {
                "count": self.liquidation_count,
                "accounts": self.liquidated_accounts,
                "notional": money(self.liquidation_notional),
            },
            "adl_count": self.adl_count,
            "member_defaults": self.member_defaults,
            "cover_1": self.cover_1,
            "cover_2": self.cover_2,
        }


def cover(member_stress: dict[str, int], member_capital: dict[str, int], available: int, n: int) -> dict[str, Any]:
    """Cover-n: do the prefunded resources cover the n largest members' exposures?"""
    exposures = sorted((max(0, member_stress[m] - member_capital[m]) for m in member_stress), reverse=True)
    required = sum(exposures[:n])
    covered = available >= required
    out: dict[str, Any] = {"required": money(required), "available": money(available), "covered": covered}
    out["statement"] = "covered" if covered else f"short by ${money(required - available)}"
    return out


def execute(spec: RunSpec) -> RunSummary:
    """Run one :class:`RunSpec` (a top-level function, so worker processes and Dask can run it)."""
    config = load_config(spec.config_text)
    market = config.markets[spec.market]
    path = np.array(spec.path_ticks, dtype=np.int64)
    population = build_population(spec.population, market, config, int(path[0]), spec.leverage_cap)
    clearing = config.clearing
    policy = Policy(
        loss_model=spec.loss_model,
        adl_ranking=clearing.adl_ranking,
        leverage_cap=spec.leverage_cap,
        insurance_fund_micros=spec.insurance_fund_micros or clearing.insurance_fund_micros,
        clearing_house_capital_micros=clearing.clearing_house_capital_micros,
        liquidation_fee_ppb=clearing.liquidation_fee_ppb,
        liquidation_slice_micros=clearing.liquidation_slice_micros,
        assessment_multiple_ppb=clearing.assessment_multiple_ppb,
        price_band_ppb=market.price_band_ppb,
        market_protection_ppb=market.market_protection_ppb,
        impact=spec.impact,
        mark_follows_fills=spec.mark_follows_fills,
        max_order_lots=market.max_order_lots,
    )
    result = run_scenario(population, market, policy, path)
    capital = {m: int(v) for m, v in zip(population.member_ids, population.member_capital, strict=True)}
    available = int(population.member_default_fund.sum()) + policy.clearing_house_capital_micros
    return summarise(spec, result, capital, available)


def summarise(spec: RunSpec, result: RunResult, capital: dict[str, int], available: int) -> RunSummary:
    """Reduce a :class:`RunResult` to a :class:`RunSummary`."""
    points = [(liq.step, liq.price_ticks, liq.stage) for liq in result.liquidations] if spec.keep_detail else []
    return RunSummary(
        scenario=spec.scenario,
        loss_model=spec.loss_model,
        leverage_cap=spec.leverage_cap,
        total_loss=result.total_loss,
        by_layer=result.by_layer,
        by_segment=result.by_segment,
        uncovered=result.uncovered,
        liquidation_count=len(result.liquidations),
        liquidated_accounts=result.liquidated_accounts,
        liquidation_notional=result.liquidated_notional,
        adl_count=result.adl_count,
        member_defaults=result.member_defaults,
        cover_1=cover(result.member_stress_loss, capital, available, 1),
        cover_2=cover(result.member_stress_loss, capital, available, 2),
        insurance_fund_path=result.insurance_fund_path if spec.keep_detail else [],
        mark_path=result.mark_path if spec.keep_detail else [],
        liquidation_points=points,
    )


def run_all(
    specs: Sequence[RunSpec],
    workers: int = 1,
    dask: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[RunSummary]:
    """Run every spec and return the summaries in the specs' order.

    ``dask``: ``"local"`` starts a local Dask cluster, an address (``tcp://host:8786``)
    connects to one; otherwise ``workers`` > 1 uses local processes, 1 runs in-process.
    """
    if dask:
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = (
            LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True) if dask == "local" else None
        )
        client = Client(cluster if cluster is not None else dask)
        try:
            futures = client.map(execute, list(specs), pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            out: list[RunSummary | None] = [None] * len(futures)
            for future in as_completed(futures):
                out[index[future.key]] = future.result()
                if progress is not None:
                    progress(1)
            return [r for r in out if r is not None]
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = []
            for summary in pool.map(execute, specs):
                results.append(summary)
                if progress is not None:
                    progress(1)
            return results
    results = []
    for spec in specs:
        results.append(execute(spec))
        if progress is not None:
            progress(1)
    return results


def leverage(x: float) -> int:
    """A leverage multiple as hundredths (``5`` -> 500)."""
    return round(x * LEVERAGE_SCALE)
