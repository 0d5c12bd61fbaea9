"""KiwoomBridge actor: the only owner of the OpenAPI+ control, pinned by capability to its host.

It wraps :class:`~kiwoom_bridge.bridge_core.BridgeCore` (which speaks Kiwoom and hands out domain events)
and is the engine's clock: it forms steps (see :mod:`protocol`) and starts step k+1 only when
``StepDone(k)`` came back.

* ``--speed max`` (lockstep): each step advances engine time by at least one
  ``spread_engine.batch_interval_ms`` quantum (jumping over quiet stretches), never past the
  engine's next deadline, so runs are deterministic and as fast as the engine allows. A quantum in
  which provably nothing but the books changes (no event, no possible signal, no data of an open pair's
  code, before the desk's idle horizon) is merged into the next step, its rows judged at its own time by
  the shards (:meth:`_merge_quiet_quanta`): the same run in fewer round trips.
* ``--speed X``: engine time follows the wall clock × X; a step is formed as soon as the previous
  one is credited and something is due (credit-based flow control: a slow engine gets bigger
  batches, never a backlog).
* real OCX: Qt/COM events are pumped on this actor's thread (every Kiwoom call stays on it) and
  stepped the same way.
Every Kiwoom call happens inside this actor's message handlers, so calls are serialised.

The account (SPEC §10): the bridge queries the broker's holdings and cash at login, every
``risk.reconcile_interval_s`` of engine time and once more at the end (:mod:`kiwoom_bridge.account_tr`);
the replies reach the pair desk as step events. **Session end** (SPEC §3): when the desk's credit says the
guard window has closed (``StepDone.session_over``) the run is stopped (a replay that goes on to a later day
goes on); a stop disarms, waits (at most ``risk.session_end_grace_s`` beyond the hedge deadlines) until the
book is flat, runs the final account query, hands its answer to the desk and only then finishes — the
Supervisor then has the report made; a live run drops its real-time registrations and the host exits.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

import numpy as np
from thespian.actors import ActorAddress, ActorExitRequest, WakeupMessage, requireCapability

from actors.base import EngineActor, wall_ns
from config.schema import EngineConfig
from core.clock_offset import ClockOffset
from core.desk_events import (
    ArmRequested,
    ConfigReplaced,
    DisarmRequested,
    OperatorRequested,
    OrderDenied,
    StepEvent,
)
from core.observations import ReplaySourceDescribed
from core.order_flow import PlacedCancel, PlacedOrder
from core.pair_desk import RecoveredStep
from core.spread import EdgeScreen
from kiwoom_bridge.bridge_core import BridgeCore, BridgeError
from kiwoom_bridge.step_events import step_events
from protocol.control import (
    ArmCode,
    ClockEcho,
    ClockProbe,
    Detail,
    RecoverPairManager,
    RecoverThrottler,
    RecoveryLog,
    SessionFinished,
    SignalsLost,
    StopEngine,
    ThrottlerLog,
)
from protocol.operator import BridgeView, LiveConfig, OperatorCommand, OperatorDetailRequest
from protocol.steps import BookCheck, ExecBatch, MarketBatch, StepDone
from protocol.system import BRIDGE_CAPABILITY
from protocol.wiring import (
    Configure,
    RegisterScreens,
    ReleaseScreens,
    RunOptions,
    ScreensRegistered,
    ShardReleased,
    Wiring,
)

NS_PER_MS = 1_000_000
#: Paced runs: the longest wall time the engine goes without a step when nothing happens.
IDLE_STEP_WALL_NS = 20 * NS_PER_MS
#: Paced and live runs: the latency clock is probed against the engine's (:mod:`core.clock_offset`) this often at
#: first, :data:`CLOCK_PROBES_FIRST` times, then every :data:`CLOCK_PROBE_EVERY_NS` (wall time).
CLOCK_PROBE_FIRST_NS = 50 * NS_PER_MS
CLOCK_PROBES_FIRST = 8
CLOCK_PROBE_EVERY_NS = 1_000 * NS_PER_MS
#: How long (engine time) the final account query may take before the run finishes without it.
FINAL_QUERY_TIMEOUT_NS = 15_000 * NS_PER_MS
#: Lockstep: at most this many quiet quanta merged into one step (bounds a step's rows and the shards' work).
MERGE_MAX_QUANTA = 1000
log = logging.getLogger("arb.bridge")


@requireCapability(BRIDGE_CAPABILITY)
class BridgeProbe(EngineActor):
    """Created by the launcher only to learn whether a system with the bridge capability is present."""

    actor_name = "BridgeProbe"


@requireCapability(BRIDGE_CAPABILITY)
class KiwoomBridge(EngineActor):
    """See the module docstring."""

    actor_name = "KiwoomBridge"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.core: BridgeCore | None = None
        self.cfg: EngineConfig | None = None
        self.options: RunOptions | None = None
        self.shards: dict[int, tuple[ActorAddress, int]] = {}     # shard_id -> (address, generation)
        self.pending_snapshots: set[int] = set()
        self.releasing: set[int] = set()      # shards that lost all screens; released once no step needs them
        self.step = 0
        self.credited = True
        self.started = False
        self.t_ns = 0
        self.deadline: int | None = None
        self.end_ns: int | None = None
        self.stop_reason: str | None = None
        self.disarm_sent = False
        self.finish_by_ns: int | None = None
        self.finished = False
        self.last_flat = True
        self.exhausted = False
        self.carry: list[StepEvent] = []
        self.quantum_ns = 10 * NS_PER_MS
        self.wakeup_pending = False
        # (step, shard_ids, rows by shard, address by shard) of the step in flight
        self.inflight: tuple[int, tuple[int, ...], dict[int, np.ndarray], dict[int, ActorAddress]] | None = None
        self.order_log: list[PlacedOrder] = []
        self.cancel_log: list[PlacedCancel] = []
        self.steps_log: list[RecoveredStep] = []   # credited steps that mattered
        self.throttler_restarts = 0
        self.signals_lost = False          # the SpreadEngine died: the desk's touches come with the ExecBatch
        self.recoveries = 0
        self.sent_refs: set[str] = set()
        self.duplicates_dropped = 0
        self.last_exec: ExecBatch | None = None
        self.rows_total = 0
        self.error = ""
        self.configured_by: ActorAddress | None = None
        self.replay_description = ""
        self.next_reconcile_ns: int | None = None
        self.final_started_ns: int | None = None
        self.final_step: int | None = None
        self.final_error = ""
        self.session_over_seen = False
        self.idle_until: int | None = None          # the last credit's idle horizon (StepDone.idle_until_ns)
        self.eligible_last = np.zeros(0, dtype=np.int64)     # eligible at the last evaluation
        self.eligible_mask: np.ndarray | None = None          # the same as a bool per universe row
        self.watched = np.zeros(0, dtype=np.int64)           # codes of open pairs (their data reaches them)
        self.edge_screen: EdgeScreen | None = None  # "could anything signal?" (lockstep's quiet quanta)
        self.quanta_merged = 0
        self.book_check: BookCheck | None = None   # the last touches of the last step handed out while stopping
        self.latency_clock = ClockOffset()          # engine − this process's latency clock (paced and live runs)
        self.clock_probes = 0
        self.clock_probe_wall_ns = 0

    # -- set-up -------------------------------------------------------------------------------
    def receiveMsg_Configure(self, msg: Configure, sender: ActorAddress) -> None:
        self.cfg, self.options = msg.config, msg.options
        self.configured_by = sender          # the Supervisor, even if its Wiring has not arrived yet
        self.quantum_ns = msg.config.spread_engine.batch_interval_ms * NS_PER_MS
        self.edge_screen = EdgeScreen(tuple(str(s.market) for s in msg.universe.symbols), msg.config.fees,
                                      self._min_net_ticks(msg.config, msg.universe.codes),
                                      tuple(msg.config.sessions.extra_holidays))
        try:
            self.core = BridgeCore(msg.config, msg.universe, msg.options)
            self.core.login()
            rc = self.core.register_session()
            if rc != 0:
                raise BridgeError(f"FID 215 registration returned {rc}")
            self.core.start_account_round("login")
        except Exception as exc:  # noqa: BLE001 - any failure is reported, the run cannot start
            self.error = f"bridge start-up failed: {exc}"
            log.error(self.error)
            self._finish(self.error)
            return
        if msg.options.speed is not None or not self.core.simulated:
            # latencies are wall times: until a probe says how this process's clock stands against the engine's
            # (another machine's may be hours apart), the bridge's stamps carry no figure
            self.core.latency_offset_ns = None
            self._probe_clock()
        self.t_ns = self.core.now_ns()
        self.next_reconcile_ns = self.t_ns + msg.config.risk.reconcile_interval_s * 1_000_000_000
        self._report_replay_source()
        if msg.options.duration_s is not None:
            self.end_ns = self.t_ns + int(msg.options.duration_s * 1e9)
        self.screens_needed = {s.screen_no for s in msg.universe.screens(
            per_screen=100, base=msg.config.kiwoom.screen_numbers.marketdata_base,
            explicit=msg.config.kiwoom.screen_numbers.marketdata)}
        self._maybe_start()

    def _report_replay_source(self) -> None:
        """Say once what the recording holds (fid_41 meaning, size check) — into the run report."""
        assert self.options is not None and self.core is not None     # set by Configure before the call
        if self.options.backend != "replay":
            return
        from kiwoom_bridge.emulator.replay import ReplaySource
        src = self.core.source
        assert isinstance(src, ReplaySource), f"the replay backend runs a ReplaySource, not {src!r}"
        self.replay_description = src.describe()
        log.info("replay: %s", self.replay_description)
        for note in self.options.symbols_notes:
            log.info("replay: %s", note)
        self.observe(ReplaySourceDescribed(
            self.t_ns, tuple(str(f) for f in src.files), src.fid41_meaning, bool(src.sizes_known),
            int(src.assumed_visible_qty), self.replay_description, int(src.rows_read), int(src.rows_replayed),
            tuple(src.notes), len(src.codes), self.options.symbols_source, tuple(self.options.symbols_notes)))
        self.flush_telemetry(force=True)    # or as soon as the Wiring arrives (it may come after Configure)

    def receiveMsg_RegisterScreens(self, msg: RegisterScreens, sender: ActorAddress) -> None:
        if self.core is None:
            self.send(sender, ScreensRegistered(msg.shard_id, msg.generation, (), "bridge not configured"))
            return
        err = self.core.register(msg.shard_id, msg.screens, msg.generation)
        old = self.shards.get(msg.shard_id)
        if old is None or old[1] <= msg.generation:
            self.shards[msg.shard_id] = (sender, msg.generation)
        # drop shard ids that no longer own any screen (re-sharding to fewer shards)
        owners = {r.shard_id for r in self.core.routes.values()}
        for sid in list(self.shards):
            if sid not in owners:
                del self.shards[sid]
                self.pending_snapshots.discard(sid)
                self.releasing.add(sid)
        self._release_idle_shards()
        inflight = self.inflight
        if (not self.credited and inflight is not None and msg.shard_id in inflight[1]
                and inflight[3].get(msg.shard_id) != sender):
            # a restarted shard: its predecessor died with this step's batch; give the new one the
            # same step (with a full snapshot first) so the step can complete and nothing is lost
            step, shard_ids, rows_by, addrs = inflight
            rows = np.concatenate([self.core.snapshot_rows(msg.shard_id), rows_by[msg.shard_id]])
            addrs[msg.shard_id] = sender
            self.send(sender, MarketBatch(step=step, t_ns=self.t_ns, shard_ids=shard_ids, rows=rows, snapshot=True))
        else:
            self.pending_snapshots.add(msg.shard_id)
        if self._supervisor is not None:
            self.send(self._supervisor, ScreensRegistered(msg.shard_id, msg.generation,
                                                                tuple(s for s, _ in msg.screens), err))
        self._maybe_start()

    @property
    def _supervisor(self) -> ActorAddress | None:
        return self.wiring.supervisor if self.wiring.supervisor is not None else self.configured_by

    def _release_idle_shards(self) -> None:
        """Tell the Supervisor which dropped shards no in-flight step waits for any more."""
        busy = set(self.inflight[1]) if (self.inflight is not None and not self.credited) else set()
        for sid in sorted(self.releasing - busy):
            self.releasing.discard(sid)
            if self._supervisor is not None:
                self.send(self._supervisor, ShardReleased(sid))

    def receiveMsg_ReleaseScreens(self, msg: ReleaseScreens, sender: ActorAddress) -> None:
        if self.core is not None:
            self.core.release(msg.screen_nos)

    def receiveMsg_Wiring(self, msg: Wiring, sender: ActorAddress) -> None:
        super().receiveMsg_Wiring(msg, sender)
        self._maybe_start()          # the shards' screens may have been registered before the Wiring came

    def _maybe_start(self) -> None:
        if self.started or self.core is None or self.finished:
            return
        if not self.screens_needed <= set(self.core.routes):
            return
        if self.wiring.pair_manager is None:
            # Thespian does not order the shards' RegisterScreens behind the Supervisor's Wiring: without it
            # step 1's ExecBatch had no address, and the run stalled at step 1 forever (seen on a loaded machine)
            return
        self.started = True
        self.core.start_clock()
        self._next_step()

    # -- orders -------------------------------------------------------------------------------
    def _first_time(self, ref: str) -> bool:
        """Whether ``ref`` was never sent: the last guard against sending an order twice."""
        if ref in self.sent_refs:
            self.duplicates_dropped += 1
            log.warning("KiwoomBridge: %s was already sent; the repeat is dropped", ref)
            return False
        self.sent_refs.add(ref)
        return True

    def receiveMsg_PlacedOrder(self, msg: PlacedOrder, sender: ActorAddress) -> None:
        if not self._first_time(msg.intent.ref):
            return
        assert self.core is not None
        self.order_log.append(msg)
        self._tell_new_throttler(msg.intent.ref, msg.token_ns, sender)
        self.carry.append(self.core.place(msg))

    def receiveMsg_PlacedCancel(self, msg: PlacedCancel, sender: ActorAddress) -> None:
        if not self._first_time(msg.intent.ref):
            return
        assert self.core is not None
        self.cancel_log.append(msg)
        self._tell_new_throttler(msg.intent.ref, msg.token_ns, sender)
        self.carry.append(self.core.cancel(msg.intent))

    def receiveMsg_RecoverThrottler(self, msg: RecoverThrottler, sender: ActorAddress) -> None:
        """A new Throttler replaced a dead one: tell it every order and cancel placed and when, so it rebuilds
        its token window and never places one twice."""
        new = msg.throttler if msg.throttler is not None else self.wiring.throttler
        self.wiring = dataclasses.replace(self.wiring, throttler=new)
        placed = sorted([(p.intent.ref, p.token_ns) for p in self.order_log]
                        + [(c.intent.ref, c.token_ns) for c in self.cancel_log], key=lambda rt: rt[1])
        self.throttler_restarts += 1
        self.send(new, ThrottlerLog(tuple(placed), self.t_ns))

    def receiveMsg_SignalsLost(self, msg: SignalsLost, sender: ActorAddress) -> None:
        self.signals_lost = True

    def _tell_new_throttler(self, ref: str, token_ns: int, sender: ActorAddress) -> None:
        """An order the dead Throttler placed reached us after its successor's log: the successor must count
        its token too (it was spent)."""
        if self.throttler_restarts and self.wiring.throttler is not None and sender != self.wiring.throttler:
            self.send(self.wiring.throttler, ThrottlerLog(((ref, token_ns),), self.t_ns))

    def receiveMsg_RecoverPairManager(self, msg: RecoverPairManager, sender: ActorAddress) -> None:
        """A new PairManager replaced a dead one: give it the session's order log, then the step
        that was in flight (its ExecBatch went to the dead actor)."""
        pm = msg.pair_manager if msg.pair_manager is not None else self.wiring.pair_manager
        self.wiring = dataclasses.replace(self.wiring, pair_manager=pm)
        self.recoveries += 1
        inflight = self.step if (not self.credited and self.last_exec is not None) else -1
        self.send(pm, RecoveryLog(orders=tuple(self.order_log), cancels=tuple(self.cancel_log),
                                  steps=tuple(self.steps_log), t_ns=self.t_ns, inflight_step=inflight,
                                  incarnation=self.recoveries + 1))
        if inflight >= 0:
            self.send(pm, self.last_exec)

    def receiveMsg_OrderDenied(self, msg: OrderDenied, sender: ActorAddress) -> None:
        self.carry.append(msg)

    def receiveMsg_ArmCode(self, msg: ArmCode, sender: ActorAddress) -> None:
        """The operator re-arms a frozen code: the desk hears it in the next step (and a replacement desk
        replays it from the log like every broker event)."""
        self.carry.append(ArmRequested(msg.code, msg.reason))

    # -- the operator -------------------------------------------------------------------------
    def receiveMsg_OperatorCommand(self, msg: OperatorCommand, sender: ActorAddress) -> None:
        """From the Supervisor: carry the operator's command to the PairManager in the next step."""
        self.carry.append(OperatorRequested(msg.action, msg.code, msg.reason, msg.source))

    def receiveMsg_LiveConfig(self, msg: LiveConfig, sender: ActorAddress) -> None:
        """From the Supervisor: carry the live configuration change to the PairManager in the next step. The
        SpreadEngine may apply a new edge rule before or after that step: until then the quiet-quanta test
        keeps the lower costs and edge buffers of the two."""
        self.carry.append(ConfigReplaced(msg.config, msg.changes, msg.source))
        if self.core is not None and self.edge_screen is not None:
            self.edge_screen.relax(msg.config.fees, self._min_net_ticks(msg.config, self.core.universe.codes))

    @staticmethod
    def _min_net_ticks(cfg: EngineConfig, codes: tuple[str, ...]) -> np.ndarray:
        from core.spread import min_net_ticks_of
        return min_net_ticks_of(cfg.spread_engine.edge_rule.min_net_ticks_after_fees,
                                {c: o.edge_buffer_ticks for c, o in cfg.symbols.per_symbol_overrides.items()}, codes)

    def operator_detail(self, msg: OperatorDetailRequest) -> tuple[str, Any]:
        """Login, server, account (masked), screens and the clock, for the status bar and launch strip."""
        core, opts = self.core, self.options
        needed: set[str] = getattr(self, "screens_needed", set())
        registered = sum(1 for s, r in core.routes.items() if r.registered and s in needed) if core else 0
        return "bridge", BridgeView(
            backend=opts.backend if opts else "", connected=bool(core and core.connected),
            server=core.server() if core else "", account=core.account_masked() if core else "",
            speed=opts.speed if opts else None, screens_registered=registered, screens_needed=len(needed),
            shards=len(self.shards), started=self.started, step=self.step, t_ns=self.t_ns,
            stop_reason=self.stop_reason or "", error=self.error, replay=self.replay_description)

    # -- stepping -----------------------------------------------------------------------------
    def receiveMsg_StepDone(self, msg: StepDone, sender: ActorAddress) -> None:
        if msg.step != self.step or self.credited:
            return          # an old credit, or one a new Throttler passed on again
        self.credited = True
        if msg.step == 1:
            assert self.core is not None and self.options is not None   # step 1 was emitted: Configure ran
            if self.core.simulated and self.options.speed is not None:
                # paced: the first step carries the start-up snapshot and the actors' first-use costs;
                # pin wall time to engine time only now, so the engine does not start out behind
                self.core.start_clock()
        le = self.last_exec
        if le is not None and (le.events or (self.deadline is not None and le.t_ns >= self.deadline)):
            # what a replacement PairManager must replay: steps with broker events or a due deadline
            self.steps_log.append(RecoveredStep(le.step, le.t_ns, le.events))
        if self.releasing:
            self._release_idle_shards()
        self.deadline = msg.next_deadline_ns
        self.idle_until = msg.idle_until_ns
        self.eligible_last = np.asarray(msg.eligible_syms, dtype=np.int64)
        self.eligible_mask = None          # built when a merge first needs it (see _books_quiet)
        self.watched = np.asarray(msg.watched_syms, dtype=np.int64)
        self.last_flat = msg.flat
        if msg.session_over and not self.session_over_seen:
            self.session_over_seen = True
            self._on_session_over()
        if self.stop_reason is not None and self.disarm_sent and self._wind_down(msg):
            return
        self._next_step()

    def _on_session_over(self) -> None:
        """The desk says the trading day's guard window has closed: stop, unless a replay goes on to a
        later day."""
        assert self.cfg is not None and self.core is not None and self.options is not None
        from core.clock import kst_date as _kst_date
        from core.session import SessionClock
        end = SessionClock(self.cfg.sessions).guard_window(_kst_date(self.t_ns))[1]
        if self.options.backend == "replay" and self.core.source is not None:
            from core.clock import kst_date
            nxt = self.core.source.peek_time_ns()
            if nxt is not None and kst_date(nxt) > kst_date(self.t_ns):
                self.session_over_seen = False       # the next day has its own session end
                return
        self._request_stop(f"end of the session (the guard window closed at {end})")

    def _wind_down(self, msg: StepDone) -> bool:
        """While stopping: once flat (or out of time) run the final account query, then finish once the
        step carrying its answer is credited. True when the run finished."""
        assert self.cfg is not None and self.core is not None
        if self.final_started_ns is None:
            flat = msg.flat and not self.carry
            late = self.finish_by_ns is not None and self.t_ns >= self.finish_by_ns
            if not (flat or late):
                return False
            if not flat:
                self.final_error = (f"not flat {self.cfg.risk.session_end_grace_s} s after the hedge deadlines "
                                    f"of the stop: check the audit log and the broker's positions")
            if not self.core.connected:
                self._finish(self.final_error or "")
                return True
            self.final_started_ns = self.t_ns
            self.core.start_account_round("final")
            return False
        if self.final_step is not None and msg.step >= self.final_step:
            self._finish(self.final_error)
            return True
        if self.t_ns - self.final_started_ns > FINAL_QUERY_TIMEOUT_NS:
            self._finish("; ".join(e for e in (self.final_error, "the final account query got no answer: the "
                                               "report's inventory end is the engine's own figure") if e))
            return True
        return False

    def receiveMsg_StopEngine(self, msg: StopEngine, sender: ActorAddress) -> None:
        self._request_stop(msg.reason)
        if not self.started and not self.finished:
            self._finish("")

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender: ActorAddress) -> None:
        self.wakeup_pending = False
        if not self.started or self.finished:
            return
        assert self.core is not None and self.options is not None   # started: Configure ran
        if self.credited:
            self._next_step()
        elif self.core.simulated and self.options.speed is not None:
            # paced: while a step is in flight keep the emulator at wall time, so ticks are
            # received (and parsed) as they happen, like the real OCX's events, instead of in a
            # burst when the credit comes back
            self.core.advance_to(max(self.core.paced_target_ns(), self.core.now_ns()))
            self._sleep(NS_PER_MS)

    def _request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    # -- the latency clock ----------------------------------------------------------------------
    def _probe_clock(self) -> None:
        """Ask the Supervisor for the engine's latency clock (answered by :class:`ClockEcho`)."""
        to = self._supervisor
        if to is None:
            return
        self.clock_probes += 1
        self.clock_probe_wall_ns = wall_ns()
        self.send(to, ClockProbe(self.clock_probe_wall_ns))

    def _maybe_probe_clock(self) -> None:
        assert self.core is not None
        if self.core.latency_offset_ns is None or self.clock_probes < CLOCK_PROBES_FIRST:
            every = CLOCK_PROBE_FIRST_NS
        else:
            every = CLOCK_PROBE_EVERY_NS
        if wall_ns() - self.clock_probe_wall_ns >= every:
            self._probe_clock()

    def _latency_clock_text(self) -> str:
        """How the bridge's latency stamps stand against the engine's clock (``arbctl status``, its detail)."""
        if self.core is None or self.core.latency_offset_ns == 0 and not self.latency_clock.known:
            return "the engine's (one process or lockstep)"
        clk = self.latency_clock
        if not clk.known:
            return f"not known yet ({self.clock_probes} probes sent): no tick latency stamped"
        if clk.same_clock:
            return "the engine's (same machine, by probe)"
        return (f"engine {(clk.offset_ns or 0) / 1e6:+.3f} ms ± {(clk.uncertainty_ns or 0) / 1e6:.3f} ms "
                f"(another machine, by probe)")

    def receiveMsg_ClockEcho(self, msg: ClockEcho, sender: ActorAddress) -> None:
        self.latency_clock.observe(msg.sent_ns, msg.engine_ns, wall_ns())
        if self.core is not None:
            self.core.latency_offset_ns = self.latency_clock.offset_ns

    def _next_step(self) -> None:
        if self.finished or not self.started or not self.credited:
            return
        core, options = self.core, self.options
        assert core is not None and options is not None             # started: Configure ran
        if options.speed is not None or not core.simulated:
            self._maybe_probe_clock()
        if self.end_ns is not None and self.t_ns >= self.end_ns:
            self._request_stop(f"duration {options.duration_s:g} s reached")
        self._account_tick()
        if core.simulated:
            nxt = core.next_event_ns()
            acct = core.account_wakeup_ns()
            if acct is not None:
                nxt = acct if nxt is None else min(nxt, max(acct, self.t_ns))
            if not self.exhausted and options.backend == "replay" and core.source_exhausted():
                self.exhausted = True
                self._request_stop("end of the recording")
            if options.speed is None:
                lockstep = self._lockstep_next(self.t_ns, nxt)
                if lockstep is None:
                    if self.stop_reason is None:
                        self._request_stop("nothing left to simulate")
                    t_next = self.t_ns + self.quantum_ns
                else:
                    t_next = lockstep
            else:
                # paced: engine time follows the wall clock; step as soon as credited and at least
                # 1 ms of wall time has passed since the last step (credit-based coalescing)
                target = core.paced_target_ns()
                speed = options.speed or 1.0
                core.advance_to(max(target, core.now_ns()))      # collect what has "arrived" by now
                busy = bool(self.carry) or self.stop_reason is not None or core.has_pending()
                due = self.deadline is not None and target >= self.deadline
                idle_for = target - self.t_ns
                if ((not busy and idle_for < NS_PER_MS * speed)
                        or (not busy and not due and idle_for < IDLE_STEP_WALL_NS * speed)):
                    # nothing to hand out: no step (each costs ~7 messages); an idle engine still
                    # gets a step every IDLE_STEP_WALL_NS so its session clock and timers move on
                    self._sleep(NS_PER_MS)
                    return
                t_next = max(target, core.now_ns(), self.t_ns + 1)
                if self.end_ns is not None and self.stop_reason is None:
                    t_next = min(t_next, max(self.end_ns, self.t_ns + 1))
        else:
            core.pump()
            t_next = core.now_ns()
            if not core.has_pending() and not self.carry and self.stop_reason is None and (
                    self.deadline is None or self.deadline > t_next):
                self._sleep(1 * NS_PER_MS)
                return
        quiet_before = core.simulated and options.speed is None and self._may_merge()
        t_next = max(t_next, self.t_ns, core.now_ns())
        core.advance_to(t_next)
        quanta: dict[int, list[tuple[int, int]]] = {}
        if quiet_before:
            t_next = self._merge_quiet_quanta(t_next, quanta)
        self.t_ns = t_next
        self._emit_step(quanta)
        if core.simulated and options.speed is not None:
            self._sleep(NS_PER_MS)

    def _lockstep_next(self, t_ns: int, nxt: int | None) -> int | None:
        """Lockstep: the time of the step after one at ``t_ns`` (``nxt``: the emulator's next event, or the
        account's wake-up if sooner): at least one quantum on, jumping quiet stretches up to the next event,
        never past the engine's deadline; None when nothing is left to simulate."""
        cands = [c for c in (nxt, self.deadline) if c is not None]
        if not cands:
            return None
        t_next = max(min(cands), t_ns + self.quantum_ns)
        if self.deadline is not None and self.deadline > t_ns:
            t_next = min(t_next, self.deadline)
        if self.stop_reason is not None:
            # winding down: never leap over quiet time to a far emulator timer (the
            # 15:20 session event); hedges finish within their own deadlines
            t_next = min(t_next, t_ns + self.quantum_ns)
        if self.end_ns is not None and self.stop_reason is None:
            t_next = min(t_next, max(self.end_ns, t_ns + 1))
        return t_next

    # -- lockstep: merging quiet quanta --------------------------------------------------------
    def _may_merge(self) -> bool:
        """Whether the step being formed may take in the quanta after it: the last credit promised an idle desk
        (no request waiting, no unmanaged position) and nothing is carried, stopping, recovering or registering,
        and the books the engine evaluated at the last step are quiet (:meth:`_books_quiet`)."""
        assert self.core is not None
        return (self.idle_until is not None and self.stop_reason is None and not self.carry and not self.exhausted
                and not self.pending_snapshots and not self.releasing and not self.signals_lost
                and self.last_exec is not None and not self.core.has_events() and self.edge_screen is not None
                and self._books_quiet(self.t_ns))

    def _quiet(self, t_ns: int) -> bool:
        """Whether the lockstep step at ``t_ns`` (its rows and events collected) provably changes nothing but the
        books, and the step after it would start the same way: no event, no possible signal, before the desk's
        idle horizon, its deadline, the run's end, the next account query, and the recording still running."""
        core = self.core
        assert core is not None and self.idle_until is not None and self.edge_screen is not None
        return (t_ns < self.idle_until and (self.deadline is None or t_ns < self.deadline)
                and (self.end_ns is None or t_ns < self.end_ns)
                and (self.next_reconcile_ns is None or t_ns < self.next_reconcile_ns)
                and core.account_wakeup_ns() is None and not core.has_events()
                and not core.source_exhausted() and self._books_quiet(t_ns))

    def _books_quiet(self, t_ns: int) -> bool:
        """Whether an evaluation of the books now signals nothing and changes no verdict, and no open pair hears of
        its code: every symbol that could be eligible (:class:`EdgeScreen`) was eligible at the last evaluation
        and has had no real data since (its verdict stands: no new signal, no flicker cooldown); any other symbol
        is not eligible, as before; no open pair's code has had real data since."""
        assert self.core is not None and self.edge_screen is not None
        if self.core.touched_since_take(self.eligible_last) or self.core.touched_since_take(self.watched):
            return False
        possible = self.core.edge_possible(self.edge_screen, t_ns)
        if not len(possible):
            return True
        if self.eligible_mask is None:
            mask = np.zeros(len(self.core.index), dtype=bool)
            mask[self.eligible_last] = True
            self.eligible_mask = mask
        return bool(self.eligible_mask[possible].all())

    def _merge_quiet_quanta(self, t_ns: int, quanta: dict[int, list[tuple[int, int]]]) -> int:
        """Lockstep without the quiet steps (SPEC §7, §9): while the step at ``t_ns`` is :meth:`_quiet`, keep its
        rows and advance to the step the bridge would have formed after it (the same rule, :meth:`_lockstep_next`);
        return the time of the first step that may matter (or of the last of ``MERGE_MAX_QUANTA``). ``quanta`` gets,
        per shard, where each merged quantum's rows end and its time, so the shards judge each row at its own
        quantum's time. The engine sees the same books, signals, orders and timers as with a step per quantum."""
        core = self.core
        assert core is not None
        for _ in range(MERGE_MAX_QUANTA):
            if not self._quiet(t_ns):
                break
            nxt = core.next_event_ns()
            t_next = self._lockstep_next(t_ns, nxt)
            if t_next is None:
                break               # "nothing left to simulate": that step stops the run
            for sid, n in core.rows_collected().items():
                ends = quanta.setdefault(sid, [])
                if n and (not ends or ends[-1][0] < n):
                    ends.append((n, t_ns))
            t_ns = max(t_next, t_ns, core.now_ns())
            core.advance_to(t_ns)
            self.quanta_merged += 1
        return t_ns

    def _account_tick(self) -> None:
        """Send what the account queries may send now; start the periodic query when it is due."""
        assert self.core is not None and self.cfg is not None
        if (self.stop_reason is None and self.next_reconcile_ns is not None and self.t_ns >= self.next_reconcile_ns):
            self.core.start_account_round("periodic")
            interval = self.cfg.risk.reconcile_interval_s * 1_000_000_000
            while self.next_reconcile_ns <= self.t_ns:
                self.next_reconcile_ns += interval
        self.core.account_pump()

    def _sleep(self, wall_ns: float) -> None:
        if not self.wakeup_pending:
            self.wakeup_pending = True
            ms = min(max(wall_ns / 1e6, 0.2), 20.0)
            self.wakeupAfter(dt.timedelta(milliseconds=ms))

    def _emit_step(self, quanta: dict[int, list[tuple[int, int]]] | None = None) -> None:
        self.step += 1
        self.credited = False
        shard_ids = tuple(sorted(self.shards))
        core = self.core
        assert core is not None                                     # started: Configure ran
        out = core.take(self.t_ns, shard_ids)
        if self.stop_reason is not None:
            # the run ends with one of these steps: what the SpreadEngine's book must hold then (every row
            # received so far is in this step, so the bridge's last touches are exactly what it hands out)
            self.book_check = BookCheck(self.step, self.t_ns, core.touches())
        events = step_events(self.carry, out.events, self.t_ns)
        self.carry = []
        if self.stop_reason is not None and not self.disarm_sent:
            events.append(DisarmRequested(self.stop_reason))
            self.disarm_sent = True
            assert self.cfg is not None                              # started: Configure ran
            self.finish_by_ns = self.t_ns + (self.cfg.execution.t_hedge_ms + self.cfg.risk.unhedged_grace_ms
                                             + self.cfg.risk.session_end_grace_s * 1000) * NS_PER_MS
        if self.final_started_ns is not None and self.final_step is None and core.account_settled("final"):
            self.final_step = self.step              # this step carries the final account answer
        self.inflight = (self.step, shard_ids, out.rows, {s: self.shards[s][0] for s in shard_ids})
        for sid in shard_ids:
            addr, _ = self.shards[sid]
            rows = out.rows[sid]
            snap = sid in self.pending_snapshots
            if snap:
                rows = np.concatenate([core.snapshot_rows(sid), rows])
                self.pending_snapshots.discard(sid)
            self.rows_total += len(rows)
            merged = quanta.get(sid) if quanta else None
            self.send(addr, MarketBatch(step=self.step, t_ns=self.t_ns, shard_ids=shard_ids, rows=rows,
                                        snapshot=snap, quanta=(*merged, (len(rows), self.t_ns)) if merged else ()))
        self.last_exec = ExecBatch(step=self.step, t_ns=self.t_ns, events=tuple(events),
                                   source_exhausted=self.exhausted,
                                   touches=core.touches() if self.signals_lost else None)
        self.send(self.wiring.pair_manager, self.last_exec)

    def _finish(self, error: str) -> None:
        if self.finished:
            return
        self.finished = True
        checking = self.book_check is not None and self.wiring.spread_engine is not None and not self.signals_lost
        if checking:
            self.send(self.wiring.spread_engine, self.book_check)
        if self.core is not None and not self.core.simulated:
            self.core.close()
        if self._supervisor is not None:
            self.send(self._supervisor, SessionFinished(t_ns=self.t_ns, step=self.step,
                                                              reason=self.stop_reason or "stopped",
                                                              flat=self.last_flat, error=error,
                                                              rows=self.rows_total, book_check=checking))

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender: ActorAddress) -> None:
        self.finished = True

    def detail(self) -> Detail:
        return (("t_ns", self.t_ns), ("step", self.step), ("backend", self.options.backend if self.options else ""),
                ("rows", self.rows_total), ("shards", len(self.shards)), ("started", self.started),
                ("stop", self.stop_reason or ""), ("error", self.error),
                ("credited", self.credited), ("quanta_merged", self.quanta_merged),
                ("wakeup_pending", self.wakeup_pending), ("deadline", self.deadline),
                ("recoveries", self.recoveries), ("duplicates_dropped", self.duplicates_dropped),
                ("replay", self.replay_description), ("latency_clock", self._latency_clock_text()),
                ("account_queries", self.core.account_queries.requests
                 if self.core is not None and self.core.account_queries is not None else 0))
