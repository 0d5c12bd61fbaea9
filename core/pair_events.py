"""Vocabulary of the pair state machine (:mod:`core.pair_fsm`): its parameters, the intents it asks
the caller to send, the events it consumes, the actions it returns and read-only views of its orders.

Everything is a frozen value (events and actions cross no process, but they are logged and replayed).
Venues, sides, order styles and roles are the enums of :mod:`core.enums`; no broker code appears here.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum, unique
from typing import Final, Literal

from core.enums import OrderRole, OrderStyle, Side, Venue
from core.phases import VenueAccess

__all__ = [
    "Accepted", "BookTouch", "CancelConfirmed", "CancelIntent", "CancelStatus", "CancelView", "EmitEvent", "Filled",
    "Finished", "ForceFlatten", "OPEN_STATUSES", "Outcome", "OrderIntent", "OrderStatus", "OrderView",
    "PairAction", "PairEvent", "PairParams", "PairState", "Rejected", "SendCancel", "SendOrder",
    "SendRateLimited", "Sent", "Start", "StartTimer", "TERMINAL_STATES", "TimerFired", "TimerKind", "TrAck",
    "VenueAccess", "VenueChanged",
]

Outcome = Literal["done", "missed", "rejected", "backoff", "error"]

# --------------------------------------------------------------------------------------------------
# Enums
# --------------------------------------------------------------------------------------------------


@unique
class PairState(StrEnum):
    """States of one slice. Terminal: ``PAIRED_DONE``, ``COOLDOWN``, ``ERROR`` (see :attr:`is_terminal`)."""

    IDLE = "IDLE"
    CANDIDATE = "CANDIDATE"
    ENTRY_TAKE_SENT = "ENTRY_TAKE_SENT"
    HEDGE_POST_SENT = "HEDGE_POST_SENT"
    CANCEL_POST_SENT = "CANCEL_POST_SENT"
    HEDGE_IOC_SENT = "HEDGE_IOC_SENT"
    UNWIND_SENT = "UNWIND_SENT"
    PAIRED_DONE = "PAIRED_DONE"
    ENTRY_REJECTED = "ENTRY_REJECTED"
    COOLDOWN = "COOLDOWN"
    ERROR = "ERROR"


TERMINAL_STATES: Final = frozenset({PairState.PAIRED_DONE, PairState.COOLDOWN, PairState.ERROR})


@unique
class OrderStatus(StrEnum):
    """Life of one order of the pair, as far as the machine knows.

    ``PENDING_SEND``: action emitted, the caller has not reported the send result yet (it may sit
    in the Throttler queue). ``PENDING_ACK``: sent, waiting for the broker's ack. ``UNCONFIRMED``: no
    ack in time, may exist. ``WORKING``: acknowledged, not complete. Terminal: ``FILLED`` (fully),
    ``CANCELLED`` (complete with a cancelled part; ``filled`` may be > 0), ``REJECTED`` (an ack without
    an order number, a broker refusal or a failed send), ``REFUSED`` (the broker's rate limit: it never
    reached the broker), ``LOST`` (no trace after the grace period; may still surface and is then
    revived).
    """

    PENDING_SEND = "PENDING_SEND"
    PENDING_ACK = "PENDING_ACK"
    UNCONFIRMED = "UNCONFIRMED"
    WORKING = "WORKING"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    REFUSED = "REFUSED"
    LOST = "LOST"


OPEN_STATUSES: Final = frozenset(
    {OrderStatus.PENDING_SEND, OrderStatus.PENDING_ACK, OrderStatus.UNCONFIRMED, OrderStatus.WORKING}
)


@unique
class CancelStatus(StrEnum):
    """Life of one cancel request (a cancel is an order of its own at the broker, with its own number)."""

    PENDING_SEND = "PENDING_SEND"
    PENDING_ACK = "PENDING_ACK"
    ACKED = "ACKED"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    REFUSED = "REFUSED"
    TIMED_OUT = "TIMED_OUT"


@unique
class TimerKind(StrEnum):
    """Timer kinds. ``ack``: TR-ack timeout; ``grace``: how long an unconfirmed order may stay silent;
    ``hedge``: the t_hedge deadline; ``cancel``: cancel timeout / wait for an in-flight fill;
    ``settle``: an acked IOC/market order that is still not complete; ``retry``: back-off after a rate-limit refusal."""

    ACK = "ack"
    GRACE = "grace"
    HEDGE = "hedge"
    CANCEL = "cancel"
    SETTLE = "settle"
    RETRY = "retry"


# --------------------------------------------------------------------------------------------------
# Parameters and intents
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairParams:
    """Timing and routing parameters of a slice (config ``execution.*``, ``router.*``).

    Attributes:
        t_hedge_ms: the post must complete the hedge within this long after the first take fill.
        tr_ack_timeout_ms: a sent order without a TR ack after this long becomes ``UNCONFIRMED``.
        cancel_timeout_ms: wait for a cancel confirmation (and for a fill in flight) this long.
        cooldown_ms: cooldown after a miss, reject or error.
        retry_after_308_ms: cooldown after a rate-limit refusal of the entry; retry delay after one
            of anything else.
        entry_style: ``'ioc'`` = limit IOC at the rich bid; ``'market'`` = market IOC, price 0.
        hedge_style: ``'limit'`` = limit at the cheap ask; ``'mid'`` = NXT mid, price 0, when the
            cheap venue is NXT (a KRX hedge falls back to the limit).
        max_cancel_attempts: cancels sent for one order before it is given up.
        ack_grace_ms: after an ack timeout, how long a silent order may still surface before it is ``LOST``.
        ioc_settle_ms: an acked IOC/market order not complete after this long is cancelled explicitly.
        max_flatten_orders: cap on IOC/market hedge + unwind orders of one slice.
        flatten_style: ``'limit_ioc'`` = hedge escalation and unwind as limit IOC at the cheap venue's latest
            touch ± ``flatten_slippage_ticks`` (re-priced at each attempt); ``'market_ioc'`` = market IOC,
            price 0 (only with ``allow_market_orders``).
        flatten_slippage_ticks: how many ticks beyond the touch a flatten order may pay (buy) or give (sell).
        allow_market_orders: whether market styles (no price bound) may be sent at all (config
            ``router.allow_market_orders``); without it ``entry_style='market'`` and
            ``flatten_style='market_ioc'`` are refused.
    """

    t_hedge_ms: int = 1000
    tr_ack_timeout_ms: int = 200
    cancel_timeout_ms: int = 300
    cooldown_ms: int = 100
    retry_after_308_ms: int = 250
    entry_style: Literal["ioc", "market"] = "ioc"
    hedge_style: Literal["limit", "mid"] = "limit"
    max_cancel_attempts: int = 3
    ack_grace_ms: int = 1000
    ioc_settle_ms: int = 1000
    max_flatten_orders: int = 8
    flatten_style: Literal["limit_ioc", "market_ioc"] = "limit_ioc"
    flatten_slippage_ticks: int = 3
    allow_market_orders: bool = False

    def __post_init__(self) -> None:
        for name in ("t_hedge_ms", "tr_ack_timeout_ms", "cancel_timeout_ms", "retry_after_308_ms",
                     "ack_grace_ms", "ioc_settle_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        cooldown = self.cooldown_ms
        if not isinstance(cooldown, int) or isinstance(cooldown, bool) or cooldown < 0:
            raise ValueError(f"cooldown_ms must be a non-negative integer, got {self.cooldown_ms!r}")
        for name in ("max_cancel_attempts", "max_flatten_orders"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.entry_style not in ("ioc", "market"):
            raise ValueError(f"entry_style must be 'ioc' or 'market', got {self.entry_style!r}")
        if self.hedge_style not in ("limit", "mid"):
            raise ValueError(f"hedge_style must be 'limit' or 'mid', got {self.hedge_style!r}")
        if self.flatten_style not in ("limit_ioc", "market_ioc"):
            raise ValueError(f"flatten_style must be 'limit_ioc' or 'market_ioc', got {self.flatten_style!r}")
        ticks = self.flatten_slippage_ticks
        if not isinstance(ticks, int) or isinstance(ticks, bool) or ticks < 0:
            raise ValueError(f"flatten_slippage_ticks must be an integer >= 0, got {ticks!r}")
        if not self.allow_market_orders:
            if self.entry_style == "market":
                raise ValueError("entry_style 'market' has no price bound: it needs allow_market_orders")
            if self.flatten_style == "market_ioc":
                raise ValueError("flatten_style 'market_ioc' has no price bound: it needs allow_market_orders")


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """One new order the caller must send (through the Throttler, then the bridge).

    ``ref`` is unique per pair (``"{pair_id}:{role}:{n}"``; an identifier, never parsed) and is how the
    caller reports the send result and the TR ack. ``urgent`` orders may use the Throttler's reserved
    tokens (hedges and unwinds; the entry never). ``price`` (KRW) is 0 for unpriced styles (market,
    market IOC, NXT mid): ``style.priced`` says which.
    """

    ref: str
    pair_id: str
    symbol: str
    venue: Venue
    side: Side
    qty: int
    style: OrderStyle
    price: int
    role: OrderRole
    urgent: bool


@dataclass(frozen=True, slots=True)
class CancelIntent:
    """A cancel request for one of the pair's orders (always urgent: it uses a reserved token).

    At the broker a cancel is itself an order with its own number, naming ``order_no`` (the order to
    cancel, on ``venue``, of ``side``); ``qty`` is the remaining quantity the machine knows of.
    """

    ref: str
    pair_id: str
    symbol: str
    target_ref: str
    order_no: str
    venue: Venue
    side: Side
    qty: int
    urgent: bool = True


# --------------------------------------------------------------------------------------------------
# Events (caller -> machine)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Risk and Throttler admitted the signal: send the take now."""

    now_ns: int


