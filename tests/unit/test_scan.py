"""The opportunity scan (SPEC §6 ``arbctl scan``): windows of eligible edges in a recorded day.

Every recording is generated here (``write_recording`` into a temporary directory). The reference
:func:`reference_scan` is written independently of :mod:`core.scan`: it reads the raw rows (not the decoded
columns), keeps one dict per symbol and venue, and prices edges with :meth:`CostModel.net_edge_krw` and
:func:`core.ticks.tick_size`.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from config.loader import load_config
from core.costs import CostModel
from core.scan import scan_kernel, scan_kernel_py
from core.ticks import tick_size
from kiwoom_bridge.recording import format_timestamp, write_recording
from tools.scan_recording import CSV_COLUMNS, scan_command, scan_recording

QUOTE, TRADE, PRIORITY, EXPECTED = "주식호가잔량", "주식체결", "주식우선호가", "주식예상체결"
T0 = 1_773_100_800_000_000_000          # 2026-03-10 09:00:00 Asia/Seoul (Tuesday; settles in 2026)
MS = 1_000_000
S = 1_000 * MS
HEADER = "symbol,direction,start,end,best_net_krw,best_net_bps,max_qty,updates"
KRX_FEE = 1.5
NXT_FEE = 1.45 + 0.31833


def ts(t_ns: int) -> str:
    return format_timestamp(t_ns)


def cfg_with(min_ticks: float = 1.0, min_visible: int = 1, slice_qty: int = 1,
             overrides: dict[str, float] | None = None, kosdaq_tax_2026: float | None = None) -> Any:
    data: dict[str, Any] = {
        "spread_engine": {"edge_rule": {"min_net_ticks_after_fees": min_ticks,
                                        "also_require_min_visible_qty": min_visible}},
        "execution": {"slice_qty": slice_qty},
        "symbols": {"per_symbol_overrides": {c: {"edge_buffer_ticks": v} for c, v in (overrides or {}).items()}},
    }
    if kosdaq_tax_2026 is not None:
        data["fees"] = {"tax": {"KOSPI": {2025: 15, 2026: 20}, "KOSDAQ": {2025: 15, 2026: kosdaq_tax_2026}}}
    return load_config(None, overrides=data)


# ------------------------------------------------------------------------------------------ the reference

def _decode(row: dict[str, Any], meaning: str, assumed: int) -> tuple[int, int, int, int]:
    """(ask, bid, ask_qty, bid_qty) a raw row carries (0 = absent), for a file of fid_41 ``meaning``."""
    g = lambda k: int(row.get(k) or 0)  # noqa: E731
    rt = row["real_type"]
    if rt == PRIORITY:                   # best prices only; a file without sizes assumes them on every price
        ask, bid = g("fid_27"), g("fid_28")
        return (ask, bid, assumed if ask else 0, assumed if bid else 0) if meaning == "price" else (ask, bid, 0, 0)
    if meaning == "size":
        return g("fid_27"), g("fid_28"), g("fid_41"), g("fid_51")
    if rt == QUOTE:
        ask, bid = g("fid_41") or g("fid_27"), g("fid_51") or g("fid_28")
    else:
        ask, bid = g("fid_27") or g("fid_41"), g("fid_28") or g("fid_51")
    if meaning == "price+sizes":
        return ask, bid, g("fid_61"), g("fid_71")
    return ask, bid, assumed if ask else 0, assumed if bid else 0


def reference_scan(rows: list[dict[str, Any]], meaning: str, cfg: Any,
                   markets: dict[str, str]) -> list[tuple[Any, ...]]:
    """Windows as (symbol, direction, start, end, best_net_krw, best_net_bps, max_qty, updates), slowly."""
    replayed = [r for r in rows if r["real_type"] in (QUOTE, TRADE, PRIORITY)]
    if not replayed:
        return []
    first_date = dt.date.fromisoformat(replayed[0]["timestamp"][:10])
    costs = CostModel.for_date(cfg.fees, first_date, extra_holidays=cfg.sessions.extra_holidays)
    rule = cfg.spread_engine.edge_rule
    min_qty = max(cfg.execution.slice_qty, rule.also_require_min_visible_qty)
    check_sizes = meaning != "price"
    books: dict[tuple[str, str], dict[str, int]] = {}
    open_windows: dict[tuple[str, str], dict[str, Any]] = {}
    done: list[tuple[Any, ...]] = []

    def close(key: tuple[str, str], end: str) -> None:
        w = open_windows.pop(key)
        done.append((key[0], key[1], w["start"], end, w["krw"], w["bps"], w["qty"], w["n"]))

    for r in replayed:
        ask, bid, aq, bq = _decode(r, meaning, cfg.replay.assumed_visible_qty)
        if not (ask or bid or aq or bq):
            continue                                     # a trade print only: no quote changed
        sym = r["symbol"]
        book = books.setdefault((sym, r["venue"]), {"ask": 0, "bid": 0, "ask_qty": 0, "bid_qty": 0})
        for name, value in (("ask", ask), ("bid", bid), ("ask_qty", aq), ("bid_qty", bq)):
            if value:
                book[name] = value
        empty = {"ask": 0, "bid": 0, "ask_qty": 0, "bid_qty": 0}
        krx, nxt = books.get((sym, "KRX"), empty), books.get((sym, "NXT"), empty)
        valid = (min(krx["ask"], krx["bid"], nxt["ask"], nxt["bid"]) > 0
                 and krx["bid"] < krx["ask"] and nxt["bid"] < nxt["ask"])
        market = markets.get(sym, "KOSPI")
        ov = cfg.symbols.per_symbol_overrides.get(sym)
        min_ticks = ov.edge_buffer_ticks if ov is not None and ov.edge_buffer_ticks is not None \
            else rule.min_net_ticks_after_fees
        for direction, buy_venue, sell_venue, buy_book, sell_book in (("KRX->NXT", "KRX", "NXT", krx, nxt),
                                                                     ("NXT->KRX", "NXT", "KRX", nxt, krx)):
            eligible = False
            if valid:
                net = costs.net_edge_krw(buy_book["ask"], buy_venue, sell_book["bid"], sell_venue, market)
                eligible = net >= min_ticks * tick_size(buy_book["ask"])
                if check_sizes:
                    eligible = eligible and buy_book["ask_qty"] >= min_qty and sell_book["bid_qty"] >= min_qty
            key = (sym, direction)
            if eligible:
                bps = costs.net_edge_bps(buy_book["ask"], buy_venue, sell_book["bid"], sell_venue, market)
                qty = min(buy_book["ask_qty"], sell_book["bid_qty"])
                w = open_windows.setdefault(key, {"start": r["timestamp"], "krw": net, "bps": bps, "qty": qty,
                                                  "n": 0})
                w["krw"], w["bps"], w["qty"] = max(w["krw"], net), max(w["bps"], bps), max(w["qty"], qty)
                w["n"] += 1
            elif key in open_windows:
                close(key, r["timestamp"])
    for key in list(open_windows):
        close(key, "")
    return done


def table(result: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in result.windows[list(CSV_COLUMNS)].itertuples(index=False, name=None)]


def assert_same_windows(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> None:
    def key(w: tuple[Any, ...]) -> tuple[Any, ...]:
        return (w[0], w[1], w[2])
    got, want = sorted(got, key=key), sorted(want, key=key)
    assert [(w[0], w[1], w[2], w[3], int(w[6]), int(w[7])) for w in got] == \
           [(w[0], w[1], w[2], w[3], int(w[6]), int(w[7])) for w in want]
    for g, w in zip(got, want, strict=True):
        assert g[4] == pytest.approx(w[4], rel=1e-12, abs=1e-9)
        assert g[5] == pytest.approx(w[5], rel=1e-12, abs=1e-9)


# ------------------------------------------------------------------------------------------ hand-made day

def q(t: int, sym: str, venue: str, ask: int = 0, bid: int = 0, qa: int = 0, qb: int = 0,
      rt: str = QUOTE) -> dict[str, Any]:
    """A recorder row (41/51 prices, 61/71 sizes); a 주식체결 row carries its best ask/bid in 27/28."""
    row: dict[str, Any] = {"timestamp": ts(T0 + t * S), "symbol": sym, "venue": venue, "real_type": rt,
                           "fid_61": qa, "fid_71": qb}
    if rt == QUOTE:
        row.update(fid_41=ask, fid_51=bid)
    else:
        row.update(fid_27=ask, fid_28=bid, fid_10=ask or 100_000, fid_13=1000 + t)
    return row


HAND_ROWS = [
    q(0, "005930", "KRX", 100_000, 99_900, 500, 500),        # NXT unknown: ineligible
    q(1, "005930", "NXT", 100_600, 100_500, 300, 300),       # A opens: 500 won gross
    {"timestamp": ts(T0 + 2 * S), "symbol": "005930", "venue": "KRX", "real_type": TRADE, "fid_10": 100_000,
     "fid_13": 5_000, "fid_61": 0, "fid_71": 0},              # trade-only: no evaluation
    q(3, "005930", "NXT", qb=5),                             # only the NXT bid size: 5 < 10 → A ends
    q(4, "005930", "NXT", 100_800, 100_700, qb=50),          # A opens again
    q(5, "005930", "KRX", 100_100, 100_000, rt=TRADE),       # 주식체결 carrying 27/28 updates the book
    q(6, "005930", "KRX", bid=100_200),                      # KRX crossed (bid ≥ ask): ineligible → A ends
    q(7, "000660", "KRX", 150_000, 149_900, 100, 100),
    q(8, "000660", "NXT", 150_600, 150_500, 100, 100),       # 1.5 ticks net < override 3 ticks: nothing
    q(9, "000660", "NXT", 150_900, 150_800),                 # 4.5 ticks ≥ 3: opens, still open at the end
    q(10, "035720", "NXT", 50_000, 49_950, 100, 100),
    q(11, "035720", "KRX", 50_300, 50_200, 100, 100),        # B eligible only at KOSDAQ's 10 bps tax
    q(12, "035720", "KRX", bid=50_100),                      # B ends
]


def net(buy: int, buy_fee: float, sell: int, sell_fee: float, tax: float) -> float:
    return sell - buy - buy * buy_fee / 1e4 - sell * sell_fee / 1e4 - sell * tax / 1e4


def test_hand_made_recording_has_the_known_windows(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "market_data_20260310.parquet", HAND_ROWS)
    cfg = cfg_with(min_visible=10, overrides={"000660": 3.0}, kosdaq_tax_2026=10)
    markets = {"035720": "KOSDAQ"}
    res = scan_recording(path, cfg, universe_markets=markets)

    expected = [
        ("005930", "KRX->NXT", ts(T0 + 1 * S), ts(T0 + 3 * S), net(100_000, KRX_FEE, 100_500, NXT_FEE, 20), 1),
        ("005930", "KRX->NXT", ts(T0 + 4 * S), ts(T0 + 6 * S), net(100_000, KRX_FEE, 100_700, NXT_FEE, 20), 2),
        ("000660", "KRX->NXT", ts(T0 + 9 * S), "", net(150_000, KRX_FEE, 150_800, NXT_FEE, 20), 1),
        ("035720", "NXT->KRX", ts(T0 + 11 * S), ts(T0 + 12 * S), net(50_000, NXT_FEE, 50_200, KRX_FEE, 10), 1),
    ]
    got = [(r[0], r[1], r[2], r[3], r[4], r[7]) for r in table(res)]
    assert [g[:4] + g[5:] for g in got] == [e[:4] + e[5:] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[4] == pytest.approx(e[4], rel=1e-12)
    # the second window's visible qty is the NXT bid's 50 shares (KRX ask shows 500)
    assert list(res.windows["max_qty"]) == [300, 50, 100, 100]
    assert res.windows["best_net_bps"].iloc[1] == pytest.approx(expected[1][4] / 100_000 * 1e4, rel=1e-12)
    # 12 rows carry a quote field; the trade-only row is not an evaluation
    assert res.rows == 13 and res.evaluations == 12 and res.symbols == 3
    assert res.defaulted_markets == 2 and res.kosdaq_symbols == 1
    assert res.size_check == "applied" and res.fid41_meaning == "price+sizes"
    assert res.tax_year == 2026
    assert_same_windows(table(res), reference_scan(HAND_ROWS, "price+sizes", cfg, markets))


def test_hand_made_windows_depend_on_market_override_and_size_rule(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "day.parquet", HAND_ROWS)
    # KOSPI tax for 035720 (no universe entry): its B edge is gone; no override: 000660 opens at row 8
    cfg = cfg_with(min_visible=10, kosdaq_tax_2026=10)
    res = scan_recording(path, cfg, universe_markets={})
    rows = table(res)
    assert ("035720", "NXT->KRX") not in {(r[0], r[1]) for r in rows}
    assert [r[2] for r in rows if r[0] == "000660"] == [ts(T0 + 8 * S)]
    # without the size rule (1 share) the first 005930 window survives row 3 and runs to the crossed book
    res1 = scan_recording(path, cfg_with(min_visible=1), universe_markets={})
    first = [r for r in table(res1) if r[0] == "005930"]
    assert [(r[2], r[3], r[7]) for r in first] == [(ts(T0 + 1 * S), ts(T0 + 6 * S), 4)]
    assert first[0][6] == 300


def test_edge_exactly_at_the_threshold_is_eligible(tmp_path: Path) -> None:
    free = {"krx": {"broker_bps": 0.0, "regulatory_bps": 0.0}, "nxt": {"broker_bps": 0.0, "regulatory_bps": 0.0},
            "tax": {"KOSPI": {2026: 0}, "KOSDAQ": {2026: 0}}}
    cfg = load_config(None, overrides={"fees": free, "spread_engine": {"edge_rule": {"min_net_ticks_after_fees": 2}}})
    rows = [q(0, "005930", "KRX", 100_000, 99_900, 10, 10),
            q(1, "005930", "NXT", 100_300, 100_200, 10, 10),     # net = 200 = 2 ticks exactly: eligible
            q(2, "005930", "NXT", 100_200, 100_100),             # 1 tick: not
            q(3, "035420", "KRX", 1_999, 1_998, 10, 10),         # tick of the BUY price decides: 1 won
            q(4, "035420", "NXT", 2_010, 2_005, 10, 10)]         # sell 2,005 − buy 1,999 = 6 won ≥ 2 × 1
    res = scan_recording(write_recording(tmp_path / "eq.parquet", rows), cfg, universe_markets={})
    assert [(r[0], r[2], r[3], r[4]) for r in table(res)] == [
        ("005930", ts(T0 + 1 * S), ts(T0 + 2 * S), 200.0), ("035420", ts(T0 + 4 * S), "", 6.0)]


def test_window_still_open_at_end_of_file_has_empty_end(tmp_path: Path) -> None:
    rows = [q(0, "005930", "KRX", 100_000, 99_900, 10, 10), q(1, "005930", "NXT", 101_000, 100_900, 10, 10),
            q(2, "005930", "KRX", qa=20)]
    path = write_recording(tmp_path / "open.parquet", rows)
    res = scan_recording(path, cfg_with(), universe_markets={})
    assert table(res)[0][:4] == ("005930", "KRX->NXT", ts(T0 + 1 * S), "")
    assert res.end_row.tolist() == [-1]
    assert int(res.windows["updates"].iloc[0]) == 2
    out = tmp_path / "open.csv"
    res.to_csv(out)
    record = list(csv.DictReader(out.open()))[0]
    assert record["end"] == "" and record["start"] == ts(T0 + 1 * S)


# ------------------------------------------------------------------------------------------ sizes unknown

def price_only_rows(sizes: bool) -> list[dict[str, Any]]:
    """The user's files: 41/51 are best prices (equal to 27/28 where both are sent); ``sizes`` adds 61/71."""
    out = []
    for i in range(30):
        venue = ("KRX", "NXT")[i % 2]
        bid = 84_400 if venue == "KRX" else (85_000 if i % 6 == 1 else 84_400)
        row = {"timestamp": ts(T0 + i * 10 * MS), "symbol": "005930", "venue": venue, "real_type": QUOTE,
               "fid_41": bid + 100, "fid_51": bid, "fid_27": bid + 100, "fid_28": bid}
        if sizes:
            row.update(fid_61=100, fid_71=100)
        out.append(row)
    return out


