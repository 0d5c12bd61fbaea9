"""The run's book of counters: fed by :mod:`core.observations`, it gives the live figures and the SPEC §5
run report.

Everything here is pure: no actors, no threads, no clock reads. Time comes in with each observation as
``t_ns`` (the engine clock), so a ``--speed max`` replay produces the same report every time. Money comes
from the pair desk's ledger (:class:`core.ledger.Ledger`) inside :class:`~core.observations.FillBooked`
and :class:`~core.observations.PairClosed`: the book keeps no ledger of its own, only the latest totals.

Units: ``*_ns`` integers are nanoseconds, ``*_ms`` floats are milliseconds, ``*_s`` seconds, money is KRW.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from core.clock import NS_PER_S, kst_datetime
from core.ledger import CashTotals
from core.observations import (
    AccountReported,
    AuditEvent,
    AutoPauseChanged,
    CodeRearmed,
    ConnectionObserved,
    ErrorRaised,
    FillBooked,
    FlattenFailed,
    HedgeTimedOut,
    KillSwitchTripped,
    LatencyObserved,
    LatencyStage,
    Observation,
    OperatorActed,
    OrderAudited,
    PairClosed,
    ReconcileMismatch,
    RefusalStorm,
    RejectSpike,
    ReplaySourceDescribed,
    SessionChanged,
    ShardMoved,
    ShardsChecked,
    SignalObserved,
    SignalsHeld,
    TicksCounted,
    TokensObserved,
    VolatilityObserved,
)
from outputs.stats import LatencyStats, MaxInWindow, RollingRate

if TYPE_CHECKING:
    from config.schema import EngineConfig

__all__ = ["CORE_LATENCIES", "TelemetryBook", "iso_kst", "observation_kind"]

log = logging.getLogger("arb.telemetry")

#: The four latencies the SPEC §5 report always carries, in report order.
CORE_LATENCIES = (LatencyStage.TICK_TO_SIGNAL, LatencyStage.SIGNAL_TO_SEND, LatencyStage.SEND_TO_ACK,
                  LatencyStage.UNHEDGED)
#: Window of the rolling reject/timeout rates (seed 003 §3: "rolling 5 min").
RATE_WINDOW_NS = 300 * NS_PER_S
#: Window of the live ticks/s figure.
TICK_RATE_WINDOW_NS = 5 * NS_PER_S
#: At most this many entries are kept in each event list of the report (kill switches, errors, ...).
MAX_LIST_ENTRIES = 10_000
#: At most this many observations that could not be accounted are described in ``errors``.
MAX_BAD_EVENT_ERRORS = 100
#: The kinds of reject: the broker's (a failed send, an ack without an order number, a refused order), the
#: order-rate refusals (-308, or the bridge's own guard), and orders lost without trace (no ack in time).
REJECT_KINDS = ("broker", "rate_limited", "lost")

_KIND: dict[type, str] = {
    TicksCounted: "ticks", SignalObserved: "signal", LatencyObserved: "latency", OrderAudited: "order",
    FillBooked: "fill", KillSwitchTripped: "kill_switch", RejectSpike: "reject_spike", RefusalStorm: "refusal_storm",
    ConnectionObserved: "connection", HedgeTimedOut: "hedge_timeout",
    ErrorRaised: "error", SessionChanged: "session", AutoPauseChanged: "auto_pause", TokensObserved: "tokens",
    ReplaySourceDescribed: "replay_source", AccountReported: "account", ReconcileMismatch: "reconcile_mismatch",
    CodeRearmed: "rearm", FlattenFailed: "flatten_failed", OperatorActed: "operator", VolatilityObserved: "vi",
    SignalsHeld: "signals_held", ShardMoved: "shard_moved", ShardsChecked: "shards_checked",
}


def observation_kind(obs: Observation) -> str:
    """The report's name for the kind of ``obs`` (``events_by_kind``): ``fill``, ``pair_done``, ..."""
    if isinstance(obs, PairClosed):
        return "pair_done" if obs.done else "pair_failed"
    return _KIND.get(type(obs), type(obs).__name__)


def iso_kst(t_ns: int) -> str:
    """``t_ns`` (ns since the epoch) as an ISO-8601 Asia/Seoul timestamp with microseconds."""
    return kst_datetime(int(t_ns)).isoformat(timespec="microseconds")


class _SymbolRow(TypedDict):
    """One row of the report's ``extra.symbols_table``: a symbol's counters, cash (KRW) and latency (ms)."""

    code: str
    signals: int
    pairs_done: int
    pairs_failed: int
    escalated: int
    orders_sent: int
    cancels: int
    rejects: int
    timeouts: int
    reject_rate: float | None
    fills: int
    buy_qty: int
    sell_qty: int
    net_position: int
    gross_krw: float
    fees_krw: float
    tax_krw: float
    net_krw: float
    avg_net_bps: float | None
    unhedged_p95_ms: float | None
    unhedged_p50_ms: float | None


