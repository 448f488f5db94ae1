"""Real price history: loaders for the common layouts, validated, in UTC.

Three layouts are read (:func:`load_history` picks one from the file):

* **Binance klines** (:func:`load_binance_klines`): the CSV of Binance's public archive
  (data.binance.vision), 12 columns and no header: ``open_time, open, high, low, close,
  volume, close_time, quote_volume, count, taker_buy_volume, taker_buy_quote_volume,
  ignore``. ``open_time`` is in milliseconds since the epoch (Binance spot files from 2025
  on use microseconds; the unit is recognised by magnitude). A header row is tolerated,
  because the copies in ``../shared/data`` carry one.
* **OHLCV CSV with a header** (:func:`load_ohlcv_csv`): columns ``open, high, low, close``
  and optionally ``volume``, in any order and any letter case, plus a time column — the
  first of ``timestamp, open_time, time, date, datetime, ts, unix_timestamp`` present.
  Times are ISO-8601 dates or date-times (``2017-08-17``, ``2017-08-17 04:00:00``,
  ``2020-01-01T00:00:00Z``, ``...+02:00``) or epoch numbers (seconds, milliseconds,
  microseconds or nanoseconds, recognised by the magnitude of the first row). A time
  without a zone is UTC; a time with a zone is converted to UTC. A file holding several
  instruments (a ``symbol`` column) must be filtered with ``symbol=``.
* **Parquet** (:func:`load_parquet`): the same columns as the CSV, read with pyarrow (an
  optional dependency: ``pyarrow==26.0.1``). Timestamp and date columns are used as they
  are (a zoned timestamp is UTC inside Parquet); integer and string time columns follow
  the CSV rules.

Every loader validates what it returns and raises :class:`HistoryError` naming the file,
the row (the line number in a CSV, counting the header; the 1-based row in Parquet) and
the field: a missing column, an unreadable number or time, a non-positive or non-finite
price, ``high < max(open, close)``, ``low > min(open, close)``, a timestamp equal to
(duplicate) or earlier than (non-monotonic) the one before it.

The shared data set lives outside the repository, in ``../shared/data`` (or wherever the
``ONSHORE_DATA`` environment variable points); :func:`data_dir` finds it and returns None
when it is absent, so every caller can fall back to built-in scenarios. Nothing is ever
copied into the repository.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

DATA_ENV = "ONSHORE_DATA"
"""Environment variable naming the data directory; default ``<repo>/../shared/data``."""

REPO_ROOT = Path(__file__).resolve().parents[3]

CRASH_WINDOW_FILES: dict[str, str] = {
    "2020-03-13": "crash_windows_1m/binance_um_btcusdt_perp_1m_2020-03-13.csv",
    "2021-05-19": "crash_windows_1m/binance_um_btcusdt_perp_1m_2021-05-19.csv",
    "2022-11-09": "crash_windows_1m/binance_um_btcusdt_perp_1m_2022-11-09.csv",
    "2025-10-10": "crash_windows_1m/binance_um_btcusdt_perp_1m_2025-10-10.csv",
}
"""The four 1-minute Binance USDⓈ-M BTCUSDT perpetual crash windows, by date (UTC)."""

BTC_DAILY_FILE = "spot/bitstamp_coinbase_btcusd_1d.csv"
"""Daily BTC-USD 2011-08-18 → 2025-09-24: Bitstamp until 2015-07-21, then Coinbase."""

BTC_2H_FILE = "spot/bitstamp_btcusd_2h.csv"
"""2-hourly Bitstamp BTC-USD 2011-08-18 → 2025-08-26 (quiet bars forward-filled at source)."""

BINANCE_KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)

TIME_COLUMNS = ("timestamp", "open_time", "time", "date", "datetime", "ts", "unix_timestamp")
"""Names accepted for the time column of a file with a header, in order of preference."""

PRICE_COLUMNS = ("open", "high", "low", "close")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


# ---------------------------------------------------------------------------- errors
class HistoryError(ValueError):
    """A price file that cannot be used, with the file, row and field at fault."""

    def __init__(self, file: str | Path, problem: str, row: int | None = None, field: str | None = None) -> None:
        self.file = str(file)
        self.row = row
        self.field = field
        self.problem = problem
        where = self.file
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")


# ---------------------------------------------------------------------------- the value
@dataclass(frozen=True, eq=False)
class PriceHistory:
    """Validated OHLC bars in UTC: bar start times in ms and float64 prices.

    Arrays are read-only. ``volume`` is kept when the source has it.
    """

    name: str
    ts_ms: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    source: str
    volume: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    @property
    def bar_ms(self) -> int:
        """The most common spacing between bars, in ms (0 for a single bar)."""
        if len(self) < 2:
            return 0
        steps, counts = np.unique(np.diff(self.ts_ms), return_counts=True)
        return int(steps[int(np.argmax(counts))])

    def between(self, start_ms: int | None = None, end_ms: int | None = None) -> PriceHistory:
        """Return the bars with ``start_ms <= ts_ms < end_ms`` (either bound may be None)."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.ts_ms, start_ms, side="left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.ts_ms, end_ms, side="left"))
        part = slice(lo, hi)
        return PriceHistory(
            name=self.name,
            ts_ms=self.ts_ms[part],
            open=self.open[part],
            high=self.high[part],
            low=self.low[part],
            close=self.close[part],
            source=self.source,
            volume=None if self.volume is None else self.volume[part],
        )


