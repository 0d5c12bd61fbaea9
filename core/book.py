"""Per-shard L1 snapshot of both venues, updated in place from batches of real-data rows.

A :class:`ShardBook` owns the symbols of one MarketData shard (global universe indices). Each
venue's state is an ``int64[n, 4]`` array (bid, ask, bid_qty, ask_qty). A row changes only the
fields it carries (0 = absent); a negative price (:data:`core.l1.EMPTY`) empties that side — price and
size become 0, so a book with an empty side is never eligible (the edge kernel needs four prices) and never
shows the last price of a side that no longer exists. A symbol is *dirty* only if a best price or size actually
changed. Data quality per symbol: stale (no update for ``stale_after_ns``), crossed/locked on its
own venue, or a price off the tick grid.
"""
from __future__ import annotations

from typing import TypedDict

import numpy as np

from core.ticks import tick_size

BID, ASK, BID_QTY, ASK_QTY = 0, 1, 2, 3
Q_STALE, Q_CROSSED, Q_OFF_GRID = 1, 2, 4

# L1 row field -> book column
_FIELDS = (("bid", BID), ("ask", ASK), ("bid_qty", BID_QTY), ("ask_qty", ASK_QTY))


class BookState(TypedDict):
    """:meth:`ShardBook.delta`: the fields of a ``protocol.steps.BookDelta``, one entry per row."""

    sym: np.ndarray              # int32 universe indices
    krx: np.ndarray              # int64[n, 4] bid, ask (KRW), bid_qty, ask_qty (shares)
    nxt: np.ndarray              # int64[n, 4], as krx
    tick_arrival_ns: np.ndarray  # int64 arrival of the newest update that changed the row
    tick_t_ns: np.ndarray        # int64 t_ns of that update
    quality: np.ndarray          # uint8 Q_* flags


