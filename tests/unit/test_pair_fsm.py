"""Tests of the pure pair state machine (core/pair_fsm.py).

Scenario tests drive one slice by hand on a fake clock. The stateful test plays an exchange, a broker
and a Throttler around the machine and lets Hypothesis choose the interleavings (fills, IOC remainders,
cancel confirmations racing fills, rejects, late acks, -308 refusals, timers); at the end it drains
everything and checks that every leg ended filled, cancelled or rejected and that the book is flat.
"""
from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from core.pair_fsm import (
    Accepted,
    CancelConfirmed,
    CancelStatus,
    EmitEvent,
    Filled,
    Finished,
    ForceFlatten,
    OrderStatus,
    PairParams,
    PairState,
    PairStateMachine,
    Rejected,
    SendCancel,
    SendOrder,
    SendRateLimited,
    Sent,
    Start,
    StartTimer,
    TimerFired,
    TrAck,
)

MS = 1_000_000
T0 = 1_000_000_000_000
RICH_BID = 84_600
CHEAP_ASK = 84_500


# ------------------------------------------------------------------------------------------------
# A tiny driver for scenario tests
# ------------------------------------------------------------------------------------------------


class Driver:
    """Feeds events to one machine on a fake clock and records what it asked for."""

    def __init__(self, qty: int = 5, direction: str = "A", params: PairParams | None = None) -> None:
        self.m = PairStateMachine("p1", "005930", direction, qty, RICH_BID, CHEAP_ASK,
                                  params or PairParams())
        self.now = T0
        self.actions: list[tuple[int, object]] = []

    # clock and plumbing
    def advance(self, ms: float) -> None:
        self.now += int(ms * MS)

    def do(self, event) -> list:
        acts = self.m.handle(event)
        self.actions.extend((self.now, a) for a in acts)
        return acts

    def timer(self, kind: str) -> tuple[int, int]:
        """(token, deadline) of the earliest armed timer of a kind."""
        armed = sorted((d, t) for t, (k, d) in self.m.armed_timers.items() if k == kind)
        assert armed, f"no armed {kind!r} timer; armed: {dict(self.m.armed_timers)}"
        deadline, token = armed[0]
        return token, deadline

    def fire(self, kind: str, early_ns: int = 0) -> list:
        token, deadline = self.timer(kind)
        self.now = deadline - early_ns
        return self.do(TimerFired(kind, token, self.now))

    # broker messages
    def start(self) -> list:
        return self.do(Start(self.now))

    def sent(self, ref: str) -> list:
        return self.do(Sent(ref, self.now))

    def ack(self, ref: str, order_no: str) -> list:
        return self.do(TrAck(ref, order_no, self.now))

    def send_and_ack(self, ref: str, order_no: str) -> list:
        self.sent(ref)
        return self.ack(ref, order_no)

    def fill(self, order_no: str, qty: int, price: float, leaves: int, exec_id: str | None = None) -> list:
        return self.do(Filled(order_no, qty, price, leaves, self.now, exec_id=exec_id))

    def confirm(self, order_no: str, qty: int) -> list:
        return self.do(CancelConfirmed(order_no, qty, self.now))

    # inspection
    @staticmethod
    def orders_in(acts) -> list:
        return [a.intent for a in acts if isinstance(a, SendOrder)]

    @staticmethod
    def cancels_in(acts) -> list:
        return [a.intent for a in acts if isinstance(a, SendCancel)]

    @staticmethod
    def events_in(acts, kind: str) -> list[EmitEvent]:
        return [a for a in acts if isinstance(a, EmitEvent) and a.kind == kind]

    @staticmethod
    def finished_in(acts) -> list[Finished]:
        return [a for a in acts if isinstance(a, Finished)]

    def all(self, cls) -> list:
        return [a for _, a in self.actions if isinstance(a, cls)]

    def post_ref(self, n: int = 1) -> str:
        return f"p1:hedge_post:{n}"


def take_filled(d: Driver, filled: int, qty: int | None = None) -> list:
    """Start, ack the take as '0001', fill ``filled`` and cancel the IOC remainder; returns last actions."""
    qty = d.m.qty if qty is None else qty
    d.start()
    d.advance(1)
    d.send_and_ack("p1:take:1", "0001")
    d.advance(2)
    acts = []
    if filled:
        acts = d.fill("0001", filled, RICH_BID, qty - filled)
    if filled < qty:
        d.advance(1)
        acts = d.confirm("0001", qty - filled)
    return acts


def post_acked(d: Driver, filled: int) -> None:
    take_filled(d, filled)
    d.advance(3)
    d.send_and_ack(d.post_ref(), "0002")


# ------------------------------------------------------------------------------------------------
# Helpers and parameters
# ------------------------------------------------------------------------------------------------


def test_direction_names_its_venues() -> None:
    assert PairStateMachine("p", "005930", "A", 1, RICH_BID, CHEAP_ASK).cheap_venue == "KRX"
    assert PairStateMachine("p", "005930", "B", 1, RICH_BID, CHEAP_ASK).rich_venue == "KRX"


@pytest.mark.parametrize("bad", [
    {"t_hedge_ms": 0}, {"tr_ack_timeout_ms": -1}, {"cooldown_ms": -5}, {"entry_style": "fok"},
    {"hedge_style": "market"}, {"max_cancel_attempts": 0}, {"max_flatten_orders": 0},
    {"cancel_timeout_ms": 1.5}, {"retry_after_308_ms": True}, {"flatten_style": "market"},
    {"flatten_slippage_ticks": -1},
    # market styles carry no price bound: refused unless the operator allows market orders
    {"entry_style": "market"}, {"flatten_style": "market_ioc"},
])
def test_params_refuse_impossible_values(bad) -> None:
    with pytest.raises(ValueError):
        PairParams(**bad)


def test_constructor_validates() -> None:
    with pytest.raises(ValueError):
        PairStateMachine("p", "005930", "A", 0, RICH_BID, CHEAP_ASK)
    with pytest.raises(ValueError):
        PairStateMachine("p", "005930", "X", 1, RICH_BID, CHEAP_ASK)
    with pytest.raises(ValueError):
        PairStateMachine("p", "005930", "A", 1, 0, CHEAP_ASK)          # limit IOC needs a price
    with pytest.raises(ValueError):
        PairStateMachine("p", "005930", "A", 1, RICH_BID, 0)           # limit post needs a price
    # market entry (allowed by the operator) and NXT mid need no prices
    PairStateMachine("p", "005930", "B", 1, 0, 0, PairParams(entry_style="market", hedge_style="mid",
                                                            allow_market_orders=True))


