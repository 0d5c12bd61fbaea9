"""Typed values that cross the Kiwoom boundary.

Everything below the :class:`~kiwoom_bridge.openapi.OpenApi` facade speaks Kiwoom strings and FIDs;
everything above it speaks these frozen values. Times are ``t_ns``: nanoseconds since the Unix epoch
on the one engine clock (simulated in the sim/replay backends, wall time with the real OCX).
Prices and quantities are whole KRW / shares; ``0`` means "not carried by this update".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

KRX = "KRX"
NXT = "NXT"

REAL_TYPE_QUOTE = "주식호가잔량"   # order-book update: 41/51 best ask/bid price, 61/71 sizes
REAL_TYPE_TRADE = "주식체결"       # trade print: 10 last, 15 trade qty, 27/28 best ask/bid price
REAL_TYPE_SESSION = "장시작시간"   # FID 215 market-operation code
REAL_TYPE_VI = "VI발동/해제"      # volatility interruption start/end: 9068 발동구분, 1225 적용구분, 1221 발동가격

#: A price in :class:`QuoteEvent` / :class:`L1Update` that says "this side of the book is empty now" (limit
#: up/down, a call): 0 means "not carried by this update", this means "carried, and there is nothing".
EMPTY_SIDE = -1


class QuoteEvent(NamedTuple):
    """One market-data event from a market source (synthetic or replay), before Kiwoom encoding.

    ``ask``/``bid`` are best prices, ``ask_qty``/``bid_qty`` best sizes, ``last``/``last_qty`` a trade
    (주식체결 only). ``0`` = the event does not carry that field (the book keeps its previous value).
    ``sizes_known`` is False for recordings without true sizes (old files where fid_41/51 hold prices).
    A price of :data:`EMPTY_SIDE` empties that side (its size with it).

    A ``VI발동/해제`` event (``real_type`` :data:`REAL_TYPE_VI`) starts (``vi_active``) or ends a volatility
    interruption of the code on the venue; ``vi_kind`` is ``'static'``, ``'dynamic'`` or ``'static+dynamic'``
    (the emulator writes Kiwoom's 1225 text 정적/동적/동적+정적 for it) and ``last``
    the trigger price at the start, the uncross price at the end (0 = unknown).

    A ``NamedTuple`` (immutable like the frozen dataclasses here, built at C speed): one is made per market
    event, and a frozen dataclass's field-by-field constructor took 5 % of a backtest.
    """

    t_ns: int
    code: str
    venue: str
    real_type: str
    ask: int = 0
    bid: int = 0
    ask_qty: int = 0
    bid_qty: int = 0
    last: int = 0
    last_qty: int = 0
    cum_volume: int = 0
    change: int = 0
    change_rate: float = 0.0
    sizes_known: bool = True
    vi_active: bool = False
    vi_kind: str = ""


class L1Update(NamedTuple):
    """A parsed ``OnReceiveRealData`` for one venue of one symbol (what the facade hands upward).

    ``code`` is the base 6-digit code, ``venue`` from the ``_NX`` suffix. Values are absolute
    (Kiwoom's sign prefixes removed); ``0`` = absent in this update, :data:`EMPTY_SIDE` = that side of the
    book is empty (a zero price the broker sent). ``arrival_ns`` is the monotonic
    wall time at which the bridge received it (for latency figures), ``t_ns`` the engine clock. A ``NamedTuple``
    for the same reason as :class:`QuoteEvent` (one per tick).
    """

    t_ns: int
    arrival_ns: int
    code: str
    venue: str
    real_type: str
    ask: int = 0
    bid: int = 0
    ask_qty: int = 0
    bid_qty: int = 0
    last: int = 0
    last_qty: int = 0
    cum_volume: int = 0
    change_krw: int = 0              # FID 11 전일대비, signed (trades only)
    change_rate_pct: float = 0.0     # FID 12 등락율, signed (trades only)


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The TR reply to ``SendOrder`` (``OnReceiveTrData``): empty ``order_no`` means the order was refused."""

    t_ns: int
    rq_name: str
    screen_no: str
    order_no: str
    message: str = ""

    @property
    def accepted(self) -> bool:
        return bool(self.order_no.strip())


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """One ``OnReceiveChejanData`` with gubun "0" (order/fill notice), parsed.

    ``status`` is Kiwoom's 주문상태 (FID 913): '접수' accepted, '체결' fill, '확인' cancel/modify
    confirmed, '거부' refused. For '체결', ``fill_qty``/``fill_price`` are this fill (FIDs 911/910)
    and ``leaves_qty`` the open quantity after it (902). For '확인' of a cancel, ``orig_order_no``
    (904) names the cancelled order and ``cancelled_qty`` the quantity taken off the book.
    """

    t_ns: int
    order_no: str
    orig_order_no: str
    code: str
    venue: str
    status: str
    side: str               # 'BUY' | 'SELL' (from 905/907)
    order_qty: int
    order_price: int
    leaves_qty: int
    fill_qty: int = 0
    fill_price: int = 0
    exec_id: str = ""
    cancelled_qty: int = 0
    reject_reason: str = ""
    order_kind: str = ""    # 905 text, e.g. '+매수', '매도취소'
    fee_krw: int = 0        # 938 당일매매수수료 (cumulative, broker's figure)
    tax_krw: int = 0        # 939 당일매매세금
    raw: tuple[tuple[int, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class BalanceReport:
    """``OnReceiveChejanData`` with gubun "1" (잔고): the position after a fill (930 보유수량, 931 매입단가,
    933 주문가능수량 and 951 예수금 when the row carries them)."""

    t_ns: int
    code: str
    holding_qty: int
    avg_price: int
    sellable_qty: int | None = None
    deposit_krw: int | None = None


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """FID 215 (장운영구분) as received. ``known`` is False for codes we have no meaning for (logged raw)."""

    t_ns: int
    code: str
    meaning: str
    known: bool


@dataclass(frozen=True, slots=True)
class ViEvent:
    """``VI발동/해제`` real data of one code on one venue (``_NX`` suffix), as received: ``flag`` FID 9068
    (VI발동구분, '1' start / '2' end per public OCX code; unverified), ``kind`` FID 1225 (VI적용구분:
    정적/동적/동적+정적), ``trigger_price`` FID 1221 (VI발동가격), ``release_time`` FID 1224 (VI해제시각 HHMMSS),
    ``direction`` FID 9069 (발동방향구분)."""

    t_ns: int
    code: str
    venue: str
    flag: str
    kind: str = ""
    trigger_price: int = 0
    release_time: str = ""
    direction: str = ""


@dataclass(frozen=True, slots=True)
class ApiMessage:
    """``OnReceiveMsg``: a human-readable server message (never parsed for control flow)."""

    t_ns: int
    screen_no: str
    rq_name: str
    tr_code: str
    text: str


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """``OnEventConnect`` (login result) or a detected disconnect (-106). ``code`` 0 = connected."""

    t_ns: int
    code: int
    message: str

    @property
    def connected(self) -> bool:
        return self.code == 0
