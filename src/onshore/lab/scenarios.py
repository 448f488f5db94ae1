"""Price scenarios for the stress lab: real crash windows, parametric crashes, shocks.

A :class:`Scenario` is a path of the index/mark price in USD (float64, for analytics)
with its UTC timestamps, and :meth:`Scenario.ticks` turns it into exact integer ticks of
a market's grid for the engine. Four families:

* **historical** — the 1-minute Binance BTCUSDT perpetual crash windows of
  ``../shared/data`` (:func:`historical_scenarios`, :func:`from_history`); a close path,
  or a wick path that visits every bar's low (or high);
* **parametric** — built-in paths that need no data (:data:`CRASHES`,
  :func:`crash_scenario`): the published anchor prices of the four crashes joined by
  seeded Brownian bridges in a volatility regime measured on the real windows, and a
  generic :func:`parametric_crash` (drawdown, duration, legs, volatility);
* **hypothetical** — an instant gap (:func:`gap`), a volatility spike (:func:`vol_spike`),
  an index outage (:func:`index_outage`);
* **file** — any CSV or Parquet price file (:func:`load_scenario`).

Every random path draws from ``numpy.random.default_rng([seed, crc32(name)])``: the same
seed and name give the same path on any machine. :func:`smallest_move` is the reverse
stress search. ``docs/lab_scenarios.md`` lists every scenario with its facts and sources.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from onshore.core.units import split_decimal
from onshore.lab.data import (
    CRASH_WINDOW_FILES,
    PriceHistory,
    format_ts,
    load_crash_window,
    load_history,
)

MINUTE_MS = 60_000
MINUTES_PER_YEAR = 525_600
"""Crypto trades around the clock: a year is 365 × 24 × 60 minutes for annualizing."""

DEFAULT_START_MS = 1_735_689_600_000
"""2025-01-01T00:00:00Z: the start of the hypothetical shocks."""

DEFAULT_START_PRICE = 100_000.0
"""USD; the level of the hypothetical shocks (BTC traded near it through 2025)."""

Kind = Literal["historical", "parametric", "hypothetical", "file"]
Wicks = Literal["close", "low", "high"]


def _no_flags() -> NDArray[np.bool_]:
    return np.zeros(0, dtype=bool)


def _utc_ms(text: str) -> int:
    return (
        int((datetime.fromisoformat(text).replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
        * 1000
    )


# ---------------------------------------------------------------------------- ticks
_TIE_BAND = 1e-5
_FAST_LIMIT = float(2**30)


def _exact_ticks(price: float, tick_num: int, tick_exp: int) -> int:
    """Round ``repr(price) / tick`` half to even, in exact integer arithmetic."""
    sign, digits, exponent = Decimal(repr(price)).as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
    # value / tick = mantissa * 10**exponent * 10**tick_exp / tick_num
    shift = exponent + tick_exp
    numerator, denominator = (mantissa * 10**shift, tick_num) if shift >= 0 else (mantissa, tick_num * 10**-shift)
    return round(Fraction(numerator, denominator))  # Fraction.__round__ rounds half to even


def prices_to_ticks(price: ArrayLike, tick_size: str) -> NDArray[np.int64]:
    """Convert USD prices to integer ticks of ``tick_size``, rounding half to even, exactly.

    Each float is taken at its shortest round-tripping decimal (``repr``: the text a CSV
    held, e.g. ``4762.15``), divided by the tick exactly and rounded to the nearest tick,
    ties to the even tick (``4762.15`` at tick ``0.1`` is 47622, ``4762.25`` is 47622).
    A vectorized float estimate is used where it provably agrees (further than 1e-5 tick
    from a tie and below 2**30 ticks); the rest go through exact integer arithmetic.

    Runtime complexity: O(n), plus a few microseconds per near-tie element.
    """
    tick_num, tick_exp = split_decimal(tick_size)
    if tick_num <= 0:
        raise ValueError(f"a tick size must be positive, got {tick_size!r}")
    p = np.asarray(price, dtype=np.float64)
    if not np.isfinite(p).all():
        raise ValueError("prices must be finite")
    x = p * (10.0**tick_exp / tick_num)
    ticks = np.rint(x)
    distance_to_tie = np.abs(np.abs(x - np.trunc(x)) - 0.5)
    slow = (distance_to_tie < _TIE_BAND) | (np.abs(x) >= _FAST_LIMIT)
    out = ticks.astype(np.int64)
    flat = out.reshape(-1)
    for i in np.flatnonzero(slow.reshape(-1)):
        flat[i] = _exact_ticks(float(p.reshape(-1)[i]), tick_num, tick_exp)
    return out


# ---------------------------------------------------------------------------- the value
@dataclass(frozen=True, eq=False)
class Scenario:
    """A price path: UTC ms timestamps and the index/mark price in USD at each step.

    ``index_stale[i]`` marks steps where the index feed is stale (an outage); the market
    price keeps moving in ``price`` and :meth:`index_price` gives what a venue holding the
    last good index would see. Arrays are copied and read-only.
    """

    name: str
    description: str
    ts_ms: NDArray[np.int64]
    price: NDArray[np.float64]
    source: str
    kind: Kind = "hypothetical"
    index_stale: NDArray[np.bool_] = field(default_factory=_no_flags)
    seed: int | None = None

    def __post_init__(self) -> None:
        ts = np.array(self.ts_ms, dtype=np.int64)
        price = np.array(self.price, dtype=np.float64)
        stale = np.array(self.index_stale, dtype=bool)
        if ts.ndim != 1 or price.ndim != 1 or ts.shape != price.shape or ts.shape[0] == 0:
            raise ValueError(f"scenario {self.name!r}: ts_ms and price must be non-empty 1-D arrays of one length")
        if stale.shape[0] == 0:
            stale = np.zeros(ts.shape[0], dtype=bool)
        if stale.shape != ts.shape:
            raise ValueError(f"scenario {self.name!r}: index_stale must have one flag per step")
        if (np.diff(ts) <= 0).any():
            raise ValueError(f"scenario {self.name!r}: timestamps must increase strictly")
        if not (np.isfinite(price).all() and (price > 0).all()):
            raise ValueError(f"scenario {self.name!r}: prices must be positive and finite")
        for name, array in (("ts_ms", ts), ("price", price), ("index_stale", stale)):
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    def ticks(self, tick_size: str) -> NDArray[np.int64]:
        """Return the path in integer ticks of ``tick_size`` (see :func:`prices_to_ticks`).

        Raises ValueError if a price rounds to zero ticks.
        """
        ticks = prices_to_ticks(self.price, tick_size)
        if (ticks <= 0).any():
            raise ValueError(f"scenario {self.name!r}: a price rounds to zero ticks of {tick_size}")
        return ticks

    def index_price(self) -> NDArray[np.float64]:
        """Return the index a venue would see: the last fresh price held through stale steps.

        A stale first step holds the first price.
        """
        fresh = ~self.index_stale
        fresh[0] = True
        last = np.maximum.accumulate(np.where(fresh, np.arange(len(self)), 0))
        return self.price[last]

    def max_drawdown(self) -> float:
        """Return the largest fall from a running peak, as a fraction (0.5 = −50 %)."""
        peak = np.maximum.accumulate(self.price)
        return float(np.max(1.0 - self.price / peak))

    def summary(self) -> dict[str, Any]:
        """Return a JSON-friendly description (no arrays)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "source": self.source,
            "seed": self.seed,
            "steps": len(self),
            "start": format_ts(int(self.ts_ms[0])),
            "end": format_ts(int(self.ts_ms[-1])),
            "start_price": float(self.price[0]),
            "end_price": float(self.price[-1]),
            "min_price": float(self.price.min()),
            "max_price": float(self.price.max()),
            "max_drawdown": self.max_drawdown(),
            "stale_steps": int(self.index_stale.sum()),
        }


