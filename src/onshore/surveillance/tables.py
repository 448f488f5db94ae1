"""The reports as tables: fixed columns with types, written as CSV, JSON Lines or Parquet.

Amounts, prices, quantities, rates and shares are decimal strings in every format (exact,
as everywhere in Onshore); counts are integers; dates are ``YYYY-MM-DD`` (a ``date32``
column in Parquet). An alert's ``evidence`` is a list of ``[first, last]`` event sequence
ranges (``"3-5;9"`` in CSV, a list of structs in Parquet) and its ``figures`` a map of
decimal strings (a JSON object in CSV, a list of key/value structs in Parquet).

Rows are written in the order given; the engine sorts them deterministically. Parquet
needs pyarrow (imported only when asked for).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import IO, Any, Final

from onshore.surveillance.alerts import Alert, format_evidence

Column = tuple[str, str]
"""``(name, kind)``; kind is ``date``, ``str`` (text or decimal string), ``int``, ``evidence`` or ``figures``."""

LARGE_TRADERS: Final[tuple[Column, ...]] = (
    ("date", "date"),
    ("market", "str"),
    ("owner", "str"),
    ("reporting_member", "str"),
    ("accounts", "str"),
    ("long_oi", "str"),
    ("short_oi", "str"),
    ("volume", "str"),
    ("owner_long_oi", "str"),
    ("owner_short_oi", "str"),
    ("owner_volume", "str"),
    ("reportable_level", "str"),
)

MARKET: Final[tuple[Column, ...]] = (
    ("date", "date"),
    ("market", "str"),
    ("trades", "int"),
    ("volume", "str"),
    ("notional_volume", "str"),
    ("open_interest", "str"),
    ("open", "str"),
    ("high", "str"),
    ("low", "str"),
    ("close", "str"),
    ("settlement_price", "str"),
    ("settlement_source", "str"),
    ("funding_count", "int"),
    ("funding_rate_sum", "str"),
    ("funding_paid", "str"),
    ("liquidations", "int"),
    ("liquidation_qty", "str"),
    ("liquidation_notional", "str"),
    ("adl_events", "int"),
    ("adl_qty", "str"),
    ("insurance_fund", "str"),
    ("default_fund", "str"),
    ("balances_source", "str"),
    ("top4_long_share", "str"),
    ("top4_short_share", "str"),
    ("top8_long_share", "str"),
    ("top8_short_share", "str"),
    ("realized_vol", "str"),
    ("realized_vol_annualized", "str"),
    ("vol_returns", "int"),
)

POSITIONS: Final[tuple[Column, ...]] = (
    ("date", "date"),
    ("owner", "str"),
    ("market", "str"),
    ("accounts", "str"),
    ("members", "str"),
    ("long_oi", "str"),
    ("short_oi", "str"),
    ("net", "str"),
    ("volume", "str"),
)

ALERTS: Final[tuple[Column, ...]] = (
    ("date", "date"),
    ("kind", "str"),
    ("severity", "str"),
    ("owner", "str"),
    ("market", "str"),
    ("evidence", "evidence"),
    ("detail", "str"),
    ("figures", "figures"),
)

OWNERS: Final[tuple[Column, ...]] = (
    ("owner", "str"),
    ("accounts", "str"),
    ("members", "str"),
    ("segments", "str"),
)

FORMATS: Final = ("csv", "json", "parquet")


def alert_rows(alerts: Iterable[Alert]) -> list[dict[str, Any]]:
    """Alerts as rows of :data:`ALERTS`."""
    return [a.as_row() for a in alerts]


def filter_date(rows: Iterable[dict[str, Any]], day: str | None) -> list[dict[str, Any]]:
    """The rows of one date (all when ``day`` is None)."""
    return [r for r in rows if day is None or r.get("date") == day]


# ----------------------------------------------------------------------------- text formats
def _text_cell(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "evidence":
        return format_evidence(tuple(r) for r in value)
    if kind == "figures":
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def write_csv(rows: Sequence[dict[str, Any]], columns: Sequence[Column], out: IO[str]) -> None:
    """Write a header and one line per row (RFC 4180 quoting, ``\\n`` line ends)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in columns])
    for row in rows:
        writer.writerow([_text_cell(kind, row.get(name)) for name, kind in columns])


def write_json_lines(rows: Sequence[dict[str, Any]], columns: Sequence[Column], out: IO[str]) -> None:
    """Write one JSON object per line, keys in column order."""
    for row in rows:
        record = {name: row.get(name) for name, _ in columns}
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def to_text(rows: Sequence[dict[str, Any]], columns: Sequence[Column], fmt: str) -> str:
    """The rows as CSV or JSON Lines text."""
    buffer = io.StringIO()
    if fmt == "csv":
        write_csv(rows, columns, buffer)
    elif fmt == "json":
        write_json_lines(rows, columns, buffer)
    else:
        raise ValueError(f"not a text format: {fmt!r}")
    return buffer.getvalue()


# ----------------------------------------------------------------------------- parquet
def write_parquet(rows: Sequence[dict[str, Any]], columns: Sequence[Column], path: Path) -> None:
    """Write a Parquet file with a fixed schema (deterministic for a given pyarrow version)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    evidence_type = pa.list_(pa.struct([("first", pa.int64()), ("last", pa.int64())]))
    figures_type = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
    types = {"date": pa.date32(), "str": pa.string(), "int": pa.int64(), "evidence": evidence_type}
    types["figures"] = figures_type
    fields = [pa.field(name, types[kind]) for name, kind in columns]
    data: dict[str, list[Any]] = {name: [] for name, _ in columns}
    for row in rows:
        for name, kind in columns:
            value = row.get(name)
            if value is None:
                data[name].append(None)
            elif kind == "date":
                data[name].append(date.fromisoformat(value))
            elif kind == "evidence":
                data[name].append([{"first": a, "last": b} for a, b in value])
            elif kind == "figures":
                data[name].append([{"key": k, "value": v} for k, v in sorted(value.items())])
            else:
                data[name].append(value)
    table = pa.table({name: pa.array(data[name], type=f.type) for (name, _), f in zip(columns, fields, strict=True)})
    table = table.cast(pa.schema(fields))
    pq.write_table(table, str(path), compression="zstd")


def read_parquet(path: Path) -> list[dict[str, Any]]:
    """Read a Parquet report back as rows (dates as ``YYYY-MM-DD``; for tests and tools)."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = pq.read_table(str(path)).to_pylist()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, date):
                row[key] = value.isoformat()
    return rows
