"""PairManager actor: risk admission, routing, the pair state machines, PnL and kill switches."""
from __future__ import annotations

import heapq
from typing import Any

from actors.base import EngineActor
from actors.messages import (DIR_A, CancelRequest, Configure, Denied, Disarm, ExecBatch, OrderRequest, SendResult,
                             SignalBatch, StepDone, ThrottlerQueue, TokenRefund)
from core import pair_fsm as fsm
from core.clock import kst_date, kst_datetime
from core.costs import CostModel, marked_net_krw
from core.risk import KillSwitchEvent, RiskGate, RiskLimits
from core.session import SessionClock
from kiwoom_bridge.errors import describe
from kiwoom_bridge.types import (ApiMessage, BalanceReport, ConnectionEvent, ExecutionReport, OrderAck,
                                 SessionEvent)

NS_PER_MS = 1_000_000
#: Paced runs: the Throttler gets a credit at least this often (engine time) for its auto-pause clock.
THROTTLER_HOUSEKEEPING_NS = 100 * NS_PER_MS


def pair_params(cfg: Any, code: str) -> fsm.PairParams:
    """The state-machine parameters of a slice on ``code`` (per-symbol t_hedge override honoured)."""
    entry = "market" if cfg.router.entry_leg.prefer == "market" else "ioc"
    pref = cfg.router.hedge_leg.prefer
    hedge = "mid" if (pref == "mid" or (pref == "limit_or_mid" and cfg.router.hedge_leg.allow_nxt_mid_price)) \
        else "limit"
    ex = cfg.execution
    return fsm.PairParams(t_hedge_ms=cfg.hedge_fallback_ms(code), tr_ack_timeout_ms=ex.tr_ack_timeout_ms,
                          cancel_timeout_ms=ex.cancel_timeout_ms, cooldown_ms=cfg.spread_engine.cooldown_ms,
                          retry_after_308_ms=ex.retry_after_308_ms, entry_style=entry, hedge_style=hedge)


