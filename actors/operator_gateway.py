"""The Supervisor's door for the operator's window: coalesced snapshots and operator commands.

:class:`OperatorGateway` is mixed into :class:`actors.supervisor.Supervisor` (it uses the Supervisor's
children, status, health, shard plan and report). Protocol: :mod:`protocol.operator`.

* **Snapshots.** An :class:`OperatorSnapshotRequest` is answered from the gateway's cache when that is
  younger than :data:`protocol.operator.SNAPSHOT_MIN_INTERVAL_S`; otherwise one *gather* asks the
  PairManager, SpreadEngine, Telemetry and bridge for their part and answers every asker that came
  meanwhile. Nothing is asked of any actor while no window asks. The Symbols table is kept here with a
  version per row, so each window gets only the rows changed since the version it holds; the event feed
  is kept here as numbered lines, so each window gets only the lines it has not seen. A gather whose
  parts do not all answer within :data:`GATHER_TIMEOUT_S` is completed with the parts that did
  (the others are reported ``stale``) by the next request.
* **Commands.** :class:`OperatorCommand` and :class:`ConfigChangeRequest` are checked here (known code,
  keys safe to change live, the loader's own validation) and passed on: commands and configuration to the
  bridge, which carries them to the PairManager inside the next step; configuration also to the
  SpreadEngine directly. The answer says whether it was accepted; the effect shows in the next snapshot.
"""
from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from thespian.actors import ActorAddress

from config.live import apply_live_changes
from config.schema import EngineConfig
from core.enums import OperatorAction
from core.operator_view import SYMBOL_ROW_DTYPE, DeskView, FeedEntry, SymbolInfo
from protocol.operator import (
    SNAPSHOT_MIN_INTERVAL_S,
    BridgeView,
    ConfigChangeRequest,
    ConfigChangeResult,
    LiveConfig,
    OperatorCommand,
    OperatorCommandResult,
    OperatorDetail,
    OperatorDetailRequest,
    OperatorSnapshot,
    OperatorSnapshotRequest,
    SymbolsDelta,
    TelemetryView,
)

__all__ = ["GATHER_TIMEOUT_S", "OperatorGateway"]

#: A gather older than this (wall seconds) is completed by the next request with whatever answered.
GATHER_TIMEOUT_S = 2.0
#: The live report (Reports view) is refreshed at most this often (wall seconds).
REPORT_MIN_INTERVAL_S = 2.0
#: Feed lines the gateway keeps (a window attaching late sees at most these).
FEED_KEPT = 5_000
#: Feed lines in one answer (a window that fell far behind gets the newest ones).
FEED_PER_ANSWER = 2_000
#: The children asked in a gather: child kind → the part it answers.
PARTS = {"pair_manager": "desk", "spread_engine": "symbols", "telemetry": "telemetry", "bridge": "bridge"}


@dataclass
class _Gather:
    gather_id: int
    started: float
    waiting: set[str]
    include_report: bool
    include_symbols: bool
    waiters: list[tuple[Any, OperatorSnapshotRequest]] = field(default_factory=list)
    received: dict[str, Any] = field(default_factory=dict)


@dataclass
class _GatewayState:
    """What the gateway holds between requests (one per Supervisor, i.e. per engine run)."""

    epoch: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    gathers: int = 0
    gather: _Gather | None = None
    cached_at: float = -1e9
    report_at: float = -1e9
    symbols_at: float = -1e9
    desk: DeskView | None = None
    bridge: BridgeView | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    feed: deque[FeedEntry] = field(default_factory=lambda: deque(maxlen=FEED_KEPT))
    feed_seq: int = 0
    table: np.ndarray | None = None
    versions: np.ndarray | None = None
    symbols_version: int = 0
    symbols_t_ns: int = 0
    stale: tuple[str, ...] = ()
    universe_key: int = -1
    universe: tuple[SymbolInfo, ...] = ()
    shard_plan: tuple[tuple[int, str, int], ...] = ()
    config: EngineConfig | None = None
    config_version: int = 0


