"""Market phases and volatility interruptions (SPEC §11) on a fake clock: the pure phase model at every boundary,
the delayed open, the config rules, and the real pair desk — no pair on a code in VI or near a venue's call or
pause, and an open pair that never sends an IOC into a call but flattens on the other venue."""
from __future__ import annotations

import datetime as dt

import pytest

from config.loader import ConfigError, load_config
from core.clock import ns_from_kst
from core.desk_events import OrderCancelled, VolatilityInterruption
from core.enums import OrderRole, OrderStyle, Side, Venue, ViKind
from core.observations import AuditEvent, OrderAudited, SignalsHeld, VolatilityObserved
from core.order_flow import CancelRequest
from core.pair_events import CancelConfirmed, VenueChanged
from core.phases import MarketPhases, VenueAccess, VenuePhase, venue_access
from core.session import SessionClock
from tests.unit.test_account import (
    DAY,
    MS,
    A,
    S,
    _touch,
    acked,
    arm,
    filled,
    ioc_cancelled,
    make_desk,
    of,
    requests,
    sent,
    signal,
)

CFG = load_config()
CSAT = dt.date(2026, 11, 19)                  # 수능: sessions.delayed_open +60 min in the defaults
P = VenuePhase


def at(hh: int, mm: int, ss: int = 0, day: dt.date = DAY) -> int:
    return ns_from_kst(day, dt.time(hh, mm, ss))


# ------------------------------------------------------------------------------------------------
# The phase model
# ------------------------------------------------------------------------------------------------

#: (venue, boundary, phase just before, phase from the boundary on) of an ordinary trading day.
BOUNDARIES = [
    (Venue.KRX, (8, 30, 0), P.CLOSED, P.CALL), (Venue.KRX, (9, 0, 0), P.CALL, P.CONTINUOUS),
    (Venue.KRX, (15, 20, 0), P.CONTINUOUS, P.CALL), (Venue.KRX, (15, 30, 0), P.CALL, P.CLOSED),
    (Venue.NXT, (8, 0, 0), P.CLOSED, P.LIMIT_ONLY), (Venue.NXT, (8, 50, 0), P.LIMIT_ONLY, P.PAUSE),
    (Venue.NXT, (9, 0, 30), P.PAUSE, P.CONTINUOUS), (Venue.NXT, (15, 20, 0), P.CONTINUOUS, P.PAUSE),
    (Venue.NXT, (15, 30, 0), P.PAUSE, P.CALL), (Venue.NXT, (15, 40, 0), P.CALL, P.LIMIT_ONLY),
    (Venue.NXT, (20, 0, 0), P.LIMIT_ONLY, P.CLOSED),
]


@pytest.mark.parametrize(("venue", "hms", "before", "after"), BOUNDARIES)
def test_each_phase_boundary_of_an_ordinary_day(venue: Venue, hms: tuple[int, int, int], before: VenuePhase,
                                                after: VenuePhase) -> None:
    phases = MarketPhases(CFG.sessions)
    t = at(*hms)
    assert phases.phase(venue, t - 1) is before
    assert phases.phase(venue, t) is after
    assert phases.window_at(venue, t - 1).end_ns == t


@pytest.mark.parametrize(("venue", "hms", "before", "after"), BOUNDARIES)
def test_a_delayed_open_moves_every_boundary_by_its_minutes(venue: Venue, hms: tuple[int, int, int],
                                                            before: VenuePhase, after: VenuePhase) -> None:
    phases = MarketPhases(CFG.sessions)
    t = at(*hms, day=CSAT) + 60 * 60 * S
    assert phases.phase(venue, t - 1) is before and phases.phase(venue, t) is after
    assert phases.delay_minutes(CSAT) == 60


def test_a_delayed_open_moves_the_guard_window_and_nxt_main() -> None:
    clock = SessionClock(CFG.sessions)
    assert clock.guard_window(CSAT) == (dt.time(10, 0, 32), dt.time(16, 19, 50))
    assert clock.nxt_main_window(CSAT) == (dt.time(10, 0, 30), dt.time(16, 20))
    assert clock.guard_window(DAY) == (dt.time(9, 0, 32), dt.time(15, 19, 50))
    status = clock.status(at(9, 30, day=CSAT))
    assert not status.armed and "delayed open" in status.reason