# ------------------------------------------------------------------------------------------------
# Scenarios
# ------------------------------------------------------------------------------------------------


def test_happy_path_take_then_post_fills_paired_done() -> None:
    d = Driver(qty=5, direction="A")
    acts = d.start()
    assert d.m.state is PairState.ENTRY_TAKE_SENT
    assert [e.detail_dict["to"] for e in d.events_in(acts, "state")] == ["CANDIDATE", "ENTRY_TAKE_SENT"]
    (take,) = d.orders_in(acts)
    assert (take.venue, take.side, take.qty, take.style, take.price, take.role, take.urgent) == \
        ("NXT", "SELL", 5, "limit_ioc", RICH_BID, "take", False)
    assert take.ref == "p1:take:1"

    d.advance(1)
    d.send_and_ack("p1:take:1", "0001")
    d.advance(2)
    acts = d.fill("0001", 5, RICH_BID, 0)
    (post,) = d.orders_in(acts)
    assert (post.venue, post.side, post.qty, post.style, post.price, post.role, post.urgent) == \
        ("KRX", "BUY", 5, "limit", CHEAP_ASK, "hedge_post", True)
    assert d.m.state is PairState.HEDGE_POST_SENT
    assert d.m.net_position == -5 and d.m.exposure_since_ns == d.now
    assert d.m.hedge_deadline_ns == d.now + 1000 * MS

    d.advance(3)
    d.send_and_ack(post.ref, "0002")
    d.advance(100)
    d.fill("0002", 2, CHEAP_ASK, 3)
    assert d.m.state is PairState.HEDGE_POST_SENT
    acts = d.fill("0002", 3, CHEAP_ASK, 0)
    assert d.m.state is PairState.PAIRED_DONE and d.m.is_terminal
    (fin,) = d.finished_in(acts)
    assert (fin.outcome, fin.net_position, fin.filled_take, fin.filled_hedge, fin.cooldown_until_ns) == \
        ("done", 0, 5, 5, None)
    assert d.m.net_position == 0 and d.m.exposure_since_ns is None
    assert not d.all(SendCancel)
    assert d.m.orders[post.ref].status is OrderStatus.FILLED
    assert d.m.orders[post.ref].avg_fill_price == CHEAP_ASK
    # the hedge timer is now stale: firing it changes nothing
    assert d.m.armed_timers == {}
    assert d.do(TimerFired("hedge", 3, d.now + 10_000 * MS)) == []


def test_direction_b_market_entry_and_nxt_mid_post() -> None:
    d = Driver(qty=2, direction="B", params=PairParams(entry_style="market", hedge_style="mid",
                                                       allow_market_orders=True))
    (take,) = d.orders_in(d.start())
    assert (take.venue, take.side, take.style, take.price) == ("KRX", "SELL", "market_ioc", 0)
    d.send_and_ack(take.ref, "0001")
    (post,) = d.orders_in(d.fill("0001", 2, RICH_BID, 0))
    assert (post.venue, post.side, post.style, post.price) == ("NXT", "BUY", "mid", 0)


def test_mid_style_falls_back_to_limit_on_krx() -> None:
    d = Driver(qty=1, direction="A", params=PairParams(hedge_style="mid"))
    take_filled(d, 1)
    (post,) = [o.intent for o in d.m.orders.values() if o.role == "hedge_post"]
    assert (post.venue, post.style, post.price) == ("KRX", "limit", CHEAP_ASK)


def test_take_ioc_fully_cancelled_is_a_miss_with_cooldown_and_no_hedge() -> None:
    d = Driver(qty=5)
    acts = take_filled(d, 0)
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "missed" and fin.cooldown_until_ns == d.now + 100 * MS
    assert d.m.state is PairState.COOLDOWN and d.m.is_terminal
    assert [o.role for o in d.m.orders.values()] == ["take"]
    assert d.m.orders["p1:take:1"].status is OrderStatus.CANCELLED
    assert d.m.first_take_fill_ns is None and d.m.armed_timers == {}


def test_partial_take_hedges_exactly_the_filled_quantity() -> None:
    d = Driver(qty=5)
    d.start()
    d.send_and_ack("p1:take:1", "0001")
    d.advance(1)
    first_fill = d.now
    acts = d.fill("0001", 3, RICH_BID, 2)
    assert not d.orders_in(acts), "no hedge before the take is complete"
    d.advance(1)
    acts = d.confirm("0001", 2)
    (post,) = d.orders_in(acts)
    assert post.qty == 3 and d.m.filled_take == 3
    assert d.m.hedge_deadline_ns == first_fill + 1000 * MS, "the hedge timer starts at the first take fill"


def test_hedge_escalation_happens_exactly_at_first_fill_plus_t_hedge() -> None:
    d = Driver(qty=3)
    post_acked(d, 3)
    deadline = d.m.hedge_deadline_ns
    token, armed_deadline = d.timer("hedge")
    assert armed_deadline == deadline

    # One nanosecond early: the machine re-arms the same timer and does nothing else.
    acts = d.fire("hedge", early_ns=1)
    assert acts == [StartTimer("hedge", deadline, token, "p1")]
    assert d.m.state is PairState.HEDGE_POST_SENT and not d.m.escalated

    acts = d.fire("hedge")
    assert d.now == deadline
    (cancel,) = d.cancels_in(acts)
    assert (cancel.target_ref, cancel.order_no, cancel.qty, cancel.urgent, cancel.venue, cancel.side) == \
        (d.post_ref(), "0002", 3, True, "KRX", "BUY")
    (timeout,) = d.events_in(acts, "hedge_timeout")
    assert timeout.now_ns == deadline
    assert d.m.state is PairState.CANCEL_POST_SENT

    d.advance(5)
    acts = d.sent(cancel.ref)
    assert any(isinstance(a, StartTimer) and a.kind == "cancel" and a.deadline_ns == d.now + 300 * MS
               for a in acts)
    d.ack(cancel.ref, "0003")
    d.advance(10)
    acts = d.confirm("0002", 3)
    (ioc,) = d.orders_in(acts)
    # price-bounded: a limit IOC at the cheap ask the machine knows + 3 ticks (100 KRW each here)
    assert (ioc.role, ioc.venue, ioc.side, ioc.qty, ioc.style, ioc.price, ioc.urgent) == \
        ("hedge_ioc", "KRX", "BUY", 3, "limit_ioc", CHEAP_ASK + 300, True)
    assert d.m.state is PairState.HEDGE_IOC_SENT
    d.send_and_ack(ioc.ref, "0004")
    d.fill("0004", 2, CHEAP_ASK + 100, 1)
    d.m.note_touch(CHEAP_ASK + 100, CHEAP_ASK + 200)       # the book moved up meanwhile
    acts = d.confirm("0004", 1)                            # IOC remainder cancelled
    (ioc2,) = d.orders_in(acts)
    assert (ioc2.qty, ioc2.style, ioc2.price) == (1, "limit_ioc", CHEAP_ASK + 500), \
        "the next attempt is re-priced from the latest touch, never a market order"
    d.send_and_ack(ioc2.ref, "0005")
    acts = d.fill("0005", 1, CHEAP_ASK + 100, 0)
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "done" and d.m.state is PairState.PAIRED_DONE and d.m.net_position == 0
    cancel_times = [t for t, a in d.actions if isinstance(a, SendCancel)]
    assert cancel_times == [deadline]


