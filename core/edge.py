"""The spread kernel: fee-, tax- and tick-aware cross-venue edges for a whole universe in one pass (SPEC §3).

For every symbol i, with L1 books on both venues:

* direction A (1): buy the KRX ask, sell the NXT bid; direction B (2): buy the NXT ask, sell the KRX bid;
* ``net = sell_px − buy_px − fee(buy_px, buy_venue) − fee(sell_px, sell_venue) − tax(sell_px)`` per share, KRW,
  unrounded (:func:`core.costs.net_edge_per_share_krw`, same operations in the same order);
* the reported direction is the one with the larger net (a tie goes to A), for any valid pair of books,
  eligible or not; ``out_net_krw``/``out_net_bps`` are that direction's net per share and net / buy_px × 10⁴;
* **eligible** iff ``net ≥ min_net_ticks[i] × tick(buy_px)``, the buy venue's visible ask qty ≥ ``slice_qty``,
  the sell venue's visible bid qty ≥ ``slice_qty`` and ``now_ns ≥ cooldown_until_ns[i]``;
* a symbol with any price ≤ 0, or a book crossed or locked on its own venue (bid ≥ ask), gets direction 0,
  net 0.0, bps 0.0 and is not eligible.

With uncrossed books and ``min_net_ticks ≥ 0`` at most one direction can be eligible, so reporting only the
better direction loses nothing. Callers that also enforce ``spread_engine.edge_rule.also_require_min_visible_qty``
pass ``slice_qty = max(execution.slice_qty, also_require_min_visible_qty)``.

:func:`evaluate_edges` is numba-compiled (``nogil``, ``cache=True``). **The first call in a fresh environment
compiles it (about a second) and writes the machine code to numba's on-disk cache (``core/__pycache__/numba-<key>``,
keyed on every source the kernels compile in, :mod:`core._jit`); later processes load it from there.** Call
:func:`warm_up` at start-up, never on the hot path: it ends with :func:`verify_kernels`, which refuses to start
(:class:`KernelMismatchError`) when a compiled kernel disagrees with its pure-Python rule at a tick-band edge. The
loop does only scalar arithmetic: it allocates nothing, and :class:`EdgeKernel` keeps the output arrays so a caller
allocates nothing per evaluation either. Without numba (32-bit Windows host) the same function runs as plain
Python.

:func:`evaluate_edges_py` is an independent, deliberately simple per-symbol Python implementation of the same
rule, used as the reference in property tests and as the baseline in ``bench/edge_kernel.py``.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple, SupportsFloat, SupportsInt

import numpy as np

from core._jit import HAVE_NUMBA, KERNEL_CACHE_DIR, njit
from core.costs import net_edge_per_share_krw
from core.ticks import TICK_BANDS, tick_size, tick_size_nb

__all__ = [
    "DIRECTION_A",
    "DIRECTION_B",
    "DIRECTION_NONE",
    "EdgeKernel",
    "EdgeResult",
    "HAVE_NUMBA",
    "KernelMismatchError",
    "band_edge_prices",
    "evaluate_edges",
    "evaluate_edges_py",
    "verify_kernels",
    "warm_up",
]

#: No valid pair of books.
DIRECTION_NONE = 0
#: Buy the KRX ask, sell the NXT bid.
DIRECTION_A = 1
#: Buy the NXT ask, sell the KRX bid.
DIRECTION_B = 2


@njit(cache=True, nogil=True)
def evaluate_edges(krx_bid: np.ndarray, krx_ask: np.ndarray, krx_bid_qty: np.ndarray, krx_ask_qty: np.ndarray,
                   nxt_bid: np.ndarray, nxt_ask: np.ndarray, nxt_bid_qty: np.ndarray, nxt_ask_qty: np.ndarray,
                   krx_fee_bps: float, nxt_fee_bps: float, tax_bps: np.ndarray, min_net_ticks: np.ndarray,
                   slice_qty: int, cooldown_until_ns: np.ndarray, now_ns: int,
                   out_direction: np.ndarray, out_net_krw: np.ndarray, out_net_bps: np.ndarray,
                   out_eligible: np.ndarray) -> int:
    """Evaluate both directions for every symbol; write the outputs in place; return the number eligible.

    Inputs (length n each unless scalar): ``krx_bid``, ``krx_ask``, ``nxt_bid``, ``nxt_ask`` prices in KRW
    (int64); ``krx_bid_qty``, ``krx_ask_qty``, ``nxt_bid_qty``, ``nxt_ask_qty`` visible shares (int64);
    ``krx_fee_bps``, ``nxt_fee_bps`` all-in fee bps per leg (float scalars); ``tax_bps`` sell tax bps per
    symbol (float64, by its market); ``min_net_ticks`` required net edge in ticks of the buy price per symbol
    (float64); ``slice_qty`` minimum visible shares on both legs (int scalar); ``cooldown_until_ns`` per symbol
    (int64) and ``now_ns`` (int scalar), nanoseconds on the engine clock.

    Outputs (preallocated, length n, overwritten): ``out_direction`` int8 (0 none, 1 A, 2 B),
    ``out_net_krw`` float64 net per share of the better direction, ``out_net_bps`` float64 net / buy_px × 10⁴,
    ``out_eligible`` bool. Raises ``ValueError`` if the array lengths differ.
    """
    n = out_direction.shape[0]
    if (krx_bid.shape[0] != n or krx_ask.shape[0] != n or krx_bid_qty.shape[0] != n
            or krx_ask_qty.shape[0] != n or nxt_bid.shape[0] != n or nxt_ask.shape[0] != n
            or nxt_bid_qty.shape[0] != n or nxt_ask_qty.shape[0] != n or tax_bps.shape[0] != n
            or min_net_ticks.shape[0] != n or cooldown_until_ns.shape[0] != n
            or out_net_krw.shape[0] != n or out_net_bps.shape[0] != n or out_eligible.shape[0] != n):
        raise ValueError("evaluate_edges: every per-symbol array must have the same length")
    n_eligible = 0
    for i in range(n):
        kb = krx_bid[i]
        ka = krx_ask[i]
        nb = nxt_bid[i]
        na = nxt_ask[i]
        if kb <= 0 or ka <= 0 or nb <= 0 or na <= 0 or kb >= ka or nb >= na:
            out_direction[i] = 0
            out_net_krw[i] = 0.0
            out_net_bps[i] = 0.0
            out_eligible[i] = False
            continue
        tax = tax_bps[i]
        kbf = float(kb)
        kaf = float(ka)
        nbf = float(nb)
        naf = float(na)
        # A: buy KRX ask, sell NXT bid  (same operation order as core.costs.net_edge_per_share_krw)
        net_a = (((nbf - kaf) - kaf * krx_fee_bps / 10000.0) - nbf * nxt_fee_bps / 10000.0) - nbf * tax / 10000.0
        # B: buy NXT ask, sell KRX bid
        net_b = (((kbf - naf) - naf * nxt_fee_bps / 10000.0) - kbf * krx_fee_bps / 10000.0) - kbf * tax / 10000.0
        if net_a >= net_b:
            direction = 1
            net = net_a
            buy_px = ka
            buy_f = kaf
            buy_qty = krx_ask_qty[i]
            sell_qty = nxt_bid_qty[i]
        else:
            direction = 2
            net = net_b
            buy_px = na
            buy_f = naf
            buy_qty = nxt_ask_qty[i]
            sell_qty = krx_bid_qty[i]
        eligible = (net >= min_net_ticks[i] * tick_size_nb(buy_px)
                    and buy_qty >= slice_qty and sell_qty >= slice_qty
                    and now_ns >= cooldown_until_ns[i])
        out_direction[i] = direction
        out_net_krw[i] = net
        out_net_bps[i] = net / buy_f * 10000.0
        out_eligible[i] = eligible
        if eligible:
            n_eligible += 1
    return n_eligible


def evaluate_edges_py(krx_bid: Any, krx_ask: Any, krx_bid_qty: Any, krx_ask_qty: Any,
                      nxt_bid: Any, nxt_ask: Any, nxt_bid_qty: Any, nxt_ask_qty: Any,
                      krx_fee_bps: float, nxt_fee_bps: float, tax_bps: Any, min_net_ticks: Any, slice_qty: int,
                      cooldown_until_ns: Any, now_ns: int,
                      out_direction: Any, out_net_krw: Any, out_net_bps: Any, out_eligible: Any) -> int:
    """Plain-Python reference of :func:`evaluate_edges` (same signature, same rule, one symbol at a time).

    Built from :func:`core.costs.net_edge_per_share_krw` and :func:`core.ticks.tick_size`; slow on purpose.
    """
    n = len(out_direction)
    arrays = (krx_bid, krx_ask, krx_bid_qty, krx_ask_qty, nxt_bid, nxt_ask, nxt_bid_qty, nxt_ask_qty,
              tax_bps, min_net_ticks, cooldown_until_ns, out_net_krw, out_net_bps, out_eligible)
    if any(len(a) != n for a in arrays):
        raise ValueError("evaluate_edges_py: every per-symbol array must have the same length")
    count = 0
    for i in range(n):
        kb, ka = int(krx_bid[i]), int(krx_ask[i])
        nb, na = int(nxt_bid[i]), int(nxt_ask[i])
        valid = min(kb, ka, nb, na) > 0 and kb < ka and nb < na
        if not valid:
            out_direction[i], out_net_krw[i], out_net_bps[i], out_eligible[i] = 0, 0.0, 0.0, False
            continue
        tax = float(tax_bps[i])
        candidates = [
            # (direction, buy px, sell px, buy fee bps, sell fee bps, visible qty at buy, visible qty at sell)
            (1, ka, nb, krx_fee_bps, nxt_fee_bps, int(krx_ask_qty[i]), int(nxt_bid_qty[i])),
            (2, na, kb, nxt_fee_bps, krx_fee_bps, int(nxt_ask_qty[i]), int(krx_bid_qty[i])),
        ]
        best: tuple[int, float, int, int, int] | None = None    # direction, net KRW, buy px KRW, buy/sell qty
        for direction, buy, sell, buy_fee, sell_fee, buy_qty, sell_qty in candidates:
            net = net_edge_per_share_krw(buy, sell, buy_fee, sell_fee, tax)
            if best is None or net > best[1]:
                best = (direction, net, buy, buy_qty, sell_qty)
        assert best is not None                                     # two candidates, the first always taken
        direction, net, buy, buy_qty, sell_qty = best
        eligible = (net >= float(min_net_ticks[i]) * tick_size(buy)
                    and buy_qty >= slice_qty and sell_qty >= slice_qty
                    and int(now_ns) >= int(cooldown_until_ns[i]))
        out_direction[i] = direction
        out_net_krw[i] = net
        out_net_bps[i] = net / float(buy) * 10000.0
        out_eligible[i] = eligible
        count += int(eligible)
    return count


class EdgeResult(NamedTuple):
    """Views of an :class:`EdgeKernel`'s output arrays after one evaluation (overwritten by the next).

    Unpacks as ``direction, net_krw, net_bps, eligible``; the count is ``EdgeKernel.last_n_eligible``.
    """

    direction: np.ndarray   # int8[n]: 0 none, 1 A (buy KRX / sell NXT), 2 B (buy NXT / sell KRX)
    net_krw: np.ndarray     # float64[n]: net edge per share, KRW, unrounded
    net_bps: np.ndarray     # float64[n]: net / buy price × 10⁴
    eligible: np.ndarray    # bool[n]


class EdgeKernel:
    """Preallocated outputs for ``n_symbols`` so the hot path allocates nothing per evaluation.

    ``evaluate`` returns views of the same four arrays every call (copy them to keep a result) and stores the
    number of eligible symbols in ``last_n_eligible``.
    """

    def __init__(self, n_symbols: int) -> None:
        if n_symbols < 0:
            raise ValueError(f"n_symbols must be ≥ 0, got {n_symbols!r}")
        self.n_symbols = int(n_symbols)
        self.out_direction = np.zeros(self.n_symbols, dtype=np.int8)
        self.out_net_krw = np.zeros(self.n_symbols, dtype=np.float64)
        self.out_net_bps = np.zeros(self.n_symbols, dtype=np.float64)
        self.out_eligible = np.zeros(self.n_symbols, dtype=np.bool_)
        self.last_n_eligible = 0
        self._result = EdgeResult(self.out_direction, self.out_net_krw, self.out_net_bps, self.out_eligible)

    def evaluate(self, krx_bid: np.ndarray, krx_ask: np.ndarray, krx_bid_qty: np.ndarray,
                 krx_ask_qty: np.ndarray, nxt_bid: np.ndarray, nxt_ask: np.ndarray, nxt_bid_qty: np.ndarray,
                 nxt_ask_qty: np.ndarray, krx_fee_bps: float, nxt_fee_bps: float, tax_bps: np.ndarray,
                 min_net_ticks: np.ndarray, slice_qty: int, cooldown_until_ns: np.ndarray,
                 now_ns: int) -> EdgeResult:
        """Run :func:`evaluate_edges` on the given books (prices KRW, qty shares, fees/tax bps, times ns)."""
        self.last_n_eligible = evaluate_edges(krx_bid, krx_ask, krx_bid_qty, krx_ask_qty,
                                    nxt_bid, nxt_ask, nxt_bid_qty, nxt_ask_qty,
                                    float(krx_fee_bps), float(nxt_fee_bps), tax_bps, min_net_ticks,
                                    int(slice_qty), cooldown_until_ns, int(now_ns),
                                    self.out_direction, self.out_net_krw, self.out_net_bps, self.out_eligible)
        return self._result


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernel for the canonical dtypes, then check it; return seconds.

    Canonical dtypes: int64 prices/qty/cooldowns, float64 fee scalars and per-symbol arrays, int slice and
    clock. Call once at start-up. The check is :func:`verify_kernels`: raises :class:`KernelMismatchError`
    (do not start) when a kernel disagrees with its pure rule. Without numba the kernels are plain Python
    and the check still runs (it compares two hand-written tables).
    """
    t0 = time.perf_counter()
    one_i = np.ones(1, dtype=np.int64)
    kernel = EdgeKernel(1)
    kernel.evaluate(one_i, one_i * 2, one_i, one_i, one_i, one_i * 2, one_i, one_i,
                    1.5, 1.76833, np.full(1, 20.0), np.ones(1), 1, np.zeros(1, dtype=np.int64), 0)
    tick_size_nb(1)
    verify_kernels()
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------ start-up check

