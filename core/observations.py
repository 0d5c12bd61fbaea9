"""What the engine tells Telemetry: one frozen class per kind of observation.

The actors and the pair desk produce these; Telemetry's book, the audit log, the Slack alerter and the
Prometheus exporter consume them, dispatching on the class (never on a string). Every observation has
``t_ns``, the engine clock when it happened (ns since the epoch). Latencies are milliseconds of wall
time, money KRW, quantities shares.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum, unique

from core.enums import Direction, MarketOperation, OperatorAction, OrderRole, OrderStyle, Side, Venue, ViKind
from core.ledger import CashTotals

__all__ = [
    "AccountReported", "AuditEvent", "AutoPauseChanged", "CodeRearmed", "ConnectionObserved", "ErrorRaised",
    "FillBooked", "FlattenFailed", "HedgeTimedOut", "KillSwitchTripped", "LatencyObserved", "LatencyStage",
    "Observation", "OperatorActed", "OrderAudited", "PairClosed", "ReconcileMismatch", "RefusalStorm",
    "RejectSpike", "ReplaySourceDescribed", "SessionChanged", "ShardMoved", "ShardsChecked", "SignalObserved",
    "SignalsHeld", "TicksCounted",
    "TokensObserved", "VolatilityObserved",
]


@unique
class LatencyStage(StrEnum):
    """The measured stages (SPEC §5): the first four are the run report's ``latency_ms``."""

    TICK_TO_SIGNAL = "tick_to_signal"
    SIGNAL_TO_SEND = "signal_to_send"
    SEND_TO_ACK = "send_to_ack"
    UNHEDGED = "unhedged"
    TAKE_FILL = "take_fill"
    HEDGE_COMPLETE = "hedge_complete"


@unique
class AuditEvent(StrEnum):
    """``event_type`` of an audit-log row (seed 003 minimal log schema)."""

    SEND = "send"
    SEND_REFUSED = "send_refused"
    ACK = "ack"
    REJECT = "reject"
    ACCEPTED = "accepted"
    FILL = "fill"
    CANCEL_SEND = "cancel_send"
    CANCEL_CONFIRMED = "cancel_confirmed"
    TIMEOUT = "timeout"
    LOST = "lost"
    DENIED = "denied"
    MESSAGE = "message"
    VI = "vi"


@dataclass(frozen=True, slots=True)
class TicksCounted:
    """``n`` real-data updates reached the SpreadEngine in one step."""

    t_ns: int
    n: int


@dataclass(frozen=True, slots=True)
class SignalObserved:
    """The SpreadEngine raised a signal on ``code`` (net edge per share, KRW and bps)."""

    t_ns: int
    code: str
    direction: Direction
    net_krw: float
    net_bps: float
    qty: int


@dataclass(frozen=True, slots=True)
class LatencyObserved:
    """One latency sample of ``stage`` in ms; ``code`` when it belongs to a symbol."""

    t_ns: int
    stage: LatencyStage
    ms: float
    code: str = ""


@dataclass(frozen=True, slots=True)
class OrderAudited:
    """One row of the audit log of every order event (seed 003 minimal log schema).

    ``wire_style`` (the broker's order-style code as sent), ``wire_code`` (its return code),
    ``broker_status`` (its word for a notice) and ``screen_no`` are the broker's own values, recorded
    as they came. ``None`` / ``""`` = not applicable to this event.
    """

    t_ns: int
    event: AuditEvent
    pair_id: str
    request_name: str = ""
    role: OrderRole | None = None
    venue: Venue | None = None
    code: str = ""
    side: Side | None = None
    qty: int | None = None
    style: OrderStyle | None = None
    wire_style: str = ""
    price: int | None = None
    order_no: str = ""
    orig_order_no: str = ""
    leaves_qty: int | None = None
    fill_qty: int | None = None
    fill_px: int | None = None
    exec_id: str = ""
    screen_no: str = ""
    request_code: str = ""
    broker_status: str = ""
    message: str = ""
    wire_code: int | None = None
    is_cancel: bool = False


