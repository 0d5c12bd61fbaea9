"""The one place that speaks Kiwoom: a thin facade over the OpenAPI+ control (real OCX or emulator).

Every call is ``control.dynamicCall(<Kiwoom's exact signature>, [args])`` and every event arrives as a
Qt-style signal of the control (``OnEventConnect``, ``OnReceiveRealData``, ``OnReceiveTrData``,
``OnReceiveChejanData``, ``OnReceiveMsg``). The facade turns them into the frozen values of
:mod:`kiwoom_bridge.types` and hands them to Python callbacks. It never knows which control it has:
PyQt5's ``QAxWidget("KHOPENAPI.KHOpenAPICtrl.1")`` on the Windows host, or
:class:`kiwoom_bridge.emulator.control.EmulatedControl` everywhere else.

Callbacks (attributes, ``None`` = ignored; or pass a listener object having any of these methods):

==================  ==============================================================================
``on_l1``           :class:`L1Update` per 주식호가잔량 / 주식체결 real-data event
``on_session``      :class:`SessionEvent` per 장시작시간 event (FID 215)
``on_vi``           :class:`ViEvent` per VI발동/해제 event (FIDs 9068, 1225, 1221, 1224, 9069)
``on_ack``          :class:`OrderAck` per TR reply to one of our SendOrder calls
``on_execution``    :class:`ExecutionReport` per Chejan gubun '0' (접수/체결/확인/거부)
``on_balance``      :class:`BalanceReport` per Chejan gubun '1' (잔고)
``on_message``      :class:`ApiMessage` per OnReceiveMsg
``on_connection``   :class:`ConnectionEvent` per OnEventConnect (login result, -106 disconnect)
``on_tr_data``      ``(screen_no, rq_name, tr_code, record_name, prev_next)`` for TR replies that are
                    not order acks; read fields with :meth:`OpenApi.get_comm_data` inside the callback
``on_error``        ``(exc, where)`` when parsing an event or a callback raised (see ``strict``)
==================  ==============================================================================

Parsing rules: the venue comes from the ``_NX`` suffix of the code; sign prefixes are dropped
(absolute values); an empty value is absent (0). Real data: 주식호가잔량 reads FIDs 41/51 (best ask/bid
*prices*) and 61/71 (their sizes); 주식체결 reads 10 (last), 15 (trade qty; its sign is the aggressor
side and is dropped), 13 (cumulative volume) and 27/28 (best ask/bid). A best ask/bid *sent* as zero
(``'0'``, ``'+0'``) is an empty side — limit up/down, a call — and becomes :data:`EMPTY_SIDE` (its size
with it), never "absent": otherwise the book would keep the last price of a side that no longer exists.
(That Kiwoom sends a zero rather than an empty string for an empty side is the emulator's reading; UNVERIFIED.)
VI발동/해제 reads 9068 (발동구분), 1225 (적용구분), 1221 (발동가격), 1224 (해제시각) and 9069 (방향) raw for
:mod:`kiwoom_bridge.translate`; the code and venue come from the event's code (``_NX`` = NXT), or 9001 when
it is empty.

Chejan gubun '0' (semantics of the emulator, chosen to be Kiwoom-plausible; the facade is robust to
their absence):

* ``order_no`` 9203, ``orig_order_no`` 904 (``'0000000'`` → ``''``), ``code`` 9001 without its ``'A'``
  prefix, ``status`` 913, ``order_kind`` 905, ``side`` 907 (``'1'`` sell, ``'2'`` buy; falls back to
  905's 매수/매도), ``order_qty`` 900, ``order_price`` 901, ``leaves_qty`` 902, ``exec_id`` 909,
  ``reject_reason`` 919, ``fee_krw``/``tax_krw`` 938/939 (cumulative for the order).
* ``venue``: ``'_NX'`` suffix on 9001 → NXT; else FID 2134 if present ('1' KRX, '2' NXT); else the
  venue of the order number as we sent it (learned from our SendOrder + its ack, also for the
  original of a cancel); else KRX.
* ``'체결'``: ``fill_qty``/``fill_price`` are *this* fill: 915/914 (단위체결량/단위체결가) when present;
  otherwise the increase of 911 (체결량, cumulative per order) and 910.
* ``'확인'`` with 취소 in 905: ``cancelled_qty`` = 900, the quantity actually taken off the book
  (0 when fills won a cancel race). This is both the confirmation of our cancel (9203 = the cancel's
  own number, 904 = the cancelled order) and the exchange's cancellation of an IOC/FOK remainder
  (904 = 9203 = the IOC order). So the cancelled order is always ``orig_order_no``. If 900 is empty the
  last ``leaves_qty`` seen for that order is used. A '확인' of a 정정 has ``cancelled_qty`` 0.

Chejan gubun '1' (현물잔고): ``holding_qty`` 930 보유수량 (parsed with its sign), ``avg_price`` 931,
``sellable_qty`` 933 주문가능수량 and ``deposit_krw`` 951 예수금 (None when the row does not carry them).

Errors: in production (``strict=False``) an exception while handling an event never propagates into
the Qt event loop (PyQt5 aborts the process on an unhandled exception in a slot): it goes to
``on_error`` (or the log). With ``strict=True`` (tests) it propagates.
"""
from __future__ import annotations

