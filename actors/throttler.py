"""Throttler actor: the only path from the PairManager to SendOrder."""
from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

from thespian.actors import ActorAddress, ActorTypeDispatcher

from actors.base import EngineActor
from core.desk_events import OrderDenied
from core.observations import AutoPauseChanged, TokensObserved
from core.order_flow import CancelRequest, OrderRequest, PlacedCancel, PlacedOrder, TokenRefund
from core.throttle import OrderThrottle
from protocol.control import Detail, RecoverThrottler, ThrottlerBacklog, ThrottlerLog
from protocol.steps import StepDone, ThrottlerQueue
from protocol.wiring import Configure, Wiring


class Throttler(EngineActor):
    """Spends a token of :class:`core.throttle.OrderThrottle` for every order and cancel.

    * A new pair's entry is admitted only with enough free tokens and no auto-pause; otherwise it
      is denied (:class:`~core.desk_events.OrderDenied`; the PairManager hears it in the next step,
      through the bridge).
    * Urgent requests (cancels, hedges, unwinds) may use the reserve; when even that is spent they
      wait in FIFO order and are released on the first step at which a token is free again.
    * A -308 refund returns the token spent for that order.
    * A replacement (after the Supervisor restarted a dead one, :class:`RecoverThrottler`) holds every
      message until the bridge's :class:`ThrottlerLog` has told it which orders were placed and when: its
      token window is rebuilt from those spends, so it never places an order twice nor more than the cap
      in any window; then the PairManager's :class:`ThrottlerBacklog` (requests the dead one never
      answered, its last credit) goes through it like new requests, except takes: they are denied (their
      prices are stale).
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
        self.recovering = False
        self.held: list[tuple[Any, ActorAddress]] = []   # messages held while recovering or unconfigured
        self.rebuilt_from = 0                            # placed orders the window was rebuilt from
        self.log_received = False
        self.pending_logs: list[ThrottlerLog] = []

    def _holding(self) -> bool:
        return self.recovering or self.throttle is None or self.wiring.bridge is None

    def receiveMessage(self, msg: Any, sender: ActorAddress) -> None:  # noqa: N802 (Thespian API)
        if self._holding() and isinstance(msg, (OrderRequest, CancelRequest, TokenRefund, StepDone,
                                                ThrottlerBacklog)):
            self.msgs_in += 1
            self.held.append((msg, sender))   # until the order log, the configuration and the wiring are in
            return
        super().receiveMessage(msg, sender)

    def receiveMsg_Wiring(self, msg: Wiring, sender: ActorAddress) -> None:
        super().receiveMsg_Wiring(msg, sender)
        self._release_held()

    def receiveMsg_Configure(self, msg: Configure, sender: ActorAddress) -> None:
        if self.throttle is None:
            self.throttle = OrderThrottle.from_config(msg.config)
        logs, self.pending_logs = self.pending_logs, []
        for log_msg in logs:
            self._apply_log(log_msg)
        self._release_held()

    # -- replacing a dead Throttler ---------------------------------------------------------------
    def receiveMsg_RecoverThrottler(self, msg: RecoverThrottler, sender: ActorAddress) -> None:
        if not self.log_received:
            self.recovering = True            # hold everything until the bridge's order log

    def receiveMsg_ThrottlerLog(self, msg: ThrottlerLog, sender: ActorAddress) -> None:
        if self.throttle is None:
            self.pending_logs.append(msg)     # applied once configured
            return
        self._apply_log(msg)
        self._release_held()

    def _apply_log(self, msg: ThrottlerLog) -> None:
        assert self.throttle is not None
        self.now_ns = max(self.now_ns, msg.t_ns, max((t for _, t in msg.placed), default=0))
        for ref, token_ns in msg.placed:
            if ref in self.seen:
                continue
            self.seen.add(ref)
            self.spent[ref] = token_ns
            self.throttle.record_spend(token_ns, self.now_ns)
            self.rebuilt_from += 1
        self.log_received = True
        self.recovering = False

    def _release_held(self) -> None:
        if self._holding():
            return
        held, self.held = self.held, []
        for m, s in held:
            ActorTypeDispatcher.receiveMessage(self, m, s)    # counted when it arrived

    def receiveMsg_ThrottlerBacklog(self, msg: ThrottlerBacklog, sender: ActorAddress) -> None:
        for req in msg.requests:
            if isinstance(req, OrderRequest) and req.new_pair:
                if req.intent.ref not in self.seen:
                    self.seen.add(req.intent.ref)
                    self.denied += 1
                    self.send(self.wiring.bridge, OrderDenied(req.intent.ref, req.intent.pair_id,
                                                              "the Throttler restarted before placing it",
                                                              max(self.now_ns, req.t_ns)))
            elif isinstance(req, OrderRequest):
                self.receiveMsg_OrderRequest(req, sender)
            else:
                self.receiveMsg_CancelRequest(req, sender)
        if msg.credit is not None:
            self.receiveMsg_StepDone(msg.credit, sender)

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
        # and no idle stretch while requests wait for a token
        self.send(self.wiring.bridge, dataclasses.replace(msg, next_deadline_ns=deadline,
                                                          idle_until_ns=None if self.queue else msg.idle_until_ns))
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
                ("placed", self.placed), ("denied", self.denied), ("recovering", self.recovering),
                ("rebuilt_from", self.rebuilt_from),
                ("orders_capacity", snap.orders_capacity if snap else 0),
                ("orders_reserved", snap.orders_reserved if snap else 0),
                ("utilisation", snap.utilisation if snap else 0.0),
                ("queries_capacity", snap.queries_capacity if snap else 0),
                ("queries_in_window", snap.queries_capacity - snap.queries_free if snap else 0))
