"""Margin model backtest: initial margin rates against realized BTC moves.

For every observation date ``t`` a model sets a margin rate ``m_t`` (a fraction of
notional) from information up to the close of ``t``; the realized simple return over the
horizon ``H`` is ``r_t = P(t + H) / P(t) − 1``. A position loses more than its margin —
an **exceedance** — when

* ``side="both"`` (the default): ``|r_t| > m_t`` — a long or a short, whichever lost;
* ``side="long"``: ``−r_t > m_t``;  ``side="short"``: ``r_t > m_t``.

Long and short exceedances are always counted too. Observations are non-overlapping by
default (one every ``H``), so that the tests' independence assumption can hold.

Models (:func:`run_backtests`):

* ``configured`` — the configured initial margin rate, constant (e.g. 1 / the maximum
  leverage of a customer segment: retail 10× → 10 %);
* ``ewma`` — RiskMetrics (J.P. Morgan/Reuters, *RiskMetrics Technical Document*, 4th ed.,
  1996): ``σ²_t = λ σ²_{t−1} + (1 − λ) ℓ_t²`` on bar log returns ``ℓ``, λ = 0.94 per day
  (``λ^(bar/day)`` per bar), margin ``z · σ_t · √(H / bar)``, ``z`` the normal quantile of
  the coverage (two-sided for ``both``: z(99 %) = 2.576; one-sided: 2.326);
* ``hs_var`` / ``hs_es`` — historical simulation over the lookback (default 365 days) of
  the horizon's losses: the empirical quantile at the coverage (VaR), or the mean of the
  losses at or beyond it (expected shortfall).

Anti-procyclicality (Commission Delegated Regulation (EU) No 153/2013, art. 28(1)): the
risk models are floored by default with option (c), "margin requirements not lower than
those that would be calculated using volatility estimated over a 10 year historical
lookback period": ``m_t ≥ z · σ_10y,t · √(H / bar)`` with ``σ_10y`` the equally weighted
volatility of the bar log returns of the previous 10 years (all history when shorter).
Option (a), a buffer of at least 25 % of the calculated margin, is ``floor="buffer"``
(applied permanently, without the release in stress the article allows).

Tests (chi-square survival functions in closed form, no scipy):

* Kupiec (1995) proportion of failures, ``x`` exceedances in ``T`` at rate ``p``:
  ``LR_pof = −2 ln[(1−p)^(T−x) p^x] + 2 ln[(1−x/T)^(T−x) (x/T)^x]`` ~ χ²(1),
  p-value ``erfc(√(LR/2))``;
* Christoffersen (1998) independence, with ``n_ij`` the transitions i → j of the
  exceedance indicator, ``π01 = n01/(n00+n01)``, ``π11 = n11/(n10+n11)``,
  ``π = (n01+n11)/(n00+n01+n10+n11)``:
  ``LR_ind = −2 ln[(1−π)^(n00+n10) π^(n01+n11)] + 2 ln[(1−π01)^n00 π01^n01 (1−π11)^n10 π11^n11]``
  ~ χ²(1); conditional coverage ``LR_cc = LR_pof + LR_ind`` ~ χ²(2), p-value ``exp(−LR/2)``.
  ``0 · ln 0 = 0`` throughout.

The margin that would have given the target coverage in sample is the ``⌈c·T⌉``-th
smallest loss (the inverted-CDF empirical quantile), so at most ``(1 − c)·T`` losses
exceed it. US rules ask the same 99 % (17 CFR 39.13(g)(2)(iii): coverage of at least 99 %,
with a one-day minimum liquidation time for futures, 39.13(g)(2)(ii)); EMIR asks 99 %
for exchange-traded derivatives (RTS 153/2013 art. 24).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from onshore.config.load import default_config
from onshore.core.spec import LEVERAGE_SCALE, VenueConfig
from onshore.lab.data import PriceHistory, format_ts, load_btc_2h, load_btc_daily

Side = Literal["both", "long", "short"]
Floor = Literal["none", "vol_10y", "buffer"]
Model = Literal["configured", "ewma", "hs_var", "hs_es"]

DAY_MS = 86_400_000
YEAR_MS = 31_557_600_000  # 365.25 days
MODELS: tuple[Model, ...] = ("configured", "ewma", "hs_var", "hs_es")


# ---------------------------------------------------------------------------- statistics
def chi2_sf_1(x: float) -> float:
    """Survival function of χ² with 1 degree of freedom: ``erfc(√(x/2))``."""
    return math.erfc(math.sqrt(max(x, 0.0) / 2.0))


def chi2_sf_2(x: float) -> float:
    """Survival function of χ² with 2 degrees of freedom: ``exp(−x/2)``."""
    return math.exp(-max(x, 0.0) / 2.0)


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * math.log(y)


@dataclass(frozen=True)
class LikelihoodRatio:
    """A likelihood-ratio statistic, its χ² degrees of freedom and p-value."""

    statistic: float
    p_value: float
    dof: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def kupiec_pof(exceedances: int, observations: int, p: float) -> LikelihoodRatio:
    """Kupiec's (1995) proportion-of-failures test of an exceedance rate ``p``.

    T = 250, x = 5, p = 0.01 gives LR = 1.957, p-value 0.162; x = 6 gives 3.554, 0.059.
    """
    x, t = exceedances, observations
    if t <= 0 or not 0 <= x <= t or not 0 < p < 1:
        raise ValueError("need 0 <= exceedances <= observations, observations > 0 and 0 < p < 1")
    phat = x / t
    log_null = _xlogy(t - x, 1 - p) + _xlogy(x, p)
    log_alt = _xlogy(t - x, 1 - phat) + _xlogy(x, phat)
    lr = max(0.0, -2.0 * (log_null - log_alt))
    return LikelihoodRatio(lr, chi2_sf_1(lr), 1)


def transition_counts(exceeded: ArrayLike) -> tuple[int, int, int, int]:
    """Return ``(n00, n01, n10, n11)``: transitions of the exceedance indicator."""
    hit = np.asarray(exceeded, dtype=bool)
    before, after = hit[:-1], hit[1:]
    return (
        int(np.sum(~before & ~after)),
        int(np.sum(~before & after)),
        int(np.sum(before & ~after)),
        int(np.sum(before & after)),
    )


def christoffersen_independence(exceeded: ArrayLike) -> LikelihoodRatio:
    """Christoffersen's (1998) test that exceedances do not cluster (first-order Markov)."""
    n00, n01, n10, n11 = transition_counts(exceeded)
    total = n00 + n01 + n10 + n11
    if total == 0:
        return LikelihoodRatio(0.0, 1.0, 1)
    pi = (n01 + n11) / total
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    log_null = _xlogy(n00 + n10, 1 - pi) + _xlogy(n01 + n11, pi)
    log_alt = _xlogy(n00, 1 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1 - pi11) + _xlogy(n11, pi11)
    lr = max(0.0, -2.0 * (log_null - log_alt))
    return LikelihoodRatio(lr, chi2_sf_1(lr), 1)


