"""Supervisor: the root actor. Builds the engine from config, watches it, restarts what dies."""
from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from thespian.actors import (
    ActorAddress,
    ActorExitRequest,
    ActorSystemConventionUpdate,
    ChildActorExited,
    PoisonMessage,
    WakeupMessage,
)

from actors.base import EngineActor, wall_ns
from actors.operator_gateway import OperatorGateway
from actors.runtime import process_alive, shutdown_detached
from core.observations import ErrorRaised, ShardMoved, ShardsChecked
from core.placement import PlacementError, ShardHost, fall_back, place_shards, resolve_host
from core.universe import assign_shards
from protocol.control import (
    AccountViewRequest,
    ActorHealth,
    ArmCode,
    ArmResult,
    ClockEcho,
    ClockProbe,
    FlushTelemetry,
    HealthReport,
    HealthRequest,
    Ping,
    Pong,
    RecoverPairManager,
    RecoverThrottler,
    ReportRequest,
    RunReport,
    ScaleResult,
    ScaleShards,
    SessionFinished,
    SignalsLost,
    StatusReport,
    StatusRequest,
    StopEngine,
    TelemetryFlushed,
)
from protocol.steps import BookChecked
from protocol.system import SHARD_HOST_CAPABILITY, SHARD_HOST_ID, SHARD_HOST_NAMES
from protocol.telemetry import TelemetryBatch, TelemetryConfigure
from protocol.wiring import (
    Configure,
    EngineStarted,
    ScreensRegistered,
    ShardAssignment,
    ShardDown,
    ShardReleased,
    StartEngine,
    Wiring,
)

log = logging.getLogger("arb.supervisor")

BRIDGE_CLASS = "actors.bridge.KiwoomBridge"
SHARD_CLASS = "actors.market_data.MarketData"
HOSTED_SHARD_CLASS = "actors.market_data.HostedMarketData"
#: A PairManager that keeps dying points at a bug, not a glitch: after this many restarts the run stops.
MAX_PAIR_MANAGER_RESTARTS = 3
#: How long the end-of-run telemetry flush may take before the report is made without the laggards.
FLUSH_TIMEOUT_S = 5.0
#: After a child that cannot be restarted dies, how long the bridge gets to finish before the
#: Supervisor ends the run itself (the report then says it did not finish cleanly).
DEAD_CHILD_STOP_S = 30.0
#: How much longer than its own bound (the hedge deadlines + ``risk.session_end_grace_s``) an engine whose launcher
#: is gone waits for its orderly stop before it reports and shuts down anyway.
LAUNCHER_GONE_MARGIN_S = 30.0
#: A Throttler that keeps dying points at a bug: after this many restarts the run stops.
MAX_THROTTLER_RESTARTS = 3
#: After the report of a run whose launcher is gone, how long before the actor system is shut down.
SELF_SHUTDOWN_DELAY_S = 1.0


@dataclass
class ChildInfo:
    """What the Supervisor knows about one child actor."""

    name: str
    address: Any
    kind: str
    shard_id: int = -1
    slot: int = -1                   # index in the current shard plan (shards only)
    system: str | None = None        # the shard host's id it runs on; None = the leader (this system)
    system_label: str = "local"      # that system as health shows it: "local" or the host's admin address
    pid: int = 0
    last_pong_wall: float | None = None
    msgs_in: int = 0
    msgs_out: int = 0
    pending: int = 0
    restarts: int = 0
    detail: dict[str, Any] = field(default_factory=dict)     # the child's last Pong.detail
    alive: bool = True
    created_wall: float = field(default_factory=time.monotonic)