class KernelMismatchError(RuntimeError):
    """A compiled kernel disagrees with its pure-Python rule: the engine must not start.

    ``kernel`` names it, ``inputs`` describes where, ``got``/``expected`` are the kernel's and the rule's results.
    The message says which numba cache directory to delete (a stale build) and what else it can be (a kernel and
    its rule that differ in the source, e.g. ``tick_size_nb`` edited without ``TICK_BANDS``).
    """

    def __init__(self, kernel: str, reference: str, inputs: str, got: str, expected: str) -> None:
        self.kernel = kernel
        self.reference = reference
        self.inputs = inputs
        self.got = got
        self.expected = expected
        where = (f"delete the numba cache directory {KERNEL_CACHE_DIR} and start again"
                 if KERNEL_CACHE_DIR else "no numba cache is in use, so the source itself differs")
        super().__init__(
            f"{kernel} disagrees with {reference} at {inputs}: the kernel gave {got}, the rule {expected}. "
            f"Refusing to start: {where}; if it persists, the kernel and the rule differ in the source "
            f"(core/ticks.py TICK_BANDS vs tick_size_nb?) and the code must be fixed.")


#: Ordinary prices in KRW checked besides the band edges, one or more inside every band and far up the last.
_ORDINARY_PRICES_KRW = (2, 1_000, 3_000, 12_340, 33_350, 75_000, 123_400, 345_500, 1_234_000, 12_345_000,
                        100_000_000)