def conditional_coverage(exceeded: ArrayLike, p: float) -> LikelihoodRatio:
    """Christoffersen's (1998) conditional coverage: ``LR_pof + LR_ind`` ~ χ²(2)."""
    hit = np.asarray(exceeded, dtype=bool)
    lr = kupiec_pof(int(hit.sum()), int(hit.shape[0]), p).statistic + christoffersen_independence(hit).statistic
    return LikelihoodRatio(lr, chi2_sf_2(lr), 2)


def empirical_margin(losses: ArrayLike, coverage: float) -> float:
    """Return the ``⌈coverage·T⌉``-th smallest loss: the least rate covering ``coverage`` in sample."""
    values = np.asarray(losses, dtype=np.float64)
    if values.shape[0] == 0:
        raise ValueError("no losses")
    k = max(1, math.ceil(coverage * values.shape[0] - 1e-9))
    return float(max(np.partition(values, k - 1)[k - 1], 0.0))


def normal_quantile(coverage: float, side: Side) -> float:
    """The normal multiplier of a coverage: two-sided for ``both``, one-sided otherwise."""
    tail = (1.0 - coverage) / 2.0 if side == "both" else 1.0 - coverage
    return NormalDist().inv_cdf(1.0 - tail)


def losses_of(returns: ArrayLike, side: Side) -> NDArray[np.float64]:
    """Loss per unit notional: ``|r|`` (both), ``−r`` (long) or ``r`` (short)."""
    r = np.asarray(returns, dtype=np.float64)
    if side == "both":
        return np.abs(r)
    return -r if side == "long" else r


