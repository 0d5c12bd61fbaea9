"""An emulator of the Kiwoom OpenAPI+ control (``KHOPENAPI.KHOpenAPICtrl.1``) with exchanges behind it.

:class:`EmulatedControl` offers what PyQt5's ``QAxWidget`` offers the facade: ``dynamicCall(signature,
[args])`` with Kiwoom's exact signature strings, and Qt-style signals (``OnEventConnect``,
``OnReceiveRealData``, ``OnReceiveTrData``, ``OnReceiveChejanData``, ``OnReceiveMsg``) with
``connect``/``emit``. Everything runs on one simulated clock (:class:`SimScheduler`); nothing sleeps.

Kiwoom behaviour reproduced (SPEC §2, facts §4):

* Login is asynchronous: ``CommConnect()`` returns 0 and ``OnEventConnect(login_result)`` follows
  ``login_delay_ms`` later (``login_result`` may be set to a failure such as -101).
* ``SendOrder`` returns -106 when not connected, -301 before ``KOA_Functions("ShowAccountWindow", "")``,
  -340/-302 for a missing/foreign account, -300 for invalid input, -303 above 2 billion KRW, -500 for
  an empty or unknown code, -308 when it would be the (N+1)-th *accepted* SendOrder within any 1 s of
  simulated time (N = ``kiwoom.rate_limits.orders_per_sec``, 5; refused calls do not count; the window
  is half-open, so an order exactly 1 s after the first of five is accepted), and -308 always while
  ``faults.storm_308`` is on.
* Order numbers are 7-digit strings (``'0000001'``...; cancels and modifies get their own numbers).
* ``SetRealReg``: ≤100 codes per call (else -204 OP_ERR_OVER_MAX_DATA; KOA: "한번에 등록가능한 종목과
  FID갯수는 100종목, 100개") and ≤100 FIDs (else -206); a per-screen cap over several ``"1"`` calls
  is off by default (``max_codes_per_screen``): whether the real control has one, and whether
  ``_NX`` codes count towards it, is **unverified**;
  a registration that would make a 201st distinct screen is refused with -10 OP_ERR_FAIL (the real
  control's behaviour past 200 screens is "data gets mixed", i.e. undefined; screens used by SendOrder
  and CommRqData count too). ``"0"`` replaces the screen's codes and FIDs, ``"1"`` adds. A symbol's
  KRX code and its ``_NX`` code are two codes. Real data flows only for registered codes and only the real
  types whose FIDs were registered. ``GetCommRealData`` answers only inside ``OnReceiveRealData`` and
  ``GetChejanData`` only inside ``OnReceiveChejanData`` (empty string elsewhere, like the OCX).
* Prices in real data are sign-prefixed against the previous close (``'+84500'``, ``'-84490'``, no sign
  when equal); FID 15 is ``+qty`` for a buy-aggressor print and ``-qty`` for a sell-aggressor print.
* FID 215 (장운영구분) for whoever registered FIDs of ``장시작시간`` with an empty code list: ``'0'`` at
  08:30, ``'3'`` at the KRX open (09:00), ``'R'`` at the NXT main start (09:00:30), ``'S'`` at its end
  (15:20) on trading days (times from ``sessions`` when an EngineConfig is given). **Emulator
  convenience:** on the first such registration the current state (the last code due today) is sent
  at once, so a clock starting at 10:00 still sees ``'R'``.

Orders, latencies and Chejan (the semantics the facade relies on):

* ``t0`` SendOrder → ``t0 + send_to_ack_ms``: ``OnReceiveMsg`` + ``OnReceiveTrData`` (GetCommData
  "주문번호" = the 7-digit number, or empty = refused) and the Chejan ``'접수'`` row.
* New orders reach the matching engine ``ack_to_fill_ms`` after the ack; each fill gives a ``'체결'``
  row followed by a gubun ``'1'`` 잔고 row. Resting orders fill later by the queue model.
* Cancels and modifies reach the matching engine ``cancel_ms`` after ``t0`` (never before their ack).
* Every Chejan row is delivered ``faults.chejan_delay_ms`` after the exchange event, in event order.

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
quantity was cancelled and 900 the quantity cancelled. A modify that changes the hoga (거래구분) is
refused: empty 주문번호 in the TR ack plus an ``OnReceiveMsg`` saying why.

Faults (``faults`` attribute, initialised from ``sim.faults``): ``reject_rate`` (refusal after a
successful SendOrder: an empty-주문번호 ack or a ``'거부'`` Chejan, per ``reject_mode``),
``drop_ack_rate`` (no OnReceiveTrData at all; the order is dropped unless
``drop_ack_order_lives``), ``chejan_delay_ms``, ``storm_308``, ``disconnect_at_ns`` (→
``OnEventConnect(-106)``, ``GetConnectState() == 0``, orders refused with -106, no more real data or
Chejan until ``CommConnect`` succeeds again).

Positions (gubun ``'1'``, FID 930) are signed: the emulator lets a sell exceed the holding and reports
``'-N'`` (a real account would need the shares); the facade parses 930 with its sign.
"""
from __future__ import annotations

import datetime as dt
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from core.clock import NS_PER_MS, NS_PER_S, kst_date, ns_from_kst
from core.ticks import is_on_tick
from kiwoom_bridge import fids as F
from kiwoom_bridge.emulator.exchange import (
    BUY, DONE, HOGA_MID, PRICED_HOGA, SELL, SUPPORTED_HOGA, ExchangeSimulator, L1Book, SimOrder,
)
from kiwoom_bridge.emulator.scheduler import SimScheduler
from kiwoom_bridge.emulator.source import MarketSource
from kiwoom_bridge.errors import ErrorCode as E
from kiwoom_bridge.types import KRX, NXT, REAL_TYPE_QUOTE, REAL_TYPE_SESSION, REAL_TYPE_TRADE, QuoteEvent

__all__ = ["EmulatedControl", "Faults", "Signal", "UnknownSignatureError", "EmulatorCallError",
           "ReentrancyError", "SIGNATURES", "build_for_config"]

# The exact dynamicCall signature strings the emulator answers (PyQt5 QAxWidget style).
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

