"""The recorder's file side: timestamps, daily Parquet files in seed 004's schema, flushing, crash safety."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiwoom_bridge.emulator.replay import ReplaySource
from kiwoom_bridge.recording import (
    RECORDING_SCHEMA,
    SEED_COLUMNS,
    RecordingWriter,
    RecordValueError,
    daily_file_name,
    format_timestamp,
    format_timestamps,
    parse_timestamp,
    parse_timestamps,
    write_recording,
)

T0 = 1_757_116_830_123_456_000          # 2025-09-06 09:00:30.123456 Asia/Seoul


class FakeSeconds:
    """An injectable flush clock (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def quote_row(ts: str, symbol: str = "005930", venue: str = "KRX", ask: int = 84_500, bid: int = 84_400,
              ask_qty: int = 120, bid_qty: int = 340) -> dict[str, object]:
    return {"timestamp": ts, "symbol": symbol, "venue": venue, "real_type": "주식호가잔량",
            "fid_41": ask, "fid_51": bid, "fid_61": ask_qty, "fid_71": bid_qty,
            "raw_code": symbol + ("_NX" if venue == "NXT" else "")}


def trade_row(ts: str, symbol: str = "005930", venue: str = "NXT") -> dict[str, object]:
    return {"timestamp": ts, "symbol": symbol, "venue": venue, "real_type": "주식체결",
            "fid_10": "+84500", "fid_11": "-500", "fid_12": "-0.59", "fid_13": "+1234567",
            "fid_27": "+84500", "fid_28": "-84400", "raw_code": symbol + ("_NX" if venue == "NXT" else "")}


# ------------------------------------------------------------------------------------- timestamps

def test_format_timestamp_is_naive_seoul_with_six_digits() -> None:
    assert format_timestamp(T0) == "2025-09-06T09:00:30.123456"
    assert format_timestamp(T0 - 123_456_000) == "2025-09-06T09:00:30.000000"
    assert format_timestamp(T0 + 999) == "2025-09-06T09:00:30.123456"          # ns truncated
    midnight_utc = int(dt.datetime(2025, 9, 6, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    assert format_timestamp(midnight_utc) == "2025-09-06T09:00:00.000000"


def test_parse_timestamp_inverse_and_lenient_precision() -> None:
    assert parse_timestamp("2025-09-06T09:00:30.123456") == T0
    assert parse_timestamp("2025-09-06T09:00:30") == T0 - 123_456_000      # isoformat() omits .000000
    assert parse_timestamp("2025-09-06 09:00:30.5") == T0 - 123_456_000 + 500_000_000
    for bad in ("2025-09-06", "09:00:30", "2025-09-06T09:00:30+09:00", "", "yesterday"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


@given(st.integers(min_value=946_684_800_000_000_000, max_value=4_102_444_800_000_000_000))
def test_timestamp_round_trip_to_the_microsecond(t_ns: int) -> None:
    text = format_timestamp(t_ns)
    assert len(text) == 26 and text[19] == "."
    assert parse_timestamp(text) == t_ns - t_ns % 1000


def test_vectorised_timestamps_match_scalar() -> None:
    ts = np.array([T0, T0 + 1_000, T0 + 86_400 * 10**9 + 7], dtype=np.int64)
    text = format_timestamps(ts)
    assert list(text) == [format_timestamp(int(t)) for t in ts]
    parsed, ok = parse_timestamps(list(text) + ["nonsense", None, "2025-02-30T09:00:00"])
    assert ok.tolist() == [True, True, True, False, False, False]
    assert parsed[:3].tolist() == [int(t) - int(t) % 1000 for t in ts]


# ------------------------------------------------------------------------------------- the writer

def test_written_file_has_seed_004_columns_types_and_values(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path) as w:
        w.append(quote_row("2025-09-06T09:00:30.123456"))
        w.append(trade_row("2025-09-06T09:00:30.200000"))
    path = tmp_path / "market_data_20250906.parquet"
    assert w.files == [path]
    schema = pq.read_schema(path)
    assert schema.names == list(SEED_COLUMNS) + ["fid_61", "fid_71", "fid_9068"]     # + sizes, + VI flag
    assert schema.field("fid_12").type == pa.float64()
    for c in ("fid_10", "fid_11", "fid_13", "fid_27", "fid_28", "fid_41", "fid_51", "fid_61", "fid_71"):
        assert schema.field(c).type == pa.int64(), c
    for c in ("timestamp", "symbol", "venue", "real_type", "raw_code"):
        assert schema.field(c).type == pa.string(), c
    df = pd.read_parquet(path)               # how the user's own scripts read it (seed 004)
    assert df.timestamp.tolist() == ["2025-09-06T09:00:30.123456", "2025-09-06T09:00:30.200000"]
    q, t = df.iloc[0], df.iloc[1]
    assert (q.fid_41, q.fid_51, q.fid_61, q.fid_71, q.fid_27, q.fid_10) == (84_500, 84_400, 120, 340, 0, 0)
    # Sign prefixes: prices and volume absolute, 전일대비/등락율 keep their sign.
    assert (t.fid_10, t.fid_13, t.fid_27, t.fid_28) == (84_500, 1_234_567, 84_500, 84_400)
    assert t.fid_11 == -500 and t.fid_12 == pytest.approx(-0.59)
    assert (t.symbol, t.venue, t.raw_code) == ("005930", "NXT", "005930_NX")


def test_flush_by_rows_and_by_interval(tmp_path: Path) -> None:
    clock = FakeSeconds()
    w = RecordingWriter(tmp_path, flush_rows=3, flush_interval_s=30, clock=clock)
    try:
        for i in range(2):
            w.append(quote_row(f"2025-09-06T09:00:0{i}.000000"))
        assert (w.buffered_rows, w.rows_written) == (2, 0)
        w.append(quote_row("2025-09-06T09:00:02.000000"))
        assert (w.buffered_rows, w.rows_written) == (0, 3)
        w.append(quote_row("2025-09-06T09:00:03.000000"))
        clock.now = 29.9
        assert not w.maybe_flush()
        assert w.buffered_rows == 1
        clock.now = 33.0
        assert w.maybe_flush()
        assert (w.buffered_rows, w.rows_written) == (0, 4)
        w.append(quote_row("2025-09-06T09:00:04.000000"))
        clock.now = 70.0
        w.append(quote_row("2025-09-06T09:00:05.000000"))        # an append after the interval flushes too
        assert (w.buffered_rows, w.rows_written) == (0, 6)
    finally:
        w.close()
    assert pq.ParquetFile(tmp_path / "market_data_20250906.parquet").metadata.num_rows == 6
    assert pq.ParquetFile(tmp_path / "market_data_20250906.parquet").num_row_groups == 3


def test_daily_files_split_at_seoul_midnight(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path, flush_rows=10) as w:
        w.append(quote_row("2025-09-07T23:59:59.999999"))
        w.append(quote_row("2025-09-08T00:00:00.000001"))
        w.append(quote_row("2025-09-07T23:59:59.999998", symbol="000660"))   # late row of the earlier day
        w.flush()
        w.append(quote_row("2025-09-08T09:00:00.000000"))
    day1 = pd.read_parquet(tmp_path / "market_data_20250907.parquet")
    day2 = pd.read_parquet(tmp_path / "market_data_20250908.parquet")
    assert day1.timestamp.tolist() == ["2025-09-07T23:59:59.999999", "2025-09-07T23:59:59.999998"]
    assert day2.timestamp.tolist() == ["2025-09-08T00:00:00.000001", "2025-09-08T09:00:00.000000"]


def test_epoch_ns_timestamp_is_formatted_in_seoul_time(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path) as w:
        w.append(quote_row("x"), timestamp=T0)
    assert pd.read_parquet(tmp_path / daily_file_name(dt.date(2025, 9, 6))).timestamp[0] == \
        "2025-09-06T09:00:30.123456"


def test_data_flushed_before_an_exception_is_readable(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with RecordingWriter(tmp_path, flush_rows=1000) as w:
            for i in range(5):
                w.append(quote_row(f"2025-09-06T09:00:0{i}.000000"))
            w.flush()
            w.append(quote_row("2025-09-06T09:00:06.000000"))     # still buffered when the crash comes
            raise RuntimeError("boom")
    assert w.closed
    df = pd.read_parquet(tmp_path / "market_data_20250906.parquet")
    assert len(df) == 6                                           # flushed rows and the buffered one


def test_existing_daily_file_is_never_overwritten(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path) as w:
        w.append(quote_row("2025-09-06T09:00:00.000000"))
    with RecordingWriter(tmp_path) as w2:                         # a restart the same day
        w2.append(quote_row("2025-09-06T10:00:00.000000", ask=85_000, bid=84_900))
    assert w2.files == [tmp_path / "market_data_20250906_1.parquet"]
    assert len(pd.read_parquet(tmp_path / "market_data_20250906.parquet")) == 1
    src = ReplaySource(tmp_path)
    assert [f.name for f in src.files] == ["market_data_20250906.parquet", "market_data_20250906_1.parquet"]
    assert src.columns().ask.tolist() == [84_500, 85_000]


def test_bad_values_are_refused_with_the_field_named(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path) as w:
        cases = [({"fid_99": 1}, "fid_99"), ({"venue": "KOSDAQ"}, "venue"), ({"fid_41": "abc"}, "fid_41"),
                 ({"fid_41": 84_500.5}, "fid_41"), ({"timestamp": "09:00:00"}, "timestamp"),
                 ({"symbol": "5930"}, "symbol"), ({"raw_code": "005930_NX"}, "raw_code"),
                 ({"real_type": ""}, "real_type")]
        for change, field in cases:
            with pytest.raises(RecordValueError) as info:
                w.append(quote_row("2025-09-06T09:00:00.000000"), **change)
            assert info.value.field == field
        assert w.rows_received == 0
    assert w.files == []
    with pytest.raises(ValueError, match="closed"):
        w.append(quote_row("2025-09-06T09:00:00.000000"))
    w.close()                                                     # idempotent


def test_symbol_and_venue_default_from_raw_code(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path) as w:
        w.append(timestamp="2025-09-06T09:00:00.000000", raw_code="000660_NX", real_type="주식체결",
                 fid_10="-120500")
    row = pd.read_parquet(tmp_path / "market_data_20250906.parquet").iloc[0]
    assert (row.symbol, row.venue, row.fid_10, row.fid_61) == ("000660", "NXT", 120_500, 0)


def test_round_trip_through_replay(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    rows = []
    t = T0
    for i in range(400):
        t += int(rng.integers(1_000, 50_000_000))
        sym = ("005930", "000660", "035420")[i % 3]
        venue = ("KRX", "NXT")[int(rng.integers(0, 2))]
        bid = int(rng.integers(500, 900)) * 100
        rows.append(quote_row(format_timestamp(t), sym, venue, bid + 100, bid, int(rng.integers(1, 5000)),
                              int(rng.integers(1, 5000))))
    with RecordingWriter(tmp_path, flush_rows=64) as w:
        for r in rows:
            w.append(r)
    src = ReplaySource(tmp_path / "market_data_20250906.parquet")
    assert src.fid41_meaning == "price+sizes" and src.sizes_known
    c = src.columns()
    assert c.timestamp.tolist() == [r["timestamp"] for r in rows]
    assert c.t_ns.tolist() == [parse_timestamp(r["timestamp"]) for r in rows]
    assert [c.codes[i] for i in c.code_idx] == [r["symbol"] for r in rows]
    assert [("KRX", "NXT")[v] for v in c.venue] == [r["venue"] for r in rows]
    assert c.ask.tolist() == [r["fid_41"] for r in rows] and c.bid.tolist() == [r["fid_51"] for r in rows]
    assert c.ask_qty.tolist() == [r["fid_61"] for r in rows]
    assert c.bid_qty.tolist() == [r["fid_71"] for r in rows]


@pytest.mark.parametrize("engine", ["pyarrow", "fastparquet"])
def test_write_recording_helper_both_engines(tmp_path: Path, engine: str) -> None:
    rows = [quote_row("2025-09-06T09:00:00.000000"), trade_row("2025-09-06T09:00:01.000000")]
    path = write_recording(tmp_path / f"{engine}.parquet", rows, engine)       # type: ignore[arg-type]
    df = pd.read_parquet(path)
    assert list(df.columns) == [c for c in RECORDING_SCHEMA.names if c != "fid_9068"]   # no VI row, no VI column
    assert df.fid_41.tolist() == [84_500, 0] and df.fid_10.tolist() == [0, 84_500]
    raw = write_recording(tmp_path / f"raw_{engine}.parquet", [{"timestamp": "x", "fid_41": "+1"}],
                          engine, coerce=False)                                  # type: ignore[arg-type]
    assert pd.read_parquet(raw).fid_41.tolist() == ["+1"]
    with pytest.raises(ValueError):
        write_recording(tmp_path / "x.parquet", rows, "csv")                   # type: ignore[arg-type]