# ---------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class BacktestConfig:
    """Parameters of a backtest; the defaults are those of the docs."""

    horizon_days: float = 1.0
    coverage: float = 0.99
    side: Side = "both"
    lookback_days: int = 365
    ewma_lambda: float = 0.94
    floor: Floor = "vol_10y"
    floor_years: float = 10.0
    buffer: float = 0.25
    warmup_days: int = 365
    stride_bars: int | None = None
    start: str | None = None
    end: str | None = None

    def __post_init__(self) -> None:
        if not 0.5 < self.coverage < 1:
            raise ValueError("coverage is a fraction in (0.5, 1)")
        if self.side not in ("both", "long", "short"):
            raise ValueError(f"side is 'both', 'long' or 'short', not {self.side!r}")
        if self.floor not in ("none", "vol_10y", "buffer"):
            raise ValueError(f"floor is 'none', 'vol_10y' or 'buffer', not {self.floor!r}")
        if not 0 < self.ewma_lambda < 1 or self.horizon_days <= 0 or self.lookback_days < 1:
            raise ValueError("0 < ewma_lambda < 1, horizon_days > 0, lookback_days >= 1")


def configured_margin_rate(config: VenueConfig | None = None, segment: str = "retail") -> float:
    """The initial margin rate a segment's leverage cap implies: 1 / max leverage (retail 10× → 0.1)."""
    cfg = config or default_config()
    if segment not in cfg.segments:
        raise KeyError(f"no segment {segment!r}; known: {', '.join(cfg.segments)}")
    return LEVERAGE_SCALE / cfg.segments[segment].max_leverage


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class BacktestResult:
    """One model's margins against the realized moves, with the tests.

    The arrays are the per-observation table: ``ts_ms`` (start of the horizon),
    ``returns`` (simple return over the horizon), ``margin`` (rate), ``exceeded`` (for
    ``side``).
    """

    model: str
    description: str
    horizon_days: float
    coverage_target: float
    side: Side
    ts_ms: NDArray[np.int64]
    returns: NDArray[np.float64]
    margin: NDArray[np.float64]
    exceeded: NDArray[np.bool_]
    kupiec: LikelihoodRatio
    independence: LikelihoodRatio
    conditional_coverage: LikelihoodRatio

    @property
    def observations(self) -> int:
        return int(self.ts_ms.shape[0])

    @property
    def exceedances(self) -> int:
        return int(self.exceeded.sum())

    @property
    def exceedances_long(self) -> int:
        """Observations where a long lost more than its margin (``−r > m``)."""
        return int(np.sum(-self.returns > self.margin))

    @property
    def exceedances_short(self) -> int:
        """Observations where a short lost more than its margin (``r > m``)."""
        return int(np.sum(self.returns > self.margin))

    @property
    def coverage(self) -> float:
        return 1.0 - self.exceedances / self.observations

    @property
    def required_margin(self) -> float:
        """The margin rate that would have covered ``coverage_target`` of these observations."""
        return empirical_margin(losses_of(self.returns, self.side), self.coverage_target)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (floats; no per-day arrays)."""
        return {
            "model": self.model,
            "description": self.description,
            "horizon_days": self.horizon_days,
            "coverage_target": self.coverage_target,
            "side": self.side,
            "first": format_ts(int(self.ts_ms[0])),
            "last": format_ts(int(self.ts_ms[-1])),
            "observations": self.observations,
            "exceedances": self.exceedances,
            "exceedances_long": self.exceedances_long,
            "exceedances_short": self.exceedances_short,
            "expected_exceedances": (1.0 - self.coverage_target) * self.observations,
            "exceedance_rate": self.exceedances / self.observations,
            "coverage": self.coverage,
            "margin_mean": float(self.margin.mean()),
            "margin_min": float(self.margin.min()),
            "margin_max": float(self.margin.max()),
            "required_margin": self.required_margin,
            "kupiec": self.kupiec.to_dict(),
            "christoffersen_independence": self.independence.to_dict(),
            "conditional_coverage": self.conditional_coverage.to_dict(),
        }

    def table(self) -> list[dict[str, Any]]:
        """Per-observation rows: ``date``, ``return``, ``margin``, ``exceeded``."""
        return [
            {"date": format_ts(int(t)), "return": float(r), "margin": float(m), "exceeded": bool(e)}
            for t, r, m, e in zip(self.ts_ms, self.returns, self.margin, self.exceeded, strict=True)
        ]


@dataclass(frozen=True, eq=False)
class BacktestReport:
    """Several models on the same observations of one price history."""

    source: str
    history: str
    config: BacktestConfig
    results: tuple[BacktestResult, ...]

    def result(self, model: str) -> BacktestResult:
        for r in self.results:
            if r.model == model:
                return r
        raise KeyError(f"no model {model!r} in this report")

    @property
    def required_margin(self) -> float:
        return self.results[0].required_margin

    def table(self, model: str = "ewma", primary: str = "configured") -> list[dict[str, Any]]:
        """Per-observation rows for plotting: ``date``, ``return``, ``margin`` and ``exceeded``
        (the ``primary`` model), ``model_margin`` and ``model_exceeded`` (``model``)."""
        base = self.result(primary)
        other = self.result(model) if any(r.model == model for r in self.results) else None
        rows = base.table()
        if other is not None:
            for row, m, e in zip(rows, other.margin, other.exceeded, strict=True):
                row["model_margin"] = float(m)
                row["model_exceeded"] = bool(e)
        return rows

    def to_dict(self, include_table: bool = True) -> dict[str, Any]:
        """JSON-friendly: the configuration, each model's figures and (optionally) the table."""
        out: dict[str, Any] = {
            "source": self.source,
            "history": self.history,
            "config": asdict(self.config),
            "observations": self.results[0].observations,
            "first": format_ts(int(self.results[0].ts_ms[0])),
            "last": format_ts(int(self.results[0].ts_ms[-1])),
            "required_margin": self.required_margin,
            "models": {r.model: r.to_dict() for r in self.results},
        }
        if include_table:
            out["table"] = self.table()
        return out