class ShardBook:
    """L1 book of a shard's symbols for KRX (venue 0) and NXT (venue 1).

    ``syms`` are universe indices in the shard's stable order. ``apply`` consumes a
    :data:`core.l1.L1_ROW_DTYPE` array (rows for other symbols are an error: the bridge routes by screen).
    """

    def __init__(self, syms: np.ndarray, stale_after_ns: int = 5_000_000_000) -> None:
        self.syms = np.asarray(syms, dtype=np.int64)
        n = len(self.syms)
        self.books = np.zeros((2, n, 4), dtype=np.int64)        # [venue, row, field]
        self.last_t_ns = np.zeros((2, n), dtype=np.int64)
        self.tick_arrival_ns = np.zeros(n, dtype=np.int64)
        self.tick_t_ns = np.zeros(n, dtype=np.int64)
        self.stale_after_ns = int(stale_after_ns)
        self.updates = 0
        self._local = {int(s): i for i, s in enumerate(self.syms)}
        self._lookup = np.full(int(self.syms.max()) + 1 if n else 1, -1, dtype=np.int64)
        self._lookup[self.syms] = np.arange(n)

    def __len__(self) -> int:
        return len(self.syms)

    def owns(self, rows_sym: np.ndarray) -> np.ndarray:
        """Boolean mask: which of these universe indices belong to this shard."""
        sym = np.asarray(rows_sym, dtype=np.int64)
        ok = (sym >= 0) & (sym < len(self._lookup))
        ok[ok] = self._lookup[sym[ok]] >= 0
        return ok

    def local_index(self, rows_sym: np.ndarray) -> np.ndarray:
        """Map universe indices to shard rows; raise if a row does not belong to this shard."""
        sym = np.asarray(rows_sym, dtype=np.int64)
        bad = (sym < 0) | (sym >= len(self._lookup))
        loc = np.full(len(sym), -1, dtype=np.int64)
        loc[~bad] = self._lookup[sym[~bad]]
        if (loc < 0).any():
            wrong = sorted(set(int(x) for x in sym[loc < 0]))[:5]
            raise ValueError(f"rows for symbols not owned by this shard: {wrong}")
        return loc

    def apply(self, rows: np.ndarray) -> np.ndarray:
        """Apply a batch in arrival order; return the shard rows whose best price/size changed.

        Vectorised: for each field the last non-zero value per (venue, symbol) in the batch wins,
        which is what applying the rows one by one gives. A symbol is dirty when its state at
        the end of the batch differs from the state before it (a value that moved and came back
        inside one batch does not trigger an evaluation). The tick time of a dirty symbol is
        that of its newest update in the batch.
        """
        if len(rows) == 0:
            return np.zeros(0, dtype=np.int64)
        loc = self.local_index(rows["sym"])
        venue = rows["venue"].astype(np.int64)
        n = len(self.syms)
        key = venue * n + loc                       # flat (venue, row) index into books[v, i]
        flat = self.books.reshape(2 * n, 4)
        touched = np.unique(key)
        before = flat[touched].copy()
        bid, ask = rows["bid"], rows["ask"]
        columns = (("bid", BID, bid), ("ask", ASK, ask),
                   # an emptied side takes its size with it
                   ("bid_qty", BID_QTY, np.where(bid < 0, -1, rows["bid_qty"])),
                   ("ask_qty", ASK_QTY, np.where(ask < 0, -1, rows["ask_qty"])))
        for _, col, vals in columns:
            m = np.flatnonzero(vals != 0)
            if len(m) == 0:
                continue
            k = key[m]
            # last occurrence per key: reverse, unique keeps the first
            rk = k[::-1]
            uk, first = np.unique(rk, return_index=True)
            flat[uk, col] = np.maximum(vals[m][::-1][first], 0)
        # engine time of the newest update per (venue, symbol), and per symbol
        rk = key[::-1]
        uk, first = np.unique(rk, return_index=True)
        last_t = self.last_t_ns.reshape(2 * n)
        last_t[uk] = rows["t_ns"][::-1][first]
        moved = (flat[touched] != before).any(axis=1)
        dirty_keys = touched[moved]
        changed_rows = np.unique(dirty_keys % n)
        if len(changed_rows):
            # newest update of each changed symbol (either venue)
            rl = loc[::-1]
            us, firsts = np.unique(rl, return_index=True)
            pos = np.searchsorted(us, changed_rows)
            idx = firsts[pos]
            self.tick_arrival_ns[changed_rows] = rows["arrival_ns"][::-1][idx]
            self.tick_t_ns[changed_rows] = rows["t_ns"][::-1][idx]
        self.updates += len(rows)
        return changed_rows.astype(np.int64)

    def apply_quanta(self, rows: np.ndarray, quanta: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, np.ndarray]:
        """Apply a batch that merges several lockstep quanta as if each quantum had been its own :meth:`apply`:
        ``quanta`` are ``(end_row, t_ns)`` in order, rows ``[previous end, end_row)`` arriving by ``t_ns`` (rows
        past the last end belong to the last quantum).

        Returns the rows whose state changed in any quantum and their quality flags, each judged when the
        quantum that last changed it ended (its own time and update times then): the book, tick times and flags
        a step per quantum would have left. Vectorised: one pass over the rows whatever the number of quanta.
        """
        m = len(rows)
        if m == 0 or not quanta:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint8)
        n = len(self.syms)
        ends = np.array([e for e, _ in quanta], dtype=np.int64)
        ends[-1] = m
        q_t = np.array([t for _, t in quanta], dtype=np.int64)
        seg = np.searchsorted(ends, np.arange(m), side="right")           # quantum of each row
        loc = self.local_index(rows["sym"])
        key = rows["venue"].astype(np.int64) * n + loc
        order = np.lexsort((np.arange(m), key))                            # by key, arrival order within
        k_s, seg_s = key[order], seg[order]
        pos = np.arange(m)
        first = np.ones(m, dtype=bool)
        first[1:] = k_s[1:] != k_s[:-1]
        group_start = np.maximum.accumulate(np.where(first, pos, 0))
        flat = self.books.reshape(2 * n, 4)
        before = flat[k_s]                                                 # the key's state before the batch
        bid, ask = rows["bid"][order], rows["ask"][order]
        state = np.empty((m, 4), dtype=np.int64)
        for col, vals in ((BID, bid), (ASK, ask), (BID_QTY, np.where(bid < 0, -1, rows["bid_qty"][order])),
                          (ASK_QTY, np.where(ask < 0, -1, rows["ask_qty"][order]))):
            src = np.maximum.accumulate(np.where(vals != 0, pos, group_start - 1))   # last non-zero so far
            own = src >= group_start
            state[:, col] = np.where(own, np.maximum(vals[np.where(own, src, 0)], 0), before[:, col])
        # the state at the end of each (key, quantum) run, against the run before it (or the batch's start)
        run_end = np.ones(m, dtype=bool)
        run_end[:-1] = (k_s[1:] != k_s[:-1]) | (seg_s[1:] != seg_s[:-1])
        r_idx = np.flatnonzero(run_end)
        r_state, r_key, r_seg = state[r_idx], k_s[r_idx], seg_s[r_idx]
        prev = flat[r_key].copy()
        same_key = np.zeros(len(r_idx), dtype=bool)
        same_key[1:] = r_key[1:] == r_key[:-1]
        prev[1:][same_key[1:]] = r_state[:-1][same_key[1:]]
        moved = (r_state != prev).any(axis=1)
        # per shard row: the last quantum in which either venue's state changed
        last_change = np.full(n, -1, dtype=np.int64)
        np.maximum.at(last_change, r_key[moved] % n, r_seg[moved])
        # the batch's end state and update times (every row counts for the update times, as in apply)
        g_last = np.flatnonzero(np.r_[k_s[1:] != k_s[:-1], True])
        last_t = self.last_t_ns.reshape(2 * n)
        before_t = last_t.copy()
        flat[k_s[g_last]] = state[g_last]
        last_t[k_s[g_last]] = rows["t_ns"][order][g_last]
        self.updates += m
        changed = np.flatnonzero(last_change >= 0)
        if len(changed) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint8)
        j = last_change[changed]
        # tick times: the newest update of the row (either venue) in the quantum that last changed it
        comp = loc * (len(quanta) + 1) + seg
        rev = comp[::-1]
        uc, first_rev = np.unique(rev, return_index=True)
        newest = m - 1 - first_rev[np.searchsorted(uc, changed * (len(quanta) + 1) + j)]
        self.tick_arrival_ns[changed] = rows["arrival_ns"][newest]
        self.tick_t_ns[changed] = rows["t_ns"][newest]
        # update times as they stood when that quantum ended: the key's last row in a quantum ≤ j
        kq = k_s * (len(quanta) + 1) + seg_s
        t_s = rows["t_ns"][order]
        as_of = np.empty((2, len(changed)), dtype=np.int64)
        for v in (0, 1):
            k = v * n + changed
            p = np.searchsorted(kq, k * (len(quanta) + 1) + j, side="right") - 1
            hit = (p >= 0) & (k_s[np.maximum(p, 0)] == k)
            as_of[v] = np.where(hit, t_s[np.maximum(p, 0)], before_t[k])
        return changed.astype(np.int64), self._flags(changed, q_t[j], as_of)

    def quality(self, local_rows: np.ndarray, now_ns: int) -> np.ndarray:
        """Quality flags (uint8) for ``local_rows``: stale, crossed/locked, off-grid."""
        return self._flags(local_rows, now_ns, self.last_t_ns[:, local_rows])

    def _flags(self, local_rows: np.ndarray, now_ns: int | np.ndarray, last_t_ns: np.ndarray) -> np.ndarray:
        """:meth:`quality` at ``now_ns`` (per row or one time) with the venues' update times ``last_t_ns``
        (``[2, len(local_rows)]``). A flag is set when either venue shows it; both venues and both sides are
        judged in one pass (a step's handful of rows: numpy's per-call cost, not the rows, is what costs)."""
        if len(local_rows) == 0:
            return np.zeros(0, dtype=np.uint8)
        b = self.books[:, local_rows, :]                       # [venue, row, field]
        bid, ask = b[:, :, BID], b[:, :, ASK]
        crossed = ((bid > 0) & (ask > 0) & (bid >= ask)).any(axis=0)
        px = b[:, :, BID:ASK + 1]
        pos = px > 0
        off = np.zeros(px.shape, dtype=bool)
        if pos.any():
            quoted = px[pos]
            off[pos] = (quoted % tick_size(quoted)) != 0
        off_grid = off.any(axis=(0, 2))
        stale = ((last_t_ns > 0) & (now_ns - last_t_ns > self.stale_after_ns)).any(axis=0)
        out = np.zeros(len(local_rows), dtype=np.uint8)
        out[crossed] |= Q_CROSSED
        out[off_grid] |= Q_OFF_GRID
        out[stale] |= Q_STALE
        return out

    def delta(self, local_rows: np.ndarray, now_ns: int, quality: np.ndarray | None = None) -> BookState:
        """The full state of ``local_rows`` for a BookDelta message (copies, safe to send); ``quality``: their flags
        when already judged (:meth:`apply_quanta`), else judged now."""
        return {
            "sym": self.syms[local_rows].astype(np.int32),
            "krx": self.books[0, local_rows].copy(),
            "nxt": self.books[1, local_rows].copy(),
            "tick_arrival_ns": self.tick_arrival_ns[local_rows].copy(),
            "tick_t_ns": self.tick_t_ns[local_rows].copy(),
            "quality": self.quality(local_rows, now_ns) if quality is None else quality,
        }

    def stale_rows(self, now_ns: int) -> np.ndarray:
        """Rows with data that has gone stale on either venue (never-updated rows are not stale)."""
        last = self.last_t_ns
        stale = ((last > 0) & (now_ns - last > self.stale_after_ns)).any(axis=0)
        return np.flatnonzero(stale)
