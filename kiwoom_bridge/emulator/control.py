"""An emulator of the Kiwoom OpenAPI+ control (``KHOPENAPI.KHOpenAPICtrl.1``) with exchanges behind it.

:class:`EmulatedControl` offers what PyQt5's ``QAxWidget`` offers the facade: ``dynamicCall(signature,
[args])`` with Kiwoom's exact signature strings, and Qt-style signals (``OnEventConnect``,
``OnReceiveRealData``, ``OnReceiveTrData``, ``OnReceiveChejanData``, ``OnReceiveMsg``) with
``connect``/``emit`` (:class:`~kiwoom_bridge.emulator.qt_signal.QtSignal`). Everything runs on one simulated
clock (:class:`SimScheduler`); nothing sleeps.

Kiwoom behaviour reproduced (SPEC §2, facts §4) and where each rule is stated and implemented:

* Login and connection (this module): ``CommConnect()`` returns 0 and ``OnEventConnect(login_result)``
  follows ``login_delay_ms`` later (``login_result`` may be set to a failure such as -101);
  ``GetLoginInfo`` answers only while connected; orders need ``KOA_Functions("ShowAccountWindow", "")``
  first. A disconnect (``faults.disconnect_at_ns``, :meth:`EmulatedControl.schedule_disconnect`) emits
  ``OnEventConnect(-106)``; ``GetConnectState()`` is then 0, orders are refused with -106 and no real data,
  TR data or Chejan flows until ``CommConnect`` succeeds again.
* ``SendOrder`` return codes (-106, -301, -340/-302, -300, -303, -500, -308 and its 1 s window, the
  ``storm_308`` fault), order types, 7-digit order numbers, latencies, cancels, modifies (정정 cannot
  change the order type) and the injected refusals: :mod:`kiwoom_bridge.emulator.order_desk`.
* ``SetRealReg`` (≤100 codes and ≤100 FIDs per call, ``"0"`` replaces and ``"1"`` adds, at most 100 codes per
  screen counting ``_NX`` codes — ``max_codes_per_screen``, the strict reading of an unverified limit), the real
  types a registration receives, sign-prefixed prices, empty sides as zeros and signed FID 15 in real data,
  VI발동/해제, ``GetCommRealData`` only inside ``OnReceiveRealData``: :mod:`kiwoom_bridge.emulator.realtime`.
* Market phases per venue (SPEC §11: KRX's calls, NXT's pauses and limit-only sessions, ``sessions.delayed_open``)
  from :mod:`core.phases`, applied to each exchange at its boundaries (this module); what a call, a pause and a
  volatility interruption do to orders: :mod:`kiwoom_bridge.emulator.exchange` and
  :mod:`kiwoom_bridge.emulator.order_desk`. Only a control built from a bare ``SimConfig`` (tests of the
  emulator's other rules) has no phases: both venues are then continuous around the clock.
* Latencies: seeded distributions per stage and the Chejan that overtakes the TR ack:
  :mod:`kiwoom_bridge.emulator.latency`.
* The 200-screen limit shared by registrations, orders and TR queries: :mod:`kiwoom_bridge.emulator.screens`.
* FID 215 (장운영구분) for whoever registered 장시작시간 with an empty code list, and the emulator's
  "current state at once" convenience: :mod:`kiwoom_bridge.emulator.session_feed`.
* Chejan: the gubun ``'0'`` rows (접수 → 체결 (partial…) → 잔고, cancels and modifies get 확인, 거부), the
  meaning of 900/902/904/905 per row, ``'A005930'``/``'A005930_NX'`` in 9001, signed positions in 930,
  ``faults.chejan_delay_ms``, ``GetChejanData`` only inside ``OnReceiveChejanData``:
  :mod:`kiwoom_bridge.emulator.chejan`.
* Order acks as TR data (empty 주문번호 = refused), opt10001 queries, the account's opw00018 (holdings,
  paged) and opw00001 (cash) and their rate limit, ``GetRepeatCnt``/``GetCommData`` only inside
  ``OnReceiveTrData``: :mod:`kiwoom_bridge.emulator.tr_queries`.
* The account (``sim.account``): holdings and cash, the refusal of a sell above 주문가능수량 or a buy above
  the orderable cash with Kiwoom's message, another terminal's trade (``sim.faults.external_fill``):
  :mod:`kiwoom_bridge.emulator.account`.
* Injectable faults: :mod:`kiwoom_bridge.emulator.faults`.

Determinism: the only randomness is the fault-injection stream and the latency streams, all seeded from
``rng_seed``; events at the same simulated instant run in scheduling order (market events of an instant before
emulator events of it).
"""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from core.clock import NS_PER_MS, kst_date, ns_from_kst
from core.enums import Venue
from core.phases import MarketPhases
from kiwoom_bridge.emulator.account import EmulatedAccount
from kiwoom_bridge.emulator.call_errors import EmulatorCallError, ReentrancyError, UnknownSignatureError
from kiwoom_bridge.emulator.chejan import ChejanDesk
from kiwoom_bridge.emulator.connection import Connection
from kiwoom_bridge.emulator.exchange import ExchangeSimulator, L1Book
from kiwoom_bridge.emulator.faults import Faults
from kiwoom_bridge.emulator.latency import LatencyModel
from kiwoom_bridge.emulator.order_desk import OrderDesk
from kiwoom_bridge.emulator.qt_signal import QtSignal
from kiwoom_bridge.emulator.realtime import RealDataChannel, RealTimeFeed
from kiwoom_bridge.emulator.scheduler import SimScheduler
from kiwoom_bridge.emulator.screens import Screens
from kiwoom_bridge.emulator.session_feed import DEFAULT_SESSION_TIMES, SessionFeed
from kiwoom_bridge.emulator.source import MarketSource
from kiwoom_bridge.emulator.tr_queries import TrDesk
from kiwoom_bridge.errors import ErrorCode as E
from kiwoom_bridge.types import KRX, NXT

