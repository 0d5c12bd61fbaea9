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

    def quality(self, local_rows: np.ndarray, now_ns: int) -> np.ndarray:
        """Quality flags (uint8) for ``local_rows``: stale, crossed/locked, off-grid."""
        out = np.zeros(len(local_rows), dtype=np.uint8)
        if len(local_rows) == 0:
            return out
        for v in (0, 1):
            b = self.books[v, local_rows]
            bid, ask = b[:, BID], b[:, ASK]
            both = (bid > 0) & (ask > 0)
            out[both & (bid >= ask)] |= Q_CROSSED
            for px in (bid, ask):
                pos = px > 0
                if pos.any():
                    ticks = tick_size(px[pos])
                    off = np.zeros(len(px), dtype=bool)
                    off[pos] = (px[pos] % ticks) != 0
                    out[off] |= Q_OFF_GRID
            last = self.last_t_ns[v, local_rows]
            out[(last > 0) & (now_ns - last > self.stale_after_ns)] |= Q_STALE
        return out

    def delta(self, local_rows: np.ndarray, now_ns: int) -> BookState:
        """The full state of ``local_rows`` for a BookDelta message (copies, safe to send)."""
        return {
            "sym": self.syms[local_rows].astype(np.int32),
            "krx": self.books[0, local_rows].copy(),
            "nxt": self.books[1, local_rows].copy(),
            "tick_arrival_ns": self.tick_arrival_ns[local_rows].copy(),
            "tick_t_ns": self.tick_t_ns[local_rows].copy(),
            "quality": self.quality(local_rows, now_ns),
        }

    def stale_rows(self, now_ns: int) -> np.ndarray:
        """Rows with data that has gone stale on either venue (never-updated rows are not stale)."""
        last = self.last_t_ns
        stale = ((last > 0) & (now_ns - last > self.stale_after_ns)).any(axis=0)
        return np.flatnonzero(stale)