def test_a_day_that_is_not_a_trading_day_is_closed_on_both_venues() -> None:
    phases = MarketPhases(CFG.sessions, SessionClock(CFG.sessions).is_trading_day)
    saturday = dt.date(2026, 11, 21)
    for v in Venue:
        (w,) = phases.windows(v, saturday)
        assert w.phase is P.CLOSED and phases.continuous_until(v, at(10, 0, day=saturday)) is None


def test_continuous_until_and_the_next_change() -> None:
    phases = MarketPhases(CFG.sessions)
    assert phases.continuous_until(Venue.KRX, at(10, 0)) == at(15, 20)
    assert phases.continuous_until(Venue.NXT, at(9, 0, 10)) is None          # NXT still paused
    assert phases.next_change_ns(at(9, 0, 10)) == at(9, 0, 30)
    assert phases.next_change_ns(at(15, 25)) == at(15, 30)
    assert phases.describe(Venue.KRX, at(15, 25)) == "KRX call until 15:30:00"


def test_what_each_phase_allows_an_order() -> None:
    assert venue_access(P.CONTINUOUS, in_vi=False) is VenueAccess.OPEN
    assert venue_access(P.CONTINUOUS, in_vi=True) is VenueAccess.CALL
    assert venue_access(P.CALL, in_vi=False) is VenueAccess.CALL
    assert venue_access(P.LIMIT_ONLY, in_vi=False) is VenueAccess.CALL       # priced limits only
    assert venue_access(P.PAUSE, in_vi=False) is VenueAccess.SHUT
    assert venue_access(P.CLOSED, in_vi=True) is VenueAccess.SHUT


@pytest.mark.parametrize(("overrides", "message"), [
    ({"sessions": {"krx_closing_call": {"start": "15:10:00", "end": "15:30:00"}}},
     "sessions.krx_closing_call: starts at 15:10:00, before sessions.krx_day ends"),
    ({"sessions": {"delayed_open": {"2026-11-19": 300}}},
     "sessions.delayed_open: 2026-11-19: 300 must be whole minutes from 1 to 180"),
    ({"sessions": {"nxt_after_market": {"start": "15:40:00", "end": "22:30:00"}, "delayed_open": {"2026-11-19": 120}}},
     "2026-11-19: 120 min would move the 22:30:00 window end past midnight"),
    ({"sim": {"latency": {"send_to_ack_ms": {"median": 50, "p99": 20}}}}, "p99 20 must be ≥ median 50"),
])
def test_impossible_phases_and_latencies_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_a_latency_given_as_a_number_is_a_constant() -> None:
    lat = load_config(overrides={"sim": {"latency": {"send_to_ack_ms": 15}}}).sim.latency.send_to_ack_ms
    assert (lat.median, lat.p99) == (15, 15)


# ------------------------------------------------------------------------------------------------
# The desk: admission
# ------------------------------------------------------------------------------------------------

def vi(code: str, venue: Venue, active: bool, t: int) -> VolatilityInterruption:
    return VolatilityInterruption(code, venue, active, t, ViKind.DYNAMIC, 70_500 if active else 0, "9068=1")


@pytest.mark.parametrize("venue", [Venue.KRX, Venue.NXT])
def test_no_pair_starts_on_a_code_in_vi_on_either_venue(venue: Venue) -> None:
    desk = make_desk()
    arm(desk, {A: 10}, 10_000_000)
    t = at(10, 0)
    out, _ = desk.run_step(t, [vi(A, venue, True, t - 5 * MS)], [signal(A, 0)])
    assert requests(out) == [] and desk.held == {"vi": 1}
    (obs,) = of(out, VolatilityObserved)
    assert (obs.code, obs.venue, obs.active, obs.in_vi) == (A, venue, True, (f"{A}/{venue.value}",))
    (row,) = [o for o in of(out, OrderAudited) if o.event is AuditEvent.VI]
    assert (row.code, row.venue, row.pair_id) == (A, venue, "") and "VI start" in row.message
    assert dict(desk.detail())["in_vi"] == f"{A}/{venue.value}"
    out, _ = desk.run_step(t + 2 * S, [vi(A, venue, False, t + 2 * S - MS)], [signal(A, 0)])
    assert len(requests(out)) == 1, "admitted again once the VI ended"
    (end,) = of(out, VolatilityObserved)
    assert not end.active and end.since_ns == t - 5 * MS and end.in_vi == ()
    assert of(out, SignalsHeld) == [SignalsHeld(t + 2 * S, (("vi", 1),))]


