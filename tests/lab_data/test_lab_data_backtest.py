"""Margin backtest (onshore.lab.backtest): the tests against hand-computed values, the models, the real history."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from onshore.config.load import default_config
from onshore.lab.backtest import (
    BacktestConfig,
    chi2_sf_1,
    chi2_sf_2,
    christoffersen_independence,
    conditional_coverage,
    configured_margin_rate,
    default_backtest,
    default_backtest_report,
    empirical_margin,
    kupiec_pof,
    losses_of,
    normal_quantile,
    run_backtests,
    transition_counts,
)
from onshore.lab.data import PriceHistory

from .helpers import needs_data, shared

DAY_MS = 86_400_000


# ---------------------------------------------------------------- χ² survival functions
def test_chi_square_survival_functions_at_their_5_percent_points() -> None:
    assert chi2_sf_1(3.841458820694124) == pytest.approx(0.05, abs=1e-12)
    assert chi2_sf_2(5.991464547107979) == pytest.approx(0.05, abs=1e-12)
    assert chi2_sf_1(0.0) == 1.0 and chi2_sf_2(0.0) == 1.0


# ---------------------------------------------------------------- Kupiec (1995)
# LR_pof = −2 ln[(1−p)^(T−x) p^x] + 2 ln[(1−x/T)^(T−x) (x/T)^x], p-value erfc(√(LR/2)).
# T = 250, p = 0.01:
#   x = 5: LR = 2 [245 ln(0.98/0.99) + 5 ln(0.02/0.01)] = 2 [−2.487343 + 3.465736] = 1.956810, p = 0.161855
#   x = 6: LR = 2 [244 ln(0.976/0.99) + 6 ln(0.024/0.01)] = 2 [−3.475130 + 5.252808] = 3.555355, p = 0.059354
#   x = 0: LR = −2 · 250 ln(0.99) = 5.025168, p = 0.024982
@pytest.mark.parametrize(
    ("exceedances", "lr", "p_value"),
    [(5, 1.956810, 0.161855), (6, 3.555355, 0.059354), (0, 5.025168, 0.024982), (10, 12.955491, 0.000319)],
)
def test_kupiec_against_hand_computed_values(exceedances: int, lr: float, p_value: float) -> None:
    test = kupiec_pof(exceedances, 250, 0.01)
    assert test.statistic == pytest.approx(lr, abs=1e-6)
    assert test.p_value == pytest.approx(p_value, abs=1e-6)
    assert test.dof == 1


def test_kupiec_formula_written_out() -> None:
    t, x, p = 250, 5, 0.01
    by_hand = 2 * ((t - x) * math.log((1 - x / t) / (1 - p)) + x * math.log((x / t) / p))
    assert kupiec_pof(x, t, p).statistic == pytest.approx(by_hand, rel=1e-12)
    assert kupiec_pof(250, 250, 0.01).statistic == pytest.approx(-2 * 250 * math.log(0.01))
    with pytest.raises(ValueError):
        kupiec_pof(3, 2, 0.01)


# ---------------------------------------------------------------- Christoffersen (1998)
def test_christoffersen_independence_on_a_clustered_sequence() -> None:
    # 0 0 0 1 1 1 0 0 0 0: n00 = 5, n01 = 1, n10 = 1, n11 = 2; π01 = 1/6, π11 = 2/3, π = 1/3
    # ln L0 = 6 ln(2/3) + 3 ln(1/3) = −5.728627
    # ln L1 = 5 ln(5/6) + ln(1/6) + ln(1/3) + 2 ln(2/3) = −4.612909
    # LR_ind = 2 (−4.612909 + 5.728627) = 2.231436, p = erfc(√1.115718) = 0.135228
    hits = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert transition_counts(hits) == (5, 1, 1, 2)
    test = christoffersen_independence(hits)
    assert test.statistic == pytest.approx(2.231436, abs=1e-6)
    assert test.p_value == pytest.approx(0.135228, abs=1e-6)


def test_christoffersen_sees_no_clustering_where_there_is_none() -> None:
    # 0 0 1 1 0 0 0 1 0 0: π01 = 2/6 = π11 = 1/3 = π → LR_ind = 0
    assert christoffersen_independence([0, 0, 1, 1, 0, 0, 0, 1, 0, 0]).statistic == pytest.approx(0.0, abs=1e-12)
    assert christoffersen_independence([0] * 100).statistic == 0.0
    assert christoffersen_independence([1]).p_value == 1.0


def test_conditional_coverage_adds_the_two_statistics_with_two_degrees_of_freedom() -> None:
    hits = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    cc = conditional_coverage(hits, 0.01)
    expected = kupiec_pof(3, 10, 0.01).statistic + 2.231436
    assert cc.statistic == pytest.approx(expected, abs=1e-6)
    assert cc.p_value == pytest.approx(math.exp(-expected / 2), rel=1e-6) and cc.dof == 2


# ---------------------------------------------------------------- the margin that covers 99 %
def test_the_empirical_quantile_margin_covers_99_percent_in_sample_and_is_the_least_such() -> None:
    rng = np.random.default_rng(11)
    for n in (100, 250, 999, 4786):
        losses = np.abs(rng.standard_t(3, n)) * 0.03
        m = empirical_margin(losses, 0.99)
        assert np.mean(losses <= m) >= 0.99
        below = losses[losses < m]
        if below.size:
            assert np.mean(losses <= below.max()) < 0.99
    assert empirical_margin([0.01] * 10, 0.99) == 0.01


def test_normal_multipliers_and_losses_by_side() -> None:
    assert normal_quantile(0.99, "both") == pytest.approx(2.5758293, abs=1e-6)
    assert normal_quantile(0.99, "long") == pytest.approx(2.3263479, abs=1e-6)
    r = np.array([-0.1, 0.05])
    assert losses_of(r, "both").tolist() == [0.1, 0.05]
    assert losses_of(r, "long").tolist() == [0.1, -0.05]
    assert losses_of(r, "short").tolist() == [-0.1, 0.05]


def test_the_configured_rate_is_one_over_the_segment_leverage() -> None:
    assert configured_margin_rate() == 0.1  # retail 10×
    assert configured_margin_rate(segment="institutional") == 0.02  # 50×
    with pytest.raises(KeyError):
        configured_margin_rate(segment="whale")


# ---------------------------------------------------------------- the models on a synthetic history
def synthetic(days: int = 2000, vol_daily: float = 0.04, seed: int = 5) -> PriceHistory:
    rng = np.random.default_rng(seed)
    close = 1000.0 * np.exp(np.cumsum(rng.standard_normal(days) * vol_daily))
    ts = 1_420_070_400_000 + DAY_MS * np.arange(days, dtype=np.int64)  # from 2015-01-01
    return PriceHistory("gbm", ts, close, close, close, close, "synthetic")


def test_models_score_the_same_observations_and_serialize_to_json() -> None:
    report = run_backtests(synthetic(), 0.10, BacktestConfig(lookback_days=250, warmup_days=365))
    assert [r.model for r in report.results] == ["configured", "ewma", "hs_var", "hs_es"]
    n = report.results[0].observations
    assert n == 2000 - 365 - 1
    assert all(np.array_equal(r.ts_ms, report.results[0].ts_ms) for r in report.results)
    summary = report.to_dict()
    json.dumps(summary)  # JSON-friendly
    assert set(summary["models"]) == {"configured", "ewma", "hs_var", "hs_es"}
    assert summary["table"][0].keys() == {"date", "return", "margin", "exceeded", "model_margin", "model_exceeded"}
    assert len(summary["table"]) == n and summary["table"][0]["date"] == "2016-01-01"
    # a normal world: EWMA at z(99 %, two-sided) is close to its target
    ewma = report.result("ewma")
    assert ewma.margin.mean() == pytest.approx(2.5758 * 0.04, rel=0.1)
    assert ewma.kupiec.p_value > 0.01
    # a 10 % margin against a 4 % daily vol is exceeded about 1.2 % of days (two-sided normal tail)
    configured = report.result("configured")
    assert 0.004 < configured.exceedances / n < 0.03
    assert configured.exceedances == configured.exceedances_long + configured.exceedances_short


def test_a_margin_never_looks_ahead() -> None:
    history = synthetic()
    config = BacktestConfig(lookback_days=250, warmup_days=365)
    base = run_backtests(history, 0.1, config)
    shocked_close = history.close.copy()
    cut = 1500
    shocked_close[cut:] *= np.exp(np.linspace(0, 3, 2000 - cut))
    shocked = PriceHistory("gbm", history.ts_ms, shocked_close, shocked_close, shocked_close, shocked_close, "s")
    after = run_backtests(shocked, 0.1, config)
    for a, b in zip(base.results, after.results, strict=True):
        known = a.ts_ms < history.ts_ms[cut]  # margins set at or before the close of day cut − 1
        assert np.array_equal(a.margin[known], b.margin[known])


def test_the_floor_and_the_buffer_raise_the_margin() -> None:
    history = synthetic()
    plain = run_backtests(history, 0.1, BacktestConfig(floor="none"), models=("ewma",)).results[0]
    floored = run_backtests(history, 0.1, BacktestConfig(floor="vol_10y"), models=("ewma",)).results[0]
    buffered = run_backtests(history, 0.1, BacktestConfig(floor="buffer"), models=("ewma",)).results[0]
    assert np.all(floored.margin >= plain.margin)
    assert np.allclose(buffered.margin, plain.margin * 1.25)


def test_a_horizon_of_several_bars_uses_non_overlapping_observations() -> None:
    history = synthetic()
    weekly = run_backtests(history, 0.2, BacktestConfig(horizon_days=7), models=("configured", "ewma")).results[1]
    assert np.all(np.diff(weekly.ts_ms) == 7 * DAY_MS)
    r = weekly.returns[0]
    i = int(np.searchsorted(history.ts_ms, weekly.ts_ms[0]))
    assert r == pytest.approx(history.close[i + 7] / history.close[i] - 1)
    with pytest.raises(ValueError, match="whole number"):
        run_backtests(history, 0.1, BacktestConfig(horizon_days=0.3))


# ---------------------------------------------------------------- the real BTC history
@needs_data
def test_the_real_daily_btc_backtest() -> None:
    report = default_backtest_report(shared())
    assert report is not None
    configured, ewma = report.result("configured"), report.result("ewma")
    assert configured.observations == 4786  # 2012-08-17 → 2025-09-23, after a year of warm-up
    assert configured.to_dict()["first"] == "2012-08-17" and configured.to_dict()["last"] == "2025-09-23"
    # retail 10 %: 156 days in 4,786 moved more than 10 % (64 down, 92 up): rejected, and clustered
    assert (configured.exceedances, configured.exceedances_long, configured.exceedances_short) == (156, 64, 92)
    assert configured.kupiec.p_value < 1e-30 and configured.independence.p_value < 1e-15
    # EWMA floored at the 10-year volatility: 37 exceedances against 47.9 expected
    assert ewma.exceedances == 37
    assert ewma.kupiec.p_value == pytest.approx(0.100, abs=0.005)
    assert ewma.independence.p_value < 1e-4
    # the rate that would have covered 99 % of those days
    assert report.required_margin == pytest.approx(0.1487, abs=5e-4)
    covering = run_backtests(report_history(), report.required_margin, models=("configured",)).results[0]
    assert covering.coverage >= 0.99


@needs_data
def test_the_default_backtest_dict_is_what_the_report_plots() -> None:
    summary = default_backtest(shared(), default_config())
    assert summary is not None
    json.dumps(summary)
    assert summary["observations"] == 4786 and summary["history"] == "btc_usd_1d"
    assert summary["models"]["configured"]["description"] == "configured initial margin 10.00%, constant"
    row = summary["table"][0]
    assert row["date"] == "2012-08-17"
    assert set(row) == {"date", "return", "margin", "exceeded", "model_margin", "model_exceeded"}
    without_table = default_backtest(shared(), include_table=False)
    assert without_table is not None and without_table.keys() == summary.keys() - {"table"}


def report_history() -> PriceHistory:
    from onshore.lab.data import load_btc_daily

    history = load_btc_daily(shared())
    assert history is not None
    return history