def test_price_meaning_without_sizes_skips_size_check_and_says_so(tmp_path: Path, capsys: Any) -> None:
    cfg_text = "spread_engine:\n  edge_rule:\n    also_require_min_visible_qty: 1000\n"
    config = tmp_path / "cfg.yaml"
    config.write_text(cfg_text, encoding="utf-8")
    path = write_recording(tmp_path / "user.parquet", price_only_rows(sizes=False), engine="fastparquet")
    cfg = load_config(config)
    res = scan_recording(path, cfg, universe_markets={})
    assert res.fid41_meaning == "price" and res.size_check == "not applied"
    assert len(res.windows) == 5 and set(res.windows["max_qty"]) == {cfg.replay.assumed_visible_qty}
    assert_same_windows(table(res), reference_scan(price_only_rows(False), "price", cfg, {}))
    # the same prices with true sizes of 100 < 1000: the size rule applies and nothing is eligible
    sized = write_recording(tmp_path / "ours.parquet", price_only_rows(sizes=True))
    assert len(scan_recording(sized, cfg, universe_markets={}).windows) == 0

    assert scan_command(path, config) == 0
    out = capsys.readouterr().out
    assert "size check NOT applied" in out
    assert "PRICES" in out                                  # the detected fid_41 meaning is printed
    assert "windows: 5 (KRX->NXT 5, NXT->KRX 0)" in out


