"""PairManager actor: the shell around :class:`core.pair_desk.PairDesk` (risk, pairs, ledger, timers)."""
from __future__ import annotations

import dataclasses
from typing import Any

from thespian.actors import ActorAddress

from actors.base import EngineActor
from config.schema import EngineConfig
from core.operator_view import DeskViewCache, desk_view
from core.order_flow import CancelRequest, OrderRequest, TokenRefund
from core.pair_desk import DeskOutput, PairDesk
from core.universe import Universe
from protocol.control import (
    AccountView,
    AccountViewRequest,
    Detail,
    RecoverPairManager,
    RecoverThrottler,
    RecoveryLog,
    SignalsLost,
    ThrottlerBacklog,
)
from protocol.operator import OperatorDetailRequest
from protocol.steps import ExecBatch, SignalBatch, StepDone, ThrottlerQueue
from protocol.wiring import Configure

NS_PER_MS = 1_000_000
#: Paced runs: the Throttler gets a credit at least this often (engine time) for its auto-pause clock.
THROTTLER_HOUSEKEEPING_NS = 100 * NS_PER_MS


class PairManager(EngineActor):
    """Consumes one :class:`ExecBatch` and one :class:`SignalBatch` per step (matched by step number),
    runs them through the desk and sends what it returns: requests to the Throttler, observations to
    Telemetry, then the step's :class:`StepDone` credit.

    Plumbing only: in paced and live runs a step that requested nothing (and left the Throttler's queue
    empty) credits the bridge directly, one hop less on the tick path, while the Throttler still sees a
    credit every :data:`THROTTLER_HOUSEKEEPING_NS`. Lockstep (``--speed max``) keeps every credit on the
    Throttler's channel: message order across senders is not deterministic, and replays must be.
    """

    actor_name = "PairManager"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.cfg: EngineConfig | None = None
        self.universe: Universe | None = None
        self.desk: PairDesk | None = None
        self.view_cache = DeskViewCache()                   # finished pairs' views and the inventory, between answers
        self.exec_batch: ExecBatch | None = None
        self.signal_batch: SignalBatch | None = None
        self.pending_recovery: RecoveryLog | None = None
        self.awaiting_recovery = False
        self.done_step = -1
        self.skip_signals_step = -1
        self.direct_credit = False
        self.throttler_queued = 0
        self.throttler_seen_ns = 0
        self.throttler_credit: StepDone | None = None    # the last credit sent through the Throttler
        self.signals_lost = ""                           # why no SignalBatch will come any more

    # -- configuration ----------------------------------------------------------------------
    def receiveMsg_ThrottlerQueue(self, msg: ThrottlerQueue, sender: ActorAddress) -> None:
        self.throttler_queued = msg.queued

    def receiveMsg_Configure(self, msg: Configure, sender: ActorAddress) -> None:
        self.cfg, self.universe = msg.config, msg.universe
        self.direct_credit = msg.options.speed is not None or msg.options.backend == "kiwoom"
        if self.pending_recovery is not None:
            log, self.pending_recovery = self.pending_recovery, None
            self._recover(log)
        elif self.desk is None:
            self.desk = PairDesk(msg.config, msg.universe)
        self._maybe_step()

    # -- recovery after a crash ---------------------------------------------------------------
    def receiveMsg_RecoverPairManager(self, msg: RecoverPairManager, sender: ActorAddress) -> None:
        """From the Supervisor: this actor replaces a dead PairManager; step nothing until the bridge's
        :class:`RecoveryLog` has rebuilt the pairs."""
        self.awaiting_recovery = True

    def receiveMsg_RecoveryLog(self, msg: RecoveryLog, sender: ActorAddress) -> None:
        if self.cfg is None:
            self.pending_recovery = msg
            return
        self._recover(msg)
        self._maybe_step()

    def _recover(self, log: RecoveryLog) -> None:
        assert self.cfg is not None and self.universe is not None
        self.awaiting_recovery = False
        self.desk = PairDesk(self.cfg, self.universe, incarnation=log.incarnation)
        outputs, skip = self.desk.recover(log.orders, log.cancels, log.steps, log.inflight_step)
        self.skip_signals_step = log.inflight_step if skip else -1
        if log.steps:
            self.done_step = max(self.done_step, log.steps[-1].step)
        self._dispatch(outputs)
        self.flush_telemetry()

    def receiveMsg_RecoverThrottler(self, msg: RecoverThrottler, sender: ActorAddress) -> None:
        """From the Supervisor: a new Throttler replaced a dead one. Give it what the dead one may have been
        holding: every request not answered yet and the last credit (the bridge drops a credit it has)."""
        to = msg.throttler if msg.throttler is not None else self.wiring.throttler
        self.wiring = dataclasses.replace(self.wiring, throttler=to)
        self.throttler_queued = 0
        backlog = tuple(self.desk.unreleased_requests()) if self.desk is not None else ()
        self.send(to, ThrottlerBacklog(backlog, self.throttler_credit))

    def receiveMsg_SignalsLost(self, msg: SignalsLost, sender: ActorAddress) -> None:
        """From the Supervisor: the SpreadEngine is gone; step without signals so open pairs still finish."""
        self.signals_lost = msg.reason
        self._maybe_step()

    # -- the step ---------------------------------------------------------------------------
    def receiveMsg_ExecBatch(self, msg: ExecBatch, sender: ActorAddress) -> None:
        self.exec_batch = msg
        self._maybe_step()

    def receiveMsg_SignalBatch(self, msg: SignalBatch, sender: ActorAddress) -> None:
        self.signal_batch = msg
        self._maybe_step()

    def _maybe_step(self) -> None:
        if self.exec_batch is not None and self.exec_batch.step <= self.done_step:
            self.exec_batch = None          # already replayed from the recovery log
        if self.signal_batch is not None and self.signal_batch.step <= self.done_step:
            self.signal_batch = None
        if self.signals_lost and self.exec_batch is not None and (
                self.signal_batch is None or self.signal_batch.step != self.exec_batch.step):
            self.signal_batch = SignalBatch(step=self.exec_batch.step, t_ns=self.exec_batch.t_ns, signals=(),
                                            touches=self.exec_batch.touches)
        eb, sb = self.exec_batch, self.signal_batch
        if eb is None or sb is None or eb.step != sb.step:
            if eb is not None and sb is not None and eb.step != sb.step:
                # keep the newer of the two; the older step can never complete (a shard died mid-step)
                if eb.step < sb.step:
                    self.exec_batch = None
                else:
                    self.signal_batch = None
            return
        if self.desk is None or self.awaiting_recovery:
            return          # keep both: handled once configured / recovered
        self.exec_batch = self.signal_batch = None
        self.done_step = eb.step
        admit = eb.step != self.skip_signals_step
        if not admit:
            self.skip_signals_step = -1     # the dead PairManager admitted these signals before it died
        outputs, summary = self.desk.run_step(eb.t_ns, eb.events, sb.signals, admit_signals=admit,
                                              touches=sb.touches)
        self._dispatch(outputs)
        self.flush_telemetry()       # observations of the step leave before its credit
        done = StepDone(step=eb.step, t_ns=eb.t_ns, next_deadline_ns=summary.next_deadline_ns, flat=summary.flat,
                        armed=summary.armed, session_over=summary.session_over,
                        idle_until_ns=summary.idle_until_ns if not summary.requests else None,
                        eligible_syms=sb.eligible_syms, watched_syms=summary.watched_syms)
        if (self.direct_credit and not summary.requests and not self.throttler_queued
                and eb.t_ns - self.throttler_seen_ns < THROTTLER_HOUSEKEEPING_NS):
            self.send(self.wiring.bridge, done)
        else:
            self.send(self.wiring.throttler, done)
            self.throttler_seen_ns = eb.t_ns
            self.throttler_credit = done

    def _dispatch(self, outputs: list[DeskOutput]) -> None:
        for out in outputs:
            if isinstance(out, (OrderRequest, CancelRequest, TokenRefund)):
                self.send(self.wiring.throttler, out)
            else:
                self.observe(out)

    # -- the account --------------------------------------------------------------------------
    def receiveMsg_AccountViewRequest(self, msg: AccountViewRequest, sender: ActorAddress) -> None:
        to = msg.reply_to if msg.reply_to is not None else sender
        if self.desk is None:
            self.send(to, AccountView((), 0.0, False))
            return
        rows = tuple((r.code, r.held, r.sellable, r.expected, r.tradeable, r.why_not)
                     for r in self.desk.account_view())
        self.send(to, AccountView(rows, self.desk.account.cash_krw, self.desk.account.known))

    # -- the operator's window --------------------------------------------------------------
    def operator_detail(self, msg: OperatorDetailRequest) -> tuple[str, Any]:
        """The desk's pairs, arming, mutes and freezes (between steps: the state a step left behind)."""
        if self.desk is None:
            return "desk", None
        return "desk", desk_view(self.desk, cache=self.view_cache)

    # -- health -----------------------------------------------------------------------------
    def pending(self) -> int:
        return len(self.desk.active) if self.desk is not None else 0

    def detail(self) -> Detail:
        desk = tuple(self.desk.detail()) if self.desk is not None else (("session", "starting"),)
        positions = self.desk.open_positions() if self.desk is not None else {}
        return desk + (("open_positions", ",".join(f"{c}:{q:+d}" for c, q in sorted(positions.items()))),
                       ("signals_lost", self.signals_lost),
                       ("awaiting_recovery", self.awaiting_recovery), ("configured", self.cfg is not None),
                       ("pending_recovery", self.pending_recovery is not None))