def test_cancel_fill_race_post_fill_before_confirm_needs_no_ioc() -> None:
    d = Driver(qty=2)
    post_acked(d, 2)
    (cancel,) = d.cancels_in(d.fire("hedge"))
    d.sent(cancel.ref)
    d.advance(1)
    acts = d.fill("0002", 2, CHEAP_ASK, 0)                # the post filled before the cancel reached it
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "done" and d.m.net_position == 0
    acts = d.confirm("0002", 0)                            # the cancel found nothing left
    assert not d.orders_in(acts) and not d.finished_in(acts)
    assert not [o for o in d.m.orders.values() if o.role == "hedge_ioc"]
    assert d.m.state is PairState.PAIRED_DONE


def test_confirm_with_a_gap_waits_for_the_fill_in_flight() -> None:
    d = Driver(qty=3)
    post_acked(d, 3)
    (cancel,) = d.cancels_in(d.fire("hedge"))
    d.sent(cancel.ref)
    d.advance(2)
    # The exchange filled 2 before the cancel; the 확인 for the last share overtakes the fill Chejan.
    acts = d.confirm("0002", 1)
    assert not d.orders_in(acts), "filled + cancelled < qty: the hedge size is not known yet"
    assert d.events_in(acts, "inflight_fill_wait")
    d.advance(1)
    acts = d.fill("0002", 2, CHEAP_ASK, 0)
    (ioc,) = d.orders_in(acts)
    assert ioc.qty == 1 and ioc.role == "hedge_ioc"


def test_late_post_fill_after_the_ioc_is_unwound() -> None:
    d = Driver(qty=3)
    post_acked(d, 3)
    (cancel,) = d.cancels_in(d.fire("hedge"))
    d.sent(cancel.ref)
    d.advance(2)
    d.confirm("0002", 2)                                   # one share traded, its fill still in flight
    acts = d.fire("cancel")                                # the fill does not come within 300 ms
    assert d.events_in(acts, "order_given_up")
    (ioc,) = d.orders_in(acts)
    assert ioc.qty == 3, "hedge by the fills seen, never by a guess"
    d.send_and_ack(ioc.ref, "0004")
    acts = d.fill("0004", 3, CHEAP_ASK, 0)
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "error" and fin.unresolved_refs == (d.post_ref(),) and fin.net_position == 0

    d.advance(50)
    acts = d.fill("0002", 1, CHEAP_ASK, 0)                 # the late fill of the cancelled post
    assert d.events_in(acts, "reopened")
    (unwind,) = d.orders_in(acts)
    # no bid known: one tick below the ask is the reference, the limit 3 ticks below that
    assert (unwind.role, unwind.venue, unwind.side, unwind.qty, unwind.style, unwind.price, unwind.urgent) == \
        ("unwind", "KRX", "SELL", 1, "limit_ioc", CHEAP_ASK - 400, True)
    assert d.m.state is PairState.UNWIND_SENT and d.m.net_position == 1
    d.send_and_ack(unwind.ref, "0005")
    acts = d.fill("0005", 1, CHEAP_ASK, 0)
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "done" and fin.unresolved_refs == () and d.m.net_position == 0
    assert d.m.state is PairState.PAIRED_DONE


def test_fill_beyond_the_confirmed_cancel_is_counted_and_unwound() -> None:
    d = Driver(qty=2)
    post_acked(d, 2)
    (cancel,) = d.cancels_in(d.fire("hedge"))
    d.sent(cancel.ref)
    (ioc,) = d.orders_in(d.confirm("0002", 2))
    d.send_and_ack(ioc.ref, "0004")
    d.fill("0004", 2, CHEAP_ASK, 0)
    # A fill the 확인 claimed was cancelled: fills are authoritative.
    acts = d.fill("0002", 1, CHEAP_ASK, 0)
    assert d.events_in(acts, "cancel_qty_corrected")
    (unwind,) = d.orders_in(acts)
    assert unwind.qty == 1 and unwind.side == "SELL"
    view = d.m.orders[d.post_ref()]
    assert (view.filled, view.cancelled) == (1, 1)


def test_entry_reject_goes_through_entry_rejected_to_cooldown() -> None:
    d = Driver()
    d.start()
    d.sent("p1:take:1")
    acts = d.ack("p1:take:1", "")
    states = [e.detail_dict["to"] for e in d.events_in(acts, "state")]
    assert states == ["ENTRY_REJECTED", "COOLDOWN"]
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "rejected" and fin.cooldown_until_ns == d.now + 100 * MS
    assert d.m.orders["p1:take:1"].status is OrderStatus.REJECTED


def test_entry_reject_by_chejan_after_ack() -> None:
    d = Driver()
    d.start()
    d.send_and_ack("p1:take:1", "0001")
    acts = d.do(Rejected("거부: 주문가능수량 부족", d.now, order_no="0001"))
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "rejected" and d.m.state is PairState.COOLDOWN


