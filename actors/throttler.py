"""Throttler actor: the only path from the PairManager to SendOrder."""
from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

from thespian.actors import ActorAddress

from actors.base import EngineActor
from core.desk_events import OrderDenied
from core.observations import AutoPauseChanged, TokensObserved
from core.order_flow import CancelRequest, OrderRequest, PlacedCancel, PlacedOrder, TokenRefund
from core.throttle import OrderThrottle
from protocol.control import Detail
from protocol.steps import StepDone, ThrottlerQueue
from protocol.wiring import Configure


class Throttler(EngineActor):
    """Spends a token of :class:`core.throttle.OrderThrottle` for every order and cancel.

    * A new pair's entry is admitted only with enough free tokens and no auto-pause; otherwise it
      is denied (:class:`~core.desk_events.OrderDenied`; the PairManager hears it in the next step,
      through the bridge).
    * Urgent requests (cancels, hedges, unwinds) may use the reserve; when even that is spent they
      wait in FIFO order and are released on the first step at which a token is free again.
    * A -308 refund returns the token spent for that order.
    Everything the Throttler sends to the bridge precedes the step's :class:`StepDone` on the same
    channel, so the bridge sees a step's orders before its credit. A step with no order, no cancel
    and no queue may skip this hop in paced runs (see :class:`actors.pair_manager.PairManager`).
    """

    actor_name = "Throttler"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.throttle: OrderThrottle | None = None
        self.queue: deque[OrderRequest | CancelRequest] = deque()
        self.spent: dict[str, int] = {}
        self.seen: set[str] = set()          # refs ever requested (orders are never sent twice)
        self.now_ns = 0
        self.denied = 0
        self.placed = 0

    def receiveMsg_Configure(self, msg: Configure, sender: ActorAddress) -> None:
        self.throttle = OrderThrottle.from_config(msg.config)

    def receiveMsg_OrderRequest(self, msg: OrderRequest, sender: ActorAddress) -> None:
        assert self.throttle is not None
        self.now_ns = max(self.now_ns, msg.t_ns)
        intent = msg.intent
        if intent.ref in self.seen:
            return      # a recovered PairManager re-requesting an order already queued or placed
        self.seen.add(intent.ref)
        if msg.new_pair:
            adm = self.throttle.can_start_pair(self.now_ns)
            if adm.ok and self.throttle.acquire_order(self.now_ns, urgent=False):
                self._place(msg)
            else:
                self.denied += 1
                reason = adm.reason if not adm.ok else "no token"
                self.send(self.wiring.bridge, OrderDenied(intent.ref, intent.pair_id, reason, self.now_ns))
            return
        if not self.queue and self.throttle.acquire_order(self.now_ns, urgent=True):
            self._place(msg)
        else:
            self._enqueue(msg)

    def _enqueue(self, msg: OrderRequest | CancelRequest) -> None:
        self.queue.append(msg)
        if len(self.queue) == 1 and self.wiring.pair_manager is not None:
            self.send(self.wiring.pair_manager, ThrottlerQueue(1, self.now_ns))

    def receiveMsg_CancelRequest(self, msg: CancelRequest, sender: ActorAddress) -> None:
        assert self.throttle is not None
        self.now_ns = max(self.now_ns, msg.t_ns)
        if msg.intent.ref in self.seen:
            return
        self.seen.add(msg.intent.ref)
        if not self.queue and self.throttle.acquire_order(self.now_ns, urgent=True):
            self._place(msg)
        else:
            self._enqueue(msg)

    def receiveMsg_TokenRefund(self, msg: TokenRefund, sender: ActorAddress) -> None:
        assert self.throttle is not None
        spent_at = self.spent.pop(msg.ref, None)
        if spent_at is not None:
            self.throttle.refund_order(spent_at, max(self.now_ns, msg.t_ns))

    def receiveMsg_StepDone(self, msg: StepDone, sender: ActorAddress) -> None:
        assert self.throttle is not None
        self.now_ns = max(self.now_ns, msg.t_ns)
        had_queue = bool(self.queue)
        while self.queue and self.throttle.acquire_order(self.now_ns, urgent=True):
            self._place(self.queue.popleft())
        if had_queue and not self.queue and self.wiring.pair_manager is not None:
            self.send(self.wiring.pair_manager, ThrottlerQueue(0, self.now_ns))
        for ev in self.throttle.update(self.now_ns):
            self.observe(AutoPauseChanged(ev.at_ns, ev.on, ev.utilisation))
        snap = self.throttle.snapshot(self.now_ns)
        self.observe(TokensObserved(self.now_ns, snap.orders_free, snap.utilisation, snap.paused))
        deadline = msg.next_deadline_ns
        if self.queue:
            nxt = self.throttle.next_order_ns(self.now_ns, urgent=True)
            deadline = nxt if deadline is None else min(deadline, nxt)
        # forward the PairManager's credit unchanged (its flat/armed tell the bridge when a stopped
        # run may finish) with the deadline narrowed to when a queued urgent order can go
        self.send(self.wiring.bridge, dataclasses.replace(msg, next_deadline_ns=deadline))
        self.flush_telemetry()

    def _place(self, msg: OrderRequest | CancelRequest) -> None:
        self.placed += 1
        self.spent[msg.intent.ref] = self.now_ns
        if isinstance(msg, CancelRequest):
            self.send(self.wiring.bridge, PlacedCancel(msg.intent, self.now_ns))
        else:
            self.send(self.wiring.bridge, PlacedOrder(msg.intent, self.now_ns, msg.signal_ns, msg.context))
        if len(self.spent) > 10_000:          # refunds only concern the last second
            for k in list(self.spent)[:5_000]:
                del self.spent[k]

    def pending(self) -> int:
        return len(self.queue)

    def detail(self) -> Detail:
        snap = self.throttle.snapshot(self.now_ns) if self.throttle else None
        return (("tokens_free", snap.orders_free if snap else 0), ("paused", snap.paused if snap else False),
                ("placed", self.placed), ("denied", self.denied),
                ("orders_capacity", snap.orders_capacity if snap else 0),
                ("orders_reserved", snap.orders_reserved if snap else 0),
                ("utilisation", snap.utilisation if snap else 0.0),
                ("queries_capacity", snap.queries_capacity if snap else 0),
                ("queries_in_window", snap.queries_capacity - snap.queries_free if snap else 0))
