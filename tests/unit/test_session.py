"""core.session on real dates: XKRX + extra holidays, the guard window, market-operation notices, any machine
time zone."""
from __future__ import annotations

import datetime as dt
import os
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from config.loader import load_config
from core.clock import kst_datetime, ns_from_kst
from core.enums import MarketOperation
from core.session import PHASES, ArmStatus, CalendarRangeError, SessionClock

OPEN, CLOSE = MarketOperation.NXT_MAIN_OPEN, MarketOperation.NXT_MAIN_CLOSE

DAY = dt.date(2026, 11, 20)        # a Friday, an ordinary KRX trading day
S = 1_000_000_000


def at(hh: int, mm: int, ss: int = 0, us: int = 0, day: dt.date = DAY) -> int:
    return ns_from_kst(day, dt.time(hh, mm, ss, us))


def make(**sessions: Any) -> SessionClock:
    return SessionClock(load_config(overrides={"sessions": sessions} if sessions else None).sessions)


@pytest.fixture
def new_york_tz() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


# -- trading days ---------------------------------------------------------------------------------------


def test_hangul_day_is_closed_by_xkrx() -> None:
    clock = make()
    status = clock.day_status(dt.date(2026, 10, 9))
    assert not clock.is_trading_day(dt.date(2026, 10, 9))
    assert status.source == "XKRX"
    assert status.reason == "2026-10-09 is not a KRX trading day (XKRX holiday)"
    assert clock.status(at(10, 0, day=dt.date(2026, 10, 9))) == ArmStatus(False, status.reason, "closed-day")


def _xkrx_is_session(day: dt.date) -> bool:
    """Ask exchange_calendars directly, independent of core.session's own cached calendar."""
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Series\.values returning an ndarray")
        return bool(xcals.get_calendar("XKRX").is_session(day.isoformat()))


def test_local_election_day_is_closed_via_extra_holidays() -> None:
    election = dt.date(2026, 6, 3)
    xkrx_says_session = _xkrx_is_session(election)
    status = make().day_status(election)
    assert not status.trading
    if xkrx_says_session:   # exchange_calendars 4.13.2 misses the day: only our config closes it
        assert status.source == "extra_holidays"
        assert "sessions.extra_holidays" in status.reason
    else:                   # a newer calendar release knows it
        assert status.source == "XKRX"
        assert "XKRX holiday" in status.reason
    # Without the config entry, the 4.13.2 calendar alone would open the market that day.
    bare = make(extra_holidays=[]).day_status(election)
    assert bare.trading == xkrx_says_session


def test_installed_calendar_is_the_one_the_facts_describe() -> None:
    import exchange_calendars as xcals

    if xcals.__version__ == "4.13.2":
        assert _xkrx_is_session(dt.date(2026, 6, 3))
        assert not _xkrx_is_session(dt.date(2026, 10, 9))


def test_weekend_is_closed() -> None:
    clock = make()
    saturday = dt.date(2026, 11, 21)
    status = clock.status(at(10, 0, day=saturday))
    assert not status.armed
    assert status.phase == "closed-day"
    assert "Saturday" in status.reason
    assert clock.day_status(saturday).source == "weekend"
    assert not clock.is_trading_day(dt.date(2026, 11, 22))
    assert clock.is_trading_day(DAY)


def test_dates_outside_the_calendar_raise_a_clear_error() -> None:
    clock = make()
    with pytest.raises(CalendarRangeError, match=r"^2051-01-02 is outside the XKRX calendar range"):
        clock.is_trading_day(dt.date(2051, 1, 2))
    # status() fails safe instead: disarmed, with the same explanation.
    status = clock.status(at(10, 0, day=dt.date(2051, 1, 2)))
    assert not status.armed and status.phase == "closed-day" and "outside the XKRX calendar" in status.reason
    with pytest.raises(TypeError):
        clock.is_trading_day(dt.datetime(2026, 11, 20, 10))  # type: ignore[arg-type]


# -- the guard window -----------------------------------------------------------------------------------