# ------------------------------------------------------------------------------------------ random days

SYMBOLS = {"005930": (84_400, 100), "035420": (9_870, 10), "000660": (250_500, 500)}


@st.composite
def random_day(draw: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """A small day: random quote/trade/trade-only/priority/auction rows, absent fields, crossed books."""
    meaning = draw(st.sampled_from(["price", "size", "price+sizes"]))
    engine = draw(st.sampled_from(["pyarrow", "fastparquet"]))
    n = draw(st.integers(1, 40))
    symbols = draw(st.sampled_from([["005930"], ["035420"], ["000660"], sorted(SYMBOLS)]))
    nxt_shift = draw(st.sampled_from([4, -4, 5, -5, 6, -6, 0, 2]))   # ticks NXT sits away from KRX
    t = T0
    rows = []
    for _ in range(n):
        t += draw(st.integers(0, 3)) * MS
        sym = draw(st.sampled_from(symbols))
        venue = draw(st.sampled_from(["KRX", "NXT"]))
        base, tick = SYMBOLS[sym]
        bid = base + tick * (draw(st.integers(-2, 2)) + (nxt_shift if venue == "NXT" else 0))
        ask = bid + tick * draw(st.sampled_from([1, 1, 2, 0, -1]))   # 0 locked, -1 crossed
        carry_ask, carry_bid = draw(st.sampled_from([(True, True), (True, True), (True, False), (False, True),
                                                     (False, False)]))
        qa, qb = draw(st.integers(0, 3000)), draw(st.integers(0, 3000))
        kind = draw(st.sampled_from(["quote"] * 5 + ["trade", "trade_only", "priority", "auction"]))
        row: dict[str, Any] = {"timestamp": ts(t), "symbol": sym, "venue": venue}
        a, b = (ask if carry_ask else 0), (bid if carry_bid else 0)
        if kind == "quote":
            row["real_type"] = QUOTE
            if meaning == "size":
                row.update(fid_27=a, fid_28=b, fid_41=qa if a else 0, fid_51=qb if b else 0)
            else:
                row.update(fid_41=a, fid_51=b, fid_27=a, fid_28=b)
                if meaning == "price+sizes":
                    row.update(fid_61=qa, fid_71=qb)
        elif kind == "trade":
            row.update(real_type=TRADE, fid_10=a or bid, fid_13=1000, fid_27=a, fid_28=b)
        elif kind == "trade_only":
            row.update(real_type=TRADE, fid_10=bid, fid_13=1000)
        elif kind == "priority":
            row.update(real_type=PRIORITY, fid_27=a, fid_28=b)
        else:
            row.update(real_type=EXPECTED, fid_10=bid)
        if meaning == "price+sizes":
            row.setdefault("fid_61", 0)
            row.setdefault("fid_71", 0)
        rows.append(row)
    return meaning, engine, rows


@settings(max_examples=120, deadline=None)
@given(day=random_day(), min_ticks=st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_visible=st.sampled_from([1, 200]),
       override=st.sampled_from([None, 0.0, 3.0]), kosdaq=st.booleans())
def test_random_days_match_the_reference(day: tuple[str, str, list[dict[str, Any]]], min_ticks: float,
                                         min_visible: int, override: float | None, kosdaq: bool) -> None:
    meaning, engine, rows = day
    cfg = cfg_with(min_ticks=min_ticks, min_visible=min_visible,
                   overrides={"035420": override} if override is not None else None, kosdaq_tax_2026=12.5)
    markets = {"035420": "KOSDAQ"} if kosdaq else {}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_recording(Path(tmp) / "day.parquet", rows, engine=engine)
        res = scan_recording(path, cfg, universe_markets=markets)
    carries_41 = any(r.get("fid_41") or r.get("fid_51") for r in rows)
    # a 'size' file whose fid_41/51 are all empty is read as prices without sizes (replay's detection)
    assert res.fid41_meaning == meaning or (meaning == "size" and not carries_41 and res.fid41_meaning == "price")
    want = reference_scan(rows, res.fid41_meaning, cfg, markets)
    event(f"windows: {min(len(want), 3)}{'+' if len(want) >= 3 else ''}")
    assert_same_windows(table(res), want)
    assert res.size_check == ("not applied" if res.fid41_meaning == "price" else "applied")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(0, 400), n_symbols=st.integers(1, 5))
