"""When the engine may trade: KRX trading days, the guard window and NXT main state from the broker.

The engine is armed only when all of these hold (SPEC §3), evaluated in Asia/Seoul whatever the
machine's time zone:

1. the day is a KRX trading day: ``exchange_calendars`` ``XKRX`` says it is a session and it is not in
   ``sessions.extra_holidays`` (4.13.2 misses e.g. 2026-06-03);
2. if ``sessions.arm_only_in_overlap``: the time is in the guard window ``overlap_window``
   (start inclusive, end exclusive; 09:00:32 ≤ t < 15:19:50 by default);
3. if ``sessions.use_fid_215_signals``: the broker's market-operation notices (Kiwoom's FID 215,
   translated by the bridge into :class:`~core.enums.MarketOperation`) say NXT main is open — the last
   of ``NXT_MAIN_OPEN`` / ``NXT_MAIN_CLOSE`` received *today*. With no such notice today,
   ``sessions.fid_215_unknown`` decides: ``closed`` waits for the open notice, ``clock`` trusts the
   ``nxt_main`` window until one arrives. With the notices off, the ``nxt_main`` window is used.

On days the calendar marks as a late open (the first trading day of a year opens at 10:00), the guard
start moves later by the same amount; it is never moved earlier and the guard end never moves. On a day in
``sessions.delayed_open`` (수능 day) every window — the guard window and ``nxt_main`` included — moves later
by its minutes (:mod:`core.phases` moves the venues' phases alike).

All times are ``now_ns`` values (int nanoseconds since the Unix epoch, see :mod:`core.clock`).
"""
from __future__ import annotations

import datetime as dt
import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.clock import NS_PER_S, kst_datetime, ns_from_kst
from core.enums import MarketOperation

if TYPE_CHECKING:
    from config.schema import SessionsConfig

__all__ = [
    "PHASES",
    "ArmStatus",
    "CalendarRangeError",
    "DayStatus",
    "SessionChange",
    "SessionClock",
    "UnsupportedCalendarError",
]

PHASES = ("closed-day", "pre-open", "armed", "post-close", "nxt-closed")
"""Every value :attr:`ArmStatus.phase` can take."""

_CALENDAR_START = dt.date(2020, 1, 1)   # NXT began in 2025; building from 2020 keeps start-up < 1 s


class CalendarRangeError(ValueError):
    """A date outside the range the trading calendar covers (XKRX: holidays precomputed to 2050)."""


class UnsupportedCalendarError(ValueError):
    """``sessions.calendar`` names a calendar this module cannot load (only ``XKRX`` is supported)."""


@dataclass(frozen=True, slots=True)
class DayStatus:
    """Whether ``date`` is a KRX trading day and why not.

    ``source`` names what closed it: ``'weekend'``, ``'XKRX'``, ``'extra_holidays'`` (or None when open).
    """

    date: dt.date
    trading: bool
    reason: str
    source: str | None


@dataclass(frozen=True, slots=True)
class SessionChange:
    """One market-operation notice as received and what it did to the NXT main state.

    Attributes:
      operation: What the notice means (``UNKNOWN`` when the bridge had no meaning for it).
      raw: The broker's own code, for the log.
      at_ns: When it was received.
      nxt_main_open: NXT main state after this notice today (True/False), or None if still unknown.
      changed: Whether this notice changed today's NXT main state.
    """

    operation: MarketOperation
    raw: str
    at_ns: int
    nxt_main_open: bool | None
    changed: bool

    @property
    def known(self) -> bool:
        """Whether the bridge knew the broker's code."""
        return self.operation is not MarketOperation.UNKNOWN


@dataclass(frozen=True, slots=True)
class ArmStatus:
    """Whether the engine may open new pairs, why, and the session phase (one of :data:`PHASES`)."""

    armed: bool
    reason: str
    phase: str


@dataclass(frozen=True, slots=True)
class _Calendar:
    name: str
    first: dt.date
    last: dt.date
    sessions: frozenset[dt.date]
    late_open: dict[dt.date, dt.time]   # session date → KST open time, only where it is not the usual


_calendars: dict[str, _Calendar] = {}
_calendars_lock = threading.Lock()


def _calendar(name: str) -> _Calendar:
    """The trading calendar ``name``, built on first use and shared by every SessionClock in the process."""
    with _calendars_lock:
        cal = _calendars.get(name)
        if cal is None:
            cal = _calendars[name] = _load_calendar(name)
        return cal


