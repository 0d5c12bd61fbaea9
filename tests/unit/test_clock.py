"""core.clock: the one injected time value, and KST conversions independent of the machine's TZ."""
from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator

import pytest

from core.clock import (
    KST,
    NS_PER_S,
    Clock,
    ClockError,
    FakeClock,
    WallClock,
    kst_date,
    kst_datetime,
    ms_to_ns,
    ns_from_kst,
    ns_to_ms,
    s_to_ns,
)

# 2026-11-20 09:00:32 KST == 2026-11-20 00:00:32 UTC
GUARD_START_NS = int(dt.datetime(2026, 11, 20, 0, 0, 32, tzinfo=dt.UTC).timestamp()) * 1_000_000_000


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


def test_unit_conversions_are_exact_ints() -> None:
    assert ms_to_ns(1) == 1_000_000
    assert s_to_ns(5) == 5_000_000_000
    assert ms_to_ns(0.5) == 500_000
    assert s_to_ns(1.02) == 1_020_000_000
    assert isinstance(s_to_ns(1.02), int)
    assert ns_to_ms(2_500_000) == 2.5


def test_fake_clock_advances_by_every_unit() -> None:
    clock = FakeClock(1_000)
    assert clock.now_ns() == 1_000
    assert clock.advance(ns=5) == 1_005
    assert clock.advance(ms=2) == 1_005 + 2_000_000
    assert clock.advance(s=1, ms=1, ns=1) == 1_005 + 2_000_000 + 1_001_000_001
    assert isinstance(clock, Clock)


def test_fake_clock_refuses_to_run_backwards() -> None:
    clock = FakeClock(10)
    with pytest.raises(ClockError, match="negative step"):
        clock.advance(ns=-1)
    with pytest.raises(ClockError, match="backwards"):
        clock.set(9)
    assert clock.now_ns() == 10
    clock.set(9, allow_backwards=True)
    assert clock.now_ns() == 9
    clock.set(20)
    assert clock.now_ns() == 20


def test_fake_clock_rejects_non_int_start() -> None:
    with pytest.raises(TypeError):
        FakeClock(1.5)  # type: ignore[arg-type]


def test_wall_clock_reads_time_time_ns() -> None:
    before = time.time_ns()
    now = WallClock().now_ns()
    after = time.time_ns()
    assert before <= now <= after
    assert isinstance(WallClock(), Clock)


def test_kst_datetime_known_instant() -> None:
    got = kst_datetime(GUARD_START_NS + 123_456_789)
    assert got.tzinfo is KST
    assert (got.year, got.month, got.day, got.hour, got.minute, got.second) == (2026, 11, 20, 9, 0, 32)
    assert got.microsecond == 123_456  # truncated, not rounded
    assert got.utcoffset() == dt.timedelta(hours=9)


def test_ns_from_kst_round_trip() -> None:
    assert ns_from_kst(dt.date(2026, 11, 20), dt.time(9, 0, 32)) == GUARD_START_NS
    ns = ns_from_kst(dt.date(2026, 11, 20), dt.time(15, 19, 49, 999_999))
    assert kst_datetime(ns).time() == dt.time(15, 19, 49, 999_999)
    assert ns_from_kst(dt.date(2026, 11, 20), dt.time(15, 19, 50)) - ns == 1_000


def test_kst_date_crosses_midnight_in_seoul_not_utc() -> None:
    # 2026-11-19 15:30 UTC is already 2026-11-20 00:30 in Seoul.
    ns = int(dt.datetime(2026, 11, 19, 15, 30, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    assert kst_date(ns) == dt.date(2026, 11, 20)


def test_ns_from_kst_rejects_ambiguous_inputs() -> None:
    with pytest.raises(TypeError):
        ns_from_kst(dt.datetime(2026, 11, 20, 9), dt.time(9))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ns_from_kst(dt.date(2026, 11, 20), dt.time(9, tzinfo=dt.UTC))


@pytest.mark.usefixtures("new_york_tz")
def test_conversions_ignore_process_tz() -> None:
    assert time.localtime(GUARD_START_NS // 1_000_000_000).tm_hour == 19  # the fixture really changed TZ
    assert ns_from_kst(dt.date(2026, 11, 20), dt.time(9, 0, 32)) == GUARD_START_NS
    assert kst_datetime(GUARD_START_NS).time() == dt.time(9, 0, 32)


def test_kst_date_is_right_on_both_sides_of_midnight_in_any_order() -> None:
    midnight = ns_from_kst(dt.date(2026, 12, 3), dt.time(0))
    for ns in (midnight - 1, midnight, midnight - 1, midnight + 86_400 * NS_PER_S - 1, midnight + 86_400 * NS_PER_S,
               midnight - 10 * 86_400 * NS_PER_S, midnight):
        assert kst_date(ns) == kst_datetime(ns).date(), ns
