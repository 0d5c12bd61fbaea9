"""The bridge hands out a step's broker events in time order, and the real pair desk relies on it.

Regression: in a paced run under load, order A was placed at 42.300 s and order B at 46.240 s (the
clock moved on between the two placements); A's ack came at 42.315 s. The step carried
``[send A, send B, ack A]``; the desk, which fires its timers up to each event's time, timed A out at
42.500 s and declared it lost at 43.500 s before it reached the ack, then hedged orders that had in
fact filled and ended a session with a net position of -1.
"""
from __future__ import annotations

from config.loader import load_config
from core.desk_events import (
    DisarmRequested,
    MarketOperationNotice,
    OrderAcknowledged,
    OrderDenied,
    OrderSendResult,
    SendOutcome,
)
from core.enums import Direction, MarketOperation
from core.observations import ErrorRaised
from core.order_flow import OrderRequest
from core.pair_desk import PairDesk
from core.pair_events import OrderStatus
from core.signal import Signal
from core.universe import Symbol, Universe
from kiwoom_bridge.step_events import step_events
from tests.unit.desk_helpers import account_reports

S = 1_000_000_000
T0 = 1_796_169_600 * S            # 2026-12-02 09:00:00 KST, a trading day


def send(ref: str, t_s: float) -> OrderSendResult:
    return OrderSendResult(ref=ref, outcome=SendOutcome.SENT, t_ns=T0 + int(t_s * S), send_ns=0)


def ack(ref: str, order_no: str, t_s: float) -> OrderAcknowledged:
    return OrderAcknowledged(ref=ref, order_no=order_no, t_ns=T0 + int(t_s * S))


def test_events_come_out_in_time_order_send_results_first_at_equal_times() -> None:
    a, b = send("A:take:1", 42.300), send("B:take:1", 46.240)
    ack_a, ack_same = ack("A:take:1", "0000002", 42.315), ack("B:take:1", "0000003", 46.240)
    out = step_events([a, b], [ack_a, ack_same], T0 + 47 * S)
    assert out == [a, ack_a, b, ack_same]


def test_an_event_without_a_time_counts_as_the_steps_own_time() -> None:
    d = DisarmRequested("operator")
    late = OrderDenied(ref="C:take:1", pair_id="C", reason="tokens", t_ns=T0 + 48 * S)
    out = step_events([late, d], [ack("A:take:1", "1", 41.0)], T0 + 47 * S)
    assert out[0].ref == "A:take:1" and out[1] is d and out[2] is late


def _desk_with_two_takes() -> tuple[PairDesk, list[str]]:
    """A real desk, armed, that admitted one signal on each of two codes: their take refs."""
    universe = Universe((Symbol("015760"), Symbol("005930")))
    desk = PairDesk(load_config(), universe)
    opened = MarketOperationNotice(MarketOperation.NXT_MAIN_OPEN, "R", "NXT main start", T0 + 30 * S)
    signals = [Signal(code, i, Direction.A, 1, 7660, 7670, 100, 100, 5.0, 6.5, T0 + 37 * S, 0, 0)
               for i, code in enumerate(("015760", "005930"))]
    held = account_reports([("015760", 100), ("005930", 100)], 100_000_000, T0 + 30 * S)
    outputs, _ = desk.run_step(T0 + 37 * S, [opened, *held], signals)
    refs = [o.intent.ref for o in outputs if isinstance(o, OrderRequest)]
    assert len(refs) == 2, outputs
    return desk, refs


def _lost_orders(outputs: list) -> list[str]:
    return [o.message for o in outputs if isinstance(o, ErrorRaised) and "order_lost" in o.message]


def test_an_ack_15_ms_after_its_send_binds_although_a_later_send_shares_the_step() -> None:
    # Prepare: the bridge's own send results and the acks it collected, A's ack between the two sends
    desk, (a, b) = _desk_with_two_takes()
    carried = [send(a, 42.300), send(b, 46.240)]
    collected = [ack(a, "0000002", 42.315), ack(b, "0000003", 46.255)]
    # Act: the step as the bridge hands it out
    outputs, _ = desk.run_step(T0 + 47 * S, step_events(carried, collected, T0 + 47 * S), [])
    # Assert: both takes are working; nothing timed out or got lost
    assert not _lost_orders(outputs)
    for ref in (a, b):
        pid = ref.split(":")[0]
        assert desk.pairs[pid].orders[ref].status is OrderStatus.WORKING


def test_the_old_concatenation_loses_the_order_in_the_real_desk() -> None:
    # what the old "send results, then broker events" order did: A's ack behind B's send, so the desk
    # fired A's ack timer and grace first and declared A lost although its ack came 15 ms after the send
    desk, (a, b) = _desk_with_two_takes()
    carried = [send(a, 42.300), send(b, 46.240)]
    collected = [ack(a, "0000002", 42.315), ack(b, "0000003", 46.255)]
    outputs, _ = desk.run_step(T0 + 47 * S, carried + collected, [])
    assert _lost_orders(outputs)
