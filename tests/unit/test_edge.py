"""The spread kernel (SPEC §3): hand-built books, kernel ≡ Python reference on random books, and no allocation."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core._jit import HAVE_NUMBA
from core.costs import CostModel
from core.edge import (
    DIRECTION_A,
    DIRECTION_B,
    DIRECTION_NONE,
    EdgeKernel,
    evaluate_edges,
    evaluate_edges_py,
    warm_up,
)
from core.ticks import price_at_tick_index, round_to_tick, tick_index, tick_size

REPO_ROOT = Path(__file__).resolve().parents[2]
KRX_FEE_BPS = 1.5
NXT_FEE_BPS = 1.45 + 0.31833
NOW_NS = 10**18

FIELDS = ("krx_bid", "krx_ask", "krx_bid_qty", "krx_ask_qty", "nxt_bid", "nxt_ask", "nxt_bid_qty", "nxt_ask_qty")


def make_books(rows):
    """rows: dicts with the 8 book fields and optional tax_bps, min_net_ticks, cooldown_until_ns."""
    books = {f: np.array([r[f] for r in rows], dtype=np.int64) for f in FIELDS}
    books["tax_bps"] = np.array([r.get("tax_bps", 20.0) for r in rows], dtype=np.float64)
    books["min_net_ticks"] = np.array([r.get("min_net_ticks", 1.0) for r in rows], dtype=np.float64)
    books["cooldown_until_ns"] = np.array([r.get("cooldown_until_ns", 0) for r in rows], dtype=np.int64)
    return books


def run(fn, books, krx_fee_bps=KRX_FEE_BPS, nxt_fee_bps=NXT_FEE_BPS, slice_qty=1, now_ns=NOW_NS):
    n = len(books["krx_bid"])
    out = (np.full(n, 99, dtype=np.int8), np.full(n, np.nan), np.full(n, np.nan), np.ones(n, dtype=np.bool_))
    count = fn(books["krx_bid"], books["krx_ask"], books["krx_bid_qty"], books["krx_ask_qty"],
               books["nxt_bid"], books["nxt_ask"], books["nxt_bid_qty"], books["nxt_ask_qty"],
               krx_fee_bps, nxt_fee_bps, books["tax_bps"], books["min_net_ticks"], slice_qty,
               books["cooldown_until_ns"], now_ns, *out)
    return count, out


def book(kb, ka, nb, na, qty=10, **extra):
    row = dict(krx_bid=kb, krx_ask=ka, nxt_bid=nb, nxt_ask=na,
               krx_bid_qty=qty, krx_ask_qty=qty, nxt_bid_qty=qty, nxt_ask_qty=qty)
    row.update(extra)
    return row


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warm_up()


# ------------------------------------------------------------------------------------------ hand-built books

@pytest.mark.parametrize("fn", [evaluate_edges, evaluate_edges_py], ids=["numba", "python"])
def test_worked_books(fn):
    rows = [
        # 0: A, buy KRX 75,000 / sell NXT 75,300: net 124.8344751 ≥ 100 (see test_costs) → eligible
        book(74_900, 75_000, 75_300, 75_400),
        # 1: A at 75,200: net 25.0521584 < 100 → direction A reported, not eligible
        book(74_900, 75_000, 75_200, 75_300),
        # 2: B, buy NXT 30,000 / sell KRX 30,150 (KOSDAQ 2026): net 79.87251 ≥ 50 → eligible
        book(30_150, 30_200, 29_950, 30_000),
        # 3: same as 0 but the KRX ask shows 0 shares → not eligible
        book(74_900, 75_000, 75_300, 75_400, krx_ask_qty=0),
        # 4: same as 0 but the NXT bid shows 0 shares → not eligible
        book(74_900, 75_000, 75_300, 75_400, nxt_bid_qty=0),
        # 5: same as 0 but in cooldown until one ns after now → not eligible
        book(74_900, 75_000, 75_300, 75_400, cooldown_until_ns=NOW_NS + 1),
        # 6: cooldown ending exactly now → eligible
        book(74_900, 75_000, 75_300, 75_400, cooldown_until_ns=NOW_NS),
        # 7: KRX locked (bid == ask) → none
        book(75_000, 75_000, 75_300, 75_400),
        # 8: NXT crossed (bid > ask) → none
        book(74_900, 75_000, 75_400, 75_300),
        # 9: a zero price → none
        book(0, 75_000, 75_300, 75_400),
        # 10: a negative price → none
        book(74_900, 75_000, 75_300, -75_400),
        # 11: the same book at a 2-tick threshold → not eligible (124.83 < 200)
        book(74_900, 75_000, 75_300, 75_400, min_net_ticks=2.0),
        # 12: identical books on both venues → nets tie; A wins the tie
        book(74_900, 75_000, 74_900, 75_000),
    ]
    count, (direction, net, bps, eligible) = run(fn, make_books(rows))
    np.testing.assert_array_equal(direction, [1, 1, 2, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(eligible, [True, False, True, False, False, False, True,
                                             False, False, False, False, False, False])
    assert count == 3
    np.testing.assert_allclose(net[[0, 1, 2]], [124.8344751, 25.0521584, 79.87251], rtol=0, atol=1e-9)
    np.testing.assert_allclose(bps[0], 124.8344751 / 75_000 * 1e4, rtol=1e-12)
    np.testing.assert_allclose(bps[2], 79.87251 / 30_000 * 1e4, rtol=1e-12)
    np.testing.assert_array_equal(net[7:11], 0.0)
    np.testing.assert_array_equal(bps[7:11], 0.0)


@pytest.mark.parametrize("fn", [evaluate_edges, evaluate_edges_py], ids=["numba", "python"])
def test_slice_qty_applies_to_both_legs(fn):
    rows = [book(74_900, 75_000, 75_300, 75_400, qty=5),
            book(74_900, 75_000, 75_300, 75_400, qty=4)]
    count, (_, _, _, eligible) = run(fn, make_books(rows), slice_qty=5)
    assert count == 1
    np.testing.assert_array_equal(eligible, [True, False])
    # the other direction's sizes do not matter for A
    rows = [book(74_900, 75_000, 75_300, 75_400, qty=5, krx_bid_qty=0, nxt_ask_qty=0)]
    assert run(fn, make_books(rows), slice_qty=5)[0] == 1


@pytest.mark.parametrize("fn", [evaluate_edges, evaluate_edges_py], ids=["numba", "python"])
def test_threshold_uses_the_buy_price_tick_and_is_inclusive(fn):
    # No costs: net = spread. Buy KRX 1,999 (tick 1), sell NXT 2,000: 1 KRW = 1 tick of the buy price → eligible.
    # Buy NXT 2,000 (tick 5), sell KRX 2,004: 4 KRW < 5 → not eligible at 1 tick, eligible at 0.8.
    rows = [book(1_998, 1_999, 2_000, 2_005, tax_bps=0.0),
            book(2_004, 2_005, 1_995, 2_000, tax_bps=0.0),
            book(2_004, 2_005, 1_995, 2_000, tax_bps=0.0, min_net_ticks=0.8)]
    count, (direction, net, _, eligible) = run(fn, make_books(rows), krx_fee_bps=0.0, nxt_fee_bps=0.0)
    np.testing.assert_array_equal(direction, [DIRECTION_A, DIRECTION_B, DIRECTION_B])
    np.testing.assert_array_equal(net, [1.0, 4.0, 4.0])
    np.testing.assert_array_equal(eligible, [True, False, True])
    assert count == 2


@pytest.mark.parametrize("fn", [evaluate_edges, evaluate_edges_py], ids=["numba", "python"])
def test_empty_universe_and_length_mismatch(fn):
    count, out = run(fn, make_books([]))
    assert count == 0 and all(len(a) == 0 for a in out)
    books = make_books([book(74_900, 75_000, 75_300, 75_400)] * 3)
    books["nxt_bid"] = books["nxt_bid"][:2]
    with pytest.raises(ValueError, match="same length"):
        run(fn, books)


def test_one_tick_spread_at_50000_never_eligible_in_2026():
    rows = [book(49_900, 50_000, 50_100, 50_200, min_net_ticks=m) for m in (0.0, 0.5, 1.0)]
    rows += [book(50_100, 50_200, 49_900, 50_000, min_net_ticks=m) for m in (0.0, 0.5, 1.0)]
    count, (direction, net, _, eligible) = run(evaluate_edges, make_books(rows))
    assert count == 0 and not eligible.any()
    assert (net < 0).all()
    np.testing.assert_array_equal(direction, [1, 1, 1, 2, 2, 2])


# ------------------------------------------------------------------------------------ random books (property)

BOUNDARY_PRICES = [1, 2, 1_999, 2_000, 2_005, 4_995, 5_000, 5_010, 19_990, 20_000, 49_950, 50_000,
                   199_900, 200_000, 499_500, 500_000, 501_000]
HUGE_PRICE = 10**13


def _shift(price, n_ticks):
    idx = tick_index(price) + n_ticks
    return price_at_tick_index(idx) if idx >= 1 else idx - 1  # below the grid: 0 or negative


@st.composite
def symbol_rows(draw):
    kind = draw(st.sampled_from(["near", "near", "near", "raw"]))
    if kind == "near":  # books a few ticks apart around a base price: eligible, locked, crossed all occur
        base = draw(st.one_of(
            st.sampled_from(BOUNDARY_PRICES),
            st.integers(min_value=1, max_value=3_000_000).map(lambda p: round_to_tick(p, "down")),
            st.just(HUGE_PRICE)))
        kb = base
        ka = _shift(kb, draw(st.integers(-1, 3)))
        nb = _shift(kb, draw(st.integers(-8, 8)))
        na = _shift(nb, draw(st.integers(-1, 3))) if nb > 0 else draw(st.integers(-2, 5))
    else:  # anything, including zero, negative, off-grid and huge prices
        price = st.one_of(st.integers(-3, 3), st.sampled_from(BOUNDARY_PRICES),
                          st.integers(1, 1_000_000), st.integers(10**9, HUGE_PRICE))
        kb, ka, nb, na = (draw(price) for _ in range(4))
    qty = st.one_of(st.integers(0, 3), st.just(10**9))
    return dict(krx_bid=kb, krx_ask=ka, nxt_bid=nb, nxt_ask=na,
                krx_bid_qty=draw(qty), krx_ask_qty=draw(qty), nxt_bid_qty=draw(qty), nxt_ask_qty=draw(qty),
                tax_bps=draw(st.sampled_from([0.0, 15.0, 20.0, 17.25])),
                min_net_ticks=draw(st.sampled_from([0.0, 0.5, 1.0, 1.25, 2.0, 3.0])),
                cooldown_until_ns=draw(st.sampled_from([0, NOW_NS - 1, NOW_NS, NOW_NS + 1, 2**62])))


fee_bps = st.one_of(st.sampled_from([0.0, KRX_FEE_BPS, NXT_FEE_BPS]),
                    st.floats(min_value=0.0, max_value=10.0, allow_nan=False))


@given(rows=st.lists(symbol_rows(), min_size=1, max_size=25), krx_fee=fee_bps, nxt_fee=fee_bps,
       slice_qty=st.integers(1, 3), same_fees=st.booleans())
@settings(max_examples=250, deadline=None)
def test_numba_kernel_agrees_with_python_reference(rows, krx_fee, nxt_fee, slice_qty, same_fees):
    if same_fees:  # makes exact ties between the directions likely
        nxt_fee = krx_fee
    books = make_books(rows)
    kwargs = dict(krx_fee_bps=krx_fee, nxt_fee_bps=nxt_fee, slice_qty=slice_qty)
    count_nb, (dir_nb, net_nb, bps_nb, elig_nb) = run(evaluate_edges, books, **kwargs)
    count_py, (dir_py, net_py, bps_py, elig_py) = run(evaluate_edges_py, books, **kwargs)
    np.testing.assert_array_equal(dir_nb, dir_py)
    np.testing.assert_array_equal(elig_nb, elig_py)
    np.testing.assert_allclose(net_nb, net_py, rtol=1e-12, atol=0)
    np.testing.assert_allclose(bps_nb, bps_py, rtol=1e-12, atol=0)
    assert count_nb == count_py == int(elig_py.sum())

    # and both agree with the rule stated independently through CostModel
    for i, r in enumerate(rows):
        prices = (r["krx_bid"], r["krx_ask"], r["nxt_bid"], r["nxt_ask"])
        valid = min(prices) > 0 and r["krx_bid"] < r["krx_ask"] and r["nxt_bid"] < r["nxt_ask"]
        if not valid:
            assert dir_nb[i] == DIRECTION_NONE and not elig_nb[i] and net_nb[i] == 0.0 and bps_nb[i] == 0.0
            continue
        taxed = CostModel(krx_fee, nxt_fee, {"KOSPI": r["tax_bps"], "KOSDAQ": r["tax_bps"]})
        net_a = taxed.net_edge_krw(r["krx_ask"], "KRX", r["nxt_bid"], "NXT", "KOSPI")
        net_b = taxed.net_edge_krw(r["nxt_ask"], "NXT", r["krx_bid"], "KRX", "KOSPI")
        expected_dir = DIRECTION_A if net_a >= net_b else DIRECTION_B
        assert dir_nb[i] == expected_dir
        buy, buy_venue, sell, sell_venue, buy_qty, sell_qty = (
            (r["krx_ask"], "KRX", r["nxt_bid"], "NXT", r["krx_ask_qty"], r["nxt_bid_qty"])
            if expected_dir == DIRECTION_A else
            (r["nxt_ask"], "NXT", r["krx_bid"], "KRX", r["nxt_ask_qty"], r["krx_bid_qty"]))
        expected = (taxed.is_eligible(buy, buy_venue, sell, sell_venue, "KOSDAQ", r["min_net_ticks"])
                    and buy_qty >= slice_qty and sell_qty >= slice_qty and NOW_NS >= r["cooldown_until_ns"])
        assert bool(elig_nb[i]) == expected
        # on uncrossed books at most one direction can have a net ≥ 0, so at most one can be eligible
        assert min(net_a, net_b) < 0


@given(rows=st.lists(symbol_rows(), min_size=1, max_size=20), krx_fee=fee_bps, nxt_fee=fee_bps,
       which=st.sampled_from(["krx", "nxt", "both"]))
@settings(max_examples=100, deadline=None)
def test_locked_book_is_never_eligible(rows, krx_fee, nxt_fee, which):
    for r in rows:
        r["min_net_ticks"] = 0.0  # the most permissive threshold
        r["cooldown_until_ns"] = 0
        if which in ("krx", "both"):
            r["krx_ask"] = r["krx_bid"]
        if which in ("nxt", "both"):
            r["nxt_ask"] = r["nxt_bid"]
    count, (direction, net, bps, eligible) = run(evaluate_edges, make_books(rows), krx_fee, nxt_fee)
    assert count == 0
    assert not eligible.any()
    assert (direction == DIRECTION_NONE).all() and (net == 0.0).all() and (bps == 0.0).all()


# --------------------------------------------------------------------------------------- EdgeKernel / no alloc

def test_edge_kernel_reuses_its_buffers_and_overwrites_them():
    kernel = EdgeKernel(2)
    books = make_books([book(74_900, 75_000, 75_300, 75_400), book(75_000, 75_000, 75_300, 75_400)])
    args = [books[f] for f in FIELDS] + [KRX_FEE_BPS, NXT_FEE_BPS, books["tax_bps"], books["min_net_ticks"],
                                         1, books["cooldown_until_ns"], NOW_NS]
    first = kernel.evaluate(*args)
    assert kernel.last_n_eligible == 1
    direction, net_krw, net_bps, eligible = first  # unpacks as the four output arrays
    assert eligible is kernel.out_eligible and direction is kernel.out_direction
    np.testing.assert_array_equal(first.eligible, [True, False])
    assert first.direction is kernel.out_direction and first.net_krw is kernel.out_net_krw
    assert first.net_bps is kernel.out_net_bps and first.eligible is kernel.out_eligible
    books["krx_ask_qty"][0] = 0
    second = kernel.evaluate(*args)
    assert kernel.last_n_eligible == 0
    assert second.eligible is first.eligible and not first.eligible.any()  # same buffer, overwritten
    assert kernel.out_direction.dtype == np.int8 and kernel.out_eligible.dtype == np.bool_
    with pytest.raises(ValueError):
        EdgeKernel(-1)


def test_warm_up_compiles_the_canonical_signature():
    assert warm_up() >= 0.0
    if HAVE_NUMBA:
        assert len(evaluate_edges.signatures) >= 1


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_kernel_loop_has_no_allocating_calls():
    # Compile the same Python source afresh (the cached build cannot be inspected) and look at its LLVM IR:
    # apart from unboxing the arguments, nothing in it may call numba's allocator.
    import numba

    fresh = numba.njit(cache=False, nogil=True)(evaluate_edges.py_func)
    books = make_books([book(74_900, 75_000, 75_300, 75_400)])
    run(fresh, books)
    ir = fresh.inspect_llvm(fresh.signatures[0])
    calls = set(re.findall(r"@(NRT_\w+)", ir))
    assert calls, "expected the argument-unboxing NRT calls in the IR; the inspection found nothing"
    assert not {c for c in calls if "alloc" in c.lower() or c.startswith("NRT_MemInfo_new")}, calls


def test_module_imports_and_runs_without_numba():
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np\n"
        "from core._jit import HAVE_NUMBA; assert not HAVE_NUMBA\n"
        "from core.edge import EdgeKernel, evaluate_edges, warm_up\n"
        "from core.ticks import tick_size_nb\n"
        "assert not hasattr(evaluate_edges, 'signatures') and tick_size_nb(2000) == 5\n"
        "warm_up()\n"
        "a = lambda *v: np.array(v, dtype=np.int64)\n"
        "r = EdgeKernel(1).evaluate(a(74900), a(75000), a(10), a(10), a(75300), a(75400), a(10), a(10),\n"
        "                           1.5, 1.76833, np.array([20.0]), np.array([1.0]), 1, a(0), 0)\n"
        "assert r.eligible[0] and r.direction[0] == 1, r\n"
        "print('ok')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_tick_size_in_kernel_matches_table_at_boundaries():
    # one symbol per boundary: no costs, spread of exactly one tick of the buy price, threshold 1 tick → eligible;
    # a spread one KRW short of it → not eligible
    rows = []
    for p in BOUNDARY_PRICES[2:]:
        t = tick_size(p)
        rows.append(book(p - 1, p, p + t, p + t + 1_000, tax_bps=0.0))
        rows.append(book(p - 1, p, p + t - 1, p + t + 1_000, tax_bps=0.0))
    count, (_, _, _, eligible) = run(evaluate_edges, make_books(rows), krx_fee_bps=0.0, nxt_fee_bps=0.0)
    np.testing.assert_array_equal(eligible, [True, False] * (len(BOUNDARY_PRICES) - 2))
