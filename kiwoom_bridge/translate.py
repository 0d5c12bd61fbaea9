"""Kiwoom's wire values → the engine's domain events (:mod:`core.desk_events`).

The facade (:mod:`kiwoom_bridge.openapi`) parses each callback into a typed wire value
(:mod:`kiwoom_bridge.types`: still Kiwoom's vocabulary — Chejan status words, FID 215 codes, return
codes). This module is the one place where those are interpreted; everything above the bridge sees
only what it returns. Each function is total: a value it cannot interpret becomes a
:class:`~core.desk_events.BrokerNotice` saying so, never silence.

Sources: Chejan 주문상태 (FID 913) 접수/체결/확인/거부 and the cancel rows (koapy, KOA Studio; the
emulator's table in :mod:`kiwoom_bridge.emulator.control`); FID 215 codes in :mod:`kiwoom_bridge.fids`;
SendOrder return codes in :mod:`kiwoom_bridge.errors`.
"""
from __future__ import annotations

from enum import StrEnum, unique
from typing import Self

from core.desk_events import (
    BrokerNotice,
    ConnectionChanged,
    HoldingUpdated,
    MarketOperationNotice,
    OrderAccepted,
    OrderAcknowledged,
    OrderCancelled,
    OrderFilled,
    OrderRefused,
    OrderSendResult,
    SendOutcome,
    StepEvent,
    VolatilityInterruption,
)
from core.enums import MarketOperation, Side, Venue, ViKind
from core.order_flow import PlacedOrder
from kiwoom_bridge.errors import ErrorCode, describe
from kiwoom_bridge.fids import FID_215_OPERATIONS, VI_FLAG_END, VI_FLAG_START, VI_KIND_TEXT
from kiwoom_bridge.types import (
    ApiMessage,
    BalanceReport,
    ConnectionEvent,
    ExecutionReport,
    OrderAck,
    SessionEvent,
    ViEvent,
)

__all__ = ["ChejanStatus", "to_domain", "send_result"]


@unique
class ChejanStatus(StrEnum):
    """Kiwoom's 주문상태 (Chejan FID 913) words (the one parser: :meth:`parse`)."""

    ACCEPTED = "접수"
    FILLED = "체결"
    CONFIRMED = "확인"
    REFUSED = "거부"

    @classmethod
    def parse(cls, text: str) -> Self | None:
        """The member for ``text`` (surrounding blanks ignored), or None for a word Kiwoom added."""
        key = text.strip()
        for member in cls:
            if member.value == key:
                return member
        return None


def send_result(rc: int, ref: str, t_ns: int, send_ns: int, *, signal_ns: int = 0, wire_style: str = "",
                screen_no: str = "", order: PlacedOrder | None = None) -> OrderSendResult:
    """What ``SendOrder`` returning ``rc`` means: 0 reached the broker, -308 (OP_ERR_ORD_OVERFLOW) is
    the order-rate limit (the call did not count), anything else a failure described in words."""
    if rc == 0:
        outcome = SendOutcome.SENT
    elif rc == ErrorCode.OP_ERR_ORD_OVERFLOW:
        outcome = SendOutcome.RATE_LIMITED
    else:
        outcome = SendOutcome.FAILED
    return OrderSendResult(ref=ref, outcome=outcome, t_ns=t_ns, send_ns=send_ns, signal_ns=signal_ns,
                           reason="" if rc == 0 else describe(rc), wire_code=rc, wire_style=wire_style,
                           screen_no=screen_no, order=order)


def to_domain(value: object) -> StepEvent:
    """The domain event of one wire value the facade reported.

    Raises:
      TypeError: for a value that is not a :mod:`kiwoom_bridge.types` value.
    """
    if isinstance(value, ExecutionReport):
        return _notice(value)
    if isinstance(value, OrderAck):
        return OrderAcknowledged(ref=value.rq_name, order_no=value.order_no.strip(), t_ns=value.t_ns,
                                 message=value.message, screen_no=value.screen_no)
    if isinstance(value, SessionEvent):
        op = FID_215_OPERATIONS.get(value.code, MarketOperation.UNKNOWN) if value.known else MarketOperation.UNKNOWN
        return MarketOperationNotice(operation=op, raw=value.code, meaning=value.meaning, t_ns=value.t_ns)
    if isinstance(value, BalanceReport):
        return HoldingUpdated(code=value.code, holding_qty=value.holding_qty, avg_price=value.avg_price,
                              t_ns=value.t_ns, sellable_qty=value.sellable_qty, deposit_krw=value.deposit_krw)
    if isinstance(value, ConnectionEvent):
        code = str(value.code)
        reason = value.message if value.message.startswith(code) else f"{code}: {value.message}"
        return ConnectionChanged(connected=value.connected, reason=reason, t_ns=value.t_ns)
    if isinstance(value, ViEvent):
        return _vi(value)
    if isinstance(value, ApiMessage):
        return BrokerNotice(text=value.text, t_ns=value.t_ns, screen_no=value.screen_no, request_name=value.rq_name,
                            request_code=value.tr_code)
    raise TypeError(f"not a Kiwoom wire value: {value!r}")