def test_numba_kernel_equals_the_python_loop(seed: int, n: int, n_symbols: int) -> None:
    rng = np.random.default_rng(seed)
    base = rng.choice(np.array([1_990, 9_870, 49_950, 84_400]), n_symbols)
    ticks = tick_size(base)
    code_idx = rng.integers(0, n_symbols, n).astype(np.int32)
    venue = rng.integers(0, 2, n).astype(np.uint8)
    bid = (base[code_idx] + ticks[code_idx] * rng.integers(-5, 6, n)).astype(np.int64)
    ask = (bid + ticks[code_idx] * rng.integers(-1, 3, n)).astype(np.int64)
    ask = np.where(rng.random(n) < 0.2, 0, ask)
    bid = np.where(rng.random(n) < 0.2, 0, bid)
    aq = np.where(rng.random(n) < 0.3, 0, rng.integers(1, 500, n)).astype(np.int64)
    bq = np.where(rng.random(n) < 0.3, 0, rng.integers(1, 500, n)).astype(np.int64)
    args = (code_idx, venue, ask, bid, aq, bq, ask > 0, bid > 0, aq > 0, bq > 0, rng.random(n) < 0.8,
            n_symbols, KRX_FEE, NXT_FEE, rng.choice([15.0, 20.0], n_symbols),
            rng.choice([0.0, 1.0, 2.0], n_symbols), int(rng.integers(1, 100)))
    wi_nb, wf_nb, ev_nb = scan_kernel(*args)
    wi_py, wf_py, ev_py = scan_kernel_py(*args)
    assert ev_nb == ev_py
    o_nb, o_py = np.lexsort((wi_nb[:, 1], wi_nb[:, 2])), np.lexsort((wi_py[:, 1], wi_py[:, 2]))
    assert np.array_equal(wi_nb[o_nb], wi_py[o_py])
    assert np.array_equal(wf_nb[o_nb], wf_py[o_py])