def test_guard_window_edges_with_nxt_main_open() -> None:
    clock = make()
    clock.on_market_operation(OPEN, "R", at(9, 0, 30))
    cases = {
        at(9, 0, 31): (False, "pre-open", "before guard start 09:00:32"),
        at(9, 0, 31, 999_999): (False, "pre-open", "before guard start 09:00:32"),
        at(9, 0, 32): (True, "armed", None),
        at(15, 19, 49): (True, "armed", None),
        at(15, 19, 49, 999_999): (True, "armed", None),
        at(15, 19, 50): (False, "post-close", "after guard end 15:19:50"),
    }
    for now, (armed, phase, reason) in cases.items():
        status = clock.status(now)
        assert (status.armed, status.phase) == (armed, phase), kst_datetime(now)
        if reason is not None:
            assert status.reason == reason
        assert status.phase in PHASES
    assert clock.status(at(9, 0, 32)).reason == (
        "armed: 2026-11-20 09:00:32 inside guard 09:00:32–15:19:50, "
        "NXT main open by the broker's notice 'R' at 09:00:30")


def test_guard_bounds_in_ns() -> None:
    clock = make()
    assert clock.guard_start_ns(DAY) == at(9, 0, 32)
    assert clock.guard_end_ns(DAY) == at(15, 19, 50)


def test_late_open_day_delays_the_guard_start() -> None:
    # The first trading day of the year opens at 10:00 (XKRX special offset).
    clock = make(fid_215_unknown="clock")
    jan2 = dt.date(2026, 1, 2)
    assert clock.guard_window(jan2) == (dt.time(10, 0, 32), dt.time(15, 19, 50))
    status = clock.status(at(9, 30, day=jan2))
    assert (status.armed, status.phase) == (False, "pre-open")
    assert status.reason == "before guard start 10:00:32 (XKRX opens late on 2026-01-02)"
    assert clock.status(at(10, 0, 32, day=jan2)).armed


def test_arm_only_in_overlap_off_uses_nxt_main_clock() -> None:
    clock = make(arm_only_in_overlap=False, use_fid_215_signals=False)
    assert clock.status(at(9, 0, 30)).armed
    assert not clock.status(at(9, 0, 29)).armed
    assert clock.status(at(15, 19, 59)).armed
    assert clock.status(at(15, 20)).phase == "nxt-closed"


# -- FID 215 --------------------------------------------------------------------------------------------


def test_without_any_fid_215_code_closed_policy_waits() -> None:
    status = make(fid_215_unknown="closed").status(at(10, 0))
    assert status == ArmStatus(False, "waiting for the broker's NXT main start notice", "nxt-closed")


def test_without_any_fid_215_code_clock_policy_arms_and_says_so() -> None:
    status = make(fid_215_unknown="clock").status(at(10, 0))
    assert status.armed and status.phase == "armed"
    assert "no market-operation notice yet; NXT main assumed open by clock 09:00:30–15:20:00" in status.reason


def test_fid_215_signals_off_ignores_codes() -> None:
    clock = make(use_fid_215_signals=False)
    clock.on_market_operation(CLOSE, "S", at(9, 30))
    assert clock.status(at(10, 0)).armed
    assert clock.mismatch(at(10, 0)) is None


def test_s_disarms_and_r_rearms() -> None:
    clock = make()
    opened = clock.on_market_operation(OPEN, "R", at(9, 0, 30))
    assert (opened.known, opened.nxt_main_open, opened.changed) == (True, True, True)
    assert clock.status(at(10, 0)).armed
    closed = clock.on_market_operation(CLOSE, "S", at(15, 20))
    assert (closed.nxt_main_open, closed.changed, closed.operation) == (False, True, CLOSE)
    # Post-close wins over "NXT closed" once the guard has ended.
    assert clock.status(at(15, 25)).phase == "post-close"
    # An 'S' inside the guard window (e.g. an NXT halt) disarms, a later 'R' re-arms.
    halted = make()
    halted.on_market_operation(OPEN, "R", at(9, 0, 30))
    halted.on_market_operation(CLOSE, "S", at(11, 0))
    assert halted.status(at(11, 0, 1)) == ArmStatus(False, "NXT main closed by the broker's notice 'S' at 11:00:00",
                                                     "nxt-closed")
    again = halted.on_market_operation(OPEN, "R", at(11, 5))
    assert again.changed and halted.status(at(11, 5)).armed


def test_other_known_codes_do_not_change_nxt_main_state() -> None:
    clock = make()
    clock.on_market_operation(OPEN, "R", at(9, 0, 30))
    for op in MarketOperation:
        if op in (OPEN, CLOSE):
            continue
        change = clock.on_market_operation(op, "x", at(10, 0))
        assert change.known is (op is not MarketOperation.UNKNOWN), op
        assert (change.nxt_main_open, change.changed) == (True, False), op
    assert clock.status(at(10, 0)).armed


