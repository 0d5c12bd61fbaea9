"""Vectorised opportunity scan of a recorded day (``arbctl scan``, SPEC §6): the kernel, pure.

What it computes, exactly:

1. **Books.** The L1 quote of every symbol and venue is rebuilt row by row, in replay (time) order, from the
   decoded recording (columns of :class:`kiwoom_bridge.recording_reader.DecodedRecording`, read by
   :mod:`tools.scan_recording`). A row changes only the
   fields it carries (``has_ask``, ``has_bid``, ``has_ask_qty``, ``has_bid_qty``; 0 or empty = absent). A row
   that carries none of them — a trade print with only a last price — changes no quote and is not an
   evaluation; a 주식체결 row that carries best ask/bid (fid_27/28) is a quote update like any other.
2. **Evaluations.** After each quote update of a symbol (either venue) the symbol is evaluated in both
   directions with the SPEC §3 rule:

   * ``KRX->NXT`` (buy the KRX ask, sell the NXT bid) and ``NXT->KRX`` (buy the NXT ask, sell the KRX bid);
   * ``net = sell − buy − fee(buy, buy venue) − fee(sell, sell venue) − tax(sell, market)`` KRW per share,
     unrounded, the same operations in the same order as :func:`core.costs.net_edge_per_share_krw`;
     ``bps = net / buy × 10⁴``;
   * eligible iff ``net ≥ min_net_ticks × tick(buy)`` (``spread_engine.edge_rule.min_net_ticks_after_fees``,
     or the symbol's ``symbols.per_symbol_overrides[code].edge_buffer_ticks``), and both visible sizes (buy
     venue's ask qty, sell venue's bid qty) ``≥ max(execution.slice_qty,
     spread_engine.edge_rule.also_require_min_visible_qty)``, and all four prices > 0, and neither book is
     crossed or locked on its own venue (bid ≥ ask). The size check is skipped on rows of files without sizes
     (``'price'`` meaning of fid_41/51: sizes there are ``replay.assumed_visible_qty``, not data).
3. **Windows.** Every maximal run of eligible evaluations of one symbol in one direction is a window:
   ``start`` = timestamp of its first evaluation; ``end`` = timestamp of the symbol's first evaluation after
   it that is not eligible in that direction (empty when the window is still open at the end of the file);
   ``best_net_krw``/``best_net_bps`` = the maxima over the window (each on its own); ``max_qty`` = the
   maximum over the window of ``min(buy visible qty, sell visible qty)`` in shares; ``updates`` = the number
   of evaluations in the window. Cooldown plays no part.

Costs: :meth:`core.costs.CostModel.for_date` of the Asia/Seoul date of the first replayed row (tax year of
its T+2 settlement, ``sessions.extra_holidays`` honoured). Market per symbol: from the universe file when the
symbol is in it, otherwise KOSPI (counted in :attr:`ScanResult.defaulted_markets`).

The work is one numba pass over the rows (:func:`scan_kernel`, O(rows), per-symbol state in arrays of
``2 × symbols``), which both rebuilds the books and collects the windows; rows are never re-sorted, so the
evaluation order inside a symbol is the recording's. :func:`scan_kernel_py` is the same algorithm in plain
Python (the benchmark's baseline, ``bench/scan.py``). :func:`warm_up` checks the compiled kernels against it (and
the edge kernels against theirs, :func:`core.edge.verify_kernels`) on a recording around every tick-band edge
before any scan, raising :class:`core.edge.KernelMismatchError` on a disagreement.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from core._jit import HAVE_NUMBA, njit
from core.costs import CostModel
from core.edge import KernelMismatchError, band_edge_prices, verify_kernels
from core.enums import Direction
from core.ticks import TICK_BANDS, tick_size_nb

__all__ = [
    "DIRECTIONS",
    "HAVE_NUMBA",
    "ScanParams",
    "W_BPS", "W_DIR", "W_END", "W_KRW", "W_QTY", "W_START", "W_SYM", "W_UPDATES",
    "scan_arrays",
    "scan_kernel",
    "scan_kernel_py",
    "verify_scan_kernel",
    "warm_up",
]

#: Kernel direction index → direction. 0: A (buy KRX ask / sell NXT bid); 1: B (buy NXT ask / sell KRX bid).
DIRECTIONS: tuple[Direction, Direction] = (Direction.A, Direction.B)

#: Columns of the kernel's integer window table: symbol index, direction index, start row, end row (-1 =
#: open), max qty (shares), updates.
W_SYM, W_DIR, W_START, W_END, W_QTY, W_UPDATES = range(6)
#: Columns of the kernel's float window table: best net KRW per share, best net bps.
W_KRW, W_BPS = range(2)
_W_SYM, _W_DIR, _W_START, _W_END, _W_QTY, _W_UPDATES = W_SYM, W_DIR, W_START, W_END, W_QTY, W_UPDATES
_W_KRW, _W_BPS = W_KRW, W_BPS
_INITIAL_WINDOW_CAPACITY = 1024


# ------------------------------------------------------------------------------------------ the kernel

@njit(cache=True, nogil=True)
def scan_kernel(code_idx: np.ndarray, venue: np.ndarray, ask: np.ndarray, bid: np.ndarray, ask_qty: np.ndarray,
                bid_qty: np.ndarray, has_ask: np.ndarray, has_bid: np.ndarray, has_ask_qty: np.ndarray,
                has_bid_qty: np.ndarray, check_size: np.ndarray, n_symbols: int, krx_fee_bps: float,
                nxt_fee_bps: float, tax_bps: np.ndarray, min_net_ticks: np.ndarray,
                min_qty: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Rebuild the books row by row and collect every eligibility window, in one pass.

    Args (one entry per row, replay order, unless scalar):
      code_idx: int symbol index in ``[0, n_symbols)``; venue: 0 = KRX, 1 = NXT.
      ask, bid: int64 best prices, KRW; ask_qty, bid_qty: int64 visible sizes, shares.
      has_ask, has_bid, has_ask_qty, has_bid_qty: bool, whether the row carries that field.
      check_size: bool, whether the size check applies to an evaluation made on this row.
      n_symbols: int number of symbols.
      krx_fee_bps, nxt_fee_bps: float all-in fee per leg, bps of notional.
      tax_bps: float64[n_symbols] sell tax, bps of sell notional (by the symbol's market).
      min_net_ticks: float64[n_symbols] required net edge in ticks of the buy price.
      min_qty: int minimum visible shares on both legs.

    Returns:
      ``(wi, wf, n_evaluations)``: ``wi`` int64[w, 6] with columns symbol index, direction (0 ``KRX->NXT``,
      1 ``NXT->KRX``), start row, end row (-1 = still open at the end), max_qty (shares), updates
      (evaluations); ``wf`` float64[w, 2] with best_net_krw (KRW per share) and best_net_bps. Windows come in
      the order they closed (open ones last, by symbol and direction); ``n_evaluations`` counts the rows that
      were quote updates.
    """
    n = code_idx.shape[0]
    m = 2 * n_symbols
    s_ask = np.zeros(m, np.int64)
    s_bid = np.zeros(m, np.int64)
    s_aq = np.zeros(m, np.int64)
    s_bq = np.zeros(m, np.int64)
    # Open window per (symbol, direction), slot = 2 × symbol + direction.
    o_open = np.zeros(m, np.bool_)
    o_start = np.zeros(m, np.int64)
    o_qty = np.zeros(m, np.int64)
    o_count = np.zeros(m, np.int64)
    o_krw = np.zeros(m, np.float64)
    o_bps = np.zeros(m, np.float64)
    cap = _INITIAL_WINDOW_CAPACITY
    wi = np.empty((cap, 6), np.int64)
    wf = np.empty((cap, 2), np.float64)
    nw = 0
    n_eval = 0
    for i in range(n):
        ha = has_ask[i]
        hb = has_bid[i]
        haq = has_ask_qty[i]
        hbq = has_bid_qty[i]
        if not (ha or hb or haq or hbq):
            continue
        s = np.int64(code_idx[i])
        k = 2 * s + np.int64(venue[i])
        if ha:
            s_ask[k] = ask[i]
        if hb:
            s_bid[k] = bid[i]
        if haq:
            s_aq[k] = ask_qty[i]
        if hbq:
            s_bq[k] = bid_qty[i]
        n_eval += 1
        kk = 2 * s
        ka = s_ask[kk]
        kb = s_bid[kk]
        na = s_ask[kk + 1]
        nb = s_bid[kk + 1]
        valid = ka > 0 and kb > 0 and na > 0 and nb > 0 and kb < ka and nb < na
        sized = check_size[i]
        for d in range(2):
            eligible = False
            net = 0.0
            bps = 0.0
            q = np.int64(0)
            if valid:
                if d == 0:
                    buy = ka
                    sell = nb
                    bf = krx_fee_bps
                    sf = nxt_fee_bps
                    bq = s_aq[kk]
                    sq = s_bq[kk + 1]
                else:
                    buy = na
                    sell = kb
                    bf = nxt_fee_bps
                    sf = krx_fee_bps
                    bq = s_aq[kk + 1]
                    sq = s_bq[kk]
                buyf = float(buy)
                sellf = float(sell)
                # same operations, same order as core.costs.net_edge_per_share_krw
                net = (((sellf - buyf) - buyf * bf / 10000.0) - sellf * sf / 10000.0) - sellf * tax_bps[s] / 10000.0
                eligible = net >= min_net_ticks[s] * tick_size_nb(buy)
                if eligible and sized:
                    eligible = bq >= min_qty and sq >= min_qty
                if eligible:
                    bps = net / buyf * 10000.0
                    q = bq if bq < sq else sq
            w = kk + d
            if eligible:
                if o_open[w]:
                    o_count[w] += 1
                    if net > o_krw[w]:
                        o_krw[w] = net
                    if bps > o_bps[w]:
                        o_bps[w] = bps
                    if q > o_qty[w]:
                        o_qty[w] = q
                else:
                    o_open[w] = True
                    o_start[w] = i
                    o_count[w] = 1
                    o_krw[w] = net
                    o_bps[w] = bps
                    o_qty[w] = q
            elif o_open[w]:
                if nw == cap:
                    cap *= 2
                    wi2 = np.empty((cap, 6), np.int64)
                    wf2 = np.empty((cap, 2), np.float64)
                    wi2[:nw] = wi[:nw]
                    wf2[:nw] = wf[:nw]
                    wi = wi2
                    wf = wf2
                wi[nw, 0] = s
                wi[nw, 1] = d
                wi[nw, 2] = o_start[w]
                wi[nw, 3] = i
                wi[nw, 4] = o_qty[w]
                wi[nw, 5] = o_count[w]
                wf[nw, 0] = o_krw[w]
                wf[nw, 1] = o_bps[w]
                nw += 1
                o_open[w] = False
    for slot in range(m):
        if o_open[slot]:
            if nw == cap:
                cap *= 2
                wi2 = np.empty((cap, 6), np.int64)
                wf2 = np.empty((cap, 2), np.float64)
                wi2[:nw] = wi[:nw]
                wf2[:nw] = wf[:nw]
                wi = wi2
                wf = wf2
            wi[nw, 0] = slot // 2
            wi[nw, 1] = slot % 2
            wi[nw, 2] = o_start[slot]
            wi[nw, 3] = -1
            wi[nw, 4] = o_qty[slot]
            wi[nw, 5] = o_count[slot]
            wf[nw, 0] = o_krw[slot]
            wf[nw, 1] = o_bps[slot]
            nw += 1
    return wi[:nw].copy(), wf[:nw].copy(), n_eval