# ------------------------------------------------------------------------------------------ the command

def toggling_rows(n_windows: int) -> list[dict[str, Any]]:
    """One symbol whose NXT bid jumps up and back ``n_windows`` times: that many KRX->NXT windows."""
    rows = [q(0, "005930", "KRX", 100_000, 99_900, 10, 10), q(0, "005930", "NXT", 100_100, 100_000, 10, 10)]
    for k in range(n_windows):
        rows.append(q(1 + 2 * k, "005930", "NXT", 100_700, 100_600))
        rows.append(q(2 + 2 * k, "005930", "NXT", 100_100, 100_000))
    return rows


def write_config(tmp_path: Path) -> Path:
    universe = tmp_path / "universe.csv"
    universe.write_text("code,market\n005930,KOSPI\n035720,KOSDAQ\n", encoding="utf-8")
    config = tmp_path / "cfg.yaml"
    config.write_text(f"symbols:\n  universe_file: {universe}\n", encoding="utf-8")
    return config


def test_scan_command_writes_the_csv(tmp_path: Path, capsys: Any) -> None:
    path = write_recording(tmp_path / "day.parquet", toggling_rows(3))
    out_csv = tmp_path / "windows.csv"
    assert scan_command(path, write_config(tmp_path), out_csv) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    assert str(out_csv) in printed.out
    assert "size check applied" in printed.out
    assert "windows: 3 (KRX->NXT 3, NXT->KRX 0)" in printed.out
    assert "top 3 windows by best_net_bps" in printed.out
    text = out_csv.read_text(encoding="utf-8")
    assert text.splitlines()[0] == HEADER
    records = list(csv.DictReader(io.StringIO(text)))
    assert [(r["symbol"], r["direction"], r["start"], r["end"], r["updates"], r["max_qty"]) for r in records] == [
        ("005930", "KRX->NXT", ts(T0 + (1 + 2 * k) * S), ts(T0 + (2 + 2 * k) * S), "1", "10") for k in range(3)]
    expected = net(100_000, KRX_FEE, 100_600, NXT_FEE, 20)
    assert all(float(r["best_net_krw"]) == pytest.approx(expected, abs=1e-6) for r in records)
    assert all(float(r["best_net_bps"]) == pytest.approx(expected / 10, abs=1e-6) for r in records)