def test_hedge_reject_is_retried_as_a_price_bounded_limit_ioc() -> None:
    d = Driver(qty=4)
    take_filled(d, 4)
    d.sent(d.post_ref())
    acts = d.ack(d.post_ref(), "")
    (ioc,) = d.orders_in(acts)
    assert (ioc.role, ioc.qty, ioc.style, ioc.price, ioc.urgent) == ("hedge_ioc", 4, "limit_ioc", CHEAP_ASK + 300,
                                                                      True)
    assert d.m.state is PairState.HEDGE_IOC_SENT and d.m.escalated
    assert not d.all(SendCancel), "nothing to cancel: the post never existed"
    d.send_and_ack(ioc.ref, "0003")
    acts = d.do(Rejected("거부", d.now, order_no="0003"))
    (ioc2,) = d.orders_in(acts)
    assert (ioc2.qty, ioc2.style, ioc2.price) == (4, "limit_ioc", CHEAP_ASK + 300)


def test_send_error_other_than_308_is_a_reject() -> None:
    d = Driver(qty=1)
    take_filled(d, 1)
    acts = d.do(Rejected("send:-307", d.now, order_ref=d.post_ref()))
    (ioc,) = d.orders_in(acts)
    assert ioc.role == "hedge_ioc" and d.m.orders[d.post_ref()].reject_reason == "send:-307"


def test_308_on_entry_is_a_backoff() -> None:
    d = Driver()
    d.start()
    acts = d.do(SendRateLimited("p1:take:1", d.now))
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "backoff" and fin.cooldown_until_ns == d.now + 250 * MS
    assert d.m.state is PairState.COOLDOWN
    assert d.m.orders["p1:take:1"].status is OrderStatus.REFUSED
    assert not any(isinstance(a, StartTimer) for a in acts)


def test_308_on_hedge_post_retries_after_the_delay() -> None:
    d = Driver(qty=2)
    take_filled(d, 2)
    acts = d.do(SendRateLimited(d.post_ref(), d.now))
    assert not d.orders_in(acts)
    token, deadline = d.timer("retry")
    assert deadline == d.now + 250 * MS and d.m.retry_pending
    assert d.fire("retry", early_ns=1) == [StartTimer("retry", deadline, token, "p1")]
    acts = d.fire("retry")
    (post2,) = d.orders_in(acts)
    assert (post2.ref, post2.role, post2.qty, post2.style, post2.price, post2.urgent) == \
        (d.post_ref(2), "hedge_post", 2, "limit", CHEAP_ASK, True)
    assert d.m.state is PairState.HEDGE_POST_SENT and not d.m.retry_pending


def test_308_on_cancel_resends_the_cancel_after_the_delay() -> None:
    d = Driver(qty=2)
    post_acked(d, 2)
    (c1,) = d.cancels_in(d.fire("hedge"))
    acts = d.do(SendRateLimited(c1.ref, d.now))
    assert not d.cancels_in(acts)
    assert d.m.cancels[c1.ref].status is CancelStatus.REFUSED
    acts = d.fire("retry")
    (c2,) = d.cancels_in(acts)
    assert c2.ref != c1.ref and c2.order_no == "0002" and c2.qty == 2
    assert d.m.orders[d.post_ref()].cancel_attempts == 0, "a refused cancel never reached Kiwoom"


def test_308_on_hedge_after_deadline_becomes_an_ioc() -> None:
    d = Driver(qty=2)
    take_filled(d, 2)
    d.do(SendRateLimited(d.post_ref(), d.now))
    d.advance(100)
    acts = d.fire("hedge")                               # deadline while the retry is pending
    assert not d.orders_in(acts) and not d.cancels_in(acts)
    acts = d.fire("retry")
    (ioc,) = d.orders_in(acts)
    assert ioc.role == "hedge_ioc" and ioc.qty == 2


def test_ack_timeout_then_late_ack_and_fill_are_reconciled() -> None:
    d = Driver(qty=2)
    d.start()
    d.sent("p1:take:1")
    acts = d.fire("ack")
    assert d.events_in(acts, "ack_timeout")
    assert d.m.orders["p1:take:1"].status is OrderStatus.UNCONFIRMED
    assert d.m.state is PairState.ENTRY_TAKE_SENT, "a silent order may exist: keep listening"
    d.advance(50)
    # The fill overtakes the late ack: it is buffered, then replayed when the number binds.
    acts = d.fill("0001", 2, RICH_BID, 0)
    (unknown,) = d.events_in(acts, "unknown_order")
    assert unknown.detail_dict["buffered"] is True and d.m.filled_take == 0
    acts = d.ack("p1:take:1", "0001")
    assert d.events_in(acts, "late_ack")
    (post,) = d.orders_in(acts)
    assert post.qty == 2 and d.m.filled_take == 2 and d.m.state is PairState.HEDGE_POST_SENT


def test_unconfirmed_hedge_blocks_the_next_one_until_lost() -> None:
    d = Driver(qty=2)
    take_filled(d, 2)
    (ioc,) = d.orders_in(d.ack(d.post_ref(), ""))          # post rejected -> IOC at once
    d.sent(ioc.ref)
    acts = d.fire("ack")
    assert d.events_in(acts, "ack_timeout") and not d.orders_in(acts), \
        "a silent hedge may still fill: no second order while it is unconfirmed"
    assert d.m.state is PairState.HEDGE_IOC_SENT
    acts = d.fire("grace")
    assert d.events_in(acts, "order_lost")
    (ioc2,) = d.orders_in(acts)
    assert (ioc2.qty, ioc2.style) == (2, "limit_ioc")
    d.send_and_ack(ioc2.ref, "0004")
    (fin,) = d.finished_in(d.fill("0004", 2, CHEAP_ASK, 0))
    assert fin.outcome == "error" and fin.unresolved_refs == (ioc.ref,)
    # The lost IOC surfaces and filled after all: the excess is sold back.
    d.advance(100)
    d.ack(ioc.ref, "0003")
    acts = d.fill("0003", 2, CHEAP_ASK, 0)
    (unwind,) = d.orders_in(acts)
    assert (unwind.role, unwind.side, unwind.qty) == ("unwind", "SELL", 2)
    d.send_and_ack(unwind.ref, "0005")
    (fin,) = d.finished_in(d.fill("0005", 2, CHEAP_ASK, 0))
    assert fin.outcome == "done" and d.m.net_position == 0


