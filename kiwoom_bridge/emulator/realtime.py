"""Real-time data of the emulated control: registration (``SetRealReg``), encoding and delivery.

Registration (KOA: "한번에 등록가능한 종목과 FID갯수는 100종목, 100개"):

* ``SetRealReg`` takes ≤100 codes per call (else -204 OP_ERR_OVER_MAX_DATA) and ≤100 FIDs (else -206).
  A screen holds at most ``max_codes_per_screen`` codes (100 by default) over all its ``"1"`` adds, KRX and
  ``_NX`` codes alike; the call that would pass it gets -204 too. SPEC §11 assumes ``_NX`` codes count towards
  the 100 (a 200-symbol universe needs 4 screens): whether the real control caps a *screen* and counts
  ``_NX`` codes is **unverified**, so the emulator enforces the strict reading (``None`` turns it off).
* Screens count towards the 200-screen limit (:mod:`kiwoom_bridge.emulator.screens`).
* ``"0"`` replaces the screen's codes and FIDs, ``"1"`` adds. A symbol's KRX code and its ``_NX`` code are
  two codes. ``_AL`` (integrated) codes are accepted, but no AL data is ever sent
  (:mod:`kiwoom_bridge.wire_codes`). An empty code list registers the market-wide FID 215 feed
  (:mod:`kiwoom_bridge.emulator.session_feed`); it needs FIDs of 장시작시간.
* Real data flows only for registered codes and only the real types whose FIDs were registered
  (:data:`kiwoom_bridge.fids.TRADE_REAL_FIDS`, :data:`~kiwoom_bridge.fids.QUOTE_REAL_FIDS`,
  :data:`~kiwoom_bridge.fids.VI_REAL_FIDS`).

Encoding (:meth:`RealTimeFeed.encode`):

* Prices are sign-prefixed against the previous close (``'+84500'``, ``'-84490'``, no sign when equal).
  A 주식호가잔량 row carries all four best-level FIDs: an empty side is ``'0'`` (price and size), never the
  side's last price.
* A ``VI발동/해제`` event (a volatility interruption of the code on the event's venue, :mod:`kiwoom_bridge.types`)
  is applied to the exchange (the code enters or leaves its call) and delivered with 9001 (the code), 9068
  (``'1'`` 발동 / ``'2'`` 해제), 1225 (정적/동적/동적+정적), 1221 (the trigger price, signed), 1223 (the time),
  1224 (해제시각 at the end, else empty) and 9069 (``'1'`` up / ``'2'`` down against the previous close).
* FID 15 is ``+qty`` for a buy-aggressor print and ``-qty`` for a sell-aggressor print: at/above the ask
  before the print = buyer, at/below the bid = seller, otherwise the tick rule against the previous print.

Delivery: a market event is applied to its venue's exchange at once and delivered as
``OnReceiveRealData`` one ``market_data_ms`` draw later for sources that add latency (synthetic; never before
an earlier event's delivery: the feed stays in order), at once otherwise (recorded times are receive times).
Nothing is delivered while disconnected, nor for a code unregistered between the event and its delivery.
``GetCommRealData`` answers only inside ``OnReceiveRealData`` and only for the code being delivered (empty string
elsewhere, like the OCX).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from kiwoom_bridge import fids
from kiwoom_bridge.emulator.call_errors import EmulatorCallError
from kiwoom_bridge.emulator.connection import Connection
from kiwoom_bridge.emulator.exchange import ExchangeSimulator, L1Book
from kiwoom_bridge.emulator.latency import Stage
from kiwoom_bridge.emulator.qt_signal import QtSignal
from kiwoom_bridge.emulator.scheduler import SimScheduler
from kiwoom_bridge.emulator.screens import Screens
from kiwoom_bridge.emulator.wire_format import hhmmss, signed_price
from kiwoom_bridge.errors import ErrorCode as E
from kiwoom_bridge.types import REAL_TYPE_QUOTE, REAL_TYPE_TRADE, REAL_TYPE_VI, QuoteEvent
from kiwoom_bridge.wire_codes import parse_code, wire_code

if TYPE_CHECKING:
    from kiwoom_bridge.emulator.session_feed import SessionFeed

__all__ = ["MAX_CODES_PER_CALL", "MAX_CODES_PER_SCREEN", "MAX_FIDS_PER_CALL", "RealDataChannel", "RealTimeFeed"]

MAX_CODES_PER_CALL = 100
MAX_CODES_PER_SCREEN = 100
MAX_FIDS_PER_CALL = 100
_VI_KIND_TEXT = {"static": "정적", "dynamic": "동적", "static+dynamic": "동적+정적"}


class RealDataChannel:
    """``OnReceiveRealData`` and the values ``GetCommRealData`` answers while it is being emitted."""

    __slots__ = ("signal", "_code", "_current")

    def __init__(self, signal: QtSignal) -> None:
        self.signal = signal
        self._code: str | None = None
        self._current: dict[int, str] | None = None

    def emit(self, wire: str, real_type: str, data: dict[int, str]) -> None:
        """Emit ``OnReceiveRealData(wire, real_type, values)``; ``data`` answers GetCommRealData meanwhile."""
        self._code = wire
        self._current = data
        try:
            self.signal.emit(wire, real_type, "\t".join(data.values()))
        finally:
            self._code = None
            self._current = None

    def get_comm_real_data(self, code: str, fid: int) -> str:
        """``GetCommRealData(code, fid)``: the value being delivered for ``code``, else ``''``."""
        d = self._current
        if d is None or code != self._code:
            return ""
        if type(fid) is not int:
            raise EmulatorCallError(f"GetCommRealData: nFid must be an int, got {fid!r}")
        return d.get(fid, "")


class RealTimeFeed:
    """Real-time registrations and the delivery of market events as real data.

    Args:
      market_data: The market-data latency stage, or None when the source's times are receive times.

    Attributes:
      max_codes_per_screen: The codes a screen may hold over its ``"1"`` adds (KRX and ``_NX`` codes both count;
        100 by default); None = only the per-call limit.
    """

    def __init__(self, scheduler: SimScheduler, conn: Connection, screens: Screens,
                 exchanges: dict[str, ExchangeSimulator], channel: RealDataChannel, session: SessionFeed,
                 market_data: Stage | None) -> None:
        self._sched = scheduler
        self._conn = conn
        self._screens = screens
        self._exchanges = exchanges
        self._channel = channel
        self._session = session
        self._md = market_data
        self._md_last_ns = 0                                 # the latest delivery scheduled (the feed stays in order)
        self._real_types: dict[str, frozenset[str]] = {}     # wire code → real types delivered
        self._wire: dict[tuple[str, str], str] = {}          # (code, venue) → wire code, made once each
        self.max_codes_per_screen: int | None = MAX_CODES_PER_SCREEN

    # -- registration ---------------------------------------------------------------------------------

    def set_real_reg(self, screen: str, codes: str, fid_list: str, opt: str) -> int:
        """``SetRealReg(screen, codes, fids, opt)``."""
        if not isinstance(codes, str) or not isinstance(fid_list, str) or not isinstance(opt, str):
            raise EmulatorCallError("SetRealReg takes four strings")
        if not self._conn.connected:
            return int(E.OP_ERR_SOCKET_CLOSED)
        screens = self._screens
        if not screens.valid(screen) or opt not in ("0", "1"):
            return int(E.OP_ERR_INPUT)
        code_list = [c.strip() for c in codes.split(";") if c.strip()]
        try:
            fid_numbers = fids.fid_list(fid_list)
        except ValueError:
            return int(E.OP_ERR_INPUT)
        if len(code_list) > MAX_CODES_PER_CALL:
            return int(E.OP_ERR_OVER_MAX_DATA)
        if not fid_numbers:
            return int(E.OP_ERR_INPUT)
        if len(fid_numbers) > MAX_FIDS_PER_CALL:
            return int(E.OP_ERR_OVER_MAX_FID)
        for c in code_list:
            base, _ = parse_code(c)         # '_NX' and '_AL' codes are accepted, like the OCX
            if not (len(base) == 6 and base.isalnum()):
                return int(E.OP_ERR_INPUT)
        if not screens.claim(screen, real=True):
            return int(E.OP_ERR_FAIL)
        if not code_list:
            # market-wide registration: only 장시작시간 (FID 215) is market-wide
            if not fids.SESSION_REAL_FIDS.intersection(fid_numbers):
                return int(E.OP_ERR_INPUT)
            first = not screens.market_wide
            screens.market_wide.add(screen)
            self._session.arm(send_current=first)
            return 0
        replace = opt == "0" or screen not in screens.codes
        new_codes = set(code_list) if replace else screens.codes[screen] | set(code_list)
        cap = self.max_codes_per_screen
        if cap is not None and len(new_codes) > cap:
            return int(E.OP_ERR_OVER_MAX_DATA)
        screens.codes[screen] = new_codes
        screens.fids[screen] = set(fid_numbers) if replace else screens.fids[screen] | set(fid_numbers)
        self._rebuild_real_types()
        return 0

    def _rebuild_real_types(self) -> None:
        per_code: dict[str, set[str]] = {}
        for screen, codes in self._screens.codes.items():
            f = self._screens.fids.get(screen, set())
            rts = set()
            if fids.TRADE_REAL_FIDS.intersection(f):
                rts.add(REAL_TYPE_TRADE)
            if fids.QUOTE_REAL_FIDS.intersection(f):
                rts.add(REAL_TYPE_QUOTE)
            if fids.VI_REAL_FIDS.intersection(f):
                rts.add(REAL_TYPE_VI)
            for c in codes:
                per_code.setdefault(c, set()).update(rts)
        self._real_types = {c: frozenset(r) for c, r in per_code.items() if r}

    def set_real_remove(self, screen: str, code: str) -> None:
        """``SetRealRemove(screen, code)``; ``"ALL"`` for either means every one."""
        screens = self._screens
        for s in (list(screens.codes) if screen == "ALL" else [screen]):
            if code == "ALL":
                screens.codes.pop(s, None)
                screens.fids.pop(s, None)
                screens.market_wide.discard(s)
            elif s in screens.codes:
                screens.codes[s].discard(code)
        if screen == "ALL" and code == "ALL":
            screens.market_wide.clear()
        self._rebuild_real_types()

    def disconnect_real_data(self, screen: str) -> None:
        """``DisconnectRealData(screen)``: drop every registration of ``screen``."""
        screens = self._screens
        screens.codes.pop(screen, None)
        screens.fids.pop(screen, None)
        screens.market_wide.discard(screen)
        self._rebuild_real_types()

    # -- market events → real data ----------------------------------------------------------------------

    def on_market_event(self, ev: QuoteEvent, t: int) -> None:
        """Apply ``ev`` to its exchange at ``t`` and deliver it to whoever registered its code and real type."""
        ex = self._exchanges.get(ev.venue)
        if ex is None:
            raise ValueError(f"market event for unknown venue {ev.venue!r}: {ev!r}")
        prev = ex.book(ev.code)
        if prev is None:
            prev_last = prev_ask = prev_bid = 0
        else:
            prev_last, prev_ask, prev_bid = prev.last, prev.ask, prev.bid
        book: L1Book | None
        if ev.real_type == REAL_TYPE_VI:
            ex.set_vi(ev.code, ev.vi_active, t, 0 if ev.vi_active else ev.last)
            book = ex.book(ev.code)
            data = self.encode_vi(ev, book.ref_price if book is not None else 0, t)
        else:
            book = ex.on_market(ev)
            data = {}
        if not self._conn.connected:
            return
        wire = self._wire.get((ev.code, ev.venue))
        if wire is None:
            wire = self._wire[(ev.code, ev.venue)] = wire_code(ev.code, ev.venue)
        rts = self._real_types.get(wire)
        if not rts or ev.real_type not in rts:
            return
        if ev.real_type != REAL_TYPE_VI:
            assert book is not None
            data = self.encode(ev, book, prev_last, prev_ask, prev_bid, t)
        if self._md is not None:
            due = max(t + self._md.draw_ns(), self._md_last_ns)
            self._md_last_ns = due
            self._sched.at(due, self._deliver, wire, ev.real_type, data)
        else:
            self._deliver(wire, ev.real_type, data)

    @staticmethod
    def encode(ev: QuoteEvent, b: L1Book, prev_last: int, prev_ask: int, prev_bid: int,
               t: int) -> dict[int, str]:
        """The FID → value map of ``ev`` after it was applied to book ``b`` (``prev_*``: the book before)."""
        ref = b.ref_price

        time_s = hhmmss(t)
        if ev.real_type == REAL_TYPE_QUOTE:
            # every best-level FID, every time: an empty side is a zero price and size
            return {21: time_s, 41: signed_price(b.ask, ref) or "0", 51: signed_price(b.bid, ref) or "0",
                    61: str(b.ask_qty if b.ask else 0), 71: str(b.bid_qty if b.bid else 0), 13: str(b.cum_volume)}
        last = b.last
        if ev.change or ev.change_rate:
            chg, rate = ev.change, ev.change_rate      # a replayed print: what was recorded
        else:
            chg = last - ref if last and ref else 0
            rate = (chg / ref * 100.0) if ref else 0.0
        if ev.last and b.last_qty:
            q = b.last_qty
            # aggressor side: at/above the ask before the print = buyer, at/below the bid = seller,
            # otherwise the tick rule against the previous print
            if prev_ask and last >= prev_ask:
                buy = True
            elif prev_bid and last <= prev_bid:
                buy = False
            else:
                buy = last >= prev_last
            qty_s = f"+{q}" if buy else f"-{q}"
        else:
            qty_s = ""
        return {20: time_s, 10: signed_price(last, ref), 11: (f"+{chg}" if chg > 0 else str(chg)),
                12: (f"+{rate:.2f}" if rate > 0 else f"{rate:.2f}"), 15: qty_s, 13: str(b.cum_volume),
                27: signed_price(b.ask, ref), 28: signed_price(b.bid, ref)}

    @staticmethod
    def encode_vi(ev: QuoteEvent, ref: int, t: int) -> dict[int, str]:
        """The FID → value map of a VI발동/해제 event (module docstring)."""
        price = ev.last if ev.vi_active else 0
        up = price >= ref if price and ref else True
        return {9001: wire_code(ev.code, ev.venue), 9068: "1" if ev.vi_active else "2",
                1225: _VI_KIND_TEXT.get(ev.vi_kind, ev.vi_kind), 1221: signed_price(price, ref), 1223: hhmmss(t),
                1224: "" if ev.vi_active else hhmmss(t), 9069: "1" if up else "2"}

    def _deliver(self, wire: str, real_type: str, data: dict[int, str]) -> None:
        if not self._conn.connected:
            return
        rts = self._real_types.get(wire)
        if not rts or real_type not in rts:
            return      # unregistered between the exchange event and delivery
        self._channel.emit(wire, real_type, data)
