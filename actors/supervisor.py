"""Supervisor: the root actor. Builds the engine from config, watches it, restarts what dies."""
from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from typing import Any

from thespian.actors import ActorAddress, ActorExitRequest, ChildActorExited, PoisonMessage, WakeupMessage

from actors.base import EngineActor
from actors.operator_gateway import OperatorGateway
from core.observations import ErrorRaised
from core.universe import assign_shards
from protocol.control import (
    ActorHealth,
    FlushTelemetry,
    HealthReport,
    HealthRequest,
    Ping,
    Pong,
    RecoverPairManager,
    ReportRequest,
    RunReport,
    ScaleResult,
    ScaleShards,
    SessionFinished,
    StatusReport,
    StatusRequest,
    StopEngine,
    TelemetryFlushed,
)
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

BRIDGE_CLASS = "actors.bridge.KiwoomBridge"
#: A PairManager that keeps dying points at a bug, not a glitch: after this many restarts the run stops.
MAX_PAIR_MANAGER_RESTARTS = 3
#: How long the end-of-run telemetry flush may take before the report is made without the laggards.
FLUSH_TIMEOUT_S = 5.0
#: After a child that cannot be restarted dies, how long the bridge gets to finish before the
#: Supervisor ends the run itself (the report then says it did not finish cleanly).
DEAD_CHILD_STOP_S = 30.0


@dataclass
class ChildInfo:
    """What the Supervisor knows about one child actor."""

    name: str
    address: Any
    kind: str
    shard_id: int = -1
    slot: int = -1                   # index in the current shard plan (shards only)
    pid: int = 0
    last_pong_wall: float | None = None
    msgs_in: int = 0
    msgs_out: int = 0
    pending: int = 0
    restarts: int = 0
    detail: dict[str, Any] = field(default_factory=dict)     # the child's last Pong.detail
    alive: bool = True