def test_scan_command_without_out_prints_the_first_20_windows(tmp_path: Path, capsys: Any) -> None:
    path = write_recording(tmp_path / "day.parquet", toggling_rows(25))
    assert scan_command(path, write_config(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "first 20 of 25 windows" in out
    listed = out.split("first 20 of 25 windows", 1)[1]
    assert listed.count("KRX->NXT") == 20
    assert "markets: 1 symbol from the universe file (0 KOSDAQ), 0 not in it taken as KOSPI" in out


def test_scan_command_with_no_window_exits_0(tmp_path: Path, capsys: Any) -> None:
    path = write_recording(tmp_path / "day.parquet", toggling_rows(0))
    out_csv = tmp_path / "w.csv"
    assert scan_command(path, write_config(tmp_path), out_csv) == 0
    assert "windows: 0" in capsys.readouterr().out
    assert out_csv.read_text(encoding="utf-8").splitlines() == [HEADER]


@pytest.mark.parametrize("problem", ["garbage", "missing", "bad_column", "bad_config", "bad_universe"])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: Any, problem: str) -> None:
    good = write_recording(tmp_path / "good.parquet", toggling_rows(1))
    config = write_config(tmp_path)
    path: Path = good
    if problem == "garbage":
        path = tmp_path / "garbage.parquet"
        path.write_bytes(b"this is not parquet\n" * 10)
    elif problem == "missing":
        path = tmp_path / "nope.parquet"
    elif problem == "bad_column":
        df = pd.read_parquet(good)
        df.loc[2, "venue"] = "NYSE"
        path = write_recording(tmp_path / "bad.parquet", df, coerce=False)
    elif problem == "bad_config":
        config.write_text("spread_engine:\n  edge_rule:\n    min_net_ticks_after_fees: -1\n", encoding="utf-8")
    else:
        (tmp_path / "universe.csv").write_text("code,market\n005930,NYSE\n12,KOSPI\n", encoding="utf-8")
    assert scan_command(path, config, tmp_path / "w.csv") == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert captured.out == ""
    assert not (tmp_path / "w.csv").exists()
    key = {"garbage": "garbage.parquet", "missing": "nope.parquet", "bad_column": "venue",
           "bad_config": "min_net_ticks_after_fees", "bad_universe": "universe_file"}[problem]
    assert key in lines[0]