def _rng(seed: int, name: str) -> np.random.Generator:
    if seed < 0:
        raise ValueError(f"a seed is a non-negative integer, got {seed}")
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


# ---------------------------------------------------------------------------- historical
def from_history(
    history: PriceHistory,
    wicks: Wicks = "close",
    name: str | None = None,
    description: str | None = None,
    kind: Kind = "historical",
) -> Scenario:
    """Turn OHLC bars into a path.

    ``wicks="close"``: the first bar's open at its start, then every bar's close at the
    bar's end (``n + 1`` points, one per bar). ``wicks="low"`` (or ``"high"``): the path
    visits each bar's low (high) halfway through the bar: open → low → close, so
    ``2n + 1`` points half a bar apart; the open of each later bar is taken to be the
    previous close (they differ by a tick or two in 1-minute perp data). The low path
    stresses longs with every wick; the high path stresses shorts.
    """
    bar = history.bar_ms or MINUTE_MS
    n = len(history)
    if wicks == "close":
        ts = np.concatenate([history.ts_ms[:1], history.ts_ms + bar])
        price = np.concatenate([history.open[:1], history.close])
    elif wicks in ("low", "high"):
        extreme = history.low if wicks == "low" else history.high
        ts = np.empty(2 * n + 1, dtype=np.int64)
        price = np.empty(2 * n + 1, dtype=np.float64)
        ts[0], price[0] = history.ts_ms[0], history.open[0]
        ts[1::2], price[1::2] = history.ts_ms + bar // 2, extreme
        ts[2::2], price[2::2] = history.ts_ms + bar, history.close
    else:
        raise ValueError(f"wicks is 'close', 'low' or 'high', not {wicks!r}")
    suffix = "" if wicks == "close" else f"_{wicks}s"
    label = name or history.name + suffix
    what = {"close": "close path", "low": "wick path open → low → close", "high": "wick path open → high → close"}[
        wicks
    ]
    text = description or (
        f"{history.name}: {n} bars from {format_ts(int(history.ts_ms[0]))}, {what}; "
        f"low {float(history.low.min()):g}, high {float(history.high.max()):g}"
    )
    return Scenario(label, text, ts, price, history.source, kind=kind)


