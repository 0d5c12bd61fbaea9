"""The FID 215 (장운영구분) feed of the emulated control: market-operation codes as real data.

Whoever registered FIDs of ``장시작시간`` with an empty code list (:mod:`kiwoom_bridge.emulator.realtime`)
receives ``OnReceiveRealData("", "장시작시간", ...)`` with FID 215 ``'0'`` at 08:30, ``'3'`` at the KRX open
(09:00), ``'R'`` at the NXT main start (09:00:30) and ``'S'`` at its end (15:20) on trading days (times from
``sessions`` when an EngineConfig is given), FID 20 the time and FID 214 ``'000000'``. **Emulator
convenience:** on the first such registration the current state (the last code due today) is sent at once,
so a clock starting at 10:00 still sees ``'R'``. Nothing is delivered while disconnected or while no screen
is registered. On a day of ``sessions.delayed_open`` every code comes that many minutes later.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from core.clock import kst_date, ns_from_kst
from kiwoom_bridge.emulator.connection import Connection
from kiwoom_bridge.emulator.realtime import RealDataChannel
from kiwoom_bridge.emulator.scheduler import SimScheduler
from kiwoom_bridge.emulator.screens import Screens
from kiwoom_bridge.emulator.wire_format import hhmmss
from kiwoom_bridge.types import REAL_TYPE_SESSION

__all__ = ["DEFAULT_SESSION_TIMES", "SessionFeed"]

#: (time of day, FID 215 code) when no EngineConfig gives the session times.
DEFAULT_SESSION_TIMES: tuple[tuple[dt.time, str], ...] = (
    (dt.time(8, 30), "0"), (dt.time(9, 0), "3"), (dt.time(9, 0, 30), "R"), (dt.time(15, 20), "S"))


class SessionFeed:
    """Schedules and delivers the FID 215 codes.

    Args:
      scheduler, conn, screens: The control's clock, connection state and screens (``screens.market_wide``
        are the registered FID 215 screens).
      channel: Where real data is emitted.
      session_times: (time of day KST, FID 215 code), in time order.
      is_trading_day: Date → bool.
      delay_minutes: Date → minutes the day's codes come later (``sessions.delayed_open``); default none.
    """

    def __init__(self, scheduler: SimScheduler, conn: Connection, screens: Screens, channel: RealDataChannel,
                 session_times: tuple[tuple[dt.time, str], ...], is_trading_day: Callable[[dt.date], bool],
                 delay_minutes: Callable[[dt.date], int] | None = None) -> None:
        self._sched = scheduler
        self._conn = conn
        self._screens = screens
        self._channel = channel
        self._session_times = session_times
        self._is_trading_day = is_trading_day
        self._delay = delay_minutes or (lambda d: 0)
        self._armed = False

    def _at(self, day: dt.date, tod: dt.time) -> int:
        return ns_from_kst(day, tod) + self._delay(day) * 60_000_000_000

    def _boundary_after(self, t_ns: int, inclusive: bool) -> tuple[int, str] | None:
        day = kst_date(t_ns)
        for _ in range(30):
            if self._is_trading_day(day):
                for tod, code in self._session_times:
                    b = self._at(day, tod)
                    if b > t_ns or (inclusive and b == t_ns):
                        return b, code
            day = day + dt.timedelta(days=1)
        return None

    def _current_code(self, t_ns: int) -> tuple[int, str] | None:
        day = kst_date(t_ns)
        if not self._is_trading_day(day):
            return None
        cur = None
        for tod, code in self._session_times:
            b = self._at(day, tod)
            if b <= t_ns:
                cur = (b, code)
        return cur

    def arm(self, send_current: bool) -> None:
        """A screen registered the feed: start the schedule (once); ``send_current`` sends today's state now."""
        now = self._sched.now_ns
        if send_current:
            cur = self._current_code(now)
            if cur is not None:
                self._sched.at(now, self._deliver, cur[1], now)
        if not self._armed:
            self._armed = True
            self._schedule_next(now)

    def _schedule_next(self, after_ns: int) -> None:
        nxt = self._boundary_after(after_ns, inclusive=False)
        if nxt is not None:
            self._sched.at(nxt[0], self._tick, nxt[1], nxt[0])

    def _tick(self, code: str, t_ns: int) -> None:
        self._deliver(code, t_ns)
        self._schedule_next(t_ns)

    def _deliver(self, code: str, t_ns: int) -> None:
        if not self._conn.connected or not self._screens.market_wide:
            return
        self._channel.emit("", REAL_TYPE_SESSION, {215: code, 20: hhmmss(t_ns), 214: "000000"})

    def inject(self, code: str) -> None:
        """Deliver an arbitrary FID 215 ``code`` now (tests of unknown codes)."""
        self._sched.at(self._sched.now_ns, self._deliver, code, self._sched.now_ns)
