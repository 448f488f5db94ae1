"""Price history loaders (onshore.lab.data): layouts, UTC, validation errors, the real files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from onshore.lab.data import (
    BTC_DAILY_FILE,
    CRASH_WINDOW_FILES,
    HistoryError,
    data_dir,
    format_ts,
    load_binance_klines,
    load_btc_2h,
    load_btc_daily,
    load_crash_window,
    load_history,
    load_ohlcv_csv,
    load_parquet,
)

from .helpers import needs_data, shared, write

T0 = 1_584_057_600_000  # 2020-03-13T00:00:00Z
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)
KLINES = (
    f"{T0},4762.28,4877.27,4722.00,4875.01,1656.730,{T0 + 59_999},7976226.47,2604,1105.662,5330593.39,0",
    f"{T0 + 60_000},4874.80,4943.11,4852.85,4868.85,3088.646,{T0 + 119_999},15131018.53,3699,2100.275,10295825.65,0",
    f"{T0 + 120_000},4868.00,4870.00,4800.10,4810.55,1000.000,{T0 + 179_999},4830000.00,1000,500.000,2415000.00,0",
)

try:
    import pyarrow  # noqa: F401

    HAVE_PYARROW = True
except ImportError:
    HAVE_PYARROW = False

needs_pyarrow = pytest.mark.skipif(
    not HAVE_PYARROW, reason="pyarrow is not installed (pin pyarrow==26.0.1 in the dev extra to run Parquet tests)"
)


# ---------------------------------------------------------------- Binance klines
def test_a_binance_kline_file_without_header_loads_in_utc_ms(tmp_path: Path) -> None:
    history = load_binance_klines(write(tmp_path / "BTCUSDT-1m.csv", *KLINES))
    assert len(history) == 3
    assert history.ts_ms.dtype == np.int64 and history.close.dtype == np.float64
    assert list(history.ts_ms) == [T0, T0 + 60_000, T0 + 120_000]
    assert format_ts(int(history.ts_ms[0])) == "2020-03-13"
    assert format_ts(int(history.ts_ms[1])) == "2020-03-13T00:01:00Z"
    assert list(history.close) == [4875.01, 4868.85, 4810.55]
    assert history.low[2] == 4800.10 and history.high[1] == 4943.11
    assert history.volume is not None and history.volume[0] == 1656.730
    assert history.bar_ms == 60_000
    assert history.name == "BTCUSDT-1m"


def test_the_kline_header_row_of_the_shared_copies_is_tolerated(tmp_path: Path) -> None:
    with_header = load_binance_klines(write(tmp_path / "a.csv", KLINE_HEADER, *KLINES))
    without = load_binance_klines(write(tmp_path / "b.csv", *KLINES))
    assert np.array_equal(with_header.ts_ms, without.ts_ms)
    assert np.array_equal(with_header.close, without.close)


def test_binance_microsecond_open_times_are_recognised_by_magnitude(tmp_path: Path) -> None:
    micro = [line.replace(str(T0), str(T0 * 1000), 1) for line in KLINES[:1]]
    assert load_binance_klines(write(tmp_path / "spot2025.csv", *micro)).ts_ms[0] == T0


def test_arrays_are_read_only(tmp_path: Path) -> None:
    history = load_binance_klines(write(tmp_path / "k.csv", *KLINES))
    with pytest.raises(ValueError):
        history.close[0] = 1.0


# ---------------------------------------------------------------- OHLCV with a header
@pytest.mark.parametrize(
    ("first_time", "second_time", "expected_ms"),
    [
        ("2017-08-17", "2017-08-18", 1_502_928_000_000),
        ("2017-08-17 04:00:00", "2017-08-17 06:00:00", 1_502_942_400_000),
        ("2019-09-10 08:00:00.005", "2019-09-10 16:00:00.002", 1_568_102_400_005),
        ("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z", 1_577_836_800_000),
        ("2020-01-01T02:00:00+02:00", "2020-01-02T02:00:00+02:00", 1_577_836_800_000),
        ("1577836800", "1577923200", 1_577_836_800_000),
        ("1577836800000", "1577923200000", 1_577_836_800_000),
        ("1577836800.5", "1577923200.5", 1_577_836_800_500),
    ],
    ids=["iso-date", "iso-datetime", "iso-ms", "zulu", "offset-converted", "epoch-s", "epoch-ms", "epoch-s-frac"],
)
def test_ohlcv_times_are_read_as_utc_ms(tmp_path: Path, first_time: str, second_time: str, expected_ms: int) -> None:
    path = write(
        tmp_path / "bars.csv",
        "timestamp,open,high,low,close,volume",
        f"{first_time},100,110,90,105,1.5",
        f"{second_time},105,106,100,101,2",
    )
    history = load_ohlcv_csv(path)
    assert history.ts_ms[0] == expected_ms
    assert list(history.close) == [105.0, 101.0]


def test_columns_are_found_by_name_in_any_order_and_case(tmp_path: Path) -> None:
    # the layout of spot/bitstamp_coinbase_btcusd_1d.csv: timestamp, open, close, volume, unix_timestamp, high, low
    path = write(
        tmp_path / "odd.csv",
        "Timestamp,OPEN,Close,Volume,unix_timestamp,High,LOW",
        "2011-08-18 00:00:00,10.9,10.9,0.49,1313625600,10.9,10.9",
        "2011-08-19 00:00:00,10.9,11.69,1.93,1313712000,11.85,10.9",
    )
    history = load_ohlcv_csv(path)
    assert list(history.high) == [10.9, 11.85]
    assert list(history.close) == [10.9, 11.69]
    assert history.ts_ms[1] == 1_313_712_000_000


def test_volume_is_optional(tmp_path: Path) -> None:
    history = load_ohlcv_csv(write(tmp_path / "nv.csv", "date,open,high,low,close", "2024-01-01,1,2,0.5,1.5"))
    assert history.volume is None and len(history) == 1


def test_a_file_of_several_symbols_needs_a_symbol_and_is_filtered_by_it(tmp_path: Path) -> None:
    path = write(
        tmp_path / "multi.csv",
        "date,symbol,base,open,high,low,close,volume",
        "2020-01-01,BTC/USD,BTC,7165.72,7238.14,7136.05,7174.33,3350.6",
        "2020-01-01,ETH/USD,ETH,128.54,132.68,128.12,130.19,57512.4",
        "2020-01-02,BTC/USD,BTC,7174.33,7179.95,6924.52,6955.49,6874.4",
        "2020-01-02,ETH/USD,ETH,130.19,130.4,126.12,127.0,77323.0",
    )
    with pytest.raises(HistoryError, match=r"several symbols \(BTC/USD, ETH/USD\): pass symbol="):
        load_ohlcv_csv(path)
    btc = load_history(path, symbol="BTC/USD")
    assert list(btc.close) == [7174.33, 6955.49]
    assert btc.name == "multi_btc_usd"
    with pytest.raises(HistoryError, match="no rows for symbol 'SOL/USD'"):
        load_ohlcv_csv(path, symbol="SOL/USD")


def test_load_history_picks_the_layout_from_the_file(tmp_path: Path) -> None:
    klines = load_history(write(tmp_path / "k.csv", *KLINES))
    klines_with_header = load_history(write(tmp_path / "kh.csv", KLINE_HEADER, *KLINES))
    generic = load_history(write(tmp_path / "g.csv", "time,open,high,low,close", f"{T0},1,2,0.5,1.5"))
    assert klines.source.startswith("Binance kline CSV") and klines_with_header.source.startswith("Binance")
    assert generic.source.startswith("OHLCV CSV") and generic.ts_ms[0] == T0
    with pytest.raises(HistoryError, match="no such file"):
        load_history(tmp_path / "absent.csv")


# ---------------------------------------------------------------- validation errors
GOOD_ROW_1 = "2024-01-01,100,110,90,105"
ERROR_CASES = [
    # (rows after the header, row, field, message fragment)
    ((GOOD_ROW_1, "2024-01-03,105,106,100,101", "2024-01-02,101,102,99,100"), 4, "timestamp", "goes backwards"),
    ((GOOD_ROW_1, "2024-01-01,105,106,100,101"), 3, "timestamp", "duplicate timestamp"),
    ((GOOD_ROW_1, "2024-01-02,105,104,100,101"), 3, "high", "below max(open, close)"),
    ((GOOD_ROW_1, "2024-01-02,105,106,102,101"), 3, "low", "above min(open, close)"),
    ((GOOD_ROW_1, "2024-01-02,105,106,0,101"), 3, "low", "positive and finite"),
    ((GOOD_ROW_1, "2024-01-02,105,106,100,-1"), 3, "close", "positive and finite"),
    ((GOOD_ROW_1, "2024-01-02,nan,106,100,101"), 3, "open", "positive and finite"),
    ((GOOD_ROW_1, "2024-01-02,105,inf,100,101"), 3, "high", "positive and finite"),
    ((GOOD_ROW_1, "2024-01-02,1O5,106,100,101"), 3, "open", "not a number: '1O5'"),
    ((GOOD_ROW_1, "yesterday,105,106,100,101"), 3, "timestamp", "not an ISO date/time"),
    ((GOOD_ROW_1, ",105,106,100,101"), 3, "timestamp", "empty time"),
    ((GOOD_ROW_1, "2024-01-02,105,106"), 3, None, "expected at least 5 columns"),
]


@pytest.mark.parametrize(("rows", "row", "field", "fragment"), ERROR_CASES)
def test_each_bad_row_is_named_with_file_row_and_field(
    tmp_path: Path, rows: tuple[str, ...], row: int, field: str | None, fragment: str
) -> None:
    path = write(tmp_path / "bad.csv", "timestamp,open,high,low,close", *rows)
    with pytest.raises(HistoryError) as caught:
        load_ohlcv_csv(path)
    error = caught.value
    assert (error.file, error.row, error.field) == (str(path), row, field)
    assert fragment in str(error)
    assert str(error).startswith(f"{path}, row {row}")


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "nolow.csv", "timestamp,open,high,close", "2024-01-01,1,2,1.5")
    with pytest.raises(HistoryError, match=r"missing column\(s\): low; header is timestamp, open, high, close"):
        load_ohlcv_csv(path)
    path = write(tmp_path / "notime.csv", "when,open,high,low,close", "2024-01-01,1,2,0.5,1.5")
    with pytest.raises(HistoryError, match=r"missing column\(s\): timestamp \(or one of open_time"):
        load_ohlcv_csv(path)
    assert load_ohlcv_csv(path, time_column="WHEN").ts_ms[0] == 1_704_067_200_000


def test_empty_and_headerless_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="empty file"):
        load_ohlcv_csv(write(tmp_path / "empty.csv", ""))
    with pytest.raises(HistoryError, match="no price rows"):
        load_ohlcv_csv(write(tmp_path / "header_only.csv", "timestamp,open,high,low,close"))
    with pytest.raises(HistoryError, match="no header row"):
        load_ohlcv_csv(write(tmp_path / "klines.csv", *KLINES))


def test_binance_rows_are_checked_too(tmp_path: Path) -> None:
    short = KLINES[1].rsplit(",", 1)[0]
    with pytest.raises(HistoryError, match=r"row 2: expected 12 columns \(a Binance kline\), found 11"):
        load_binance_klines(write(tmp_path / "short.csv", KLINES[0], short))
    swapped = write(tmp_path / "back.csv", KLINES[1], KLINES[0])
    with pytest.raises(HistoryError, match=r"row 2, field 'timestamp': timestamp goes backwards"):
        load_binance_klines(swapped)
    bad_high = KLINES[1].replace("4943.11", "4870.00")
    with pytest.raises(HistoryError, match=r"row 2, field 'high'"):
        load_binance_klines(write(tmp_path / "high.csv", KLINES[0], bad_high))
    bad_time = "2020-03-13" + KLINES[1][len(str(T0)) :]
    with pytest.raises(HistoryError, match=r"row 2, field 'open_time': open_time must be an integer"):
        load_binance_klines(write(tmp_path / "t.csv", KLINES[0], bad_time))
    with pytest.raises(HistoryError, match=r"row 1: not a Binance kline header"):
        load_binance_klines(write(tmp_path / "h.csv", "time,open,high,low,close", *KLINES))


# ---------------------------------------------------------------- Parquet
def test_without_pyarrow_the_error_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(HistoryError, match=r"needs pyarrow, which is not installed \(pip install pyarrow==26.0.1\)"):
        load_parquet(tmp_path / "bars.parquet")


@needs_pyarrow
def test_parquet_with_a_zoned_timestamp_column_loads(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    stamps = pa.array([T0, T0 + 60_000], type=pa.timestamp("ms", tz="UTC"))
    table = pa.table(
        {"Timestamp": stamps, "Open": [1.0, 2.0], "High": [2.0, 3.0], "Low": [0.5, 1.5], "Close": [1.5, 2.5]}
    )
    pq.write_table(table, tmp_path / "bars.parquet")
    history = load_history(tmp_path / "bars.parquet")
    assert list(history.ts_ms) == [T0, T0 + 60_000]
    assert list(history.close) == [1.5, 2.5]
    assert history.source == "Parquet bars.parquet"


@needs_pyarrow
@pytest.mark.parametrize(
    "times",
    [[T0, T0 + 60_000], [T0 // 1000, T0 // 1000 + 60], ["2020-03-13T00:00:00Z", "2020-03-13 00:01:00"]],
    ids=["epoch-ms", "epoch-s", "iso-text"],
)
def test_parquet_integer_and_text_times_follow_the_csv_rules(tmp_path: Path, times: list[object]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"time": times, "open": [1.0, 2.0], "high": [2.0, 3.0], "low": [0.5, 1.5], "close": [1.5, 2.5]})
    pq.write_table(table, tmp_path / "t.parquet")
    assert list(load_parquet(tmp_path / "t.parquet").ts_ms) == [T0, T0 + 60_000]


@needs_pyarrow
def test_parquet_rows_are_validated_with_their_row_number(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"ts": [T0, T0, T0 + 1], "open": [1.0, 2.0, 2.0], "high": [2.0, 3.0, 3.0], "low": [0.5, 1.5, 1.0]})
    pq.write_table(table, tmp_path / "nolow.parquet")
    with pytest.raises(HistoryError, match=r"missing column\(s\): close"):
        load_parquet(tmp_path / "nolow.parquet")
    pq.write_table(table.append_column("close", pa.array([1.5, 2.5, None])), tmp_path / "dup.parquet")
    with pytest.raises(HistoryError, match=r"row 3, field 'close': missing value"):
        load_parquet(tmp_path / "dup.parquet")
    pq.write_table(table.append_column("close", pa.array([1.5, 2.5, 2.0])), tmp_path / "dup2.parquet")
    with pytest.raises(HistoryError, match=r"row 2, field 'timestamp': duplicate timestamp"):
        load_parquet(tmp_path / "dup2.parquet")


# ---------------------------------------------------------------- the shared data
def test_without_the_data_directory_the_loaders_say_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONSHORE_DATA", str(tmp_path / "absent"))
    assert data_dir() is None
    assert load_crash_window("2020-03-13") is None
    assert load_btc_daily() is None and load_btc_2h() is None
    with pytest.raises(KeyError, match="no crash window"):
        load_crash_window("2019-01-01")


CRASH_FACTS = [
    # (date, rows, first open, min low, time of the low) — ../shared/data/README.md §1
    ("2020-03-13", 287, 4762.28, 3621.81, "2020-03-13T02:16:00Z"),
    ("2021-05-19", 135, 38334.81, 28688.00, "2021-05-19T13:10:00Z"),
    ("2022-11-09", 135, 15997.90, 15462.60, "2022-11-09T22:08:00Z"),
    ("2025-10-10", 131, 116860.00, 101516.50, "2025-10-10T21:20:00Z"),
]


@needs_data
@pytest.mark.parametrize(("date", "rows", "first_open", "min_low", "low_at"), CRASH_FACTS)
def test_the_real_crash_windows_match_the_data_readme(
    date: str, rows: int, first_open: float, min_low: float, low_at: str
) -> None:
    history = load_crash_window(date, shared())
    assert history is not None
    assert len(history) == rows
    assert history.open[0] == first_open
    assert history.low.min() == min_low
    assert format_ts(int(history.ts_ms[int(np.argmin(history.low))])) == low_at
    assert history.bar_ms == 60_000 and np.all(np.diff(history.ts_ms) == 60_000)
    assert load_history(shared() / CRASH_WINDOW_FILES[date]).low.min() == min_low


@needs_data
def test_the_real_btc_histories_load_whole() -> None:
    daily = load_history(shared() / BTC_DAILY_FILE)
    assert len(daily) == 5152
    assert (format_ts(int(daily.ts_ms[0])), format_ts(int(daily.ts_ms[-1]))) == ("2011-08-18", "2025-09-24")
    two_hourly = load_btc_2h(shared())
    assert two_hourly is not None and len(two_hourly) == 61465 and two_hourly.bar_ms == 7_200_000
    spot = load_history(shared() / "spot/binance_spot_btcusdt_2h.csv")
    assert len(spot) == 35123
    coinbase = load_history(shared() / "spot/coinbase_btc_eth_usd_1d.csv", symbol="BTC/USD")
    assert len(coinbase) == 2125
    day = int(np.searchsorted(coinbase.ts_ms, 1_760_054_400_000))  # 2025-10-10
    assert (coinbase.open[day], coinbase.low[day]) == (121714.51, 107000.0)


def test_a_history_can_be_cut_to_a_period(tmp_path: Path) -> None:
    history = load_binance_klines(write(tmp_path / "k.csv", *KLINES))
    middle = history.between(T0 + 60_000, T0 + 120_000)
    assert middle.ts_ms.tolist() == [T0 + 60_000] and middle.close.tolist() == [4868.85]
    assert len(history.between(start_ms=T0 + 1)) == 2 and len(history.between(end_ms=T0)) == 0
