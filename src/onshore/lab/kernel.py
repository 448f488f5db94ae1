"""Many scenarios at once: one shock per scenario over every account, fused and compiled.

For sweeps over thousands of instantaneous shocks (reverse stress, the margin study), the
per-account work is the same rule as everywhere — mark to market, the tier maintenance
requirement in exact int64 arithmetic (:func:`onshore.lab.engine.maintenance_vec`), the
shortfall of each account below maintenance, and its attribution. Because an account's
excess over maintenance is monotone in the price, the maintenance check reduces to one
exact threshold price per account, found once by binary search on that same
requirement; each scenario is then one comparison per account. :func:`shock_losses`
compiles that with numba (parallel over scenarios); :class:`ShockBook` sorts the thresholds
so a scenario costs O(log n); :func:`shock_losses_numpy` is the plain numpy reference the
benchmark and the tests compare against.

With ``depth_lots_per_tick`` > 0 the cascade is on: the liquidated net lots move the price
along a linear depth curve, and the accounts are checked again, until the price is a fixed
point ``P = shock − ⌊net lots liquidated at P / depth⌋``; every liquidated account is then
valued at that price, as if the liquidation orders cleared together. (The engine, which
liquidates one account at a time through a book, is the detailed model; this is its
many-scenario approximation.)
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from onshore.clearing.margin import Tiers

_E9 = 1_000_000_000


def ensure_exact_range(tiers: Tiers, notional_micros: int) -> None:
    """Refuse notionals the int64 maintenance arithmetic cannot hold exactly (about $37bn at a 25 % rate)."""
    limit = (2**63 - 1) // max(tiers.mm_rate) * 1_000_000
    if notional_micros >= limit:
        raise ValueError(f"a notional of {notional_micros} micro-dollars is beyond the exact int64 range ({limit})")


def tier_arrays(tiers: Tiers) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The maintenance tiers as int64 arrays: caps (all but the last), rates, deduction ÷ 10⁹ and its remainder."""
    caps = np.array(tiers.caps[:-1], dtype=np.int64)
    rate = np.array(tiers.mm_rate, dtype=np.int64)
    ded_q = np.array([d // _E9 for d in tiers.mm_deduction], dtype=np.int64)
    ded_r = np.array([d % _E9 for d in tiers.mm_deduction], dtype=np.int64)
    return caps, rate, ded_q, ded_r


@njit(cache=True, inline="always")
def _maintenance(n: int, caps: np.ndarray, rate: np.ndarray, ded_q: np.ndarray, ded_r: np.ndarray) -> int:
    if n <= 0:
        return 0
    i = 0
    while i < caps.shape[0] and n >= caps[i]:
        i += 1
    r = rate[i]
    a = n // 1_000_000
    b = n - a * 1_000_000
    q1 = (a * r) // 1000
    r1 = a * r - q1 * 1000
    x = r1 * 1_000_000 + b * r - ded_r[i]
    mm: int = (q1 - ded_q[i]) - ((-x) // _E9)
    return mm


@njit(cache=True, parallel=True)
def _thresholds(
    qty: np.ndarray,
    cost: np.ndarray,
    cash: np.ndarray,
    k: int,
    caps: np.ndarray,
    rate: np.ndarray,
    ded_q: np.ndarray,
    ded_r: np.ndarray,
    top: int,
) -> np.ndarray:
    """Each account's exact liquidation threshold in ticks.

    A long is below maintenance at every price ≤ its threshold, a short at every price ≥
    it: the excess ``cash − cost + q·P·K − MM(|q|·P·K)`` is monotone in ``P`` (its slope is
    ``q·K·(1 − marginal rate)``). Binary search on the exact requirement. A flat account
    gets -1.
    """
    n = qty.shape[0]
    out = np.full(n, -1, np.int64)
    for i in prange(n):
        q = qty[i]
        if q == 0:
            continue
        aq = q if q > 0 else -q
        lo = 0
        hi = top
        if q > 0:  # largest P with excess < 0 (0 if none)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if cash[i] + q * mid * k - cost[i] < _maintenance(aq * mid * k, caps, rate, ded_q, ded_r):
                    lo = mid
                else:
                    hi = mid - 1
            out[i] = lo
        else:  # smallest P with excess < 0 (top + 1 if none)
            hi = top + 1
            lo = 1
            while lo < hi:
                mid = (lo + hi) // 2
                if cash[i] + q * mid * k - cost[i] < _maintenance(aq * mid * k, caps, rate, ded_q, ded_r):
                    hi = mid
                else:
                    lo = mid + 1
            out[i] = lo
    return out


@njit(cache=True, inline="always")
def _liquidated(q: int, t: int, price: int) -> bool:
    return (q > 0 and price <= t) or (q < 0 and price >= t)


@njit(cache=True, parallel=True)
def _shock_kernel(
    qty: np.ndarray,
    cost: np.ndarray,
    cash: np.ndarray,
    member: np.ndarray,
    threshold: np.ndarray,
    prices: np.ndarray,
    k: int,
    n_members: int,
    depth: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    s_count = prices.shape[0]
    n = qty.shape[0]
    liquidated = np.zeros(s_count, np.int64)
    trader = np.zeros(s_count, np.int64)
    shortfall = np.zeros((s_count, n_members), np.int64)
    final_price = np.zeros(s_count, np.int64)
    rounds = np.zeros(s_count, np.int64)
    for s in prange(s_count):
        shock = prices[s]
        price = shock
        r = 1
        while depth > 0 and r < 1000:  # the cascade: P = shock − ⌊net lots liquidated at P / depth⌋
            lots = 0
            for i in range(n):
                if _liquidated(qty[i], threshold[i], price):
                    lots += qty[i]
            moved = shock - lots // depth
            if moved < 1:
                moved = 1
            if moved == price:
                break
            price = moved
            r += 1
        for i in range(n):
            q = qty[i]
            if q != 0 and _liquidated(q, threshold[i], price):
                equity = cash[i] + q * price * k - cost[i]
                liquidated[s] += 1
                trader[s] += cash[i] if equity < 0 else cash[i] - equity
                if equity < 0:
                    shortfall[s, member[i]] += -equity
        final_price[s] = price
        rounds[s] = r
    return liquidated, trader, shortfall, final_price, rounds


def shock_losses(
    qty: np.ndarray,
    cost: np.ndarray,
    cash: np.ndarray,
    member: np.ndarray,
    prices: np.ndarray,
    tiers: Tiers,
    n_members: int,
    depth_lots_per_tick: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per scenario price: accounts liquidated, collateral the traders lost, shortfall by member, final price, rounds.

    The shortfall is each liquidated account's negative equity at the (moved) price: what
    its member must cover first under US clearing, or the insurance fund offshore.
    """
    caps, rate, ded_q, ded_r = tier_arrays(tiers)
    qty64, cost64, cash64 = qty.astype(np.int64), cost.astype(np.int64), cash.astype(np.int64)
    top = int(max(int(prices.max()), 1)) * 4
    ensure_exact_range(tiers, int(np.abs(qty64).max(initial=0)) * top * tiers.k)
    threshold = _thresholds(qty64, cost64, cash64, tiers.k, caps, rate, ded_q, ded_r, top)
    return _shock_kernel(
        qty64, cost64, cash64, member.astype(np.int64), threshold, prices.astype(np.int64), tiers.k, n_members,
        depth_lots_per_tick,
    )  # fmt: skip


def shock_losses_numpy(
    qty: np.ndarray,
    cost: np.ndarray,
    cash: np.ndarray,
    member: np.ndarray,
    prices: np.ndarray,
    tiers: Tiers,
    n_members: int,
    chunk: int = 16,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same without the cascade, in plain numpy (scenarios in chunks to bound memory)."""
    from onshore.lab.engine import maintenance_vec

    s_count = prices.shape[0]
    liquidated = np.zeros(s_count, np.int64)
    trader = np.zeros(s_count, np.int64)
    shortfall = np.zeros((s_count, n_members), np.int64)
    k = tiers.k
    absq = np.abs(qty)
    for start in range(0, s_count, chunk):
        p = prices[start : start + chunk, None]
        equity = cash[None, :] + qty[None, :] * p * k - cost[None, :]
        mm = maintenance_vec(tiers, (absq[None, :] * p * k).ravel()).reshape(equity.shape)
        below = (qty[None, :] != 0) & (equity < mm)
        liquidated[start : start + chunk] = below.sum(axis=1)
        trader[start : start + chunk] = np.where(
            below, np.where(equity < 0, cash[None, :], cash[None, :] - equity), 0
        ).sum(1)
        deficit = np.where(below & (equity < 0), -equity, 0)
        for m in range(n_members):
            shortfall[start : start + chunk, m] = deficit[:, member == m].sum(axis=1)
    return liquidated, trader, shortfall


def attribute_us_clearing(
    shortfall: np.ndarray, member_capital: np.ndarray, member_fund: np.ndarray, dco_capital: int
) -> dict[str, np.ndarray]:
    """The US-clearing waterfall on each scenario's shortfalls by member (vectorized over scenarios).

    Each member's capital first, then its own default-fund contribution, then the
    clearing house's capital, then the surviving members' funds (what is left of them),
    the rest unallocated here (assessments and haircuts need the engine).
    """
    own = np.minimum(shortfall, member_capital[None, :])
    left = shortfall - own
    fund = np.minimum(left, member_fund[None, :])
    left = left - fund
    total_left = left.sum(axis=1)
    dco = np.minimum(total_left, dco_capital)
    total_left = total_left - dco
    survivors = shortfall <= member_capital[None, :]  # a member whose capital covered its customers
    spare_funds = np.where(survivors, member_fund[None, :], 0).sum(axis=1)
    mutual = np.minimum(total_left, spare_funds)
    return {
        "member_capital": own.sum(axis=1),
        "member_default_fund": fund.sum(axis=1),
        "clearing_house_capital": dco,
        "mutualised_default_fund": mutual,
        "beyond": total_left - mutual,
    }


def attribute_offshore(shortfall: np.ndarray, insurance_fund: int) -> dict[str, np.ndarray]:
    """Offshore: the insurance fund first, auto-deleveraging of the winners for the rest."""
    total = shortfall.sum(axis=1)
    fund = np.minimum(total, insurance_fund)
    return {"insurance_fund": fund, "adl": total - fund}


class ShockBook:
    """Every account's thresholds, sorted once, so that one shock costs O(log n) (:func:`shock_sorted`).

    Longs are liquidated at every price ≤ their threshold and bankrupt (negative equity) at
    every price ≤ their bankruptcy bound; shorts at every price ≥ theirs. Bankrupt implies
    liquidated. Sorting the two bounds and keeping prefix sums of cash, ``cash − cost`` and
    ``qty`` turns a scenario's counts, the traders' lost collateral and the shortfall by
    member into a few binary searches — exactly the per-account computation, reordered.
    """

    def __init__(
        self,
        qty: np.ndarray,
        cost: np.ndarray,
        cash: np.ndarray,
        member: np.ndarray,
        tiers: Tiers,
        top: int,
        members: int | None = None,
    ) -> None:
        caps, rate, ded_q, ded_r = tier_arrays(tiers)
        q = qty.astype(np.int64)
        ensure_exact_range(tiers, int(np.abs(q).max(initial=0)) * top * tiers.k)
        self.k = tiers.k
        self.top = top
        self.members = members if members is not None else (int(member.max()) + 1 if len(member) else 0)
        threshold = _thresholds(q, cost.astype(np.int64), cash.astype(np.int64), tiers.k, caps, rate, ded_q, ded_r, top)
        a = cash.astype(np.int64) - cost.astype(np.int64)  # equity = a + q·P·K
        self.sides = []
        for sign in (1, -1):
            idx = np.nonzero(q * sign > 0)[0]
            qs, as_, cs, ms = q[idx], a[idx], cash.astype(np.int64)[idx], member[idx]
            mag = np.abs(qs) * tiers.k
            if sign > 0:  # bankrupt iff P ≤ u = ⌊(−a − 1)/(q·K)⌋
                bound = (-as_ - 1) // mag
                t_key, b_key = -threshold[idx], -bound  # ascending keys: most exposed first
            else:  # bankrupt iff P ≥ v = ⌊a/(|q|·K)⌋ + 1
                bound = as_ // mag + 1
                t_key, b_key = threshold[idx], bound
            t_order = np.argsort(t_key, kind="stable")
            b_order = np.argsort(b_key, kind="stable")
            side = {
                "t_key": t_key[t_order],
                "b_key": b_key[b_order],
                "t_cash": np.concatenate([[0], np.cumsum(cs[t_order])]),
                "t_a": np.concatenate([[0], np.cumsum(as_[t_order])]),
                "t_q": np.concatenate([[0], np.cumsum(qs[t_order])]),
                "b_a": np.concatenate([[0], np.cumsum(as_[b_order])]),
                "b_q": np.concatenate([[0], np.cumsum(qs[b_order])]),
                "b_member_a": [
                    np.concatenate([[0], np.cumsum(np.where(ms[b_order] == m, as_[b_order], 0))])
                    for m in range(self.members)
                ],
                "b_member_q": [
                    np.concatenate([[0], np.cumsum(np.where(ms[b_order] == m, qs[b_order], 0))])
                    for m in range(self.members)
                ],
                "sign": sign,
            }
            self.sides.append(side)

    def shock(self, price: int) -> tuple[int, int, list[int], int]:
        """At ``price``: (accounts liquidated, collateral the traders lost, shortfall by member, lots liquidated).

        Exact for prices up to ``top`` (the thresholds were searched there); beyond it, as the
        compiled scan computes from the same thresholds.
        """
        liquidated = trader = lots = 0
        shortfall = [0] * self.members
        pk = price * self.k
        for side in self.sides:
            key = -price if side["sign"] > 0 else price
            n_liq = int(np.searchsorted(side["t_key"], key, side="right"))
            n_bk = int(np.searchsorted(side["b_key"], key, side="right"))
            liquidated += n_liq
            lots += int(side["t_q"][n_liq])
            liq_equity = int(side["t_a"][n_liq]) + pk * int(side["t_q"][n_liq])
            bk_equity = int(side["b_a"][n_bk]) + pk * int(side["b_q"][n_bk])
            trader += int(side["t_cash"][n_liq]) - (liq_equity - bk_equity)
            for m in range(self.members):
                shortfall[m] -= int(side["b_member_a"][m][n_bk]) + pk * int(side["b_member_q"][m][n_bk])
        return liquidated, trader, shortfall, lots


def shock_sorted(
    book: ShockBook, prices: np.ndarray, depth_lots_per_tick: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`shock_losses` on a :class:`ShockBook`: the same numbers, O(log n) per scenario and round."""
    s_count = len(prices)
    liquidated = np.zeros(s_count, np.int64)
    trader = np.zeros(s_count, np.int64)
    shortfall = np.zeros((s_count, book.members), np.int64)
    final = np.zeros(s_count, np.int64)
    rounds = np.zeros(s_count, np.int64)
    for s, p in enumerate(prices.tolist()):
        shock = price = int(p)
        result = book.shock(price)
        r = 1
        while depth_lots_per_tick > 0 and r < 1000:
            moved = max(1, shock - result[3] // depth_lots_per_tick)
            if moved == price:
                break
            price = moved
            result = book.shock(price)
            r += 1
        liquidated[s], trader[s] = result[0], result[1]
        shortfall[s, :] = result[2]
        final[s] = price
        rounds[s] = r
    return liquidated, trader, shortfall, final, rounds