@dataclass(slots=True)
class _Symbol:
    signals: int = 0
    pairs_done: int = 0
    pairs_failed: int = 0
    escalated: int = 0
    orders_sent: int = 0
    cancels: int = 0
    rejects: int = 0
    timeouts: int = 0
    cash: CashTotals = field(default_factory=CashTotals)
    net_bps_sum: float = 0.0
    net_bps_n: int = 0
    unhedged: LatencyStats = field(default_factory=lambda: LatencyStats(exact_capacity=10_000))


class TelemetryBook:
    """Every counter of a run, fed by observations.

    Feed them with :meth:`consume`; read the live figures with :meth:`snapshot` and the SPEC §5 run report
    with :meth:`report`. An observation that cannot be accounted never raises: it is counted and described
    (the first :data:`MAX_BAD_EVENT_ERRORS`) in the report's ``errors`` with source ``telemetry``.

    Conventions:

    * ``orders.sent`` counts new orders that reached the broker (audit ``send``), ``orders.cancels``
      cancels that reached it (``cancel_send``); both count against the 5/s cap, so ``max_in_any_1s``
      is over both.
    * Reject/timeout rates are per order attempt that reached the broker (sends + cancels), over 5 minutes.
    * ``net_position`` and ``pnl_krw`` are the ledger's, from the latest booked fill.

    Args:
      config: The :class:`~config.schema.EngineConfig` (or None for defaults).
      backend: ``"sim"``, ``"replay"`` or ``"kiwoom"``.
      symbols: The universe size.
    """

    def __init__(self, config: EngineConfig | None = None, backend: str = "sim", symbols: int = 0) -> None:
        self.config = config
        self.backend = str(backend)
        self.symbols = int(symbols)
        tel = config.telemetry if config is not None else None
        self.slo_targets_ms = {
            LatencyStage.TICK_TO_SIGNAL: tel.slo_targets_ms.tick_to_signal_p95 if tel else 25,
            LatencyStage.SIGNAL_TO_SEND: tel.slo_targets_ms.signal_to_send_p95 if tel else 15,
            LatencyStage.SEND_TO_ACK: tel.slo_targets_ms.send_to_ack_p95 if tel else 150,
        }
        self.autopause_threshold = float(tel.orders_utilization_autopause.threshold if tel else 0.8)
        self.orders_cap_per_s = int(config.kiwoom.rate_limits.orders_per_sec if config is not None else 5)

        self.ticks = 0
        self.signals = 0
        self.signals_by_direction: Counter[str] = Counter()
        self._signal_bps_sum = 0.0
        self.pairs_done = 0
        self.pairs_failed = 0
        self.pairs_escalated = 0
        self.orders_sent = 0
        self.cancels = 0
        self.rejects_by_kind: Counter[str] = Counter({kind: 0 for kind in REJECT_KINDS})
        self.timeouts = 0
        self.refused = 0
        self.denied = 0
        self.reject_spikes = 0
        self.refusal_storms: list[dict[str, Any]] = []
        self.disconnects = 0
        self.reconnects = 0
        self.alert_delivery: dict[str, Any] | None = None   # the Slack alerter's counts, set by its owner
        self.order_events: Counter[str] = Counter()
        self.events_by_kind: Counter[str] = Counter()
        self.bad_events = 0
        self.dropped_entries = 0

        self.cash = CashTotals()
        self.marked_net = 0.0
        self.net_position: dict[str, int] = {}
        self._pair_bps_sum = 0.0
        self._pair_bps_n = 0
        self._cum_pair_net: int | float = 0
        self.pnl_timeline: list[tuple[int, int | float]] = []
        self._open_pairs_with_fills: set[str] = set()
        self._symbols: dict[str, _Symbol] = {}

        self.latency: dict[LatencyStage, LatencyStats] = {stage: LatencyStats() for stage in LatencyStage}
        self._sends = MaxInWindow(NS_PER_S)
        self._attempts_5m = RollingRate(RATE_WINDOW_NS)
        self._rejects_5m = RollingRate(RATE_WINDOW_NS)
        self._timeouts_5m = RollingRate(RATE_WINDOW_NS)
        self._ticks_rate = RollingRate(TICK_RATE_WINDOW_NS)

        self.kill_switch_events: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.armed: bool | None = None
        self.session_reason = ""
        self.auto_pause_episodes: list[dict[str, Any]] = []
        self._pause_started_ns: int | None = None
        self._pause_peak = 0.0
        self.paused = False
        self.tokens_free: int | None = None
        self.utilisation: float | None = None
        self._tokens_min: int | None = None
        self._tokens_sum = 0
        self._tokens_n = 0
        self._util_max = 0.0
        self._last_tokens_ns: int | None = None
        self._hot_ns = 0                       # engine time with utilisation ≥ the auto-pause threshold
        self.replay_source: dict[str, Any] | None = None
        self.account = _AccountBook()
        self.operator_actions: list[dict[str, Any]] = []
        self.reject_reasons: Counter[str] = Counter()
        self.vi_events = 0
        self.vi_list: list[dict[str, Any]] = []
        self.in_vi: tuple[str, ...] = ()
        self.signals_held: dict[str, int] = {}
        self.shard_moves: list[dict[str, Any]] = []
        self.shards_checked: ShardsChecked | None = None
        self.first_t_ns: int | None = None
        self.last_t_ns: int | None = None
        self._handlers: dict[type, Callable[[Any], None]] = {
            TicksCounted: self._on_ticks, SignalObserved: self._on_signal, LatencyObserved: self._on_latency,
            OrderAudited: self._on_order, FillBooked: self._on_fill, PairClosed: self._on_pair_closed,
            KillSwitchTripped: self._on_kill_switch, RejectSpike: self._on_reject_spike,
            RefusalStorm: self._on_refusal_storm, ConnectionObserved: self._on_connection,
            HedgeTimedOut: self._on_hedge_timeout, ErrorRaised: self._on_error, SessionChanged: self._on_session,
            AutoPauseChanged: self._on_auto_pause, TokensObserved: self._on_tokens,
            ReplaySourceDescribed: self._on_replay_source, AccountReported: self.account.on_report,
            ReconcileMismatch: self.account.on_mismatch, CodeRearmed: self.account.on_rearm,
            FlattenFailed: self.account.on_flatten_failed, OperatorActed: self._on_operator,
            VolatilityObserved: self._on_vi, SignalsHeld: self._on_signals_held,
            ShardMoved: self._on_shard_moved, ShardsChecked: self._on_shards_checked,
        }

    # -- input -------------------------------------------------------------------------------
    def consume(self, obs: Observation) -> None:
        """Account for one observation."""
        self.events_by_kind[observation_kind(obs)] += 1
        try:
            handler = self._handlers.get(type(obs))
            if handler is None:
                raise TypeError(f"not an observation: {type(obs).__name__}")
            t_ns = int(obs.t_ns)
            if self.first_t_ns is None or t_ns < self.first_t_ns:
                self.first_t_ns = t_ns
            if self.last_t_ns is None or t_ns > self.last_t_ns:
                self.last_t_ns = t_ns
            handler(obs)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._bad_event(obs, exc)

    def consume_many(self, observations: Iterable[Observation]) -> None:
        """:meth:`consume` each observation, in order."""
        for obs in observations:
            self.consume(obs)

    def record_error(self, source: str, message: str) -> None:
        """An error found outside the observations (an audit write, the Prometheus port)."""
        self.consume(ErrorRaised(self.last_t_ns or 0, source, message))

    def _bad_event(self, obs: object, exc: Exception) -> None:
        self.bad_events += 1
        if self.bad_events <= MAX_BAD_EVENT_ERRORS:
            message = f"observation {type(obs).__name__} not accounted: {type(exc).__name__}: {exc}"
            log.warning("telemetry: %s", message)
            t = getattr(obs, "t_ns", None)
            self._append(self.errors, {"ts": self._ts(t), "t_ns": t if isinstance(t, int) else None,
                                       "source": "telemetry", "message": message})

    def _ts(self, t_ns: object) -> str:
        if not isinstance(t_ns, int):
            return ""
        try:
            return iso_kst(t_ns)
        except (OverflowError, OSError, ValueError):
            return ""

    def _append(self, target: list[dict[str, Any]], entry: dict[str, Any]) -> None:
        if len(target) < MAX_LIST_ENTRIES:
            target.append(entry)
        else:
            self.dropped_entries += 1

    def _symbol(self, code: str) -> _Symbol:
        sym = self._symbols.get(code)
        if sym is None:
            sym = self._symbols[code] = _Symbol()
        return sym

    # -- handlers (one per observation class) ------------------------------------------------
    def _on_ticks(self, obs: TicksCounted) -> None:
        self.ticks += obs.n
        self._ticks_rate.add(obs.t_ns, obs.n)

    def _on_signal(self, obs: SignalObserved) -> None:
        self.signals += 1
        self.signals_by_direction[obs.direction.label] += 1
        self._signal_bps_sum += float(obs.net_bps)
        self._symbol(obs.code).signals += 1

    def _on_latency(self, obs: LatencyObserved) -> None:
        self.latency[obs.stage].add(float(obs.ms))
        if obs.stage is LatencyStage.UNHEDGED and obs.code:
            self._symbol(obs.code).unhedged.add(float(obs.ms))

    def _on_order(self, obs: OrderAudited) -> None:
        event = obs.event
        self.order_events[event.value] += 1
        sym = self._symbol(obs.code) if obs.code and event is not AuditEvent.VI else None
        t_ns = obs.t_ns
        if event in (AuditEvent.SEND, AuditEvent.CANCEL_SEND):
            if obs.wire_code not in (None, 0):
                self.refused += 1
                return
            self._sends.add(t_ns)
            self._attempts_5m.add(t_ns)
            if event is AuditEvent.SEND:
                self.orders_sent += 1
                if sym:
                    sym.orders_sent += 1
            else:
                self.cancels += 1
                if sym:
                    sym.cancels += 1
        elif event is AuditEvent.SEND_REFUSED:
            self.refused += 1
            self._attempts_5m.add(t_ns)        # a SendOrder call all the same
            self._reject("rate_limited", t_ns, sym)
        elif event is AuditEvent.DENIED:
            self.denied += 1
        elif event is AuditEvent.REJECT:
            self.reject_reasons[obs.message or "no reason given"] += 1
            self._reject("broker", t_ns, sym)
        elif event is AuditEvent.LOST:
            self._reject("lost", t_ns, sym)
        elif event is AuditEvent.TIMEOUT:
            self.timeouts += 1
            self._timeouts_5m.add(t_ns)
            if sym:
                sym.timeouts += 1

    def _reject(self, kind: str, t_ns: int, sym: _Symbol | None) -> None:
        self.rejects_by_kind[kind] += 1
        self._rejects_5m.add(t_ns)
        if sym:
            sym.rejects += 1

    @property
    def rejects(self) -> int:
        """Every reject: the broker's, the order-rate refusals (-308 or the bridge's guard), lost acks."""
        return sum(self.rejects_by_kind.values())

    @property
    def attempts(self) -> int:
        """SendOrder calls: orders and cancels sent, and the ones refused for the order rate."""
        return self.orders_sent + self.cancels + self.refused

    def _on_fill(self, obs: FillBooked) -> None:
        self.account.on_fill(obs)
        self.cash = obs.session
        self.marked_net = float(obs.marked_net_krw)
        self.net_position[obs.code] = obs.position_after
        self._symbol(obs.code).cash = obs.symbol
        if obs.pair_id:
            self._open_pairs_with_fills.add(obs.pair_id)

    def _on_pair_closed(self, obs: PairClosed) -> None:
        if obs.done:
            self.pairs_done += 1
        else:
            self.pairs_failed += 1
        if obs.escalated:
            self.pairs_escalated += 1
        sym = self._symbol(obs.code) if obs.code else None
        if sym:
            if obs.done:
                sym.pairs_done += 1
            else:
                sym.pairs_failed += 1
            sym.escalated += int(obs.escalated)
        self._open_pairs_with_fills.discard(obs.pair_id)
        if obs.cash.fills:
            self._cum_pair_net += obs.cash.net_krw
            if len(self.pnl_timeline) < MAX_LIST_ENTRIES:
                self.pnl_timeline.append((obs.t_ns, self._cum_pair_net))
            bps = obs.cash.net_bps
            if bps is not None:
                self._pair_bps_sum += bps
                self._pair_bps_n += 1
                if sym:
                    sym.net_bps_sum += bps
                    sym.net_bps_n += 1

    def _on_kill_switch(self, obs: KillSwitchTripped) -> None:
        if not obs.code:                       # engine-wide: disarmed until the operator re-arms
            self.armed = False
            self.session_reason = f"disarmed: {obs.reason}"
        entry: dict[str, Any] = {"ts": iso_kst(obs.t_ns), "t_ns": obs.t_ns, "kind": obs.kind, "code": obs.code,
                                 "reason": obs.reason}
        if obs.until_ns is not None:
            entry["until_ns"] = obs.until_ns
        self._append(self.kill_switch_events, entry)

    def _on_reject_spike(self, obs: RejectSpike) -> None:
        self.reject_spikes += 1

    def _on_refusal_storm(self, obs: RefusalStorm) -> None:
        self._append(self.refusal_storms, {"ts": iso_kst(obs.t_ns), "t_ns": obs.t_ns, "refusals": obs.refusals,
                                           "window_s": obs.window_s, "total": obs.total})

    def _on_connection(self, obs: ConnectionObserved) -> None:
        if obs.connected:
            self.reconnects += 1
        else:
            self.disconnects += 1

    def _on_hedge_timeout(self, obs: HedgeTimedOut) -> None:
        pass                                   # counted in events_by_kind; alerted

    def _on_error(self, obs: ErrorRaised) -> None:
        self._append(self.errors, {"ts": iso_kst(obs.t_ns), "t_ns": obs.t_ns, "source": obs.source,
                                   "message": obs.message})

    def _on_replay_source(self, obs: ReplaySourceDescribed) -> None:
        """What the replay found in its recording (SPEC §6: said once, and kept in the report)."""
        self.replay_source = {
            "files": list(obs.files), "fid41_meaning": obs.fid41_meaning,
            "size_check_applied": obs.size_check_applied, "assumed_visible_qty": obs.assumed_visible_qty,
            "description": obs.description, "rows_read": obs.rows_read, "rows_replayed": obs.rows_replayed,
            "notes": list(obs.notes), "symbols": obs.symbols, "symbols_source": obs.symbols_source,
            "symbols_notes": list(obs.symbols_notes),
        }

    def _on_operator(self, obs: OperatorActed) -> None:
        self._append(self.operator_actions, {
            "ts": iso_kst(obs.t_ns), "t_ns": obs.t_ns, "action": obs.action.value if obs.action else "config",
            "code": obs.code, "reason": obs.reason, "applied": obs.applied, "message": obs.message,
            "source": obs.source})

    def _on_session(self, obs: SessionChanged) -> None:
        self.armed = obs.armed
        self.session_reason = obs.reason
        entry: dict[str, Any] = {"ts": iso_kst(obs.t_ns), "t_ns": obs.t_ns, "armed": obs.armed, "reason": obs.reason,
                                 "code": obs.raw}
        if obs.operation is not None:
            entry["operation"] = obs.operation.value
        self._append(self.sessions, entry)

    def _on_vi(self, obs: VolatilityObserved) -> None:
        """A volatility interruption began or ended (SPEC §11): counted, listed, and the codes in VI now."""
        if obs.active:
            self.vi_events += 1
        self.in_vi = tuple(obs.in_vi)
        entry: dict[str, Any] = {"ts": iso_kst(obs.t_ns), "t_ns": obs.t_ns, "code": obs.code,
                                 "venue": obs.venue.value, "event": "start" if obs.active else "end",
                                 "kind": obs.kind.value}
        if obs.active and obs.trigger_price:
            entry["trigger_price"] = obs.trigger_price
        if not obs.active and obs.since_ns:
            entry["duration_s"] = (obs.t_ns - obs.since_ns) / NS_PER_S
        self._append(self.vi_list, entry)

    def _on_signals_held(self, obs: SignalsHeld) -> None:
        self.signals_held = dict(obs.held)

    def _on_shard_moved(self, obs: ShardMoved) -> None:
        """A shard host's shard replaced on the leader (SPEC §8): listed under ``extra.shards.moves``."""
        self._append(self.shard_moves, {"ts": iso_kst(obs.t_ns), "t_ns": obs.t_ns, "shard": obs.shard,
                                        "shard_id": obs.shard_id, "from": obs.from_system, "to": "local",
                                        "why": obs.why})

    def _on_shards_checked(self, obs: ShardsChecked) -> None:
        self.shards_checked = obs

    def _shards(self) -> dict[str, Any]:
        """``extra.shards``: where each shard ran at the end, the moves, the gap and the end-of-run book check."""
        c = self.shards_checked
        return {"systems": dict(c.systems) if c is not None else {}, "moves": list(self.shard_moves),
                "moved": len(self.shard_moves), "gap_steps": c.gap_steps if c is not None and c.checked else None,
                "book_check": ({"symbols": c.symbols, "mismatched": c.mismatched, "codes": list(c.codes)}
                               if c is not None and c.checked else None)}

    def _on_auto_pause(self, obs: AutoPauseChanged) -> None:
        self.utilisation = float(obs.utilisation)
        self._util_max = max(self._util_max, self.utilisation)
        t_ns = obs.t_ns
        if obs.on and self._pause_started_ns is None:
            self._pause_started_ns = t_ns
            self._pause_peak = self.utilisation
        elif obs.on:
            self._pause_peak = max(self._pause_peak, self.utilisation)
        elif not obs.on and self._pause_started_ns is not None:
            start = self._pause_started_ns
            self._append(self.auto_pause_episodes, {
                "start": iso_kst(start), "end": iso_kst(t_ns), "start_ns": start, "end_ns": t_ns,
                "duration_s": (t_ns - start) / NS_PER_S, "peak_utilisation": self._pause_peak})
            self._pause_started_ns = None
        self.paused = obs.on

    def _on_tokens(self, obs: TokensObserved) -> None:
        t_ns = obs.t_ns
        if self._last_tokens_ns is not None and self.utilisation is not None \
                and self.utilisation >= self.autopause_threshold and t_ns > self._last_tokens_ns:
            self._hot_ns += t_ns - self._last_tokens_ns
        self._last_tokens_ns = t_ns if self._last_tokens_ns is None else max(self._last_tokens_ns, t_ns)
        self.tokens_free = obs.free
        self._tokens_min = obs.free if self._tokens_min is None else min(self._tokens_min, obs.free)
        self._tokens_sum += obs.free
        self._tokens_n += 1
        self.utilisation = float(obs.utilisation)
        self._util_max = max(self._util_max, self.utilisation)
        self.paused = obs.paused

    # -- derived figures ---------------------------------------------------------------------
    def _rate(self, num: RollingRate, now_ns: int) -> float | None:
        den = self._attempts_5m.count(now_ns)
        return num.count(now_ns) / den if den else None

    @property
    def max_in_any_1s(self) -> int:
        """Most orders + cancels that reached the broker in any 1-second window."""
        return self._sends.value

    def pnl(self) -> dict[str, int | float | bool]:
        """``{"gross", "fees", "tax", "net"}`` in KRW.

        While a position is open, cash flows would count an unhedged sale's proceeds as profit: then gross
        and net value the open shares at their last fill (the ledger's marked net) and ``cash_net`` keeps the
        plain cash figure, with ``marked_at_last_fill`` true.
        """
        c = self.cash
        if not any(self.net_position.values()):
            return {"gross": c.gross_krw, "fees": c.fees_krw, "tax": c.tax_krw, "net": c.net_krw}
        marked = self.marked_net
        return {"gross": marked + c.fees_krw + c.tax_krw, "fees": c.fees_krw, "tax": c.tax_krw, "net": marked,
                "cash_net": c.net_krw, "marked_at_last_fill": True}

    def snapshot(self, now_ns: int | None = None) -> dict[str, Any]:
        """Live figures at ``now_ns`` (default: the newest event time) for the status line, GUI and metrics."""
        now = int(now_ns) if now_ns is not None else (self.last_t_ns or 0)
        return {
            "t_ns": now,
            "backend": self.backend,
            "ticks": self.ticks,
            "ticks_per_s": self._ticks_rate.per_second(now),
            "signals": self.signals,
            "orders_sent": self.orders_sent,
            "cancels": self.cancels,
            "rejects": self.rejects,
            "rejects_by_kind": dict(self.rejects_by_kind),
            "refused": self.refused,
            "timeouts": self.timeouts,
            "disconnects": self.disconnects,
            "refusal_storms": len(self.refusal_storms),
            "alerts_undelivered": (self.alert_delivery or {}).get("undelivered", 0),
            "orders_last_1s": self._sends.count_at(now),
            "max_in_any_1s": self.max_in_any_1s,
            "attempts_5m": self._attempts_5m.count(now),
            "rejects_5m": self._rejects_5m.count(now),
            "timeouts_5m": self._timeouts_5m.count(now),
            "reject_rate_5m": self._rate(self._rejects_5m, now),
            "timeout_rate_5m": self._rate(self._timeouts_5m, now),
            "utilisation": self.utilisation,
            "tokens_free": self.tokens_free,
            "paused": self.paused,
            "armed": self.armed,
            "session_reason": self.session_reason,
            "pairs_done": self.pairs_done,
            "pairs_failed": self.pairs_failed,
            "pairs_escalated": self.pairs_escalated,
            "pnl_krw": self.pnl(),
            "pnl_marked_net_krw": self.marked_net,
            "open_positions": sum(1 for q in self.net_position.values() if q),
            "latency_p95_ms": {stage.value: st.percentile(95) for stage, st in self.latency.items()},
            "kill_switch_events": len(self.kill_switch_events),
            "errors": len(self.errors),
            "vi_events": self.vi_events,
            "in_vi": list(self.in_vi),
        }

    def report(self) -> dict[str, Any]:
        """The SPEC §5 run report (plain JSON-serialisable dict), with details under ``extra``."""
        now = self.last_t_ns or 0
        latency = {stage.value: self.latency[stage].summary() for stage in CORE_LATENCIES}
        return {
            "backend": self.backend,
            "symbols": self.symbols,
            "ticks": self.ticks,
            "signals": self.signals,
            "pairs": {"done": self.pairs_done, "failed": self.pairs_failed, "escalated": self.pairs_escalated},
            "orders": {"sent": self.orders_sent, "cancels": self.cancels, "rejects": self.rejects,
                       "timeouts": self.timeouts, "max_in_any_1s": self.max_in_any_1s},
            "net_position": {code: int(q) for code, q in sorted(self.net_position.items())},
            "inventory": self.account.inventory(),
            "pnl_krw": self.pnl(),
            "latency_ms": latency,
            "kill_switch_events": list(self.kill_switch_events),
            "errors": list(self.errors),
            "vi_events": self.vi_events,
            "extra": self._extra(now, latency),
        }

    def _extra(self, now: int, latency: dict[str, dict[str, Any]]) -> dict[str, Any]:
        attempts = self.attempts
        slo = {}
        for stage, target in self.slo_targets_ms.items():
            p95 = latency[stage.value]["p95"]
            slo[stage.value] = {"target_p95_ms": target, "measured_p95_ms": p95,
                                "met": None if p95 is None else bool(p95 <= target)}
        pause_open = None
        if self._pause_started_ns is not None:
            pause_open = {"start": iso_kst(self._pause_started_ns), "start_ns": self._pause_started_ns,
                          "duration_s": (now - self._pause_started_ns) / NS_PER_S}
        pause_total = sum(e["duration_s"] for e in self.auto_pause_episodes) + (pause_open or {}).get("duration_s", 0)
        symbols_table: list[_SymbolRow] = []
        for code, s in sorted(self._symbols.items()):
            c = s.cash
            symbols_table.append({
                "code": code, "signals": s.signals, "pairs_done": s.pairs_done, "pairs_failed": s.pairs_failed,
                "escalated": s.escalated, "orders_sent": s.orders_sent, "cancels": s.cancels,
                "rejects": s.rejects, "timeouts": s.timeouts,
                "reject_rate": s.rejects / (s.orders_sent + s.cancels) if s.orders_sent + s.cancels else None,
                "fills": c.fills, "buy_qty": c.buy_qty, "sell_qty": c.sell_qty,
                "net_position": self.net_position.get(code, 0),
                "gross_krw": c.gross_krw, "fees_krw": c.fees_krw, "tax_krw": c.tax_krw, "net_krw": c.net_krw,
                "avg_net_bps": s.net_bps_sum / s.net_bps_n if s.net_bps_n else None,
                "unhedged_p95_ms": s.unhedged.percentile(95), "unhedged_p50_ms": s.unhedged.percentile(50),
            })
        symbols_table.sort(key=lambda r: (-r["net_krw"], r["code"]))
        closed = self.pairs_done + self.pairs_failed
        c = self.cash
        return {
            "slo": slo,
            "latency_ms": {stage.value: st.summary() for stage, st in self.latency.items()
                           if stage not in CORE_LATENCIES},
            "latency_detail": {stage.value: st.stats() for stage, st in self.latency.items()},
            "orders": {
                "attempts": attempts, "refused": self.refused, "denied": self.denied,
                "rejects_by_kind": dict(self.rejects_by_kind), "refusal_storms": list(self.refusal_storms),
                "by_event_type": dict(sorted(self.order_events.items())),
                "reject_rate": self.rejects / attempts if attempts else None,
                "timeout_rate": self.timeouts / attempts if attempts else None,
                "cancel_ratio": self.cancels / self.orders_sent if self.orders_sent else None,
                "rejects_last_5m": self._rejects_5m.count(now), "timeouts_last_5m": self._timeouts_5m.count(now),
                "reject_rate_last_5m": self._rate(self._rejects_5m, now),
                "timeout_rate_last_5m": self._rate(self._timeouts_5m, now),
                "orders_cap_per_s": self.orders_cap_per_s,
                "reject_spikes": self.reject_spikes,
            },
            "pairs": {
                "hit_rate": self.pairs_done / closed if closed else None,
                "avg_net_bps": self._pair_bps_sum / self._pair_bps_n if self._pair_bps_n else None,
                "open_with_fills": len(self._open_pairs_with_fills),
            },
            "pnl": {"buy_cash_krw": c.buy_cash_krw, "sell_cash_krw": c.sell_cash_krw,
                    "buy_qty": c.buy_qty, "sell_qty": c.sell_qty, "fills": c.fills,
                    "marked_net_krw": self.marked_net},
            "flat": all(q == 0 for q in self.net_position.values()),
            "connection": {"disconnects": self.disconnects, "reconnects": self.reconnects},
            "alerts": dict(self.alert_delivery) if self.alert_delivery is not None else None,
            "signals": {"by_direction": dict(sorted(self.signals_by_direction.items())),
                        "avg_net_bps": self._signal_bps_sum / self.signals if self.signals else None},
            "auto_pause": {"episodes": list(self.auto_pause_episodes), "count": len(self.auto_pause_episodes),
                           "open": pause_open, "total_s": pause_total},
            "tokens": {"last_free": self.tokens_free, "min_free": self._tokens_min,
                       "mean_free": self._tokens_sum / self._tokens_n if self._tokens_n else None,
                       "last_utilisation": self.utilisation, "max_utilisation": self._util_max,
                       "time_at_or_above_threshold_s": self._hot_ns / NS_PER_S,
                       "threshold": self.autopause_threshold},
            "sessions": list(self.sessions),
            "vi": {"events": list(self.vi_list), "in_vi_at_end": list(self.in_vi),
                   "signals_held": dict(sorted(self.signals_held.items()))},
            "shards": self._shards(),
            "symbols_table": symbols_table,
            "pnl_timeline": [[t, v] for t, v in self.pnl_timeline],
            "replay": dict(self.replay_source) if self.replay_source is not None else None,
            "operator_actions": list(self.operator_actions),
            "reject_reasons": dict(self.reject_reasons.most_common()),
            "events_by_kind": dict(sorted(self.events_by_kind.items())),
            "period": {
                "first_t_ns": self.first_t_ns, "last_t_ns": self.last_t_ns,
                "first_ts": iso_kst(self.first_t_ns) if self.first_t_ns is not None else None,
                "last_ts": iso_kst(self.last_t_ns) if self.last_t_ns is not None else None,
                "duration_s": ((self.last_t_ns - self.first_t_ns) / NS_PER_S
                               if self.first_t_ns is not None and self.last_t_ns is not None else 0.0),
            },
            "telemetry": {"bad_events": self.bad_events, "dropped_list_entries": self.dropped_entries},
            **self.account.extra(self.net_position),
        }


