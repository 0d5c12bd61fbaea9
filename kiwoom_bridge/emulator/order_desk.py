"""Orders of the emulated control: SendOrder validation, the rate limit, and each order's lifecycle.

``SendOrder`` returns (checked in this order after the argument types):

* -106 when not connected, -301 before ``KOA_Functions("ShowAccountWindow", "")``, -340/-302 for a
  missing/foreign account, -500 for an empty or unknown code (and for an ``_AL`` code: SOR is not
  emulated), -300 for invalid input (screen, request name, order type, hoga, quantity, a price off the
  tick grid or given where it must be 0), -303 above 2 billion KRW, -10 for a 201st screen;
* -308 when it would be the (N+1)-th *accepted* SendOrder within any 1 s of simulated time
  (N = ``kiwoom.rate_limits.orders_per_sec``, 5; refused calls do not count; the window is half-open, so an
  order exactly 1 s after the first of five is accepted), and -308 always while ``faults.storm_308`` is on.

Order types: 1/2 KRX buy/sell, 3/4 cancel, 5/6 modify; 21/22 NXT buy/sell, 23 cancel, 25 modify (an NXT
cancel/modify serves both sides: the side comes from the original order). A ``_NX`` code routes to NXT
(how the real OCX routes is unverified). SOR types (11/12/13/15) are not emulated (-300). Order numbers
are 7-digit strings (``'0000001'``...; cancels and modifies get their own numbers).

Latencies and lifecycle (the semantics the facade relies on). Every latency is one draw of its stage's seeded
distribution (:mod:`kiwoom_bridge.emulator.latency`), per order:

* ``t0`` SendOrder → ``t0 + send_to_ack``: ``OnReceiveMsg`` + ``OnReceiveTrData`` (GetCommData
  "주문번호" = the 7-digit number, or empty = refused; :mod:`kiwoom_bridge.emulator.tr_queries`) and the
  Chejan ``'접수'`` row (:mod:`kiwoom_bridge.emulator.chejan`). For a share ``chejan_before_ack_rate`` of the
  accepted orders the TR reply comes one more send→ack draw later, after the 접수 row (and whatever fills
  followed it): the Chejan overtakes the ack, as KOA warns it can.
* New orders reach the matching engine ``ack_to_fill`` after the ack; each fill gives a ``'체결'``
  row followed by a gubun ``'1'`` 잔고 row. Resting orders fill later by the queue model.
* Cancels and modifies reach the matching engine ``cancel`` after ``t0`` (never before their ack).
* **Market phases** (SPEC §11, :mod:`core.phases`; the exchange's rules are in
  :mod:`kiwoom_bridge.emulator.exchange`). At ack time the server refuses a new order its venue cannot take now,
  with an empty 주문번호 and an ``OnReceiveMsg`` (SendOrder itself returned 0: "리턴값이 0(성공)이여도 장 개시전
  주문 … 주문은 다양한 원인으로 실패할수 있습니다", KOA via public guides): the venue closed or paused →
  ``[RC4058] 모의투자 장종료`` (the mock server's code and text, as Kiwoom's REST mock returns them; for a
  pause inside the day the real text is unverified); IOC/FOK/mid orders in a call (scheduled, or the code's VI)
  and anything but a limit order in NXT's limit-only sessions → an ``[emulator]`` text (the rule is the
  exchanges'; Kiwoom's words for it are unverified). An order accepted just before its phase changed is refused
  by the matching engine on arrival (a ``'거부'`` Chejan). Cancels are taken in every phase. A modify (정정) is an
  order of its hoga: refused at ack time in a phase that would refuse that order (same message), and on arrival
  with a ``'거부'`` of the modify *before* anything is taken off the original, which keeps resting.
  A cancel/modify of an unknown, cancelled or refused order, of an order on the other venue or of the
  other side is refused at ack time (empty 주문번호 plus an ``OnReceiveMsg`` saying why). A modify that
  changes the hoga (거래구분; 정정 cannot change the order type: cancel and send a new order) or
  modifies a mid-price (29) order is refused the same way.
* Fees (``fees.<venue>`` broker + regulatory bps) and the sell tax (``fees.tax_bps``) accumulate per order
  and are reported in Chejan 938/939.
* The account (:mod:`kiwoom_bridge.emulator.account`): at server receipt (ack time) a new sell above the
  code's 주문가능수량 or a buy above the orderable cash is refused with an empty 주문번호 and Kiwoom's
  message; fills move the holding and the cash, and each fill's 잔고 row carries 930/933/951.

Faults (:mod:`kiwoom_bridge.emulator.faults`), drawn at SendOrder from the control's seeded random stream
(one draw for the drop, one for the reject, one for the mixed mode, each only when its rate is non-zero
and the previous outcome did not decide): ``reject_rate`` refuses an accepted SendOrder with an
empty-주문번호 ack or a ``'거부'`` Chejan after the order number, per ``reject_mode``; ``drop_ack_rate``
sends no OnReceiveTrData at all and drops the order unless ``drop_ack_order_lives``.
"""
from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.clock import NS_PER_S, kst_date
from core.ticks import is_on_tick
from kiwoom_bridge.emulator.account import EmulatedAccount
from kiwoom_bridge.emulator.call_errors import EmulatorCallError
from kiwoom_bridge.emulator.chejan import HOGA_TEXT, ChejanDesk
from kiwoom_bridge.emulator.connection import Connection
from kiwoom_bridge.emulator.exchange import (
    ARRIVAL_REFUSAL,
    BUY,
    DONE,
    HOGA_MID,
    PRICED_HOGA,
    SELL,
    SUPPORTED_HOGA,
    ExchangeSimulator,
    SimOrder,
)
from kiwoom_bridge.emulator.faults import Faults
from kiwoom_bridge.emulator.latency import LatencyModel
from kiwoom_bridge.emulator.scheduler import SimScheduler
from kiwoom_bridge.emulator.screens import Screens
from kiwoom_bridge.emulator.tr_queries import TrDesk
from kiwoom_bridge.errors import ErrorCode as E
from kiwoom_bridge.types import KRX, NXT
from kiwoom_bridge.wire_codes import AL, parse_code