class PairManager(EngineActor):
    """Consumes one :class:`ExecBatch` and one :class:`SignalBatch` per step, in that order.

    Broker events are applied first (in their own time order, interleaved with timers that fell due
    inside the step), then new signals are admitted. Orders go to the Throttler, then the step's
    :class:`StepDone` with the next timer deadline. Chejan is authoritative: fills are counted from
    execution reports only, and a report for an order number not yet bound to a request (Chejan
    overtaking the TR ack) is held until the ack binds it.
    """

    actor_name = "PairManager"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.cfg: Any = None
        self.universe: Any = None
        self.pairs: dict[str, fsm.PairStateMachine] = {}
        self.active: set[str] = set()
        self.by_ref: dict[str, str] = {}          # order/cancel ref -> pair_id
        self.by_no: dict[str, str] = {}           # order number -> pair_id
        self.ref_no: dict[str, str] = {}          # ref -> order number
        self.no_ref: dict[str, str] = {}          # order number -> ref
        self.orphans: dict[str, list[ExecutionReport]] = {}
        self.timers: list[tuple[int, int, str, str, int]] = []   # (deadline, seq, pair_id, kind, token)
        self.timer_seq = 0
        self.signal_ns: dict[str, int] = {}
        self.send_t: dict[str, int] = {}
        self.exec_batch: ExecBatch | None = None
        self.signal_batch: SignalBatch | None = None
        self.session: SessionClock | None = None
        self.risk: RiskGate | None = None
        self.costs: CostModel | None = None
        self.markets: dict[str, str] = {}
        self.position: dict[str, int] = {}
        self.pnl_net = 0.0
        self.last_fill_px: dict[str, int] = {}
        self.pair_seq = 0
        self.now_ns = 0
        self.armed = False
        self.arm_reason = "starting"
        self.phase = "starting"
        self.disarm_reason: str | None = None
        self.unhedged_killed: set[str] = set()
        self.mismatch_seen = False
        self.replaying = False
        self.replay_sent: set[str] = set()
        self.pending_recovery: Any = None
        self.recovered_pairs = 0
        self.awaiting_recovery = False
        self.incarnation = 1
        self.done_step = -1
        self.skip_signals_step = -1
        self.held: dict[str, list[Any]] = {}      # SendResult/OrderAck for refs not (yet) known
        self.direct_credit = False                 # paced/live: empty steps credit the bridge directly
        self.requests_this_step = 0
        self.throttler_queued = 0
        self.throttler_seen_ns = 0
        self._deferred: list[Any] = []

    # -- configuration ----------------------------------------------------------------------
    def receiveMsg_ThrottlerQueue(self, msg: ThrottlerQueue, sender: Any) -> None:  # noqa: N802
        self.throttler_queued = msg.queued

    def receiveMsg_Configure(self, msg: Configure, sender: Any) -> None:  # noqa: N802
        self.cfg, self.universe = msg.config, msg.universe
        # lockstep (--speed max) keeps every credit on the Throttler's channel: message arrival order
        # across senders is not deterministic, and replays must be
        self.direct_credit = msg.options.speed is not None or msg.options.backend == "kiwoom"
        self.session = SessionClock(self.cfg.sessions)
        per_sym = {c: o.max_outstanding_pairs for c, o in self.cfg.symbols.per_symbol_overrides.items()
                   if o.max_outstanding_pairs}
        self.risk = RiskGate(RiskLimits.from_config(self.cfg), per_sym)
        self.markets = {s.code: str(s.market) for s in self.universe.symbols}
        if self.pending_recovery is not None:
            log, self.pending_recovery = self.pending_recovery, None
            self._recover(log)
        self._maybe_step()

    # -- recovery after a crash --------------------------------------------------------------
    def receiveMsg_RecoverPairManager(self, msg: Any, sender: Any) -> None:  # noqa: N802
        """From the Supervisor: this actor replaces a dead PairManager; step nothing until the
        bridge's :class:`RecoveryLog` has rebuilt the pairs."""
        self.awaiting_recovery = True

    def receiveMsg_RecoveryLog(self, msg: Any, sender: Any) -> None:  # noqa: N802
        if self.cfg is None:
            self.pending_recovery = msg
            return
        self._recover(msg)
        self._maybe_step()

    def _recover(self, log: Any) -> None:
        """Rebuild every pair by replaying the bridge's log through fresh state machines.

        Credited steps are replayed as the dead PairManager ran them (broker events with the timers
        that fell due between them, then the step-end checks); each pair is re-created from its take
        order (direction, qty and prices travel with it) at the moment it was admitted. Actions are
        re-derived deterministically: orders and cancels the log shows as placed are not sent again
        (and the Throttler drops a repeated ref), telemetry already recorded is not emitted twice.
        """
        self.awaiting_recovery = False
        self.incarnation = log.incarnation
        if self.costs is None and (log.orders or log.steps):
            t0 = log.orders[0].token_ns if log.orders else log.steps[0][1]
            self.costs = CostModel.for_date(self.cfg.fees, kst_date(t0),
                                            extra_holidays=self.cfg.sessions.extra_holidays)
        self.replaying = True
        self.replay_sent = {o.intent.ref for o in log.orders} | {c.request.ref for c in log.cancels}
        takes = [po for po in log.orders if po.intent.role == "take" and len(po.context) == 4]
        takes.sort(key=lambda po: po.token_ns)
        ti = 0
        last_step = -1
        try:
            for step, t_end, events in log.steps:
                # pairs admitted at the end of steps that left no trace in the log
                while ti < len(takes) and takes[ti].token_ns < t_end:
                    self._step_end_checks(takes[ti].token_ns)
                    self._rebuild_pair(takes[ti])
                    ti += 1
                for ev in events:
                    t = getattr(ev, "t_ns", t_end)
                    self._fire_timers(t)
                    self.now_ns = max(self.now_ns, t)
                    self._on_broker_event(ev)
                self._step_end_checks(t_end)
                while ti < len(takes) and takes[ti].token_ns <= t_end:
                    self._rebuild_pair(takes[ti])
                    ti += 1
                last_step = step
            # takes of the in-flight step: the dead PairManager already acted on its signals
            self.skip_signals_step = log.inflight_step if ti < len(takes) else -1
            while ti < len(takes):
                self._rebuild_pair(takes[ti])
                ti += 1
            self.recovered_pairs = len(self.pairs)
        finally:
            self.replaying = False
        self.done_step = max(self.done_step, last_step)
        self.emit("error", self.now_ns, source="PairManager",
                  message=f"recovered after a restart (incarnation {log.incarnation}): {len(self.pairs)} pair(s) "
                          f"rebuilt from {len(log.orders)} order(s) and {len(log.steps)} step(s), "
                          f"{len(self.active)} still open, position {self._open_position()}")
        self.flush_telemetry()

    def _step_end_checks(self, t_ns: int) -> None:
        self._fire_timers(t_ns)
        self.now_ns = max(self.now_ns, t_ns)
        self._check_session(t_ns)
        self._check_unhedged(t_ns)

    def _rebuild_pair(self, po: Any) -> None:
        """Re-create the pair of a take order from its log entry (its Start re-derives the take,
        which is not sent again: the caller is replaying)."""
        it = po.intent
        if it.pair_id in self.pairs:
            return
        direction, qty, rich_bid, cheap_ask = po.context
        m = fsm.PairStateMachine(it.pair_id, it.symbol, direction, qty, rich_bid=rich_bid, cheap_ask=cheap_ask,
                                 params=pair_params(self.cfg, it.symbol))
        self.pairs[it.pair_id] = m
        self.active.add(it.pair_id)
        self.signal_ns[it.pair_id] = po.signal_ns
        self.risk.started(it.symbol)
        self.now_ns = max(self.now_ns, po.token_ns)
        self._handle(it.pair_id, fsm.Start(now_ns=po.token_ns))

    def _open_position(self) -> dict[str, int]:
        return {c: q for c, q in self.position.items() if q}

    # -- the step ---------------------------------------------------------------------------
    def receiveMsg_ExecBatch(self, msg: ExecBatch, sender: Any) -> None:  # noqa: N802
        self.exec_batch = msg
        self._maybe_step()

    def receiveMsg_SignalBatch(self, msg: SignalBatch, sender: Any) -> None:  # noqa: N802
        self.signal_batch = msg
        self._maybe_step()

    def _maybe_step(self) -> None:
        if self.exec_batch is not None and self.exec_batch.step <= self.done_step:
            self.exec_batch = None          # already replayed from the recovery log
        if self.signal_batch is not None and self.signal_batch.step <= self.done_step:
            self.signal_batch = None
        eb, sb = self.exec_batch, self.signal_batch
        if eb is None or sb is None or eb.step != sb.step:
            if eb is not None and sb is not None and eb.step != sb.step:
                # keep the newer of the two; the older step can never complete (a shard died mid-step)
                if eb.step < sb.step:
                    self.exec_batch = None
                else:
                    self.signal_batch = None
            return
        if self.cfg is None or self.awaiting_recovery:
            return          # keep both: handled once configured / recovered
        self.exec_batch = self.signal_batch = None
        self.done_step = eb.step
        if self.costs is None:
            self.costs = CostModel.for_date(self.cfg.fees, kst_date(eb.t_ns),
                                            extra_holidays=self.cfg.sessions.extra_holidays)
        self._run_step(eb, sb)

    def _run_step(self, eb: ExecBatch, sb: SignalBatch) -> None:
        t_end = eb.t_ns
        for ev in eb.events:
            t = getattr(ev, "t_ns", t_end)
            self._fire_timers(t)
            self.now_ns = max(self.now_ns, t)
            self._on_broker_event(ev)
        self._fire_timers(t_end)
        self.now_ns = max(self.now_ns, t_end)
        self._check_session(t_end)
        self._check_unhedged(t_end)
        if eb.step == self.skip_signals_step:
            # the dead PairManager admitted this step's signals before it died (their takes were
            # rebuilt from the log); admitting them again would open duplicate pairs
            self.skip_signals_step = -1
        else:
            for sig in sb.signals:
                self._on_signal(sig, t_end)
        deadline = self._next_deadline()
        flat = not self.active and all(v == 0 for v in self.position.values())
        self.flush_telemetry()       # observations of the step leave before its credit
        done = StepDone(step=eb.step, t_ns=t_end, next_deadline_ns=deadline, flat=flat, armed=self.armed)
        if (self.direct_credit and not self.requests_this_step and not self.throttler_queued
                and t_end - self.throttler_seen_ns < THROTTLER_HOUSEKEEPING_NS):
            # paced run, nothing for the Throttler: credit the bridge directly (one hop less on
            # the tick path); the Throttler still sees a credit every THROTTLER_HOUSEKEEPING_NS
            self.send(self.wiring.bridge, done)
        else:
            self.send(self.wiring.throttler, done)
            self.throttler_seen_ns = t_end
        self.requests_this_step = 0

    # -- timers -----------------------------------------------------------------------------
    def _fire_timers(self, upto_ns: int) -> None:
        while self.timers and self.timers[0][0] <= upto_ns:
            deadline, _, pid, kind, token = heapq.heappop(self.timers)
            self.now_ns = max(self.now_ns, deadline)
            self._handle(pid, fsm.TimerFired(kind=kind, token=token, now_ns=deadline))

    def _next_deadline(self) -> int | None:
        cands = [self.timers[0][0]] if self.timers else []
        grace = self.cfg.risk.unhedged_grace_ms * NS_PER_MS
        for pid in self.active:
            m = self.pairs[pid]
            if m.exposure_since_ns is not None and pid not in self.unhedged_killed:
                cands.append(m.exposure_since_ns + m.params.t_hedge_ms * NS_PER_MS + grace)
        return min(cands) if cands else None

    # -- broker events ----------------------------------------------------------------------
    def _on_broker_event(self, ev: Any) -> None:
        if isinstance(ev, SendResult):
            self._on_send_result(ev)
        elif isinstance(ev, Denied):
            pid = self.by_ref.get(ev.ref)
            self.audit(ev.t_ns, "denied", pid or ev.pair_id, ref=ev.ref, message_text=ev.reason)
            if pid:
                self._handle(pid, fsm.Rejected(reason=f"not admitted: {ev.reason}", now_ns=ev.t_ns, order_ref=ev.ref),
                             denied=True)
        elif isinstance(ev, OrderAck):
            self._on_ack(ev)
        elif isinstance(ev, ExecutionReport):
            self._on_execution(ev)
        elif isinstance(ev, SessionEvent):
            assert self.session is not None
            self.session.on_fid_215(ev.code, ev.t_ns)
            self.emit("session", ev.t_ns, code=ev.code, known=ev.known, meaning=ev.meaning,
                      armed=self.armed, reason="FID 215" if ev.known else f"unknown FID 215 code {ev.code!r} (raw)")
        elif isinstance(ev, ConnectionEvent):
            if not ev.connected and self.cfg.risk.disarm_on_disconnect:
                self._kill(self.risk.disarm("disconnect", ev.t_ns, f"bridge disconnected ({ev.code}: {ev.message})"))
        elif isinstance(ev, Disarm):
            self._kill(self.risk.disarm("operator", self.now_ns, ev.reason))
        elif isinstance(ev, ApiMessage):
            self.audit(ev.t_ns, "message", "", screen_no=ev.screen_no, rq_name=ev.rq_name, tr_code=ev.tr_code,
                       message_text=ev.text)
        elif isinstance(ev, BalanceReport):
            pass   # positions are counted from fills; the balance notice is informational

    def _on_send_result(self, ev: SendResult) -> None:
        pid = self.by_ref.get(ev.ref)
        if pid is None and ev.order is not None and ev.order.intent.role == "take" and len(ev.order.context) == 4:
            # a take the dead PairManager requested that reached the bridge after the recovery log
            was, self.replaying = self.replaying, True
            self.replay_sent.add(ev.ref)
            try:
                self._rebuild_pair(ev.order)
            finally:
                self.replaying = was
            pid = self.by_ref.get(ev.ref)
        if pid is None:
            # an order or cancel of a pair whose state machine has not asked for it yet (a
            # predecessor's request still travelling): held until the machine derives that ref
            self.held.setdefault(ev.ref, []).append(ev)
            return
        self.send_t[ev.ref] = ev.t_ns
        role = ev.ref.split(":")[1] if ":" in ev.ref else ""
        if ev.rc == 0:
            kind = "cancel_send" if role == "cancel" else "send"
            self.audit(ev.t_ns, kind, pid, ref=ev.ref, rc=0)
            if role == "take" and ev.signal_ns:
                self.emit("latency", ev.t_ns, name="signal_to_send", ms=(ev.send_ns - ev.signal_ns) / 1e6)
            self._handle(pid, fsm.Sent(order_ref=ev.ref, now_ns=ev.t_ns))
        elif ev.rc == -308:
            if not self.replaying:
                self.send(self.wiring.throttler, TokenRefund(ev.ref, ev.t_ns))
            self.audit(ev.t_ns, "send_refused", pid, ref=ev.ref, rc=ev.rc, message_text=describe(ev.rc))
            self._handle(pid, fsm.SendRefused308(order_ref=ev.ref, now_ns=ev.t_ns))
        else:
            self.audit(ev.t_ns, "reject", pid, ref=ev.ref, rc=ev.rc, message_text=describe(ev.rc))
            self._handle(pid, fsm.Rejected(reason=describe(ev.rc), now_ns=ev.t_ns, order_ref=ev.ref))

    def _on_ack(self, ev: OrderAck) -> None:
        ref = ev.rq_name
        pid = self.by_ref.get(ref)
        if pid is None:
            if ref and ":" in ref:           # one of ours, not known yet: hold it (see _on_send_result)
                self.held.setdefault(ref, []).append(ev)
            return
        sent = self.send_t.get(ref)
        if sent is not None:
            self.emit("latency", ev.t_ns, name="send_to_ack", ms=(ev.t_ns - sent) / 1e6)
        if ev.accepted:
            self.by_no[ev.order_no] = pid
            self.ref_no[ref] = ev.order_no
            self.no_ref[ev.order_no] = ref
            self.audit(ev.t_ns, "ack", pid, ref=ref, order_no=ev.order_no, screen_no=ev.screen_no, rq_name=ref)
        else:
            self.audit(ev.t_ns, "reject", pid, ref=ref, screen_no=ev.screen_no, rq_name=ref,
                       message_text=ev.message or "empty 주문번호 in the TR reply")
        self._handle(pid, fsm.TrAck(order_ref=ref, order_no=ev.order_no, now_ns=ev.t_ns))
        if ev.accepted and ev.order_no in self.orphans:
            for rep in self.orphans.pop(ev.order_no):
                self._on_execution(rep)

    def _on_execution(self, ev: ExecutionReport) -> None:
        key = ev.orig_order_no if ev.status == "확인" and ev.orig_order_no.strip("0") else ev.order_no
        pid = self.by_no.get(key) or self.by_no.get(ev.order_no)
        if pid is None:
            self.orphans.setdefault(key, []).append(ev)
            return
        base = dict(ref=self.no_ref.get(ev.order_no, ""), order_no=ev.order_no, orig_order_no=ev.orig_order_no, venue=ev.venue, symbol=ev.code,
                    side=ev.side, qty=ev.order_qty, price=ev.order_price, leaves_qty=ev.leaves_qty, sGubun="0",
                    fid_9203=ev.order_no, fid_904=ev.orig_order_no, fid_913=ev.status, fid_902=ev.leaves_qty)
        if ev.status == "접수":
            self.audit(ev.t_ns, "accepted", pid, **base)
            self._handle(pid, fsm.Accepted(order_no=ev.order_no, now_ns=ev.t_ns))
        elif ev.status == "체결":
            self.audit(ev.t_ns, "fill", pid, fill_qty=ev.fill_qty, fill_px=ev.fill_price, exec_id=ev.exec_id,
                       fid_910=ev.fill_price, fid_911=ev.fill_qty, fid_909=ev.exec_id, **base)
            self._on_fill(pid, ev)
            self._handle(pid, fsm.Filled(order_no=ev.order_no, qty=ev.fill_qty, price=float(ev.fill_price),
                                         leaves_qty=ev.leaves_qty, now_ns=ev.t_ns, exec_id=ev.exec_id or None))
        elif ev.status == "확인":
            self.audit(ev.t_ns, "cancel_confirmed", pid, **base)
            self._handle(pid, fsm.CancelConfirmed(order_no=key, cancelled_qty=ev.cancelled_qty, now_ns=ev.t_ns))
        elif ev.status == "거부":
            self.audit(ev.t_ns, "reject", pid, message_text=ev.reject_reason, fid_919=ev.reject_reason, **base)
            self._handle(pid, fsm.Rejected(reason=ev.reject_reason or "거부", now_ns=ev.t_ns, order_no=ev.order_no))

    def _on_fill(self, pid: str, ev: ExecutionReport) -> None:
        assert self.costs is not None
        code = ev.code
        market = self.markets.get(code, "KOSPI")
        gross, fee, tax = self.costs.leg_cash_krw(ev.side, ev.fill_price, ev.fill_qty, ev.venue, market)
        self.position[code] = self.position.get(code, 0) + (ev.fill_qty if ev.side == "BUY" else -ev.fill_qty)
        self.pnl_net += float(gross) - float(fee) - float(tax)
        self.last_fill_px[code] = ev.fill_price
        self.emit("fill", ev.t_ns, pair_id=pid, code=code, venue=ev.venue, side=ev.side, qty=ev.fill_qty,
                  price=ev.fill_price, fee_krw=float(fee), tax_krw=float(tax))
        self._kill(self.risk.on_pnl(self.marked_pnl_krw(), ev.t_ns))

    def marked_pnl_krw(self) -> float:
        """Session net PnL with open shares valued at their last fill (KRW): a half-done slice's
        take proceeds are not profit, so the session-loss switch sees what the pairs really made."""
        return marked_net_krw(self.pnl_net, self.position, self.last_fill_px)

    # -- signals ----------------------------------------------------------------------------
    def _on_signal(self, sig: Any, t_ns: int) -> None:
        assert self.risk is not None
        dec = self.risk.admit(sig.code, t_ns, self.armed, self.arm_reason)
        if not dec.ok:
            return
        self.pair_seq += 1
        seq = self.pair_seq if self.incarnation == 1 else f"r{self.incarnation}.{self.pair_seq}"
        pid = f"{sig.code}-{kst_datetime(t_ns).strftime('%H%M%S')}-{seq}"
        direction = "A" if sig.direction == DIR_A else "B"
        m = fsm.PairStateMachine(pid, sig.code, direction, sig.qty, rich_bid=sig.sell_px, cheap_ask=sig.buy_px,
                                 params=pair_params(self.cfg, sig.code))
        self.pairs[pid] = m
        self.active.add(pid)
        self.signal_ns[pid] = sig.signal_ns
        self.risk.started(sig.code)
        self._handle(pid, fsm.Start(now_ns=t_ns))

    # -- the machines -----------------------------------------------------------------------
    def _handle(self, pid: str, event: Any, denied: bool = False) -> None:
        m = self.pairs.get(pid)
        if m is None:
            return
        was_terminal = m.is_terminal
        for act in m.handle(event):
            self._act(pid, m, act, denied)
        if was_terminal and not m.is_terminal:
            self.active.add(pid)     # late evidence reopened the pair
        while self._deferred:        # held broker events whose ref the machine just asked for
            self._on_broker_event(self._deferred.pop(0))

    def _act(self, pid: str, m: fsm.PairStateMachine, act: Any, denied: bool) -> None:
        if isinstance(act, fsm.SendOrder):
            it = act.intent
            self.by_ref[it.ref] = pid
            if it.ref in self.held:
                self._deferred.extend(self.held.pop(it.ref))
            if self.replaying and it.ref in self.replay_sent:
                return          # placed before the crash: never send an order twice
            ctx = (m.direction, m.qty, m.rich_bid, m.cheap_ask) if it.role == "take" else ()
            self.requests_this_step += 1
            self.send(self.wiring.throttler, OrderRequest(intent=it, t_ns=self.now_ns, new_pair=it.role == "take",
                                                          signal_ns=self.signal_ns.get(pid, 0), context=ctx))
        elif isinstance(act, fsm.SendCancel):
            ci = act.intent
            self.by_ref[ci.ref] = pid
            if ci.ref in self.held:
                self._deferred.extend(self.held.pop(ci.ref))
            if self.replaying and ci.ref in self.replay_sent:
                return
            self.requests_this_step += 1
            self.send(self.wiring.throttler, CancelRequest(ref=ci.ref, pair_id=pid, code=ci.symbol, venue=ci.venue,
                                                           side=ci.side, order_no=ci.order_no, qty=ci.qty,
                                                           t_ns=self.now_ns))
        elif isinstance(act, fsm.StartTimer):
            self.timer_seq += 1
            heapq.heappush(self.timers, (act.deadline_ns, self.timer_seq, pid, act.kind, act.token))
        elif isinstance(act, fsm.EmitEvent):
            if act.kind == "hedge_timeout":
                self.emit("hedge_timeout", act.now_ns, pair_id=pid, code=m.symbol, t_hedge_ms=m.params.t_hedge_ms)
            elif act.kind in ("protocol_violation", "order_lost", "order_given_up", "flatten_exhausted",
                              "unknown_order"):
                self.emit("error", act.now_ns, source=f"pair {pid}", message=f"{act.kind}: {act.reason}")
        elif isinstance(act, fsm.Finished):
            self._finished(pid, m, act, denied)

    def _finished(self, pid: str, m: fsm.PairStateMachine, fin: fsm.Finished, denied: bool) -> None:
        assert self.risk is not None
        if pid in self.active:
            self.active.discard(pid)
            outcome = "denied" if denied else fin.outcome
            cooldown = (fin.cooldown_until_ns - fin.now_ns) if fin.cooldown_until_ns else 0
            self.risk.finished(m.symbol, fin.now_ns, outcome, max(cooldown, 0))
        if fin.outcome == "rejected" and not denied:
            self._kill(self.risk.on_reject(m.symbol, fin.now_ns))
        if fin.outcome == "done":
            self.emit("pair_done", fin.now_ns, pair_id=pid, code=m.symbol, escalated=m.escalated, reason=fin.reason)
        elif m.filled_take > 0 or fin.outcome == "error":
            self.emit("pair_failed", fin.now_ns, pair_id=pid, code=m.symbol, escalated=m.escalated,
                      reason=f"{fin.outcome}: {fin.reason}")
        if m.first_take_fill_ns is not None and fin.outcome in ("done", "error"):
            self.emit("latency", fin.now_ns, name="unhedged", ms=(fin.now_ns - m.first_take_fill_ns) / 1e6)
        if fin.net_position != 0:
            self.emit("error", fin.now_ns, source=f"pair {pid}",
                      message=f"finished with net position {fin.net_position}: flatten manually")
            self._kill(self.risk.disarm("flatten_failed", fin.now_ns,
                                        f"{m.symbol} left with {fin.net_position} shares after {pid}"))

    # -- session and kill switches ----------------------------------------------------------
    def _check_session(self, t_ns: int) -> None:
        assert self.session is not None and self.risk is not None
        st = self.session.status(t_ns)
        if st.armed != self.armed or st.reason != self.arm_reason:
            if st.armed != self.armed:
                self.emit("session", t_ns, armed=st.armed, reason=st.reason, code="")
            self.armed, self.arm_reason, self.phase = st.armed, st.reason, st.phase
        mm = self.session.mismatch(t_ns)
        if mm and not self.mismatch_seen:
            self.mismatch_seen = True
            if self.cfg.risk.disarm_on_fid_215_mismatch:
                self._kill(self.risk.disarm("fid_215_mismatch", t_ns, mm))
        elif not mm:
            self.mismatch_seen = False

    def _check_unhedged(self, t_ns: int) -> None:
        assert self.risk is not None
        grace = self.cfg.risk.unhedged_grace_ms * NS_PER_MS
        for pid in sorted(self.active):
            m = self.pairs[pid]
            since = m.exposure_since_ns
            if since is None or pid in self.unhedged_killed:
                continue
            age = t_ns - since
            if age >= m.params.t_hedge_ms * NS_PER_MS + grace:
                self.unhedged_killed.add(pid)
                self._kill(self.risk.on_unhedged_timeout(m.symbol, t_ns, age / NS_PER_MS))
                self._handle(pid, fsm.ForceFlatten(reason=f"unhedged for {age / NS_PER_MS:.0f} ms", now_ns=t_ns))

    def _kill(self, ev: KillSwitchEvent | None) -> None:
        if ev is None:
            return
        self.emit("kill_switch", ev.t_ns, kind=ev.kind, code=ev.code, reason=ev.reason)
        if ev.code == "":
            self.disarm_reason = ev.reason

    # -- audit ------------------------------------------------------------------------------
    def audit(self, t_ns: int, event_type: str, pair_id: str, ref: str = "", **fields: Any) -> None:
        leg = ""
        if ref and ":" in ref:
            leg = ref.split(":")[1]
        m = self.pairs.get(pair_id)
        if ref and m is not None:
            view = m.orders.get(ref) if ":cancel" not in ref else None
            if view is not None:
                it = view.intent
                fields.setdefault("venue", it.venue)
                fields.setdefault("symbol", it.symbol)
                fields.setdefault("side", it.side)
                fields.setdefault("qty", it.qty)
                fields.setdefault("hoga_code", it.hoga)
                fields.setdefault("price", it.price)
                fields.setdefault("screen_no", self.cfg.kiwoom.screen_numbers.orders)
            fields.setdefault("order_no", self.ref_no.get(ref, ""))
        fields = {k: v for k, v in fields.items() if v is not None}
        self.emit("order", t_ns, ts=kst_datetime(t_ns).isoformat(timespec="microseconds"), event_type=event_type,
                  pair_id=pair_id, leg=leg, rq_name=fields.pop("rq_name", ref), t_ns=t_ns, **fields)

    def emit(self, event_kind: str, t_ns: int, /, **data: Any) -> None:
        if not self.replaying:           # a replay must not count fills or orders twice
            super().emit(event_kind, t_ns, **data)

    # -- health -----------------------------------------------------------------------------
    def pending(self) -> int:
        return len(self.active)

    def detail(self) -> list[tuple[str, Any]]:
        return [("session", self.phase), ("armed", self.armed), ("reason", self.disarm_reason or self.arm_reason),
                ("active_pairs", len(self.active)), ("flat", not self.active and
                                                     all(v == 0 for v in self.position.values())),
                ("pnl_net_krw", self.marked_pnl_krw()), ("pairs", len(self.pairs)),
                ("recovered_pairs", self.recovered_pairs), ("incarnation", self.incarnation),
                ("held", sum(len(v) for v in self.held.values())),
                ("awaiting_recovery", self.awaiting_recovery), ("configured", self.cfg is not None),
                ("pending_recovery", self.pending_recovery is not None)]