HISTORICAL_NAMES = tuple(f"binance_perp_{d.replace('-', '_')}" for d in CRASH_WINDOW_FILES)


def historical_scenarios(directory: str | Path | None = None, wicks: Wicks = "close") -> list[Scenario]:
    """Return the four real 1-minute Binance perp crash windows, or [] when the data is absent."""
    out = []
    for date in CRASH_WINDOW_FILES:
        history = load_crash_window(date, directory)
        if history is not None:
            out.append(from_history(history, wicks))
    return out


# ---------------------------------------------------------------------------- parametric
@dataclass(frozen=True)
class CrashFacts:
    """A crash as published: anchor prices at minutes from the start, and a volatility regime.

    ``anchors`` are ``(minutes from start, USD)``; ``vol_annual`` has one annualized
    volatility per segment between anchors (the noise of the bridge on that segment).
    """

    name: str
    title: str
    start: str
    anchors: tuple[tuple[int, float], ...]
    vol_annual: tuple[float, ...]
    facts: tuple[str, ...]
    sources: tuple[str, ...]

    @property
    def start_ms(self) -> int:
        return _utc_ms(self.start)

    @property
    def drawdown(self) -> float:
        """Fall from the start price to the lowest anchor (0.5 = −50 %)."""
        return 1.0 - min(p for _, p in self.anchors) / self.anchors[0][1]

    @property
    def minutes_to_trough(self) -> int:
        low = min(p for _, p in self.anchors)
        return next(m for m, p in self.anchors if p == low)

    @property
    def legs(self) -> int:
        """Number of separate falls: runs of falling segments between rises."""
        falling = [b[1] < a[1] for a, b in pairwise(self.anchors)]
        return sum(1 for i, f in enumerate(falling) if f and (i == 0 or not falling[i - 1]))


