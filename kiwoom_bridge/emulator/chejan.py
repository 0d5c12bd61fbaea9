"""Chejan (체결/잔고) notices of the emulated control: row encoding and delivery.

Delivery: every Chejan row is delivered ``faults.chejan_delay_ms`` after the exchange event, in event
order, as ``OnReceiveChejanData(gubun, n, "fid;fid;...")``; ``GetChejanData`` answers only inside
``OnReceiveChejanData`` (empty string elsewhere, like the OCX). Rows due while disconnected are lost
(re-query after reconnecting).

Chejan FID 9001 comes as ``'A005930'``; for an NXT order it reads ``'A005930_NX'`` while ``nx_suffix``
(the control's ``chejan_nx_suffix``) is True, else ``'A005930'`` (the facade then needs its own
order-number → venue map). FID 2134 (1 KRX, 2 NXT; REST-era, unverified for the OCX) is sent only with
``venue_fid`` (the control's ``chejan_venue_fid``).

Chejan gubun ``'0'`` rows:

========== =================== ==================== ========================================
913        9203 / 904          900 / 902            meaning
========== =================== ==================== ========================================
접수        order / 0000000     qty / qty            a new order was accepted
접수        cancel no / orig    requested qty / 0    a cancel (905 매수취소/매도취소) was accepted
접수        modify no / orig    requested qty / 0    a modify (905 매수정정/매도정정) was accepted
체결        order / orig|0000000 qty / leaves       911 cumulative filled, 915/914 this fill
확인        cancel no / orig    CANCELLED qty / 0    the cancel took effect: 900 is the quantity
                                                     actually removed (0 when fills won the race;
                                                     919 then says why)
확인        order / order       CANCELLED qty / 0    the exchange cancelled an IOC/FOK remainder
                                                     (905 매수취소/매도취소, 904 = the order itself)
확인        modify no / orig    moved qty / moved   a price modify took effect; the moved quantity
                                                     now lives under the modify number (fills come
                                                     under it, with 904 = orig). 0 = nothing left
거부        order / ...         qty / 0              refused (919 reason)
========== =================== ==================== ========================================

So for every ``'확인'`` with 905 containing 취소, ``orig_order_no`` (904) names the order whose
quantity was cancelled and 900 the quantity cancelled. 938/939 are the order's cumulative fee and tax
(KRW, truncated).

Positions (gubun ``'1'``, 현물잔고): 930 보유수량 (never negative: the account refuses a sell above
주문가능수량, :mod:`kiwoom_bridge.emulator.account`), 931 the average price (weighted and truncated when
adding, unchanged when reducing, 0 when flat or unknown), 932 ``930 × 931``, 933 주문가능수량 (held − the open
remainder of received sells) and 951 예수금 (the account's cash, whole KRW).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from core.clock import NS_PER_MS
from kiwoom_bridge.emulator.call_errors import EmulatorCallError
from kiwoom_bridge.emulator.connection import Connection
from kiwoom_bridge.emulator.exchange import BUY, ExchangeSimulator, L1Book
from kiwoom_bridge.emulator.faults import Faults
from kiwoom_bridge.emulator.qt_signal import QtSignal
from kiwoom_bridge.emulator.scheduler import SimScheduler
from kiwoom_bridge.emulator.wire_format import hhmmss, signed_price
from kiwoom_bridge.types import NXT
from kiwoom_bridge.wire_codes import wire_code

if TYPE_CHECKING:
    from kiwoom_bridge.emulator.order_desk import OrderRequest

__all__ = ["HOGA_TEXT", "ChejanDesk"]

#: Hoga code (거래구분) → Kiwoom's 매매구분 text (Chejan FID 906).
HOGA_TEXT = {"00": "보통", "03": "시장가", "10": "보통(IOC)", "13": "시장가(IOC)", "20": "보통(FOK)",
             "23": "시장가(FOK)", "29": "중간가"}
_EMPTY_ORIG = "0000000"


class ChejanDesk:
    """Encodes Chejan rows and delivers them after ``faults.chejan_delay_ms``.

    Attributes:
      faults: The control's :class:`~kiwoom_bridge.emulator.faults.Faults` (``chejan_delay_ms``).
      nx_suffix: Whether 9001 of an NXT order carries ``_NX``.
      venue_fid: Whether rows carry FID 2134.
    """

    def __init__(self, scheduler: SimScheduler, conn: Connection, signal: QtSignal,
                 exchanges: dict[str, ExchangeSimulator], account: str, names: Mapping[str, str],
                 faults: Faults) -> None:
        self._sched = scheduler
        self._conn = conn
        self._signal = signal
        self._exchanges = exchanges
        self._account = account
        self._names = names
        self.faults = faults
        self.nx_suffix = True
        self.venue_fid = False
        self._current: dict[int, str] | None = None

    def order_row(self, req: OrderRequest, status: str, qty: int, price: int, leaves: int, *, reason: str = "",
                  fill: tuple[int, int, str] | None = None, cum: tuple[int, int] | None = None,
                  book: L1Book | None = None, self_cancel: bool = False) -> None:
        """Queue a gubun ``'0'`` row of ``req`` (see the table above).

        Args:
          status: 913: 접수 / 체결 / 확인 / 거부.
          qty, price, leaves: 900, 901, 902.
          reason: 919.
          fill: (qty, price, exec id) of this fill (체결).
          cum: (filled qty, filled amount) of the order so far (체결).
          book: The book for 10/27/28 (default: the order's venue's book now).
          self_cancel: The exchange cancelled the order's own remainder (IOC/FOK): 904 = the order itself.
        """
        side = req.side
        side_txt = "매수" if side == BUY else "매도"
        if req.kind == "cancel" or self_cancel:
            kind_txt = f"{side_txt}취소"
        elif req.kind == "modify":
            kind_txt = f"{side_txt}정정"
        else:
            kind_txt = "+매수" if side == BUY else "-매도"
        code_txt = "A" + (wire_code(req.code, req.venue) if self.nx_suffix else req.code)
        if book is None:
            book = self._exchanges[req.venue].book(req.code)
        ref = book.ref_price if book is not None else 0

        if self_cancel:
            orig = req.order_no
        else:
            orig = req.orig_order_no or _EMPTY_ORIG
        row = {
            9201: self._account, 9203: req.order_no, 9205: "", 9001: code_txt, 912: "JJ", 913: status,
            302: self._names.get(req.code, req.code), 900: str(qty), 901: str(price), 902: str(leaves),
            903: str(cum[1]) if cum else "0", 904: orig, 905: kind_txt,
            906: HOGA_TEXT.get(req.hoga, req.hoga), 907: "2" if side == BUY else "1",
            908: hhmmss(self._sched.now_ns),
            909: fill[2] if fill else "", 910: str(fill[1]) if fill else "", 911: str(cum[0]) if cum else "",
            10: signed_price(book.last, ref) if book is not None else "",
            27: signed_price(book.ask, ref) if book is not None else "",
            28: signed_price(book.bid, ref) if book is not None else "",
            914: str(fill[1]) if fill else "", 915: str(fill[0]) if fill else "",
            938: str(int(req.fee_acc)), 939: str(int(req.tax_acc)), 919: reason, 920: req.screen_no,
        }
        if self.venue_fid:
            row[2134] = "2" if req.venue == NXT else "1"
        self._queue("0", row)

    def balance_row(self, code: str, venue: str, pos: int, avg: int, sellable: int, deposit_krw: int) -> None:
        """Queue a gubun ``'1'`` (잔고) row: ``pos`` shares held at average price ``avg``, ``sellable`` of them
        orderable now (933), the account's cash ``deposit_krw`` (951)."""
        book = self._exchanges[venue].book(code)
        row = {
            9201: self._account, 9001: "A" + code, 302: self._names.get(code, code),
            10: str(book.last) if book is not None and book.last else "",
            930: str(pos), 931: str(avg), 932: str(abs(pos) * avg), 933: str(sellable), 951: str(deposit_krw),
            27: str(book.ask) if book is not None and book.ask else "",
            28: str(book.bid) if book is not None and book.bid else "",
        }
        self._queue("1", row)

    def _queue(self, gubun: str, row: dict[int, str]) -> None:
        delay = round(self.faults.chejan_delay_ms * NS_PER_MS)
        self._sched.at(self._sched.now_ns + delay, self._deliver, gubun, row)

    def _deliver(self, gubun: str, row: dict[int, str]) -> None:
        if not self._conn.connected:
            return      # notices sent while disconnected are lost (re-query after reconnecting)
        self._current = row
        try:
            self._signal.emit(gubun, len(row), ";".join(str(k) for k in row))
        finally:
            self._current = None

    def get_chejan_data(self, fid: int) -> str:
        """``GetChejanData(fid)``: the value of the row being delivered, else ``''``."""
        if type(fid) is not int:
            raise EmulatorCallError(f"GetChejanData: nFid must be an int, got {fid!r}")
        row = self._current
        if row is None:
            return ""
        return row.get(fid, "")
