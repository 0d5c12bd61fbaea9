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
compiles it (about a second) and writes the machine code to numba's on-disk cache (``__pycache__``); later
processes load it from there.** Call :func:`warm_up` at start-up, never on the hot path. The loop does only scalar
arithmetic: it allocates nothing, and :class:`EdgeKernel` keeps the output arrays so a caller allocates nothing
per evaluation either. Without numba (32-bit Windows host) the same function runs as plain Python.

:func:`evaluate_edges_py` is an independent, deliberately simple per-symbol Python implementation of the same
rule, used as the reference in property tests and as the baseline in ``bench/edge_kernel.py``.
"""
from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np

from core._jit import HAVE_NUMBA, njit
from core.costs import net_edge_per_share_krw
from core.ticks import tick_size, tick_size_nb

__all__ = [
    "DIRECTION_A",
    "DIRECTION_B",
    "DIRECTION_NONE",
    "EdgeKernel",
    "EdgeResult",
    "HAVE_NUMBA",
    "evaluate_edges",
    "evaluate_edges_py",
    "warm_up",
]

#: No valid pair of books.
DIRECTION_NONE = 0
#: Buy the KRX ask, sell the NXT bid.
DIRECTION_A = 1
#: Buy the NXT ask, sell the KRX bid.
DIRECTION_B = 2


@njit(cache=True, nogil=True)
def evaluate_edges(krx_bid, krx_ask, krx_bid_qty, krx_ask_qty,
                   nxt_bid, nxt_ask, nxt_bid_qty, nxt_ask_qty,
                   krx_fee_bps, nxt_fee_bps, tax_bps, min_net_ticks, slice_qty,
                   cooldown_until_ns, now_ns,
                   out_direction, out_net_krw, out_net_bps, out_eligible):  # type: ignore[no-untyped-def]
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
        best = None
        for direction, buy, sell, buy_fee, sell_fee, buy_qty, sell_qty in candidates:
            net = net_edge_per_share_krw(buy, sell, buy_fee, sell_fee, tax)
            if best is None or net > best[1]:
                best = (direction, net, buy, buy_qty, sell_qty)
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
    """Compile (or load from numba's cache) the kernel for the canonical dtypes; return the seconds it took.

    Canonical dtypes: int64 prices/qty/cooldowns, float64 fee scalars and per-symbol arrays, int slice and
    clock. Call once at start-up. A no-op in effect when numba is unavailable.
    """
    t0 = time.perf_counter()
    one_i = np.ones(1, dtype=np.int64)
    kernel = EdgeKernel(1)
    kernel.evaluate(one_i, one_i * 2, one_i, one_i, one_i, one_i * 2, one_i, one_i,
                    1.5, 1.76833, np.full(1, 20.0), np.ones(1), 1, np.zeros(1, dtype=np.int64), 0)
    tick_size_nb(1)
    return time.perf_counter() - t0
