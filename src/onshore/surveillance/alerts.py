"""Alerts: what a surveillance analyst reviews, with the events that show it.

An alert names its ``kind``, a ``severity`` (``low``, ``medium``, ``high``), the beneficial
``owner`` and ``market`` (either may be None: an index alert names a quote source), the
UTC ``date``, the ``evidence`` as inclusive ranges of event sequence numbers, a sentence
and the measured ``figures`` (decimal strings). Alerts sort deterministically.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

WASH_TRADING: Final = "wash_trading"
SPOOFING: Final = "spoofing"
FUNDING_MANIPULATION: Final = "funding_manipulation"
INDEX_MANIPULATION: Final = "index_manipulation"
CONCENTRATION: Final = "concentration"
CANCEL_RATIO: Final = "cancel_ratio"
ACCOUNTABILITY_LEVEL: Final = "accountability_level"

KINDS: Final = (
    ACCOUNTABILITY_LEVEL,
    CANCEL_RATIO,
    CONCENTRATION,
    FUNDING_MANIPULATION,
    INDEX_MANIPULATION,
    SPOOFING,
    WASH_TRADING,
)

LOW: Final = "low"
MEDIUM: Final = "medium"
HIGH: Final = "high"

Range = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Alert:
    """One finding for review."""

    kind: str
    severity: str
    date: str
    owner: str | None
    market: str | None
    evidence: tuple[Range, ...]
    detail: str
    figures: dict[str, str] = field(default_factory=dict, compare=False)

    def sort_key(self) -> tuple[str, str, str, str, int]:
        """Date, kind, market, owner, first evidence sequence number."""
        first = self.evidence[0][0] if self.evidence else 0
        return (self.date, self.kind, self.market or "", self.owner or "", first)

    def as_row(self) -> dict[str, Any]:
        """The alert as a report row (evidence as ``[[first, last], …]``)."""
        return {
            "date": self.date,
            "kind": self.kind,
            "severity": self.severity,
            "owner": self.owner,
            "market": self.market,
            "evidence": [list(r) for r in self.evidence],
            "detail": self.detail,
            "figures": dict(sorted(self.figures.items())),
        }


def seq_ranges(seqs: Iterable[int], limit: int | None = None) -> tuple[Range, ...]:
    """Merge sequence numbers into sorted inclusive ranges: ``[3, 4, 5, 9] -> ((3, 5), (9, 9))``.

    Keeps the first ``limit`` ranges when given. Runtime complexity: O(n log n).
    """
    out: list[Range] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return tuple(out if limit is None else out[:limit])


def merge_ranges(ranges: Iterable[Range], limit: int | None = None) -> tuple[Range, ...]:
    """Merge inclusive ranges that overlap or touch; sorted; the first ``limit`` kept when given."""
    out: list[Range] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return tuple(out if limit is None else out[:limit])


def format_evidence(evidence: Iterable[Range]) -> str:
    """Ranges as text: ``"3-5;9"``."""
    return ";".join(str(a) if a == b else f"{a}-{b}" for a, b in evidence)
