"""Control messages: heartbeats and health, status, live re-sharding, stopping, PairManager recovery,
the end-of-run telemetry flush and the report."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thespian.actors import ActorAddress

from core.order_flow import CancelRequest, OrderRequest, PlacedCancel, PlacedOrder
from core.pair_desk import RecoveredStep
from protocol.compact_repr import compact_repr
from protocol.steps import StepDone

__all__ = ["AccountView", "AccountViewRequest", "ActorHealth", "ArmCode", "ArmResult", "ClockEcho", "ClockProbe",
           "Detail", "DetailValue",
           "FlushTelemetry", "HealthReport", "HealthRequest", "Ping", "Pong", "RecoverPairManager",
           "RecoverThrottler", "RecoveryLog", "ReportRequest", "RunReport", "ScaleResult", "ScaleShards",
           "SessionFinished", "SignalsLost", "StatusReport", "StatusRequest", "StopEngine", "TelemetryFlushed",
           "ThrottlerBacklog", "ThrottlerLog"]

DetailValue = str | int | float | bool | None
#: An actor's state for the health and status views: ``((name, value), ...)``.
Detail = tuple[tuple[str, DetailValue], ...]


@dataclass(frozen=True, slots=True)
class Ping:
    """Supervisor → every child, each heartbeat."""

    nonce: int


@dataclass(frozen=True, slots=True)
class Pong:
    """Actor → Supervisor: alive, with its counters and state."""

    nonce: int
    name: str
    pid: int
    msgs_in: int
    msgs_out: int
    pending: int
    detail: Detail = ()


@dataclass(frozen=True, slots=True)
class ClockProbe:
    """Bridge → Supervisor (paced and live runs): what is your latency clock now? ``sent_ns``: the bridge's
    monotonic clock when it sent this (see :mod:`core.clock_offset`)."""

    sent_ns: int


@dataclass(frozen=True, slots=True)
class ClockEcho:
    """Supervisor → bridge: the probe's ``sent_ns`` and the engine's monotonic clock when it answered."""

    sent_ns: int
    engine_ns: int


@dataclass(frozen=True, slots=True)
class HealthRequest:
    """arbctl/GUI → Supervisor: answer a :class:`HealthReport`."""


@dataclass(frozen=True, slots=True)
class ActorHealth:
    """One actor's health: alive = answered a heartbeat recently (``heartbeat_age_s``)."""

    name: str
    address: str
    pid: int
    alive: bool
    heartbeat_age_s: float | None
    msgs_in: int
    msgs_out: int
    pending: int
    restarts: int = 0
    system: str = "local"          # the actor system it runs in: "local" (the leader) or a shard host's address


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class HealthReport:
    """Supervisor → asker: every actor's health at wall time ``t_ns``."""

    actors: tuple[ActorHealth, ...]
    t_ns: int = 0

    @property
    def healthy(self) -> bool:
        """At least one actor and every one alive."""
        return bool(self.actors) and all(a.alive for a in self.actors)


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """arbctl/launcher/GUI → Supervisor: answer a :class:`StatusReport`; ``after_ms`` > 0: answer that much wall time
    later, or as soon as the run has finished (an in-process engine runs while its caller waits for this answer)."""

    after_ms: int = 0


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class StatusReport:
    """Supervisor's one-glance status (arbctl status, the headless status line). PnL in KRW."""

    t_ns: int
    session: str
    armed: bool
    reason: str
    ticks: int
    ticks_per_s: float
    tokens_free: int
    active_pairs: int
    pnl_net_krw: float
    pairs_done: int
    paused: bool = False
    step: int = 0
    flat: bool = True
    finished: bool = False
    detail: Detail = ()


@dataclass(frozen=True, slots=True)
class ScaleShards:
    """arbctl scale → Supervisor: re-shard the running system to ``shards`` MarketData actors; the shards added
    go to the shard host ``host`` names (``HOST:ADMIN_PORT``), or to the leader when it is None."""

    shards: int
    host: str | None = None


@dataclass(frozen=True, slots=True)
class ScaleResult:
    """Supervisor → arbctl: the re-sharding's outcome."""

    ok: bool
    shards: int
    message: str


@dataclass(frozen=True, slots=True)
class StopEngine:
    """Disarm, let in-flight pairs finish, write the report, stop stepping."""

    reason: str