# ---------------------------------------------------------------------------- locations
def data_dir() -> Path | None:
    """Return the shared data directory, or None when it is absent.

    ``$ONSHORE_DATA`` if set, else ``<repo>/../shared/data``.
    """
    configured = os.environ.get(DATA_ENV)
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def shared_file(relative: str, directory: str | Path | None = None) -> Path | None:
    """Return ``relative`` inside the data directory if that file exists, else None."""
    base = Path(directory) if directory is not None else data_dir()
    if base is None:
        return None
    path = base / relative
    return path if path.is_file() else None


def load_crash_window(date: str, directory: str | Path | None = None) -> PriceHistory | None:
    """Load one of the four 1-minute perp crash windows (``"2020-03-13"`` …), or None if absent."""
    if date not in CRASH_WINDOW_FILES:
        raise KeyError(f"no crash window for {date!r}; known: {', '.join(CRASH_WINDOW_FILES)}")
    path = shared_file(CRASH_WINDOW_FILES[date], directory)
    if path is None:
        return None
    return load_binance_klines(path, name=f"binance_perp_{date.replace('-', '_')}")


def load_btc_daily(directory: str | Path | None = None) -> PriceHistory | None:
    """Load the daily BTC-USD history (:data:`BTC_DAILY_FILE`), or None if absent."""
    path = shared_file(BTC_DAILY_FILE, directory)
    return None if path is None else load_ohlcv_csv(path, name="btc_usd_1d")


def load_btc_2h(directory: str | Path | None = None) -> PriceHistory | None:
    """Load the 2-hourly BTC-USD history (:data:`BTC_2H_FILE`), or None if absent."""
    path = shared_file(BTC_2H_FILE, directory)
    return None if path is None else load_ohlcv_csv(path, name="btc_usd_2h")


# ---------------------------------------------------------------------------- time
def _epoch_unit(value: float) -> tuple[int, int]:
    """Return ``(multiplier, divisor)`` turning an epoch number into ms, by its magnitude.

    Below 1e11: seconds (1e11 s is the year 5138); below 1e14: milliseconds; below 1e17:
    microseconds; above: nanoseconds.
    """
    a = abs(value)
    if a >= 1e17:
        return 1, 1_000_000
    if a >= 1e14:
        return 1, 1_000
    if a >= 1e11:
        return 1, 1
    return 1_000, 1


class _TimeParser:
    """Parse time cells of one file to UTC ms; the epoch unit is fixed by the first number."""

    def __init__(self, file: str, field: str) -> None:
        self.file = file
        self.field = field
        self.unit: tuple[int, int] | None = None

    def number_to_ms(self, value: float, row: int) -> int:
        if not math.isfinite(value):
            raise HistoryError(self.file, f"not a time: {value!r}", row, self.field)
        if self.unit is None:
            self.unit = _epoch_unit(value)
        mul, div = self.unit
        return round(value * mul / div)

    def int_to_ms(self, value: int, row: int) -> int:
        if self.unit is None:
            self.unit = _epoch_unit(float(value))
        mul, div = self.unit
        return value * mul // div

    def text_to_ms(self, text: str, row: int) -> int:
        cell = text.strip()
        if not cell:
            raise HistoryError(self.file, "empty time", row, self.field)
        if cell[0].isdigit() and "-" not in cell and ":" not in cell:
            try:
                if cell.isdigit():
                    return self.int_to_ms(int(cell), row)
                return self.number_to_ms(float(cell), row)
            except ValueError:
                pass
        try:
            moment = datetime.fromisoformat(cell)
        except ValueError:
            raise HistoryError(self.file, f"not an ISO date/time or epoch number: {cell!r}", row, self.field) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH) // _ONE_MS