import logging
import platform
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kiwoom_bridge.errors import KiwoomError, describe
from kiwoom_bridge.fids import FID_215_MEANINGS, parse_float_keep, parse_signed, parse_signed_keep, split_code
from kiwoom_bridge.types import (
    EMPTY_SIDE,
    KRX,
    NXT,
    REAL_TYPE_QUOTE,
    REAL_TYPE_SESSION,
    REAL_TYPE_TRADE,
    REAL_TYPE_VI,
    ApiMessage,
    BalanceReport,
    ConnectionEvent,
    ExecutionReport,
    L1Update,
    OrderAck,
    SessionEvent,
    ViEvent,
)

__all__ = ["OpenApi", "PlatformNotSupportedError", "PROG_ID", "CALLBACK_NAMES", "MAX_CODES_PER_SCREEN"]

log = logging.getLogger(__name__)

PROG_ID = "KHOPENAPI.KHOpenAPICtrl.1"
MAX_CODES_PER_SCREEN = 100
CALLBACK_NAMES = ("on_l1", "on_session", "on_vi", "on_ack", "on_execution", "on_balance", "on_message",
                  "on_connection", "on_tr_data", "on_error")

SIG_COMM_CONNECT = "CommConnect()"
SIG_GET_CONNECT_STATE = "GetConnectState()"
SIG_GET_LOGIN_INFO = "GetLoginInfo(QString)"
SIG_KOA_FUNCTIONS = "KOA_Functions(QString, QString)"
SIG_SET_REAL_REG = "SetRealReg(QString, QString, QString, QString)"
SIG_SET_REAL_REMOVE = "SetRealRemove(QString, QString)"
SIG_GET_COMM_REAL_DATA = "GetCommRealData(QString, int)"
SIG_SEND_ORDER = "SendOrder(QString, QString, QString, int, QString, int, int, QString, QString)"
SIG_GET_CHEJAN_DATA = "GetChejanData(int)"
SIG_SET_INPUT_VALUE = "SetInputValue(QString, QString)"
SIG_COMM_RQ_DATA = "CommRqData(QString, QString, int, QString)"
SIG_GET_COMM_DATA = "GetCommData(QString, QString, int, QString)"
SIG_GET_CODE_LIST_BY_MARKET = "GetCodeListByMarket(QString)"
SIG_DISCONNECT_REAL_DATA = "DisconnectRealData(QString)"
SIG_GET_REPEAT_CNT = "GetRepeatCnt(QString, QString)"

_DEFAULT_CHEJAN_FIDS = (9201, 9203, 9001, 913, 900, 901, 902, 903, 904, 905, 906, 907, 908, 909, 910, 911,
                        914, 915, 938, 939, 919, 920)
_PENDING_TTL_NS = 60_000_000_000     # forget a SendOrder whose ack never came after 60 s
_PENDING_PRUNE_AT = 256


class PlatformNotSupportedError(RuntimeError):
    """The real OpenAPI+ control was requested where it cannot exist (not 32-bit Windows)."""


class _Pending:
    __slots__ = ("venue", "screen_no", "code", "t_ns")

    def __init__(self, venue: str, screen_no: str, code: str, t_ns: int) -> None:
        self.venue = venue
        self.screen_no = screen_no
        self.code = code
        self.t_ns = t_ns


#: An :class:`L1Update` from all its fields in order (the facade's per-tick constructor).
_L1 = L1Update._make


