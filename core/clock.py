"""The engine's single notion of time.

Every timer in the engine (hedge timeout, cooldown, session guard, throttle window, auto-pause) reads ONE
value: ``now_ns``, an ``int`` of nanoseconds since the Unix epoch (UTC). In the simulator that value is
simulated time; live it is the wall clock. Pure modules never read the time themselves: they take
``now_ns`` arguments, which makes them exact and deterministic under a :class:`FakeClock`.

Market times of day are Asia/Seoul (KST, UTC+9, no daylight saving). The helpers here convert with
:data:`KST` explicitly, so the machine's own time zone (``TZ``) never matters.
"""
from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from typing import Protocol, runtime_checkable

__all__ = [
    "KST",
    "NS_PER_MS",
    "NS_PER_S",
    "Clock",
    "ClockError",
    "FakeClock",
    "WallClock",
    "kst_date",
    "kst_datetime",
    "ms_to_ns",
    "ns_from_kst",
    "ns_to_ms",
    "s_to_ns",
]

KST = zoneinfo.ZoneInfo("Asia/Seoul")
"""The market's time zone. Use it for every date/time-of-day decision."""

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class ClockError(ValueError):
    """A clock was asked to do something that would break its guarantees (e.g. run backwards)."""


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the time as nanoseconds since the Unix epoch (UTC)."""

    def now_ns(self) -> int:
        """Return the current time in nanoseconds since the Unix epoch (UTC)."""
        ...


class WallClock:
    """The machine's real-time clock (``time.time_ns()``), for live trading.

    It is not monotonic (NTP may step it); latency measurements should use ``time.perf_counter_ns``
    instead. Engine timers use it so that simulated and live runs share one code path.
    """

    def now_ns(self) -> int:
        """Return the wall-clock time in nanoseconds since the Unix epoch (UTC)."""
        return time.time_ns()

    def __repr__(self) -> str:
        return "WallClock()"


class FakeClock:
    """A clock that moves only when told to: for tests and for the simulator's lockstep mode.

    It never runs backwards unless :meth:`set` is explicitly allowed to, so components that rely on
    monotonic time (the throttle's sliding window) stay valid.

    Args:
      start_ns: The initial time, nanoseconds since the Unix epoch (UTC).
    """

    __slots__ = ("_now_ns",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = _as_ns(start_ns, "start_ns")

    def now_ns(self) -> int:
        """Return the current fake time in nanoseconds since the Unix epoch (UTC)."""
        return self._now_ns

    def advance(self, *, ms: float = 0, s: float = 0, ns: int = 0) -> int:
        """Move the clock forward by ``s`` seconds + ``ms`` milliseconds + ``ns`` nanoseconds.

        Fractional seconds/milliseconds are rounded to the nearest nanosecond.

        Returns:
          The new time in nanoseconds since the epoch.

        Raises:
          ClockError: If the total step is negative.
        """
        step = s_to_ns(s) + ms_to_ns(ms) + _as_ns(ns, "ns")
        if step < 0:
            raise ClockError(f"cannot advance a FakeClock by a negative step ({step} ns)")
        self._now_ns += step
        return self._now_ns

    def set(self, ns: int, *, allow_backwards: bool = False) -> None:
        """Jump to ``ns`` (nanoseconds since the epoch).

        Raises:
          ClockError: If ``ns`` is earlier than the current time and ``allow_backwards`` is false.
        """
        ns = _as_ns(ns, "ns")
        if ns < self._now_ns and not allow_backwards:
            raise ClockError(f"FakeClock.set({ns}) would move time backwards from {self._now_ns}")
        self._now_ns = ns

    def __repr__(self) -> str:
        return f"FakeClock({self._now_ns}  # {kst_datetime(self._now_ns).isoformat()})"


def _as_ns(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int of nanoseconds, got {type(value).__name__}")
    return value


def ms_to_ns(ms: float) -> int:
    """Milliseconds → nanoseconds (int; fractions rounded to the nearest ns)."""
    if isinstance(ms, int):
        return ms * NS_PER_MS
    return round(ms * NS_PER_MS)


def s_to_ns(s: float) -> int:
    """Seconds → nanoseconds (int; fractions rounded to the nearest ns)."""
    if isinstance(s, int):
        return s * NS_PER_S
    return round(s * NS_PER_S)


def ns_to_ms(ns: int) -> float:
    """Nanoseconds → milliseconds (float), for display and latency figures."""
    return ns / NS_PER_MS


def kst_datetime(now_ns: int) -> dt.datetime:
    """The instant ``now_ns`` as an aware ``datetime`` in Asia/Seoul (microsecond precision, truncated)."""
    seconds, rem = divmod(now_ns, NS_PER_S)
    return dt.datetime.fromtimestamp(seconds, tz=KST).replace(microsecond=rem // 1000)


class _KstDay:
    """The Asia/Seoul day last asked for, as ``[start_ns, end_ns)``: the engine asks for the date of nearly every
    step's time, and converting through the time-zone database each time cost 4 % of a backtest."""

    __slots__ = ("span",)

    def __init__(self) -> None:
        self.span: tuple[int, int, dt.date] = (0, 0, dt.date.min)     # replaced whole: safe to read from threads

    def of(self, now_ns: int) -> dt.date:
        start, end, day = self.span
        if start <= now_ns < end:
            return day
        day = kst_datetime(now_ns).date()
        self.span = (ns_from_kst(day, dt.time(0)), ns_from_kst(day + dt.timedelta(days=1), dt.time(0)), day)
        return day


_KST_DAY = _KstDay()


def kst_date(now_ns: int) -> dt.date:
    """The Asia/Seoul calendar date of the instant ``now_ns``."""
    return _KST_DAY.of(now_ns)


def ns_from_kst(date: dt.date, time_of_day: dt.time) -> int:
    """Nanoseconds since the epoch of ``time_of_day`` on ``date`` in Asia/Seoul (exact to the microsecond).

    Args:
      date: A calendar date (not a ``datetime``).
      time_of_day: A naive time of day, read as Asia/Seoul.

    Raises:
      TypeError: If ``date`` is a ``datetime`` or ``time_of_day`` carries its own tzinfo (ambiguous).
    """
    if isinstance(date, dt.datetime) or not isinstance(date, dt.date):
        raise TypeError(f"date must be a datetime.date, got {type(date).__name__}")
    if not isinstance(time_of_day, dt.time) or time_of_day.tzinfo is not None:
        raise TypeError("time_of_day must be a naive datetime.time (it is read as Asia/Seoul)")
    delta = dt.datetime.combine(date, time_of_day, tzinfo=KST) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000
