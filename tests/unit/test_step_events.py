"""The bridge hands out a step's broker events in time order.

Regression: in a paced run under load, order A was placed at 42.300 s and order B at 46.240 s (the
clock moved on between the two placements); A's TR ack came at 42.315 s. The step carried
``[send A, send B, ack A]``; the PairManager, which fires its timers up to each event's time,
timed A out at 42.500 s and declared it lost at 43.500 s before it reached the ack, then hedged
orders that had in fact filled and ended a session with a net position of -1.
"""
from __future__ import annotations

import heapq

from actors.messages import Denied, Disarm, SendResult
from core.pair_fsm import EmitEvent, OrderStatus, PairParams, PairStateMachine, Sent, Start, StartTimer, TimerFired, TrAck
from kiwoom_bridge.step_events import step_events
from kiwoom_bridge.types import OrderAck

S = 1_000_000_000
T0 = 1_796_169_600 * S


def send(ref: str, t_s: float) -> SendResult:
    return SendResult(ref=ref, rc=0, t_ns=T0 + int(t_s * S), send_ns=0)


def ack(ref: str, order_no: str, t_s: float) -> OrderAck:
    return OrderAck(t_ns=T0 + int(t_s * S), rq_name=ref, screen_no="9000", order_no=order_no)


def test_events_come_out_in_time_order_send_results_first_at_equal_times() -> None:
    a, b = send("A:take:1", 42.300), send("B:take:1", 46.240)
    ack_a, ack_same = ack("A:take:1", "0000002", 42.315), ack("B:take:1", "0000003", 46.240)
    out = step_events([a, b], [ack_a, ack_same], T0 + 47 * S)
    assert out == [a, ack_a, b, ack_same]


def test_an_event_without_a_time_counts_as_the_steps_own_time() -> None:
    d = Disarm("operator")
    late = Denied(ref="C:take:1", pair_id="C", reason="tokens", t_ns=T0 + 48 * S)
    out = step_events([late, d], [ack("A:take:1", "1", 41.0)], T0 + 47 * S)
    assert out[0].rq_name == "A:take:1" and out[1] is d and out[2] is late


def run_like_the_pair_manager(machines: dict[str, PairStateMachine], events: list) -> list[tuple[str, str]]:
    """The PairManager's rule: before each event, fire every timer due by the event's time.

    Returns the (pair, kind) of every event the machines emitted."""
    timers: list[tuple[int, int, str, str, int]] = []
    emitted: list[tuple[str, str]] = []
    seq = 0

    def handle(pid: str, ev: object) -> None:
        nonlocal seq
        for act in machines[pid].handle(ev):
            if isinstance(act, EmitEvent):
                emitted.append((pid, act.kind))
            if isinstance(act, StartTimer):
                seq += 1
                heapq.heappush(timers, (act.deadline_ns, seq, pid, act.kind, act.token))

    for pid, m in machines.items():
        handle(pid, Start(now_ns=T0 + 37 * S))
    for ev in events:
        while timers and timers[0][0] <= ev.t_ns:
            deadline, _, pid, kind, token = heapq.heappop(timers)
            handle(pid, TimerFired(kind=kind, token=token, now_ns=deadline))
        pid = ev.ref.split(":")[0] if isinstance(ev, SendResult) else ev.rq_name.split(":")[0]
        if isinstance(ev, SendResult):
            handle(pid, Sent(order_ref=ev.ref, now_ns=ev.t_ns))
        else:
            handle(pid, TrAck(order_ref=ev.rq_name, order_no=ev.order_no, now_ns=ev.t_ns))
    return emitted


def take_status(m: PairStateMachine) -> OrderStatus:
    return m._orders[f"{m.pair_id}:take:1"].status      # noqa: SLF001 - the fact under test


def test_an_ack_15_ms_after_its_send_binds_although_a_later_send_shares_the_step() -> None:
    carried = [send("A:take:1", 42.300), send("B:take:1", 46.240)]
    collected = [ack("A:take:1", "0000002", 42.315), ack("B:take:1", "0000003", 46.255)]

    def machines() -> dict[str, PairStateMachine]:
        return {p: PairStateMachine(p, "015760", "A", 1, 7670, 7660, PairParams()) for p in ("A", "B")}

    ordered = machines()
    emitted = run_like_the_pair_manager(ordered, step_events(carried, collected, T0 + 47 * S))
    assert take_status(ordered["A"]) is OrderStatus.WORKING
    assert take_status(ordered["B"]) is OrderStatus.WORKING
    assert not [e for e in emitted if e[1] in ("ack_timeout", "order_lost", "late_ack", "reopened")], emitted

    # what the old concatenation did: A's ack behind B's send, so A timed out and was lost first
    naive = machines()
    emitted = run_like_the_pair_manager(naive, carried + collected)
    assert ("A", "ack_timeout") in emitted and ("A", "order_lost") in emitted