SIGNATURES: tuple[str, ...] = (
    SIG_COMM_CONNECT, SIG_GET_CONNECT_STATE, SIG_GET_LOGIN_INFO, SIG_KOA_FUNCTIONS, SIG_SET_REAL_REG,
    SIG_SET_REAL_REMOVE, SIG_GET_COMM_REAL_DATA, SIG_SEND_ORDER, SIG_GET_CHEJAN_DATA, SIG_SET_INPUT_VALUE,
    SIG_COMM_RQ_DATA, SIG_GET_COMM_DATA, SIG_GET_CODE_LIST_BY_MARKET, SIG_DISCONNECT_REAL_DATA,
)
_ARITY = {sig: (0 if sig.endswith("()") else sig.count(",") + 1) for sig in SIGNATURES}

MAX_CODES_PER_CALL = 100
MAX_FIDS_PER_CALL = 100
MAX_SCREENS = 200
MAX_ORDER_KRW = 2_000_000_000
_CHUNK_NS = 100 * NS_PER_MS          # source events are pulled in chunks of this much simulated time

_NEW_TYPES = {1: (KRX, BUY), 2: (KRX, SELL), 21: (NXT, BUY), 22: (NXT, SELL)}
_CANCEL_TYPES = {3: (KRX, BUY), 4: (KRX, SELL), 23: (NXT, 0)}       # 0: NXT cancel serves both sides
_MODIFY_TYPES = {5: (KRX, BUY), 6: (KRX, SELL), 25: (NXT, 0)}

_HOGA_TEXT = {"00": "보통", "03": "시장가", "10": "보통(IOC)", "13": "시장가(IOC)", "20": "보통(FOK)",
              "23": "시장가(FOK)", "29": "중간가"}
_EMPTY_ORIG = "0000000"


class UnknownSignatureError(LookupError):
    """``dynamicCall`` was given a signature the emulator (and the facade contract) does not know."""


class EmulatorCallError(TypeError):
    """``dynamicCall`` was given arguments of the wrong number or type for its signature."""


class ReentrancyError(RuntimeError):
    """``advance_to`` was called from inside an event callback."""


class Signal:
    """A minimal synchronous Qt-style signal: ``connect(fn)``, ``disconnect(fn)``, ``emit(*args)``."""

    __slots__ = ("name", "_slots")

    def __init__(self, name: str) -> None:
        self.name = name
        self._slots: list[Callable[..., Any]] = []

    def connect(self, slot: Callable[..., Any]) -> None:
        """Call ``slot(*args)`` on every emit (in connection order)."""
        if not callable(slot):
            raise TypeError(f"{self.name}.connect needs a callable, got {slot!r}")
        self._slots.append(slot)

    def disconnect(self, slot: Callable[..., Any] | None = None) -> None:
        """Remove ``slot`` (or every slot when None)."""
        if slot is None:
            self._slots.clear()
        else:
            self._slots.remove(slot)

    def emit(self, *args: Any) -> None:
        """Call every connected slot synchronously with ``args``."""
        for slot in self._slots:
            slot(*args)

    def __repr__(self) -> str:
        return f"Signal({self.name}, {len(self._slots)} slots)"


@dataclass
class Faults:
    """Injectable faults. Mutable: tests flip them while a run is in progress.

    Attributes:
      reject_rate: Probability (0–1) that an accepted SendOrder is refused by the "server".
      reject_mode: ``'tr'`` (empty 주문번호 in the TR ack), ``'chejan'`` (order number, then a '거부'
        Chejan) or ``'mixed'`` (each refusal picks one at random).
      drop_ack_rate: Probability that the TR ack of an accepted SendOrder never arrives.
      drop_ack_order_lives: With a dropped ack, whether the order still reaches the exchange (Chejan
        then reports an order number the client never saw).
      chejan_delay_ms: Extra delay of every Chejan notice.
      storm_308: While True every SendOrder returns -308.
      disconnect_at_ns: Simulated time of a connection loss (-106), or None.
    """

    reject_rate: float = 0.0
    reject_mode: str = "mixed"
    drop_ack_rate: float = 0.0
    drop_ack_order_lives: bool = False
    chejan_delay_ms: float = 0.0
    storm_308: bool = False
    disconnect_at_ns: int | None = None


@dataclass(eq=False)
class _Req:
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
    fee_acc: float = 0.0        # cumulative fee of this order, KRW (unrounded)
    tax_acc: float = 0.0