__all__ = ["EmulatedControl", "Faults", "UnknownSignatureError", "EmulatorCallError", "ReentrancyError",
           "SIGNATURES"]

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
SIG_GET_REPEAT_CNT = "GetRepeatCnt(QString, QString)"

SIGNATURES: tuple[str, ...] = (
    SIG_COMM_CONNECT, SIG_GET_CONNECT_STATE, SIG_GET_LOGIN_INFO, SIG_KOA_FUNCTIONS, SIG_SET_REAL_REG,
    SIG_SET_REAL_REMOVE, SIG_GET_COMM_REAL_DATA, SIG_SEND_ORDER, SIG_GET_CHEJAN_DATA, SIG_SET_INPUT_VALUE,
    SIG_COMM_RQ_DATA, SIG_GET_COMM_DATA, SIG_GET_CODE_LIST_BY_MARKET, SIG_DISCONNECT_REAL_DATA,
    SIG_GET_REPEAT_CNT,
)
_ARITY = {sig: (0 if sig.endswith("()") else sig.count(",") + 1) for sig in SIGNATURES}

_CHUNK_NS = 100 * NS_PER_MS          # source events are pulled in chunks of this much simulated time


class EmulatedControl:
    """The OpenAPI+ control, emulated, with one :class:`ExchangeSimulator` per venue behind it.

    The control answers login, account and market-list calls itself and hands the rest to its parts:
    :class:`~kiwoom_bridge.emulator.realtime.RealTimeFeed` (registrations, real data),
    :class:`~kiwoom_bridge.emulator.session_feed.SessionFeed` (FID 215),
    :class:`~kiwoom_bridge.emulator.order_desk.OrderDesk` (SendOrder, order lifecycle, the exchanges' listener),
    :class:`~kiwoom_bridge.emulator.chejan.ChejanDesk` (Chejan rows) and
    :class:`~kiwoom_bridge.emulator.tr_queries.TrDesk` (TR data, messages).

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
      max_codes_per_screen: The codes a screen may hold over its ``"1"`` adds (KRX and ``_NX`` codes both
        count; 100 by default, refused with -204); None = only the documented 100-codes-per-call limit.
      phases: The venues' phases (:class:`core.phases.MarketPhases`), None without an EngineConfig.
      latency: The seeded latency distributions (:class:`kiwoom_bridge.emulator.latency.LatencyModel`).
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
        self.universe: tuple[str, ...] = tuple(dict.fromkeys(universe_codes))
        self._markets = dict(markets or {})
        self._names = dict(names or {})
        self._account = account
        self.latency = latency = LatencyModel(sim.latency, rng_seed)
        send_to_ack_ns = round(latency.send_to_ack.median_ms * NS_PER_MS)
        self._login_delay_ns = round(login_delay_ms * NS_PER_MS)
        self.phases: MarketPhases | None = None
        delay_minutes: Callable[[dt.date], int] | None = None
        if engine is not None:
            orders_per_sec = engine.kiwoom.rate_limits.orders_per_sec
            queries_per_sec = engine.kiwoom.rate_limits.queries_per_sec
            s = engine.sessions
            session_times: tuple[tuple[dt.time, str], ...] = (
                (s.krx_pre_open_call.start, "0"), (s.krx_day.start, "3"), (s.nxt_main.start, "R"),
                (s.nxt_main.end, "S"))
            holidays = frozenset(s.extra_holidays)
            fees = engine.fees
            fee_bps = {KRX: fees.krx.broker_bps + fees.krx.regulatory_bps,
                       NXT: fees.nxt.broker_bps + fees.nxt.regulatory_bps}
            tax_bps: Callable[[str, int], float] = fees.tax_bps
        else:
            orders_per_sec = 5
            queries_per_sec = 5
            session_times = DEFAULT_SESSION_TIMES
            holidays = frozenset()
            fee_bps = {KRX: 0.0, NXT: 0.0}
            tax_bps = lambda market, year: 0.0  # noqa: E731
        trading_day = is_trading_day or (lambda d: d.weekday() < 5 and d not in holidays)
        if engine is not None:
            self.phases = MarketPhases(engine.sessions, trading_day)
            delay_minutes = self.phases.delay_minutes

        f = sim.faults
        faults = Faults(reject_rate=f.reject_rate, drop_ack_rate=f.drop_ack_rate,
                        chejan_delay_ms=f.chejan_delay_ms, storm_308=f.storm_308)
        if f.disconnect_at is not None:
            faults.disconnect_at_ns = ns_from_kst(kst_date(scheduler.now_ns), f.disconnect_at)
        ext = getattr(f, "external_fill", None)
        self._faults = faults
        self._disconnect_scheduled: int | None = None
        self.login_result = 0

        # Qt-style signals
        self.OnEventConnect = QtSignal("OnEventConnect")
        self.OnReceiveRealData = QtSignal("OnReceiveRealData")
        self.OnReceiveTrData = QtSignal("OnReceiveTrData")
        self.OnReceiveChejanData = QtSignal("OnReceiveChejanData")
        self.OnReceiveMsg = QtSignal("OnReceiveMsg")

        # connection / account
        self._conn = Connection()
        self._login_pending = False

        # the parts; the exchanges are filled in once their listener (the order desk) exists
        conn = self._conn
        self._exchanges: dict[str, ExchangeSimulator] = {}
        screens = Screens()
        channel = RealDataChannel(self.OnReceiveRealData)
        self._session = SessionFeed(scheduler, conn, screens, channel, session_times, trading_day, delay_minutes)
        self._realtime = RealTimeFeed(scheduler, conn, screens, self._exchanges, channel, self._session,
                                      latency.market_data if source.adds_latency else None)
        self._chejan = ChejanDesk(scheduler, conn, self.OnReceiveChejanData, self._exchanges, account, self._names,
                                  faults)
        self._tr = TrDesk(scheduler, conn, self.OnReceiveMsg, self.OnReceiveTrData, self._exchanges, self._names,
                          screens, queries_per_sec, send_to_ack_ns)
        exchanges = self._exchanges

        def order_of(venue: str, order_no: str) -> Any:
            ex = exchanges.get(venue)
            return ex.order(order_no) if ex is not None else None

        acct_cfg = getattr(sim, "account", None)
        self._acct = EmulatedAccount(
            acct_cfg.cash_krw if acct_cfg is not None else 1_000_000_000,
            acct_cfg.shares if acct_cfg is not None else (lambda code: 1000), fee_bps, order_of)
        self._acct.touch_codes(self.universe)
        self._tr.account = self._acct
        self._tr.account_no = account
        self._orders = OrderDesk(scheduler, conn, screens, self._exchanges, self._chejan, self._tr,
                                 random.Random(rng_seed), faults, account=account,
                                 universe=frozenset(self.universe), markets=self._markets,
                                 latency=latency, orders_per_sec=orders_per_sec, fee_bps=fee_bps,
                                 tax_bps=tax_bps, emulated_account=self._acct)
        if ext is not None:
            scheduler.at(max(ns_from_kst(kst_date(scheduler.now_ns), ext.at), scheduler.now_ns),
                         self._external_fill, ext.code, ext.qty)
        fm = sim.fill_model
        self._exchanges.update({
            v: ExchangeSimulator(v, self._orders, queue_ahead_fraction=fm.queue_ahead_fraction,
                                 trade_through_fills=fm.trade_through_fills)
            for v in (KRX, NXT)
        })
        if self.phases is not None:
            for v in (KRX, NXT):
                self._phase_boundary(v)

        self._in_advance = False
        handlers: dict[str, Callable[..., Any]] = {
            SIG_COMM_CONNECT: self._comm_connect,
            SIG_GET_CONNECT_STATE: self._get_connect_state,
            SIG_GET_LOGIN_INFO: self._get_login_info,
            SIG_KOA_FUNCTIONS: self._koa_functions,
            SIG_SET_REAL_REG: self._realtime.set_real_reg,
            SIG_SET_REAL_REMOVE: self._realtime.set_real_remove,
            SIG_GET_COMM_REAL_DATA: channel.get_comm_real_data,
            SIG_SEND_ORDER: self._orders.send_order,
            SIG_GET_CHEJAN_DATA: self._chejan.get_chejan_data,
            SIG_SET_INPUT_VALUE: self._tr.set_input_value,
            SIG_COMM_RQ_DATA: self._tr.comm_rq_data,
            SIG_GET_COMM_DATA: self._tr.get_comm_data,
            SIG_GET_CODE_LIST_BY_MARKET: self._get_code_list_by_market,
            SIG_DISCONNECT_REAL_DATA: self._realtime.disconnect_real_data,
            SIG_GET_REPEAT_CNT: self._tr.get_repeat_cnt,
        }
        self._dispatch: dict[str, tuple[Callable[..., Any], int]] = {
            sig: (fn, _ARITY[sig]) for sig, fn in handlers.items()}

    # == settings the parts read =======================================================================

    @property
    def faults(self) -> Faults:
        """The :class:`Faults` in force (mutable in place; assigning a new one reaches every part)."""
        return self._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._faults = self._orders.faults = self._chejan.faults = value

    @property
    def chejan_nx_suffix(self) -> bool:
        """Whether Chejan FID 9001 of an NXT order reads ``'A005930_NX'``."""
        return self._chejan.nx_suffix

    @chejan_nx_suffix.setter
    def chejan_nx_suffix(self, value: bool) -> None:
        self._chejan.nx_suffix = value

    @property
    def chejan_venue_fid(self) -> bool:
        """Whether Chejan rows carry FID 2134."""
        return self._chejan.venue_fid

    @chejan_venue_fid.setter
    def chejan_venue_fid(self, value: bool) -> None:
        self._chejan.venue_fid = value

    @property
    def max_codes_per_screen(self) -> int | None:
        """The per-screen code cap over ``"1"`` adds (None = none)."""
        return self._realtime.max_codes_per_screen

    @max_codes_per_screen.setter
    def max_codes_per_screen(self, value: int | None) -> None:
        self._realtime.max_codes_per_screen = value

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
        call_args: Sequence[Any] = args
        if len(args) == 1:
            a = args[0]
            if a.__class__ is list or a.__class__ is tuple:
                call_args = a
        if len(call_args) != arity:
            raise EmulatorCallError(f"dynamicCall({signature!r}) takes {arity} arguments, "
                                    f"got {len(call_args)}: {list(call_args)!r}")
        return fn(*call_args)

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
            on_market = self._realtime.on_market_event
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

    def _phase_boundary(self, venue: str) -> None:
        """Put ``venue``'s exchange in the phase of now and come back at the end of that window."""
        assert self.phases is not None
        now = self._sched.now_ns
        w = self.phases.window_at(Venue.parse(venue), now)
        ex = self._exchanges[venue]
        if ex.phase is not w.phase:
            ex.set_phase(w.phase, now)
        self._sched.at(w.end_ns, self._phase_boundary, venue)

    def book(self, code: str, venue: str = KRX) -> L1Book | None:
        """The exchange's L1 book of ``code`` on ``venue`` (tests and diagnostics)."""
        return self._exchanges[venue].book(code)

    def exchange(self, venue: str) -> ExchangeSimulator:
        """The exchange simulator of ``venue``."""
        return self._exchanges[venue]

    def holding(self, code: str) -> int:
        """Shares of ``code`` the account holds now."""
        return self._orders.holding(code)

    @property
    def account(self) -> EmulatedAccount:
        """The emulated account (holdings, cash, refusals; tests and diagnostics)."""
        return self._acct

    def _external_fill(self, code: str, qty: int) -> None:
        """``sim.faults.external_fill``: another terminal trades ``qty`` shares of ``code`` (no Chejan here)."""
        b = self._exchanges[KRX].book(code)
        price = (b.last or b.bid or b.ask) if b is not None else 0
        self._acct.external_trade(code, qty, price)

    def schedule_disconnect(self, t_ns: int) -> None:
        """Lose the connection at ``t_ns`` (same as setting ``faults.disconnect_at_ns``)."""
        self.faults.disconnect_at_ns = t_ns
        self._sync_disconnect_fault()

    def inject_session_code(self, code: str) -> None:
        """Deliver an arbitrary FID 215 ``code`` now (tests of unknown codes)."""
        self._session.inject(code)

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
            self._conn.connected = True
        self.OnEventConnect.emit(code)

    def _get_connect_state(self) -> int:
        return 1 if self._conn.connected else 0

    def _get_login_info(self, tag: str) -> str:
        if not self._conn.connected:
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
            if self._conn.connected:
                self._conn.account_ok = True     # the operator "typed" the password at once
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

    # == connection faults =============================================================================

    def _sync_disconnect_fault(self) -> None:
        t = self.faults.disconnect_at_ns
        if t is not None and t != self._disconnect_scheduled:
            self._disconnect_scheduled = t
            self._sched.at(max(t, self._sched.now_ns), self._disconnect, t)

    def _disconnect(self, t_ns: int) -> None:
        if self.faults.disconnect_at_ns != t_ns:
            return      # rescheduled meanwhile
        if not self._conn.connected:
            return
        self._conn.connected = False
        self.OnEventConnect.emit(int(E.OP_ERR_SOCKET_CLOSED))
