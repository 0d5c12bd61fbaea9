"""What the pair desk hears in a step: the broker's notices in domain terms, and the engine's own.

The bridge translates every Kiwoom callback (TR acks, Chejan notices, 잔고, market-operation codes,
connection events, messages) into one of these frozen values; the Throttler adds :class:`OrderDenied`;
the operator's stop adds :class:`DisarmRequested`, the operator's window and arbctl add
:class:`OperatorRequested` and :class:`ConfigReplaced`. Nothing here knows a FID, a hoga code or a Korean
status word. Fields named ``broker_*`` or ``wire_*`` carry the broker's own text or codes *opaquely*,
for the audit log only: no decision above the bridge reads them.

Every event has ``t_ns``, the engine clock when it happened (ns since the epoch); the bridge hands a
step's events out in ``t_ns`` order. Prices are KRW, quantities shares.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum, unique
from typing import TYPE_CHECKING

from core.enums import MarketOperation, OperatorAction, Side, Venue, ViKind
from core.order_flow import PlacedOrder

if TYPE_CHECKING:
    from config.schema import EngineConfig

__all__ = [
    "ArmRequested", "BrokerNotice", "CashReported", "ConfigReplaced", "ConnectionChanged", "DisarmRequested",
    "HoldingUpdated", "HoldingsReported", "MarketOperationNotice", "OperatorRequested", "OrderAccepted",
    "OrderAcknowledged", "OrderCancelled",
    "OrderDenied", "OrderFilled", "OrderRefused", "OrderSendResult", "SendOutcome", "StepEvent",
    "VolatilityInterruption",
]


@unique
class SendOutcome(StrEnum):
    """What the broker's send call did: reached the broker, refused by its order-rate limit, or failed."""

    SENT = "sent"
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OrderSendResult:
    """The outcome of the bridge's send of ``ref`` (an order or a cancel).

    ``send_ns`` is the monotonic wall time of the call (Signal→Send latency end), ``signal_ns`` the
    signal's. ``reason`` describes a refusal or failure in words. ``wire_code`` is the broker's return
    code (None when the bridge's own rate guard kept the call off the wire), ``wire_style`` the broker's
    order-style code as sent; they and ``screen_no`` are opaque, for the audit log. ``order`` is the
    placed order this answers (None for a cancel).
    """

    ref: str
    outcome: SendOutcome
    t_ns: int
    send_ns: int
    signal_ns: int = 0
    reason: str = ""
    wire_code: int | None = 0
    wire_style: str = ""
    screen_no: str = ""
    order: PlacedOrder | None = None


@dataclass(frozen=True, slots=True)
class OrderAcknowledged:
    """The broker's reply to the send of ``ref``: ``order_no`` accepts it, an empty one refuses it
    (``message`` then says why when the broker did)."""

    ref: str
    order_no: str
    t_ns: int
    message: str = ""
    screen_no: str = ""

    @property
    def accepted(self) -> bool:
        """Whether the broker gave the order a number."""
        return bool(self.order_no.strip())


@dataclass(frozen=True, slots=True)
class _Notice:
    """Fields every execution notice carries: the order, its symbol, venue and side, the order's own
    quantity and price, what is still open of it (``leaves_qty``) and the order it names
    (``orig_order_no``: a cancel's target); ``broker_status`` is the broker's word for the notice (opaque)."""

    order_no: str
    t_ns: int
    code: str
    venue: Venue
    side: Side
    order_qty: int = 0
    order_price: int = 0
    leaves_qty: int = 0
    orig_order_no: str = ""
    broker_status: str = ""


@dataclass(frozen=True, slots=True)
class OrderAccepted(_Notice):
    """The broker accepted order ``order_no`` (a new order, or a cancel naming ``orig_order_no``)."""


@dataclass(frozen=True, slots=True)
class OrderFilled(_Notice):
    """A fill of ``order_no``: ``qty`` shares at ``price`` (``leaves_qty`` still open after it).

    ``exec_id`` is the broker's execution number (a repeat is the same fill). ``broker_fee_krw`` and
    ``broker_tax_krw`` are the broker's own cumulative charges for the order; ``broker_charges`` says
    whether the notice carried them at all (when False they are 0 and mean nothing).
    """

    qty: int = 0
    price: int = 0
    exec_id: str = ""
    broker_fee_krw: int = 0
    broker_tax_krw: int = 0
    broker_charges: bool = False