class EmulatedControl:
    """The OpenAPI+ control, emulated, with one :class:`ExchangeSimulator` per venue behind it.

    Args:
      scheduler: The simulated clock and event queue.
      source: Where market events come from (:class:`~kiwoom_bridge.emulator.source.MarketSource`).
      config: An ``EngineConfig`` (uses ``sim``, ``kiwoom.rate_limits``, ``sessions``, ``fees``) or just
        its ``sim`` section (then 5 orders/s, default session times, zero fees and taxes).
      universe_codes: 6-digit codes that exist (orders for others get -500).
      rng_seed: Seed of the fault-injection random stream (same seed + inputs → same events).
      markets: Optional code → 'KOSPI'/'KOSDAQ' (tax, GetCodeListByMarket); default KOSPI.
      names: Optional code → name (FID 302, opt10001).
      is_trading_day: Date → bool for the FID 215 schedule; default Mon–Fri minus
        ``sessions.extra_holidays``.
      login_delay_ms: CommConnect → OnEventConnect.
      account: The account number GetLoginInfo("ACCNO") reports.

    Attributes:
      faults: The :class:`Faults` in force.
      login_result: The code the next login reports (0 success, e.g. -101 server connection failure).
      chejan_nx_suffix: Whether Chejan FID 9001 of an NXT order reads ``'A005930_NX'`` (True) or
        ``'A005930'`` (False; the facade then needs its own order-number → venue map).
      chejan_venue_fid: Whether Chejan rows carry FID 2134 (1 KRX, 2 NXT; REST-era, unverified for the OCX).
      max_codes_per_screen: None (default) = only the documented 100-codes-per-call limit; an int also
        caps the codes a screen accumulates through ``"1"`` adds (KRX and ``_NX`` codes both count), for
        testing against the stricter reading of the limit.
    """

    def __init__(self, scheduler: SimScheduler, source: MarketSource, config: Any,
                 universe_codes: Iterable[str], rng_seed: int = 0, *,
                 markets: Mapping[str, str] | None = None, names: Mapping[str, str] | None = None,
                 is_trading_day: Callable[[dt.date], bool] | None = None,
                 login_delay_ms: float = 100.0, account: str = "8012345611") -> None:
        sim = getattr(config, "sim", config)
        engine = config if hasattr(config, "sim") else None
        self._sched = scheduler
        self._source = source
        self._rng = random.Random(rng_seed)
        self.universe: tuple[str, ...] = tuple(dict.fromkeys(universe_codes))
        self._universe_set = frozenset(self.universe)
        self._markets = dict(markets or {})
        self._names = dict(names or {})
        self._account = account
        lat = sim.latency
        self._send_to_ack_ns = round(lat.send_to_ack_ms * NS_PER_MS)
        self._ack_to_fill_ns = round(lat.ack_to_fill_ms * NS_PER_MS)
        self._cancel_ns = round(lat.cancel_ms * NS_PER_MS)
        self._md_ns = round(lat.market_data_ms * NS_PER_MS) if source.adds_latency else 0
        self._login_delay_ns = round(login_delay_ms * NS_PER_MS)
        if engine is not None:
            self._orders_per_sec = engine.kiwoom.rate_limits.orders_per_sec
            self._queries_per_sec = engine.kiwoom.rate_limits.queries_per_sec
            s = engine.sessions
            self._session_times: tuple[tuple[dt.time, str], ...] = (
                (dt.time(8, 30), "0"), (s.krx_day.start, "3"), (s.nxt_main.start, "R"), (s.nxt_main.end, "S"))
            holidays = frozenset(s.extra_holidays)
            fees = engine.fees
            self._fee_bps = {KRX: fees.krx.broker_bps + fees.krx.regulatory_bps,
                             NXT: fees.nxt.broker_bps + fees.nxt.regulatory_bps}
            self._tax_bps_fn: Callable[[str, int], float] = fees.tax_bps
        else:
            self._orders_per_sec = 5
            self._queries_per_sec = 5
            self._session_times = ((dt.time(8, 30), "0"), (dt.time(9, 0), "3"), (dt.time(9, 0, 30), "R"),
                                   (dt.time(15, 20), "S"))
            holidays = frozenset()
            self._fee_bps = {KRX: 0.0, NXT: 0.0}
            self._tax_bps_fn = lambda market, year: 0.0
        self._is_trading_day = is_trading_day or (lambda d: d.weekday() < 5 and d not in holidays)

        f = sim.faults
        self.faults = Faults(reject_rate=f.reject_rate, drop_ack_rate=f.drop_ack_rate,
                             chejan_delay_ms=f.chejan_delay_ms, storm_308=f.storm_308)
        if f.disconnect_at is not None:
            self.faults.disconnect_at_ns = ns_from_kst(kst_date(scheduler.now_ns), f.disconnect_at)
        self._disconnect_scheduled: int | None = None
        self.login_result = 0
        self.chejan_nx_suffix = True
        self.chejan_venue_fid = False
        self.max_codes_per_screen: int | None = None

        fm = sim.fill_model
        self._exchanges = {
            v: ExchangeSimulator(v, self, queue_ahead_fraction=fm.queue_ahead_fraction,
                                 trade_through_fills=fm.trade_through_fills)
            for v in (KRX, NXT)
        }

        # Qt-style signals
        self.OnEventConnect = Signal("OnEventConnect")
        self.OnReceiveRealData = Signal("OnReceiveRealData")
        self.OnReceiveTrData = Signal("OnReceiveTrData")
        self.OnReceiveChejanData = Signal("OnReceiveChejanData")
        self.OnReceiveMsg = Signal("OnReceiveMsg")

        # connection / account
        self._connected = False
        self._account_ok = False
        self._login_pending = False

        # real-time registrations
        self._screen_codes: dict[str, set[str]] = {}
        self._screen_fids: dict[str, set[int]] = {}
        self._real_types: dict[str, frozenset[str]] = {}     # wire code → real types delivered
        self._session_screens: set[str] = set()
        self._other_screens: set[str] = set()
        self._real_code: str | None = None
        self._real_current: dict[int, str] | None = None
        self._session_armed = False

        # orders
        self._order_seq = 0
        self._order_times: deque[int] = deque()
        self._reqs: dict[str, _Req] = {}
        self._holdings: dict[str, list[int]] = {}            # code → [signed qty, avg price]
        self._chejan_current: dict[int, str] | None = None

        # TR queries
        self._inputs: dict[str, str] = {}
        self._query_times: deque[int] = deque()
        self._tr_current: tuple[str, str, dict[str, str]] | None = None

        self._in_advance = False
        handlers: dict[str, Callable[..., Any]] = {
            SIG_COMM_CONNECT: self._comm_connect,
            SIG_GET_CONNECT_STATE: self._get_connect_state,
            SIG_GET_LOGIN_INFO: self._get_login_info,
            SIG_KOA_FUNCTIONS: self._koa_functions,
            SIG_SET_REAL_REG: self._set_real_reg,
            SIG_SET_REAL_REMOVE: self._set_real_remove,
            SIG_GET_COMM_REAL_DATA: self._get_comm_real_data,
            SIG_SEND_ORDER: self._send_order,
            SIG_GET_CHEJAN_DATA: self._get_chejan_data,
            SIG_SET_INPUT_VALUE: self._set_input_value,
            SIG_COMM_RQ_DATA: self._comm_rq_data,
            SIG_GET_COMM_DATA: self._get_comm_data,
            SIG_GET_CODE_LIST_BY_MARKET: self._get_code_list_by_market,
            SIG_DISCONNECT_REAL_DATA: self._disconnect_real_data,
        }
        self._dispatch: dict[str, tuple[Callable[..., Any], int]] = {
            sig: (fn, _ARITY[sig]) for sig, fn in handlers.items()}

    # == the QAxWidget surface =========================================================================

    def dynamicCall(self, signature: str, *args: Any) -> Any:  # noqa: N802 - Qt's name
        """Call an OpenAPI+ function by its exact signature, ``dynamicCall(sig, [a, b])`` or ``(sig, a, b)``.

        Raises:
          UnknownSignatureError: For a signature not in :data:`SIGNATURES` (named in the message).
          EmulatorCallError: For the wrong number or type of arguments.
        """
        try:
            fn, arity = self._dispatch[signature]
        except KeyError:
            raise UnknownSignatureError(f"dynamicCall: the emulated OpenAPI+ control has no function "
                                        f"{signature!r}; known: {', '.join(SIGNATURES)}") from None
        if len(args) == 1:
            a = args[0]
            if a.__class__ is list or a.__class__ is tuple:
                args = a
        if len(args) != arity:
            raise EmulatorCallError(f"dynamicCall({signature!r}) takes {arity} arguments, "
                                    f"got {len(args)}: {list(args)!r}")
        return fn(*args)

    # == driving the simulation ========================================================================

    @property
    def now_ns(self) -> int:
        """The simulated time (ns since the epoch)."""
        return self._sched.now_ns

    def clock_ns(self) -> int:
        """The simulated time (ns since the epoch); pass this as the facade's ``clock_ns``."""
        return self._sched.now_ns

    def next_event_ns(self) -> int | None:
        """The earliest pending time: the next market event or the next scheduled emulator event."""
        self._sync_disconnect_fault()
        a = self._source.peek_time_ns()
        b = self._sched.next_time_ns()
        if a is None:
            return b
        if b is None:
            return max(a, self._sched.now_ns)
        return min(max(a, self._sched.now_ns), b)

    def advance_to(self, t_ns: int) -> None:
        """Advance simulated time to ``t_ns``, applying every market event and emulator event up to it.

        Market events at a given instant are applied (to the exchange, then delivered as real data, after
        ``market_data_ms`` for sources that add latency) before emulator events scheduled for the same
        instant. Market events timed before the current clock (a source starting earlier) are applied at
        the current time.

        Raises:
          ReentrancyError: When called from inside an event callback.
          SchedulerError: When ``t_ns`` is before the current time.
        """
        if self._in_advance:
            raise ReentrancyError("advance_to() called from inside an emulator event callback")
        self._in_advance = True
        try:
            self._sync_disconnect_fault()
            sched = self._sched
            src = self._source
            if t_ns < sched.now_ns:
                sched.run_until(t_ns)   # raises SchedulerError naming both times
            on_market = self._on_market_event
            next_time = sched.next_time_ns
            while True:
                ts = src.peek_time_ns()
                if ts is None or ts > t_ns:
                    break
                for ev in src.pop_until(min(t_ns, max(ts, sched.now_ns) + _CHUNK_NS)):
                    t = ev.t_ns
                    if t < sched.now_ns:
                        t = sched.now_ns
                    nt = next_time()
                    if nt is not None and nt < t:
                        sched.run_before(t)
                    else:
                        sched.now_ns = t
                    on_market(ev, t)
            sched.run_until(t_ns)
        finally:
            self._in_advance = False

    def book(self, code: str, venue: str = KRX) -> L1Book | None:
        """The exchange's L1 book of ``code`` on ``venue`` (tests and diagnostics)."""
        return self._exchanges[venue].book(code)

    def exchange(self, venue: str) -> ExchangeSimulator:
        """The exchange simulator of ``venue``."""
        return self._exchanges[venue]

    def holding(self, code: str) -> int:
        """Signed position in ``code`` from all fills so far."""
        h = self._holdings.get(code)
        return h[0] if h else 0

    def schedule_disconnect(self, t_ns: int) -> None:
        """Lose the connection at ``t_ns`` (same as setting ``faults.disconnect_at_ns``)."""
        self.faults.disconnect_at_ns = t_ns
        self._sync_disconnect_fault()

    # == market data ===================================================================================

    def _on_market_event(self, ev: QuoteEvent, t: int) -> None:
        ex = self._exchanges.get(ev.venue)
        if ex is None:
            raise ValueError(f"market event for unknown venue {ev.venue!r}: {ev!r}")
        prev = ex.book(ev.code)
        if prev is None:
            prev_last = prev_ask = prev_bid = 0
        else:
            prev_last, prev_ask, prev_bid = prev.last, prev.ask, prev.bid
        b = ex.on_market(ev)
        if not self._connected:
            return
        wire = ev.code if ev.venue == KRX else ev.code + "_NX"
        rts = self._real_types.get(wire)
        if not rts or ev.real_type not in rts:
            return
        data = self._encode_real(ev, b, prev_last, prev_ask, prev_bid, t)
        if self._md_ns:
            self._sched.at(t + self._md_ns, self._deliver_real, wire, ev.real_type, data)
        else:
            self._deliver_real(wire, ev.real_type, data)

    @staticmethod
    def _encode_real(ev: QuoteEvent, b: L1Book, prev_last: int, prev_ask: int, prev_bid: int,
                     t: int) -> dict[int, str]:
        ref = b.ref_price

        hhmmss = _hhmmss(t)
        if ev.real_type == REAL_TYPE_QUOTE:
            return {21: hhmmss, 41: _signed(b.ask, ref), 51: _signed(b.bid, ref), 61: str(b.ask_qty),
                    71: str(b.bid_qty), 13: str(b.cum_volume)}
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
        return {20: hhmmss, 10: _signed(last, ref), 11: (f"+{chg}" if chg > 0 else str(chg)),
                12: (f"+{rate:.2f}" if rate > 0 else f"{rate:.2f}"), 15: qty_s, 13: str(b.cum_volume),
                27: _signed(b.ask, ref), 28: _signed(b.bid, ref)}

    def _deliver_real(self, wire: str, real_type: str, data: dict[int, str]) -> None:
        if not self._connected:
            return
        rts = self._real_types.get(wire)
        if not rts or real_type not in rts:
            return      # unregistered between the exchange event and delivery
        self._real_code = wire
        self._real_current = data
        try:
            self.OnReceiveRealData.emit(wire, real_type, "\t".join(data.values()))
        finally:
            self._real_code = None
            self._real_current = None

    def _get_comm_real_data(self, code: str, fid: int) -> str:
        d = self._real_current
        if d is None or code != self._real_code:
            return ""
        if type(fid) is not int:
            raise EmulatorCallError(f"GetCommRealData: nFid must be an int, got {fid!r}")
        return d.get(fid, "")

    # == login and account =============================================================================

    def _comm_connect(self) -> int:
        if not self._login_pending:
            self._login_pending = True
            self._sched.after(self._login_delay_ns, self._login_done)
        return 0

    def _login_done(self) -> None:
        self._login_pending = False
        code = self.login_result
        if code == 0:
            self._connected = True
        self.OnEventConnect.emit(code)

    def _get_connect_state(self) -> int:
        return 1 if self._connected else 0

    def _get_login_info(self, tag: str) -> str:
        if not self._connected:
            return ""
        info = {
            "ACCOUNT_CNT": "1", "ACCNO": f"{self._account};", "ACCLIST": f"{self._account};",
            "USER_ID": "simuser", "USER_NAME": "시뮬레이터", "KEY_BSECGB": "0", "FIREW_SECGB": "0",
            "GetServerGubun": "1",
        }
        if tag not in info:
            raise EmulatorCallError(f"GetLoginInfo: unknown tag {tag!r}; known: {', '.join(info)}")
        return info[tag]

    def _koa_functions(self, name: str, param: str) -> str:
        if name == "ShowAccountWindow":
            if self._connected:
                self._account_ok = True     # the operator "typed" the password at once
            return ""
        if name == "GetServerGubun":
            return "1"                       # 1 = 모의투자 (mock server)
        if name == "GetMasterCodeName":
            return self._names.get(param, param)
        raise EmulatorCallError(f"KOA_Functions: {name!r} is not emulated "
                                f"(ShowAccountWindow, GetServerGubun, GetMasterCodeName)")

    def _get_code_list_by_market(self, market: str) -> str:
        if market == "NXT":
            codes = self.universe
        elif market == "0":
            codes = tuple(c for c in self.universe if self._markets.get(c, "KOSPI") == "KOSPI")
        elif market == "10":
            codes = tuple(c for c in self.universe if self._markets.get(c) == "KOSDAQ")
        else:
            codes = ()
        return "".join(c + ";" for c in codes)

    # == real-time registration ========================================================================

    def _screen_ok(self, screen: str) -> bool:
        return isinstance(screen, str) and 1 <= len(screen) <= 4 and screen.isdigit() and int(screen) != 0

    def _screens_in_use(self) -> set[str]:
        return set(self._screen_codes) | self._session_screens | self._other_screens

    def _claim_screen(self, screen: str, real: bool) -> bool:
        in_use = self._screens_in_use()
        if screen in in_use:
            return True
        if len(in_use) >= MAX_SCREENS:
            return False
        if not real:
            self._other_screens.add(screen)
        return True

    def _set_real_reg(self, screen: str, codes: str, fid_list: str, opt: str) -> int:
        if not isinstance(codes, str) or not isinstance(fid_list, str) or not isinstance(opt, str):
            raise EmulatorCallError("SetRealReg takes four strings")
        if not self._connected:
            return int(E.OP_ERR_SOCKET_CLOSED)
        if not self._screen_ok(screen) or opt not in ("0", "1"):
            return int(E.OP_ERR_INPUT)
        code_list = [c.strip() for c in codes.split(";") if c.strip()]
        try:
            fids = F.fid_list(fid_list)
        except ValueError:
            return int(E.OP_ERR_INPUT)
        if len(code_list) > MAX_CODES_PER_CALL:
            return int(E.OP_ERR_OVER_MAX_DATA)
        if not fids:
            return int(E.OP_ERR_INPUT)
        if len(fids) > MAX_FIDS_PER_CALL:
            return int(E.OP_ERR_OVER_MAX_FID)
        for c in code_list:
            base = c[:-3] if c.endswith(("_NX", "_AL")) else c
            if not (len(base) == 6 and base.isalnum()):
                return int(E.OP_ERR_INPUT)
        if not self._claim_screen(screen, real=True):
            return int(E.OP_ERR_FAIL)
        if not code_list:
            # market-wide registration: only 장시작시간 (FID 215) is market-wide
            if not F.SESSION_REAL_FIDS.intersection(fids):
                return int(E.OP_ERR_INPUT)
            first = not self._session_screens
            self._session_screens.add(screen)
            self._arm_session_feed(send_current=first)
            return 0
        replace = opt == "0" or screen not in self._screen_codes
        new_codes = set(code_list) if replace else self._screen_codes[screen] | set(code_list)
        cap = self.max_codes_per_screen
        if cap is not None and len(new_codes) > cap:
            return int(E.OP_ERR_OVER_MAX_DATA)
        self._screen_codes[screen] = new_codes
        self._screen_fids[screen] = set(fids) if replace else self._screen_fids[screen] | set(fids)
        self._rebuild_real_types()
        return 0

    def _rebuild_real_types(self) -> None:
        per_code: dict[str, set[str]] = {}
        for screen, codes in self._screen_codes.items():
            f = self._screen_fids.get(screen, set())
            rts = set()
            if F.TRADE_REAL_FIDS.intersection(f):
                rts.add(REAL_TYPE_TRADE)
            if F.QUOTE_REAL_FIDS.intersection(f):
                rts.add(REAL_TYPE_QUOTE)
            for c in codes:
                per_code.setdefault(c, set()).update(rts)
        self._real_types = {c: frozenset(r) for c, r in per_code.items() if r}

    def _set_real_remove(self, screen: str, code: str) -> None:
        screens = list(self._screen_codes) if screen == "ALL" else [screen]
        for s in screens:
            if code == "ALL":
                self._screen_codes.pop(s, None)
                self._screen_fids.pop(s, None)
                self._session_screens.discard(s)
            elif s in self._screen_codes:
                self._screen_codes[s].discard(code)
        if screen == "ALL" and code == "ALL":
            self._session_screens.clear()
        self._rebuild_real_types()

    def _disconnect_real_data(self, screen: str) -> None:
        self._screen_codes.pop(screen, None)
        self._screen_fids.pop(screen, None)
        self._session_screens.discard(screen)
        self._rebuild_real_types()

    # -- FID 215 --------------------------------------------------------------------------------------

    def _session_boundary_after(self, t_ns: int, inclusive: bool) -> tuple[int, str] | None:
        day = kst_date(t_ns)
        for _ in range(30):
            if self._is_trading_day(day):
                for tod, code in self._session_times:
                    b = ns_from_kst(day, tod)
                    if b > t_ns or (inclusive and b == t_ns):
                        return b, code
            day = day + dt.timedelta(days=1)
        return None

    def _current_session_code(self, t_ns: int) -> tuple[int, str] | None:
        day = kst_date(t_ns)
        if not self._is_trading_day(day):
            return None
        cur = None
        for tod, code in self._session_times:
            b = ns_from_kst(day, tod)
            if b <= t_ns:
                cur = (b, code)
        return cur

    def _arm_session_feed(self, send_current: bool) -> None:
        now = self._sched.now_ns
        if send_current:
            cur = self._current_session_code(now)
            if cur is not None:
                self._sched.at(now, self._deliver_session, cur[1], now)
        if not self._session_armed:
            self._session_armed = True
            self._schedule_next_session(now)

    def _schedule_next_session(self, after_ns: int) -> None:
        nxt = self._session_boundary_after(after_ns, inclusive=False)
        if nxt is not None:
            self._sched.at(nxt[0], self._session_tick, nxt[1], nxt[0])

    def _session_tick(self, code: str, t_ns: int) -> None:
        self._deliver_session(code, t_ns)
        self._schedule_next_session(t_ns)

    def _deliver_session(self, code: str, t_ns: int) -> None:
        if not self._connected or not self._session_screens:
            return
        data = {215: code, 20: _hhmmss(t_ns), 214: "000000"}
        self._real_code = ""
        self._real_current = data
        try:
            self.OnReceiveRealData.emit("", REAL_TYPE_SESSION, "\t".join(data.values()))
        finally:
            self._real_code = None
            self._real_current = None

    def inject_session_code(self, code: str) -> None:
        """Deliver an arbitrary FID 215 ``code`` now (tests of unknown codes)."""
        self._sched.at(self._sched.now_ns, self._deliver_session, code, self._sched.now_ns)

    # == connection faults =============================================================================

    def _sync_disconnect_fault(self) -> None:
        t = self.faults.disconnect_at_ns
        if t is not None and t != self._disconnect_scheduled:
            self._disconnect_scheduled = t
            self._sched.at(max(t, self._sched.now_ns), self._disconnect, t)

    def _disconnect(self, t_ns: int) -> None:
        if self.faults.disconnect_at_ns != t_ns:
            return      # rescheduled meanwhile
        if not self._connected:
            return
        self._connected = False
        self.OnEventConnect.emit(int(E.OP_ERR_SOCKET_CLOSED))

    # == orders ========================================================================================

    def _send_order(self, rq_name: str, screen_no: str, acc_no: str, order_type: int, code: str, qty: int,
                    price: int, hoga: str, orig_order_no: str) -> int:
        for name, v in (("sRQName", rq_name), ("sScreenNo", screen_no), ("sAccNo", acc_no), ("sCode", code),
                        ("sHogaGb", hoga), ("sOrgOrderNo", orig_order_no)):
            if not isinstance(v, str):
                raise EmulatorCallError(f"SendOrder: {name} must be a string, got {v!r}")
        for name, v in (("nOrderType", order_type), ("nQty", qty), ("nPrice", price)):
            if type(v) is not int:
                raise EmulatorCallError(f"SendOrder: {name} must be an int, got {v!r}")
        if not self._connected:
            return int(E.OP_ERR_SOCKET_CLOSED)
        if not self._account_ok:
            return int(E.OP_ERR_ORD_WRONG_ACCTNO)
        acc = acc_no.strip()
        if not acc:
            return int(E.OP_ERR_ORD_WRONG_ACCTINFO)
        if acc != self._account:
            return int(E.OP_ERR_OTHER_ACC_USE)
        c = code.strip()
        nx = c.endswith("_NX")
        base = c[:-3] if nx else c
        if not base or base not in self._universe_set:
            return int(E.OP_ERR_ORD_SYMCODE_EMPTY)
        if not self._screen_ok(screen_no) or not rq_name:
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
        if nx:
            venue = NXT        # '_NX' code routes to NXT (how the real OCX routes is unverified)
        if not side:
            known = self._reqs.get(orig)
            side = known.side if known is not None else BUY
        if not self._claim_screen(screen_no, real=False):
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
        req = _Req(kind, order_no, rq_name, screen_no, order_type, base, venue, side, qty, price, hoga,
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
        self._sched.at(now + self._send_to_ack_ns, self._order_ack, req)
        return 0

    def _order_ack(self, req: _Req) -> None:
        """Server-side handling of an accepted SendOrder at ack time."""
        now = self._sched.now_ns
        if req.fault == "drop":
            if not self.faults.drop_ack_order_lives:
                self._drop_registered(req)
                return
            self._accept(req, now, emit_tr=False)
            return
        if req.fault == "reject_tr":
            self._drop_registered(req)
            self._tr_reply(req, "", "[emulator] 주문이 거부되었습니다 (injected reject)")
            return
        if req.fault == "reject_chejan":
            self._drop_registered(req)
            self._tr_reply(req, req.order_no, "[emulator] 주문이 접수되었습니다")
            self._chejan_order(req, "거부", req.qty, req.price, 0, reason="[emulator] injected reject")
            return
        if req.kind != "new":
            refusal = self._check_amend(req)
            if refusal:
                self._tr_reply(req, "", refusal)
                return
        self._accept(req, now, emit_tr=True)

    def _drop_registered(self, req: _Req) -> None:
        if req.kind == "new":
            o = self._exchanges[req.venue].order(req.order_no)
            if o is not None:
                o.leaves = 0
                o.state = DONE

    def _check_amend(self, req: _Req) -> str:
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
                        f"{_HOGA_TEXT.get(orig.hoga, orig.hoga)} → {req.hoga}); cancel and send a new order")
            if orig.hoga == HOGA_MID:
                return "[emulator] 중간가 주문은 가격정정할 수 없습니다; cancel and send a new order"
        return ""

    def _accept(self, req: _Req, now: int, emit_tr: bool) -> None:
        side_txt = "매수" if req.side == BUY else "매도"
        if emit_tr:
            self._tr_reply(req, req.order_no, f"[emulator] {side_txt}주문이 완료되었습니다")
        if req.kind == "new":
            self._chejan_order(req, "접수", req.qty, req.price, req.qty)
            self._sched.at(now + self._ack_to_fill_ns, self._arrive_new, req)
        else:
            self._chejan_order(req, "접수", req.qty, req.price, 0)
            arrive = max(req.send_ns + self._cancel_ns, now)
            self._sched.at(arrive, self._arrive_cancel if req.kind == "cancel" else self._arrive_modify, req)

    def _arrive_new(self, req: _Req) -> None:
        ex = self._exchanges[req.venue]
        o = ex.order(req.order_no)
        if o is None:
            o = SimOrder(req.order_no, req.code, req.venue, req.side, req.qty, req.price, req.hoga, meta=req)
        ex.submit(o, self._sched.now_ns)

    def _arrive_cancel(self, req: _Req) -> None:
        now = self._sched.now_ns
        n = self._exchanges[req.venue].cancel(req.orig_order_no, req.qty, now)
        reason = "" if n else "[emulator] 취소가능수량이 없습니다 (already filled or cancelled)"
        self._chejan_order(req, "확인", n, 0, 0, reason=reason)
        if not n:
            self._msg(req, reason)

    def _arrive_modify(self, req: _Req) -> None:
        now = self._sched.now_ns
        ex = self._exchanges[req.venue]
        n = ex.cancel(req.orig_order_no, req.qty, now)
        if not n:
            reason = "[emulator] 정정가능수량이 없습니다 (already filled or cancelled)"
            self._chejan_order(req, "확인", 0, req.price, 0, reason=reason)
            self._msg(req, reason)
            return
        self._chejan_order(req, "확인", n, req.price, n)
        new = SimOrder(req.order_no, req.code, req.venue, req.side, n, req.price, req.hoga, meta=req)
        ex.submit(new, now)

    # -- exchange listener ----------------------------------------------------------------------------

    def on_fill(self, order: SimOrder, qty: int, price: int, exec_id: str, t_ns: int) -> None:
        """Exchange callback: emit 체결 then 잔고."""
        req: _Req = order.meta
        notional = qty * price
        req.fee_acc += notional * self._fee_bps[req.venue] / 10_000
        if order.side == SELL:
            market = self._markets.get(req.code, "KOSPI")
            req.tax_acc += notional * self._tax_bps_fn(market, kst_date(t_ns).year) / 10_000
        h = self._holdings.setdefault(req.code, [0, 0])
        pos, avg = h
        newpos = pos + (qty if order.side == BUY else -qty)
        if newpos == 0:
            avg = 0
        elif pos == 0 or (pos > 0) != (newpos > 0):
            avg = price                                            # opened or flipped
        elif abs(newpos) > abs(pos):
            avg = (abs(pos) * avg + qty * price) // abs(newpos)     # added: weighted, truncated
        h[0], h[1] = newpos, avg                                   # reduced: average unchanged
        self._chejan_order(req, "체결", order.qty, order.price, order.leaves, fill=(qty, price, exec_id),
                           cum=(order.filled, order.cum_amount), book=self._exchanges[req.venue].book(req.code))
        self._chejan_balance(req.code, req.venue)

    def on_cancelled(self, order: SimOrder, qty: int, reason: str, t_ns: int) -> None:
        """Exchange callback: an IOC/FOK/market remainder was cancelled by the exchange."""
        req: _Req = order.meta
        self._chejan_order(req, "확인", qty, order.price, 0, reason=reason, self_cancel=True)

    def on_rejected(self, order: SimOrder, reason: str, t_ns: int) -> None:
        """Exchange callback: the order was refused on arrival."""
        self._chejan_order(order.meta, "거부", order.qty, order.price, 0, reason=reason)

    # -- Chejan ---------------------------------------------------------------------------------------

    def _chejan_order(self, req: _Req, status: str, qty: int, price: int, leaves: int, *, reason: str = "",
                      fill: tuple[int, int, str] | None = None, cum: tuple[int, int] | None = None,
                      book: L1Book | None = None, self_cancel: bool = False) -> None:
        side = req.side
        side_txt = "매수" if side == BUY else "매도"
        if req.kind == "cancel" or self_cancel:
            kind_txt = f"{side_txt}취소"
        elif req.kind == "modify":
            kind_txt = f"{side_txt}정정"
        else:
            kind_txt = "+매수" if side == BUY else "-매도"
        code_txt = "A" + req.code + ("_NX" if req.venue == NXT and self.chejan_nx_suffix else "")
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
            906: _HOGA_TEXT.get(req.hoga, req.hoga), 907: "2" if side == BUY else "1",
            908: _hhmmss(self._sched.now_ns),
            909: fill[2] if fill else "", 910: str(fill[1]) if fill else "", 911: str(cum[0]) if cum else "",
            10: _signed(book.last, ref) if book is not None else "",
            27: _signed(book.ask, ref) if book is not None else "",
            28: _signed(book.bid, ref) if book is not None else "",
            914: str(fill[1]) if fill else "", 915: str(fill[0]) if fill else "",
            938: str(int(req.fee_acc)), 939: str(int(req.tax_acc)), 919: reason, 920: req.screen_no,
        }
        if self.chejan_venue_fid:
            row[2134] = "2" if req.venue == NXT else "1"
        self._queue_chejan("0", row)

    def _chejan_balance(self, code: str, venue: str) -> None:
        pos, avg = self._holdings.get(code, (0, 0))
        book = self._exchanges[venue].book(code)
        row = {
            9201: self._account, 9001: "A" + code, 302: self._names.get(code, code),
            10: str(book.last) if book is not None and book.last else "",
            930: str(pos), 931: str(avg), 932: str(abs(pos) * avg), 933: str(max(pos, 0)),
            27: str(book.ask) if book is not None and book.ask else "",
            28: str(book.bid) if book is not None and book.bid else "",
        }
        self._queue_chejan("1", row)

    def _queue_chejan(self, gubun: str, row: dict[int, str]) -> None:
        delay = round(self.faults.chejan_delay_ms * NS_PER_MS)
        self._sched.at(self._sched.now_ns + delay, self._deliver_chejan, gubun, row)

    def _deliver_chejan(self, gubun: str, row: dict[int, str]) -> None:
        if not self._connected:
            return      # notices sent while disconnected are lost (re-query after reconnecting)
        self._chejan_current = row
        try:
            self.OnReceiveChejanData.emit(gubun, len(row), ";".join(str(k) for k in row))
        finally:
            self._chejan_current = None

    def _get_chejan_data(self, fid: int) -> str:
        if type(fid) is not int:
            raise EmulatorCallError(f"GetChejanData: nFid must be an int, got {fid!r}")
        row = self._chejan_current
        if row is None:
            return ""
        return row.get(fid, "")

    # -- TR replies and messages ----------------------------------------------------------------------

    def _tr_reply(self, req: _Req, order_no: str, message: str) -> None:
        if not self._connected:
            return
        self.OnReceiveMsg.emit(req.screen_no, req.rq_name, req.tr_code, message)
        self._tr_current = (req.tr_code, req.rq_name, {"주문번호": order_no})
        try:
            self.OnReceiveTrData.emit(req.screen_no, req.rq_name, req.tr_code, "", "0", 0, "", "", "")
        finally:
            self._tr_current = None

    def _msg(self, req: _Req, text: str) -> None:
        if self._connected:
            self.OnReceiveMsg.emit(req.screen_no, req.rq_name, req.tr_code, text)

    def _get_comm_data(self, tr_code: str, rq_name: str, index: int, item: str) -> str:
        cur = self._tr_current
        if cur is None or cur[0] != tr_code or cur[1] != rq_name:
            return ""
        if type(index) is not int:
            raise EmulatorCallError(f"GetCommData: nIndex must be an int, got {index!r}")
        return cur[2].get(item.strip(), "") if index == 0 else ""

    # -- TR queries (opt10001 only) -------------------------------------------------------------------

    def _set_input_value(self, name: str, value: str) -> None:
        if not isinstance(name, str) or not isinstance(value, str):
            raise EmulatorCallError("SetInputValue takes two strings")
        self._inputs[name] = value

    def _comm_rq_data(self, rq_name: str, tr_code: str, prev_next: int, screen: str) -> int:
        if type(prev_next) is not int:
            raise EmulatorCallError(f"CommRqData: nPrevNext must be an int, got {prev_next!r}")
        inputs, self._inputs = self._inputs, {}
        if not self._connected:
            return int(E.OP_ERR_SOCKET_CLOSED)
        if tr_code.lower() != "opt10001":
            return int(E.OP_ERR_RQ_STRUCT_FAIL)
        code = inputs.get("종목코드", "").strip()
        if not code:
            return int(E.OP_ERR_RQ_STRING_FAIL)
        if not self._screen_ok(screen):
            return int(E.OP_ERR_INPUT)
        if not self._claim_screen(screen, real=False):
            return int(E.OP_ERR_FAIL)
        now = self._sched.now_ns
        times = self._query_times
        while times and times[0] <= now - NS_PER_S:
            times.popleft()
        if len(times) >= self._queries_per_sec:
            return int(E.OP_ERR_SISE_OVERFLOW)
        times.append(now)
        self._sched.at(now + self._send_to_ack_ns, self._tr_query_reply, rq_name, tr_code, screen, code)
        return 0

    def _tr_query_reply(self, rq_name: str, tr_code: str, screen: str, code: str) -> None:
        if not self._connected:
            return
        base = code[:-3] if code.endswith("_NX") else code
        venue = NXT if code.endswith("_NX") else KRX
        b = self._exchanges[venue].book(base)
        ref = b.ref_price if b is not None else 0

        data = {"종목코드": base, "종목명": self._names.get(base, base),
                "현재가": _signed(b.last, ref) if b else "", "기준가": str(ref) if ref else "",
                "매도호가": _signed(b.ask, ref) if b else "", "매수호가": _signed(b.bid, ref) if b else "",
                "거래량": str(b.cum_volume) if b else ""}
        self._tr_current = (tr_code, rq_name, data)
        try:
            self.OnReceiveTrData.emit(screen, rq_name, tr_code, "", "0", 0, "", "", "")
        finally:
            self._tr_current = None