def test_lost_post_that_surfaces_later_is_cancelled() -> None:
    d = Driver(qty=1, params=PairParams(t_hedge_ms=3000))
    take_filled(d, 1)
    d.sent(d.post_ref())
    d.fire("ack")
    acts = d.fire("grace")                                 # lost before the (long) hedge deadline
    (ioc,) = d.orders_in(acts)
    assert ioc.role == "hedge_ioc" and d.m.escalated
    d.send_and_ack(ioc.ref, "0003")
    d.fill("0003", 1, CHEAP_ASK, 0)
    assert d.m.state is PairState.ERROR
    acts = d.ack(d.post_ref(), "0002")                     # the post was resting all along
    assert d.events_in(acts, "reopened")
    (cancel,) = d.cancels_in(acts)
    assert cancel.target_ref == d.post_ref() and d.m.state is PairState.CANCEL_POST_SENT
    d.sent(cancel.ref)
    (fin,) = d.finished_in(d.confirm("0002", 1))
    assert fin.outcome == "done" and fin.unresolved_refs == ()


def test_take_learnt_after_the_deadline_is_hedged_by_ioc_at_once() -> None:
    d = Driver(qty=1)
    d.start()
    d.sent("p1:take:1")
    d.fire("ack")
    d.advance(10)
    fill_seen = d.now
    d.fill("0001", 1, RICH_BID, 0)                       # buffered: the number is not known yet
    d.advance(1100)
    acts = d.ack("p1:take:1", "0001")                    # replayed after first fill + t_hedge
    assert d.m.first_take_fill_ns == fill_seen
    assert any(isinstance(a, StartTimer) and a.kind == "hedge" and a.deadline_ns == fill_seen + 1000 * MS
               for a in acts)
    (timeout,) = d.events_in(acts, "hedge_timeout")
    assert timeout.reason == "deadline_passed_before_post"
    (ioc,) = d.orders_in(acts)
    assert ioc.role == "hedge_ioc" and ioc.qty == 1, "no post without time left to fill it"


def test_chejan_correlated_by_ref_binds_without_tr_ack() -> None:
    d = Driver(qty=1)
    d.start()
    d.sent("p1:take:1")
    acts = d.do(Filled("0009", 1, RICH_BID, 0, d.now, order_ref="p1:take:1"))
    assert d.m.orders["p1:take:1"].order_no == "0009"
    assert d.orders_in(acts)[0].role == "hedge_post"


def test_lost_entry_is_rejected_then_reopened_by_a_late_fill() -> None:
    d = Driver(qty=1)
    d.start()
    d.sent("p1:take:1")
    d.fire("ack")
    acts = d.fire("grace")
    assert d.events_in(acts, "order_lost")
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "rejected" and fin.unresolved_refs == ("p1:take:1",)
    d.advance(500)
    acts = d.ack("p1:take:1", "0001")                # the order existed after all
    assert d.events_in(acts, "reopened") and not d.m.is_terminal
    acts = d.fill("0001", 1, RICH_BID, 0)
    (ioc,) = d.orders_in(acts)
    assert ioc.role == "hedge_ioc" and ioc.qty == 1, "a reopened slice hedges at once, never posts"
    d.send_and_ack(ioc.ref, "0002")
    acts = d.fill("0002", 1, CHEAP_ASK, 0)
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "done" and d.m.net_position == 0


def test_unknown_order_numbers_are_reported_and_ignored() -> None:
    d = Driver(qty=1)
    take_filled(d, 1)
    d.send_and_ack(d.post_ref(), "0002")
    acts = d.fill("9999", 1, CHEAP_ASK, 0)
    (unknown,) = d.events_in(acts, "unknown_order")
    assert unknown.detail_dict == {"buffered": False, "order_no": "9999"}
    assert d.m.filled_hedge == 0 and d.m.state is PairState.HEDGE_POST_SENT


def test_duplicate_exec_id_is_counted_once_and_overfill_is_clamped() -> None:
    d = Driver(qty=2)
    d.start()
    d.send_and_ack("p1:take:1", "0001")
    d.fill("0001", 1, RICH_BID, 1, exec_id="x1")
    d.fill("0001", 1, RICH_BID, 1, exec_id="x1")
    assert d.m.filled_take == 1
    acts = d.fill("0001", 5, RICH_BID, 0)
    assert d.events_in(acts, "overfill_clamped") and d.m.filled_take == 2


def test_cancel_attempts_are_bounded_then_hedge_anyway() -> None:
    d = Driver(qty=2, params=PairParams(max_cancel_attempts=2))
    post_acked(d, 2)
    (c1,) = d.cancels_in(d.fire("hedge"))
    d.sent(c1.ref)
    acts = d.fire("cancel")
    assert d.events_in(acts, "cancel_timeout")
    (c2,) = d.cancels_in(acts)
    d.sent(c2.ref)
    acts = d.fire("cancel")
    assert d.events_in(acts, "order_given_up") and not d.cancels_in(acts)
    (ioc,) = d.orders_in(acts)
    assert ioc.qty == 2 and d.m.state is PairState.HEDGE_IOC_SENT
    d.send_and_ack(ioc.ref, "0004")
    (fin,) = d.finished_in(d.fill("0004", 2, CHEAP_ASK, 0))
    assert fin.outcome == "error" and fin.unresolved_refs == (d.post_ref(),)
    # The cancel confirmation finally arrives: the slice is re-reported as clean.
    acts = d.confirm("0002", 2)
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "done" and fin.unresolved_refs == ()


def test_cancels_whose_send_fails_are_spaced_and_bounded() -> None:
    """The connection is gone: every cancel send fails at once. Each failure counts as an attempt and the
    next waits cancel_timeout_ms, so the line sees max_cancel_attempts cancels, not a stream of them."""
    d = Driver(qty=2, params=PairParams(max_cancel_attempts=3))
    post_acked(d, 2)
    acts = d.fire("hedge")
    sent_cancels = 0
    for _ in range(10):
        cancels = d.cancels_in(acts)
        if not cancels:
            break
        (c,) = cancels
        sent_cancels += 1
        assert not d.cancels_in(d.do(Rejected("send:-106 connection closed", d.now, order_ref=c.ref)))
        acts = d.fire("cancel")             # the next attempt only after the cancel timeout
    assert sent_cancels == 3
    assert d.events_in(acts, "order_given_up")


def test_overdue_ioc_is_cancelled_explicitly() -> None:
    d = Driver(qty=3)
    d.start()
    d.send_and_ack("p1:take:1", "0001")
    acts = d.fire("settle")
    assert d.events_in(acts, "order_overdue")
    (cancel,) = d.cancels_in(acts)
    assert (cancel.target_ref, cancel.venue, cancel.side) == ("p1:take:1", "NXT", "SELL")
    d.sent(cancel.ref)
    (fin,) = d.finished_in(d.confirm("0001", 3))
    assert fin.outcome == "missed"