__all__ = ["MAX_ORDER_KRW", "OrderDesk", "OrderRequest"]

MAX_ORDER_KRW = 2_000_000_000

#: The server's refusal (OnReceiveMsg, with an empty 주문번호) of a new order its venue cannot take now.
PHASE_REFUSAL = {
    "closed": "[RC4058] 모의투자 장종료",
    "pause": "[RC4058] 모의투자 장종료",
    "call": "[emulator] 단일가매매 시간에는 IOC/FOK/중간가 주문을 할 수 없습니다",
    "limit_only": "[emulator] 프리/애프터마켓에는 지정가 주문만 가능합니다",
}

_NEW_TYPES = {1: (KRX, BUY), 2: (KRX, SELL), 21: (NXT, BUY), 22: (NXT, SELL)}
_CANCEL_TYPES = {3: (KRX, BUY), 4: (KRX, SELL), 23: (NXT, 0)}       # 0: NXT cancel serves both sides
_MODIFY_TYPES = {5: (KRX, BUY), 6: (KRX, SELL), 25: (NXT, 0)}


@dataclass(eq=False)
class OrderRequest:
    """One accepted SendOrder and the control's bookkeeping for it."""

    kind: str                   # 'new' | 'cancel' | 'modify'
    order_no: str
    rq_name: str
    screen_no: str
    order_type: int
    code: str                   # base 6-digit code
    venue: str
    side: int                   # BUY / SELL (0 until a NXT cancel/modify learns it from the original)
    qty: int
    price: int
    hoga: str
    orig_order_no: str
    send_ns: int
    tr_code: str
    fault: str = ""             # '' | 'drop' | 'reject_tr' | 'reject_chejan'
    chejan_first: bool = False  # the TR ack comes after the first Chejan rows
    fee_acc: float = 0.0        # cumulative fee of this order, KRW (unrounded)
    tax_acc: float = 0.0