def _signed(p: int, ref: int) -> str:
    """Kiwoom's encoding of a price against the previous close ``ref``: '+p' above, '-p' below, 'p' equal."""
    if not p:
        return ""
    return f"+{p}" if p > ref else (f"-{p}" if p < ref else str(p))


def _hhmmss(t_ns: int) -> str:
    """Asia/Seoul time of day of ``t_ns`` as Kiwoom's HHMMSS (KST is UTC+9 all year)."""
    s = (t_ns // NS_PER_S + 32_400) % 86_400
    return f"{s // 3600:02d}{s % 3600 // 60:02d}{s % 60:02d}"


def _on_tick(price: int) -> bool:
    return bool(is_on_tick(price))


def build_for_config(config: Any, source: MarketSource, universe_codes: Sequence[str],
                     start_ns: int | None = None, rng_seed: int | None = None) -> tuple[SimScheduler, EmulatedControl]:
    """Convenience: a scheduler starting at ``start_ns`` (default ``source.start_ns``) and a control on it.

    ``rng_seed`` defaults to ``config.sim.seed`` (or ``config.seed`` for a bare sim section).
    """
    sim = getattr(config, "sim", config)
    sched = SimScheduler(source.start_ns if start_ns is None else start_ns)
    seed = sim.seed if rng_seed is None else rng_seed
    return sched, EmulatedControl(sched, source, config, universe_codes, seed)
