"""Spread-kernel benchmark (SPEC §9): one evaluation of the universe, numba kernel vs the plain Python loop.

Run ``python -m bench.edge_kernel`` (or ``python bench/edge_kernel.py``) from the repository root. It builds
seeded, realistic L1 books for 200, 800 and 8,000 symbols, warms the kernel up, then times both
implementations side by side in this one process (median over many repeats, ``time.perf_counter_ns``) and
prints one JSON line per size::

    {"symbols": 800, "numba_us": 9.1, "python_us": 4100.0, "ratio": 450.5}

and a final line ``{"target": {"symbols": 800, "numba_us_max": 20, "ratio_min": 50}, "met": true}``.
``--quick`` uses fewer repeats. Both implementations' outputs are compared before timing; a mismatch exits 1.
"""
from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import click
import numpy as np

from core._jit import HAVE_NUMBA
from core.edge import evaluate_edges, evaluate_edges_py, warm_up
from core.ticks import round_to_tick, shift_ticks

SIZES = (200, 800, 8_000)
TARGET = {"symbols": 800, "numba_us_max": 20, "ratio_min": 50}
KRX_FEE_BPS = 1.5
NXT_FEE_BPS = 1.45 + 0.31833
NOW_NS = 1_700_000_000_000_000_000


def make_books(n_symbols: int, seed: int = 7) -> dict[str, Any]:
    """Seeded L1 books for ``n_symbols``: prices KRW on the tick grid, visible qty in shares, engine-clock ns.

    Prices are log-uniform from 1,000 to 1,000,000 KRW; KRX spreads of 1–3 ticks; NXT mostly within a tick
    of KRX with 5% dislocations of 2–6 ticks; sizes log-normal with 5% empty levels; 1% of NXT books
    without a quote (price 0), 0.5% locked; 5% of symbols in cooldown.
    """
    rng = np.random.default_rng(seed)
    n = n_symbols
    base = round_to_tick(np.exp(rng.uniform(np.log(1_000), np.log(1_000_000), n)), "down")
    krx_bid = base
    krx_ask = shift_ticks(krx_bid, rng.choice([1, 2, 3], n, p=[0.8, 0.15, 0.05]))
    offset = rng.choice([-1, 0, 1], n, p=[0.25, 0.5, 0.25])
    dislocated = rng.random(n) < 0.05
    offset = np.where(dislocated, rng.integers(2, 7, n) * rng.choice([-1, 1], n), offset)
    nxt_bid = shift_ticks(krx_bid, offset)
    nxt_ask = shift_ticks(nxt_bid, rng.choice([1, 2, 3], n, p=[0.7, 0.2, 0.1]))
    no_quote = rng.random(n) < 0.01
    nxt_bid = np.where(no_quote, 0, nxt_bid)
    nxt_ask = np.where(no_quote, 0, nxt_ask)
    locked = rng.random(n) < 0.005
    krx_ask = np.where(locked, krx_bid, krx_ask)

    def sizes() -> np.ndarray:
        q = np.rint(rng.lognormal(mean=5.0, sigma=1.5, size=n)).astype(np.int64)
        return np.where(rng.random(n) < 0.05, 0, q)

    return {
        "krx_bid": krx_bid.astype(np.int64), "krx_ask": krx_ask.astype(np.int64),
        "krx_bid_qty": sizes(), "krx_ask_qty": sizes(),
        "nxt_bid": nxt_bid.astype(np.int64), "nxt_ask": nxt_ask.astype(np.int64),
        "nxt_bid_qty": sizes(), "nxt_ask_qty": sizes(),
        "tax_bps": np.full(n, 20.0),
        "min_net_ticks": np.ones(n),
        "cooldown_until_ns": np.where(rng.random(n) < 0.05, NOW_NS + 50_000_000, 0).astype(np.int64),
    }


def _args(books: dict[str, Any], out: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
    return (books["krx_bid"], books["krx_ask"], books["krx_bid_qty"], books["krx_ask_qty"],
            books["nxt_bid"], books["nxt_ask"], books["nxt_bid_qty"], books["nxt_ask_qty"],
            KRX_FEE_BPS, NXT_FEE_BPS, books["tax_bps"], books["min_net_ticks"], 1,
            books["cooldown_until_ns"], NOW_NS, *out)


def _outputs(n: int) -> tuple[np.ndarray, ...]:
    return (np.zeros(n, np.int8), np.zeros(n), np.zeros(n), np.zeros(n, np.bool_))


def median_us(fn: Callable[..., Any], args: tuple[Any, ...], repeats: int) -> float:
    """Median wall time of one ``fn(*args)`` call in µs over ``repeats`` calls (GC paused while timing)."""
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter_ns()
            fn(*args)
            samples.append(time.perf_counter_ns() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return statistics.median(samples) / 1_000.0


def check_agreement(books: dict[str, Any]) -> None:
    """Exit 1 if the kernel and the Python reference disagree on ``books``."""
    n = len(books["krx_bid"])
    out_nb, out_py = _outputs(n), _outputs(n)
    c_nb = evaluate_edges(*_args(books, out_nb))
    c_py = evaluate_edges_py(*_args(books, out_py))
    same = (c_nb == c_py and np.array_equal(out_nb[0], out_py[0]) and np.array_equal(out_nb[3], out_py[3])
            and np.allclose(out_nb[1], out_py[1], rtol=1e-12, atol=0)
            and np.allclose(out_nb[2], out_py[2], rtol=1e-12, atol=0))
    if not same:
        print(f"kernel and Python reference disagree at {n} symbols", file=sys.stderr)
        sys.exit(1)


@click.command()
@click.option("--quick", is_flag=True, help="Fewer repeats (a few seconds in all).")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the synthetic books.")
def main(quick: bool, seed: int) -> None:
    """The numba edge kernel against the plain loop, side by side, JSON lines."""

    if not HAVE_NUMBA:
        print("numba is not installed: 'numba_us' times the same kernel running as plain Python",
              file=sys.stderr)
    warm_up()
    kernel_repeats = 300 if quick else 3_000
    python_budget_s = 0.15 if quick else 1.5   # per size, for the slow loop
    results = {}
    for n in SIZES:
        books = make_books(n, seed=seed)
        check_agreement(books)
        out = _outputs(n)
        call_args = _args(books, out)
        evaluate_edges(*call_args)  # warm caches for this size
        numba_us = median_us(evaluate_edges, call_args, kernel_repeats)
        t0 = time.perf_counter()
        evaluate_edges_py(*call_args)
        one_py_s = time.perf_counter() - t0
        py_repeats = max(3, min(50, int(python_budget_s / max(one_py_s, 1e-9))))
        python_us = median_us(evaluate_edges_py, call_args, py_repeats)
        results[n] = (numba_us, python_us)
        print(json.dumps({"symbols": n, "numba_us": round(numba_us, 2), "python_us": round(python_us, 1),
                          "ratio": round(python_us / numba_us, 1)}), flush=True)
    numba_us, python_us = results[TARGET["symbols"]]
    met = numba_us <= TARGET["numba_us_max"] and python_us / numba_us >= TARGET["ratio_min"]
    print(json.dumps({"target": TARGET, "met": bool(met)}), flush=True)


if __name__ == "__main__":
    main()