#: At most this many fills whose broker fee or tax differs from ours are listed in the report.
MAX_COST_DIFFERENCES = 1_000


class _AccountBook:
    """The report's account sections (SPEC §10), fed by the desk's account observations and the fills.

    * ``inventory`` ``{code: {start, end, net, unexplained}}`` from the desk's latest account report
      (``net`` the engine's own fills, ``unexplained`` = ``end − start − net``);
    * ``extra.account``: cash at the start and the end, untradeable codes, signals the account refused,
      reports applied and deferred;
    * ``extra.reconcile``: every RECONCILE MISMATCH and re-arm; ``extra.flatten_failed``: every FLATTEN FAILED
      with the open shares;
    * ``extra.broker_costs``: the broker's own fee and tax per fill (Chejan 938/939) against ours, with the
      fills where they differ, and the fills per tax year (the year of each trade's settlement).
    """

    def __init__(self) -> None:
        self.first: AccountReported | None = None
        self.last: AccountReported | None = None
        self.reports: Counter[str] = Counter()
        self.mismatches: list[dict[str, Any]] = []
        self.rearmed: list[dict[str, Any]] = []
        self.flatten_failed: list[dict[str, Any]] = []
        self.compared = 0
        self.not_reported = 0
        self.ours_fee: float = 0
        self.ours_tax: float = 0
        self.broker_fee = 0
        self.broker_tax = 0
        self.differences: list[dict[str, Any]] = []
        self.more_differences = 0
        self.tax_years: Counter[str] = Counter()

    def on_report(self, obs: AccountReported) -> None:
        if self.first is None:
            self.first = obs
        self.last = obs
        self.reports[obs.purpose] += 1

    def on_mismatch(self, obs: ReconcileMismatch) -> None:
        self.mismatches.append({"ts": iso_kst(obs.t_ns), "t_ns": obs.t_ns, "code": obs.code,
                                "expected": obs.expected_qty, "broker": obs.broker_qty,
                                "delta": obs.broker_qty - obs.expected_qty, "source": obs.source,
                                "frozen": obs.frozen})

    def on_rearm(self, obs: CodeRearmed) -> None:
        self.rearmed.append({"ts": iso_kst(obs.t_ns), "t_ns": obs.t_ns, "code": obs.code,
                             "accepted_shares": obs.accepted_shares, "reason": obs.reason})

    def on_flatten_failed(self, obs: FlattenFailed) -> None:
        self.flatten_failed.append({"ts": iso_kst(obs.t_ns), "t_ns": obs.t_ns, "pair_id": obs.pair_id,
                                    "code": obs.code, "venue": obs.venue.value, "open_shares": obs.open_shares,
                                    "reason": obs.reason})

    def on_fill(self, obs: FillBooked) -> None:
        if obs.tax_year is not None:
            self.tax_years[str(obs.tax_year)] += 1
        if obs.broker_fee_krw is None and obs.broker_tax_krw is None:
            self.not_reported += 1
            return
        self.compared += 1
        bf, bt = obs.broker_fee_krw or 0, obs.broker_tax_krw or 0
        self.ours_fee += obs.fee_krw
        self.ours_tax += obs.tax_krw
        self.broker_fee += bf
        self.broker_tax += bt
        if bf != obs.fee_krw or bt != obs.tax_krw:
            if len(self.differences) < MAX_COST_DIFFERENCES:
                self.differences.append({
                    "ts": iso_kst(obs.t_ns), "pair_id": obs.pair_id, "order_no": obs.order_no, "code": obs.code,
                    "venue": obs.venue.value, "side": obs.side.value, "qty": obs.qty, "price": obs.price,
                    "fee_ours": obs.fee_krw, "fee_broker": bf, "tax_ours": obs.tax_krw, "tax_broker": bt})
            else:
                self.more_differences += 1

    def inventory(self) -> dict[str, dict[str, int]]:
        if self.last is None:
            return {}
        return {code: {"start": start, "end": end, "net": net, "unexplained": end - start - net}
                for code, start, end, net in self.last.inventory}

    def extra(self, fills_position: dict[str, int]) -> dict[str, Any]:
        first, last = self.first, self.last
        account = None
        if last is not None:
            account = {
                "cash_start_krw": first.cash_krw if first is not None else None, "cash_end_krw": last.cash_krw,
                "deposit_end_krw": last.deposit_krw, "untradeable": list(last.untradeable),
                "untradeable_count": len(last.untradeable), "held_codes": len(last.holdings),
                "refused_signals": dict(last.refused), "mismatched_now": list(last.mismatched),
                "reports": dict(sorted(self.reports.items())), "deferred": last.deferred,
                "last_report": {"ts": iso_kst(last.t_ns), "purpose": last.purpose},
            }
        return {
            "account": account,
            "reconcile": {"mismatches": list(self.mismatches), "rearmed": list(self.rearmed)},
            "flatten_failed": list(self.flatten_failed),
            "broker_costs": {
                "fills_compared": self.compared, "fills_not_reported": self.not_reported,
                "ours": {"fees": self.ours_fee, "tax": self.ours_tax},
                "broker": {"fees": self.broker_fee, "tax": self.broker_tax},
                "differences": list(self.differences), "differences_not_listed": self.more_differences,
                "fills_by_tax_year": dict(sorted(self.tax_years.items())),
            },
        }