@dataclass(frozen=True, slots=True)
class Sent:
    """The send of ``order_ref`` (an order or a cancel) reached the broker. Starts the ack / cancel timer.

    Reported separately from :class:`TrAck` because an urgent order may wait in the Throttler queue: the
    ack timeout counts from the real send, not from the decision.
    """

    order_ref: str
    now_ns: int


@dataclass(frozen=True, slots=True)
class SendRateLimited:
    """The send of ``order_ref`` was refused by the broker's order-rate limit; the caller has already
    returned the token."""

    order_ref: str
    now_ns: int


@dataclass(frozen=True, slots=True)
class TrAck:
    """The broker's reply to the send of ``order_ref``: a non-empty ``order_no`` accepts, an empty one rejects."""

    order_ref: str
    order_no: str
    now_ns: int


@dataclass(frozen=True, slots=True)
class Accepted:
    """The broker accepted ``order_no``. ``order_ref`` may be set if the bridge correlated it to our request."""

    order_no: str
    now_ns: int
    order_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Filled:
    """A fill of ``order_no``: ``qty`` shares at ``price`` (KRW); ``leaves_qty`` is informational.

    ``exec_id`` (the broker's execution number) makes replays idempotent: a repeated exec id for the
    same order is ignored.
    """

    order_no: str
    qty: int
    price: float
    leaves_qty: int
    now_ns: int
    exec_id: str | None = None
    order_ref: str | None = None


