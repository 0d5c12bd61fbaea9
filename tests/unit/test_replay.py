"""Replay of recordings: seed 004 files as written by the user's recorder and by ours.

Every fixture is generated here into ``tmp_path`` (fastparquet for the user's files, pyarrow for ours).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kiwoom_bridge.emulator.replay import ReplaySource
from kiwoom_bridge.event_batch import EventBatch
from kiwoom_bridge.recording import SEED_COLUMNS, format_timestamp, parse_timestamp, write_recording
from kiwoom_bridge.recording_reader import MIN_COMPARED, RecordingError, detect_fid41_meaning, recording_files
from kiwoom_bridge.types import REAL_TYPE_QUOTE, REAL_TYPE_TRADE, QuoteEvent

T0 = 1_757_116_800_000_000_000          # 2025-09-06 09:00:00 Asia/Seoul
MS = 1_000_000
SYMBOLS = ("005930", "000660", "035420")
BASE_BID = {"005930": 84_400, "000660": 120_500, "035420": 9_870}
TICK = {"005930": 100, "000660": 500, "035420": 10}


def day_rows(meaning: str, n: int = 120, co_present: bool = True, seed: int = 1) -> list[dict[str, object]]:
    """A small recorded session in one fid_41 meaning.

    ``'price'``: the user's recorder as Kiwoom really sends it: 주식호가잔량 rows with fid_41/51 = best
    prices (and, if ``co_present``, the same prices in fid_27/28); no sizes anywhere.
    ``'size'``: seed 004's labels taken literally: fid_27/28 prices, fid_41/51 sizes.
    ``'price+sizes'``: our recorder: fid_41/51 prices, fid_61/71 sizes.
    주식체결 rows carry fid_10/13 and fid_27/28 in every meaning.
    """
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    cum = {(s, v): 1_000 for s in SYMBOLS for v in ("KRX", "NXT")}
    for i in range(n):
        sym = SYMBOLS[i % 3]
        venue = ("KRX", "NXT")[(i // 3) % 2]
        bid = BASE_BID[sym] + TICK[sym] * int(rng.integers(-3, 4))
        ask = bid + TICK[sym]
        ts = format_timestamp(T0 + i * 37 * MS)
        row: dict[str, object] = {"timestamp": ts, "symbol": sym, "venue": venue,
                                  "raw_code": sym + ("_NX" if venue == "NXT" else "")}
        if i % 4 == 3:
            cum[(sym, venue)] += int(rng.integers(1, 50))
            row.update(real_type=REAL_TYPE_TRADE, fid_10=ask, fid_11=ask - BASE_BID[sym], fid_12=0.1,
                       fid_13=cum[(sym, venue)], fid_27=ask, fid_28=bid, fid_41=0, fid_51=0)
            if meaning == "price+sizes":
                row.update(fid_61=0, fid_71=0)
        else:
            row.update(real_type=REAL_TYPE_QUOTE, fid_10=0, fid_11=0, fid_12=0.0, fid_13=0)
            qa, qb = int(rng.integers(1, 3000)), int(rng.integers(1, 3000))
            if meaning == "price":
                row.update(fid_41=ask, fid_51=bid, fid_27=ask if co_present else 0, fid_28=bid if co_present else 0)
            elif meaning == "size":
                row.update(fid_27=ask, fid_28=bid, fid_41=qa, fid_51=qb)
            else:
                row.update(fid_27=0, fid_28=0, fid_41=ask, fid_51=bid, fid_61=qa, fid_71=qb)
        rows.append(row)
    return rows


def fold(events: list[QuoteEvent]) -> dict[tuple[str, str], dict[str, int]]:
    """The L1 books the events build: each event updates only the fields it carries (non-zero)."""
    book: dict[tuple[str, str], dict[str, int]] = {}
    for e in events:
        b = book.setdefault((e.code, e.venue), {"ask": 0, "bid": 0, "ask_qty": 0, "bid_qty": 0, "last": 0})
        for f in b:
            v = getattr(e, f)
            if v:
                b[f] = v
    return book


def expected_books(rows: list[dict[str, object]], meaning: str, assumed: int = 100) -> dict:
    book: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        b = book.setdefault((r["symbol"], r["venue"]), {"ask": 0, "bid": 0, "ask_qty": 0, "bid_qty": 0, "last": 0})
        if r["real_type"] == REAL_TYPE_TRADE:
            b["last"] = r["fid_10"]
            b["ask"], b["bid"] = r["fid_27"], r["fid_28"]
            if meaning == "price":
                b["ask_qty"] = b["bid_qty"] = assumed
        elif meaning == "size":
            b.update(ask=r["fid_27"], bid=r["fid_28"], ask_qty=r["fid_41"], bid_qty=r["fid_51"])
        elif meaning == "price":
            b.update(ask=r["fid_41"], bid=r["fid_51"], ask_qty=assumed, bid_qty=assumed)
        else:
            b.update(ask=r["fid_41"], bid=r["fid_51"], ask_qty=r["fid_61"], bid_qty=r["fid_71"])
    return book


# ------------------------------------------------------------------------------------- the three meanings

def test_price_meaning_from_a_fastparquet_file(tmp_path: Path) -> None:
    rows = day_rows("price")
    path = write_recording(tmp_path / "market_data_20250906.parquet", rows, "fastparquet")
    src = ReplaySource(path)
    assert src.fid41_meaning == "price"
    assert src.sizes_known is False
    assert src.describe() == ("fid_41/fid_51 hold best ask/bid PRICES (equal to fid_27/fid_28 on 100.0% of rows); "
                              "no sizes in file: assumed 100 shares, size check NOT applied")
    assert src.notes[0] == src.describe() and src.describe() in src.description
    events = src.pop_until(T0 + 3_600 * 10**9)
    assert len(events) == len(rows)
    assert all(e.sizes_known is False for e in events)
    assert fold(events) == expected_books(rows, "price")
    quotes = [e for e in events if e.real_type == REAL_TYPE_QUOTE]
    assert {e.ask_qty for e in quotes} == {100} and {e.bid_qty for e in quotes} == {100}


def test_assumed_visible_qty_is_configurable(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "d.parquet", day_rows("price"), "fastparquet")
    src = ReplaySource(path, assumed_visible_qty=250)
    assert "assumed 250 shares" in src.describe()
    assert set(src.columns().ask_qty.tolist()) == {250}
    with pytest.raises(ValueError):
        ReplaySource(path, assumed_visible_qty=0)


def test_price_meaning_when_no_row_carries_both_41_and_27(tmp_path: Path) -> None:
    # Kiwoom's 주식호가잔량 has no FID 27/28 and 주식체결 no FID 41/51: the equality test has nothing to compare.
    rows = day_rows("price", co_present=False)
    src = ReplaySource(write_recording(tmp_path / "d.parquet", rows, "fastparquet"))
    assert src.fid41_meaning == "price" and not src.sizes_known
    assert src.describe().startswith("fid_41/fid_51 hold best ask/bid PRICES (no row carries both fid_41 and "
                                     "fid_27; within ±30% of the symbol's traded price on 100.0% of rows)")
    assert src.describe().endswith("no sizes in file: assumed 100 shares, size check NOT applied")
    assert fold(src.pop_until(T0 + 10**12)) == expected_books(rows, "price")


def test_size_meaning_from_a_fastparquet_file(tmp_path: Path) -> None:
    rows = day_rows("size")
    src = ReplaySource(write_recording(tmp_path / "d.parquet", rows, "fastparquet"))
    assert src.fid41_meaning == "size" and src.sizes_known
    assert src.describe().startswith("fid_41/fid_51 hold best ask/bid SIZES as seed 004 labels them (equal to "
                                     "fid_27/fid_28 on 0.0% of rows)")
    events = src.pop_until(T0 + 10**12)
    assert all(e.sizes_known for e in events)
    assert fold(events) == expected_books(rows, "size")


def test_price_plus_sizes_from_a_pyarrow_file(tmp_path: Path) -> None:
    rows = day_rows("price+sizes")
    src = ReplaySource(write_recording(tmp_path / "d.parquet", rows, "pyarrow"))
    assert src.fid41_meaning == "price+sizes" and src.sizes_known
    assert src.describe() == ("fid_61/fid_71 present: fid_41/fid_51 hold best ask/bid PRICES and fid_61/fid_71 "
                              "the true sizes; size check applied")
    events = src.pop_until(T0 + 10**12)
    assert fold(events) == expected_books(rows, "price+sizes")
    first_quote = next(e for e in events if e.real_type == REAL_TYPE_QUOTE)
    assert (first_quote.ask_qty, first_quote.bid_qty) == (rows[0]["fid_61"], rows[0]["fid_71"])


def test_detection_rule_threshold() -> None:
    n = 100
    f27 = np.full(n, 84_500, dtype=np.int64)
    f28 = np.full(n, 84_400, dtype=np.int64)
    for equal, meaning in ((100, "price"), (90, "price"), (89, "size"), (0, "size")):
        f41 = np.where(np.arange(n) < equal, 84_500, 37).astype(np.int64)
        f51 = np.where(np.arange(n) < equal, 84_400, 12).astype(np.int64)
        det = detect_fid41_meaning(f27, f28, f41, f51)
        assert det.meaning == meaning, equal
        assert det.fraction == pytest.approx(equal / 100)
        assert det.compared == 2 * n
    zeros = np.zeros(n, dtype=np.int64)
    assert detect_fid41_meaning(f27, f28, zeros, zeros).meaning == "price"          # empty 41/51: no sizes
    assert detect_fid41_meaning(f27, f28, f27, f28, has_size_columns=True).meaning == "price+sizes"
    # Too few co-present values and no reference price: ask-above-bid on the grid decides.
    few = np.where(np.arange(n) < MIN_COMPARED // 2 - 1, 84_500, 0).astype(np.int64)
    det = detect_fid41_meaning(few, zeros, np.full(n, 84_500), np.full(n, 84_400))
    assert (det.meaning, det.rule) == ("price", "ask above bid")
    det = detect_fid41_meaning(zeros, zeros, np.arange(1, n + 1) % 7 + 1, np.arange(1, n + 1) % 5 + 1)
    assert det.meaning == "size"


# ------------------------------------------------------------------------------------- row semantics

def test_sign_prefixed_strings_and_negative_numbers(tmp_path: Path) -> None:
    df = pd.DataFrame([
        {"timestamp": "2025-09-06T09:00:00.000001", "symbol": "005930", "venue": "KRX", "real_type": REAL_TYPE_QUOTE,
         "fid_10": "", "fid_11": "", "fid_12": "", "fid_13": "", "fid_27": "+84500", "fid_28": "-84400",
         "fid_41": " +120 ", "fid_51": "340", "raw_code": "005930"},
        {"timestamp": "2025-09-06T09:00:00.5", "symbol": "005930", "venue": "KRX", "real_type": REAL_TYPE_TRADE,
         "fid_10": "-84400", "fid_11": "-600", "fid_12": "-0.71", "fid_13": "+1,234,567", "fid_27": "+84500",
         "fid_28": "-84400", "fid_41": None, "fid_51": None, "raw_code": "005930"},
    ])
    src = ReplaySource(write_recording(tmp_path / "d.parquet", df, "fastparquet", coerce=False))
    assert src.fid41_meaning == "size"
    q, t = src.pop_until(T0 + 10**10)
    assert (q.ask, q.bid, q.ask_qty, q.bid_qty, q.last) == (84_500, 84_400, 120, 340, 0)
    assert (t.last, t.ask, t.bid, t.cum_volume) == (84_400, 84_500, 84_400, 1_234_567)
    assert t.change == -600 and t.change_rate == pytest.approx(-0.71)      # 전일대비/등락율 keep their sign
    assert (t.ask_qty, t.bid_qty) == (0, 0)                                # absent: the book keeps 120/340
    assert t.t_ns == T0 + 500 * MS


def test_negative_integers_and_nan_in_a_numeric_file(tmp_path: Path) -> None:
    rows = day_rows("size", n=12)
    df = pd.DataFrame(rows)
    df.loc[0, "fid_28"] = -int(df.loc[0, "fid_28"])
    df["fid_13"] = df["fid_13"].astype("float64")
    df.loc[1, "fid_13"] = np.nan
    src = ReplaySource(write_recording(tmp_path / "d.parquet", df, "fastparquet", coerce=False))
    c = src.columns()
    assert c.bid[0] == rows[0]["fid_28"]
    assert c.cum_volume[1] == 0


def test_rows_update_only_the_fields_they_carry(tmp_path: Path) -> None:
    ts = [format_timestamp(T0 + i * MS) for i in range(4)]
    base = {"symbol": "005930", "venue": "KRX", "raw_code": "005930", "fid_11": 0, "fid_12": 0.0}
    rows = [
        {**base, "timestamp": ts[0], "real_type": REAL_TYPE_QUOTE, "fid_10": 0, "fid_13": 0, "fid_27": 84_500,
         "fid_28": 84_400, "fid_41": 84_500, "fid_51": 84_400, "fid_61": 10, "fid_71": 20},
        {**base, "timestamp": ts[1], "real_type": REAL_TYPE_TRADE, "fid_10": 84_500, "fid_13": 5, "fid_27": 0,
         "fid_28": 0, "fid_41": 0, "fid_51": 0, "fid_61": 0, "fid_71": 0},
        {**base, "timestamp": ts[2], "real_type": REAL_TYPE_QUOTE, "fid_10": 0, "fid_13": 0, "fid_27": 0,
         "fid_28": 0, "fid_41": 84_600, "fid_51": 0, "fid_61": 0, "fid_71": 7},
    ]
    src = ReplaySource(write_recording(tmp_path / "d.parquet", rows, "pyarrow"))
    e = src.pop_until(T0 + 10 * MS)
    assert (e[1].ask, e[1].bid, e[1].ask_qty, e[1].last) == (0, 0, 0, 84_500)
    assert (e[2].ask, e[2].bid, e[2].ask_qty, e[2].bid_qty) == (84_600, 0, 0, 7)
    assert fold(e)[("005930", "KRX")] == {"ask": 84_600, "bid": 84_400, "ask_qty": 10, "bid_qty": 7,
                                          "last": 84_500}
    c = src.columns()
    assert c.has_ask.tolist() == [True, False, True] and c.has_bid.tolist() == [True, False, False]
    assert c.has_bid_qty.tolist() == [True, False, True] and c.has_last.tolist() == [False, True, False]


def test_trade_quantity_derived_from_cumulative_volume(tmp_path: Path) -> None:
    rows = day_rows("price+sizes", n=60)
    src = ReplaySource(write_recording(tmp_path / "d.parquet", rows, "pyarrow"))
    c = src.columns()
    prev: dict[tuple[str, str], int] = {}
    for i, r in enumerate(rows):
        if r["real_type"] == REAL_TYPE_TRADE:
            key = (r["symbol"], r["venue"])
            expected = r["fid_13"] - prev[key] if key in prev else 0
            assert c.last_qty[i] == expected
            prev[key] = r["fid_13"]
        else:
            assert c.last_qty[i] == 0
    assert any("derived from fid_13" in n for n in src.notes)


def test_unsorted_file_is_stable_sorted_and_said_so(tmp_path: Path) -> None:
    rows = day_rows("price+sizes", n=30)
    shuffled = rows[10:] + rows[:10]
    src = ReplaySource(write_recording(tmp_path / "d.parquet", shuffled, "pyarrow"))
    c = src.columns()
    assert c.t_ns.tolist() == sorted(parse_timestamp(r["timestamp"]) for r in rows)
    assert c.source_row[:3].tolist() == [20, 21, 22]
    assert any("not in time order" in n and "stable-sorted" in n for n in src.notes)


def test_other_real_types_counted_or_used_never_silently_dropped(tmp_path: Path) -> None:
    rows = day_rows("price+sizes", n=12)
    extra = dict(rows[0], timestamp=format_timestamp(T0 + 5 * MS), real_type="주식예상체결")
    best = dict(rows[0], timestamp=format_timestamp(T0 + 6 * MS), real_type="주식우선호가", fid_27=84_900,
                fid_28=84_800, fid_41=0, fid_51=0, fid_61=0, fid_71=0)
    src = ReplaySource(write_recording(tmp_path / "d.parquet", [rows[0], extra, best] + rows[1:], "pyarrow"))
    assert src.skipped_real_types == {"주식예상체결": 1}
    assert src.rows_read == 14 and src.rows_replayed == 13
    assert any("1 주식예상체결 rows" in n for n in src.notes)
    events = src.pop_until(T0 + 7 * MS)
    assert (events[1].real_type, events[1].ask, events[1].bid, events[1].ask_qty) == (REAL_TYPE_QUOTE, 84_900,
                                                                                      84_800, 0)
    bad = write_recording(tmp_path / "bad.parquet", [rows[0], dict(rows[1], real_type="주식호가")], "pyarrow")
    with pytest.raises(RecordingError) as info:
        ReplaySource(bad)
    assert (info.value.row, info.value.column) == (1, "real_type")


def test_universe_filter_counts_and_reports_other_symbols(tmp_path: Path) -> None:
    rows = day_rows("price+sizes", n=30)
    src = ReplaySource(write_recording(tmp_path / "d.parquet", rows, "pyarrow"),
                       universe_codes=["000660", "005930", "999999"])
    assert src.codes == ("000660", "005930", "999999")
    assert src.skipped_symbols == {"035420": 10}
    assert src.rows_replayed == 20
    assert any("10 rows of 1 symbols not in the universe" in n and "035420" in n for n in src.notes)
    assert any("999999" in n and "no rows" in n for n in src.notes)
    c = src.columns()
    assert [c.codes[i] for i in c.code_idx] == [r["symbol"] for r in rows if r["symbol"] != "035420"]


# ------------------------------------------------------------------------------------- several files

def test_directory_of_daily_files_in_date_order(tmp_path: Path) -> None:
    day1 = day_rows("price", n=9)
    day2 = [dict(r, timestamp=format_timestamp(parse_timestamp(r["timestamp"]) + 3 * 86_400 * 10**9))
            for r in day_rows("price", n=6, seed=2)]
    write_recording(tmp_path / "market_data_20250909.parquet", day2, "fastparquet")
    write_recording(tmp_path / "market_data_20250906.parquet", day1, "fastparquet")
    (tmp_path / "notes.txt").write_text("not a recording")
    assert [p.name for p in recording_files(tmp_path)] == ["market_data_20250906.parquet",
                                                           "market_data_20250909.parquet"]
    src = ReplaySource(tmp_path)
    assert src.start_ns == T0
    assert src.rows_replayed == 15 and np.all(np.diff(src.columns().t_ns) >= 0)
    assert src.columns().file_idx.tolist() == [0] * 9 + [1] * 6
    assert src.fid41_meaning == "price"
    # A list of files is accepted too, and ordered the same way.
    src2 = ReplaySource([tmp_path / "market_data_20250909.parquet", tmp_path / "market_data_20250906.parquet"])
    assert src2.start_ns == T0
    with pytest.raises(RecordingError):
        ReplaySource(tmp_path / "missing")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(RecordingError, match="no market_data"):
        ReplaySource(tmp_path / "empty_dir")


def test_files_with_different_meanings_are_reported_per_file(tmp_path: Path) -> None:
    write_recording(tmp_path / "market_data_20250905.parquet", day_rows("price", n=30), "fastparquet")
    later = [dict(r, timestamp=format_timestamp(parse_timestamp(r["timestamp"]) + 86_400 * 10**9))
             for r in day_rows("price+sizes", n=30)]
    write_recording(tmp_path / "market_data_20250906.parquet", later, "pyarrow")
    src = ReplaySource(tmp_path)
    assert src.fid41_meaning == "mixed" and not src.sizes_known
    assert "size check NOT applied" in src.describe()
    events = src.pop_until(T0 + 2 * 86_400 * 10**9)
    assert {e.sizes_known for e in events[:30]} == {False} and {e.sizes_known for e in events[30:]} == {True}


# ------------------------------------------------------------------------------------- bad files

def test_missing_column_names_the_file_and_column(tmp_path: Path) -> None:
    df = pd.DataFrame(day_rows("price", n=6)).drop(columns=["fid_28"])
    path = write_recording(tmp_path / "market_data_20250906.parquet", df, "fastparquet", coerce=False)
    with pytest.raises(RecordingError) as info:
        ReplaySource(path)
    err = info.value
    assert err.column == "fid_28" and err.row is None and err.path == str(path)
    assert "market_data_20250906.parquet" in str(err) and "fid_28" in str(err)


def test_bad_timestamp_on_row_3_names_file_row_and_column(tmp_path: Path) -> None:
    rows = day_rows("price", n=6)
    rows[3]["timestamp"] = "2025-09-06 9h00"
    path = write_recording(tmp_path / "market_data_20250906.parquet", rows, "fastparquet", coerce=False)
    with pytest.raises(RecordingError) as info:
        ReplaySource(path)
    err = info.value
    assert (err.row, err.column) == (3, "timestamp")
    assert str(err).startswith(f"{path}, row 3 (0-based), column 'timestamp': cannot parse '2025-09-06 9h00'")
    rows[3]["timestamp"] = "2025-02-30T09:00:00.000000"                  # the right shape, an impossible date
    path = write_recording(tmp_path / "b.parquet", rows, "pyarrow", coerce=False)
    with pytest.raises(RecordingError) as info:
        ReplaySource(path)
    assert (info.value.row, info.value.column) == (3, "timestamp")


@pytest.mark.parametrize("column, value, row, fragment", [
    ("venue", "KOSDAQ", 4, "unknown value 'KOSDAQ'"),
    ("venue", None, 2, "empty value"),
    ("symbol", "5930", 1, "not a 6-character stock code"),
    ("fid_27", "84,500원", 5, "is not a number"),
    ("raw_code", "000660_NX", 0, "contradicts symbol"),
])
def test_bad_values_name_file_row_and_column(tmp_path: Path, column: str, value: object, row: int,
                                             fragment: str) -> None:
    df = pd.DataFrame(day_rows("size", n=8)).astype({c: object for c in ("fid_27", "symbol", "venue", "raw_code")})
    df.loc[row, column] = value
    if column == "fid_27":
        df["fid_27"] = df["fid_27"].map(lambda v: v if isinstance(v, str) else str(v))
    path = write_recording(tmp_path / "x.parquet", df, "fastparquet", coerce=False)
    with pytest.raises(RecordingError) as info:
        ReplaySource(path)
    assert (info.value.row, info.value.column) == (row, column)
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_truncated_file_without_footer_is_a_recording_error(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "market_data_20250906.parquet", day_rows("price", n=30), "pyarrow")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match="not a readable Parquet file"):
        ReplaySource(path)


def test_empty_recording_is_refused(tmp_path: Path) -> None:
    df = pd.DataFrame({c: pd.Series([], dtype="int64" if c.startswith("fid") else object) for c in SEED_COLUMNS})
    path = write_recording(tmp_path / "e.parquet", df, "pyarrow", coerce=False)
    with pytest.raises(RecordingError, match="no rows"):
        ReplaySource(path)


# ------------------------------------------------------------------------------------- the protocol

def test_market_source_protocol_and_fast_path(tmp_path: Path) -> None:
    rows = day_rows("price+sizes", n=50)
    path = write_recording(tmp_path / "d.parquet", rows, "pyarrow")
    from kiwoom_bridge.emulator.source import MarketSource

    src = ReplaySource(path)
    assert isinstance(src, MarketSource)
    assert src.adds_latency is False
    assert src.codes == tuple(sorted(SYMBOLS))
    assert src.start_ns == T0 and src.peek_time_ns() == T0
    assert isinstance(src.description, str) and "50 of 50 rows" in src.description
    other = ReplaySource(path)
    # Pop in pieces (events) vs. pop at once (arrays): the same rows, in the same order.
    pieces: list[QuoteEvent] = []
    t = T0 - 1
    while src.peek_time_ns() is not None:
        t += 100 * MS
        pieces.extend(src.pop_until(t))
        assert src.peek_time_ns() is None or src.peek_time_ns() > t
    whole = other.pop_arrays_until(T0 + 10**12)
    assert isinstance(whole, EventBatch) and len(whole) == len(pieces) == 50
    assert [e.t_ns for e in pieces] == whole.t_ns.tolist()
    assert [e.ask for e in pieces] == whole.ask.tolist()
    assert [src.codes.index(e.code) for e in pieces] == whole.code_idx.tolist()
    assert src.pop_until(T0 + 10**13) == [] and len(other.pop_arrays_until(T0 + 10**13)) == 0
    src.rewind()
    assert src.remaining == 50 and src.peek_time_ns() == T0
    c = src.columns()
    assert len(c) == 50 and c.timestamp.tolist() == [r["timestamp"] for r in rows]
    assert c.real_type.tolist() == [1 if r["real_type"] == REAL_TYPE_TRADE else 0 for r in rows]
    assert src.columns(with_text=False).timestamp is None


def test_user_file_appended_in_row_groups_with_mixed_timestamp_precision(tmp_path: Path) -> None:
    # The user's recorder appends batches to one daily file with fastparquet; datetime.isoformat() drops
    # ".000000" when the microsecond is 0.
    import fastparquet

    rows = day_rows("price", n=40)
    assert rows[0]["timestamp"] == "2025-09-06T09:00:00.000000"
    rows[0]["timestamp"] = "2025-09-06T09:00:00"
    rows[30]["timestamp"] = rows[30]["timestamp"][:23]                    # milliseconds only
    df = pd.DataFrame(rows)
    path = tmp_path / "market_data_20250906.parquet"
    fastparquet.write(str(path), df.iloc[:25], write_index=False)
    fastparquet.write(str(path), df.iloc[25:], write_index=False, append=True)
    src = ReplaySource(path)
    assert src.rows_replayed == 40 and src.fid41_meaning == "price"
    c = src.columns()
    assert c.t_ns[0] == T0 and c.timestamp[0] == "2025-09-06T09:00:00"
    assert c.t_ns[30] == T0 + 30 * 37 * MS and c.timestamp[30] == rows[30]["timestamp"]
    assert fold(src.pop_until(T0 + 10**12)) == expected_books(rows, "price")