def _request_of(order: SimOrder) -> OrderRequest:
    """The :class:`OrderRequest` the desk attached to ``order`` as its ``meta``."""
    req = order.meta
    assert isinstance(req, OrderRequest), f"order {order.order_no} carries no OrderRequest: {req!r}"
    return req


def _on_tick(price: int) -> bool:
    return bool(is_on_tick(price))


class OrderDesk:
    """SendOrder and everything that follows it; the exchanges' listener (fills, exchange cancels, rejects).

    Args:
      exchanges: Venue → exchange; this desk must be their listener.
      chejan, tr: Where notices go.
      rng: The seeded fault-injection random stream.
      faults: The control's faults (the control replaces :attr:`faults` when its own is replaced).
      latency: The seeded latency distributions (send → ack, ack → matching engine, send → cancel/modify at the
        matching engine) and the Chejan-before-ack rate.
      fee_bps: Venue → fee in basis points of the notional; tax_bps: (market, year) → sell tax bps.
      emulated_account: The emulated account (holdings, cash, refusals); default: 1,000 shares of every
        code and 1 billion KRW.
    """

    def __init__(self, scheduler: SimScheduler, conn: Connection, screens: Screens,
                 exchanges: dict[str, ExchangeSimulator], chejan: ChejanDesk, tr: TrDesk, rng: random.Random,
                 faults: Faults, *, account: str, universe: frozenset[str], markets: Mapping[str, str],
                 latency: LatencyModel, orders_per_sec: int, fee_bps: Mapping[str, float],
                 tax_bps: Callable[[str, int], float], emulated_account: EmulatedAccount | None = None) -> None:
        self._sched = scheduler
        self._conn = conn
        self._screens = screens
        self._exchanges = exchanges
        self._chejan = chejan
        self._tr = tr
        self._rng = rng
        self.faults = faults
        self._account = account
        self._universe_set = universe
        self._markets = markets
        self.latency = latency
        self._orders_per_sec = orders_per_sec
        self._fee_bps = fee_bps
        self._tax_bps_fn = tax_bps
        self._order_seq = 0
        self._order_times: deque[int] = deque()
        self._reqs: dict[str, OrderRequest] = {}
        self.account = emulated_account if emulated_account is not None else EmulatedAccount(
            1_000_000_000, lambda code: 1000, fee_bps, self._order_of)

    def _order_of(self, venue: str, order_no: str) -> SimOrder | None:
        ex = self._exchanges.get(venue)
        return ex.order(order_no) if ex is not None else None

    def holding(self, code: str) -> int:
        """Shares of ``code`` the account holds now."""
        return self.account.held(code)

    # -- SendOrder ------------------------------------------------------------------------------------

    def send_order(self, rq_name: str, screen_no: str, acc_no: str, order_type: int, code: str, qty: int,
                   price: int, hoga: str, orig_order_no: str) -> int:
        """``SendOrder(...)``: 0 = sent (the outcome follows as TR data and Chejan), else a refusal code."""
        for name, v in (("sRQName", rq_name), ("sScreenNo", screen_no), ("sAccNo", acc_no), ("sCode", code),
                        ("sHogaGb", hoga), ("sOrgOrderNo", orig_order_no)):
            if not isinstance(v, str):
                raise EmulatorCallError(f"SendOrder: {name} must be a string, got {v!r}")
        for name, num in (("nOrderType", order_type), ("nQty", qty), ("nPrice", price)):
            if type(num) is not int:
                raise EmulatorCallError(f"SendOrder: {name} must be an int, got {num!r}")
        if not self._conn.connected:
            return int(E.OP_ERR_SOCKET_CLOSED)
        if not self._conn.account_ok:
            return int(E.OP_ERR_ORD_WRONG_ACCTNO)
        acc = acc_no.strip()
        if not acc:
            return int(E.OP_ERR_ORD_WRONG_ACCTINFO)
        if acc != self._account:
            return int(E.OP_ERR_OTHER_ACC_USE)
        base, wire_venue = parse_code(code)
        if not base or base not in self._universe_set or wire_venue == AL:
            return int(E.OP_ERR_ORD_SYMCODE_EMPTY)     # '_AL' (SOR) orders are not emulated
        if not self._screens.valid(screen_no) or not rq_name:
            return int(E.OP_ERR_ORD_WRONG_INPUT)
        orig = orig_order_no.strip()
        if order_type in _NEW_TYPES:
            kind = "new"
            venue, side = _NEW_TYPES[order_type]
            if hoga not in SUPPORTED_HOGA or qty <= 0:
                return int(E.OP_ERR_ORD_WRONG_INPUT)
            if (price <= 0) if hoga in PRICED_HOGA else (price != 0):
                return int(E.OP_ERR_ORD_WRONG_INPUT)
            if hoga in PRICED_HOGA and not _on_tick(price):
                return int(E.OP_ERR_ORD_WRONG_INPUT)
            if qty * price > MAX_ORDER_KRW:
                return int(E.OP_ERR_MIS_2BILL_EXC)
        elif order_type in _CANCEL_TYPES:
            kind = "cancel"
            venue, side = _CANCEL_TYPES[order_type]
            if not orig or qty < 0 or price != 0:
                return int(E.OP_ERR_ORD_WRONG_INPUT)
        elif order_type in _MODIFY_TYPES:
            kind = "modify"
            venue, side = _MODIFY_TYPES[order_type]
            if not orig or qty < 0 or hoga not in SUPPORTED_HOGA:
                return int(E.OP_ERR_ORD_WRONG_INPUT)
            if hoga in PRICED_HOGA and (price <= 0 or not _on_tick(price)):
                return int(E.OP_ERR_ORD_WRONG_INPUT)
        else:
            return int(E.OP_ERR_ORD_WRONG_INPUT)   # includes SOR 11/12/13/15: not emulated
        if wire_venue == NXT:
            venue = NXT        # '_NX' code routes to NXT (how the real OCX routes is unverified)
        if not side:
            known = self._reqs.get(orig)
            side = known.side if known is not None else BUY
        if not self._screens.claim(screen_no, real=False):
            return int(E.OP_ERR_FAIL)
        if self.faults.storm_308:
            return int(E.OP_ERR_ORD_OVERFLOW)
        now = self._sched.now_ns
        times = self._order_times
        cutoff = now - NS_PER_S
        while times and times[0] <= cutoff:
            times.popleft()
        if len(times) >= self._orders_per_sec:
            return int(E.OP_ERR_ORD_OVERFLOW)
        times.append(now)

        self._order_seq += 1
        order_no = f"{self._order_seq:07d}"
        tr_code = {"new": "KOA_NORMAL_BUY_KP_ORD" if side == BUY else "KOA_NORMAL_SELL_KP_ORD",
                   "cancel": "KOA_NORMAL_KP_CANCEL", "modify": "KOA_NORMAL_KP_MODIFY"}[kind]
        req = OrderRequest(kind, order_no, rq_name, screen_no, order_type, base, venue, side, qty, price, hoga,
                           orig if kind != "new" else "", now, tr_code)
        fl = self.faults
        if fl.drop_ack_rate and self._rng.random() < fl.drop_ack_rate:
            req.fault = "drop"
        elif fl.reject_rate and self._rng.random() < fl.reject_rate:
            mode = fl.reject_mode
            if mode == "mixed":
                mode = "tr" if self._rng.random() < 0.5 else "chejan"
            elif mode not in ("tr", "chejan"):
                raise ValueError(f"faults.reject_mode must be 'tr', 'chejan' or 'mixed', got {mode!r}")
            req.fault = "reject_tr" if mode == "tr" else "reject_chejan"
        self._reqs[order_no] = req
        if kind == "new" and req.fault in ("", "drop"):
            self._exchanges[venue].register(SimOrder(order_no, base, venue, side, qty, price, hoga, meta=req))
        req.chejan_first = self.latency.chejan_first()
        self._sched.at(now + self.latency.send_to_ack.draw_ns(), self._order_ack, req)
        return 0

    # -- lifecycle ------------------------------------------------------------------------------------

    def _order_ack(self, req: OrderRequest) -> None:
        """Server-side handling of an accepted SendOrder at ack time."""
        now = self._sched.now_ns
        if req.kind == "new" and (req.fault == "" or (req.fault == "drop" and self.faults.drop_ack_order_lives)):
            why = self._exchanges[req.venue].refusal(req.code, req.hoga)
            if why:
                self._drop_registered(req)
                if req.fault == "":
                    self._tr.order_reply(req, "", PHASE_REFUSAL[why])
                return
            book = self._exchanges[req.venue].book(req.code)
            refusal = self.account.receive(req.order_no, req.venue, req.code, req.side, req.qty, req.price, req.hoga,
                                           book.ask if book is not None else 0,
                                           book.ref_price if book is not None else 0)
            if refusal:
                self._drop_registered(req)
                if req.fault == "":
                    self._tr.order_reply(req, "", refusal)
                return
        if req.fault == "drop":
            if not self.faults.drop_ack_order_lives:
                self._drop_registered(req)
                return
            self._accept(req, now, emit_tr=False)
            return
        if req.fault == "reject_tr":
            self._drop_registered(req)
            self._tr.order_reply(req, "", "[emulator] 주문이 거부되었습니다 (injected reject)")
            return
        if req.fault == "reject_chejan":
            self._drop_registered(req)
            self._tr.order_reply(req, req.order_no, "[emulator] 주문이 접수되었습니다")
            self._chejan.order_row(req, "거부", req.qty, req.price, 0, reason="[emulator] injected reject")
            return
        if req.kind != "new":
            refusal = self._check_amend(req)
            if not refusal and req.kind == "modify":
                why = self._exchanges[req.venue].refusal(req.code, req.hoga)
                refusal = PHASE_REFUSAL[why] if why else ""
            if refusal:
                self._tr.order_reply(req, "", refusal)
                return
        self._accept(req, now, emit_tr=True)

    def _drop_registered(self, req: OrderRequest) -> None:
        if req.kind == "new":
            o = self._exchanges[req.venue].order(req.order_no)
            if o is not None:
                o.leaves = 0
                o.state = DONE

    def _check_amend(self, req: OrderRequest) -> str:
        """Why a cancel/modify is refused by the server ('' = fine). Fills in the side of NXT amends."""
        orig = self._reqs.get(req.orig_order_no)
        what = "취소" if req.kind == "cancel" else "정정"
        if orig is None or orig.kind == "cancel" or orig.fault in ("reject_tr", "reject_chejan"):
            return f"[emulator] {what}: 원주문번호 {req.orig_order_no!r}가 존재하지 않습니다"
        if orig.venue != req.venue:
            return (f"[emulator] {what}: 원주문 {orig.order_no} is on {orig.venue}, "
                    f"the {what} was sent to {req.venue}")
        if req.side and req.side != orig.side:
            return (f"[emulator] {what}: order type {req.order_type} does not match the side of "
                    f"원주문 {orig.order_no}")
        req.side = orig.side
        if req.kind == "modify":
            if req.hoga != orig.hoga:
                return (f"[emulator] 정정주문은 거래구분을 변경할 수 없습니다 (원주문 {orig.hoga} "
                        f"{HOGA_TEXT.get(orig.hoga, orig.hoga)} → {req.hoga}); cancel and send a new order")
            if orig.hoga == HOGA_MID:
                return "[emulator] 중간가 주문은 가격정정할 수 없습니다; cancel and send a new order"
        return ""

    def _accept(self, req: OrderRequest, now: int, emit_tr: bool) -> None:
        side_txt = "매수" if req.side == BUY else "매도"
        if emit_tr:
            message = f"[emulator] {side_txt}주문이 완료되었습니다"
            if req.chejan_first:        # the Chejan overtakes the TR ack: it comes one more send→ack later
                self._sched.at(now + max(self.latency.send_to_ack.draw_ns(), 1), self._tr.order_reply, req,
                               req.order_no, message)
            else:
                self._tr.order_reply(req, req.order_no, message)
        if req.kind == "new":
            self._chejan.order_row(req, "접수", req.qty, req.price, req.qty)
            self._sched.at(now + self.latency.ack_to_fill.draw_ns(), self._arrive_new, req)
        else:
            self._chejan.order_row(req, "접수", req.qty, req.price, 0)
            arrive = max(req.send_ns + self.latency.cancel.draw_ns(), now)
            self._sched.at(arrive, self._arrive_cancel if req.kind == "cancel" else self._arrive_modify, req)

    def _arrive_new(self, req: OrderRequest) -> None:
        ex = self._exchanges[req.venue]
        o = ex.order(req.order_no)
        if o is None:
            o = SimOrder(req.order_no, req.code, req.venue, req.side, req.qty, req.price, req.hoga, meta=req)
        ex.submit(o, self._sched.now_ns)

    def _arrive_cancel(self, req: OrderRequest) -> None:
        now = self._sched.now_ns
        n = self._exchanges[req.venue].cancel(req.orig_order_no, req.qty, now)
        reason = "" if n else "[emulator] 취소가능수량이 없습니다 (already filled or cancelled)"
        self._chejan.order_row(req, "확인", n, 0, 0, reason=reason)
        if not n:
            self._tr.msg(req, reason)

    def _arrive_modify(self, req: OrderRequest) -> None:
        now = self._sched.now_ns
        ex = self._exchanges[req.venue]
        why = ex.refusal(req.code, req.hoga)
        if why:             # the phase changed while it was in flight: refused whole, the original keeps resting
            self._chejan.order_row(req, "거부", req.qty, req.price, 0, reason=ARRIVAL_REFUSAL[why])
            return
        n = ex.cancel(req.orig_order_no, req.qty, now)
        if not n:
            reason = "[emulator] 정정가능수량이 없습니다 (already filled or cancelled)"
            self._chejan.order_row(req, "확인", 0, req.price, 0, reason=reason)
            self._tr.msg(req, reason)
            return
        self._chejan.order_row(req, "확인", n, req.price, n)
        new = SimOrder(req.order_no, req.code, req.venue, req.side, n, req.price, req.hoga, meta=req)
        ex.submit(new, now)

    # -- exchange listener ----------------------------------------------------------------------------

    def on_fill(self, order: SimOrder, qty: int, price: int, exec_id: str, t_ns: int) -> None:
        """Exchange callback: accrue fee/tax, book the fill in the account, then emit 체결 and 잔고."""
        req = _request_of(order)
        notional = qty * price
        fee0, tax0 = int(req.fee_acc), int(req.tax_acc)
        req.fee_acc += notional * self._fee_bps[req.venue] / 10_000
        if order.side == SELL:
            market = self._markets.get(req.code, "KOSPI")
            req.tax_acc += notional * self._tax_bps_fn(market, kst_date(t_ns).year) / 10_000
        acct = self.account
        newpos = acct.on_fill(req.code, order.side, qty, price, int(req.fee_acc) - fee0, int(req.tax_acc) - tax0)
        self._chejan.order_row(req, "체결", order.qty, order.price, order.leaves, fill=(qty, price, exec_id),
                               cum=(order.filled, order.cum_amount), book=self._exchanges[req.venue].book(req.code))
        self._chejan.balance_row(req.code, req.venue, newpos, acct.avg_price(req.code), acct.sellable(req.code),
                                 int(acct.cash_krw))

    def on_cancelled(self, order: SimOrder, qty: int, reason: str, t_ns: int) -> None:
        """Exchange callback: an IOC/FOK/market remainder was cancelled by the exchange."""
        req = _request_of(order)
        self._chejan.order_row(req, "확인", qty, order.price, 0, reason=reason, self_cancel=True)

    def on_rejected(self, order: SimOrder, reason: str, t_ns: int) -> None:
        """Exchange callback: the order was refused on arrival."""
        self._chejan.order_row(_request_of(order), "거부", order.qty, order.price, 0, reason=reason)
