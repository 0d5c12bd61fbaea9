"""core.throttle: sliding-window buckets that Kiwoom's 5-per-any-second rule can never catch out."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.loader import load_config
from core.clock import FakeClock, ms_to_ns
from core.throttle import (
    Admission,
    AutoPauseEvent,
    OrderThrottle,
    ThrottleConfigError,
    TimeWentBackwardsError,
    TokenBucket,
)

S = 1_000_000_000
MS = 1_000_000
WINDOW = S + 20 * MS
T0 = 1_795_392_032 * S  # 2026-11-23 09:00:32 KST: any epoch value works, a realistic one is clearer


def assert_no_window_over_cap(granted: list[int], cap: int, window_ns: int = S) -> None:
    """Any ``cap + 1`` grants must span at least ``window_ns``: no interval of that length holds more."""
    granted = sorted(granted)
    for i in range(len(granted) - cap):
        assert granted[i + cap] - granted[i] >= window_ns, (i, granted[i : i + cap + 1])


# -- TokenBucket ----------------------------------------------------------------------------------------

# A request stream: (gap to the previous request in ns, urgent?, answered -308?). Gaps cluster around
# the interesting scales (same ns, a few ms, around the window length).
_gaps = st.one_of(
    st.just(0),
    st.integers(0, 5 * MS),
    st.integers(0, 400 * MS),
    st.integers(WINDOW - 2, WINDOW + 2),
    st.integers(S - 2, S + 2),
)
_streams = st.lists(st.tuples(_gaps, st.booleans(), st.integers(0, 9).map(lambda r: r == 0)),
                    min_size=1, max_size=300)


@settings(max_examples=300, deadline=None)
@given(stream=_streams, reserve=st.integers(0, 4), margin_ms=st.sampled_from([0, 20]))
def test_no_one_second_window_ever_exceeds_the_cap(stream: list[tuple[int, bool, bool]], reserve: int,
                                                   margin_ms: int) -> None:
    cap = 5
    window = S + margin_ms * MS
    bucket = TokenBucket(cap, window_ns=window, reserve=reserve)
    now = T0
    granted: list[int] = []
    for gap, urgent, refused_308 in stream:
        now += gap
        # A brute-force model of the window says what must be free.
        in_window = [t for t in granted if now - window < t <= now]
        model_free = cap - len(in_window)
        assert bucket.free(now) == model_free
        assert bucket.free_for(now, urgent) == (model_free if urgent else max(0, model_free - reserve))
        ok = bucket.try_acquire(now, urgent)
        assert ok == (model_free >= (1 if urgent else 1 + reserve))
        if ok:
            granted.append(now)
            if refused_308:
                assert bucket.release_last(now) is True
                granted.pop()
    assert_no_window_over_cap(granted, cap, window_ns=S)
    assert_no_window_over_cap(granted, cap, window_ns=window)


@settings(max_examples=200, deadline=None)
@given(stream=_streams)
def test_order_throttle_never_exceeds_kiwoom_cap(stream: list[tuple[int, bool, bool]]) -> None:
    throttle = OrderThrottle.from_config(load_config())
    now = T0
    granted: list[int] = []
    for gap, urgent, refused_308 in stream:
        now += gap
        throttle.update(now)
        if throttle.acquire_order(now, urgent):
            granted.append(now)
            if refused_308:
                assert throttle.release_order(now) is True
                granted.pop()
    assert_no_window_over_cap(granted, 5, window_ns=S + 20 * MS)


def test_urgent_requests_always_get_the_reserve() -> None:
    bucket = TokenBucket(5, window_ns=WINDOW, reserve=2)
    # Non-urgent traffic takes all it may: 3 tokens, then is refused.
    assert [bucket.try_acquire(T0 + i) for i in range(5)] == [True, True, True, False, False]
    assert bucket.free(T0 + 5) == 2
    assert bucket.free_for(T0 + 5, urgent=False) == 0
    # The reserve is still there for cancels and hedges, and only for them.
    assert bucket.try_acquire(T0 + 6, urgent=True)
    assert not bucket.try_acquire(T0 + 7, urgent=False)
    assert bucket.try_acquire(T0 + 8, urgent=True)
    assert not bucket.try_acquire(T0 + 9, urgent=True)
    assert bucket.free(T0 + 9) == 0


def test_token_returns_exactly_one_window_after_its_spend() -> None:
    bucket = TokenBucket(1, window_ns=WINDOW)
    assert bucket.try_acquire(T0)
    assert not bucket.try_acquire(T0 + WINDOW - 1)
    assert bucket.try_acquire(T0 + WINDOW)


def test_release_after_308_returns_the_token() -> None:
    bucket = TokenBucket(5, window_ns=WINDOW, reserve=2)
    for i in range(3):
        assert bucket.try_acquire(T0 + i)
    assert bucket.free_for(T0 + 3, urgent=False) == 0
    assert bucket.release_last(T0 + 3) is True   # Kiwoom said -308: that call did not count
    assert bucket.free(T0 + 3) == 3
    assert bucket.spent_in_window(T0 + 3) == 2
    assert bucket.try_acquire(T0 + 4)
    # Once a spend has left the window there is nothing to give back.
    later = T0 + 4 + WINDOW
    assert bucket.spent_in_window(later) == 0
    assert bucket.release_last(later) is False
    assert bucket.free(later) == 5


def test_next_available_ns_is_exact() -> None:
    bucket = TokenBucket(5, window_ns=WINDOW, reserve=2)
    spends = [T0, T0 + 100 * MS, T0 + 200 * MS, T0 + 300 * MS, T0 + 400 * MS]
    for i, t in enumerate(spends):
        assert bucket.try_acquire(t, urgent=i >= 3)
    now = T0 + 500 * MS
    # Urgent needs 1 free: the first spend must leave. Non-urgent needs 1 + reserve = 3 free.
    urgent_at = bucket.next_available_ns(now, urgent=True)
    normal_at = bucket.next_available_ns(now, urgent=False)
    assert urgent_at == spends[0] + WINDOW
    assert normal_at == spends[2] + WINDOW
    assert bucket.free_for(urgent_at - 1, urgent=True) == 0
    assert bucket.free_for(urgent_at, urgent=True) == 1
    assert bucket.free_for(normal_at - 1, urgent=False) == 0
    assert bucket.try_acquire(normal_at, urgent=False)
    # With tokens free it is "now".
    assert bucket.next_available_ns(normal_at + WINDOW, urgent=False) == normal_at + WINDOW


def test_bucket_rejects_time_going_backwards_and_bad_parameters() -> None:
    bucket = TokenBucket(5)
    bucket.try_acquire(T0)
    with pytest.raises(TimeWentBackwardsError):
        bucket.free(T0 - 1)
    for kwargs in ({"capacity": 0}, {"capacity": 5, "reserve": 5}, {"capacity": 5, "window_ns": 0},
                   {"capacity": 5, "reserve": -1}):
        with pytest.raises(ThrottleConfigError):
            TokenBucket(**kwargs)
    with pytest.raises(ThrottleConfigError):
        bucket.next_free_ns(T0, 6)


# -- OrderThrottle: admission --------------------------------------------------------------------------


def test_admission_needs_four_free_tokens() -> None:
    throttle = OrderThrottle.from_config(load_config())
    assert throttle.can_start_pair(T0) == Admission(True, "tokens 5 free ≥ 4 needed")
    assert throttle.acquire_order(T0, urgent=False)
    assert throttle.can_start_pair(T0).ok                      # 4 free
    assert throttle.acquire_order(T0 + 1, urgent=False)
    assert throttle.can_start_pair(T0 + 1) == Admission(False, "tokens 3 free < 4 needed")
    assert throttle.next_admission_ns(T0 + 1) == T0 + WINDOW
    assert not throttle.can_start_pair(T0 + WINDOW - 1).ok
    assert throttle.can_start_pair(T0 + WINDOW).ok


def test_from_config_reads_every_knob() -> None:
    cfg = load_config(overrides={
        "throttling": {"window_margin_ms": 50, "queries_bucket_per_sec": 3},
        "telemetry": {"orders_utilization_autopause": {"threshold": 0.6, "sustain_seconds": 2}},
    })
    throttle = OrderThrottle.from_config(cfg)
    snap = throttle.snapshot(T0)
    assert snap.window_ns == S + 50 * MS
    assert (snap.orders_capacity, snap.orders_reserved, snap.queries_capacity) == (5, 2, 3)
    assert throttle.min_free_to_start == 4
    assert [throttle.acquire_query(T0) for _ in range(4)] == [True, True, True, False]
    assert throttle.release_query(T0) is True
    assert throttle.next_query_ns(T0) == T0
    assert throttle.acquire_query(T0)
    assert throttle.next_query_ns(T0) == T0 + S + 50 * MS


# -- OrderThrottle: auto-pause -------------------------------------------------------------------------


def _busy_throttle(clock: FakeClock, until_ns: int, step_ms: int = 250) -> tuple[OrderThrottle, list[int]]:
    """One urgent order every ``step_ms`` from ``clock`` up to ``until_ns`` (inclusive)."""
    throttle = OrderThrottle.from_config(load_config())
    sent = []
    while clock.now_ns() <= until_ns:
        assert throttle.acquire_order(clock.now_ns(), urgent=True)
        sent.append(clock.now_ns())
        clock.advance(ms=step_ms)
    return throttle, sent


def test_auto_pause_turns_on_exactly_at_sustain_and_off_when_utilisation_drops() -> None:
    clock = FakeClock(T0)
    # One order per 250 ms: from the 4th order (T0 + 750 ms) on, ≥ 4 of 5 tokens are always in the
    # window (each leaves 1020 ms after it was spent), i.e. utilisation ≥ 0.8 without a break.
    condition_start = T0 + 750 * MS
    on_at = condition_start + 5 * S
    throttle, sent = _busy_throttle(clock, until_ns=on_at - 1)
    assert throttle.snapshot(on_at - 1).pause_condition_since_ns == condition_start
    # 1 ns before the sustain has elapsed: still running.
    assert throttle.update(on_at - 1) == []
    assert throttle.can_start_pair(on_at - 1).reason != "auto-pause: orders at 80% of cap for 5 s"
    # Exactly at start + sustain: ON.
    events = throttle.update(on_at)
    assert events == [AutoPauseEvent(True, on_at, 0.8)]
    assert events[0].name == "AUTO-PAUSE ON"
    assert throttle.can_start_pair(on_at) == Admission(False, "auto-pause: orders at 80% of cap for 5 s")
    assert throttle.snapshot(on_at).paused
    # Urgent orders (cancels/hedges) still get tokens while paused.
    assert throttle.acquire_order(on_at, urgent=True)
    last = on_at
    # Stop sending: utilisation falls below 0.8 when the 4th-newest spend leaves the window.
    in_window = sorted([t for t in sent if t > last - WINDOW] + [last])
    assert len(in_window) >= 4
    off_at = in_window[-4] + WINDOW
    assert throttle.update(off_at - 1) == []
    assert throttle.paused(off_at - 1)
    off = throttle.update(off_at)
    assert off == [AutoPauseEvent(False, off_at, 0.6)]
    assert not throttle.paused(off_at)
    assert throttle.snapshot(off_at).pause_condition_since_ns is None


def test_auto_pause_is_exact_when_polled_late() -> None:
    throttle = OrderThrottle.from_config(load_config())
    # 4 orders at T0: utilisation 0.8 until they leave at T0 + 1.02 s — a break.
    for _ in range(4):
        assert throttle.acquire_order(T0, urgent=True)
    # 4 orders at T0 + 2 s: a new run starts there ... and breaks at T0 + 3.02 s.
    for _ in range(4):
        assert throttle.acquire_order(T0 + 2 * S, urgent=True)
    # Polled only at T0 + 10 s: no run ever lasted 5 s, so no pause (a naive "since first seen" would say ON).
    assert throttle.update(T0 + 10 * S) == []


def test_auto_pause_events_carry_exact_times_even_if_reported_late() -> None:
    clock = FakeClock(T0)
    throttle, sent = _busy_throttle(clock, until_ns=T0 + 7 * S)
    last = sent[-1]
    # Nobody polled during the run: both transitions are reported at once, each at its own instant.
    events = throttle.update(last + 10 * S)
    off_at = sorted(sent)[-4] + WINDOW
    assert events == [AutoPauseEvent(True, T0 + 750 * MS + 5 * S, 0.8), AutoPauseEvent(False, off_at, 0.6)]
    assert throttle.update(last + 11 * S) == []


def test_auto_pause_disabled_never_pauses() -> None:
    cfg = load_config(overrides={"telemetry": {"orders_utilization_autopause": {"enabled": False}}})
    throttle = OrderThrottle.from_config(cfg)
    t = T0
    for _ in range(40):
        assert throttle.acquire_order(t, urgent=True)
        t += 250 * MS
    assert throttle.update(t) == []
    assert throttle.can_start_pair(t + WINDOW).ok


def test_release_after_308_can_end_the_pause_condition() -> None:
    throttle = OrderThrottle.from_config(load_config())
    for _ in range(4):
        assert throttle.acquire_order(T0, urgent=True)
    assert throttle.snapshot(T0).pause_condition_since_ns == T0
    assert throttle.release_order(T0 + ms_to_ns(3))            # the 4th was a -308
    snap = throttle.snapshot(T0 + ms_to_ns(3))
    assert snap.pause_condition_since_ns is None
    assert (snap.orders_free, snap.orders_free_for_entries, snap.utilisation) == (2, 0, 0.6)


def test_next_order_ns_matches_acquire() -> None:
    throttle = OrderThrottle.from_config(load_config())
    t = T0
    for _ in range(5):
        assert throttle.acquire_order(t, urgent=True)
        t += 10 * MS
    at = throttle.next_order_ns(t, urgent=True)
    assert at == T0 + WINDOW
    assert not throttle.acquire_order(at - 1, urgent=True)
    assert throttle.acquire_order(at, urgent=True)