class Supervisor(OperatorGateway, EngineActor):
    """Creates Telemetry, the KiwoomBridge (placed by capability), the Throttler, the PairManager,
    the SpreadEngine and ``market_data.shards`` MarketData shards; wires them; pings them every
    ``telemetry.heartbeat_interval_ms``; restarts a dead shard (it re-registers its screens and the
    bridge sends it a full snapshot); answers health/status; re-shards live; stops the run and
    returns the report. Serves the operator's window (:class:`~actors.operator_gateway.OperatorGateway`).
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
        self.errors: list[str] = []
        self.flush_waiting: list[Any] = []
        self.report_requested = False

    # -- start-up ---------------------------------------------------------------------------
    def receiveMsg_StartEngine(self, msg: StartEngine, sender: ActorAddress) -> None:
        if self.start is not None:
            self.send(sender, EngineStarted(False, "engine already started"))
            return
        self.start = msg
        self.launcher = sender
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
        self._build_shards(cfg.market_data.shard_count())
        self._broadcast_wiring()
        conf = Configure(cfg, uni, opts)
        for kind in ("throttler", "pair_manager", "spread_engine", "bridge"):
            self.send(self._addr(kind), conf)
        self._assign_shards()
        self.wakeupAfter(dt.timedelta(milliseconds=cfg.telemetry.heartbeat_interval_ms), payload="heartbeat")
        self.send(sender, EngineStarted(True, "", tuple((c.name, str(c.address)) for c in self.children.values())))
        del bridge

    def _spawn(self, name: str, cls: str, kind: str, shard_id: int = -1, slot: int = -1) -> Any:
        addr = self.createActor(cls)
        self.children[name] = ChildInfo(name=name, address=addr, kind=kind, shard_id=shard_id, slot=slot)
        return addr

    def _addr(self, kind: str) -> Any:
        for c in self.children.values():
            if c.kind == kind:
                return c.address
        return None

    def _shard_children(self) -> list[ChildInfo]:
        return sorted((c for c in self.children.values() if c.kind == "shard" and c.name not in self.retiring),
                      key=lambda c: c.shard_id)

    def _build_shards(self, n: int) -> None:
        assert self.start is not None
        cfg, uni = self.start.config, self.start.universe
        sn = cfg.kiwoom.screen_numbers
        screens = uni.screens(per_screen=100, base=sn.marketdata_base, explicit=sn.marketdata)
        self._shard_plan = assign_shards(screens, n)
        for i, _ in enumerate(self._shard_plan):
            self._spawn(f"MarketData[{i}]@{self.generation}", "actors.market_data.MarketData", "shard",
                        shard_id=self.next_shard_id, slot=i)
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
            self.receiveMsg_SessionFinished(SessionFinished(
                t_ns=int(self._detail("bridge").get("t_ns", 0)), step=int(self._detail("bridge").get("step", 0)),
                reason=f"{who} died", flat=bool(self._detail("pair_manager").get("flat", False)),
                error=f"the run did not finish cleanly {DEAD_CHILD_STOP_S:g} s after {who} died: open pairs may "
                      f"remain — check the broker's positions and the audit log"), self.myAddress)
            return
        if msg.payload != "heartbeat" or self.start is None:
            return
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
            alive = c.alive and age is not None and age <= limit
            rows.append(ActorHealth(name=c.name, address=str(c.address), pid=c.pid, alive=alive,
                                    heartbeat_age_s=age, msgs_in=c.msgs_in, msgs_out=c.msgs_out,
                                    pending=c.pending, restarts=c.restarts))
        return HealthReport(tuple(rows), time.time_ns())

    def receiveMsg_HealthRequest(self, msg: HealthRequest, sender: ActorAddress) -> None:
        if self.start is None:
            self.send(sender, HealthReport(()))
            return
        self.send(sender, self._health())

    def receiveMsg_StatusRequest(self, msg: StatusRequest, sender: ActorAddress) -> None:
        self.send(sender, self._status())

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
        if dead.kind == "shard":
            self.errors.append(f"{dead.name} exited; restarting it")
            self.send(self._addr("spread_engine"), ShardDown(dead.shard_id))
            new = self.createActor("actors.market_data.MarketData")
            del self.children[dead.name]
            name = f"MarketData[{dead.slot}]@{self.generation}r{dead.restarts + 1}"
            self.children[name] = ChildInfo(name=name, address=new, kind="shard", shard_id=dead.shard_id,
                                            slot=dead.slot, restarts=dead.restarts + 1)
            self._broadcast_wiring()
            self._send_assignment(self.children[name])
        elif dead.kind == "pair_manager" and dead.restarts < MAX_PAIR_MANAGER_RESTARTS:
            # the bridge holds every order placed and every broker event: a new PairManager
            # rebuilds the pairs from them (RecoveryLog) and the session goes on
            self.errors.append(f"{dead.name} exited; restarting it and rebuilding its pairs from the bridge's log")
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
        else:
            self.errors.append(f"{dead.name} exited unexpectedly; the run cannot continue safely")
            self.send(self._addr("bridge"), StopEngine(f"{dead.name} died"))
            # the bridge finishes only on a credit, which may need the dead actor: bound the wait
            self.wakeupAfter(dt.timedelta(seconds=DEAD_CHILD_STOP_S), payload=f"stop-timeout:{dead.name}")

    def receiveMsg_PoisonMessage(self, msg: PoisonMessage, sender: ActorAddress) -> None:
        self.errors.append(f"poison message from {sender}: {type(msg.poisonMessage).__name__} {msg.details}")

    # -- live re-sharding -------------------------------------------------------------------
    def receiveMsg_ScaleShards(self, msg: ScaleShards, sender: ActorAddress) -> None:
        if self.start is None or msg.shards < 1:
            self.send(sender, ScaleResult(False, msg.shards, "engine not started" if self.start is None
                                          else "shards must be ≥ 1"))
            return
        old = [c.name for c in self._shard_children()]
        self.generation += 1
        self.retiring.extend(old)
        self._build_shards(msg.shards)
        self.scale_pending = {c.name: c for c in self._shard_children()}
        self.scale_requester = sender
        self._broadcast_wiring()
        for c in self._shard_children():
            self._send_assignment(c)

    def receiveMsg_ScreensRegistered(self, msg: ScreensRegistered, sender: ActorAddress) -> None:
        if msg.error:
            self.errors.append(f"shard {msg.shard_id}: {msg.error}")
        if not self.scale_pending or msg.generation != self.generation:
            return
        for name, c in list(self.scale_pending.items()):
            if c.shard_id == msg.shard_id:
                del self.scale_pending[name]
        if not self.scale_pending:
            # every screen is routed to the new generation; the old shards are retired one by one
            # as the bridge releases them (ShardReleased: no step in flight still includes them)
            n = len(self._shard_children())
            if self.scale_requester is not None:
                self.send(self.scale_requester, ScaleResult(True, n, f"re-sharded to {n} shard(s), "
                                                            f"generation {self.generation}"))
                self.scale_requester = None

    def receiveMsg_ShardReleased(self, msg: ShardReleased, sender: ActorAddress) -> None:
        for name in list(self.retiring):
            c = self.children.get(name)
            if c is not None and c.shard_id == msg.shard_id:
                self.send(c.address, ActorExitRequest())

    # -- stopping and reporting -------------------------------------------------------------
    def receiveMsg_StopEngine(self, msg: StopEngine, sender: ActorAddress) -> None:
        if self._addr("bridge") is not None:
            self.send(self._addr("bridge"), msg)

    def receiveMsg_SessionFinished(self, msg: SessionFinished, sender: ActorAddress) -> None:
        if self.finished is not None:
            return
        self.finished = msg
        if msg.error:
            self.errors.append(msg.error)
        # every actor sends Telemetry what it still holds before the report is made
        # by address equality: the address createActor returned may print differently from the
        # one a reply comes from (Thespian fills in the real address later), but they compare equal
        self.flush_waiting = [c.address for c in self.children.values()
                              if c.alive and c.kind not in ("telemetry", "bridge")]
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
        if self.flush_waiting and not timed_out:
            return
        if self.flush_waiting:
            self.errors.append(f"{len(self.flush_waiting)} actor(s) did not flush their telemetry within "
                               f"{FLUSH_TIMEOUT_S:g} s; the report may miss their last observations")
        self.report_requested = True
        tel = self._addr("telemetry")
        if self.errors:
            # into the report files too, not only the returned dict
            self.send(tel, TelemetryBatch(tuple(ErrorRaised(self.finished.t_ns, "Supervisor", e)
                                                for e in self.errors)))
        self.send(tel, ReportRequest())

    def receiveMsg_ReportRequest(self, msg: ReportRequest, sender: ActorAddress) -> None:
        if self.report is not None:
            self.send(sender, self.report)
        else:
            self.report_waiters.append(sender)

    def receiveMsg_RunReport(self, msg: RunReport, sender: ActorAddress) -> None:
        rep = dict(msg.report)
        if self.finished is not None:
            rep.setdefault("extra", {})["finished"] = {"reason": self.finished.reason, "flat": self.finished.flat,
                                                       "step": self.finished.step, "rows": self.finished.rows}
        self.report = RunReport(rep, msg.paths)
        for w in self.report_waiters:
            self.send(w, self.report)
        self.report_waiters = []