# ---------------------------------------------------------------------------- engine
@dataclass(frozen=True, eq=False)
class _Series:
    """A close series prepared for one configuration."""

    ts: NDArray[np.int64]
    close: NDArray[np.float64]
    bar_ms: int
    h: int  # bars per horizon
    log_ret: NDArray[np.float64]  # log_ret[i] = ln(close[i] / close[i-1]); log_ret[0] = 0
    fwd: NDArray[np.float64]  # simple return from i over the horizon (NaN when the bar i+h is missing)
    obs: NDArray[np.int64]  # observation indices


def _utc_ms(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000)


def _prepare(history: PriceHistory, config: BacktestConfig) -> _Series:
    ts, close = history.ts_ms, history.close
    bar = history.bar_ms
    if bar <= 0:
        raise ValueError(f"{history.name}: need at least two bars")
    horizon_ms = round(config.horizon_days * DAY_MS)
    if horizon_ms % bar:
        raise ValueError(f"the horizon ({config.horizon_days} days) is not a whole number of {bar} ms bars")
    h = horizon_ms // bar
    n = len(history)
    log_ret = np.zeros(n, dtype=np.float64)
    log_ret[1:] = np.diff(np.log(close))
    fwd = np.full(n, np.nan, dtype=np.float64)
    if n > h:
        ok = ts[h:] - ts[:-h] == horizon_ms
        fwd[:-h] = np.where(ok, close[h:] / close[:-h] - 1.0, np.nan)
    first = ts[0] + config.warmup_days * DAY_MS
    if config.start is not None:
        first = max(first, _utc_ms(config.start))
    last = ts[-1] if config.end is None else _utc_ms(config.end)
    stride = config.stride_bars or h
    eligible = np.flatnonzero(np.isfinite(fwd) & (ts >= first) & (ts <= last))
    if eligible.shape[0] == 0:
        raise ValueError(f"{history.name}: no observation after the warm-up and inside the period")
    aligned = (ts[eligible] - ts[eligible[0]]) % (stride * bar) == 0
    obs = eligible[aligned]
    return _Series(ts, close, bar, h, log_ret, fwd, obs.astype(np.int64))