def test_no_pair_starts_when_a_venue_stops_being_continuous_within_t_hedge_plus_the_margin() -> None:
    desk = make_desk(sessions={"overlap_window": {"start": "09:00:32", "end": "15:20:00"}})
    arm(desk, {A: 10}, 10_000_000)
    margin_ms = CFG.sessions.phase_margin_ms + CFG.execution.t_hedge_ms
    last_ok = at(15, 20) - margin_ms * MS
    out, _ = desk.run_step(last_ok, [], [signal(A, 0)])
    assert len(requests(out)) == 1
    desk2 = make_desk(sessions={"overlap_window": {"start": "09:00:32", "end": "15:20:00"}})
    arm(desk2, {A: 10}, 10_000_000)
    out, _ = desk2.run_step(last_ok + 1, [], [signal(A, 0)])
    assert requests(out) == [] and desk2.held == {"phase": 1}


# ------------------------------------------------------------------------------------------------
# The desk: an open pair and its venues
# ------------------------------------------------------------------------------------------------

def _exposed(desk, t: int) -> tuple[str, str]:
    """A pair on A (direction A: sell NXT, buy KRX) whose take filled and whose post rests on KRX."""
    out, _ = desk.run_step(t, [], [signal(A, 0)], touches=_touch(0, (70_000, 70_100), (70_300, 70_400)))
    take = requests(out)[0].intent
    assert take.venue is Venue.NXT and take.side is Side.SELL
    out, _ = desk.run_step(t + 20 * MS, [sent(take.ref, t + MS), acked(take.ref, "001", t + 16 * MS),
                                         filled("001", A, Venue.NXT, Side.SELL, 1, 70_300, 0, t + 20 * MS)], [])
    post = requests(out)[0].intent
    assert (post.venue, post.role) == (Venue.KRX, OrderRole.HEDGE_POST)
    desk.run_step(t + 40 * MS, [sent(post.ref, t + 21 * MS), acked(post.ref, "002", t + 36 * MS)], [])
    return take.pair_id, post.ref


def test_a_hedge_venue_entering_vi_cancels_the_post_and_flattens_on_the_other_venue() -> None:
    desk = make_desk()
    arm(desk, {A: 10}, 10_000_000)
    t = at(10, 0)
    pid, _ = _exposed(desk, t)
    t1 = t + 100 * MS
    out, _ = desk.run_step(t1, [vi(A, Venue.KRX, True, t1 - MS)], [],
                           touches=_touch(0, (70_000, 70_100), (70_200, 70_300)))
    (cancel,) = of(out, CancelRequest)
    assert cancel.intent.venue is Venue.KRX and cancel.intent.order_no == "002", "the post is cancelled at once"
    assert requests(out) == [], "nothing is sent before the post is known to be off the book"
    cref = f"{pid}:cancel:1"
    out, _ = desk.run_step(t1 + 30 * MS, [sent(cref, t1 + MS), acked(cref, "003", t1 + 16 * MS),
                                          OrderCancelled("002", t1 + 20 * MS, A, Venue.KRX, Side.BUY,
                                                         cancel_order_no="003", cancelled_qty=1)], [])
    (ioc,) = requests(out)
    it = ioc.intent
    assert (it.venue, it.side, it.role, it.style) == (Venue.NXT, Side.BUY, OrderRole.HEDGE_IOC, OrderStyle.LIMIT_IOC)
    assert it.price == 70_300 + 3 * 100, "bounded: the NXT ask + 3 ticks"
    t2 = t1 + 60 * MS
    out, _ = desk.run_step(t2, [sent(it.ref, t1 + 31 * MS), acked(it.ref, "004", t1 + 46 * MS),
                                filled("004", A, Venue.NXT, Side.BUY, 1, 70_300, 0, t1 + 50 * MS)], [])
    assert not desk.active and desk.flat