def _price(s: str) -> int:
    """A best price of real data: absolute value; ``''`` absent (0); a zero *sent* is an empty side."""
    v = parse_signed(s)
    if v == 0 and s.strip():
        return EMPTY_SIDE
    return v


def _size(s: str, price: int) -> int:
    """The size of a best price: empty with its side."""
    return EMPTY_SIDE if price == EMPTY_SIDE else parse_signed(s)


def _signed_int(s: str) -> int:
    """Integer keeping its sign; empty → 0. Raises ValueError naming a garbage value."""
    try:
        return int(s)
    except ValueError:
        if not s.strip():
            return 0
        raise ValueError(f"not a Kiwoom integer value: {s!r}") from None


class OpenApi:
    """Typed facade over an OpenAPI+ control (see the module docstring for the event mapping).

    Args:
      control: Anything with ``dynamicCall(signature, args)`` and the five Kiwoom signals
        (PyQt5 ``QAxWidget`` or :class:`~kiwoom_bridge.emulator.control.EmulatedControl`).
      clock_ns: The engine clock, ns since the epoch (``t_ns`` of every value); in the emulator pass
        ``control.clock_ns`` so simulated time is used.
      monotonic_ns: Monotonic wall time in ns (``arrival_ns`` of :class:`L1Update`, for latency figures).
      listener: Optional object whose ``on_*`` methods (:data:`CALLBACK_NAMES`) become the callbacks.
      strict: Propagate exceptions raised while handling events (tests) instead of reporting them.
    """

    def __init__(self, control: Any, clock_ns: Callable[[], int] = time.time_ns,
                 monotonic_ns: Callable[[], int] = time.monotonic_ns, listener: Any = None,
                 strict: bool = False) -> None:
        self.control = control
        self._call = control.dynamicCall
        self._clock = clock_ns
        self._mono = monotonic_ns
        self.strict = strict
        self.on_l1: Callable[[L1Update], Any] | None = None
        self.on_session: Callable[[SessionEvent], Any] | None = None
        self.on_vi: Callable[[ViEvent], Any] | None = None
        self.on_ack: Callable[[OrderAck], Any] | None = None
        self.on_execution: Callable[[ExecutionReport], Any] | None = None
        self.on_balance: Callable[[BalanceReport], Any] | None = None
        self.on_message: Callable[[ApiMessage], Any] | None = None
        self.on_connection: Callable[[ConnectionEvent], Any] | None = None
        self.on_tr_data: Callable[[str, str, str, str, str], Any] | None = None
        self.on_error: Callable[[BaseException, str], Any] | None = None
        if listener is not None:
            self.set_listener(listener)
        self._codes: dict[str, tuple[str, str]] = {}              # wire code → (base, venue)
        self._pending: dict[str, deque[_Pending]] = {}            # rq_name → our unanswered SendOrders
        self._order_venue: dict[str, str] = {}                    # order number → venue
        self._last_msg: dict[tuple[str, str], str] = {}           # (screen, rq_name) → OnReceiveMsg text
        self._cum_filled: dict[str, int] = {}                     # order number → 911 seen so far
        self._leaves: dict[str, int] = {}                         # order number → last 902 seen
        self._real_handlers: dict[str, Callable[[str, str], None]] = {
            REAL_TYPE_QUOTE: self._real_quote,
            REAL_TYPE_TRADE: self._real_trade,
            REAL_TYPE_SESSION: self._real_session,
            REAL_TYPE_VI: self._real_vi,
        }
        control.OnEventConnect.connect(self._on_event_connect)
        control.OnReceiveRealData.connect(self._on_receive_real_data)
        control.OnReceiveTrData.connect(self._on_receive_tr_data)
        control.OnReceiveChejanData.connect(self._on_receive_chejan_data)
        control.OnReceiveMsg.connect(self._on_receive_msg)

    # == construction of the real control ===========================================================

    @staticmethod
    def create_control(backend: str = "kiwoom") -> Any:
        """Create the real OCX control (``QAxWidget("KHOPENAPI.KHOpenAPICtrl.1")``).

        Only on Windows in a 32-bit Python with PyQt5, after a ``QApplication`` exists (the caller owns
        the Qt event loop). PyQt5.QAxContainer is imported here, never at module import.

        Raises:
          PlatformNotSupportedError: Anywhere else, or for a backend other than ``'kiwoom'``; the
            message says to use the emulator (``--backend sim`` or ``replay``).
        """
        if backend != "kiwoom":
            raise PlatformNotSupportedError(
                f"backend {backend!r} has no real control: build kiwoom_bridge.emulator.control.EmulatedControl "
                f"for the sim and replay backends")
        if sys.platform != "win32":
            raise PlatformNotSupportedError(
                f"the Kiwoom OpenAPI+ control ({PROG_ID}) exists only on Windows (this is {sys.platform}); "
                f"use --backend sim or --backend replay (kiwoom_bridge.emulator.control.EmulatedControl)")
        if platform.architecture()[0] != "32bit":
            raise PlatformNotSupportedError(
                f"the Kiwoom OpenAPI+ control is a 32-bit OCX: run the Kiwoom host in a 32-bit Python "
                f"(this one is {platform.architecture()[0]}); elsewhere use --backend sim or replay")
        try:
            from PyQt5.QAxContainer import QAxWidget
        except ImportError as exc:
            raise PlatformNotSupportedError(f"PyQt5.QAxContainer is not available ({exc}); install PyQt5 "
                                            f"in the 32-bit Kiwoom host Python") from exc
        return QAxWidget(PROG_ID)

    def set_listener(self, listener: Any) -> None:
        """Bind every ``on_*`` method (:data:`CALLBACK_NAMES`) that ``listener`` has as a callback."""
        for name in CALLBACK_NAMES:
            fn = getattr(listener, name, None)
            if fn is not None:
                setattr(self, name, fn)

    # == calls ======================================================================================

    def comm_connect(self) -> int:
        """Start the (asynchronous) login; the result arrives as ``on_connection``. Returns Kiwoom's rc."""
        return int(self._call(SIG_COMM_CONNECT, []))

    def connect_state(self) -> int:
        """1 connected, 0 not."""
        return int(self._call(SIG_GET_CONNECT_STATE, []))

    def login_info(self, tag: str) -> str:
        """``GetLoginInfo(tag)``: 'ACCNO' (';'-joined), 'USER_ID', 'ACCOUNT_CNT', ..."""
        return str(self._call(SIG_GET_LOGIN_INFO, [tag]))

    def accounts(self) -> list[str]:
        """The account numbers of ``GetLoginInfo("ACCNO")``."""
        return [a for a in self.login_info("ACCNO").split(";") if a.strip()]

    def show_account_window(self) -> None:
        """Open the account-password window (required once before SendOrder, else -301)."""
        self._call(SIG_KOA_FUNCTIONS, ["ShowAccountWindow", ""])

    def server_gubun(self) -> str:
        """``'1'`` on the mock (모의투자) server, anything else on the real server."""
        return str(self._call(SIG_KOA_FUNCTIONS, ["GetServerGubun", ""]))

    def set_real_reg(self, screen_no: str, codes: list[str], fids: str, opt: str) -> int:
        """Register real-time data: ``opt`` ``'0'`` replaces the screen's codes, ``'1'`` adds to them.

        ``codes`` may be empty (market-wide registrations such as 장시작시간 FID 215). Returns Kiwoom's
        rc (0 = success, e.g. -10 past 200 screens).

        Raises:
          KiwoomError: (-204 OP_ERR_OVER_MAX_DATA) for more than 100 codes, before calling the control:
            split them over screens.
          ValueError: For ``opt`` other than '0'/'1'.
          TypeError: For a string instead of a list of codes.
        """
        if isinstance(codes, str):
            raise TypeError("set_real_reg takes a list of codes, not a ';'-joined string")
        if opt not in ("0", "1"):
            raise ValueError(f"SetRealReg opt must be '0' (replace) or '1' (add), got {opt!r}")
        if len(codes) > MAX_CODES_PER_SCREEN:
            raise KiwoomError(-204, f"SetRealReg screen {screen_no}: {len(codes)} codes, at most "
                                    f"{MAX_CODES_PER_SCREEN} per call/screen")
        return int(self._call(SIG_SET_REAL_REG, [screen_no, ";".join(codes), fids, opt]))

    def set_real_remove(self, screen_no: str, code: str) -> None:
        """Unregister ``code`` (or 'ALL') from ``screen_no`` (or 'ALL')."""
        self._call(SIG_SET_REAL_REMOVE, [screen_no, code])

    def disconnect_real_data(self, screen_no: str) -> None:
        """Drop every real-time registration of ``screen_no``."""
        self._call(SIG_DISCONNECT_REAL_DATA, [screen_no])

    def send_order(self, rq_name: str, screen_no: str, account: str, order_type: int, code: str, qty: int,
                   price: int, hoga: str, orig_order_no: str = "") -> int:
        """``SendOrder``; returns Kiwoom's rc (0 sent, e.g. -308 over 5/s, -301 no password).

        ``order_type``: 1/2 new buy/sell, 3/4 cancel, 5/6 modify (KRX); 21/22/23/25 NXT buy/sell/cancel/
        modify. ``hoga``: '00' limit, '03' market, '10'/'13' IOC, '20'/'23' FOK, '29' mid (price 0 for
        every market/mid type and for cancels). The result arrives as ``on_ack`` (matched by
        ``rq_name``: use a unique one per order) and then ``on_execution``.
        """
        rc = int(self._call(SIG_SEND_ORDER, [rq_name, screen_no, account, int(order_type), code, int(qty),
                                             int(price), hoga, orig_order_no]))
        if rc == 0:
            venue = NXT if order_type >= 21 or code.endswith("_NX") else KRX
            now = self._clock()
            self._pending.setdefault(rq_name, deque()).append(_Pending(venue, screen_no, code, now))
            if len(self._pending) > _PENDING_PRUNE_AT:
                self._prune_pending(now)
        return rc

    def code_list_by_market(self, market: str) -> list[str]:
        """``GetCodeListByMarket``: '0' KOSPI, '10' KOSDAQ, 'NXT' NXT-tradable codes."""
        return [c for c in str(self._call(SIG_GET_CODE_LIST_BY_MARKET, [market])).split(";") if c.strip()]

    def request_tr(self, rq_name: str, tr_code: str, inputs: dict[str, str], screen_no: str,
                   prev_next: int = 0) -> int:
        """``SetInputValue`` for each input, then ``CommRqData``; the reply comes to ``on_tr_data``."""
        for k, v in inputs.items():
            self._call(SIG_SET_INPUT_VALUE, [k, v])
        return int(self._call(SIG_COMM_RQ_DATA, [rq_name, tr_code, int(prev_next), screen_no]))

    def get_comm_data(self, tr_code: str, rq_name: str, index: int, item: str) -> str:
        """``GetCommData`` (valid inside ``on_tr_data``), stripped."""
        return str(self._call(SIG_GET_COMM_DATA, [tr_code, rq_name, int(index), item])).strip()

    def repeat_count(self, tr_code: str, rq_name: str) -> int:
        """``GetRepeatCnt`` (valid inside ``on_tr_data``): the multi rows of the reply being delivered.

        The second argument is the request name, as public OCX code passes it (KOA calls it the record name).
        """
        return int(self._call(SIG_GET_REPEAT_CNT, [tr_code, rq_name]) or 0)

    def pending_acks(self) -> int:
        """SendOrder calls still waiting for their TR ack."""
        return sum(len(d) for d in self._pending.values())

    def forget_pending(self, rq_name: str) -> None:
        """Stop waiting for the ack of ``rq_name`` (after the engine's ack timeout)."""
        self._pending.pop(rq_name, None)

    # == events =====================================================================================

    def _error(self, exc: BaseException, where: str) -> None:
        if self.strict:
            raise exc
        cb = self.on_error
        if cb is not None:
            try:
                cb(exc, where)
                return
            except Exception:  # noqa: BLE001 - never let a broken error handler kill the Qt loop
                log.exception("on_error handler failed")
        log.error("error while handling %s: %r", where, exc, exc_info=exc)

    def _on_event_connect(self, err_code: int) -> None:
        try:
            cb = self.on_connection
            if cb is not None:
                code = int(err_code)
                cb(ConnectionEvent(self._clock(), code, describe(code)))
        except Exception as exc:  # noqa: BLE001 - reported, see _error
            self._error(exc, "OnEventConnect")

    def _on_receive_real_data(self, code: str, real_type: str, real_data: str) -> None:
        h = self._real_handlers.get(real_type)
        if h is not None:
            try:
                h(code, real_type)
            except Exception as exc:  # noqa: BLE001
                self._error(exc, f"OnReceiveRealData {real_type} {code}")

    def _split(self, code: str) -> tuple[str, str]:
        cv = self._codes.get(code)
        if cv is None:
            cv = self._codes[code] = split_code(code)
        return cv

    def _real_quote(self, code: str, real_type: str) -> None:
        cb = self.on_l1
        if cb is None:
            return
        base, venue = self._split(code)
        g = self._call
        sig = SIG_GET_COMM_REAL_DATA
        ask, bid = _price(g(sig, [code, 41])), _price(g(sig, [code, 51]))
        # every field in order (t_ns, arrival_ns, code, venue, real_type, ask, bid, ask_qty, bid_qty, then the
        # trade fields absent): _make is a third of the keyword constructor's cost, and this runs once a tick
        cb(_L1((self._clock(), self._mono(), base, venue, real_type, ask, bid,
                 _size(g(sig, [code, 61]), ask), _size(g(sig, [code, 71]), bid), 0, 0, 0, 0, 0.0)))

    def _real_trade(self, code: str, real_type: str) -> None:
        cb = self.on_l1
        if cb is None:
            return
        base, venue = self._split(code)
        g = self._call
        ps = parse_signed
        sig = SIG_GET_COMM_REAL_DATA
        cb(_L1((self._clock(), self._mono(), base, venue, real_type,
                _price(g(sig, [code, 27])), _price(g(sig, [code, 28])), 0, 0,       # ask, bid; no sizes in a print
                ps(g(sig, [code, 10])), ps(g(sig, [code, 15])), ps(g(sig, [code, 13])),   # last, last_qty, volume
                parse_signed_keep(g(sig, [code, 11])), parse_float_keep(g(sig, [code, 12])))))

    def _real_vi(self, code: str, real_type: str) -> None:
        cb = self.on_vi
        if cb is None:
            return
        g = self._call
        sig = SIG_GET_COMM_REAL_DATA
        wire = code.strip() or str(g(sig, [code, 9001])).strip()
        base, venue = self._split(wire)
        cb(ViEvent(self._clock(), base, venue, str(g(sig, [code, 9068])).strip(), str(g(sig, [code, 1225])).strip(),
                   parse_signed(str(g(sig, [code, 1221]))), str(g(sig, [code, 1224])).strip(),
                   str(g(sig, [code, 9069])).strip()))

    def _real_session(self, code: str, real_type: str) -> None:
        cb = self.on_session
        if cb is None:
            return
        raw = str(self._call(SIG_GET_COMM_REAL_DATA, [code, 215])).strip()
        meaning = FID_215_MEANINGS.get(raw)
        if meaning is None:
            cb(SessionEvent(self._clock(), raw, f"unknown FID 215 code {raw!r}", False))
        else:
            cb(SessionEvent(self._clock(), raw, meaning, True))

    def _on_receive_msg(self, screen_no: str, rq_name: str, tr_code: str, msg: str) -> None:
        try:
            if rq_name in self._pending:
                self._last_msg[(screen_no, rq_name)] = msg
            cb = self.on_message
            if cb is not None:
                cb(ApiMessage(self._clock(), screen_no, rq_name, tr_code, msg))
        except Exception as exc:  # noqa: BLE001
            self._error(exc, "OnReceiveMsg")

    def _on_receive_tr_data(self, screen_no: str, rq_name: str, tr_code: str, record_name: str = "",
                            prev_next: str = "", *rest: Any) -> None:
        try:
            pend = self._pending.get(rq_name)
            if pend:
                p = pend.popleft()
                if not pend:
                    del self._pending[rq_name]
                order_no = str(self._call(SIG_GET_COMM_DATA, [tr_code, rq_name, 0, "주문번호"])).strip()
                msg = self._last_msg.pop((screen_no, rq_name), "")
                if order_no:
                    self._order_venue[order_no] = p.venue
                cb = self.on_ack
                if cb is not None:
                    cb(OrderAck(self._clock(), rq_name, screen_no, order_no, msg))
                return
            cb2 = self.on_tr_data
            if cb2 is not None:
                cb2(screen_no, rq_name, tr_code, record_name, prev_next)
        except Exception as exc:  # noqa: BLE001
            self._error(exc, f"OnReceiveTrData {rq_name}")

    def _on_receive_chejan_data(self, gubun: str, item_cnt: int, fid_list_str: str) -> None:
        try:
            if gubun == "0":
                self._chejan_order(fid_list_str)
            elif gubun == "1":
                self._chejan_balance()
        except Exception as exc:  # noqa: BLE001
            self._error(exc, f"OnReceiveChejanData gubun {gubun}")

    def _chejan_order(self, fid_list_str: str) -> None:
        g = self._call
        sig = SIG_GET_CHEJAN_DATA
        listed = [int(x) for x in fid_list_str.split(";") if x.strip().isdigit()] if fid_list_str else []
        if not listed:
            listed = list(_DEFAULT_CHEJAN_FIDS)
        raw = tuple((f, str(g(sig, [f]))) for f in listed)
        vals = dict(raw)

        def v(fid: int) -> str:
            s = vals.get(fid)
            if s is None:
                s = vals[fid] = str(g(sig, [fid]))
            return s.strip()

        ps = parse_signed
        order_no = v(9203)
        orig = v(904)
        if orig and not orig.strip("0"):
            orig = ""
        code_raw = v(9001)
        code, venue = split_code(code_raw)
        if venue != NXT:
            vf = v(2134) if 2134 in vals else ""
            if vf == "2":
                venue = NXT
            elif vf != "1":
                venue = self._order_venue.get(order_no) or self._order_venue.get(orig) or KRX
        elif order_no:
            self._order_venue.setdefault(order_no, NXT)
        status = v(913)
        kind = v(905)
        side = {"1": "SELL", "2": "BUY"}.get(v(907), "")
        if not side:
            side = "BUY" if "매수" in kind else ("SELL" if "매도" in kind else "")
        order_qty = ps(v(900))
        leaves = ps(v(902))
        fill_qty = fill_price = cancelled = 0
        if status == "체결":
            unit_qty = ps(v(915)) if 915 in vals else 0
            cum = ps(v(911))
            prev = self._cum_filled.get(order_no, 0)
            fill_qty = unit_qty or max(cum - prev, 0)
            self._cum_filled[order_no] = cum if cum else prev + fill_qty
            fill_price = (ps(v(914)) if 914 in vals else 0) or ps(v(910))
        elif status == "확인" and "취소" in kind:
            s900 = v(900)
            target = orig or order_no
            cancelled = ps(s900) if s900 else self._leaves.get(target, 0)
            self._leaves.pop(target, None)
            self._cum_filled.pop(target, None)
        if status in ("접수", "체결") and "취소" not in kind:
            self._leaves[order_no] = leaves
        elif status == "확인" and "정정" in kind:
            self._leaves[order_no] = leaves                   # the moved quantity now lives here
            if orig in self._leaves:
                self._leaves[orig] = max(0, self._leaves[orig] - ps(v(900)))
        if leaves == 0 and status in ("체결", "거부"):
            self._leaves.pop(order_no, None)
            self._cum_filled.pop(order_no, None)
        cb = self.on_execution
        if cb is not None:
            cb(ExecutionReport(
                t_ns=self._clock(), order_no=order_no, orig_order_no=orig, code=code, venue=venue,
                status=status, side=side, order_qty=order_qty, order_price=ps(v(901)), leaves_qty=leaves,
                fill_qty=fill_qty, fill_price=fill_price, exec_id=v(909), cancelled_qty=cancelled,
                reject_reason=v(919), order_kind=kind, fee_krw=ps(v(938)), tax_krw=ps(v(939)), raw=raw))

    def _chejan_balance(self) -> None:
        cb = self.on_balance
        if cb is None:
            return
        g = self._call
        sig = SIG_GET_CHEJAN_DATA
        code, _ = split_code(str(g(sig, [9001])))
        sellable = str(g(sig, [933])).strip()
        deposit = str(g(sig, [951])).strip()
        cb(BalanceReport(self._clock(), code, _signed_int(str(g(sig, [930])).strip()),
                         parse_signed(str(g(sig, [931]))),
                         _signed_int(sellable) if sellable else None, _signed_int(deposit) if deposit else None))

    def _prune_pending(self, now: int) -> None:
        cutoff = now - _PENDING_TTL_NS
        for rq in list(self._pending):
            d = self._pending[rq]
            while d and d[0].t_ns < cutoff:
                d.popleft()
            if not d:
                del self._pending[rq]
                for key in [k for k in self._last_msg if k[1] == rq]:
                    del self._last_msg[key]
