"""TR data of the emulated control: ``OnReceiveTrData``/``GetCommData`` for order acks and TR queries
(opt10001 quotes; opw00018 holdings and opw00001 cash of the account).

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
* Account queries (input and output names as KOA Studio lists them, see ``kiwoom_bridge/README.md``):
  ``opw00018`` (계좌평가잔고내역요청; inputs 계좌번호, 비밀번호, 비밀번호입력매체구분, 조회구분) answers the
  account's holdings as multi rows — 종목번호 (``'A005930'``), 종목명, 보유수량, 매매가능수량, 매입가, 현재가,
  zero-padded like the OCX's fixed-width fields — :data:`HOLDINGS_PAGE_ROWS` rows per reply in code order;
  ``OnReceiveTrData``'s ``sPrevNext`` is ``'2'`` while more rows remain, and ``CommRqData`` with
  ``nPrevNext=2`` (same inputs) returns the next page; single outputs 총매입금액, 조회건수. ``opw00001``
  (예수금상세현황요청; same inputs) answers 예수금, 주문가능금액, d+2추정예수금 (single). A 계좌번호 that is not
  the logged-in account gets an empty reply and an ``OnReceiveMsg`` saying so; a missing one -202.
* ``GetRepeatCnt(tr, rq)`` is the number of multi rows of the reply being delivered (0 elsewhere);
  ``GetCommData`` answers only inside ``OnReceiveTrData`` for that TR and request name: record 0 for single
  outputs, record i for the i-th multi row (empty string elsewhere, like the OCX). Nothing is delivered while
  disconnected.
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
    from kiwoom_bridge.emulator.account import EmulatedAccount
    from kiwoom_bridge.emulator.order_desk import OrderRequest

__all__ = ["HOLDINGS_PAGE_ROWS", "TrDesk"]

#: Rows of one opw00018 reply (the emulator's page size; the real server's is not documented).
HOLDINGS_PAGE_ROWS = 20
_ACCOUNT_TRS = ("opw00018", "opw00001")


def _padded(value: int, width: int) -> str:
    """A fixed-width numeric field as the OCX returns it: zero-padded, a leading '-' when negative."""
    return f"-{abs(value):0{width - 1}d}" if value < 0 else f"{value:0{width}d}"


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
        self._rows: list[dict[str, str]] = []
        self.account: EmulatedAccount | None = None      # set by the control (account TRs)
        self.account_no = ""
        self._cursor: dict[tuple[str, str], str] = {}    # (tr, screen) -> last code of the page delivered

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
        key = item.strip()
        if 0 <= index < len(self._rows) and key in self._rows[index]:
            return self._rows[index][key]
        return cur[2].get(key, "") if index == 0 else ""

    def get_repeat_cnt(self, tr_code: str, rq_name: str) -> int:
        """``GetRepeatCnt(tr, rq)``: multi rows of the reply being delivered (0 outside it)."""
        cur = self._current
        if cur is None or cur[0] != tr_code or cur[1] != rq_name:
            return 0
        return len(self._rows)

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
        tr = tr_code.lower()
        if tr not in ("opt10001", *_ACCOUNT_TRS) or (tr in _ACCOUNT_TRS and self.account is None):
            return int(E.OP_ERR_RQ_STRUCT_FAIL)
        code = inputs.get("종목코드", "").strip() if tr == "opt10001" else inputs.get("계좌번호", "").strip()
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
        if tr in _ACCOUNT_TRS:
            self._sched.at(now + self._reply_ns, self._account_reply, rq_name, tr_code, screen, code, prev_next)
        else:
            self._sched.at(now + self._reply_ns, self._query_reply, rq_name, tr_code, screen, code)
        return 0

    def _account_reply(self, rq_name: str, tr_code: str, screen: str, account_no: str, prev_next: int) -> None:
        if not self._conn.connected:
            return
        acct = self.account
        assert acct is not None                     # checked at CommRqData
        single: dict[str, str] = {}
        rows: list[dict[str, str]] = []
        more = False
        if account_no != self.account_no:
            # the number itself is never echoed: messages end up in the audit log
            self._on_msg.emit(screen, rq_name, tr_code, "[emulator] 계좌번호가 없습니다 (not the logged-in account)")
        elif tr_code.lower() == "opw00001":
            cash = int(acct.cash_krw)
            single = {"예수금": _padded(cash, 15), "주문가능금액": _padded(acct.orderable_krw(), 15),
                      "d+2추정예수금": _padded(cash, 15)}
        else:
            held = acct.codes_held()
            key = (tr_code.lower(), screen)
            after = self._cursor.get(key, "") if prev_next == 2 else ""
            rest = [c for c in held if c > after]
            page = rest[:HOLDINGS_PAGE_ROWS]
            more = len(rest) > len(page)
            if more:
                self._cursor[key] = page[-1]
            else:
                self._cursor.pop(key, None)
            total = 0
            for c in page:
                b = self._exchanges["KRX"].book(c)
                q = acct.held(c)
                avg = acct.avg_price(c)
                total += q * avg
                rows.append({"종목번호": f"A{c}".ljust(12), "종목명": self._names.get(c, c), "보유수량": _padded(q, 15),
                             "매매가능수량": _padded(acct.sellable(c), 15), "매입가": _padded(avg, 15),
                             "현재가": _padded(b.last if b is not None else 0, 12)})
            single = {"총매입금액": _padded(total, 15), "조회건수": _padded(len(page), 4)}
        self._current = (tr_code, rq_name, single)
        self._rows = rows
        try:
            self._on_tr_data.emit(screen, rq_name, tr_code, "", "2" if more else "0", 0, "", "", "")
        finally:
            self._current = None
            self._rows = []

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
