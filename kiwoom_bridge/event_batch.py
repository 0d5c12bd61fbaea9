"""Market events as numpy columns: the fast path of every market source (synthetic, replay) and the decoded form
of a recording (:mod:`kiwoom_bridge.recording_reader`).

``venue`` and ``real_type`` are small integer codes indexing :data:`VENUE_CODES` and :data:`REAL_TYPE_CODES`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kiwoom_bridge.types import KRX, NXT, REAL_TYPE_QUOTE, REAL_TYPE_TRADE, REAL_TYPE_VI, QuoteEvent

__all__ = ["REAL_TYPE_CODES", "RT_QUOTE", "RT_TRADE", "RT_VI_END", "RT_VI_START", "VENUE_CODES", "VI_KIND_CODES",
           "EventBatch"]

#: ``EventBatch.venue`` values index this tuple: 0 = KRX, 1 = NXT.
VENUE_CODES: tuple[str, str] = (KRX, NXT)
#: ``EventBatch.real_type`` values index this tuple.
REAL_TYPE_CODES: tuple[str, str, str, str] = (REAL_TYPE_QUOTE, REAL_TYPE_TRADE, REAL_TYPE_VI, REAL_TYPE_VI)
RT_QUOTE = 0   #: 주식호가잔량 (book update)
RT_TRADE = 1   #: 주식체결 (trade print)
RT_VI_START = 2  #: VI발동/해제, a volatility interruption starts (``last`` = trigger price, ``last_qty`` = kind code)
RT_VI_END = 3    #: VI발동/해제, it ends (``last`` = uncross price or 0, ``last_qty`` = kind code)
#: ``last_qty`` of a VI row → :class:`~kiwoom_bridge.types.QuoteEvent` ``vi_kind``.
VI_KIND_CODES: dict[int, str] = {0: "", 1: "static", 2: "dynamic", 3: "static+dynamic"}

_INT_FIELDS = ("ask", "bid", "ask_qty", "bid_qty", "last", "last_qty", "cum_volume", "change")


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Market events as columns (the fast path of a market source), in time order.

    All arrays have the same length. Prices in KRW, quantities in shares, ``0`` = field not carried.

    Attributes:
      t_ns: int64 event time, ns since the Unix epoch.
      code_idx: int32 index into the source's ``codes``.
      venue: uint8, 0 = KRX, 1 = NXT (:data:`VENUE_CODES`).
      real_type: uint8, 0 = 주식호가잔량, 1 = 주식체결, 2/3 = a VI's start/end (:data:`REAL_TYPE_CODES`).
      ask, bid, ask_qty, bid_qty: int64 best ask/bid price and size.
      last, last_qty: int64 trade price and quantity (trade prints).
      cum_volume: int64 cumulative volume of the venue (trade prints).
      change: int64 signed change from the previous close (KRW); change_rate: float64 signed %.
    """

    t_ns: np.ndarray
    code_idx: np.ndarray
    venue: np.ndarray
    real_type: np.ndarray
    ask: np.ndarray
    bid: np.ndarray
    ask_qty: np.ndarray
    bid_qty: np.ndarray
    last: np.ndarray
    last_qty: np.ndarray
    cum_volume: np.ndarray
    change: np.ndarray
    change_rate: np.ndarray

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])

    @classmethod
    def empty(cls) -> EventBatch:
        """A batch of no events."""
        i64 = np.zeros(0, dtype=np.int64)
        return cls(i64, np.zeros(0, np.int32), np.zeros(0, np.uint8), np.zeros(0, np.uint8),
                   **dict.fromkeys(_INT_FIELDS, i64), change_rate=np.zeros(0, np.float64))

    @classmethod
    def concat(cls, batches: Sequence[EventBatch]) -> EventBatch:
        """The batches one after the other (no re-sorting)."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        return cls(*(np.concatenate([getattr(b, f) for b in batches]) for f in cls.__slots__))

    def slice(self, start: int, stop: int) -> EventBatch:
        """Rows ``start:stop`` (views, no copy)."""
        return EventBatch(*(getattr(self, f)[start:stop] for f in self.__slots__))

    def take(self, index: np.ndarray) -> EventBatch:
        """Rows at ``index`` (an int array or a bool mask)."""
        return EventBatch(*(getattr(self, f)[index] for f in self.__slots__))

    def to_events(self, codes: Sequence[str], sizes_known: bool = True) -> list[QuoteEvent]:
        """The batch as :class:`QuoteEvent` objects (``codes[code_idx]`` gives each event's code)."""
        cols = [getattr(self, f).tolist() for f in self.__slots__]
        code_of = list(codes)
        out = [QuoteEvent(t, code_of[c], VENUE_CODES[v], REAL_TYPE_CODES[r], a, b, aq, bq, la, lq, cv, ch, cr,
                          sizes_known)
               if r < RT_VI_START else
               QuoteEvent(t, code_of[c], VENUE_CODES[v], REAL_TYPE_VI, last=la, vi_active=r == RT_VI_START,
                          vi_kind=VI_KIND_CODES.get(lq, ""))
               for t, c, v, r, a, b, aq, bq, la, lq, cv, ch, cr in zip(*cols, strict=True)]
        return out