@dataclass(frozen=True, slots=True)
class FillBooked:
    """A fill the ledger booked: its charges, the code's position after it and the running totals of
    the session and the code (each including this fill)."""

    t_ns: int
    pair_id: str
    code: str
    venue: Venue
    side: Side
    qty: int
    price: int | float
    fee_krw: int | float
    tax_krw: int | float
    position_after: int
    session: CashTotals
    symbol: CashTotals
    marked_net_krw: float
    order_no: str = ""
    broker_fee_krw: int | None = None
    broker_tax_krw: int | None = None
    tax_year: int | None = None


@dataclass(frozen=True, slots=True)
class PairClosed:
    """A pair ended: ``done`` (flat, every leg resolved) or failed; its own cash totals."""

    t_ns: int
    pair_id: str
    code: str
    done: bool
    escalated: bool
    reason: str
    cash: CashTotals


@dataclass(frozen=True, slots=True)
class KillSwitchTripped:
    """A freeze (``code`` set, until ``until_ns``) or a disarm (``code`` empty), with its reason."""

    t_ns: int
    kind: str
    code: str
    reason: str
    until_ns: int | None = None


@dataclass(frozen=True, slots=True)
class RejectSpike:
    """``rejects`` rejects within ``window_s`` on ``code``; ``frozen`` when the kill switch froze it."""

    t_ns: int
    code: str
    rejects: int
    window_s: int
    frozen: bool
    freeze_s: int


@dataclass(frozen=True, slots=True)
class RefusalStorm:
    """``refusals`` sends refused for the order rate (-308, or the bridge's guard) within ``window_s``;
    ``total`` refusals in the session so far."""

    t_ns: int
    refusals: int
    window_s: int
    total: int


@dataclass(frozen=True, slots=True)
class ConnectionObserved:
    """The broker connection went down (``connected`` False) or came back; ``reason`` as the bridge gave it."""

    t_ns: int
    connected: bool
    reason: str


@dataclass(frozen=True, slots=True)
class HedgeTimedOut:
    """The hedge post of ``pair_id`` did not complete within ``t_hedge_ms``: escalating."""

    t_ns: int
    pair_id: str
    code: str
    t_hedge_ms: int


@dataclass(frozen=True, slots=True)
class ErrorRaised:
    """Something went wrong that the operator must see (``source`` names where)."""

    t_ns: int
    source: str
    message: str


@dataclass(frozen=True, slots=True)
class SessionChanged:
    """The engine armed or disarmed (``reason`` says why), or a market-operation notice arrived
    (``operation`` set; ``raw`` the broker's code, ``known`` whether the bridge knew it)."""

    t_ns: int
    armed: bool
    reason: str
    operation: MarketOperation | None = None
    raw: str = ""
    known: bool = True
    meaning: str = ""


@dataclass(frozen=True, slots=True)
class AutoPauseChanged:
    """New entries paused (``on``) or resumed at order-token ``utilisation`` (0–1)."""

    t_ns: int
    on: bool
    utilisation: float


@dataclass(frozen=True, slots=True)
class TokensObserved:
    """The Throttler's order tokens at a step: ``free`` now, ``utilisation`` of the cap, ``paused``."""

    t_ns: int
    free: int
    utilisation: float
    paused: bool


@dataclass(frozen=True, slots=True)
class ReplaySourceDescribed:
    """What a replayed recording holds (SPEC §6: said once and kept in the report), and which of its symbols the
    replay trades (``symbols`` of them, from ``symbols_source``: ``'recording'`` or a universe file)."""

    t_ns: int
    files: tuple[str, ...]
    fid41_meaning: str
    size_check_applied: bool
    assumed_visible_qty: int
    description: str
    rows_read: int
    rows_replayed: int
    notes: tuple[str, ...] = ()
    symbols: int = 0
    symbols_source: str = ""
    symbols_notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReconcileMismatch:
    """RECONCILE MISMATCH: the broker holds ``broker_qty`` of ``code`` where the engine's fills explain
    ``expected_qty``; the code is frozen until re-armed (``frozen``). ``source``: which report showed it."""

    t_ns: int
    code: str
    expected_qty: int
    broker_qty: int
    source: str
    frozen: bool = True


