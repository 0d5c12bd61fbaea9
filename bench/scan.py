"""Opportunity-scan benchmark (SPEC §9: ``arbctl scan`` ≥ 5 million L1 rows/s after load).

Run ``python -m bench.scan`` (or ``python bench/scan.py``) from the repository root. It

1. generates a seeded synthetic recorded day in memory as decoded columns (default 4,000,000 rows, 800
   symbols, both venues: per-symbol random walks on the tick grid, 1–2-tick spreads, transient NXT
   dislocations of 2–6 ticks, rows carrying only one side, trade-only rows, missing sizes);
2. checks that the numba kernel (:func:`core.scan.scan_kernel`) and the plain-Python loop
   (:func:`core.scan.scan_kernel_py`) find identical windows on a slice, then times both side by side in this
   one process — the kernel on all rows (best of 3), the Python loop on the slice — and prints
   ``{"rows": n, "python_rows": m, "numba_rows_per_s": ..., "python_rows_per_s": ..., "ratio": ..., ...}``;
3. writes a smaller day (default 1,000,000 rows) as a seed 004 + sizes Parquet file in a temporary directory
   and times the full path :func:`tools.scan_recording.scan_recording` (load and decode, kernel, window table):
   ``{"full_path": {"rows": ..., "load_s": ..., "scan_s": ..., "table_s": ..., "rows_per_s_after_load": ...,
   "end_to_end_rows_per_s": ...}}``;
4. prints ``{"target_rows_per_s": 5000000, "met": bool}`` (the kernel rate on the big day and the after-load
   rate of the full path must both reach it).

``--quick`` uses smaller sizes. Total runtime is well under a minute on 2 cores (the first run in a fresh
environment also compiles the kernel, a few seconds, then numba's on-disk cache serves later runs).
"""
from __future__ import annotations

import datetime as dt
import gc
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core._jit import HAVE_NUMBA
from core.scan import scan_kernel, scan_kernel_py, warm_up
from core.ticks import price_at_tick_index, round_to_tick, tick_index
from tools.scan_recording import scan_recording

TARGET_ROWS_PER_S = 5_000_000
KRX_FEE_BPS = 1.5
NXT_FEE_BPS = 1.45 + 0.31833
TAX_BPS = 20.0
T0_NS = 1_773_100_800_000_000_000       # 2026-03-10 09:00:00 Asia/Seoul (a Tuesday, tax year 2026)
T0_DATE = dt.date(2026, 3, 10)
KST_OFFSET_NS = 9 * 3600 * 1_000_000_000


