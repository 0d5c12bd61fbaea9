"""The market-source protocol the emulated control pulls from, and a list-backed source for tests.

A market source yields :class:`~kiwoom_bridge.types.QuoteEvent` values in time order. The synthetic
generator (``synthetic.py``) and the Parquet replay (``replay.py``) implement it; the control never
knows which one it has.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from kiwoom_bridge.types import QuoteEvent

__all__ = ["MarketSource", "ListSource", "SourceOrderError"]


@runtime_checkable
class MarketSource(Protocol):
    """A time-ordered stream of market events.

    Attributes:
      codes: The 6-digit base codes the source produces events for.
      start_ns: The simulated time (ns since the epoch) the source starts at.
      adds_latency: True when event times are exchange times and the emulator should add
        ``sim.latency.market_data_ms`` before delivery (synthetic); False when they are already
        receive times (replay).
      sizes_known: False when best sizes are assumed rather than recorded (old recordings).
      description: One line for logs and reports.
    """

    codes: tuple[str, ...]
    start_ns: int
    adds_latency: bool
    sizes_known: bool
    description: str

    def peek_time_ns(self) -> int | None:
        """Time (ns) of the next event, or None when the source is exhausted."""
        ...

    def pop_until(self, t_ns: int) -> list[QuoteEvent]:
        """Remove and return every remaining event with ``t_ns ≤ t_ns``, in time order."""
        ...


class SourceOrderError(ValueError):
    """A :class:`ListSource` was given events out of time order."""


class ListSource:
    """A :class:`MarketSource` over a fixed list of events (tests and small scripted scenarios).

    Args:
      events: QuoteEvents in non-decreasing ``t_ns`` order.
      start_ns: Start time (ns); defaults to the first event's time (0 for an empty list).
      adds_latency: See :class:`MarketSource` (default False: times are delivery times).
      description: Free text.

    Raises:
      SourceOrderError: If the events are not in time order.
    """

    def __init__(self, events: Iterable[QuoteEvent], *, start_ns: int | None = None,
                 adds_latency: bool = False, description: str = "list source") -> None:
        self._events: list[QuoteEvent] = list(events)
        self._times = [e.t_ns for e in self._events]
        for i in range(1, len(self._times)):
            if self._times[i] < self._times[i - 1]:
                raise SourceOrderError(f"event {i} at {self._times[i]} ns is before event {i - 1} "
                                       f"at {self._times[i - 1]} ns")
        self._pos = 0
        self.codes: tuple[str, ...] = tuple(dict.fromkeys(e.code for e in self._events))
        self.start_ns: int = start_ns if start_ns is not None else (self._times[0] if self._times else 0)
        self.adds_latency: bool = adds_latency
        self.sizes_known: bool = all(e.sizes_known for e in self._events)
        self.description: str = description

    def peek_time_ns(self) -> int | None:
        """Time of the next event, or None when exhausted."""
        return self._times[self._pos] if self._pos < len(self._times) else None

    def pop_until(self, t_ns: int) -> list[QuoteEvent]:
        """Every remaining event with time ≤ ``t_ns``, in order."""
        end = bisect.bisect_right(self._times, t_ns, self._pos)
        out = self._events[self._pos:end]
        self._pos = end
        return out

    def __len__(self) -> int:
        """Events not yet popped."""
        return len(self._events) - self._pos