@dataclass(frozen=True, slots=True)
class RecoverPairManager:
    """Supervisor → new PairManager, Bridge and SpreadEngine: a new PairManager replaces a dead one.

    It waits for the bridge's :class:`RecoveryLog` before stepping; the bridge sends that log and re-sends
    the in-flight step, the SpreadEngine its last signals. ``pair_manager`` is the new actor's address (the
    Wiring that also names it may arrive later: Thespian does not order messages across sends).
    """

    reason: str
    pair_manager: ActorAddress | None = None


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class RecoveryLog:
    """Bridge → new PairManager: every order and cancel placed and the credited steps that mattered
    (broker events, or a deadline falling due), in order; :meth:`core.pair_desk.PairDesk.recover` replays
    them. ``inflight_step`` (-1 if none) is the step the dead PairManager never credited: its ExecBatch
    follows. ``incarnation`` numbers the PairManager (new pair ids never collide with earlier ones)."""

    orders: tuple[PlacedOrder, ...]
    cancels: tuple[PlacedCancel, ...]
    steps: tuple[RecoveredStep, ...]
    t_ns: int
    inflight_step: int = -1
    incarnation: int = 1


@dataclass(frozen=True, slots=True)
class RecoverThrottler:
    """Supervisor → new Throttler, Bridge and PairManager: a new Throttler replaces a dead one.

    The new one holds every request until the bridge's :class:`ThrottlerLog` has told it which orders were
    placed and when (so it never exceeds the rate or places an order twice); the PairManager re-sends the
    requests the dead one had not released and its last credit. ``throttler`` is the new actor's address.
    """

    reason: str
    throttler: ActorAddress | None = None


@dataclass(frozen=True, slots=True)
class ThrottlerLog:
    """Bridge → new Throttler: ``(ref, token_ns)`` of every order and cancel placed, in order, and the
    engine clock ``t_ns``; the token window is rebuilt from the recent ones."""

    placed: tuple[tuple[str, int], ...]
    t_ns: int


@dataclass(frozen=True, slots=True)
class SignalsLost:
    """Supervisor → PairManager: the SpreadEngine died (the run is stopping). Step on the bridge's batches
    alone from now on, with no new signals, so the open pairs are hedged and the book ends flat."""

    reason: str


@dataclass(frozen=True, slots=True)
class ThrottlerBacklog:
    """PairManager → new Throttler: the requests the PairManager made that no send result or denial has
    answered yet (the dead Throttler may have held them), oldest first, and the last step credit it sent
    through the Throttler. Orders and cancels already placed are dropped by ref; a take that was not placed
    is denied (its prices are stale); the rest go out as usual."""

    requests: tuple[OrderRequest | CancelRequest, ...]
    credit: StepDone | None


@dataclass(frozen=True, slots=True)
class SessionFinished:
    """Bridge → Supervisor: stepping ended (duration reached / replay exhausted / stop) and the engine
    reported flat, or ``error`` says why not. ``rows``: market rows handed to the shards over the run;
    ``book_check``: the bridge asked the SpreadEngine for the end-of-run book check (its answer goes into the
    report, so the Supervisor waits for it as it waits for the telemetry flushes)."""

    t_ns: int
    step: int
    reason: str
    flat: bool
    error: str = ""
    rows: int = 0
    book_check: bool = False


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """Launcher → Supervisor → Telemetry: the run report, once the run has finished.

    ``partial``: now, whether or not the run has finished (the launcher is giving up waiting): the report
    says it is partial and the files are written all the same.
    """

    partial: bool = False


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class RunReport:
    """Telemetry → Supervisor → launcher: the SPEC §5 report (a JSON-ready dict) and the files written."""

    report: dict[str, Any]
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FlushTelemetry:
    """Supervisor → every actor at the end of a run: send Telemetry what you hold, then answer
    :class:`TelemetryFlushed` (the report is requested only after every answer)."""


@dataclass(frozen=True, slots=True)
class TelemetryFlushed:
    """Actor → Supervisor: everything observed has been sent to Telemetry."""

    name: str = ""


@dataclass(frozen=True, slots=True)
class ArmCode:
    """arbctl/GUI → Supervisor → bridge: re-arm ``code`` (frozen until re-armed by a reconciliation mismatch
    or a failed flatten); the pair desk hears it in the next step."""

    code: str
    reason: str = "operator"


@dataclass(frozen=True, slots=True)
class ArmResult:
    """Supervisor → asker: the re-arm was passed on (``ok``) or why not."""

    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class AccountViewRequest:
    """arbctl/GUI → Supervisor → PairManager: answer an :class:`AccountView` to ``reply_to`` (the asker)."""

    reply_to: ActorAddress | None = None


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class AccountView:
    """PairManager → asker: every code of the universe as the account sees it.

    ``rows``: ``(code, held, sellable, expected, tradeable, why_not)``; ``cash_krw`` the orderable cash
    tracked; ``known`` whether the broker has reported the account yet.
    """

    rows: tuple[tuple[str, int, int, int, bool, str], ...]
    cash_krw: float
    known: bool
