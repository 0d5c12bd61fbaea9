"""SpreadEngine actor: gathers each step's shard deltas, runs the kernel once, emits signals."""
from __future__ import annotations

from typing import Any

import numpy as np
from thespian.actors import ActorAddress

from actors.base import EngineActor, wall_ns
from core.clock import kst_date
from core.costs import CostModel
from core.observations import LatencyObserved, LatencyStage, SignalObserved, TicksCounted
from core.operator_view import SymbolRowTracker
from core.signal import touch_mismatches
from core.spread import SpreadParams, SpreadState, min_net_ticks_of
from protocol.control import Detail, RecoverPairManager
from protocol.operator import LiveConfig, OperatorDetailRequest, SymbolsDelta
from protocol.steps import BookCheck, BookChecked, BookDelta, SignalBatch
from protocol.wiring import Configure, ShardDown

#: Symbols rows in one answer to the operator's window (~10 KB): the rest follow in the next answers.
OPERATOR_ROWS_PER_ANSWER = 96


class SpreadEngine(EngineActor):
    """Evaluates the whole universe once per step, as soon as every shard of the step reported.

    Steps come as fast as the engine credits them, so the engine evaluates at once when idle and
    coalesces many ticks into one evaluation under load (the 10 ms cadence is the simulated-time
    quantum the bridge uses in lockstep). A shard declared down is not waited for.
    """

    actor_name = "SpreadEngine"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.state: SpreadState | None = None
        self.configure: Configure | None = None
        self.step = -1
        self.done_step = -1                 # the last step evaluated
        self.late_deltas = 0                # answers to a step already evaluated (applied, not waited for)
        self.expected: set[int] = set()
        self.received: set[int] = set()
        self.updates = 0
        self.down: set[int] = set()
        self.gap_steps = 0                  # steps evaluated while a shard of the step was down
        self.buffer: list[BookDelta] = []
        self.signals = 0
        self.signals_by_time = 0            # signals on an unchanged book (a cooldown ended): no tick latency
        self.last_batch: SignalBatch | None = None
        self.step_syms: list[np.ndarray] = []
        self.costs_date: object = None
        self.rows_tracker: SymbolRowTracker | None = None     # made when a window first asks
        self._t_ns = 0

    def receiveMsg_Configure(self, msg: Configure, sender: ActorAddress) -> None:
        self.configure = msg

    def _build(self, t_ns: int) -> None:
        """Build the arrays on the first step: the tax year follows the session's settlement date."""
        assert self.configure is not None
        uni = self.configure.universe
        costs, mnt, params = self._rules(t_ns)
        self.state = SpreadState(tuple(s.code for s in uni.symbols), tuple(str(s.market) for s in uni.symbols),
                                 costs, mnt, params)

    def _rules(self, t_ns: int) -> tuple[CostModel, np.ndarray, SpreadParams]:
        """Costs, per-symbol edge buffers and parameters of the configuration in force."""
        assert self.configure is not None
        cfg, uni = self.configure.config, self.configure.universe
        costs = CostModel.for_date(cfg.fees, kst_date(t_ns), extra_holidays=cfg.sessions.extra_holidays)
        mnt = min_net_ticks_of(cfg.spread_engine.edge_rule.min_net_ticks_after_fees,
                               {c: o.edge_buffer_ticks for c, o in cfg.symbols.per_symbol_overrides.items()},
                               uni.codes)
        self.costs_date = kst_date(t_ns)
        params = SpreadParams(cooldown_ns=cfg.spread_engine.cooldown_ms * 1_000_000,
                              slice_qty=cfg.execution.slice_qty,
                              min_visible_qty=cfg.spread_engine.edge_rule.also_require_min_visible_qty)
        return costs, mnt, params

    # -- the operator's window --------------------------------------------------------------
    def receiveMsg_LiveConfig(self, msg: LiveConfig, sender: ActorAddress) -> None:
        """The operator changed the edge rule, cooldown or fees: the next evaluation uses them."""
        if self.configure is None:
            return
        import dataclasses
        self.configure = dataclasses.replace(self.configure, config=msg.config)
        if self.state is not None:
            self.state.reconfigure(*self._rules(self._t_ns))

    def operator_detail(self, msg: OperatorDetailRequest) -> tuple[str, Any]:
        """Both books, the edge now, eligibility and cooldown of the rows changed since the last answer."""
        if self.state is None:
            return "symbols", None
        if self.rows_tracker is None:
            self.rows_tracker = SymbolRowTracker()
        rows = self.rows_tracker.changed_rows(self.state, self._t_ns, limit=OPERATOR_ROWS_PER_ANSWER)
        return "symbols", SymbolsDelta(self._t_ns, rows)

    def _roll_costs(self, t_ns: int) -> None:
        """A step on a new Asia/Seoul date (a replay of several days): that date's tax year applies."""
        day = kst_date(t_ns)
        if self.state is None or self.configure is None or day == self.costs_date:
            return
        cfg, uni = self.configure.config, self.configure.universe
        self.costs_date = day
        self.state.set_costs(CostModel.for_date(cfg.fees, day, extra_holidays=cfg.sessions.extra_holidays),
                             tuple(str(s.market) for s in uni.symbols))

    def receiveMsg_RecoverPairManager(self, msg: RecoverPairManager, sender: ActorAddress) -> None:
        """A new PairManager: re-send the last batch (the dead one may not have consumed it; the
        PairManager drops a batch older than the step it is on)."""
        import dataclasses
        if msg.pair_manager is not None:
            self.wiring = dataclasses.replace(self.wiring, pair_manager=msg.pair_manager)
        if self.last_batch is not None and self.wiring.pair_manager is not None:
            self.send(self.wiring.pair_manager, self.last_batch)

    def receiveMsg_ShardDown(self, msg: ShardDown, sender: ActorAddress) -> None:
        self.down.add(msg.shard_id)
        self._maybe_evaluate()

    def receiveMsg_BookDelta(self, msg: BookDelta, sender: ActorAddress) -> None:
        if self.state is None:
            if self.configure is None:
                return
            self._build(msg.t_ns)
            assert self.state is not None
        self.down.discard(msg.shard_id)      # a (re)started shard is reporting again
        # a late answer to a step already evaluated: a replacement shard handed the in-flight step its dead
        # predecessor had answered before it died. Its book is the shard's newest (applied), but it must not
        # restart the step bookkeeping: that dropped the current step's other answers and the run stalled
        late = msg.step <= self.done_step or (self.step >= 0 and msg.step < self.step)
        if not late and msg.step != self.step:
            self.step = msg.step
            self.expected = set(msg.shard_ids)
            self.received = set()
            self.updates = 0
            self.step_syms = []
            self._roll_costs(msg.t_ns)
        self.state.apply_delta(msg.sym, msg.krx, msg.nxt, msg.tick_arrival_ns, msg.tick_t_ns, msg.quality)
        if late:
            self.late_deltas += 1
            return
        if len(msg.sym):
            self.step_syms.append(msg.sym)
        self.received.add(msg.shard_id)
        self.updates += msg.updates
        self._t_ns = msg.t_ns
        self._maybe_evaluate()

    def _maybe_evaluate(self) -> None:
        if self.state is None or self.step < 0 or not self.received:
            return
        if not (self.expected - self.down) <= self.received:
            return
        if self.expected & self.down:
            self.gap_steps += 1
        now_wall = wall_ns()
        signals, eligible = self.state.evaluate(self._t_ns, now_wall)
        if self.updates:
            self.observe(TicksCounted(self._t_ns, self.updates))
        for s in signals:
            self.observe(SignalObserved(self._t_ns, s.code, s.direction, s.net_krw, s.net_bps, s.qty))
            if s.tick_arrival_ns and s.by_tick:     # a signal by time alone is no tick's latency (Signal)
                self.observe(LatencyObserved(self._t_ns, LatencyStage.TICK_TO_SIGNAL,
                                             (s.signal_ns - s.tick_arrival_ns) / 1e6))
            elif not s.by_tick:
                self.signals_by_time += 1
        self.signals += len(signals)
        touches = self.state.touches(np.concatenate(self.step_syms)) if self.step_syms else None
        self.step_syms = []
        self.last_batch = SignalBatch(step=self.step, t_ns=self._t_ns, signals=tuple(signals),
                                      evaluated=self.state.n, eligible=eligible, updates=self.updates,
                                      touches=touches,
                                      eligible_syms=tuple(np.flatnonzero(self.state.was_eligible).tolist()))
        if self.wiring.pair_manager is not None:
            self.send(self.wiring.pair_manager, self.last_batch)
        self.flush_telemetry()
        self.received = set()
        self.expected = set()
        self.done_step = self.step
        self.step = -1

    def receiveMsg_BookCheck(self, msg: BookCheck, sender: ActorAddress) -> None:
        """The run finished: does the book hold the bridge's last touch of every code? Answer the Supervisor."""
        if self.configure is None or self.wiring.supervisor is None:
            return
        codes = tuple(s.code for s in self.configure.universe.symbols)
        if self.state is None:
            bad = np.flatnonzero((msg.touches.krx_bid | msg.touches.krx_ask | msg.touches.nxt_bid
                                  | msg.touches.nxt_ask) != 0)
        else:
            bad = touch_mismatches(msg.touches, self.state.touches(np.arange(self.state.n)))
        self.send(self.wiring.supervisor, BookChecked(msg.step, len(codes), len(bad),
                                                      tuple(codes[int(i)] for i in bad[:20]), self.gap_steps))

    def detail(self) -> Detail:
        ev = self.state.evaluations if self.state else 0
        return (("evaluations", ev), ("signals", self.signals), ("signals_by_time", self.signals_by_time),
                ("shards_down", len(self.down)),
                ("gap_steps", self.gap_steps), ("late_deltas", self.late_deltas), ("step", self.step),
                ("done_step", self.done_step))