def make_day(n_rows: int, n_symbols: int = 800, seed: int = 7) -> dict[str, np.ndarray]:
    """A seeded synthetic day as decoded columns (the shape :meth:`DecodedRecording.columns` gives).

    Returns arrays of length ``n_rows`` in time order: ``t_ns`` (epoch ns, ~20,000 rows/s from 09:00 KST),
    ``code_idx`` int32, ``venue`` uint8 (0 KRX, 1 NXT), ``real_type`` uint8 (0 book, 1 trade), ``ask``/``bid``
    KRW int64 (0 = not carried), ``ask_qty``/``bid_qty`` shares int64 (0 = not carried), ``last`` KRW int64,
    ``cum_volume`` int64, and the ``has_*`` flags; plus ``base`` (KRW per symbol).

    Prices: per-symbol random walks of the bid in ticks (log-uniform 2,000–300,000 KRW start), spreads of 1–2
    ticks; 0.4 % of NXT rows are dislocated by ±2–6 ticks for that update (the next NXT row of the symbol
    heals it). 8 % of rows are trade prints without best ask/bid (trade-only), 6 % carry only one side, 4 %
    carry no sizes.
    """
    rng = np.random.default_rng(seed)
    n = int(n_rows)
    weights = rng.pareto(1.2, n_symbols) + 1.0           # some symbols are much busier than others
    code_idx = rng.choice(n_symbols, size=n, p=weights / weights.sum()).astype(np.int32)
    venue = (rng.random(n) < 0.45).astype(np.uint8)
    base = round_to_tick(np.exp(rng.uniform(np.log(2_000), np.log(300_000), n_symbols)), "down")
    base_idx = tick_index(base)

    # Per-symbol random walk of the bid's grid index: cumulative steps within each symbol, in row order.
    steps = rng.choice(np.array([-1, 0, 1], dtype=np.int64), size=n, p=[0.05, 0.9, 0.05])
    order = np.argsort(code_idx, kind="stable")
    cs = np.cumsum(steps[order])
    sorted_sym = code_idx[order]
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_sym[1:] != sorted_sym[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    walk_sorted = cs - cs[group_start] + steps[order][group_start]
    walk = np.empty(n, dtype=np.int64)
    walk[order] = walk_sorted
    bid_idx = np.maximum(base_idx[code_idx] + walk, 10)
    nxt = venue == 1
    dislocated = nxt & (rng.random(n) < 0.004)
    bid_idx = np.where(dislocated, bid_idx + rng.integers(2, 7, n) * rng.choice([-1, 1], n), bid_idx)
    bid_idx = np.maximum(bid_idx, 10)
    spread = rng.choice(np.array([1, 2], dtype=np.int64), size=n, p=[0.8, 0.2])
    bid = price_at_tick_index(bid_idx)
    ask = price_at_tick_index(bid_idx + spread)
    ask_qty = np.maximum(1, rng.lognormal(5.5, 1.2, n)).astype(np.int64)
    bid_qty = np.maximum(1, rng.lognormal(5.5, 1.2, n)).astype(np.int64)

    u = rng.random(n)
    trade = u < 0.08
    only_ask = (u >= 0.08) & (u < 0.11)
    only_bid = (u >= 0.11) & (u < 0.14)
    no_sizes = (u >= 0.14) & (u < 0.18)
    real_type = trade.astype(np.uint8)
    last = np.where(trade, np.where(rng.random(n) < 0.5, ask, bid), 0)
    cum_volume = np.where(trade, np.cumsum(rng.integers(1, 100, n)), 0)
    ask = np.where(trade | only_bid, 0, ask)
    bid = np.where(trade | only_ask, 0, bid)
    ask_qty = np.where(trade | only_bid | no_sizes, 0, ask_qty)
    bid_qty = np.where(trade | only_ask | no_sizes, 0, bid_qty)
    t_ns = T0_NS + np.sort(rng.integers(0, n * 50_000, n))   # ~20,000 rows/s
    return {
        "t_ns": t_ns.astype(np.int64), "code_idx": code_idx, "venue": venue, "real_type": real_type,
        "ask": ask.astype(np.int64), "bid": bid.astype(np.int64), "ask_qty": ask_qty, "bid_qty": bid_qty,
        "last": last.astype(np.int64), "cum_volume": cum_volume.astype(np.int64),
        "has_ask": ask > 0, "has_bid": bid > 0, "has_ask_qty": ask_qty > 0, "has_bid_qty": bid_qty > 0,
        "base": base,
    }


def kernel_args(day: dict[str, np.ndarray], n_symbols: int, stop: int | None = None) -> tuple[Any, ...]:
    """Arguments of :func:`scan_kernel` for the first ``stop`` rows of ``day`` (all KOSPI, 1 tick, 1 share)."""
    s = slice(0, stop)
    n = day["code_idx"][s].shape[0]
    return (day["code_idx"][s], day["venue"][s], day["ask"][s], day["bid"][s], day["ask_qty"][s],
            day["bid_qty"][s], day["has_ask"][s], day["has_bid"][s], day["has_ask_qty"][s],
            day["has_bid_qty"][s], np.ones(n, dtype=np.bool_), n_symbols, KRX_FEE_BPS, NXT_FEE_BPS,
            np.full(n_symbols, TAX_BPS), np.ones(n_symbols), 1)


def write_day(path: Path, day: dict[str, np.ndarray], n_symbols: int) -> Path:
    """Write ``day`` as one recorder file: seed 004's columns + fid_61/fid_71 (41/51 = prices, 61/71 sizes)."""
    n = day["t_ns"].shape[0]
    codes = np.array([f"{100000 + 10 * i:06d}" for i in range(n_symbols)], dtype=object)
    symbol = codes[day["code_idx"]]
    nxt = day["venue"] == 1
    local = (day["t_ns"] + KST_OFFSET_NS).astype("datetime64[ns]")
    ts = np.datetime_as_string(local, unit="us")
    trade = day["real_type"] == 1
    zeros = np.zeros(n, dtype=np.int64)
    table = pa.table({
        "timestamp": pa.array(ts.astype(object), pa.string()),
        "symbol": pa.array(symbol, pa.string()),
        "venue": pa.array(np.where(nxt, "NXT", "KRX").astype(object), pa.string()),
        "real_type": pa.array(np.where(trade, "주식체결", "주식호가잔량").astype(object), pa.string()),
        "fid_10": day["last"], "fid_11": zeros, "fid_12": np.zeros(n), "fid_13": day["cum_volume"],
        "fid_27": zeros, "fid_28": zeros, "fid_41": day["ask"], "fid_51": day["bid"],
        "raw_code": pa.array(np.where(nxt, symbol + "_NX", symbol), pa.string()),
        "fid_61": day["ask_qty"], "fid_71": day["bid_qty"],
    })
    pq.write_table(table, path)
    return path


def _best_of(fn: Any, args: tuple[Any, ...], repeats: int) -> tuple[float, Any]:
    best = float("inf")
    out = None
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fn(*args)
            best = min(best, time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best, out


def _same(a: tuple[np.ndarray, np.ndarray, int], b: tuple[np.ndarray, np.ndarray, int]) -> bool:
    def key(w: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
        return np.lexsort((w[0][:, 1], w[0][:, 2]))
    ka, kb = key(a), key(b)
    return (a[2] == b[2] and np.array_equal(a[0][ka], b[0][kb]) and np.array_equal(a[1][ka], b[1][kb]))


@click.command()
@click.option("--rows", type=int, default=4_000_000, show_default=True,
              help="Rows of the in-memory day (kernel timing).")
@click.option("--python-rows", "python_rows", type=int, default=200_000, show_default=True,
              help="Rows timed with the Python loop.")
@click.option("--file-rows", "file_rows", type=int, default=1_000_000, show_default=True,
              help="Rows of the Parquet day (full path).")
@click.option("--symbols", type=int, default=800, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--quick", is_flag=True, help="Smaller sizes (a few seconds).")
def main(rows: int, python_rows: int, file_rows: int, symbols: int, seed: int, quick: bool) -> None:
    """Scan throughput (numba kernel vs plain loop, and the full path from Parquet), JSON lines.

    Exit code 1 when the two implementations disagree.
    """
    args = _Args(rows, python_rows, file_rows, symbols, seed)
    if quick:
        args.rows, args.python_rows, args.file_rows = 500_000, 50_000, 200_000
    if not HAVE_NUMBA:
        print("numba is not installed: 'numba_rows_per_s' times the same kernel running as plain Python",
              file=sys.stderr)

    compile_s = warm_up()
    t0 = time.perf_counter()
    day = make_day(args.rows, args.symbols, args.seed)
    gen_s = time.perf_counter() - t0
    n_py = min(args.python_rows, args.rows)

    # Agreement on the slice, then side-by-side timing.
    py_s, py_out = _best_of(scan_kernel_py, kernel_args(day, args.symbols, n_py), 1)
    nb_slice = scan_kernel(*kernel_args(day, args.symbols, n_py))
    if not _same(nb_slice, py_out):
        print(f"kernel and Python loop disagree on the first {n_py:,} rows", file=sys.stderr)
        sys.exit(1)
    nb_s, nb_out = _best_of(scan_kernel, kernel_args(day, args.symbols), 3)
    numba_rate = args.rows / nb_s
    python_rate = n_py / py_s
    print(json.dumps({"rows": args.rows, "symbols": args.symbols, "python_rows": n_py,
                      "numba_rows_per_s": round(numba_rate), "python_rows_per_s": round(python_rate),
                      "ratio": round(numba_rate / python_rate, 1), "numba_s": round(nb_s, 4),
                      "python_s": round(py_s, 3), "windows": int(len(nb_out[0])), "evaluations": int(nb_out[2]),
                      "generate_s": round(gen_s, 2), "warm_up_s": round(compile_s, 2)}), flush=True)

    # The full path from a Parquet file.
    from config.loader import load_config

    cfg = load_config(None)
    from core.costs import settlement_date

    t0 = time.perf_counter()
    settlement_date(T0_DATE)          # the XKRX calendar loads once per process; not part of the scan rate
    calendar_s = time.perf_counter() - t0
    file_day = make_day(args.file_rows, args.symbols, args.seed + 1)
    with tempfile.TemporaryDirectory(prefix="bench_scan_") as tmp:
        path = write_day(Path(tmp) / "market_data_20260310.parquet", file_day, args.symbols)
        t0 = time.perf_counter()
        result = scan_recording(path, cfg, universe_markets={})
        total_s = time.perf_counter() - t0
    full_rate = result.rows_per_s
    print(json.dumps({"full_path": {
        "rows": result.rows, "windows": int(len(result.windows)), "load_s": round(result.load_s, 3),
        "scan_s": round(result.scan_s, 4), "table_s": round(result.finish_s, 3), "total_s": round(total_s, 3),
        "rows_per_s_after_load": round(full_rate), "end_to_end_rows_per_s": round(result.rows / total_s),
        "calendar_load_s": round(calendar_s, 2)}}),
        flush=True)
    met = numba_rate >= TARGET_ROWS_PER_S and full_rate >= TARGET_ROWS_PER_S
    print(json.dumps({"target_rows_per_s": TARGET_ROWS_PER_S, "met": bool(met)}), flush=True)


@dataclass
class _Args:
    rows: int
    python_rows: int
    file_rows: int
    symbols: int
    seed: int


if __name__ == "__main__":
    main()