@dataclass(frozen=True, slots=True)
class OrderCancelled(_Notice):
    """``cancelled_qty`` shares of order ``order_no`` came off the book (our cancel, numbered
    ``cancel_order_no``, or the venue cancelling an IOC/FOK remainder, then ``cancel_order_no`` =
    ``order_no``). 0 shares when fills won the race; ``reason`` then says so."""

    cancel_order_no: str = ""
    cancelled_qty: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OrderRefused(_Notice):
    """The broker refused order ``order_no`` after accepting its send; ``reason`` says why."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class HoldingUpdated:
    """The broker's account position in ``code`` after a fill: ``holding_qty`` shares (signed) at an
    average ``avg_price``; ``sellable_qty`` the shares it would let us sell now and ``deposit_krw`` the
    account's deposit (KRW), when the notice carries them (None otherwise)."""

    code: str
    holding_qty: int
    avg_price: int
    t_ns: int
    sellable_qty: int | None = None
    deposit_krw: int | None = None


@dataclass(frozen=True, slots=True)
class HoldingsReported:
    """The broker's answer to a holdings query: every code the account holds, as
    ``(code, shares held, shares sellable now)`` (codes not listed hold nothing).

    The query was sent at ``requested_ns`` and its last part arrived at ``t_ns``: the broker's figures are
    from some instant in between. ``purpose`` is ``'login'``, ``'periodic'`` or ``'final'``.
    """

    holdings: tuple[tuple[str, int, int], ...]
    requested_ns: int
    t_ns: int
    purpose: str = "periodic"


@dataclass(frozen=True, slots=True)
class CashReported:
    """The broker's answer to a cash query: ``orderable_krw`` a buy may use now and the ``deposit_krw``;
    sent at ``requested_ns``, answered at ``t_ns`` (see :class:`HoldingsReported`)."""

    orderable_krw: int
    deposit_krw: int
    requested_ns: int
    t_ns: int
    purpose: str = "periodic"


@dataclass(frozen=True, slots=True)
class MarketOperationNotice:
    """A market-operation notice: ``operation`` in domain terms, ``raw`` the broker's code (logged),
    ``meaning`` a short description."""

    operation: MarketOperation
    raw: str
    meaning: str
    t_ns: int


@dataclass(frozen=True, slots=True)
class VolatilityInterruption:
    """A volatility interruption (VI) of ``code`` on ``venue`` began (``active``) or ended (SPEC §11): meanwhile
    the code trades in a call on that venue (orders rest until its uncross; IOC/FOK are refused).

    ``kind`` static or dynamic; ``trigger_price`` the price that triggered it (KRW, 0 unknown); ``raw`` the
    broker's own codes of the notice, opaque, for the audit log.
    """

    code: str
    venue: Venue
    active: bool
    t_ns: int
    kind: ViKind = ViKind.UNKNOWN
    trigger_price: int = 0
    raw: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    """The broker connection came up (``connected``) or went down; ``reason`` says why."""

    connected: bool
    reason: str
    t_ns: int


@dataclass(frozen=True, slots=True)
class BrokerNotice:
    """A human-readable message from the broker (logged, never acted on)."""

    text: str
    t_ns: int
    screen_no: str = ""
    request_name: str = ""
    request_code: str = ""


@dataclass(frozen=True, slots=True)
class OrderDenied:
    """The Throttler did not admit the take ``ref`` of pair ``pair_id`` (too few tokens, auto-pause)."""

    ref: str
    pair_id: str
    reason: str
    t_ns: int


@dataclass(frozen=True, slots=True)
class DisarmRequested:
    """The operator (or the end of the run) asks for no new pairs from this step on."""

    reason: str


@dataclass(frozen=True, slots=True)
class ArmRequested:
    """The operator re-arms ``code`` (``arbctl arm CODE``): a code frozen until re-armed (a reconciliation
    mismatch, a failed flatten) may trade again, the broker's holding accepted as the truth."""

    code: str
    reason: str = "operator"


@dataclass(frozen=True, slots=True)
class OperatorRequested:
    """The operator's command (:class:`~core.enums.OperatorAction`), applied by the desk at the step's time.

    ``code`` empty = the whole engine. ``source`` names where it came from (``gui``, ``arbctl``) for the log.
    """

    action: OperatorAction
    code: str = ""
    reason: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class ConfigReplaced:
    """The operator changed keys that are safe to apply live (``changes``: ``"key.path: old -> new"``);
    from this step on the desk runs with ``config`` (new pairs only; pairs in flight keep their timers)."""

    config: EngineConfig
    changes: tuple[str, ...] = ()
    source: str = ""


StepEvent = (OrderSendResult | OrderAcknowledged | OrderAccepted | OrderFilled | OrderCancelled | OrderRefused |
             HoldingUpdated | MarketOperationNotice | ConnectionChanged | BrokerNotice | OrderDenied |
             DisarmRequested | HoldingsReported | CashReported | ArmRequested | OperatorRequested |
             ConfigReplaced | VolatilityInterruption)