def test_no_ioc_goes_into_a_call_and_both_shut_venues_make_the_pair_wait() -> None:
    """At 15:20 KRX enters its closing call and NXT pauses: the exposed pair sends no IOC; its flatten is a priced
    limit resting in KRX's call (the cheap venue) that waits for the uncross instead of being settled away."""
    desk = make_desk(sessions={"overlap_window": {"start": "09:00:32", "end": "15:20:00"}})
    arm(desk, {A: 10}, 10_000_000)
    t = at(15, 19, 50)
    pid, _ = _exposed(desk, t)
    _, summary = desk.run_step(t + 100 * MS, [], [])
    assert summary.next_deadline_ns is not None and summary.next_deadline_ns <= at(15, 20)
    out, _ = desk.run_step(at(15, 20), [], [])
    (cancel,) = of(out, CancelRequest)                      # KRX is a call now: the post goes
    cref = f"{pid}:cancel:1"
    t1 = at(15, 20)
    out, _ = desk.run_step(t1 + 30 * MS, [sent(cref, t1 + MS), acked(cref, "003", t1 + 16 * MS),
                                          OrderCancelled("002", t1 + 20 * MS, A, Venue.KRX, Side.BUY,
                                                         cancel_order_no="003", cancelled_qty=1)], [])
    (flat,) = requests(out)
    it = flat.intent
    assert (it.venue, it.side, it.style) == (Venue.KRX, Side.BUY, OrderStyle.LIMIT), "a priced limit, no IOC"
    assert it.price == 70_000 + 3 * 100, "the signal's KRX ask + 3 ticks"
    desk.run_step(t1 + 60 * MS, [sent(it.ref, t1 + 31 * MS), acked(it.ref, "004", t1 + 46 * MS)], [])
    out, _ = desk.run_step(t1 + 5 * S, [], [])
    assert of(out, CancelRequest) == [] and requests(out) == [], "it waits for the uncross, never settled away"
    # the uncross fills it at 15:30; the pair ends flat
    t3 = at(15, 30)
    desk.run_step(t3, [filled("004", A, Venue.KRX, Side.BUY, 1, 70_200, 0, t3)], [])
    assert not desk.active and desk.flat


def test_a_flatten_due_while_both_venues_are_shut_waits_for_one_to_open() -> None:
    """NXT is paused 08:50–09:00:30 and KRX closed before 08:30: no order at all until a venue takes one."""
    desk = make_desk()
    arm(desk, {A: 10}, 10_000_000)
    t = at(10, 0)
    pid, _ = _exposed(desk, t)
    machine = desk.pairs[pid]
    # the machine on its own: both venues shut for its code (a pause); it cancels the post, whose cancel is confirmed
    acts = machine.handle(VenueChanged(Venue.KRX, VenueAccess.SHUT, t + 50 * MS))
    assert [type(a).__name__ for a in acts if type(a).__name__.startswith("Send")] == ["SendCancel"]
    machine.handle(VenueChanged(Venue.NXT, VenueAccess.SHUT, t + 50 * MS))
    acts = machine.handle(CancelConfirmed("002", 1, t + 60 * MS))
    assert machine.blocked and not [a for a in acts if type(a).__name__ == "SendOrder"]
    acts = machine.handle(VenueChanged(Venue.NXT, VenueAccess.OPEN, t + 2 * S))
    (send,) = [a for a in acts if type(a).__name__ == "SendOrder"]
    assert (send.intent.venue, send.intent.style) == (Venue.NXT, OrderStyle.LIMIT_IOC)
    assert not machine.blocked


def test_a_take_filled_while_the_hedge_venue_is_in_vi_flattens_on_the_rich_venue_without_a_post() -> None:
    desk = make_desk()
    arm(desk, {A: 10}, 10_000_000)
    t = at(10, 0)
    out, _ = desk.run_step(t, [], [signal(A, 0)], touches=_touch(0, (70_000, 70_100), (70_300, 70_400)))
    take = requests(out)[0].intent
    out, _ = desk.run_step(t + 20 * MS, [vi(A, Venue.KRX, True, t + 5 * MS), sent(take.ref, t + MS),
                                         acked(take.ref, "001", t + 16 * MS),
                                         filled("001", A, Venue.NXT, Side.SELL, 1, 70_300, 0, t + 20 * MS)], [])
    (ioc,) = requests(out)
    assert (ioc.intent.venue, ioc.intent.role, ioc.intent.style) == (Venue.NXT, OrderRole.HEDGE_IOC,
                                                                     OrderStyle.LIMIT_IOC)
    assert not [r for r in requests(out) if r.intent.role is OrderRole.HEDGE_POST]
    t2 = t + 60 * MS
    desk.run_step(t2, [sent(ioc.intent.ref, t + 21 * MS), acked(ioc.intent.ref, "002", t + 36 * MS),
                       ioc_cancelled("002", A, Venue.NXT, Side.BUY, 1, t + 40 * MS)], [])
    assert desk.active, "an unfilled bounded IOC is retried, still on the venue that is open"