def test_flatten_orders_are_bounded() -> None:
    d = Driver(qty=1, params=PairParams(max_flatten_orders=2))
    take_filled(d, 1)
    d.ack(d.post_ref(), "")
    for n in (1, 2):
        d.sent(f"p1:hedge_ioc:{n}")
        acts = d.ack(f"p1:hedge_ioc:{n}", "")
    assert d.events_in(acts, "flatten_exhausted")
    (fin,) = d.finished_in(acts)
    assert fin.outcome == "error" and fin.net_position == -1 and d.m.state is PairState.ERROR
    d.advance(1000)
    assert not d.finished_in(d.do(ForceFlatten("kill", d.now)))


def test_force_flatten_skips_the_wait() -> None:
    d = Driver(qty=2)
    post_acked(d, 2)
    acts = d.do(ForceFlatten("exposure_age", d.now))
    assert d.events_in(acts, "force_flatten")
    (cancel,) = d.cancels_in(acts)
    assert cancel.target_ref == d.post_ref() and d.m.state is PairState.CANCEL_POST_SENT


def test_every_state_change_is_an_event_with_a_reason() -> None:
    d = Driver(qty=1)
    post_acked(d, 1)
    d.fire("hedge")
    states = [a for _, a in d.actions if isinstance(a, EmitEvent) and a.kind == "state"]
    assert [(e.detail_dict["from"], e.detail_dict["to"]) for e in states] == [
        ("IDLE", "CANDIDATE"), ("CANDIDATE", "ENTRY_TAKE_SENT"),
        ("ENTRY_TAKE_SENT", "HEDGE_POST_SENT"), ("HEDGE_POST_SENT", "CANCEL_POST_SENT")]
    assert all(e.reason for e in states)


# ------------------------------------------------------------------------------------------------
# Stateful test: exchange + broker + throttler around the machine
# ------------------------------------------------------------------------------------------------

ORDERS_PER_SEC = 5
RESERVED_URGENT = 2
SETTLED = {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.REFUSED}
TROUBLE = {"order_given_up", "order_lost", "flatten_exhausted"}
COVERAGE_KINDS = {"hedge_timeout", "reopened", "ack_timeout", "late_ack", "order_lost", "order_given_up",
                  "inflight_fill_wait", "cancel_qty_corrected", "rate_limited", "reject", "cancel_rejected",
                  "cancel_timeout", "order_overdue", "unknown_order", "resolved_late"}


@dataclass
class XOrder:
    """The exchange's view of one order."""

    ref: str
    qty: int
    side: str
    style: str
    price: float
    order_no: str | None = None
    filled: int = 0
    cancelled: int = 0
    live: bool = False

    @property
    def leaves(self) -> int:
        return self.qty - self.filled - self.cancelled


