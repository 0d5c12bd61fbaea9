"""Market phases of both venues (SPEC §11) as a pure function of the engine clock.

Each venue's trading day is a sequence of windows (config ``sessions``, Asia/Seoul):

* KRX: ``krx_pre_open_call`` (08:30–09:00, a **call**), ``krx_day`` (09:00–15:20, **continuous**),
  ``krx_closing_call`` (15:20–15:30, a **call**); **closed** before and after.
* NXT: ``nxt_pre_market`` (08:00–08:50, **limit only**: continuous matching, only limit orders),
  ``nxt_main`` (09:00:30–15:20, **continuous**), ``nxt_after_call`` (15:30–15:40, the after-market's opening
  **call**), ``nxt_after_market`` (15:40–20:00, **limit only**); the gaps between them (08:50–09:00:30,
  15:20–15:30) are **pauses**; closed before 08:00 and after 20:00.

What each phase allows (:class:`VenuePhase`): a call takes orders that rest until its uncross (IOC and FOK are
refused); a pause refuses every new order (resting orders wait); continuous takes every order type; limit only
takes limit orders. ``sessions.delayed_open`` moves every window of a day later by its minutes (수능 day). On a
day that is not a trading day (or outside the calendar's range) both venues are closed all day.

A volatility interruption is not a phase of the venue: it puts one *code* of a venue into a call and is tracked
by whoever hears of it (:class:`core.pair_desk.PairDesk`); :func:`venue_access` combines the two.

All times are ``now_ns`` values (ns since the Unix epoch, see :mod:`core.clock`); nothing here reads a clock.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import unique
from typing import TYPE_CHECKING

from core.clock import kst_date, ns_from_kst
from core.enums import LiteralEnum, Venue

if TYPE_CHECKING:
    from config.schema import SessionsConfig, TimeWindow

__all__ = ["MarketPhases", "PhaseWindow", "VenueAccess", "VenuePhase", "venue_access"]

_NS_PER_MIN = 60 * 1_000_000_000


@unique
class VenuePhase(LiteralEnum):
    """What a venue does at a moment of its trading day."""

    CLOSED = "closed"
    PAUSE = "pause"
    CALL = "call"
    CONTINUOUS = "continuous"
    LIMIT_ONLY = "limit_only"

    @property
    def takes_orders(self) -> bool:
        """Whether a new order can be accepted at all (limit orders at least)."""
        return self in (VenuePhase.CALL, VenuePhase.CONTINUOUS, VenuePhase.LIMIT_ONLY)

    @property
    def immediate(self) -> bool:
        """Whether IOC/FOK (and market) orders execute: continuous trading with every order type."""
        return self is VenuePhase.CONTINUOUS


@unique
class VenueAccess(LiteralEnum):
    """What an order of a pair can do on a venue now (for the pair machine).

    ``open``: continuous, an IOC executes against the book. ``call``: orders rest and fill only at an uncross
    (a call, a volatility interruption, or a limit-only session), so a flatten order is a priced limit that
    waits. ``shut``: paused or closed, every new order is refused.
    """

    OPEN = "open"
    CALL = "call"
    SHUT = "shut"


def venue_access(phase: VenuePhase, in_vi: bool) -> VenueAccess:
    """The access of a code on a venue in ``phase``, in a volatility interruption or not."""
    if not phase.takes_orders:
        return VenueAccess.SHUT
    if in_vi or phase is not VenuePhase.CONTINUOUS:
        return VenueAccess.CALL
    return VenueAccess.OPEN


@dataclass(frozen=True, slots=True)
class PhaseWindow:
    """``venue`` is in ``phase`` from ``start_ns`` (inclusive) to ``end_ns`` (exclusive)."""

    venue: Venue
    phase: VenuePhase
    start_ns: int
    end_ns: int

    def contains(self, t_ns: int) -> bool:
        return self.start_ns <= t_ns < self.end_ns


class MarketPhases:
    """The phases of KRX and NXT from the ``sessions`` configuration (module docstring).

    Args:
      sessions_cfg: The ``sessions`` section (:class:`config.schema.SessionsConfig`).
      is_trading_day: Date → whether the venues trade that day (the session clock's calendar); it may raise
        for a date outside its range, which counts as closed. Default: Monday to Friday, minus
        ``sessions.extra_holidays``.
    """

    def __init__(self, sessions_cfg: SessionsConfig,
                 is_trading_day: Callable[[dt.date], bool] | None = None) -> None:
        self._cfg = sessions_cfg
        holidays = frozenset(sessions_cfg.extra_holidays)
        self._is_trading_day = is_trading_day or (lambda d: d.weekday() < 5 and d not in holidays)
        self._days: dict[tuple[Venue, dt.date], tuple[PhaseWindow, ...]] = {}

    # -- the day ----------------------------------------------------------------------------------------
    def delay_minutes(self, date: dt.date) -> int:
        """Minutes every window of ``date`` moves later (``sessions.delayed_open``; 0 on a normal day)."""
        return int(self._cfg.delayed_open.get(date, 0))

    def at(self, date: dt.date, time_of_day: dt.time) -> int:
        """``now_ns`` of a configured time of day on ``date``, moved by that day's delayed open."""
        return ns_from_kst(date, time_of_day) + self.delay_minutes(date) * _NS_PER_MIN

    def _trading(self, date: dt.date) -> bool:
        try:
            return bool(self._is_trading_day(date))
        except ValueError:          # outside the calendar's range: closed (fail safe)
            return False

    def windows(self, venue: Venue, date: dt.date) -> tuple[PhaseWindow, ...]:
        """Every window of ``venue`` on ``date``, covering the whole KST day (midnight to midnight) in order."""
        venue = Venue.parse(venue)
        key = (venue, date)
        found = self._days.get(key)
        if found is not None:
            return found
        day0 = ns_from_kst(date, dt.time(0))
        day1 = ns_from_kst(date + dt.timedelta(days=1), dt.time(0))
        out: list[PhaseWindow] = []
        if not self._trading(date):
            out.append(PhaseWindow(venue, VenuePhase.CLOSED, day0, day1))
        else:
            configured: tuple[tuple[str, TimeWindow], ...] = (
                self._cfg.krx_windows() if venue is Venue.KRX else self._cfg.nxt_windows())
            t = day0
            for i, (phase, w) in enumerate(configured):
                start, end = self.at(date, w.start), self.at(date, w.end)
                if start > t:
                    out.append(PhaseWindow(venue, VenuePhase.CLOSED if i == 0 else VenuePhase.PAUSE, t, start))
                out.append(PhaseWindow(venue, VenuePhase.parse(phase), start, end))
                t = end
            if t < day1:
                out.append(PhaseWindow(venue, VenuePhase.CLOSED, t, day1))
        result = tuple(out)
        self._days[key] = result
        return result

    # -- questions --------------------------------------------------------------------------------------
    def window_at(self, venue: Venue, t_ns: int) -> PhaseWindow:
        """The window of ``venue`` that contains ``t_ns``."""
        for w in self.windows(venue, kst_date(t_ns)):
            if w.contains(t_ns):
                return w
        raise AssertionError(f"no window of {venue} contains {t_ns}")   # windows cover the whole day

    def phase(self, venue: Venue, t_ns: int) -> VenuePhase:
        """The phase of ``venue`` at ``t_ns``."""
        return self.window_at(venue, t_ns).phase

    def continuous_until(self, venue: Venue, t_ns: int) -> int | None:
        """When the continuous trading ``venue`` is in at ``t_ns`` ends (None when it is not continuous)."""
        w = self.window_at(venue, t_ns)
        return w.end_ns if w.phase is VenuePhase.CONTINUOUS else None

    def next_change_ns(self, t_ns: int) -> int:
        """The first moment after ``t_ns`` at which either venue changes phase (or a day ends)."""
        return min(self.window_at(v, t_ns).end_ns for v in Venue)

    def describe(self, venue: Venue, t_ns: int) -> str:
        """``'KRX continuous until 15:20:00'`` and the like, for status and reasons."""
        from core.clock import kst_datetime
        w = self.window_at(venue, t_ns)
        return f"{Venue.parse(venue).value} {w.phase.value} until {kst_datetime(w.end_ns).strftime('%H:%M:%S')}"
