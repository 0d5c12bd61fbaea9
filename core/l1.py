"""The L1 row: one best-bid/offer update of one venue of one symbol, as numpy carries it in bulk.

Market data crosses processes in batches of rows of :data:`L1_ROW_DTYPE` (never one message per tick).
A row updates only the fields it carries: ``0`` in a price or size means *not carried by this update*
(the book keeps what it had); :data:`EMPTY` in a price means *this side of the book is empty now* (limit
up/down, a call: the side and its size are cleared). Prices are KRW, sizes shares, times ns.
"""
from __future__ import annotations

import numpy as np

__all__ = ["EMPTY", "KIND_QUOTE", "KIND_TRADE", "L1_ROW_DTYPE", "empty_rows"]

#: A price that says "this side is empty" (the bridge's reading of a zero the broker sent).
EMPTY = -1

#: Columns of a market batch (one entry per real-data event, in arrival order; explicit little-endian).
L1_ROW_DTYPE = np.dtype([
    ("sym", "<i4"),          # index in the universe (file order)
    ("venue", "i1"),         # core.enums.Venue.l1_index: 0 KRX, 1 NXT
    ("kind", "i1"),          # KIND_QUOTE or KIND_TRADE
    ("ask", "<i8"), ("bid", "<i8"), ("ask_qty", "<i8"), ("bid_qty", "<i8"),   # 0 = not carried, EMPTY = empty
    ("last", "<i8"),
    ("t_ns", "<i8"),         # engine clock of the event
    ("arrival_ns", "<i8"),   # monotonic wall time the bridge received it (Tick→Signal latency origin)
])

#: ``kind`` of a book update (best prices and sizes).
KIND_QUOTE = 0
#: ``kind`` of a trade print (last price; best prices when the print carries them).
KIND_TRADE = 1


def empty_rows() -> np.ndarray:
    """A batch with no rows."""
    return np.zeros(0, dtype=L1_ROW_DTYPE)