def band_edge_prices() -> tuple[int, ...]:
    """Prices in KRW where a wrong tick table shows, ascending: each band boundary of
    :data:`core.ticks.TICK_BANDS` −1, at and +1, the bottom of the grid (−1, 0, 1) and a few ordinary prices.

    Two non-decreasing tick tables that differ anywhere below 100,000,000 KRW differ at one of these prices when
    one of them is ``TICK_BANDS`` (a difference starts or ends at one of its edges, or spans a band edge of the
    other table only, which a non-decreasing table cannot do): a kernel built on an older table is caught.
    """
    prices = {-1, 0, 1, *_ORDINARY_PRICES_KRW}
    for upper, _ in TICK_BANDS:
        if math.isfinite(upper):
            prices.update((int(upper) - 1, int(upper), int(upper) + 1))
    return tuple(sorted(prices))


def _gaps_krw() -> tuple[int, ...]:
    """Spreads in KRW around every tick size of the table (t − 1, t, t + 1): eligibility at 1 tick flips on them."""
    gaps: set[int] = set()
    for _, tick in TICK_BANDS:
        gaps.update((tick - 1, tick, tick + 1))
    return tuple(sorted(g for g in gaps if g > 0))


def _band_edge_books() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Books that cross a tick-band edge: for each positive band-edge price p and gap g, one book buying at p
    and selling at p + g in direction A (KRX ask p, NXT bid p + g) and one in direction B; returns the book
    arrays (int64 KRW / shares) and the buy price of each symbol."""
    rows = []
    for p in band_edge_prices():
        if p < 2:  # the other side of the book needs a price below p
            continue
        for g in _gaps_krw():
            rows.append((p - 1, p, p + g, p + g + 1, p))   # A: buy KRX ask p, sell NXT bid p + g
            rows.append((p + g, p + g + 1, p - 1, p, p))   # B: buy NXT ask p, sell KRX bid p + g
    table = np.array(rows, dtype=np.int64)
    qty = np.full(len(rows), 100, dtype=np.int64)
    books = {"krx_bid": table[:, 0], "krx_ask": table[:, 1], "nxt_bid": table[:, 2], "nxt_ask": table[:, 3],
             "krx_bid_qty": qty, "krx_ask_qty": qty.copy(), "nxt_bid_qty": qty.copy(), "nxt_ask_qty": qty.copy()}
    return {k: np.ascontiguousarray(v) for k, v in books.items()}, table[:, 4]


#: (krx_fee_bps, nxt_fee_bps, tax_bps, min_net_ticks) of the checks: no costs (eligible iff the spread ≥ one
#: tick, so a wrong tick flips it exactly at the edge) and the canonical costs of :func:`warm_up`.
_CHECK_COSTS = ((0.0, 0.0, 0.0, 1.0), (1.5, 1.76833, 20.0, 1.0))


def _same_float(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


def _check_tick_kernel(tick_kernel: Callable[[int], int]) -> int:
    prices = band_edge_prices()
    for p in prices:
        got = int(tick_kernel(p))
        expected = tick_size(p) if p > 0 else 0
        if got != expected:
            raise KernelMismatchError("tick_size_nb", "core.ticks.tick_size", f"price {p:,} KRW",
                                      f"a tick of {got:,} KRW", f"{expected:,} KRW")
    return len(prices)


def _edge_text(direction: SupportsInt, net_krw: SupportsFloat, net_bps: SupportsFloat, eligible: object) -> str:
    """One symbol's result of an edge kernel, for a :class:`KernelMismatchError`."""
    return f"direction {int(direction)}, net {float(net_krw)!r} KRW, {float(net_bps)!r} bps, eligible {bool(eligible)}"


