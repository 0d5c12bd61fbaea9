"""TR data of the emulated control: ``OnReceiveTrData``/``GetCommData`` for order acks and opt10001 queries.

* Order acks: a successful SendOrder yields ``OnReceiveMsg`` and then ``OnReceiveTrData`` whose
  ``GetCommData(..., "주문번호")`` is the 7-digit order number, or empty for a refusal
  (:mod:`kiwoom_bridge.emulator.order_desk`).
* Queries: ``SetInputValue("종목코드", code)`` then ``CommRqData(rq, "opt10001", 0, screen)`` (the only TR
  emulated; others return -201 OP_ERR_RQ_STRUCT_FAIL, a missing code -202, a bad screen -105, a 201st
  screen -10, more than ``kiwoom.rate_limits.queries_per_sec`` requests within 1 s of simulated time -200
  OP_ERR_SISE_OVERFLOW, disconnected -106). Inputs are consumed by the next CommRqData whatever its outcome.
  ``OnReceiveTrData`` follows ``send_to_ack_ms`` later with 종목코드, 종목명, 현재가, 기준가, 매도호가,
  매수호가 (sign-prefixed against 기준가) and 거래량 of the code's venue (``_NX`` = NXT; an ``_AL`` code gets
  no prices: no integrated book is emulated).
* ``GetCommData`` answers only inside ``OnReceiveTrData`` for that TR and request name, record 0 (empty
  string elsewhere, like the OCX). Nothing is delivered while disconnected.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING

from core.clock import NS_PER_S
from kiwoom_bridge.emulator.call_errors import EmulatorCallError
from kiwoom_bridge.emulator.connection import Connection
from kiwoom_bridge.emulator.exchange import ExchangeSimulator
from kiwoom_bridge.emulator.qt_signal import QtSignal
from kiwoom_bridge.emulator.scheduler import SimScheduler
from kiwoom_bridge.emulator.screens import Screens
from kiwoom_bridge.emulator.wire_format import signed_price
from kiwoom_bridge.errors import ErrorCode as E
from kiwoom_bridge.wire_codes import AL, parse_code

if TYPE_CHECKING:
    from kiwoom_bridge.emulator.order_desk import OrderRequest

__all__ = ["TrDesk"]


class TrDesk:
    """``OnReceiveMsg``, ``OnReceiveTrData`` and what ``GetCommData`` answers while it is being emitted."""

    def __init__(self, scheduler: SimScheduler, conn: Connection, on_msg: QtSignal, on_tr_data: QtSignal,
                 exchanges: dict[str, ExchangeSimulator], names: Mapping[str, str], screens: Screens,
                 queries_per_sec: int, reply_ns: int) -> None:
        self._sched = scheduler
        self._conn = conn
        self._on_msg = on_msg
        self._on_tr_data = on_tr_data
        self._exchanges = exchanges
        self._names = names
        self._screens = screens
        self._queries_per_sec = queries_per_sec
        self._reply_ns = reply_ns
        self._inputs: dict[str, str] = {}
        self._query_times: deque[int] = deque()
        self._current: tuple[str, str, dict[str, str]] | None = None

    # -- order acks and messages ------------------------------------------------------------------------

    def order_reply(self, req: OrderRequest, order_no: str, message: str) -> None:
        """``OnReceiveMsg(message)`` then ``OnReceiveTrData`` with 주문번호 ``order_no`` ('' = refused)."""
        if not self._conn.connected:
            return
        self._on_msg.emit(req.screen_no, req.rq_name, req.tr_code, message)
        self._current = (req.tr_code, req.rq_name, {"주문번호": order_no})
        try:
            self._on_tr_data.emit(req.screen_no, req.rq_name, req.tr_code, "", "0", 0, "", "", "")
        finally:
            self._current = None

    def msg(self, req: OrderRequest, text: str) -> None:
        """``OnReceiveMsg(text)`` about ``req``."""
        if self._conn.connected:
            self._on_msg.emit(req.screen_no, req.rq_name, req.tr_code, text)

    def get_comm_data(self, tr_code: str, rq_name: str, index: int, item: str) -> str:
        """``GetCommData(tr, rq, index, item)``."""
        cur = self._current
        if cur is None or cur[0] != tr_code or cur[1] != rq_name:
            return ""
        if type(index) is not int:
            raise EmulatorCallError(f"GetCommData: nIndex must be an int, got {index!r}")
        return cur[2].get(item.strip(), "") if index == 0 else ""

    # -- TR queries (opt10001 only) -------------------------------------------------------------------

    def set_input_value(self, name: str, value: str) -> None:
        """``SetInputValue(name, value)`` for the next CommRqData."""
        if not isinstance(name, str) or not isinstance(value, str):
            raise EmulatorCallError("SetInputValue takes two strings")
        self._inputs[name] = value

    def comm_rq_data(self, rq_name: str, tr_code: str, prev_next: int, screen: str) -> int:
        """``CommRqData(rq, tr, prev_next, screen)``."""
        if type(prev_next) is not int:
            raise EmulatorCallError(f"CommRqData: nPrevNext must be an int, got {prev_next!r}")
        inputs, self._inputs = self._inputs, {}
        if not self._conn.connected:
            return int(E.OP_ERR_SOCKET_CLOSED)
        if tr_code.lower() != "opt10001":
            return int(E.OP_ERR_RQ_STRUCT_FAIL)
        code = inputs.get("종목코드", "").strip()
        if not code:
            return int(E.OP_ERR_RQ_STRING_FAIL)
        if not self._screens.valid(screen):
            return int(E.OP_ERR_INPUT)
        if not self._screens.claim(screen, real=False):
            return int(E.OP_ERR_FAIL)
        now = self._sched.now_ns
        times = self._query_times
        while times and times[0] <= now - NS_PER_S:
            times.popleft()
        if len(times) >= self._queries_per_sec:
            return int(E.OP_ERR_SISE_OVERFLOW)
        times.append(now)
        self._sched.at(now + self._reply_ns, self._query_reply, rq_name, tr_code, screen, code)
        return 0

    def _query_reply(self, rq_name: str, tr_code: str, screen: str, code: str) -> None:
        if not self._conn.connected:
            return
        base, venue = parse_code(code)
        b = self._exchanges[venue].book(base) if venue != AL else None    # no integrated book is emulated
        ref = b.ref_price if b is not None else 0

        data = {"종목코드": base, "종목명": self._names.get(base, base),
                "현재가": signed_price(b.last, ref) if b else "", "기준가": str(ref) if ref else "",
                "매도호가": signed_price(b.ask, ref) if b else "", "매수호가": signed_price(b.bid, ref) if b else "",
                "거래량": str(b.cum_volume) if b else ""}
        self._current = (tr_code, rq_name, data)
        try:
            self._on_tr_data.emit(screen, rq_name, tr_code, "", "0", 0, "", "", "")
        finally:
            self._current = None