def test_unknown_codes_are_kept_raw_and_flagged() -> None:
    clock = make()
    change = clock.on_market_operation(MarketOperation.UNKNOWN, " Z9 ", at(9, 0, 10))
    assert (change.raw, change.known, change.nxt_main_open) == ("Z9", False, None)
    assert clock.last_notice == change
    assert not clock.status(at(10, 0)).armed


def test_yesterdays_r_does_not_arm_today() -> None:
    clock = make()
    clock.on_market_operation(OPEN, "R", at(9, 0, 30, day=dt.date(2026, 11, 18)))
    assert clock.status(at(10, 0, day=dt.date(2026, 11, 18))).armed
    assert clock.status(at(10, 0)).reason == "waiting for the broker's NXT main start notice"


# -- mismatch (kill switch) -----------------------------------------------------------------------------


def test_mismatch_s_inside_guard_window() -> None:
    clock = make()
    clock.on_market_operation(OPEN, "R", at(9, 0, 30))
    assert clock.mismatch(at(10, 0)) is None
    clock.on_market_operation(CLOSE, "S", at(14, 0))
    assert clock.mismatch(at(14, 0)) == (
        "NXT main end notice 'S' at 14:00:00 while the clock is inside the guard window 09:00:32–15:19:50")
    assert clock.mismatch(at(15, 19, 50)) is None   # after guard end an 'S' is expected


def test_mismatch_r_standing_after_nxt_main_end() -> None:
    clock = make()
    clock.on_market_operation(OPEN, "R", at(9, 0, 30))
    assert clock.mismatch(at(15, 20, 4)) is None    # within the 5 s grace for the 'S' to arrive
    msg = clock.mismatch(at(15, 20, 5))
    assert msg is not None and "after nxt_main 09:00:30–15:20:00 with no close notice" in msg


def test_mismatch_r_on_a_holiday_or_too_early() -> None:
    holiday = make()
    holiday.on_market_operation(OPEN, "R", at(9, 0, 30, day=dt.date(2026, 10, 9)))
    msg = holiday.mismatch(at(10, 0, day=dt.date(2026, 10, 9)))
    assert msg == "NXT main start notice 'R' at 09:00:30 but 2026-10-09 is not a KRX trading day (XKRX holiday)"
    early = make()
    early.on_market_operation(OPEN, "R", at(8, 0))
    assert early.mismatch(at(8, 0, 1)) == "NXT main start notice 'R' at 08:00:00, before nxt_main 09:00:30–15:20:00"


# -- planning -------------------------------------------------------------------------------------------


def test_next_arm_ns() -> None:
    clock = make()
    assert clock.next_arm_ns(at(8, 0)) == at(9, 0, 32)
    assert clock.next_arm_ns(at(10, 0)) == at(10, 0)
    # Friday after the guard: next Monday 2026-11-23.
    assert clock.next_arm_ns(at(15, 19, 50)) == at(9, 0, 32, day=dt.date(2026, 11, 23))
    # The eve of Hangul Day (Thursday 2026-10-08) evening: skips Friday's holiday and the weekend.
    assert clock.next_arm_ns(at(18, 0, day=dt.date(2026, 10, 8))) == at(9, 0, 32, day=dt.date(2026, 10, 12))


# -- machine time zone ----------------------------------------------------------------------------------


def _scenario() -> list[tuple[bool, str, str]]:
    clock = make()
    out = [clock.status(at(10, 0))]
    clock.on_market_operation(OPEN, "R", at(9, 0, 30))
    out += [clock.status(at(h, m, s)) for h, m, s in [(9, 0, 31), (9, 0, 32), (15, 19, 49), (15, 19, 50)]]
    out.append(clock.status(at(10, 0, day=dt.date(2026, 10, 9))))
    # 2026-11-20 23:30 in Seoul is still the 20th there but the 20th 09:30 in New York: a late evening.
    out.append(clock.status(at(23, 30)))
    # Seoul's Monday 00:30 is Sunday in New York and UTC: a trading day's pre-open, not a weekend.
    out.append(clock.status(at(0, 30, day=dt.date(2026, 11, 23))))
    return [(s.armed, s.phase, s.reason) for s in out]


def test_results_identical_in_another_process_timezone(new_york_tz: None) -> None:
    in_new_york = _scenario()
    os.environ["TZ"] = "Asia/Seoul"
    time.tzset()
    in_seoul = _scenario()
    os.environ["TZ"] = "UTC"
    time.tzset()
    in_utc = _scenario()
    assert in_new_york == in_seoul == in_utc
    assert [armed for armed, _, _ in in_new_york] == [False, False, True, True, False, False, False, False]
    assert in_new_york[-1][1] == "pre-open"