def _check_edge_kernel(edge_kernel: Callable[..., int]) -> int:
    books, buy_px = _band_edge_books()
    n = len(buy_px)
    for krx_fee, nxt_fee, tax, min_ticks in _CHECK_COSTS:
        per_symbol = (np.full(n, tax), np.full(n, min_ticks), np.zeros(n, dtype=np.int64))
        results = []
        for fn in (edge_kernel, evaluate_edges_py):
            out = (np.zeros(n, dtype=np.int8), np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.bool_))
            count = fn(books["krx_bid"], books["krx_ask"], books["krx_bid_qty"], books["krx_ask_qty"],
                       books["nxt_bid"], books["nxt_ask"], books["nxt_bid_qty"], books["nxt_ask_qty"],
                       krx_fee, nxt_fee, per_symbol[0], per_symbol[1], 1, per_symbol[2], 0, *out)
            results.append((int(count), out))
        (count_k, (dir_k, net_k, bps_k, elig_k)), (count_r, (dir_r, net_r, bps_r, elig_r)) = results
        for i in range(n):
            if (dir_k[i] == dir_r[i] and elig_k[i] == elig_r[i] and _same_float(net_k[i], net_r[i])
                    and _same_float(bps_k[i], bps_r[i])):
                continue
            inputs = (f"buy price {int(buy_px[i]):,} KRW (book KRX {books['krx_bid'][i]:,}/{books['krx_ask'][i]:,}, "
                      f"NXT {books['nxt_bid'][i]:,}/{books['nxt_ask'][i]:,} KRW; fees {krx_fee:g}/{nxt_fee:g} bps, "
                      f"tax {tax:g} bps, min_net_ticks {min_ticks:g})")
            raise KernelMismatchError("evaluate_edges", "evaluate_edges_py", inputs,
                                      _edge_text(dir_k[i], net_k[i], bps_k[i], elig_k[i]),
                                      _edge_text(dir_r[i], net_r[i], bps_r[i], elig_r[i]))
        if count_k != count_r:
            raise KernelMismatchError("evaluate_edges", "evaluate_edges_py", "the band-edge books",
                                      f"{count_k} eligible", f"{count_r} eligible")
    return n * len(_CHECK_COSTS)


def verify_kernels(tick_kernel: Callable[[int], int] | None = None,
                   edge_kernel: Callable[..., int] | None = None) -> int:
    """Check the compiled kernels against the pure rules at every tick-band edge; return the cases checked.

    ``tick_kernel`` (default :func:`core.ticks.tick_size_nb`) must equal :func:`core.ticks.tick_size` at every
    price of :func:`band_edge_prices` (0 for a price ≤ 0); ``edge_kernel`` (default :func:`evaluate_edges`) must
    give :func:`evaluate_edges_py`'s direction, eligibility and net (KRW, bps) on books buying at each of those
    prices with spreads around every tick size, with no costs and with the canonical ones. Raises
    :class:`KernelMismatchError` at the first disagreement. A few milliseconds; compiles the canonical
    signature if :func:`warm_up` has not.
    """
    checked = _check_tick_kernel(tick_size_nb if tick_kernel is None else tick_kernel)
    checked += _check_edge_kernel(evaluate_edges if edge_kernel is None else edge_kernel)
    return checked