def _ewma_sigma(s: _Series, config: BacktestConfig) -> NDArray[np.float64]:
    """Per-bar EWMA volatility known at each bar's close (RiskMetrics 1996)."""
    lam = config.ewma_lambda ** (s.bar_ms / DAY_MS)
    seed_bars = max(2, round(config.warmup_days * DAY_MS / s.bar_ms))
    r2 = s.log_ret**2
    var = np.empty_like(r2)
    v = float(np.mean(r2[1 : seed_bars + 1])) if r2.shape[0] > 1 else 0.0
    var[: seed_bars + 1] = v
    for i in range(seed_bars + 1, r2.shape[0]):
        v = lam * v + (1.0 - lam) * float(r2[i])
        var[i] = v
    return np.sqrt(var)


def _long_vol(s: _Series, years: float) -> NDArray[np.float64]:
    """Equally weighted volatility of the bar log returns over the previous ``years`` (at each bar)."""
    c1 = np.concatenate([[0.0], np.cumsum(s.log_ret)])
    c2 = np.concatenate([[0.0], np.cumsum(s.log_ret**2)])
    idx = np.arange(s.ts.shape[0])
    lo = np.searchsorted(s.ts, s.ts - round(years * YEAR_MS), side="left")
    lo = np.maximum(lo, 1)  # log_ret[0] is not a return
    count = idx + 1 - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c1[idx + 1] - c1[lo]) / count
        var = (c2[idx + 1] - c2[lo]) / count - mean**2
    return np.sqrt(np.where(count > 1, np.maximum(var, 0.0) * count / np.maximum(count - 1, 1), 0.0))


def _historical(s: _Series, config: BacktestConfig, measure: Literal["var", "es"]) -> NDArray[np.float64]:
    """Historical-simulation VaR or ES of the horizon losses over the lookback, per observation."""
    losses = losses_of(s.fwd, config.side)
    lookback_ms = config.lookback_days * DAY_MS
    out = np.empty(s.obs.shape[0], dtype=np.float64)
    for k, i in enumerate(s.obs):
        lo = int(np.searchsorted(s.ts, s.ts[i] - lookback_ms, side="left"))
        window = losses[lo : i - s.h + 1]  # horizons that ended at or before the close of i
        window = window[np.isfinite(window)]
        if window.shape[0] == 0:
            raise ValueError(f"no horizon ended in the lookback before {format_ts(int(s.ts[i]))}: raise warmup_days")
        var = empirical_margin(window, config.coverage)
        out[k] = var if measure == "var" else float(np.mean(window[window >= var]))
    return np.maximum(out, 0.0)


def _apply_floor(s: _Series, margin: NDArray[np.float64], config: BacktestConfig) -> NDArray[np.float64]:
    if config.floor == "vol_10y":
        z = normal_quantile(config.coverage, config.side)
        floor = z * _long_vol(s, config.floor_years)[s.obs] * math.sqrt(s.h)
        return np.maximum(margin, floor)
    if config.floor == "buffer":
        return margin * (1.0 + config.buffer)
    return margin