def _load_calendar(name: str) -> _Calendar:
    # exchange_calendars pulls in pandas: import it only when a calendar is first needed.
    from exchange_calendars.exchange_calendar_xkrx import XKRXExchangeCalendar

    classes = {"XKRX": XKRXExchangeCalendar}
    if name not in classes:
        raise UnsupportedCalendarError(f"unsupported trading calendar {name!r} (supported: {', '.join(classes)})")
    cls = classes[name]
    last = cls.bound_max().date()   # holidays are precomputed up to here (2050 for XKRX)
    with warnings.catch_warnings():
        # exchange_calendars 4.13.2 trips a pandas 3 deprecation (Series.values on tz-aware data).
        warnings.filterwarnings("ignore", message=r"Series\.values returning an ndarray")
        xcal = cls(start=_CALENDAR_START.isoformat(), end=last.isoformat())
        schedule = xcal.schedule
    opens = schedule["open"].dt.tz_convert("Asia/Seoul")
    usual = opens.dt.time.mode().iloc[0]
    late = {ts.date(): o.time() for ts, o in zip(schedule.index, opens, strict=True) if o.time() > usual}
    return _Calendar(
        name=name,
        first=_CALENDAR_START,
        last=last,
        sessions=frozenset(ts.date() for ts in schedule.index),
        late_open=late,
    )


def _fmt_time(t: dt.time) -> str:
    return t.isoformat(timespec="milliseconds") if t.microsecond else t.isoformat(timespec="seconds")


def _add(t: dt.time, delta: dt.timedelta) -> dt.time:
    return (dt.datetime.combine(dt.date(2000, 1, 1), t) + delta).time()