@dataclass(frozen=True, slots=True)
class CancelConfirmed:
    """The broker confirmed that ``cancelled_qty`` shares of an order were cancelled.

    Used for our cancels and for the unfilled remainder of an IOC. ``order_no`` may be the original
    order's number or the cancel order's own number; both are understood.
    """

    order_no: str
    cancelled_qty: int
    now_ns: int
    order_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A reject (the broker refused it, or the send failed other than by the rate limit) of an order
    or of a cancel.

    Identify it by ``order_no`` when known, else by ``order_ref`` (a failed send has no number).
    """

    reason: str
    now_ns: int
    order_no: str | None = None
    order_ref: str | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer armed by :class:`StartTimer` has fired (possibly stale or early; both are handled)."""

    kind: str
    token: int
    now_ns: int


@dataclass(frozen=True, slots=True)
class BookTouch:
    """A venue's best bid and ask (KRW; 0 = unknown or empty: the last known price is kept) at ``now_ns``: what
    the next flatten order of the slice on that venue is priced from. ``venue`` None = the cheap venue."""

    bid: int
    ask: int
    now_ns: int
    venue: Venue | None = None


@dataclass(frozen=True, slots=True)
class VenueChanged:
    """What an order of this slice's code can do on ``venue`` from ``now_ns`` (SPEC §11): ``open`` (continuous:
    IOCs execute), ``call`` (a call or a volatility interruption: orders rest until the uncross), ``shut``
    (paused or closed). ``reason`` says why, for the audit trail."""

    venue: Venue
    access: VenueAccess
    now_ns: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ForceFlatten:
    """Kill switch (e.g. exposure older than ``t_hedge_ms + 1000``): stop posting, flatten now."""

    reason: str
    now_ns: int