def format_ts(ts_ms: int) -> str:
    """Format epoch ms as ISO-8601 UTC (``2020-03-13T02:16:00Z``; a date alone at midnight)."""
    moment = _EPOCH + timedelta(milliseconds=int(ts_ms))
    if moment.hour == moment.minute == moment.second == moment.microsecond == 0:
        return moment.date().isoformat()
    if moment.microsecond:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------- checks
def _price(file: str, text: str, row: int, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise HistoryError(file, f"not a number: {text.strip()!r}", row, field) from None
    return value


def _assemble(
    file: str,
    name: str,
    source: str,
    ts: Sequence[int] | NDArray[np.int64],
    columns: dict[str, Sequence[float] | NDArray[np.float64]],
    rows: Sequence[int] | NDArray[np.int64],
    volume: Sequence[float] | NDArray[np.float64] | None = None,
) -> PriceHistory:
    """Validate the parsed columns and freeze them into a :class:`PriceHistory`."""
    row_of = np.asarray(rows, dtype=np.int64)
    ts_ms = np.asarray(ts, dtype=np.int64)
    if ts_ms.shape[0] == 0:
        raise HistoryError(file, "no price rows")
    prices = {key: np.asarray(columns[key], dtype=np.float64) for key in PRICE_COLUMNS}
    for key in PRICE_COLUMNS:
        bad = ~(np.isfinite(prices[key]) & (prices[key] > 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise HistoryError(file, f"price must be positive and finite, got {prices[key][i]!r}", int(row_of[i]), key)
    o, h, lo, c = prices["open"], prices["high"], prices["low"], prices["close"]
    bad = h < np.maximum(o, c)
    if bad.any():
        i = int(np.argmax(bad))
        raise HistoryError(
            file, f"high {h[i]!r} is below max(open, close) = {max(o[i], c[i])!r}", int(row_of[i]), "high"
        )
    bad = lo > np.minimum(o, c)
    if bad.any():
        i = int(np.argmax(bad))
        raise HistoryError(
            file, f"low {lo[i]!r} is above min(open, close) = {min(o[i], c[i])!r}", int(row_of[i]), "low"
        )
    step = np.diff(ts_ms)
    if (step <= 0).any():
        i = int(np.argmax(step <= 0)) + 1
        what = "duplicate timestamp" if step[i - 1] == 0 else "timestamp goes backwards"
        raise HistoryError(
            file,
            f"{what}: {format_ts(int(ts_ms[i]))} after {format_ts(int(ts_ms[i - 1]))} (row {int(row_of[i - 1])})",
            int(row_of[i]),
            "timestamp",
        )
    arrays = [ts_ms, o, h, lo, c]
    vol = None if volume is None else np.asarray(volume, dtype=np.float64)
    if vol is not None:
        arrays.append(vol)
    for array in arrays:
        array.setflags(write=False)
    return PriceHistory(name=name, ts_ms=ts_ms, open=o, high=h, low=lo, close=c, source=source, volume=vol)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------- Binance
def load_binance_klines(path: str | Path, name: str | None = None) -> PriceHistory:
    """Load a Binance kline CSV (12 columns, ``open_time`` in ms; header row optional).

    Runtime complexity: O(rows).
    """
    file = str(path)
    times = _TimeParser(file, "open_time")
    ts: list[int] = []
    cols: dict[str, list[float]] = {key: [] for key in (*PRICE_COLUMNS, "volume")}
    rows: list[int] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for line_no, record in enumerate(csv.reader(handle), start=1):
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if line_no == 1 and not _is_number(record[0]):
                header = [cell.strip().lower() for cell in record]
                if header[:5] != list(BINANCE_KLINE_COLUMNS[:5]):
                    raise HistoryError(
                        file, f"not a Binance kline header: {', '.join(header[:5])}, … (expected open_time, open, …)", 1
                    )
                continue
            if len(record) != len(BINANCE_KLINE_COLUMNS):
                raise HistoryError(file, f"expected 12 columns (a Binance kline), found {len(record)}", line_no)
            cell = record[0].strip()
            if not cell.isdigit():
                raise HistoryError(file, f"open_time must be an integer epoch time, got {cell!r}", line_no, "open_time")
            ts.append(times.int_to_ms(int(cell), line_no))
            for i, key in enumerate((*PRICE_COLUMNS, "volume"), start=1):
                cols[key].append(_price(file, record[i], line_no, key))
            rows.append(line_no)
    label = name or Path(path).stem
    return _assemble(file, label, f"Binance kline CSV {Path(path).name}", ts, dict(cols), rows, cols["volume"])


# ---------------------------------------------------------------------------- header files
def _resolve_columns(
    file: str, header: Sequence[str], time_column: str | None
) -> tuple[int, dict[str, int], int | None, int | None]:
    """Map a header to (time index, price indices, volume index, symbol index); case-insensitive."""
    lowered = [cell.strip().lower() for cell in header]
    index = {cell: i for i, cell in reversed(list(enumerate(lowered)))}
    wanted_time = (time_column.lower(),) if time_column else TIME_COLUMNS
    time_idx = next((index[c] for c in wanted_time if c in index), None)
    missing = [c for c in PRICE_COLUMNS if c not in index]
    if time_idx is None:
        missing.insert(0, time_column or "timestamp (or one of " + ", ".join(TIME_COLUMNS[1:]) + ")")
    if missing:
        raise HistoryError(file, f"missing column(s): {', '.join(missing)}; header is {', '.join(header)}", 1)
    assert time_idx is not None
    return time_idx, {c: index[c] for c in PRICE_COLUMNS}, index.get("volume"), index.get("symbol")


def _choose_symbol(file: str, values: Sequence[str], symbol: str | None) -> str | None:
    distinct = sorted(set(values))
    if symbol is not None:
        if symbol not in distinct:
            raise HistoryError(
                file, f"no rows for symbol {symbol!r}; the file holds {', '.join(distinct)}", None, "symbol"
            )
        return symbol
    if len(distinct) > 1:
        raise HistoryError(
            file, f"the file holds several symbols ({', '.join(distinct)}): pass symbol=", None, "symbol"
        )
    return None


def load_ohlcv_csv(
    path: str | Path, name: str | None = None, symbol: str | None = None, time_column: str | None = None
) -> PriceHistory:
    """Load an OHLCV CSV with a header row (see the module docstring for the rules).

    ``symbol`` keeps only the rows of that instrument when the file has a ``symbol``
    column; ``time_column`` overrides the choice of the time column.
    Runtime complexity: O(rows).
    """
    file = str(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise HistoryError(file, "empty file")
        if header and _is_number(header[0]):
            raise HistoryError(file, "no header row (for a Binance kline file use load_binance_klines)", 1)
        t_i, p_i, v_i, s_i = _resolve_columns(file, header, time_column)
        records = [
            (line_no, record) for line_no, record in enumerate(reader, start=2) if any(c.strip() for c in record)
        ]
    if s_i is not None:
        keep = _choose_symbol(file, [r[s_i].strip() for _, r in records if len(r) > s_i], symbol)
        if keep is not None:
            records = [(n, r) for n, r in records if len(r) > s_i and r[s_i].strip() == keep]
    elif symbol is not None:
        raise HistoryError(file, f"symbol={symbol!r} given but the file has no symbol column", 1, "symbol")
    times = _TimeParser(file, header[t_i].strip())
    width = max([t_i, v_i if v_i is not None else 0, *p_i.values()]) + 1
    ts: list[int] = []
    cols: dict[str, list[float]] = {key: [] for key in PRICE_COLUMNS}
    vol: list[float] = []
    rows: list[int] = []
    for line_no, record in records:
        if len(record) < width:
            raise HistoryError(file, f"expected at least {width} columns, found {len(record)}", line_no)
        ts.append(times.text_to_ms(record[t_i], line_no))
        for key, i in p_i.items():
            cols[key].append(_price(file, record[i], line_no, key))
        if v_i is not None:
            cell = record[v_i].strip()
            vol.append(_price(file, cell, line_no, "volume") if cell else math.nan)
        rows.append(line_no)
    label = name or Path(path).stem + (f"_{_slug(symbol)}" if symbol else "")
    source = f"OHLCV CSV {Path(path).name}" + (f" ({symbol})" if symbol else "")
    return _assemble(file, label, source, ts, dict(cols), rows, vol if v_i is not None else None)


# ---------------------------------------------------------------------------- Parquet
def load_parquet(
    path: str | Path, name: str | None = None, symbol: str | None = None, time_column: str | None = None
) -> PriceHistory:
    """Load an OHLCV Parquet file with pyarrow (the same columns and rules as the CSV).

    Raises :class:`HistoryError` if pyarrow is not installed.
    """
    file = str(path)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise HistoryError(
            file, "reading Parquet needs pyarrow, which is not installed (pip install pyarrow==26.0.1)"
        ) from None
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise HistoryError(file, f"not a readable Parquet file: {exc}") from None
    header = list(table.column_names)
    t_i, p_i, v_i, s_i = _resolve_columns(file, header, time_column)
    n = table.num_rows
    keep: NDArray[np.bool_] = np.ones(n, dtype=bool)
    if s_i is not None:
        symbols = [str(v) for v in table.column(s_i).to_pylist()]
        chosen = _choose_symbol(file, symbols, symbol)
        if chosen is not None:
            keep = np.array([v == chosen for v in symbols], dtype=bool)
    elif symbol is not None:
        raise HistoryError(file, f"symbol={symbol!r} given but the file has no symbol column", None, "symbol")
    rows = np.arange(1, n + 1, dtype=np.int64)[keep]
    time_name = header[t_i]
    ts = _parquet_times(file, time_name, table.column(t_i), pa)[keep]
    cols: dict[str, NDArray[np.float64]] = {}
    for key, i in p_i.items():
        cols[key] = _parquet_floats(file, key, table.column(i), pa)[keep]
    vol = None if v_i is None else _parquet_floats(file, "volume", table.column(v_i), pa)[keep]
    label = name or Path(path).stem + (f"_{_slug(symbol)}" if symbol else "")
    source = f"Parquet {Path(path).name}" + (f" ({symbol})" if symbol else "")
    return _assemble(file, label, source, ts, dict(cols), rows, vol)


def _parquet_floats(file: str, field: str, column: Any, pa: Any) -> NDArray[np.float64]:
    if column.null_count:
        i = int(np.argmax(np.asarray(column.is_null().to_numpy(zero_copy_only=False))))
        raise HistoryError(file, "missing value", i + 1, field)
    try:
        return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    except pa.ArrowException as exc:
        raise HistoryError(file, f"not numeric ({column.type}): {exc}", None, field) from None


def _parquet_times(file: str, field: str, column: Any, pa: Any) -> NDArray[np.int64]:
    if column.null_count:
        i = int(np.argmax(np.asarray(column.is_null().to_numpy(zero_copy_only=False))))
        raise HistoryError(file, "missing time", i + 1, field)
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        values = column.cast(pa.timestamp("ms", tz=getattr(kind, "tz", None))) if pa.types.is_date(kind) else column
        stamps = np.asarray(values.to_numpy(zero_copy_only=False))
        return stamps.astype("datetime64[ms]").astype(np.int64)
    parser = _TimeParser(file, field)
    out = np.empty(len(column), dtype=np.int64)
    if pa.types.is_integer(kind):
        for i, value in enumerate(column.to_pylist()):
            out[i] = parser.int_to_ms(int(value), i + 1)
    elif pa.types.is_floating(kind):
        for i, value in enumerate(column.to_pylist()):
            out[i] = parser.number_to_ms(float(value), i + 1)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        for i, value in enumerate(column.to_pylist()):
            out[i] = parser.text_to_ms(str(value), i + 1)
    else:
        raise HistoryError(file, f"unsupported time column type {kind}", None, field)
    return out


# ---------------------------------------------------------------------------- dispatch
def load_history(
    path: str | Path, name: str | None = None, symbol: str | None = None, time_column: str | None = None
) -> PriceHistory:
    """Load any supported layout, chosen from the file.

    ``.parquet``/``.pq`` → :func:`load_parquet`; a CSV whose first line is 12 numbers, or
    the Binance kline header, → :func:`load_binance_klines`; any other CSV →
    :func:`load_ohlcv_csv`.
    """
    p = Path(path)
    if not p.is_file():
        raise HistoryError(p, "no such file")
    if p.suffix.lower() in (".parquet", ".pq"):
        return load_parquet(p, name, symbol, time_column)
    with open(p, newline="", encoding="utf-8-sig") as handle:
        first = next(csv.reader(handle), [])
    cells = [c.strip() for c in first]
    kline_header = [c.lower() for c in cells] == list(BINANCE_KLINE_COLUMNS)
    if len(cells) == len(BINANCE_KLINE_COLUMNS) and (kline_header or all(_is_number(c) for c in cells)):
        if symbol is not None:
            raise HistoryError(p, "a Binance kline file holds one symbol; symbol= does not apply", None, "symbol")
        return load_binance_klines(p, name)
    return load_ohlcv_csv(p, name, symbol, time_column)