class OperatorGateway:
    """Mixin of the Supervisor that serves the operator's window (see the module docstring)."""

    # provided by the Supervisor / EngineActor
    start: Any
    finished: Any
    report: Any
    errors: list[tuple[int, str]]      # (engine t_ns, message), the Supervisor's
    children: dict[str, Any]
    generation: int
    _shard_plan: list[Any]

    if TYPE_CHECKING:     # the Supervisor's and EngineActor's methods (stubs only for the type checker)
        def send(self, targetAddr: ActorAddress, msg: Any) -> None: ...  # noqa: N803 (Thespian API)
        def _addr(self, kind: str) -> Any: ...
        def _status(self) -> Any: ...
        def _health(self) -> Any: ...
        def _detail(self, kind: str) -> dict[str, Any]: ...

    @property
    def _op(self) -> _GatewayState:
        st = self.__dict__.get("_operator_state")
        if st is None:
            st = self.__dict__["_operator_state"] = _GatewayState()
        return st

    # -- snapshots ---------------------------------------------------------------------------------------
    def receiveMsg_OperatorSnapshotRequest(self, msg: OperatorSnapshotRequest, sender: ActorAddress) -> None:
        st = self._op
        if self.start is None:
            self.send(sender, OperatorSnapshot(msg.request_id, st.epoch, time.time_ns(), started=False,
                                               status=None, health=None))
            return
        now = time.monotonic()
        g = st.gather
        if g is not None:
            if now - g.started < GATHER_TIMEOUT_S:
                g.waiters.append((sender, msg))
                return
            self._finish_gather()          # answers its waiters with what arrived
        fresh = now - st.cached_at < SNAPSHOT_MIN_INTERVAL_S
        report_fresh = not msg.include_report or now - st.report_at < REPORT_MIN_INTERVAL_S
        symbols_fresh = not msg.include_symbols or now - st.symbols_at < SNAPSHOT_MIN_INTERVAL_S
        if (fresh and report_fresh and symbols_fresh) or self.finished is not None and st.cached_at > 0 \
                and report_fresh:
            self.send(sender, self._snapshot_for(msg))
            return
        self._start_gather(sender, msg, now)

    def _start_gather(self, sender: ActorAddress, msg: OperatorSnapshotRequest, now: float) -> None:
        st = self._op
        st.gathers += 1
        symbols = msg.include_symbols or st.table is None
        targets: dict[str, Any] = {}
        for kind, part in PARTS.items():
            if part == "symbols" and not symbols:
                continue
            child = next((c for c in self.children.values() if c.kind == kind and c.alive), None)
            if child is not None:
                targets[part] = child.address
        g = _Gather(st.gathers, now, set(targets), msg.include_report, symbols, [(sender, msg)])
        st.gather = g
        req = OperatorDetailRequest(g.gather_id, feed_since=st.feed_seq,
                                    include_report=msg.include_report, include_symbols=symbols)
        for addr in targets.values():
            self.send(addr, req)
        if not targets:
            self._finish_gather()

    def receiveMsg_OperatorDetail(self, msg: OperatorDetail, sender: ActorAddress) -> None:
        g = self._op.gather
        if g is None or msg.gather_id != g.gather_id:
            return                     # a part that came after its gather was completed without it
        g.received[msg.part] = msg.data
        g.waiting.discard(msg.part)
        if not g.waiting:
            self._finish_gather()

    def _finish_gather(self) -> None:
        st = self._op
        g = st.gather
        if g is None:
            return
        st.gather = None
        rec = g.received
        desk = rec.get("desk")
        if isinstance(desk, DeskView):
            st.desk = desk
        bridge = rec.get("bridge")
        if isinstance(bridge, BridgeView):
            st.bridge = bridge
        tel = rec.get("telemetry")
        if isinstance(tel, TelemetryView):
            st.figures = tel.figures
            for e in tel.feed:
                if e.seq > st.feed_seq:
                    st.feed.append(e)
                    st.feed_seq = e.seq
            if tel.report is not None and g.include_report:
                st.report = tel.report
                st.report_at = time.monotonic()
        sym = rec.get("symbols")
        if isinstance(sym, SymbolsDelta):
            self._merge_symbols(sym)
            st.symbols_at = time.monotonic()
        st.stale = tuple(sorted(g.waiting))
        st.cached_at = time.monotonic()
        for sender, req in g.waiters:
            self.send(sender, self._snapshot_for(req))

    def _merge_symbols(self, delta: SymbolsDelta) -> None:
        st = self._op
        st.symbols_t_ns = delta.t_ns
        rows = delta.rows
        if st.table is None or st.versions is None:
            n = len(self.start.universe) if self.start is not None else len(rows)
            st.table = np.zeros(n, dtype=SYMBOL_ROW_DTYPE)
            st.table["sym"] = np.arange(n, dtype=np.int32)
            st.versions = np.zeros(n, dtype=np.int64)
        if len(rows) == 0:
            return
        st.symbols_version += 1
        st.table[rows["sym"]] = rows
        st.versions[rows["sym"]] = st.symbols_version

    def _universe(self) -> tuple[tuple[SymbolInfo, ...], tuple[tuple[int, str, int], ...]]:
        """Static symbol facts with their current screen and shard (recomputed after a re-sharding)."""
        st = self._op
        if st.universe_key != self.generation:
            uni = self.start.universe
            where: dict[str, tuple[str, int]] = {}
            plan = []
            for slot, screens in enumerate(self._shard_plan):
                for screen in screens:
                    plan.append((slot, screen.screen_no, len(screen.codes)))
                    for code in screen.codes:
                        where[code] = (screen.screen_no, slot)
            st.universe = tuple(SymbolInfo(s.code, s.name, str(s.market), bool(s.nxt),
                                           *where.get(s.code, ("", -1))) for s in uni.symbols)
            st.shard_plan = tuple(plan)
            st.universe_key = self.generation
        return st.universe, st.shard_plan

    def _snapshot_for(self, req: OperatorSnapshotRequest) -> OperatorSnapshot:
        st = self._op
        same = req.epoch == st.epoch
        since = req.symbols_since if same else 0
        feed_since = req.feed_since if same else 0
        universe, plan = self._universe()
        symbols = None
        if st.table is not None and st.versions is not None:
            if since <= 0 or since > st.symbols_version:
                symbols = SymbolsDelta(st.symbols_t_ns, st.table.copy(), True, st.symbols_version)
            else:
                symbols = SymbolsDelta(st.symbols_t_ns, st.table[st.versions > since], False, st.symbols_version)
        full = symbols is None or symbols.full
        feed = tuple(e for e in st.feed if e.seq > feed_since)[-FEED_PER_ANSWER:]
        return OperatorSnapshot(
            request_id=req.request_id, epoch=st.epoch, wall_ns=time.time_ns(), started=True,
            status=self._status(), health=self._health(), bridge=st.bridge, desk=st.desk, figures=st.figures,
            symbols=symbols, universe=universe if full else (), feed=feed, feed_seq=st.feed_seq,
            report=st.report if req.include_report else None,
            config=self._live_config() if not same or req.config_version != st.config_version else None,
            config_version=st.config_version, shard_plan=plan, stale=st.stale,
            throttle=tuple(sorted(self._detail("throttler").items())), errors=tuple(e for _, e in self.errors[-50:]),
            finished=self.finished is not None,
            final_report=self.report.report if self.report is not None else None)

    def _live_config(self) -> EngineConfig | None:
        st = self._op
        if st.config is None and self.start is not None:
            st.config = self.start.config
        return st.config

    # -- commands ----------------------------------------------------------------------------------------
    def receiveMsg_OperatorCommand(self, msg: OperatorCommand, sender: ActorAddress) -> None:
        refusal = self._command_refusal(msg)
        if refusal:
            self.send(sender, OperatorCommandResult(msg.request_id, False, refusal))
            return
        self.send(self._addr("bridge"), msg)
        what = f"{msg.action.value} {msg.code}".strip()
        self.send(sender, OperatorCommandResult(msg.request_id, True,
                                                f"{what}: sent; the PairManager applies it at the next step"))

    def _command_refusal(self, msg: OperatorCommand) -> str:
        if self.start is None:
            return "the engine has not started"
        if self.finished is not None:
            return "the run has finished"
        if self._addr("bridge") is None:
            return "no bridge to carry the command"
        action, code = msg.action, msg.code.strip()
        if action.needs_code and not code:
            return f"{action.value} needs a code"
        if code and code not in self.start.universe:
            return f"{code} is not in the engine's universe"
        if action is OperatorAction.DISARM and code:
            return "DISARM applies to the whole engine; to stop one code use MUTE CODE"
        return ""

    def receiveMsg_ConfigChangeRequest(self, msg: ConfigChangeRequest, sender: ActorAddress) -> None:
        st = self._op
        cfg = self._live_config()
        if cfg is None or self.start is None:
            self.send(sender, ConfigChangeResult(msg.request_id, False, "the engine has not started"))
            return
        if self.finished is not None:
            self.send(sender, ConfigChangeResult(msg.request_id, False, "the run has finished"))
            return
        try:
            new, changes = apply_live_changes(cfg, msg.changes)
        except ValueError as exc:
            self.send(sender, ConfigChangeResult(msg.request_id, False, str(exc), (), st.config_version))
            return
        if not changes:
            self.send(sender, ConfigChangeResult(msg.request_id, True, "nothing changed", (), st.config_version))
            return
        st.config = new
        st.config_version += 1
        live = LiveConfig(new, changes, msg.source)
        for kind in ("spread_engine", "bridge"):
            addr = self._addr(kind)
            if addr is not None:
                self.send(addr, live)
        self.send(sender, ConfigChangeResult(msg.request_id, True, "applied live: " + "; ".join(changes), changes,
                                             st.config_version))
