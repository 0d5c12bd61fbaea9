"""A deterministic discrete-event queue: the emulator's one simulated clock.

Events are ``(t_ns, seq, callback, args)``; ``seq`` is the insertion counter, so events at the same
time run in the order they were scheduled. Nothing here reads the wall clock.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

__all__ = ["SimScheduler", "SchedulerError"]


class SchedulerError(ValueError):
    """An event was scheduled in the past, or the clock was asked to move backwards."""


class SimScheduler:
    """Deterministic event queue on simulated time (nanoseconds since the Unix epoch, UTC).

    Args:
      start_ns: The initial simulated time, ns since the epoch.

    Callbacks may schedule further events (also at ``now_ns``: they run after the ones already queued
    for that instant). A callback that raises propagates out of :meth:`run_until`; the event is consumed.
    """

    __slots__ = ("now_ns", "_heap", "_seq")

    def __init__(self, start_ns: int) -> None:
        if isinstance(start_ns, bool) or not isinstance(start_ns, int):
            raise TypeError(f"start_ns must be an int of nanoseconds, got {type(start_ns).__name__}")
        self.now_ns: int = start_ns
        self._heap: list[tuple[int, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = 0

    def at(self, t_ns: int, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` at simulated time ``t_ns`` (≥ ``now_ns``).

        Raises:
          SchedulerError: If ``t_ns`` is before the current simulated time.
        """
        if t_ns < self.now_ns:
            raise SchedulerError(f"cannot schedule at {t_ns} ns: the simulated clock is already at {self.now_ns} ns")
        self._seq += 1
        heapq.heappush(self._heap, (t_ns, self._seq, callback, args))

    def after(self, delay_ns: int, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` ``delay_ns`` (≥ 0) after the current simulated time."""
        self.at(self.now_ns + delay_ns, callback, *args)

    def next_time_ns(self) -> int | None:
        """Time of the earliest pending event, or None when the queue is empty."""
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)

    def run_until(self, t_ns: int) -> int:
        """Run every event with time ≤ ``t_ns`` in order, then set ``now_ns = t_ns``.

        ``now_ns`` equals each event's time while its callback runs. Returns the number of events run.

        Raises:
          SchedulerError: If ``t_ns`` is before the current simulated time.
        """
        if t_ns < self.now_ns:
            raise SchedulerError(f"run_until({t_ns}) would move the simulated clock back from {self.now_ns}")
        heap = self._heap
        pop = heapq.heappop
        n = 0
        while heap and heap[0][0] <= t_ns:
            t, _, cb, args = pop(heap)
            self.now_ns = t
            cb(*args)
            n += 1
        self.now_ns = t_ns
        return n

    def run_before(self, t_ns: int) -> int:
        """Run every event with time < ``t_ns`` (strictly), then set ``now_ns = t_ns``.

        The emulator uses this to apply a market event at ``t_ns`` before the events scheduled for
        the same instant. Returns the number of events run.
        """
        if t_ns < self.now_ns:
            raise SchedulerError(f"run_before({t_ns}) would move the simulated clock back from {self.now_ns}")
        heap = self._heap
        pop = heapq.heappop
        n = 0
        while heap and heap[0][0] < t_ns:
            t, _, cb, args = pop(heap)
            self.now_ns = t
            cb(*args)
            n += 1
        self.now_ns = t_ns
        return n

    def run_next(self) -> bool:
        """Run the single earliest event (advancing ``now_ns`` to its time); False when none is pending."""
        if not self._heap:
            return False
        t, _, cb, args = heapq.heappop(self._heap)
        self.now_ns = t
        cb(*args)
        return True

    def __repr__(self) -> str:
        return f"SimScheduler(now_ns={self.now_ns}, pending={len(self._heap)})"