def scan_kernel_py(code_idx: Any, venue: Any, ask: Any, bid: Any, ask_qty: Any, bid_qty: Any, has_ask: Any,
                   has_bid: Any, has_ask_qty: Any, has_bid_qty: Any, check_size: Any, n_symbols: int,
                   krx_fee_bps: float, nxt_fee_bps: float, tax_bps: Any, min_net_ticks: Any,
                   min_qty: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The algorithm of :func:`scan_kernel` as a plain Python loop (same arguments, same result).

    The baseline of ``bench/scan.py``; it converts the inputs to Python lists first, as a straightforward
    Python implementation would work on them.
    """
    from core.costs import net_edge_per_share_krw
    from core.ticks import tick_size

    rows = zip(*(np.asarray(a).tolist() for a in (code_idx, venue, ask, bid, ask_qty, bid_qty, has_ask, has_bid,
                                                   has_ask_qty, has_bid_qty, check_size)), strict=True)
    tax = np.asarray(tax_bps, dtype=np.float64).tolist()
    mnt = np.asarray(min_net_ticks, dtype=np.float64).tolist()
    book: dict[tuple[int, int], list[int]] = {}
    open_w: dict[tuple[int, int], list[Any]] = {}
    out: list[tuple[list[int], list[float]]] = []
    n_eval = 0
    for i, (s, v, a, b, aq, bq, ha, hb, haq, hbq, sized) in enumerate(rows):
        if not (ha or hb or haq or hbq):
            continue
        q4 = book.setdefault((s, v), [0, 0, 0, 0])
        if ha:
            q4[0] = a
        if hb:
            q4[1] = b
        if haq:
            q4[2] = aq
        if hbq:
            q4[3] = bq
        n_eval += 1
        krx = book.get((s, 0), [0, 0, 0, 0])
        nxt = book.get((s, 1), [0, 0, 0, 0])
        valid = min(krx[0], krx[1], nxt[0], nxt[1]) > 0 and krx[1] < krx[0] and nxt[1] < nxt[0]
        for d, (buy_book, sell_book, bf, sf) in enumerate(((krx, nxt, krx_fee_bps, nxt_fee_bps),
                                                            (nxt, krx, nxt_fee_bps, krx_fee_bps))):
            eligible = False
            if valid:
                buy, sell = buy_book[0], sell_book[1]
                net = net_edge_per_share_krw(buy, sell, bf, sf, tax[s])
                eligible = net >= mnt[s] * tick_size(buy)
                if eligible and sized:
                    eligible = buy_book[2] >= min_qty and sell_book[3] >= min_qty
            key = (s, d)
            w = open_w.get(key)
            if eligible:
                bps = net / float(buy) * 10000.0
                q = min(buy_book[2], sell_book[3])
                if w is None:
                    open_w[key] = [i, q, 1, net, bps]
                else:
                    w[1] = max(w[1], q)
                    w[2] += 1
                    w[3] = max(w[3], net)
                    w[4] = max(w[4], bps)
            elif w is not None:
                out.append(([s, d, w[0], i, w[1], w[2]], [w[3], w[4]]))
                del open_w[key]
    for (s, d), w in sorted(open_w.items()):
        out.append(([s, d, w[0], -1, w[1], w[2]], [w[3], w[4]]))
    wi = np.array([o[0] for o in out], dtype=np.int64).reshape(len(out), 6)
    wf = np.array([o[1] for o in out], dtype=np.float64).reshape(len(out), 2)
    return wi, wf, n_eval


def warm_up() -> float:
    """Compile (or load from numba's on-disk cache) :func:`scan_kernel` for the replay dtypes, then check the
    kernels (:func:`verify_scan_kernel`, :func:`core.edge.verify_kernels`); return seconds.

    Canonical dtypes: int32 symbol index, uint8 venue, int64 prices/sizes, bool flags, float64 costs.
    Raises :class:`core.edge.KernelMismatchError` when a kernel disagrees with its pure rule.
    """
    t0 = time.perf_counter()
    one = np.ones(1, dtype=np.int64)
    flag = np.ones(1, dtype=np.bool_)
    scan_kernel(np.zeros(1, np.int32), np.zeros(1, np.uint8), one * 2, one, one, one, flag, flag, flag, flag,
                flag, 1, 1.5, 1.76833, np.full(1, 20.0), np.ones(1), 1)
    verify_kernels()
    verify_scan_kernel()
    return time.perf_counter() - t0


#: The per-row columns of :func:`scan_kernel` in its argument order, ``code_idx`` to ``check_size``.
_RowColumns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                    np.ndarray, np.ndarray, np.ndarray]


def _band_edge_recording() -> tuple[_RowColumns, np.ndarray]:
    """A small recording (canonical dtypes) that walks spreads across one tick at every band edge.

    One symbol per positive price p of :func:`core.edge.band_edge_prices`: KRX quotes p/p − 1 (ask/bid) while
    the NXT bid steps through p + g for g around every tick size (t − 1, t, t + 1), then the roles swap (NXT at
    p/p − 1, the KRX bid stepping). Every fourth step shows 5 shares instead of 100 at the stepping bid; each walk
    ends with a trade-only row (no quote field) and a quote that closes the open windows; every third row is
    exempt from the size check. Returns the row columns in :func:`scan_kernel`'s order (up to ``check_size``)
    and each symbol's price p.
    """
    prices = [p for p in band_edge_prices() if p >= 2]
    gaps = sorted({g for _, t in TICK_BANDS for g in (t - 1, t, t + 1) if g > 0})
    rows: list[tuple[int, int, int, int, int, int, bool]] = []  # code, venue, ask, bid, ask_qty, bid_qty, quote
    for s, p in enumerate(prices):
        for fixed, stepping in ((0, 1), (1, 0)):
            rows.append((s, fixed, p, p - 1, 100, 100, True))
            for k, g in enumerate(gaps):
                rows.append((s, stepping, p + g + 1, p + g, 100, 5 if k % 4 == 3 else 100, True))
            rows.append((s, stepping, 0, 0, 0, 0, False))
            rows.append((s, stepping, p + 1, p - 2, 100, 100, True))  # back to no edge: closes open windows
    table = np.array(rows, dtype=np.int64)
    quote = table[:, 6].astype(np.bool_)
    n = len(rows)
    columns: _RowColumns = (table[:, 0].astype(np.int32), table[:, 1].astype(np.uint8),
                            np.ascontiguousarray(table[:, 2]), np.ascontiguousarray(table[:, 3]),
                            np.ascontiguousarray(table[:, 4]), np.ascontiguousarray(table[:, 5]),
                            quote, quote.copy(), quote.copy(), quote.copy(), np.arange(n) % 3 != 0)
    return columns, np.array(prices, dtype=np.int64)


#: (krx_fee_bps, nxt_fee_bps, tax_bps, min_net_ticks, min_qty) of the checks: no costs (eligible iff the
#: spread ≥ one tick of the buy price) and the canonical costs of :func:`warm_up` with a size threshold.
_SCAN_CHECK_COSTS = ((0.0, 0.0, 0.0, 1.0, 1), (1.5, 1.76833, 20.0, 1.0, 10))


def _windows_text(wi: np.ndarray, wf: np.ndarray) -> str:
    return "; ".join(f"{DIRECTIONS[int(d)].label} rows {int(a)}..{int(b)} max_qty {int(q)} updates {int(u)} "
                     f"best {k!r} KRW {f!r} bps"
                     for (_, d, a, b, q, u), (k, f) in zip(wi.tolist(), wf.tolist(), strict=True)) or "no window"


def verify_scan_kernel(kernel: Any = None) -> int:
    """Check ``kernel`` (default :func:`scan_kernel`) against :func:`scan_kernel_py` around every tick-band
    edge; return the number of rows checked.

    Both run on :func:`_band_edge_recording` with no costs and with the canonical ones; the windows (rows,
    sizes, updates, best net KRW and bps) and the evaluation count must agree. Raises
    :class:`core.edge.KernelMismatchError` naming the first symbol's price whose windows differ.
    """
    fn = scan_kernel if kernel is None else kernel
    columns, prices = _band_edge_recording()
    n_symbols = len(prices)
    for krx_fee, nxt_fee, tax, min_ticks, min_qty in _SCAN_CHECK_COSTS:
        args = (*columns, n_symbols, krx_fee, nxt_fee, np.full(n_symbols, tax), np.full(n_symbols, min_ticks),
                min_qty)
        wi_k, wf_k, ev_k = fn(*args)
        wi_r, wf_r, ev_r = scan_kernel_py(*args)
        costs = f"fees {krx_fee:g}/{nxt_fee:g} bps, tax {tax:g} bps, min_net_ticks {min_ticks:g}, min_qty {min_qty}"
        for s in range(n_symbols):
            mk, mr = wi_k[:, _W_SYM] == s, wi_r[:, _W_SYM] == s
            same = (mk.sum() == mr.sum() and np.array_equal(wi_k[mk], wi_r[mr])
                    and np.allclose(wf_k[mk], wf_r[mr], rtol=1e-12, atol=0.0))
            if not same:
                raise KernelMismatchError(
                    "scan_kernel", "scan_kernel_py",
                    f"buy price {int(prices[s]):,} KRW of the band-edge recording (symbol {s}; {costs})",
                    _windows_text(wi_k[mk], wf_k[mk]), _windows_text(wi_r[mr], wf_r[mr]))
        if int(ev_k) != int(ev_r) or len(wi_k) != len(wi_r):
            raise KernelMismatchError("scan_kernel", "scan_kernel_py", f"the band-edge recording ({costs})",
                                      f"{int(ev_k)} evaluations, {len(wi_k)} windows",
                                      f"{int(ev_r)} evaluations, {len(wi_r)} windows")
    return len(columns[0]) * len(_SCAN_CHECK_COSTS)


# ------------------------------------------------------------------------------------------ parameters

@dataclass(frozen=True, slots=True)
class ScanParams:
    """The rule's numbers for one scan.

    Attributes:
      costs: The cost model of the recording's date (fees bps per venue, sell tax bps per market).
      min_net_ticks_default: ``spread_engine.edge_rule.min_net_ticks_after_fees`` (ticks of the buy price).
      min_net_ticks_override: Code → ``edge_buffer_ticks`` from ``symbols.per_symbol_overrides``.
      min_qty: ``max(execution.slice_qty, also_require_min_visible_qty)``, shares.
      markets: Code → ``'KOSPI'``/``'KOSDAQ'`` (codes not in it are KOSPI).
    """

    costs: CostModel
    min_net_ticks_default: float
    min_net_ticks_override: Mapping[str, float]
    min_qty: int
    markets: Mapping[str, str]

    def per_symbol(self, codes: Iterable[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """``(tax_bps float64[n], min_net_ticks float64[n], defaulted)`` for ``codes``; ``defaulted`` counts
        the codes without a market (taken as KOSPI)."""
        codes = list(codes)
        tax = np.empty(len(codes), dtype=np.float64)
        mnt = np.empty(len(codes), dtype=np.float64)
        defaulted = 0
        for i, c in enumerate(codes):
            market = self.markets.get(c)
            if market is None:
                defaulted += 1
                market = "KOSPI"
            tax[i] = self.costs.tax_bps(market)
            mnt[i] = float(self.min_net_ticks_override.get(c, self.min_net_ticks_default))
        return tax, mnt, defaulted



# ------------------------------------------------------------------------------------------ scanning

def scan_arrays(code_idx: np.ndarray, venue: np.ndarray, ask: np.ndarray, bid: np.ndarray, ask_qty: np.ndarray,
                bid_qty: np.ndarray, has_ask: np.ndarray, has_bid: np.ndarray, has_ask_qty: np.ndarray,
                has_bid_qty: np.ndarray, check_size: np.ndarray, tax_bps: np.ndarray, min_net_ticks: np.ndarray,
                krx_fee_bps: float, nxt_fee_bps: float, min_qty: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Run :func:`scan_kernel` on decoded columns and order the windows by (start row, direction).

    Units as in :func:`scan_kernel` (prices KRW, sizes shares, fees/tax bps). Returns ``(wi, wf,
    n_evaluations)`` with the same columns.
    """
    n_symbols = int(tax_bps.shape[0])
    if min_net_ticks.shape[0] != n_symbols:
        raise ValueError("tax_bps and min_net_ticks must have one entry per symbol")
    n = code_idx.shape[0]
    for a in (venue, ask, bid, ask_qty, bid_qty, has_ask, has_bid, has_ask_qty, has_bid_qty, check_size):
        if a.shape[0] != n:
            raise ValueError("every per-row array must have the same length")
    if n and (int(code_idx.min()) < 0 or int(code_idx.max()) >= n_symbols):
        raise ValueError(f"code_idx out of range [0, {n_symbols})")
    wi, wf, n_eval = scan_kernel(code_idx, venue, ask, bid, ask_qty, bid_qty, has_ask, has_bid, has_ask_qty,
                                 has_bid_qty, check_size, n_symbols, float(krx_fee_bps), float(nxt_fee_bps),
                                 np.ascontiguousarray(tax_bps, dtype=np.float64),
                                 np.ascontiguousarray(min_net_ticks, dtype=np.float64), int(min_qty))
    order = np.lexsort((wi[:, _W_DIR], wi[:, _W_START])) if len(wi) else np.zeros(0, dtype=np.int64)
    return wi[order], wf[order], int(n_eval)