class PairExchange(RuleBasedStateMachine):
    """Random interleavings of broker messages, timers and throttling around one pair."""

    @initialize(qty=st.integers(1, 5), direction=st.sampled_from("AB"),
                entry=st.sampled_from(["ioc", "market"]), hedge=st.sampled_from(["limit", "mid"]),
                flatten=st.sampled_from(["limit_ioc", "market_ioc"]), rnd=st.randoms(use_true_random=False))
    def setup(self, qty, direction, entry, hedge, flatten, rnd) -> None:
        self.rnd = rnd
        self.flatten = flatten
        allow = entry == "market" or flatten == "market_ioc"
        self.m = PairStateMachine("p", "005930", direction, qty, RICH_BID, CHEAP_ASK,
                                  PairParams(entry_style=entry, hedge_style=hedge, max_flatten_orders=100,
                                             flatten_style=flatten, allow_market_orders=allow))
        self.now = T0
        self.timers: dict[int, tuple[str, int]] = {}
        self.queue: list = []                          # Throttler queue of SendOrder/SendCancel
        self.exec_times: list[int] = []                # when a token was consumed (sorted)
        self.channels: dict[str, list] = {}
        self.x: dict[str, XOrder] = {}
        self.next_no = 1
        self.faults = True
        self.refusals_left = 3
        self.rejects_left = 3
        self.emitted: list[EmitEvent] = []
        self.finished: list[Finished] = []
        self.inbox: deque = deque()
        self.busy = False
        self.hedge_armed_late = False
        self.forced = False
        self.deliver(Start(self.now))

    # ---------------------------------------------------------------- plumbing

    def deliver(self, event) -> list:
        """Hand an event to the machine, execute what it asks, then hand over the immediate replies
        (``Sent``/``SendRateLimited`` of the sends it caused). Returns the actions of ``event`` itself."""
        assert not self.inbox and not self.busy
        self.inbox.append(event)
        return self._flush()

    def _flush(self) -> list:
        self.busy = True
        first = None
        try:
            while self.inbox:
                ev = self.inbox.popleft()
                before = self._hedge_snapshot(ev)
                acts = self.m.handle(ev)
                if first is None:
                    first = acts
                self._check(ev, acts, before)
                self._execute_ready()
        finally:
            self.busy = False
        return first or []

    def _hedge_snapshot(self, ev):
        if not (isinstance(ev, TimerFired) and ev.kind == "hedge" and ev.token in self.m.armed_timers):
            return None
        posts = [o for o in self.m.orders.values() if o.role == "hedge_post"]
        deadline = self.m.armed_timers[ev.token][1]
        return (deadline, self.m.state, self.m.escalated, posts[-1] if posts else None, self.m.retry_pending)

    def _check(self, ev, acts, before) -> None:
        m = self.m
        for a in acts:
            if isinstance(a, SendOrder):
                i = a.intent
                assert i.qty > 0
                assert i.urgent == (i.role != "take"), "only the entry may wait for free tokens"
                if i.role in ("hedge_post", "hedge_ioc"):
                    assert i.qty == -m.net_position, "hedge size = filled_take - filled_hedge"
                if i.role == "unwind":
                    assert i.qty == m.net_position
                if i.style in ("market", "market_ioc", "mid"):
                    assert i.price == 0
                assert i.style != "market", "a plain market order (no price bound) is never sent"
                if i.role in ("hedge_ioc", "unwind") and self.flatten == "limit_ioc":
                    assert i.style == "limit_ioc" and i.price > 0, "every flatten order carries a price bound"
                self.queue.append(a)
            elif isinstance(a, SendCancel):
                assert a.intent.urgent
                if a.intent.target_ref.split(":")[1] == "hedge_post" and not self.forced:
                    assert m.hedge_deadline_ns is not None and self.now >= m.hedge_deadline_ns, \
                        "the post is never cancelled before first_take_fill + t_hedge"
                self.queue.append(a)
            elif isinstance(a, StartTimer):
                if a.kind == "hedge":
                    # Past only when the first take fill was buffered (Chejan overtook the TR ack).
                    assert a.deadline_ns == m.hedge_deadline_ns
                    self.hedge_armed_late = a.deadline_ns < self.now
                else:
                    assert a.deadline_ns >= self.now
                self.timers[a.token] = (a.kind, a.deadline_ns)
            elif isinstance(a, EmitEvent):
                self.emitted.append(a)
                if a.kind == "hedge_timeout":
                    assert a.now_ns >= m.hedge_deadline_ns
                    if not self.hedge_armed_late:
                        assert a.now_ns == m.hedge_deadline_ns, "escalation exactly at first fill + t_hedge"
            elif isinstance(a, Finished):
                self.finished.append(a)
        if before is not None and ev.now_ns >= before[0]:
            deadline, state, escalated, post, retry_pending = before
            assert deadline == m.hedge_deadline_ns
            assert ev.now_ns == deadline or self.hedge_armed_late, "timers fire exactly at their deadline"
            # (a rate-limit retry pending holds every send of the pair, the cancel too, until it is due)
            if (state is PairState.HEDGE_POST_SENT and not escalated and post is not None and not retry_pending
                    and post.status is OrderStatus.WORKING and post.remaining > 0):
                assert any(isinstance(a, SendCancel) and a.intent.target_ref == post.ref for a in acts), \
                    "escalation must cancel the post exactly at the deadline"

    # ---------------------------------------------------------------- throttler

    def tokens_free(self) -> int:
        used = len(self.exec_times) - bisect.bisect_right(self.exec_times, self.now - 1_000_000_000)
        return ORDERS_PER_SEC - used

    def pump(self) -> None:
        """Execute what the tokens allow now and deliver the send results at once."""
        self._execute_ready()
        if self.inbox and not self.busy:
            self._flush()

    def _execute_ready(self) -> None:
        while self.queue:
            idx = next((i for i, a in enumerate(self.queue) if a.intent.urgent), 0)
            a = self.queue[idx]
            need = 1 if a.intent.urgent else 1 + RESERVED_URGENT
            if self.tokens_free() < need:
                return
            self.queue.pop(idx)
            self.execute(a)

    def next_release(self) -> int | None:
        if not self.queue:
            return None
        window = [t for t in self.exec_times if t > self.now - 1_000_000_000]
        return window[0] + 1_000_000_000 if window else None

    def execute(self, action) -> None:
        assert self.tokens_free() >= 1, "no SendOrder/SendCancel without a token"
        bisect.insort(self.exec_times, self.now)
        ref = action.intent.ref
        if self.faults and self.refusals_left > 0 and self.chance(0.12):
            self.refusals_left -= 1
            self.exec_times.remove(self.now)           # -308: the caller returns the token
            self.inbox.append(SendRateLimited(ref, self.now))
            return
        self.inbox.append(Sent(ref, self.now))
        if isinstance(action, SendOrder):
            self.exchange_new(action.intent)
        else:
            self.exchange_cancel(action.intent)

    # ---------------------------------------------------------------- exchange

    def _no(self) -> str:
        no = f"{self.next_no:07d}"
        self.next_no += 1
        return no

    def chance(self, p: float) -> bool:
        """True with probability p; the simplest draw (0.0, which shrinking prefers) is False."""
        return self.rnd.random() > 1.0 - p

    def _ref_or_none(self, ref: str) -> str | None:
        return ref if self.chance(0.25) else None           # the bridge correlated the Chejan

    def _push(self, key: str, maker) -> None:
        self.channels.setdefault(key, []).append(maker)

    def _push_fills(self, xo: XOrder, total: int) -> None:
        while total > 0:
            k = self.rnd.randint(1, total)
            total -= k
            xo.filled += k
            leaves, no, ref = xo.qty - xo.filled, xo.order_no, self._ref_or_none(xo.ref)
            exec_id = f"{no}-{xo.filled}"
            self._push(xo.ref, lambda now, k=k, leaves=leaves, no=no, ref=ref, e=exec_id, p=xo.price:
                       Filled(no, k, p, leaves, now, exec_id=e, order_ref=ref))

    def exchange_new(self, intent) -> None:
        xo = XOrder(intent.ref, intent.qty, intent.side, intent.style, intent.price or CHEAP_ASK)
        self.x[intent.ref] = xo
        if self.faults and self.rejects_left > 0 and self.chance(0.08):
            self.rejects_left -= 1
            self._push(intent.ref, lambda now, r=intent.ref: TrAck(r, "", now))
            return
        xo.order_no = no = self._no()
        self._push(intent.ref, lambda now, r=intent.ref, no=no: TrAck(r, no, now))
        ref = self._ref_or_none(intent.ref)
        self._push(intent.ref, lambda now, no=no, ref=ref: Accepted(no, now, order_ref=ref))
        if self.faults and self.rejects_left > 0 and self.chance(0.05):
            self.rejects_left -= 1
            self._push(intent.ref, lambda now, no=no: Rejected("거부", now, order_no=no))
            return
        if intent.style == "limit_ioc":   # limit IOC: full, partial or nothing
            r = self.rnd.random()
            self._push_fills(xo, xo.qty if r < 0.6 else self.rnd.randint(1, xo.qty) if r < 0.85 else 0)
        elif intent.style in ("market_ioc", "market"):   # market: at least one share trades
            self._push_fills(xo, xo.qty if self.rnd.random() < 0.6 else self.rnd.randint(1, xo.qty))
        elif self.chance(0.3):                         # a post at the ask may trade at once
            self._push_fills(xo, self.rnd.randint(0, xo.qty))
        if intent.style in ("limit_ioc", "market_ioc"):
            rest = xo.leaves
            if rest:
                xo.cancelled += rest
                self._push(intent.ref, lambda now, no=no, rest=rest: CancelConfirmed(no, rest, now))
        else:
            xo.live = xo.leaves > 0

    def exchange_cancel(self, intent) -> None:
        target = self.x[intent.target_ref]
        cno = self._no()
        if target.live and target.leaves > 0:
            rest = target.leaves
            target.cancelled += rest
            target.live = False
            self._push(intent.ref, lambda now, r=intent.ref, cno=cno: TrAck(r, cno, now))
            via = self.rnd.choice([target.order_no, cno])
            self._push(target.ref, lambda now, via=via, rest=rest: CancelConfirmed(via, rest, now))
        elif self.rnd.random() < 0.5:
            self._push(intent.ref, lambda now, r=intent.ref: TrAck(r, "", now))
        else:
            self._push(intent.ref, lambda now, r=intent.ref, cno=cno: TrAck(r, cno, now))
            self._push(intent.ref, lambda now, cno=cno: Rejected("취소가능수량 없음", now, order_no=cno))

    # ---------------------------------------------------------------- clock

    def advance_to(self, t: int) -> None:
        while True:
            due = [d for _, d in self.timers.values() if d <= t]
            rel = self.next_release()
            cands = due + ([rel] if rel is not None and rel <= t else [])
            if not cands:
                break
            self.now = max(self.now, min(cands))
            self.pump()
            for token, (kind, d) in sorted(self.timers.items(), key=lambda kv: (kv[1][1], kv[0])):
                if d <= self.now and token in self.timers:
                    self.deliver(TimerFired(kind, token, self.now))
                    if self.timers.get(token) == (kind, d):
                        del self.timers[token]
        self.now = max(self.now, t)
        self.pump()

    def next_event_time(self) -> int | None:
        cands = [d for _, d in self.timers.values()]
        rel = self.next_release()
        if rel is not None:
            cands.append(rel)
        return min(cands) if cands else None

    # ---------------------------------------------------------------- rules

    def _pending(self) -> list[str]:
        return sorted(k for k, v in self.channels.items() if v)

    @precondition(lambda self: self._pending())
    @rule(data=st.data())
    def deliver_in_order(self, data) -> None:
        key = data.draw(st.sampled_from(self._pending()))
        self.deliver(self.channels[key].pop(0)(self.now))

    @precondition(lambda self: self._pending())
    @rule(data=st.data())
    def deliver_out_of_order(self, data) -> None:
        """A message overtakes earlier ones of the same request (late fills racing cancels, late acks)."""
        key = data.draw(st.sampled_from(self._pending()))
        items = self.channels[key]
        idx = data.draw(st.integers(0, len(items) - 1))
        self.deliver(items.pop(idx)(self.now))

    @precondition(lambda self: any(xo.live for xo in self.x.values()))
    @rule(data=st.data())
    def trade_against_live_order(self, data) -> None:
        live = sorted(ref for ref, xo in self.x.items() if xo.live)
        xo = self.x[data.draw(st.sampled_from(live))]
        self._push_fills(xo, data.draw(st.integers(1, xo.leaves)))
        xo.live = xo.leaves > 0

    @precondition(lambda self: self.next_event_time() is not None)
    @rule()
    def advance_to_next_timer(self) -> None:
        self.advance_to(self.next_event_time())

    @rule(ms=st.integers(1, 400))
    def advance_clock(self, ms) -> None:
        self.advance_to(self.now + ms * MS)

    @precondition(lambda self: any(d > self.now for _, d in self.timers.values()))
    @rule(data=st.data())
    def timer_fires_early(self, data) -> None:
        early = sorted(t for t, (_, d) in self.timers.items() if d > self.now)
        token = data.draw(st.sampled_from(early))
        kind, deadline = self.timers[token]
        was_armed = token in self.m.armed_timers
        acts = self.deliver(TimerFired(kind, token, self.now))
        if was_armed:
            assert acts == [StartTimer(kind, deadline, token, self.m.pair_id)], \
                "an early timer only re-arms itself"
        else:
            assert acts == []

    @precondition(lambda self: not self.forced and self.m.state not in (PairState.IDLE, PairState.CANDIDATE))
    @rule()
    def kill_switch_forces_flatten(self) -> None:
        self.forced = True
        self.deliver(ForceFlatten("exposure_age", self.now))

    # ---------------------------------------------------------------- invariants

    @invariant()
    def quantities_are_consistent(self) -> None:
        for ref, o in self.m.orders.items():
            assert 0 <= o.filled <= o.qty and 0 <= o.cancelled and o.filled + o.cancelled <= o.qty
            xo = self.x.get(ref)
            assert o.filled <= (xo.filled if xo else 0), "the machine cannot know more fills than traded"
        assert self.m.net_position == self.m.filled_hedge - self.m.filled_take - self.m.filled_unwind

    @invariant()
    def never_more_than_five_sends_per_second(self) -> None:
        ts = self.exec_times
        for i, t in enumerate(ts):
            j = bisect.bisect_right(ts, t - 1_000_000_000)
            assert i - j + 1 <= ORDERS_PER_SEC

    # ---------------------------------------------------------------- drain and final checks

    def teardown(self) -> None:
        if not hasattr(self, "m"):
            return
        self.faults = False
        for _ in range(5000):
            pending = self._pending()
            if pending:
                key = pending[0]
                self.deliver(self.channels[key].pop(0)(self.now))
                continue
            t = self.next_event_time()
            if t is not None:
                self.advance_to(t)
                continue
            break
        else:
            raise AssertionError("the pair did not settle within the drain budget")
        m = self.m
        assert not self.queue and not self._pending()
        assert m.is_terminal, m.state
        assert not any(xo.live for xo in self.x.values()), "an order is still working at the exchange"
        for ref, o in m.orders.items():
            assert o.status in SETTLED, (ref, o.status)
            xo = self.x.get(ref)
            assert o.filled == (xo.filled if xo else 0), (ref, o.filled)
        exchange_net = sum(xo.filled if xo.side == "BUY" else -xo.filled for xo in self.x.values())
        assert m.net_position == 0 and exchange_net == 0
        assert self.finished, "a slice always finishes"
        last = self.finished[-1]
        assert last.net_position == 0 and last.unresolved_refs == ()
        assert last.outcome in ("done", "missed", "rejected", "backoff"), last
        assert (last.outcome == "done") == (m.filled_take > 0)
        kinds = {e.kind for e in self.emitted}
        if any(f.outcome == "error" for f in self.finished):
            assert kinds & TROUBLE, "an error outcome needs a lost or given-up order"
        assert len([e for e in self.emitted if e.kind == "hedge_timeout"]) <= 1
        # Coverage of the interesting paths (shown with --hypothesis-show-statistics).
        event(f"outcome {last.outcome}")
        for kind in sorted(kinds & COVERAGE_KINDS):
            event(f"saw {kind}")


PairExchange.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_pair_state_machine_against_exchange = PairExchange.TestCase