class SessionClock:
    """Decides from ``now_ns`` and the market-operation notices whether the engine is armed (module docstring).

    Args:
      sessions_cfg: The ``sessions`` section of the configuration (:class:`config.schema.SessionsConfig`).
      mismatch_grace_ns: How long the notices may lag the clock before :meth:`mismatch` reports an open
        notice still standing after ``nxt_main`` ended (or received before it began). Default 5 s.
    """

    def __init__(self, sessions_cfg: SessionsConfig, *, mismatch_grace_ns: int = 5 * NS_PER_S) -> None:
        self._cfg = sessions_cfg
        self._extra = frozenset(sessions_cfg.extra_holidays)
        self._grace_ns = mismatch_grace_ns
        self._days: dict[dt.date, DayStatus] = {}
        self._last_notice: SessionChange | None = None     # the last notice of any kind
        self._main: SessionChange | None = None            # the last NXT main open / close
        self._main_date: dt.date | None = None             # its KST date

    # -- calendar ----------------------------------------------------------------------------------

    def day_status(self, date: dt.date) -> DayStatus:
        """Whether ``date`` (a KST calendar date) is a KRX trading day, with the reason and source.

        Raises:
          TypeError: If ``date`` is not a plain ``datetime.date``.
          CalendarRangeError: If ``date`` is outside the calendar's range.
        """
        if isinstance(date, dt.datetime) or not isinstance(date, dt.date):
            raise TypeError(f"date must be a datetime.date, got {type(date).__name__}")
        cached = self._days.get(date)
        if cached is not None:
            return cached
        cal = _calendar(self._cfg.calendar)
        if not cal.first <= date <= cal.last:
            raise CalendarRangeError(
                f"{date} is outside the {cal.name} calendar range {cal.first}..{cal.last} "
                f"(exchange_calendars precomputes {cal.name} holidays only to {cal.last.year})")
        iso = date.isoformat()
        in_extra = date in self._extra
        if date.weekday() >= 5:
            status = DayStatus(date, False, f"{iso} is a {date.strftime('%A')} (weekend)", "weekend")
        elif date not in cal.sessions:
            also = "; also in sessions.extra_holidays" if in_extra else ""
            status = DayStatus(date, False, f"{iso} is not a KRX trading day ({cal.name} holiday{also})",
                               cal.name)
        elif in_extra:
            status = DayStatus(date, False, f"{iso} is in sessions.extra_holidays "
                                            f"({cal.name} lists it as a session)", "extra_holidays")
        else:
            status = DayStatus(date, True, f"{iso} is a KRX trading day", None)
        self._days[date] = status
        return status

    def is_trading_day(self, date: dt.date) -> bool:
        """True iff ``date`` is an XKRX session, not a weekend and not in ``sessions.extra_holidays``.

        Raises:
          CalendarRangeError: If ``date`` is outside the calendar's range.
        """
        return self.day_status(date).trading

    def next_trading_day(self, date: dt.date) -> dt.date:
        """The first trading day on or after ``date``.

        Raises:
          CalendarRangeError: If none is found within the calendar's range.
        """
        day = date
        while not self.is_trading_day(day):
            day += dt.timedelta(days=1)
        return day

    # -- guard window ------------------------------------------------------------------------------

    def delay(self, date: dt.date) -> dt.timedelta:
        """How much later every window of ``date`` is (``sessions.delayed_open``; zero on a normal day)."""
        return dt.timedelta(minutes=int(self._cfg.delayed_open.get(date, 0)))

    def nxt_main_window(self, date: dt.date) -> tuple[dt.time, dt.time]:
        """``nxt_main`` on ``date`` (KST times of day), moved by a delayed open."""
        d = self.delay(date)
        return _add(self._cfg.nxt_main.start, d), _add(self._cfg.nxt_main.end, d)

    def guard_window(self, date: dt.date) -> tuple[dt.time, dt.time]:
        """The guard window (KST times of day) on ``date``: ``overlap_window`` moved by a delayed open, its start
        delayed on the calendar's late opens."""
        d = self.delay(date)
        start, end = _add(self._cfg.overlap_window.start, d), _add(self._cfg.overlap_window.end, d)
        # a day in delayed_open is moved as a whole; a newer calendar may list the same day as a late open
        late = None if d else _calendar(self._cfg.calendar).late_open.get(date)
        if late is not None:
            usual = dt.datetime.combine(date, self._cfg.krx_day.start)
            delay = dt.datetime.combine(date, late) - usual
            if delay > dt.timedelta(0):
                start = min(_add(start, delay), end)
        return start, end

    def guard_start_ns(self, date: dt.date) -> int:
        """``now_ns`` of the guard-window start on ``date`` (the earliest the engine can arm that day)."""
        return ns_from_kst(date, self.guard_window(date)[0])

    def guard_end_ns(self, date: dt.date) -> int:
        """``now_ns`` of the guard-window end on ``date``: no new pairs from then on."""
        return ns_from_kst(date, self.guard_window(date)[1])

    # -- market-operation notices -----------------------------------------------------------------

    def on_market_operation(self, operation: MarketOperation, raw: str, now_ns: int) -> SessionChange:
        """Record one market-operation notice received at ``now_ns``.

        ``NXT_MAIN_OPEN`` opens NXT main and ``NXT_MAIN_CLOSE`` closes it for the KST day it arrives on;
        every other notice is recorded without changing that state.
        """
        op = MarketOperation.parse(operation)
        today = kst_datetime(now_ns).date()
        before = self._main_open_on(today)
        main = op in (MarketOperation.NXT_MAIN_OPEN, MarketOperation.NXT_MAIN_CLOSE)
        after: bool | None = (op is MarketOperation.NXT_MAIN_OPEN) if main else before
        change = SessionChange(op, str(raw).strip(), now_ns, after, after != before)
        self._last_notice = change
        if main:
            self._main = change
            self._main_date = today
        return change

    @property
    def last_notice(self) -> SessionChange | None:
        """The last market-operation notice received (any kind), or None."""
        return self._last_notice

    def _main_today(self, today: dt.date) -> SessionChange | None:
        return self._main if self._main is not None and self._main_date == today else None

    def _main_open_on(self, today: dt.date) -> bool | None:
        main = self._main_today(today)
        return None if main is None else main.operation is MarketOperation.NXT_MAIN_OPEN

    # -- decisions ---------------------------------------------------------------------------------

    def status(self, now_ns: int) -> ArmStatus:
        """Whether the engine is armed at ``now_ns``, with the exact reason and the session phase.

        A date outside the calendar's range gives a disarmed ``closed-day`` status naming the problem
        (fail safe) rather than an exception.
        """
        now = kst_datetime(now_ns)
        today, t = now.date(), now.time()
        try:
            day = self.day_status(today)
        except CalendarRangeError as exc:
            return ArmStatus(False, str(exc), "closed-day")
        if not day.trading:
            return ArmStatus(False, day.reason, "closed-day")
        cfg = self._cfg
        clock_note = ""
        if cfg.arm_only_in_overlap:
            start, end = self.guard_window(today)
            moved = _add(cfg.overlap_window.start, self.delay(today))
            late = "" if start == cfg.overlap_window.start else (
                f" (delayed open on {today})" if start == moved else f" ({cfg.calendar} opens late on {today})")
            if t < start:
                return ArmStatus(False, f"before guard start {_fmt_time(start)}{late}", "pre-open")
            if t >= end:
                return ArmStatus(False, f"after guard end {_fmt_time(end)}", "post-close")
            clock_note = f"inside guard {_fmt_time(start)}–{_fmt_time(end)}"
        nxt_start, nxt_end = self.nxt_main_window(today)
        nxt_window = f"{_fmt_time(nxt_start)}–{_fmt_time(nxt_end)}"
        in_nxt_clock = nxt_start <= t < nxt_end
        if cfg.use_fid_215_signals:
            main = self._main_today(today)
            if main is not None:
                at = _fmt_time(kst_datetime(main.at_ns).time())
                if main.operation is MarketOperation.NXT_MAIN_CLOSE:
                    return ArmStatus(False, f"NXT main closed by the broker's notice {main.raw!r} at {at}",
                                     "nxt-closed")
                nxt_note = f"NXT main open by the broker's notice {main.raw!r} at {at}"
            elif cfg.fid_215_unknown == "closed":
                return ArmStatus(False, "waiting for the broker's NXT main start notice", "nxt-closed")
            elif in_nxt_clock:
                nxt_note = f"no market-operation notice yet; NXT main assumed open by clock {nxt_window}"
            else:
                return ArmStatus(False, f"no market-operation notice yet; NXT main closed by clock {nxt_window}",
                                 "nxt-closed")
        elif in_nxt_clock:
            nxt_note = f"NXT main open by clock {nxt_window} (market-operation notices off)"
        else:
            return ArmStatus(False, f"NXT main closed by clock {nxt_window} (market-operation notices off)",
                             "nxt-closed")
        notes = ", ".join(n for n in (clock_note, nxt_note) if n)
        return ArmStatus(True, f"armed: {today} {_fmt_time(t)} {notes}", "armed")

    def mismatch(self, now_ns: int) -> str | None:
        """A contradiction between today's NXT main notices and the clock, or None (SPEC §4 kill switch).

        Reported when the notices are in use and either
        * NXT main is closed by a close notice while the clock is inside the guard window of a trading
          day, or
        * NXT main is open by an open notice on a day that is not a trading day, or more than
          ``mismatch_grace_ns`` outside the ``nxt_main`` window (before its start, or after its end
          with no close notice yet).
        """
        if not self._cfg.use_fid_215_signals:
            return None
        now = kst_datetime(now_ns)
        today = now.date()
        main = self._main_today(today)
        if main is None:
            return None
        at = _fmt_time(kst_datetime(main.at_ns).time())
        try:
            day = self.day_status(today)
        except CalendarRangeError:
            return None
        if main.operation is MarketOperation.NXT_MAIN_CLOSE:
            if not day.trading:
                return None
            start, end = self.guard_window(today)
            if start <= now.time() < end:
                return (f"NXT main end notice {main.raw!r} at {at} while the clock is inside the guard window "
                        f"{_fmt_time(start)}–{_fmt_time(end)}")
            return None
        if not day.trading:
            return f"NXT main start notice {main.raw!r} at {at} but {day.reason}"
        nxt_start, nxt_end = self.nxt_main_window(today)
        open_ns = ns_from_kst(today, nxt_start)
        close_ns = ns_from_kst(today, nxt_end)
        window = f"{_fmt_time(nxt_start)}–{_fmt_time(nxt_end)}"
        if main.at_ns < open_ns - self._grace_ns:
            return f"NXT main start notice {main.raw!r} at {at}, before nxt_main {window}"
        if now_ns >= close_ns + self._grace_ns:
            return (f"the broker still says NXT main open ({main.raw!r} at {at}) at {_fmt_time(now.time())}, "
                    f"after nxt_main {window} with no close notice")
        return None

    def next_change_ns(self, now_ns: int) -> int:
        """The earliest engine time after ``now_ns`` at which :meth:`status` or :meth:`mismatch` may answer
        differently with no new notice — apart from the time of day an armed reason quotes: an edge of the guard
        window or of ``nxt_main``, the mismatch grace after ``nxt_main`` ends, or the next KST midnight."""
        today = kst_datetime(now_ns).date()
        cands = [ns_from_kst(today + dt.timedelta(days=1), dt.time(0, 0))]
        edges = (*self.guard_window(today), *self.nxt_main_window(today))
        cands.extend(ns_from_kst(today, t) for t in edges)
        cands.append(ns_from_kst(today, edges[3]) + self._grace_ns)
        return min(c for c in cands if c > now_ns)

    def next_arm_ns(self, now_ns: int) -> int | None:
        """The earliest time ≥ ``now_ns`` at which the calendar and the guard window allow arming.

        Notices are not predicted: under ``fid_215_unknown: closed`` arming also waits for the open notice.
        Returns ``now_ns`` when the clock allows arming now, None if no trading day is left in the
        calendar's range.
        """
        now = kst_datetime(now_ns)
        day = now.date()
        try:
            if self.is_trading_day(day):
                if not self._cfg.arm_only_in_overlap:
                    return now_ns
                start_ns, end_ns = self.guard_start_ns(day), self.guard_end_ns(day)
                if now_ns < start_ns:
                    return start_ns
                if now_ns < end_ns:
                    return now_ns
            nxt = self.next_trading_day(day + dt.timedelta(days=1))
        except CalendarRangeError:
            return None
        if not self._cfg.arm_only_in_overlap:
            return ns_from_kst(nxt, dt.time(0, 0))
        return self.guard_start_ns(nxt)