def anchored_path(
    anchors: Sequence[tuple[int, float]],
    vol_annual: Sequence[float],
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Return a 1-minute path through ``anchors`` with Brownian-bridge noise between them.

    On the segment from ``(m0, p0)`` to ``(m1, p1)`` the log price is the straight line
    plus ``W_k − (k/n) W_n`` where ``W`` is a random walk of per-minute standard deviation
    ``vol / sqrt(525600)``; the path is folded (reflected) into [lowest anchor, highest
    anchor], so it passes exactly through every anchor and its extremes are the anchors'.
    """
    minutes = [m for m, _ in anchors]
    prices = [p for _, p in anchors]
    if minutes[0] != 0 or any(b <= a for a, b in pairwise(minutes)):
        raise ValueError("anchor minutes start at 0 and increase strictly")
    if len(vol_annual) != len(anchors) - 1:
        raise ValueError("one volatility per segment between anchors")
    if min(prices) <= 0 or min(vol_annual) < 0:
        raise ValueError("anchor prices are positive and volatilities non-negative")
    logp = np.empty(minutes[-1] + 1, dtype=np.float64)
    for (m0, p0), (m1, p1), vol in zip(anchors, anchors[1:], vol_annual, strict=False):
        n = m1 - m0
        k = np.arange(n + 1, dtype=np.float64)
        walk = np.concatenate([[0.0], np.cumsum(rng.standard_normal(n) * (vol / math.sqrt(MINUTES_PER_YEAR)))])
        logp[m0 : m1 + 1] = math.log(p0) + (math.log(p1) - math.log(p0)) * k / n + walk - (k / n) * walk[-1]
    lo, hi = math.log(min(prices)), math.log(max(prices))
    if hi > lo:
        width = hi - lo
        folded = np.mod(logp - lo, 2 * width)
        logp = lo + np.where(folded > width, 2 * width - folded, folded)
    price = np.clip(np.exp(logp), min(prices), max(prices))
    price[minutes] = prices
    return price


def _anchored_scenario(
    name: str,
    description: str,
    source: str,
    anchors: Sequence[tuple[int, float]],
    vol_annual: Sequence[float],
    seed: int,
    start_ms: int,
    kind: Kind,
) -> Scenario:
    price = anchored_path(anchors, vol_annual, _rng(seed, name))
    ts = start_ms + MINUTE_MS * np.arange(price.shape[0], dtype=np.int64)
    return Scenario(name, description, ts, price, source, kind=kind, seed=seed)


_DATA_README = "../shared/data/README.md"

CRASHES: dict[str, CrashFacts] = {
    facts.name: facts
    for facts in (
        CrashFacts(
            name="crash_2020_03_12",
            title="Black Thursday, 2020-03-12/13: BTC −51 % in two legs over 16 hours",
            start="2020-03-12T10:00",
            anchors=((0, 7353.0), (45, 5678.0), (780, 5800.0), (976, 3621.81), (1126, 4843.06)),
            vol_annual=(11.1, 3.8, 11.1, 11.1),
            facts=(
                "BitMEX XBTUSD perpetual at 7,353 at 10:00 UTC on 2020-03-12; first leg to 5,678 at about "
                "10:45 UTC; bottom 3,596 on BitMEX; 'two rather distinct legs' (LedgerPrime).",
                "Second leg 23:00 UTC 2020-03-12 to 02:15 UTC 2020-03-13, from about 5,800 to about 3,900; "
                "BTC fell more than 50 % in the biggest single-day drop since 2013 (BTCMEX).",
                "Binance BTCUSDT perp low 3,621.81 at 02:16 UTC; close 4,843.06 at 04:46 UTC "
                f"({_DATA_README}, crash window 2020-03-13).",
                "Volatility regime: 1-minute realized volatility of the Binance perp window, 1,114 % "
                "annualized (crash and rebound segments); 2-hourly Binance spot realized volatility on "
                "2020-03-12, 377 % annualized (between the legs).",
            ),
            sources=(
                "LedgerPrime, 'Crypto's Black Thursday: the Market Crash of March 2020', "
                "https://www.research.ledgerprime.com/p/cryptos-black-thursday-the-market",
                "BTCMEX, 'Black Thursday: what actually happened to Bitcoin', "
                "https://blog.btcmex.com/black-thursday-what-actually-happened-to-bitcoin/",
                f"{_DATA_README} §1 and crash_windows_1m/binance_um_btcusdt_perp_1m_2020-03-13.csv; "
                "spot/binance_spot_btcusdt_2h.csv",
            ),
        ),
        CrashFacts(
            name="crash_2021_05_19",
            title="2021-05-19: BTC −33 % from the day's open, −25 % in 43 minutes, exchanges down",
            start="2021-05-19T00:00",
            anchors=((0, 42849.78), (747, 38334.81), (790, 28688.0), (881, 34808.39)),
            vol_annual=(1.7, 11.5, 11.5),
            facts=(
                "Bitcoin plunged by 30 % on 2021-05-19; Binance halted trading for retail clients during "
                "the crash (Baumgartner and Guettler, IWH Halle).",
                "Binance spot daily open 42,849.78, low 30,000.00 (spot/binance_spot_btcusdt_1d.csv).",
                "Binance BTCUSDT perp 38,334.81 at 12:27 UTC, low 28,688.00 at 13:10 UTC, 34,808.39 at "
                f"14:41 UTC; many 1-minute bars wider than 5 % ({_DATA_README}, crash window 2021-05-19).",
                "Volatility regime: 1-minute realized volatility of the perp window, 1,150 % annualized; "
                "2-hourly spot realized volatility before the window, 168 % annualized.",
            ),
            sources=(
                "T. Baumgartner and A. Guettler, 'Bitcoin Flash Crash on May 19, 2021: What Did Really "
                "Happen on Binance?', IWH Halle, 2022, https://www.iwh-halle.de/en/publications/detail/"
                "bitcoin-flash-crash-on-may-19-2021-what-did-really-happen-on-binance/",
                f"{_DATA_README} §1 and §5; crash_windows_1m/binance_um_btcusdt_perp_1m_2021-05-19.csv",
            ),
        ),
        CrashFacts(
            name="crash_2022_11_09",
            title="FTX, 2022-11-09: BTC −17 % over a day in two legs",
            start="2022-11-09T00:00",
            anchors=((0, 18545.38), (630, 17250.33), (750, 18015.0), (1285, 15997.9), (1328, 15462.6), (1419, 15712.3)),
            vol_annual=(1.3, 1.3, 1.3, 2.6, 2.6),
            facts=(
                "The CoinDesk Bitcoin Price Index fell to 15,625 on 2022-11-09 after Binance walked away "
                "from buying FTX: down 14 % on the day, the lowest since November 2020 (CoinDesk).",
                "Binance spot daily open 18,545.38; the 10:00 2-hourly bar's low 17,250.33 and the 12:00 "
                "bar's high 18,015.00 (placed at the bars' midpoints, 10:30 and 12:30 UTC).",
                "Binance BTCUSDT perp 15,997.90 at 21:25 UTC, low 15,462.60 at 22:08 UTC, 15,712.30 at "
                f"23:39 UTC ({_DATA_README}, crash window 2022-11-09).",
                "Volatility regime: 1-minute realized volatility of the perp window, 260 % annualized; "
                "2-hourly spot realized volatility that day, 127 % annualized.",
            ),
            sources=(
                "CoinDesk, 'Bitcoin Hits 2-Year Low Below $16K After Binance Backs Out of FTX Deal', "
                "2022-11-09, https://www.coindesk.com/markets/2022/11/09/bitcoin-falls-below-17k-amid-latest-ftx-meltdown",
                f"{_DATA_README} §1 and §5; spot/binance_spot_btcusdt_1d.csv, spot/binance_spot_btcusdt_2h.csv",
            ),
        ),
        CrashFacts(
            name="crash_2025_10_10",
            title="2025-10-10: BTC −13 % in 36 minutes on Binance's perp; $19 bn liquidated, 1.6 million traders",
            start="2025-10-10T00:00",
            anchors=((0, 121714.51), (1194, 116860.0), (1244, 117145.3), (1280, 101516.5), (1324, 113118.8)),
            vol_annual=(0.45, 0.45, 4.8, 4.8),
            facts=(
                "After the 100 % tariff announcement on Chinese imports, about $19 bn of leveraged positions "
                "were liquidated and over 1.6 million trader accounts closed (CoinGlass: 1,618,240 traders, "
                "$19.13 bn in 24 hours); BTC fell from about 122,000 to below 107,000 (yellow.com, Binance "
                "Square).",
                "Longs were $16.7 bn of the $19.1 bn (87 %); Hyperliquid, the venue with the largest "
                "liquidations ($10.2–10.3 bn), had 91.09 % longs among its liquidations ($9.297 bn in 4 hours) "
                "(CoinGlass via Binance Square).",
                "Coinbase BTC-USD daily open 121,714.51, low 107,000 (spot/coinbase_btc_eth_usd_1d.csv).",
                "Binance BTCUSDT perp 116,860.0 at 19:54 UTC, high 117,145.3 at 20:44, low 101,516.5 at "
                f"21:20 (−13.3 % in 36 minutes), 113,118.8 at 22:04 ({_DATA_README}, crash window 2025-10-10).",
                "Volatility regime: 1-minute realized volatility of the perp window, 476 % annualized (the "
                "crash and rebound); 45 % annualized before its peak (the day's drift).",
            ),
            sources=(
                "yellow.com, 'Trump's 100% China tariff: how one announcement liquidated $19 billion in crypto', "
                "https://yellow.com/research/trump-100-china-tariff-how-one-announcement-liquidated-dollar19-"
                "billion-in-crypto",
                "Binance Square (CoinGlass figures), https://www.binance.bh/en-AE/square/post/30850840862433 "
                "and https://www.binance.bh/en-TR/square/post/31136358766305",
                f"{_DATA_README} §1 and §5; crash_windows_1m/binance_um_btcusdt_perp_1m_2025-10-10.csv",
            ),
        ),
    )
}
"""The four crashes of ``../shared/data`` as published facts (docs/lab_scenarios.md)."""


def crash_scenario(facts: CrashFacts, seed: int = 0) -> Scenario:
    """Build the parametric path of a published crash (1-minute steps, seeded)."""
    description = f"{facts.title}. Parametric: {facts.legs} leg(s), anchors at published prices. " + " ".join(
        facts.facts
    )
    return _anchored_scenario(
        facts.name,
        description,
        "; ".join(facts.sources),
        facts.anchors,
        facts.vol_annual,
        seed,
        facts.start_ms,
        "parametric",
    )


def parametric_crash(
    name: str,
    drawdown: float,
    duration_min: int,
    legs: int = 1,
    vol_annual: float = 1.0,
    retrace: float = 0.5,
    fall_share: float = 0.5,
    rebound: float = 0.0,
    rebound_min: int = 0,
    start_price: float = DEFAULT_START_PRICE,
    start_ms: int = DEFAULT_START_MS,
    seed: int = 0,
) -> Scenario:
    """A generic crash: ``drawdown`` from the start to the trough in ``duration_min`` minutes.

    The fall comes in ``legs`` equal falls (in log terms) separated by rallies that win
    back ``retrace`` of the leg before; the falls take ``fall_share`` of the time (all of
    it for one leg). After the trough the price wins back ``rebound`` of the whole fall
    over ``rebound_min`` minutes. Noise: a Brownian bridge of ``vol_annual`` between the
    anchors (see :func:`anchored_path`), so start, trough and drawdown are exact.
    """
    if not 0 < drawdown < 1:
        raise ValueError("drawdown is a fraction in (0, 1)")
    if legs < 1 or not 0 <= retrace < 1 or not 0 < fall_share <= 1 or not 0 <= rebound <= 1:
        raise ValueError("legs >= 1, 0 <= retrace < 1, 0 < fall_share <= 1, 0 <= rebound <= 1")
    total = -math.log(1.0 - drawdown)
    leg = total / (legs - (legs - 1) * retrace)
    fall_min = duration_min * (fall_share if legs > 1 else 1.0) / legs
    rally_min = duration_min * (1.0 - fall_share) / (legs - 1) if legs > 1 else 0.0
    anchors: list[tuple[int, float]] = [(0, start_price)]
    t, logp = 0.0, math.log(start_price)
    for i in range(legs):
        t, logp = t + fall_min, logp - leg
        anchors.append((round(t), math.exp(logp)))
        if i < legs - 1:
            t, logp = t + rally_min, logp + retrace * leg
            anchors.append((round(t), math.exp(logp)))
    trough = start_price * (1.0 - drawdown)
    anchors[-1] = (duration_min, trough)
    if rebound > 0 and rebound_min > 0:
        anchors.append((duration_min + rebound_min, trough + rebound * (start_price - trough)))
    if any(b[0] <= a[0] for a, b in pairwise(anchors)):
        raise ValueError("duration too short for the legs: every phase needs at least a minute")
    description = (
        f"Parametric crash: −{drawdown:.1%} in {duration_min} min in {legs} leg(s), "
        f"retrace {retrace:.0%}, rebound {rebound:.0%} over {rebound_min} min, vol {vol_annual:.0%} annualized"
    )
    return _anchored_scenario(
        name,
        description,
        "parametric (onshore.lab.scenarios.parametric_crash)",
        anchors,
        [vol_annual] * (len(anchors) - 1),
        seed,
        start_ms,
        "parametric",
    )


# ---------------------------------------------------------------------------- hypothetical
def _pct(move: float) -> str:
    return f"{abs(move) * 100:g}".replace(".", "_")


def gap(
    move: float,
    at_step: int = 60,
    steps: int = 120,
    start_price: float = DEFAULT_START_PRICE,
    start_ms: int = DEFAULT_START_MS,
) -> Scenario:
    """An instant gap of ``move`` (−0.2 = −20 %) at ``at_step``; flat before and after.

    1-minute steps, ``steps + 1`` points; no trading price between the two levels, so no
    liquidation can fill in between.
    """
    if move <= -1 or move == 0:
        raise ValueError("a gap is a non-zero move above −100 %")
    if not 0 < at_step <= steps:
        raise ValueError("0 < at_step <= steps")
    price = np.full(steps + 1, start_price, dtype=np.float64)
    price[at_step:] = start_price * (1.0 + move)
    ts = start_ms + MINUTE_MS * np.arange(steps + 1, dtype=np.int64)
    name = f"gap_{'down' if move < 0 else 'up'}_{_pct(move)}pct"
    description = f"Instant gap of {move:+.1%} at minute {at_step} from {start_price:g} USD; flat before and after"
    return Scenario(name, description, ts, price, "hypothetical shock", kind="hypothetical")


def vol_spike(
    vol_annual: float = 3.0,
    horizon_min: int = 1440,
    seed: int = 0,
    drift_annual: float = 0.0,
    start_price: float = DEFAULT_START_PRICE,
    start_ms: int = DEFAULT_START_MS,
) -> Scenario:
    """Geometric Brownian motion at ``vol_annual`` over ``horizon_min`` 1-minute steps, seeded.

    ``log S(t+dt) − log S(t) = (μ − σ²/2) dt + σ √dt Z`` with ``dt`` = 1/525,600 of a year.
    """
    if vol_annual <= 0 or horizon_min < 1:
        raise ValueError("vol_annual > 0 and horizon_min >= 1")
    name = f"vol_spike_{_pct(vol_annual)}pct_" + (
        f"{horizon_min // 60}h" if horizon_min % 60 == 0 else f"{horizon_min}m"
    )
    dt = 1.0 / MINUTES_PER_YEAR
    z = _rng(seed, name).standard_normal(horizon_min)
    steps = (drift_annual - 0.5 * vol_annual**2) * dt + vol_annual * math.sqrt(dt) * z
    price = start_price * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))
    ts = start_ms + MINUTE_MS * np.arange(horizon_min + 1, dtype=np.int64)
    description = (
        f"Volatility spike: GBM at {vol_annual:.0%} annualized for {horizon_min} min "
        f"(σ over the horizon {vol_annual * math.sqrt(horizon_min * dt):.1%}), drift {drift_annual:.0%}, seed {seed}"
    )
    return Scenario(name, description, ts, price, "hypothetical shock", kind="hypothetical", seed=seed)


def index_outage(base: Scenario, start_step: int, steps: int) -> Scenario:
    """Return ``base`` with the index marked stale for ``steps`` steps from ``start_step``."""
    if not 0 <= start_step < len(base) or steps < 1:
        raise ValueError("the outage must start inside the path and last at least one step")
    stale = base.index_stale.copy()
    stale[start_step : start_step + steps] = True
    end = min(start_step + steps, len(base)) - 1
    description = (
        f"{base.description} Index outage: stale from step {start_step} "
        f"({format_ts(int(base.ts_ms[start_step]))}) to step {end} ({format_ts(int(base.ts_ms[end]))})."
    )
    return Scenario(
        f"{base.name}_index_outage", description, base.ts_ms, base.price, base.source, base.kind, stale, base.seed
    )


# ---------------------------------------------------------------------------- the sets
def builtin_scenarios(seed: int = 0) -> list[Scenario]:
    """The default set, no data needed: the four parametric crashes, a −20 % gap, a vol spike."""
    return [*(crash_scenario(facts, seed) for facts in CRASHES.values()), gap(-0.20), vol_spike(3.0, 1440, seed)]


def _outage_2025(seed: int) -> Scenario:
    # The index freezes at the top of the cascade (20:50 UTC) for 20 minutes while the market falls.
    return index_outage(crash_scenario(CRASHES["crash_2025_10_10"], seed), 1250, 20)


def _crash_factory(facts: CrashFacts) -> Callable[[int], Scenario]:
    return lambda seed: crash_scenario(facts, seed)


_NAMED: dict[str, Callable[[int], Scenario]] = {
    **{name: _crash_factory(facts) for name, facts in CRASHES.items()},
    "gap_down_20pct": lambda seed: gap(-0.20),
    "vol_spike_300pct_24h": lambda seed: vol_spike(3.0, 1440, seed),
    "crash_2025_10_10_index_outage": _outage_2025,
}

_GAP_RE = re.compile(r"gap_(down|up)_(\d+(?:_\d+)?)pct\Z")
_VOL_RE = re.compile(r"vol_spike_(\d+(?:_\d+)?)pct_(\d+)(h|m)\Z")
_HIST_RE = re.compile(r"binance_perp_(\d{4})_(\d{2})_(\d{2})(?:_(lows|highs))?\Z")


def scenario_names(directory: str | Path | None = None) -> list[str]:
    """Names :func:`load_scenario` knows: built-ins, plus the historical windows when present."""
    names = list(_NAMED)
    for history_name in HISTORICAL_NAMES:
        if load_crash_window(_date_of(history_name), directory) is not None:
            names += [history_name, f"{history_name}_lows", f"{history_name}_highs"]
    return names


def _date_of(history_name: str) -> str:
    y, m, d = history_name.removeprefix("binance_perp_").split("_")[:3]
    return f"{y}-{m}-{d}"


def load_scenario(name_or_file: str | Path, directory: str | Path | None = None, seed: int = 0) -> Scenario:
    """Return a scenario by name, or read a CSV/Parquet price file (its close path).

    Names: those of :func:`builtin_scenarios`, ``crash_2025_10_10_index_outage``,
    ``gap_down_<X>pct`` / ``gap_up_<X>pct`` (``20``, ``7_5``), ``vol_spike_<X>pct_<N>h``
    (or ``<N>m``), and, with the data present, ``binance_perp_YYYY_MM_DD`` with optional
    ``_lows`` / ``_highs`` (the wick paths).
    """
    text = str(name_or_file)
    if text in _NAMED:
        return _NAMED[text](seed)
    if m := _GAP_RE.match(text):
        size = float(m.group(2).replace("_", "."))
        return gap(-size / 100 if m.group(1) == "down" else size / 100)
    if m := _VOL_RE.match(text):
        vol = float(m.group(1).replace("_", ".")) / 100
        minutes = int(m.group(2)) * (60 if m.group(3) == "h" else 1)
        return vol_spike(vol, minutes, seed)
    if m := _HIST_RE.match(text):
        date = f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
        if date not in CRASH_WINDOW_FILES:
            raise ValueError(f"no crash window {date}; known: {', '.join(CRASH_WINDOW_FILES)}")
        history = load_crash_window(date, directory)
        if history is None:
            raise ValueError(f"scenario {text!r} needs the shared data directory (../shared/data or $ONSHORE_DATA)")
        suffix = m.group(4)
        wicks: Wicks = "low" if suffix == "lows" else "high" if suffix == "highs" else "close"
        return from_history(history, wicks)
    path = Path(text)
    if path.is_file():
        return from_history(load_history(path), "close", kind="file")
    raise ValueError(f"unknown scenario {text!r} and no such file; names: {', '.join(scenario_names(directory))}")


# ---------------------------------------------------------------------------- reverse stress
def smallest_move(evaluate: Callable[[float], bool], lo: float, hi: float, tol: float) -> float | None:
    """Return the smallest move in ``[lo, hi]`` for which ``evaluate(move)`` is true, to ``tol``.

    Bisection. **Assumes monotonicity**: if ``evaluate(x)`` is true then it is true for
    every larger move (a bigger gap never hurts a layer less). Returns ``lo`` if
    ``evaluate(lo)`` is true and None if ``evaluate(hi)`` is false (no move in range
    suffices); otherwise a move ``x`` with ``evaluate(x)`` true and ``evaluate(x − tol)``
    false under the assumption. A non-monotone ``evaluate`` gives *a* crossing point,
    not necessarily the smallest.

    Runtime complexity: 2 + ceil(log2((hi − lo) / tol)) calls of ``evaluate``.
    """
    if not lo < hi or tol <= 0:
        raise ValueError("lo < hi and tol > 0")
    if not evaluate(hi):
        return None
    if evaluate(lo):
        return lo
    while hi - lo > tol:
        mid = lo + (hi - lo) / 2
        if evaluate(mid):
            hi = mid
        else:
            lo = mid
    return hi