PairEvent = (Start | Sent | SendRateLimited | TrAck | Accepted | Filled | CancelConfirmed | Rejected | TimerFired |
             ForceFlatten | BookTouch | VenueChanged)


# --------------------------------------------------------------------------------------------------
# Actions (machine -> caller)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendOrder:
    """Send a new order; report :class:`Sent`, :class:`SendRateLimited` or :class:`Rejected` back."""

    intent: OrderIntent


@dataclass(frozen=True, slots=True)
class SendCancel:
    """Send a cancel (urgent); report :class:`Sent`/:class:`SendRateLimited` with ``intent.ref``."""

    intent: CancelIntent


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Arm a timer to fire :class:`TimerFired(kind, token)` at ``deadline_ns`` on the engine clock.

    Tokens are unique per machine; re-arming with the same token (after an early fire) is allowed.
    A deadline already in the past (only the hedge timer, when the first take fill was replayed from the
    buffer) must fire at once.
    """

    kind: str
    deadline_ns: int
    token: int
    pair_id: str


@dataclass(frozen=True, slots=True)
class EmitEvent:
    """An audit/telemetry event. ``state`` is the state after the event; ``detail`` is sorted pairs."""

    kind: str
    pair_id: str
    symbol: str
    now_ns: int
    state: str
    reason: str
    detail: tuple[tuple[str, object], ...] = ()

    @property
    def detail_dict(self) -> dict[str, object]:
        """``detail`` as a new dict."""
        return dict(self.detail)


@dataclass(frozen=True, slots=True)
class Finished:
    """The slice is over (see the module docstring for a possible second, superseding ``Finished``).

    ``cooldown_until_ns`` is when the symbol may be admitted again (None after ``'done'``).
    ``unresolved_refs`` lists orders whose fate is unknown (lost, or given up while still open): the
    PairManager must reconcile them against the broker. ``net_position`` is non-zero only after
    ``'error'`` with exhausted flatten orders.
    """

    outcome: str
    pair_id: str
    symbol: str
    now_ns: int
    reason: str
    net_position: int
    filled_take: int
    filled_hedge: int
    filled_unwind: int
    cooldown_until_ns: int | None
    unresolved_refs: tuple[str, ...] = ()


PairAction = SendOrder | SendCancel | StartTimer | EmitEvent | Finished


# --------------------------------------------------------------------------------------------------
# Read-only views
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderView:
    """Snapshot of one order of the pair (see :class:`OrderStatus`)."""

    intent: OrderIntent
    order_no: str | None
    status: OrderStatus
    filled: int
    cancelled: int
    avg_fill_price: float | None
    given_up: bool
    cancel_attempts: int
    cancel_refs: tuple[str, ...]
    reject_reason: str

    @property
    def ref(self) -> str:
        return self.intent.ref

    @property
    def role(self) -> OrderRole:
        return self.intent.role

    @property
    def qty(self) -> int:
        return self.intent.qty

    @property
    def remaining(self) -> int:
        """Quantity neither filled nor cancelled yet (still working, or a fill in flight)."""
        return self.intent.qty - self.filled - self.cancelled


@dataclass(frozen=True, slots=True)
class CancelView:
    """Snapshot of one cancel request."""

    intent: CancelIntent
    status: CancelStatus
    order_no: str | None