@dataclass(frozen=True, slots=True)
class CodeRearmed:
    """The operator re-armed ``code``; ``accepted_shares`` the broker's difference accepted as the truth."""

    t_ns: int
    code: str
    accepted_shares: int
    reason: str


@dataclass(frozen=True, slots=True)
class FlattenFailed:
    """FLATTEN FAILED: pair ``pair_id`` could not end flat within its price bound and ``max_flatten_orders``:
    ``open_shares`` of ``code`` remain (+ long, − short) on ``venue``; the code is frozen, the engine disarmed."""

    t_ns: int
    pair_id: str
    code: str
    venue: Venue
    open_shares: int
    reason: str


@dataclass(frozen=True, slots=True)
class AccountReported:
    """The account as the desk knows it after a broker report (``purpose``: login, periodic, final).

    ``holdings``: ``(code, held, sellable)`` of the universe's held codes; ``inventory``: ``(code, start,
    end, net)`` (net: the engine's own fills); ``untradeable``: codes with fewer sellable shares than a
    slice; ``cash_krw`` the orderable cash tracked; ``deferred`` reports (codes) not applied because they
    were busy; ``refused``: ``(reason, count)`` of signals the account refused so far; ``mismatched``:
    codes in mismatch now.
    """

    t_ns: int
    purpose: str
    holdings: tuple[tuple[str, int, int], ...]
    inventory: tuple[tuple[str, int, int, int], ...]
    untradeable: tuple[str, ...]
    cash_krw: float
    deposit_krw: int | None
    deferred: int
    refused: tuple[tuple[str, int], ...] = ()
    mismatched: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OperatorActed:
    """The desk applied (``applied``) or had nothing to do for (``applied`` False) an operator command:
    ``action`` on ``code`` (empty = the engine), or a live configuration change (``action`` None,
    ``message`` lists the keys). ``message`` says what changed, for the event feed and the report."""

    t_ns: int
    action: OperatorAction | None
    code: str
    reason: str
    applied: bool
    message: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class VolatilityObserved:
    """A volatility interruption of ``code`` on ``venue`` began (``active``) or ended (SPEC §11). ``since_ns`` is
    when it began (its start's ``t_ns`` for an end; 0 when the start was not seen); ``in_vi`` every
    ``code/venue`` in a VI after this notice."""

    t_ns: int
    code: str
    venue: Venue
    active: bool
    kind: ViKind = ViKind.UNKNOWN
    trigger_price: int = 0
    since_ns: int = 0
    in_vi: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SignalsHeld:
    """Signals the desk did not act on because of the market (SPEC §11), counted since the start: by reason
    (``'vi'``: a volatility interruption on either venue; ``'phase'``: a venue not continuous for
    ``t_hedge_ms`` plus the margin)."""

    t_ns: int
    held: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ShardMoved:
    """A shard that ran on a shard host (``from_system``, its admin address) was replaced on the leader
    (SPEC §8): ``why`` it went — it exited, its host left the convention, or it fell silent."""

    t_ns: int
    shard: str
    shard_id: int
    from_system: str
    why: str


@dataclass(frozen=True, slots=True)
class ShardsChecked:
    """The shards at the end of a run (SPEC §8): the system each ran in (``(name, "local" or a host's address)``),
    the steps the SpreadEngine evaluated while a shard of the step was down (``gap_steps``), and the book check:
    ``mismatched`` of ``symbols`` symbols whose book differed from the bridge's last quote (``codes``: the first
    of them). ``checked`` is False when the SpreadEngine's check did not come back."""

    t_ns: int
    systems: tuple[tuple[str, str], ...]
    checked: bool
    symbols: int = 0
    mismatched: int = 0
    codes: tuple[str, ...] = ()
    gap_steps: int = 0


Observation = (TicksCounted | SignalObserved | LatencyObserved | OrderAudited | FillBooked | PairClosed |
               KillSwitchTripped | RejectSpike | RefusalStorm | ConnectionObserved | HedgeTimedOut | ErrorRaised |
               SessionChanged | AutoPauseChanged | TokensObserved | ReplaySourceDescribed | ReconcileMismatch |
               CodeRearmed | FlattenFailed | AccountReported | OperatorActed | VolatilityObserved | SignalsHeld |
               ShardMoved | ShardsChecked)