def _result(
    model: str, description: str, s: _Series, margin: NDArray[np.float64], config: BacktestConfig
) -> BacktestResult:
    returns = s.fwd[s.obs]
    exceeded = losses_of(returns, config.side) > margin
    p = 1.0 - config.coverage
    arrays: list[NDArray[Any]] = [s.ts[s.obs].copy(), returns, margin, exceeded]
    for a in arrays:
        a.setflags(write=False)
    return BacktestResult(
        model=model,
        description=description,
        horizon_days=config.horizon_days,
        coverage_target=config.coverage,
        side=config.side,
        ts_ms=arrays[0],
        returns=arrays[1],
        margin=arrays[2],
        exceeded=arrays[3],
        kupiec=kupiec_pof(int(exceeded.sum()), int(exceeded.shape[0]), p),
        independence=christoffersen_independence(exceeded),
        conditional_coverage=conditional_coverage(exceeded, p),
    )


def _floor_text(config: BacktestConfig) -> str:
    if config.floor == "vol_10y":
        return f"; floored at the {config.floor_years:g}-year volatility margin (EMIR RTS 153/2013 art. 28(1)(c))"
    if config.floor == "buffer":
        return f"; plus a {config.buffer:.0%} buffer (EMIR RTS 153/2013 art. 28(1)(a), never released)"
    return ""


def run_backtests(
    history: PriceHistory,
    initial_margin_rate: float,
    config: BacktestConfig | None = None,
    models: Sequence[Model] = MODELS,
    source: str | None = None,
) -> BacktestReport:
    """Backtest the configured rate and the risk models on ``history``'s closes.

    All models are scored on the same observations (after the warm-up, inside
    ``config.start``/``config.end``, one every ``stride_bars``, default the horizon).
    Runtime complexity: O(bars) for ``configured`` and ``ewma``; O(observations ×
    lookback bars) for the historical models.
    """
    cfg = config or BacktestConfig()
    if initial_margin_rate <= 0:
        raise ValueError("the initial margin rate is a positive fraction")
    s = _prepare(history, cfg)
    z = normal_quantile(cfg.coverage, cfg.side)
    pct = f"{cfg.coverage:.1%}"
    results = []
    for model in models:
        if model == "configured":
            margin = np.full(s.obs.shape[0], float(initial_margin_rate))
            text = f"configured initial margin {initial_margin_rate:.2%}, constant"
        elif model == "ewma":
            margin = _apply_floor(s, z * _ewma_sigma(s, cfg)[s.obs] * math.sqrt(s.h), cfg)
            text = f"EWMA (RiskMetrics, λ {cfg.ewma_lambda:g}/day) × z {z:.3f} for {pct} {cfg.side}" + _floor_text(cfg)
        elif model in ("hs_var", "hs_es"):
            measure: Literal["var", "es"] = "var" if model == "hs_var" else "es"
            margin = _apply_floor(s, _historical(s, cfg, measure), cfg)
            text = f"historical {measure.upper()} {pct} over {cfg.lookback_days} days" + _floor_text(cfg)
        else:
            raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
        results.append(_result(model, text, s, margin, cfg))
    return BacktestReport(source or history.source, history.name, cfg, tuple(results))


def default_backtest_report(
    directory: str | Path | None = None,
    venue_config: VenueConfig | None = None,
    *,
    frequency: Literal["1d", "2h"] = "1d",
    segment: str = "retail",
    config: BacktestConfig | None = None,
) -> BacktestReport | None:
    """The standard study: the shared BTC history against the segment's configured margin.

    Returns None when the shared data directory is absent.
    """
    history = load_btc_daily(directory) if frequency == "1d" else load_btc_2h(directory)
    if history is None:
        return None
    return run_backtests(history, configured_margin_rate(venue_config, segment), config)


def default_backtest(
    directory: str | Path | None = None,
    venue_config: VenueConfig | None = None,
    *,
    frequency: Literal["1d", "2h"] = "1d",
    segment: str = "retail",
    config: BacktestConfig | None = None,
    include_table: bool = True,
) -> dict[str, Any] | None:
    """:func:`default_backtest_report` as a JSON-friendly dict (see :meth:`BacktestReport.to_dict`)."""
    report = default_backtest_report(directory, venue_config, frequency=frequency, segment=segment, config=config)
    return None if report is None else report.to_dict(include_table)