class Supervisor(OperatorGateway, EngineActor):
    """Creates Telemetry, the KiwoomBridge (placed by capability), the Throttler, the PairManager,
    the SpreadEngine and ``market_data.shards`` MarketData shards; wires them; pings them every
    ``telemetry.heartbeat_interval_ms``; restarts a dead shard (it re-registers its screens and the
    bridge sends it a full snapshot); answers health/status; re-shards live, placing added shards on a
    shard host when asked (SPEC §8) and replacing on the leader the shards of a host that leaves or falls
    silent; stops the run and returns the report. Serves the operator's window
    (:class:`~actors.operator_gateway.OperatorGateway`).
    """

    actor_name = "Supervisor"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.children: dict[str, ChildInfo] = {}
        self.start: StartEngine | None = None
        self.launcher: Any = None
        self.finished: SessionFinished | None = None
        self.report: RunReport | None = None
        self.report_waiters: list[Any] = []
        self.nonce = 0
        self.generation = 0
        self.next_shard_id = 0
        self.scale_pending: dict[str, Any] = {}
        self.retiring: list[str] = []
        self.scale_requester: Any = None
        self.errors: list[tuple[int, str]] = []      # (engine t_ns when it happened, message)
        self.flush_waiting: list[Any] = []
        self.report_requested = False
        self.launcher_gone = False
        self.status_waiters: list[ActorAddress] = []     # StatusRequest(after_ms) callers waiting for their answer
        self.aborted = ""                    # why the run was cut short (an actor died that cannot be replaced)
        self.partial_waiters: list[Any] = []
        self.shard_hosts: dict[str, ShardHost] = {}    # shard hosts in the convention, by their id
        self._placement: tuple[str | None, ...] = ()   # the system of each slot of the current shard plan
        self.book_checked: BookChecked | None = None
        self.book_check_waiting = False             # SessionFinished said a book check is on its way

    # -- start-up ---------------------------------------------------------------------------
    def receiveMsg_StartEngine(self, msg: StartEngine, sender: ActorAddress) -> None:
        if self.start is not None:
            self.send(sender, EngineStarted(False, "engine already started"))
            return
        self.start = msg
        self.launcher = sender
        try:
            self._start_engine(msg, sender)
        except Exception as exc:  # noqa: BLE001 - any start-up failure: undo it, answer once, never retry
            log.error("Supervisor: the engine could not start: %s: %s", type(exc).__name__, exc)
            for c in list(self.children.values()):
                self.send(c.address, ActorExitRequest())
            self.children.clear()
            self.send(sender, EngineStarted(False, f"the engine could not start: {type(exc).__name__}: {exc}"))

    def _start_engine(self, msg: StartEngine, sender: ActorAddress) -> None:
        cfg, uni, opts = msg.config, msg.universe, msg.options
        tel = self._spawn("Telemetry", "actors.telemetry.Telemetry", "telemetry")
        self.send(tel, TelemetryConfigure(cfg, opts.backend, len(uni), opts.run_dir))
        try:
            bridge = self._spawn("KiwoomBridge", BRIDGE_CLASS, "bridge")
        except Exception as exc:  # noqa: BLE001 - Thespian raises several types here
            self.send(sender, EngineStarted(False, f"cannot create the KiwoomBridge: {exc}"))
            return
        self._spawn("Throttler", "actors.throttler.Throttler", "throttler")
        self._spawn("PairManager", "actors.pair_manager.PairManager", "pair_manager")
        self._spawn("SpreadEngine", "actors.spread_engine.SpreadEngine", "spread_engine")
        try:
            self.notifyOnSystemRegistrationChanges(True)    # shard hosts joining and leaving (SPEC §8)
        except Exception as exc:  # noqa: BLE001 - a base without conventions: shards stay on the leader
            log.warning("Supervisor: no convention updates on this base (%s): shards stay local", exc)
        n = len(assign_shards(self._screens(), cfg.market_data.shard_count()))
        self._build_shards(cfg.market_data.shard_count(), (None,) * n)
        self._broadcast_wiring()
        conf = Configure(cfg, uni, opts)
        for kind in ("throttler", "pair_manager", "spread_engine", "bridge"):
            self.send(self._addr(kind), conf)
        self._assign_shards()
        self.wakeupAfter(dt.timedelta(milliseconds=cfg.telemetry.heartbeat_interval_ms), payload="heartbeat")
        self.send(sender, EngineStarted(True, "", tuple((c.name, str(c.address)) for c in self.children.values())))
        del bridge

    def _spawn(self, name: str, cls: str, kind: str, shard_id: int = -1, slot: int = -1,
               system: str | None = None, restarts: int = 0) -> Any:
        """Create a child (a shard on the shard host ``system`` when given) and record it."""
        if system is None:
            addr = self.createActor(cls)
            label = "local"
        else:
            addr = self.createActor(HOSTED_SHARD_CLASS, targetActorRequirements={SHARD_HOST_ID: system})
            host = self.shard_hosts.get(system)
            label = host.address if host is not None else system
        self.children[name] = ChildInfo(name=name, address=addr, kind=kind, shard_id=shard_id, slot=slot,
                                        system=system, system_label=label, restarts=restarts)
        return addr

    def _addr(self, kind: str) -> Any:
        for c in self.children.values():
            if c.kind == kind:
                return c.address
        return None

    def _shard_children(self) -> list[ChildInfo]:
        return sorted((c for c in self.children.values() if c.kind == "shard" and c.name not in self.retiring),
                      key=lambda c: c.shard_id)

    def _screens(self) -> Any:
        assert self.start is not None
        cfg, uni = self.start.config, self.start.universe
        sn = cfg.kiwoom.screen_numbers
        return uni.screens(per_screen=100, base=sn.marketdata_base, explicit=sn.marketdata)

    def _build_shards(self, n: int, placement: tuple[str | None, ...]) -> None:
        """A new generation of ``n`` shards (fewer when there are fewer screens), slot i on ``placement[i]``."""
        self._shard_plan = assign_shards(self._screens(), n)
        assert len(placement) == len(self._shard_plan), (placement, len(self._shard_plan))
        self._placement = placement
        for i, _ in enumerate(self._shard_plan):
            self._spawn(f"MarketData[{i}]@{self.generation}", SHARD_CLASS, "shard",
                        shard_id=self.next_shard_id, slot=i, system=placement[i])
            self.next_shard_id += 1

    def _assign_shards(self) -> None:
        assert self.start is not None
        for child in self._shard_children():
            self._send_assignment(child)

    def _send_assignment(self, child: ChildInfo) -> None:
        assert self.start is not None
        plan = self._shard_plan[child.slot]
        self.send(child.address, ShardAssignment(
            shard_id=child.shard_id, screens=tuple((s.screen_no, tuple(s.codes)) for s in plan),
            config=self.start.config, universe=self.start.universe, generation=self.generation))

    def _wiring(self) -> Wiring:
        return Wiring(supervisor=self.myAddress, bridge=self._addr("bridge"), throttler=self._addr("throttler"),
                      pair_manager=self._addr("pair_manager"), spread_engine=self._addr("spread_engine"),
                      telemetry=self._addr("telemetry"),
                      shards=tuple(c.address for c in self._shard_children()))

    def _broadcast_wiring(self) -> None:
        w = self._wiring()
        self.wiring = w
        for c in self.children.values():
            self.send(c.address, w)

    # -- heartbeats and health --------------------------------------------------------------
    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender: ActorAddress) -> None:
        if msg.payload == "flush-timeout":
            self._maybe_request_report(timed_out=True)
            return
        if isinstance(msg.payload, str) and msg.payload.startswith("stop-timeout:") and self.finished is None:
            who = msg.payload.split(":", 1)[1]
            self._end_unfinished(f"{who} died", f"the run did not finish cleanly {DEAD_CHILD_STOP_S:g} s after {who} "
                                                f"died")
            return
        if msg.payload == "launcher-gone-timeout" and self.finished is None:
            # nobody is left to stop this engine: an orderly stop that cannot finish must not leave it running
            self._end_unfinished("the launcher is gone", f"the run did not finish {self._launcher_gone_stop_s():g} s "
                                                         f"after its launcher went")
            return
        if msg.payload == "self-shutdown":
            self._shut_the_system_down()
            return
        if msg.payload == "status-due":
            self._answer_status_waiters()
            return
        if msg.payload != "heartbeat" or self.start is None:
            return
        self._watch_launcher()
        self._watch_hosted_shards()
        self.nonce += 1
        for c in self.children.values():
            if c.alive:
                self.send(c.address, Ping(self.nonce))
        self.wakeupAfter(dt.timedelta(milliseconds=self.start.config.telemetry.heartbeat_interval_ms),
                         payload="heartbeat")

    def receiveMsg_Pong(self, msg: Pong, sender: ActorAddress) -> None:
        for c in self.children.values():
            if c.address == sender:
                c.pid, c.msgs_in, c.msgs_out, c.pending = msg.pid, msg.msgs_in, msg.msgs_out, msg.pending
                c.last_pong_wall = time.monotonic()
                c.detail = dict(msg.detail)
                return

    def _health(self) -> HealthReport:
        assert self.start is not None
        limit = 3 * self.start.config.telemetry.heartbeat_interval_ms / 1000 + 1.0
        now = time.monotonic()
        rows = [ActorHealth(name=self.actor_name, address=str(self.myAddress), pid=os.getpid(), alive=True,
                            heartbeat_age_s=0.0, msgs_in=self.msgs_in, msgs_out=self.msgs_out, pending=0)]
        for c in self.children.values():
            age = None if c.last_pong_wall is None else now - c.last_pong_wall
            # a child created less than the limit ago has had no chance to answer a heartbeat yet: starting
            heard_from = age is not None and age <= limit
            alive = c.alive and (heard_from or (age is None and now - c.created_wall <= limit))
            rows.append(ActorHealth(name=c.name, address=str(c.address), pid=c.pid, alive=alive,
                                    heartbeat_age_s=age, msgs_in=c.msgs_in, msgs_out=c.msgs_out,
                                    pending=c.pending, restarts=c.restarts, system=c.system_label))
        return HealthReport(tuple(rows), time.time_ns())

    def receiveMsg_ClockProbe(self, msg: ClockProbe, sender: ActorAddress) -> None:
        """The bridge measures its latency clock against the engine's (:mod:`core.clock_offset`): answer at once."""
        self.send(sender, ClockEcho(msg.sent_ns, wall_ns()))

    def receiveMsg_HealthRequest(self, msg: HealthRequest, sender: ActorAddress) -> None:
        if self.start is None:
            self.send(sender, HealthReport(()))
            return
        self.send(sender, self._health())

    def receiveMsg_StatusRequest(self, msg: StatusRequest, sender: ActorAddress) -> None:
        if msg.after_ms <= 0 or self.finished is not None:
            self.send(sender, self._status())
            return
        self.status_waiters.append(sender)
        self.wakeupAfter(dt.timedelta(milliseconds=msg.after_ms), payload="status-due")

    def _answer_status_waiters(self) -> None:
        waiters, self.status_waiters = self.status_waiters, []
        if waiters:
            st = self._status()
            for w in waiters:
                self.send(w, st)

    def _status(self) -> StatusReport:
        pm = self._detail("pair_manager")
        th = self._detail("throttler")
        tel = self._detail("telemetry")
        br = self._detail("bridge")
        return StatusReport(
            t_ns=int(br.get("t_ns", 0)), session=str(pm.get("session", "starting")), armed=bool(pm.get("armed", False)),
            reason=str(pm.get("reason", "")), ticks=int(tel.get("ticks", 0)),
            ticks_per_s=float(tel.get("ticks_per_s", 0.0)), tokens_free=int(th.get("tokens_free", 0)),
            active_pairs=int(pm.get("active_pairs", 0)), pnl_net_krw=float(tel.get("pnl_net_krw", 0.0)),
            pairs_done=int(tel.get("pairs_done", 0)), paused=bool(th.get("paused", False)),
            step=int(br.get("step", 0)), flat=bool(pm.get("flat", True)), finished=self.finished is not None,
            detail=tuple(sorted({**{f"bridge.{k}": v for k, v in br.items()},
                                 **{f"pm.{k}": v for k, v in pm.items()}}.items())))

    def _detail(self, kind: str) -> dict[str, Any]:
        for c in self.children.values():
            if c.kind == kind:
                return c.detail
        return {}

    # -- the launcher -------------------------------------------------------------------------
    def _watch_launcher(self) -> None:
        """When the process that started the engine is gone, stop the run in order by ourselves: disarm,
        finish in-flight pairs, write the report, then shut the whole actor system down."""
        assert self.start is not None
        pid = self.start.launcher_pid
        if not pid or self.launcher_gone or process_alive(pid):
            return
        self.launcher_gone = True
        why = f"the launcher (pid {pid}) is gone"
        self._error(f"{why}: the engine stopped itself, wrote its report and shut its actor system down")
        if self.finished is None:
            self.receiveMsg_StopEngine(StopEngine(why), self.myAddress)
            self.wakeupAfter(dt.timedelta(seconds=self._launcher_gone_stop_s()), payload="launcher-gone-timeout")
        elif self.report is not None:
            self.wakeupAfter(dt.timedelta(seconds=SELF_SHUTDOWN_DELAY_S), payload="self-shutdown")
        # otherwise the report is on its way: receiveMsg_RunReport shuts the system down after it

    def _end_unfinished(self, reason: str, what: str) -> None:
        """End a run whose stop could not finish: the report is made from what the actors hold now."""
        self.receiveMsg_SessionFinished(SessionFinished(
            t_ns=int(self._detail("bridge").get("t_ns", 0)), step=int(self._detail("bridge").get("step", 0)),
            reason=reason, flat=bool(self._detail("pair_manager").get("flat", False)),
            error=f"{what}: open pairs may remain — check the broker's positions and the audit log"), self.myAddress)

    def _launcher_gone_stop_s(self) -> float:
        """How long a stop without a launcher may take: the stop's own bound plus a margin."""
        assert self.start is not None
        cfg = self.start.config
        return round((cfg.execution.t_hedge_ms + cfg.risk.unhedged_grace_ms) / 1000 + cfg.risk.session_end_grace_s
                     + LAUNCHER_GONE_MARGIN_S, 1)

    def _shut_the_system_down(self) -> None:
        """Nobody is left to shut this actor system down: a detached process does it (an actor cannot)."""
        assert self.start is not None
        shutdown_detached(self.start.base, self.start.admin_port)

    # -- failures ---------------------------------------------------------------------------
    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender: ActorAddress) -> None:
        dead = next((c for c in self.children.values() if c.address == msg.childAddress), None)
        if dead is None:
            return
        if dead.name in self.retiring:
            self.retiring.remove(dead.name)
            del self.children[dead.name]
            # normally retired only after the bridge released it; if it died earlier, no step waits
            self.send(self._addr("spread_engine"), ShardDown(dead.shard_id))
            return
        dead.alive = False
        if self.start is None or self.finished is not None:
            return
        if dead.kind == "shard" and dead.system is not None:
            self._replace_hosted_shard(dead, "it exited")
        elif dead.kind == "shard":
            self._error(f"{dead.name} exited; restarting it")
            self._restart_shard(dead)
        elif dead.kind == "throttler" and dead.restarts < MAX_THROTTLER_RESTARTS:
            # the bridge knows every order placed and when: a new Throttler rebuilds its token window from
            # that (ThrottlerLog) and the PairManager re-sends what the dead one had not released
            self._error(f"{dead.name} exited; restarting it and rebuilding its token window from the "
                               f"bridge's order log")
            new = self.createActor("actors.throttler.Throttler")
            del self.children[dead.name]
            name = f"Throttler@r{dead.restarts + 1}"
            self.children[name] = ChildInfo(name=name, address=new, kind="throttler", restarts=dead.restarts + 1)
            self._broadcast_wiring()
            assert self.start is not None
            recover = RecoverThrottler(f"{dead.name} died", new)
            self.send(new, recover)                  # before Configure: it must hold requests until the log
            self.send(new, Configure(self.start.config, self.start.universe, self.start.options))
            self.send(self._addr("bridge"), recover)
            self.send(self._addr("pair_manager"), recover)
        elif dead.kind == "pair_manager" and dead.restarts < MAX_PAIR_MANAGER_RESTARTS:
            # the bridge holds every order placed and every broker event: a new PairManager
            # rebuilds the pairs from them (RecoveryLog) and the session goes on
            self._error(f"{dead.name} exited; restarting it and rebuilding its pairs from the bridge's log")
            new = self.createActor("actors.pair_manager.PairManager")
            del self.children[dead.name]
            name = f"PairManager@r{dead.restarts + 1}"
            self.children[name] = ChildInfo(name=name, address=new, kind="pair_manager",
                                            restarts=dead.restarts + 1)
            self._broadcast_wiring()
            assert self.start is not None
            why = RecoverPairManager(f"{dead.name} died", new)
            self.send(new, why)                  # before Configure: it must not step before recovering
            self.send(new, Configure(self.start.config, self.start.universe, self.start.options))
            self.send(self._addr("bridge"), why)
            self.send(self._addr("spread_engine"), why)
        elif dead.kind == "spread_engine":
            # no signal will come any more: stop, and let the PairManager step without signals so that the
            # open pairs are still hedged and the book ends flat
            self._error(f"{dead.name} exited unexpectedly; no new pairs, the run stops and the open pairs "
                               f"are finished without it")
            self.aborted = f"{dead.name} died"
            self.send(self._addr("bridge"), SignalsLost(f"{dead.name} died"))      # touches from the bridge
            self.send(self._addr("pair_manager"), SignalsLost(f"{dead.name} died"))
            self.send(self._addr("bridge"), StopEngine(f"{dead.name} died"))
            self.wakeupAfter(dt.timedelta(seconds=DEAD_CHILD_STOP_S), payload=f"stop-timeout:{dead.name}")
        else:
            # Telemetry (the audit log, the counters) or an actor without a recovery path: trading without an
            # audit trail is not allowed, so the run stops; the open pairs are still finished
            self._error(f"{dead.name} exited unexpectedly; the run cannot continue safely")
            self.aborted = f"{dead.name} died"
            self.send(self._addr("bridge"), StopEngine(f"{dead.name} died"))
            # the bridge finishes only on a credit, which may need the dead actor: bound the wait
            self.wakeupAfter(dt.timedelta(seconds=DEAD_CHILD_STOP_S), payload=f"stop-timeout:{dead.name}")

    def _restart_shard(self, dead: ChildInfo) -> None:
        """A new shard for ``dead``'s slot and id, on the leader: it registers the same screens and the bridge
        hands it the latest quote of every code (and the step in flight), so its book is whole again."""
        self.send(self._addr("spread_engine"), ShardDown(dead.shard_id))
        del self.children[dead.name]
        if 0 <= dead.slot < len(self._placement):
            self._placement = tuple(None if i == dead.slot else p for i, p in enumerate(self._placement))
        name = f"MarketData[{dead.slot}]@{self.generation}r{dead.restarts + 1}"
        self._spawn(name, SHARD_CLASS, "shard", shard_id=dead.shard_id, slot=dead.slot,
                    restarts=dead.restarts + 1)
        self._broadcast_wiring()
        self._send_assignment(self.children[name])

    def _replace_hosted_shard(self, dead: ChildInfo, why: str) -> None:
        """A shard on a shard host is gone (it exited, its host left, or it fell silent): replace it on the
        leader, counted in the report's ``extra.shards.moves``."""
        dead.alive = False
        if dead.name in self.retiring:
            # retiring anyway: nothing to replace, and no step waits for it
            self.retiring.remove(dead.name)
            del self.children[dead.name]
            self.send(self._addr("spread_engine"), ShardDown(dead.shard_id))
            return
        if self.start is None or self.finished is not None:
            return
        self.send(dead.address, ActorExitRequest())      # in case it lives on, cut off: it must not register again
        self._error(f"{dead.name} on shard host {dead.system_label} is gone ({why}); replaced on the leader: its "
                    f"screens re-registered and the bridge handed the replacement the latest quote of every code")
        self.observe(ShardMoved(self._engine_t_ns(), dead.name, dead.shard_id, dead.system_label, why))
        self.flush_telemetry()
        self._restart_shard(dead)

    def _watch_hosted_shards(self) -> None:
        """A hosted shard that has not answered heartbeats for 3 intervals + 1 s (a host that died without
        leaving the convention: the convention itself notices only after minutes) is replaced on the leader.
        One never heard from gets three times as long (it is created over the network)."""
        assert self.start is not None
        if self.finished is not None:
            return
        limit = 3 * self.start.config.telemetry.heartbeat_interval_ms / 1000 + 1.0
        now = time.monotonic()
        for c in [c for c in self.children.values() if c.kind == "shard" and c.system is not None and c.alive]:
            silent = now - c.last_pong_wall if c.last_pong_wall is not None else (now - c.created_wall) / 3
            if silent > limit:
                self._replace_hosted_shard(c, f"no heartbeat for {silent:.1f} s")

    def receiveMsg_ActorSystemConventionUpdate(self, msg: ActorSystemConventionUpdate, sender: ActorAddress) -> None:
        """A system joined or left the engine's convention: keep the shard hosts; a host that left has its
        shards replaced on the leader."""
        caps = msg.remoteCapabilities or {}
        host_id = caps.get(SHARD_HOST_ID)
        if not caps.get(SHARD_HOST_CAPABILITY) or not isinstance(host_id, str):
            return
        if msg.remoteAdded:
            sock = getattr(getattr(msg.remoteAdminAddress, "addressDetails", None), "sockname", None)
            port = int(caps.get("Admin Port") or (sock[1] if sock else 0))
            address = f"{sock[0]}:{sock[1]}" if sock else str(msg.remoteAdminAddress)
            self.shard_hosts[host_id] = ShardHost(host_id, address, port, tuple(caps.get(SHARD_HOST_NAMES) or ()))
            log.warning("Supervisor: shard host %s joined (%s)", address, host_id)
            return
        host = self.shard_hosts.pop(host_id, None)
        label = host.address if host is not None else host_id
        self._placement, _ = fall_back(self._placement, host_id)
        for c in [c for c in self.children.values() if c.system == host_id and c.kind == "shard" and c.alive]:
            self._replace_hosted_shard(c, f"shard host {label} left the convention")

    def receiveMsg_BookChecked(self, msg: BookChecked, sender: ActorAddress) -> None:
        """The SpreadEngine's end-of-run book check (into the report's ``extra.shards``)."""
        self.book_checked = msg
        self.book_check_waiting = False
        if msg.mismatched:
            self._error(f"book check: {msg.mismatched} of {msg.symbols} symbols in the SpreadEngine's book differ "
                        f"from the bridge's last quote at step {msg.step} ({', '.join(msg.codes)})")
        self._maybe_request_report()

    def receiveMsg_PoisonMessage(self, msg: PoisonMessage, sender: ActorAddress) -> None:
        self._error(f"poison message from {sender}: {type(msg.poisonMessage).__name__} {msg.details}")

    # -- live re-sharding -------------------------------------------------------------------
    def receiveMsg_ScaleShards(self, msg: ScaleShards, sender: ActorAddress) -> None:
        if self.start is None or msg.shards < 1:
            self.send(sender, ScaleResult(False, msg.shards, "engine not started" if self.start is None
                                          else "shards must be ≥ 1"))
            return
        current = self._shard_children()
        n = len(assign_shards(self._screens(), msg.shards))
        try:
            host = resolve_host(msg.host, list(self.shard_hosts.values())) if msg.host else None
            placement = place_shards([c.system for c in sorted(current, key=lambda c: c.slot)], n,
                                     host.host_id if host is not None else None)
        except PlacementError as exc:
            few = f" ({n} screen(s) allow at most {n} shard(s))" if n < msg.shards else ""
            self.send(sender, ScaleResult(False, msg.shards, f"{exc}{few}"))
            return
        self.generation += 1
        self.retiring.extend(c.name for c in current)
        self._build_shards(msg.shards, placement)
        self.scale_pending = {c.name: c for c in self._shard_children()}
        self.scale_requester = sender
        self._broadcast_wiring()
        for c in self._shard_children():
            self._send_assignment(c)

    def receiveMsg_ScreensRegistered(self, msg: ScreensRegistered, sender: ActorAddress) -> None:
        if msg.error:
            self._error(f"shard {msg.shard_id}: {msg.error}")
        if not self.scale_pending or msg.generation != self.generation:
            return
        for name, c in list(self.scale_pending.items()):
            if c.shard_id == msg.shard_id:
                del self.scale_pending[name]
        if not self.scale_pending:
            # every screen is routed to the new generation; the old shards are retired one by one
            # as the bridge releases them (ShardReleased: no step in flight still includes them)
            shards = self._shard_children()
            n = len(shards)
            hosted = [c for c in shards if c.system is not None]
            where = (f" ({len(hosted)} on shard host {', '.join(sorted({c.system_label for c in hosted}))})"
                     if hosted else "")
            if self.scale_requester is not None:
                self.send(self.scale_requester, ScaleResult(True, n, f"re-sharded to {n} shard(s){where}, "
                                                            f"generation {self.generation}"))
                self.scale_requester = None

    def receiveMsg_ShardReleased(self, msg: ShardReleased, sender: ActorAddress) -> None:
        for name in list(self.retiring):
            c = self.children.get(name)
            if c is not None and c.shard_id == msg.shard_id:
                self.send(c.address, ActorExitRequest())

    # -- the account (SPEC §10) ----------------------------------------------------------------
    def receiveMsg_ArmCode(self, msg: ArmCode, sender: ActorAddress) -> None:
        """arbctl arm CODE / the GUI: pass the re-arm to the bridge (the desk hears it in its next step)."""
        bridge = self._addr("bridge")
        if self.start is None or bridge is None or self.finished is not None:
            self.send(sender, ArmResult(False, "no engine is running" if self.finished is None
                                        else "the run has finished"))
            return
        if msg.code not in {s.code for s in self.start.universe.symbols}:
            self.send(sender, ArmResult(False, f"{msg.code} is not in the universe"))
            return
        self.send(bridge, msg)
        self.send(sender, ArmResult(True, f"re-arm of {msg.code} passed to the engine: it applies at the next step"))

    def receiveMsg_AccountViewRequest(self, msg: AccountViewRequest, sender: ActorAddress) -> None:
        """arbctl symbols --account / the GUI: the PairManager answers the asker directly."""
        pm = self._addr("pair_manager")
        if pm is not None:
            self.send(pm, AccountViewRequest(sender))

    # -- stopping and reporting -------------------------------------------------------------
    def receiveMsg_StopEngine(self, msg: StopEngine, sender: ActorAddress) -> None:
        if self._addr("bridge") is not None:
            self.send(self._addr("bridge"), msg)

    def receiveMsg_SessionFinished(self, msg: SessionFinished, sender: ActorAddress) -> None:
        if self.finished is not None:
            return
        self.finished = msg
        if msg.error:
            self._error(msg.error)
        self._answer_status_waiters()
        # every actor sends Telemetry what it still holds before the report is made
        # by address equality: the address createActor returned may print differently from the
        # one a reply comes from (Thespian fills in the real address later), but they compare equal
        self.flush_waiting = [c.address for c in self.children.values()
                              if c.alive and c.kind not in ("telemetry", "bridge")]
        # the SpreadEngine's book check races the flushes (it comes from the bridge's last message to it)
        self.book_check_waiting = msg.book_check and self.book_checked is None and self._alive("spread_engine")
        for addr in self.flush_waiting:
            self.send(addr, FlushTelemetry())
        self.wakeupAfter(dt.timedelta(seconds=FLUSH_TIMEOUT_S), payload="flush-timeout")
        self._maybe_request_report()

    def receiveMsg_TelemetryFlushed(self, msg: TelemetryFlushed, sender: ActorAddress) -> None:
        self.flush_waiting = [a for a in self.flush_waiting if a != sender]
        self._maybe_request_report()

    def _maybe_request_report(self, timed_out: bool = False) -> None:
        if self.report_requested or self.finished is None:
            return
        if (self.flush_waiting or self.book_check_waiting) and not timed_out:
            return
        if self.flush_waiting:
            self._error(f"{len(self.flush_waiting)} actor(s) did not flush their telemetry within "
                               f"{FLUSH_TIMEOUT_S:g} s; the report may miss their last observations")
        if self.book_check_waiting:
            self._error(f"the SpreadEngine's end-of-run book check did not come back within {FLUSH_TIMEOUT_S:g} s")
        self.report_requested = True
        tel = self._addr("telemetry")
        if not self._alive("telemetry"):
            self._final_report(self._report_without_telemetry())
            return
        if self.errors:
            # into the report files too, not only the returned dict
            self.send(tel, TelemetryBatch(tuple(ErrorRaised(t, "Supervisor", e) for t, e in self.errors)))
        self.send(tel, TelemetryBatch((self._shards_checked(),)))
        self.send(tel, ReportRequest())

    def _shards_checked(self) -> ShardsChecked:
        """Where the shards ran at the end and the SpreadEngine's book check (``checked`` False without one)."""
        bc = self.book_checked
        systems = tuple((c.name, c.system_label) for c in self._shard_children())
        if bc is None:
            return ShardsChecked(self._engine_t_ns(), systems, False)
        return ShardsChecked(self._engine_t_ns(), systems, True, bc.symbols, bc.mismatched, bc.codes, bc.gap_steps)

    def receiveMsg_ReportRequest(self, msg: ReportRequest, sender: ActorAddress) -> None:
        if self.report is not None:
            self.send(sender, self.report)
        elif msg.partial:
            # the launcher gives up waiting: what Telemetry holds now, marked partial, files written
            self.partial_waiters.append(sender)
            tel = self._addr("telemetry")
            if self.errors:
                self.send(tel, TelemetryBatch(tuple(ErrorRaised(t, "Supervisor", e) for t, e in self.errors)))
                self.errors = []
            self.send(tel, ReportRequest(partial=True))
        else:
            self.report_waiters.append(sender)

    def _alive(self, kind: str) -> bool:
        return any(c.kind == kind and c.alive for c in self.children.values())

    def _report_without_telemetry(self) -> RunReport:
        """The report when Telemetry died: its counters are gone, so only what the Supervisor knows — the
        positions the PairManager holds, how the run finished, every error — marked partial and loud."""
        assert self.start is not None and self.finished is not None
        from outputs.report import write_run_report
        from outputs.telemetry_book import TelemetryBook
        book = TelemetryBook(self.start.config, self.start.options.backend, len(self.start.universe))
        rep = book.report()
        pm = self._detail("pair_manager")
        positions = {}
        for item in str(pm.get("open_positions", "") or "").split(","):
            if ":" in item:
                code, qty = item.split(":", 1)
                positions[code] = int(qty)
        rep["net_position"] = positions
        rep["extra"]["partial"] = True
        rep["extra"]["telemetry_lost"] = True
        rep["extra"]["flat"] = not positions and bool(pm.get("flat", False))
        t_ns = self.finished.t_ns
        rep["errors"] = [{"ts": "", "t_ns": t, "source": "Supervisor", "message": e} for t, e in self.errors] + [
            {"ts": "", "t_ns": t_ns, "source": "Supervisor",
             "message": "TELEMETRY LOST: the counters, PnL and latencies of this run died with the Telemetry actor; "
                        "this report only holds the positions the PairManager knows. The audit log up to its death "
                        "is in the run folder"}]
        self.errors = []
        paths: tuple[str, ...] = ()
        try:
            paths = tuple(write_run_report(rep, self.start.options.run_dir))
        except OSError as exc:
            rep["errors"].append({"ts": "", "t_ns": t_ns, "source": "Supervisor",
                                  "message": f"the report files could not be written: {exc}"})
        return RunReport(rep, paths)

    def _error(self, message: str) -> None:
        """An error for the report, stamped with the engine clock now (sent with the report request)."""
        self.errors.append((self._engine_t_ns(), message))

    def _engine_t_ns(self) -> int:
        return int(self._detail("bridge").get("t_ns", 0))

    def receiveMsg_RunReport(self, msg: RunReport, sender: ActorAddress) -> None:
        rep = self._with_finish(msg.report)
        if rep.get("extra", {}).get("partial"):
            for w in self.partial_waiters:
                self.send(w, RunReport(rep, msg.paths))
            self.partial_waiters = []
            return
        self._final_report(RunReport(rep, msg.paths))

    def _with_finish(self, report: dict[str, Any]) -> dict[str, Any]:
        """``report`` with how the run finished under ``extra.finished`` (once it has)."""
        rep = dict(report)
        if self.finished is not None:
            rep["extra"] = {**(rep.get("extra") or {}), "finished": {
                "reason": self.finished.reason, "flat": self.finished.flat, "step": self.finished.step,
                "rows": self.finished.rows, "error": self.finished.error, "aborted": self.aborted}}
        return rep

    def _final_report(self, report: RunReport) -> None:
        self.report = RunReport(self._with_finish(report.report), report.paths)
        for w in self.report_waiters:
            self.send(w, self.report)
        self.report_waiters = []
        if self.launcher_gone:
            self.wakeupAfter(dt.timedelta(seconds=SELF_SHUTDOWN_DELAY_S), payload="self-shutdown")