def _vi(ev: ViEvent) -> StepEvent:
    """A VI발동/해제 notice: FID 9068 '1' starts, '2' ends the VI of the code on the venue (FID 1225 its kind).
    Any other 9068 value (no official value table was found) or a code on neither venue is a broker notice."""
    raw = f"9068={ev.flag!r} 1225={ev.kind!r} 1221={ev.trigger_price} 1224={ev.release_time!r} 9069={ev.direction!r}"
    if ev.flag not in (VI_FLAG_START, VI_FLAG_END) or ev.venue not in (Venue.KRX, Venue.NXT) or not ev.code:
        return BrokerNotice(text=f"volatility-interruption notice not understood for {ev.code!r} on {ev.venue!r}: "
                                 f"{raw}", t_ns=ev.t_ns)
    kind = ViKind.parse(VI_KIND_TEXT[ev.kind]) if ev.kind in VI_KIND_TEXT else ViKind.UNKNOWN
    return VolatilityInterruption(code=ev.code, venue=Venue.parse(ev.venue), active=ev.flag == VI_FLAG_START,
                                  t_ns=ev.t_ns, kind=kind, trigger_price=ev.trigger_price, raw=raw)


def _notice(ev: ExecutionReport) -> StepEvent:
    """A Chejan gubun '0' row: 접수 → accepted, 체결 → filled, 확인 of a cancel → cancelled, 거부 → refused.

    For a 확인 the cancelled order is FID 904 (원주문번호) when it names one, else the row's own order
    (the venue cancelling an IOC remainder names the order itself); the row's own number (9203) is the
    cancel's. A 확인 of a 정정 (modify; the engine never sends one) and unknown status words are reported
    as a broker notice, not dropped.
    """
    status = ChejanStatus.parse(ev.status)
    try:
        venue, side = Venue.parse(ev.venue), Side.parse(ev.side)
    except ValueError as exc:
        return BrokerNotice(text=f"execution notice for order {ev.order_no} not understood ({exc}): "
                                 f"status {ev.status!r} kind {ev.order_kind!r}", t_ns=ev.t_ns)
    common = dict(order_no=ev.order_no, t_ns=ev.t_ns, code=ev.code, venue=venue, side=side, order_qty=ev.order_qty,
                  order_price=ev.order_price, leaves_qty=ev.leaves_qty, orig_order_no=ev.orig_order_no,
                  broker_status=ev.status)
    if status is ChejanStatus.ACCEPTED:
        return OrderAccepted(**common)  # type: ignore[arg-type]
    if status is ChejanStatus.FILLED:
        # 938/939 (당일매매수수료/세금): read as the order's cumulative charges (UNVERIFIED whether the OCX
        # totals them per order or per account and day; the emulator totals per order)
        charges = any(fid in (938, 939) and value.strip() for fid, value in ev.raw)
        return OrderFilled(qty=ev.fill_qty, price=ev.fill_price, exec_id=ev.exec_id, broker_fee_krw=ev.fee_krw,
                           broker_tax_krw=ev.tax_krw, broker_charges=charges, **common)  # type: ignore[arg-type]
    if status is ChejanStatus.CONFIRMED and "취소" in ev.order_kind:
        target = ev.orig_order_no if ev.orig_order_no.strip("0") else ev.order_no
        return OrderCancelled(**{**common, "order_no": target}, cancel_order_no=ev.order_no,  # type: ignore[arg-type]
                              cancelled_qty=ev.cancelled_qty, reason=ev.reject_reason)
    if status is ChejanStatus.REFUSED:
        return OrderRefused(reason=ev.reject_reason, **common)  # type: ignore[arg-type]
    return BrokerNotice(text=f"execution notice {ev.status!r} ({ev.order_kind}) for order {ev.order_no} on "
                             f"{ev.code}: not acted on", t_ns=ev.t_ns)
