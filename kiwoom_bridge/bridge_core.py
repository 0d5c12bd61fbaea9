"""The bridge's logic without the actor: owns the OpenAPI facade and turns its events into steps.

:class:`BridgeCore` builds the backend (emulated control + market source for ``sim``/``replay``;
the real OCX for ``kiwoom``), logs in, registers screens (KRX and ``_NX`` codes of ≤100 symbols per
screen, FID 215 on the session screen), sends orders and cancels, and collects everything the
facade reports into per-step outputs: numpy market rows per subscriber shard and an ordered list
of broker events. It runs the account queries (:mod:`kiwoom_bridge.account_tr`: holdings and cash, at
login, when the bridge actor asks and at the end) through the queries bucket. It never decides anything
about trading.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from config.schema import KIWOOM_ORDERS_PER_SEC_CAP, EngineConfig
from core.clock import KST, ns_from_kst
from core.desk_events import BrokerNotice, ConnectionChanged, OrderSendResult, SendOutcome, StepEvent
from core.enums import Venue
from core.l1 import KIND_QUOTE, KIND_TRADE, L1_ROW_DTYPE, empty_rows
from core.order_flow import PlacedOrder
from core.pair_events import CancelIntent
from core.signal import L1Touches
from core.throttle import TokenBucket
from core.universe import Universe
from kiwoom_bridge.errors import ErrorCode
from kiwoom_bridge.orders import HogaCode, cancel_order_type, hoga_for, new_order_type
from kiwoom_bridge.translate import send_result, to_domain
from kiwoom_bridge.types import REAL_TYPE_TRADE, ConnectionEvent, L1Update

if TYPE_CHECKING:
    from core.spread import EdgeScreen
    from kiwoom_bridge.emulator.scheduler import SimScheduler
    from kiwoom_bridge.emulator.source import MarketSource
    from protocol.wiring import RunOptions

#: FIDs registered with every code: 주식체결 and 주식호가잔량 (the best level), and VI발동/해제 (SPEC §11).
QUOTE_FIDS = "10;11;12;13;15;20;27;28;41;51;61;71;9068;1225;1221;1224;9069"
SESSION_FIDS = "215;20;214"
#: A replay's clock starts this long before the first recorded row. Login (CommConnect →
#: OnEventConnect, 100 ms in the emulator) and the screen registrations run on that clock; rows it
#: passed before the screens existed would reach the exchange books but never the engine.
REPLAY_LEAD_NS = 1_000_000_000
#: The account the emulated user holds when KIWOOM_ACCOUNT is not set.
EMULATOR_ACCOUNT = "8012345611"


class BridgeError(RuntimeError):
    """A bridge operation failed (login, registration, unknown backend)."""


@dataclass
class Route:
    """Where the ticks of one screen go."""

    screen_no: str
    codes: tuple[str, ...]
    shard_id: int
    generation: int
    registered: bool = False


@dataclass
class StepOutput:
    """What one step collected: market rows per shard id and broker events in order."""

    t_ns: int
    rows: dict[int, np.ndarray]
    events: list[StepEvent] = field(default_factory=list)
    updates: int = 0


def session_start_ns(cfg: EngineConfig, today: dt.date | None = None) -> tuple[dt.date, int]:
    """The simulated session: ``sim.date`` (or the next XKRX trading day on/after today) at
    ``sim.start_time`` Asia/Seoul, as (date, ns)."""
    from core.session import SessionClock
    clock = SessionClock(cfg.sessions)
    day = cfg.sim.date or (today or dt.datetime.now(KST).date())
    if not clock.is_trading_day(day):
        day = clock.next_trading_day(day)
    return day, ns_from_kst(day, cfg.sim.start_time)


class BridgeCore:
    """See the module docstring. ``options`` is a :class:`protocol.wiring.RunOptions`."""

    def __init__(self, cfg: EngineConfig, universe: Universe, options: RunOptions, control: Any = None,
                 wall_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.cfg = cfg
        self.universe = universe
        self.options = options
        self.backend = options.backend
        self.wall_ns = wall_ns
        #: ``engine − bridge`` of the latency clocks (:mod:`core.clock_offset`): added to every latency stamp the
        #: bridge hands out (tick arrivals, order sends); None = not known yet, the stamps are 0 (no figure)
        self.latency_offset_ns: int | None = 0
        self.index = {s.code: i for i, s in enumerate(universe.symbols)}
        n = len(universe)
        self.last = np.zeros((2, n, 5), dtype=np.int64)       # bid, ask, bid_qty, ask_qty, last
        self._touched = np.zeros(n, dtype=bool)                 # real data since the last take()
        self.last_t = np.zeros((2, n), dtype=np.int64)
        self.routes: dict[str, Route] = {}
        self.code_shard: dict[str, int] = {}
        self._rows: dict[int, list[tuple[int, ...]]] = {}    # shard id -> L1 rows (L1_ROW_DTYPE fields)
        self._events: list[StepEvent] = []
        self._foreign_feeds: set[str] = set()
        self.scheduler: SimScheduler | None = None       # the emulator's clock (sim and replay)
        self.source: MarketSource | None = None          # SyntheticMarket or ReplaySource
        self.sim_start_ns = 0
        self.speed = options.speed
        self.wall_start_ns = 0
        self.account = ""
        self.connected = False
        self.order_seq = 0
        self.updates_total = 0
        self.paced_arrival = False
        if control is None:
            control = self._make_control()
        from kiwoom_bridge.openapi import OpenApi
        self.control = control
        scheduler = self.scheduler
        clock = (lambda: scheduler.now_ns) if scheduler is not None else time.time_ns
        self.api = OpenApi(control, clock_ns=clock, monotonic_ns=wall_ns)
        # the last guard of Kiwoom's order cap, on the clock the broker counts (the emulator's in sim and
        # replay, the wall in live): whatever the Throttler did, never more than 5 sends in any 1 s
        self.send_guard = TokenBucket(KIWOOM_ORDERS_PER_SEC_CAP, 1_000_000_000)
        self._guard_clock = (lambda: scheduler.now_ns) if scheduler is not None else time.monotonic_ns
        self._guard_last_ns = 0
        self.guard_refusals = 0
        self.api.on_l1 = self._on_l1
        self.api.on_ack = self._push
        self.api.on_execution = self._push
        self.api.on_balance = self._push
        self.api.on_session = self._push
        self.api.on_vi = self._push
        self.api.on_message = self._push
        self.api.on_connection = self._on_connection
        self.api.on_tr_data = self._on_tr_data
        self.account_queries: Any = None       # AccountQueries, once logged in

    # -- backend construction ----------------------------------------------------------------
    def _make_control(self) -> Any:
        cfg = self.cfg
        codes = tuple(s.code for s in self.universe.symbols)
        if self.backend == "kiwoom":
            import sys

            from kiwoom_bridge.openapi import OpenApi
            if sys.platform == "win32":
                # The OCX is a QWidget: a QApplication must exist on this (the actor's) thread before it
                # is created, and pump() drives that application's event loop. Elsewhere create_control
                # refuses with the platform message.
                try:
                    from PyQt5.QtWidgets import QApplication
                except ImportError:
                    pass                    # create_control reports the missing PyQt5
                else:
                    self._qt_app = QApplication.instance() or QApplication([])
            return OpenApi.create_control("kiwoom")
        from kiwoom_bridge.emulator.control import EmulatedControl
        from kiwoom_bridge.emulator.scheduler import SimScheduler
        if self.backend == "sim":
            from kiwoom_bridge.emulator.synthetic import SyntheticMarket
            _, start = session_start_ns(cfg)
            seed = self.options.seed if self.options.seed is not None else cfg.sim.seed
            markets = {s.code: str(s.market) for s in self.universe.symbols}
            source: MarketSource = SyntheticMarket(codes, markets=markets, start_ns=start, params=cfg.sim.market,
                                                   seed=seed)
        elif self.backend == "replay":
            from kiwoom_bridge.emulator.replay import ReplaySource
            if not self.options.replay_file:
                raise BridgeError("the replay backend needs a recording file")
            source = ReplaySource(self.options.replay_file, universe_codes=codes,
                                  assumed_visible_qty=cfg.replay.assumed_visible_qty)
            start = source.start_ns - REPLAY_LEAD_NS
        else:
            raise BridgeError(f"unknown backend {self.backend!r} (sim | replay | kiwoom)")
        self.source = source
        self.sim_start_ns = start
        self.scheduler = scheduler = SimScheduler(start)
        seed = self.options.seed if self.options.seed is not None else cfg.sim.seed
        from core.session import SessionClock
        # the emulated user holds the account the operator names (any number works in sim and replay)
        account = os.environ.get("KIWOOM_ACCOUNT", "").strip() or EMULATOR_ACCOUNT
        return EmulatedControl(scheduler, source, cfg, codes, seed,
                               markets={s.code: str(s.market) for s in self.universe.symbols},
                               names={s.code: s.name for s in self.universe.symbols},
                               is_trading_day=SessionClock(cfg.sessions).is_trading_day, account=account)

    @property
    def simulated(self) -> bool:
        return self.scheduler is not None

    def now_ns(self) -> int:
        return self.scheduler.now_ns if self.scheduler is not None else time.time_ns()

    # -- login and registration ------------------------------------------------------------
    def login(self, timeout_s: float = 60.0) -> None:
        """CommConnect → OnEventConnect(0) → account password window → account number."""
        rc = self.api.comm_connect()
        if rc != 0:
            raise BridgeError(f"CommConnect returned {rc}")
        deadline = self.now_ns() + int(timeout_s * 1e9)
        while not self.connected:
            if self.simulated:
                nxt = self.control.next_event_ns()
                if nxt is None or nxt > deadline:
                    raise BridgeError("no OnEventConnect from the emulator")
                self.control.advance_to(nxt)
            else:
                self.pump(0.05)
                if self.now_ns() > deadline:
                    raise BridgeError("login timed out waiting for OnEventConnect")
            bad = [e for e in self._events if isinstance(e, ConnectionChanged) and not e.connected]
            if bad:
                raise BridgeError(f"login failed: {bad[-1].reason}")
        self._events[:] = [e for e in self._events if not isinstance(e, ConnectionChanged)]
        self.api.show_account_window()
        acc = os.environ.get("KIWOOM_ACCOUNT", "").strip()
        accounts = [a for a in self.api.login_info("ACCNO").split(";") if a]
        if acc and acc not in accounts:
            raise BridgeError("KIWOOM_ACCOUNT is not one of the logged-in user's accounts")
        self.account = acc or (accounts[0] if accounts else "")
        if not self.account:
            raise BridgeError("no account available after login")
        from core.throttle import TokenBucket
        from kiwoom_bridge.account_tr import AccountQueries
        th = self.cfg.throttling
        bucket = TokenBucket(th.queries_bucket_per_sec, 1_000_000_000 + th.window_margin_ms * 1_000_000)
        self.account_queries = AccountQueries(self.api, self.account, self.cfg.kiwoom.screen_numbers.account,
                                              bucket, self.now_ns, self._push_event)

    # -- the account ---------------------------------------------------------------------------------
    def _push_event(self, ev: StepEvent) -> None:
        self._events.append(ev)             # take() replaces the list: never bind its append

    def _on_tr_data(self, screen_no: str, rq_name: str, tr_code: str, record_name: str, prev_next: str) -> None:
        aq = self.account_queries
        if aq is not None:
            aq.on_tr_data(screen_no, rq_name, tr_code, record_name, prev_next)

    def start_account_round(self, purpose: str) -> None:
        """Query the broker's holdings and cash (``purpose``: login, periodic, final)."""
        if self.account_queries is not None:
            self.account_queries.start_round(purpose)

    def account_pump(self) -> None:
        """Send the account queries the queries bucket allows now; time out overdue replies."""
        if self.account_queries is not None:
            self.account_queries.pump()

    def account_wakeup_ns(self) -> int | None:
        """When the account queries next need the bridge (a token frees up, a reply falls due)."""
        return self.account_queries.next_wakeup_ns() if self.account_queries is not None else None

    def account_settled(self, purpose: str) -> bool:
        """A round of ``purpose`` completed or was abandoned."""
        return self.account_queries is None or self.account_queries.settled(purpose)

    def close(self) -> None:
        """End of the session: drop every real-time registration. (Kiwoom's ``CommTerminate`` is no longer
        supported; the OCX's connection ends when the host process exits.)"""
        try:
            self.api.set_real_remove("ALL", "ALL")
        except Exception:  # noqa: BLE001 - closing must never fail the report
            pass

    def server(self) -> str:
        """``mock`` (모의투자) or ``real`` (실서버), as the logged-in control says; ``""`` before login."""
        if not self.connected:
            return ""
        return "mock" if self.api.server_gubun().strip() == "1" else "real"

    def account_masked(self) -> str:
        """The account number with all but its last 4 characters masked (never the whole number)."""
        acc = self.account
        return ("*" * max(len(acc) - 4, 0) + acc[-4:]) if acc else ""

    def register_session(self) -> int:
        """Register FID 215 (장시작시간) on the session screen."""
        return self.api.set_real_reg(self.cfg.kiwoom.screen_numbers.session, [], SESSION_FIDS, "0")

    def register(self, shard_id: int, screens: tuple[tuple[str, tuple[str, ...]], ...], generation: int) -> str:
        """Route ``screens`` to ``shard_id``; call SetRealReg only for screens not yet registered.

        A newer generation takes over a screen already registered (re-sharding: the new route is in
        place before the old shard is retired). Returns an error text, '' when fine.
        """
        errors = []
        for screen_no, codes in screens:
            old = self.routes.get(screen_no)
            if old is not None and old.generation > generation:
                continue
            if old is None or not old.registered or tuple(old.codes) != tuple(codes):
                rc = self._set_real_reg(screen_no, codes)
                if rc != 0:
                    from kiwoom_bridge.errors import describe
                    errors.append(f"screen {screen_no}: SetRealReg returned {describe(rc)}")
                    continue
            self.routes[screen_no] = Route(screen_no, tuple(codes), shard_id, generation, True)
            for c in codes:
                self.code_shard[c] = shard_id
        return "; ".join(errors)

    def _set_real_reg(self, screen_no: str, codes: tuple[str, ...]) -> int:
        krx = [c for c in codes]
        nxt = [f"{c}_NX" for c in codes if self.universe[c].nxt]
        rc = self.api.set_real_reg(screen_no, krx, QUOTE_FIDS, "0")
        if rc == 0 and nxt:
            rc = self.api.set_real_reg(screen_no, nxt, QUOTE_FIDS, "1")
        return rc

    def release(self, screen_nos: tuple[str, ...]) -> None:
        for s in screen_nos:
            r = self.routes.pop(s, None)
            if r is not None:
                self.api.set_real_remove(s, "ALL")

    def snapshot_rows(self, shard_id: int) -> np.ndarray:
        """Full last-known L1 of every code routed to ``shard_id`` (a restarted shard rebuilds from it)."""
        codes = [c for c, s in self.code_shard.items() if s == shard_id]
        out = []
        for c in codes:
            i = self.index[c]
            for v in (0, 1):
                if self.last_t[v, i] == 0:
                    continue
                b = self.last[v, i]
                out.append((i, v, KIND_QUOTE, b[1], b[0], b[3], b[2], b[4], self.last_t[v, i],
                            self.latency_stamp(self.wall_ns())))
        return np.array(out, dtype=L1_ROW_DTYPE) if out else empty_rows()

    # -- events from the facade --------------------------------------------------------------
    def _push(self, ev: object) -> None:
        self._events.append(to_domain(ev))

    def _on_connection(self, ev: ConnectionEvent) -> None:
        self.connected = ev.connected
        self._events.append(to_domain(ev))

    def _on_l1(self, u: L1Update) -> None:
        i = self.index.get(u.code)
        if i is None:
            return
        if u.venue == Venue.KRX:
            v = 0                                     # Venue.l1_index, without a parse per tick
        elif u.venue == Venue.NXT:
            v = 1
        else:
            # an integrated (_AL) feed is neither venue's book (kiwoom_bridge.wire_codes): never used
            if u.code not in self._foreign_feeds:
                self._foreign_feeds.add(u.code)
                self._events.append(BrokerNotice(f"real data of {u.code} on the {u.venue} feed ignored: "
                                                 f"the engine reads the KRX and NXT books only", u.t_ns))
            return
        self._touched[i] = True
        b = self.last[v, i]
        if u.bid:
            b[0] = u.bid
        if u.ask:
            b[1] = u.ask
        if u.bid_qty:
            b[2] = u.bid_qty
        if u.ask_qty:
            b[3] = u.ask_qty
        if u.last:
            b[4] = u.last
        self.last_t[v, i] = u.t_ns
        shard = self.code_shard.get(u.code)
        if shard is None:
            return
        arrival = u.arrival_ns
        if self.paced_arrival and self.speed:
            # the moment this tick would have reached us in real time (queueing in the bridge counts)
            arrival = self.wall_start_ns + int((u.t_ns - self.sim_start_ns) / self.speed)
        arrival = self.latency_stamp(arrival)
        self._rows.setdefault(shard, []).append(
            (i, v, KIND_TRADE if u.real_type == REAL_TYPE_TRADE else KIND_QUOTE, u.ask, u.bid, u.ask_qty, u.bid_qty,
             u.last,
             u.t_ns, arrival))
        self.updates_total += 1

    def latency_stamp(self, wall_ns: int) -> int:
        """A wall time of this process as a latency stamp on the engine's clock (0 while the offset is unknown)."""
        off = self.latency_offset_ns
        return 0 if off is None else wall_ns + off

    # -- driving the clock -------------------------------------------------------------------
    def start_clock(self) -> None:
        """Pin wall time to the engine clock (paced runs)."""
        self.wall_start_ns = self.wall_ns()
        self.paced_arrival = self.simulated and self.speed is not None
        if self.scheduler is not None:                  # simulated
            self.sim_start_ns = self.scheduler.now_ns

    def paced_target_ns(self) -> int:
        """Engine time the wall clock has reached at ``--speed X``."""
        return self.sim_start_ns + int((self.wall_ns() - self.wall_start_ns) * (self.speed or 1.0))

    def next_event_ns(self) -> int | None:
        return self.control.next_event_ns() if self.simulated else None

    def source_exhausted(self) -> bool:
        """A replay has delivered its last row (the emulator's own session timers never run out)."""
        return self.source is not None and self.source.peek_time_ns() is None

    def advance_to(self, t_ns: int) -> None:
        if self.scheduler is not None:                  # simulated
            win = self.cfg.sim.faults.storm_308_window
            if win is not None:
                from core.clock import kst_datetime
                tod = kst_datetime(self.scheduler.now_ns).time()
                self.control.faults.storm_308 = self.cfg.sim.faults.storm_308 or win.start <= tod < win.end
            self.control.advance_to(t_ns)

    def pump(self, max_s: float = 0.0) -> None:
        """Real OCX: let Qt deliver pending COM events (on this thread)."""
        if self.simulated:
            return
        from PyQt5.QtWidgets import QApplication
        app = QApplication.instance()
        if app is not None:
            app.processEvents()
        if max_s:
            time.sleep(max_s)

    def has_pending(self) -> bool:
        """Rows or events collected and not yet handed out."""
        return bool(self._rows) or bool(self._events)

    def has_events(self) -> bool:
        """Broker or session events collected and not yet handed out (rows aside)."""
        return bool(self._events)

    def rows_collected(self) -> dict[int, int]:
        """Rows collected per shard and not yet handed out (where a merged quantum ends in each shard's rows)."""
        return {s: len(v) for s, v in self._rows.items()}

    def touched_since_take(self, sym: np.ndarray) -> bool:
        """Whether any of the symbols ``sym`` (universe indices) had real data since the last :meth:`take`."""
        return bool(self._touched[sym].any()) if len(sym) else False

    def edge_possible(self, screen: EdgeScreen, t_ns: int) -> np.ndarray:
        """The symbols the books as the bridge has them could make eligible at ``t_ns`` (:class:`EdgeScreen`)."""
        k, n = Venue.KRX.l1_index, Venue.NXT.l1_index
        last = self.last
        return screen.possible(np.ascontiguousarray(last[k, :, 0]), np.ascontiguousarray(last[k, :, 1]),
                               np.ascontiguousarray(last[n, :, 0]), np.ascontiguousarray(last[n, :, 1]), t_ns)

    def take(self, t_ns: int, shard_ids: tuple[int, ...]) -> StepOutput:
        """Hand out everything collected since the last call as one step at ``t_ns``."""
        rows = {}
        for s in shard_ids:
            lst = self._rows.pop(s, None)
            rows[s] = np.array(lst, dtype=L1_ROW_DTYPE) if lst else empty_rows()
        dropped = sum(len(v) for v in self._rows.values())
        self._rows.clear()
        events, self._events = self._events, []
        self._touched[:] = False
        out = StepOutput(t_ns, rows, events, sum(len(r) for r in rows.values()))
        if dropped:
            out.events.append(BrokerNotice(f"{dropped} real-data rows for shards without a subscriber this step",
                                           t_ns))
        return out

    # -- orders ------------------------------------------------------------------------------
    def touches(self) -> L1Touches:
        """Both venues' last best bid/ask of every code as the bridge received them (0 = none yet): what the
        desk prices escalation from when the SpreadEngine, which normally hands these on, is gone."""
        sym = np.arange(len(self.index), dtype=np.int64)
        k, n = Venue.KRX.l1_index, Venue.NXT.l1_index
        return L1Touches(sym, self.last[k, :, 0].copy(), self.last[k, :, 1].copy(), self.last[n, :, 0].copy(),
                         self.last[n, :, 1].copy())

    def place(self, placed: PlacedOrder) -> OrderSendResult:
        """SendOrder for a placed order (rq_name = the intent's ref); the result as a domain event."""
        intent = placed.intent
        hoga = hoga_for(intent.style)
        screen = self.cfg.kiwoom.screen_numbers.orders
        send_ns = self.latency_stamp(self.wall_ns())
        guard_ns = self._guard()
        if guard_ns is None:
            return self._guard_refusal(intent.ref, send_ns, placed.signal_ns, placed)
        rc = self.api.send_order(intent.ref, screen, self.account, new_order_type(intent.venue, intent.side),
                                 intent.symbol, intent.qty, intent.price, hoga.value, "")
        self._guard_settle(rc, guard_ns)
        return send_result(rc, intent.ref, self.now_ns(), send_ns, signal_ns=placed.signal_ns, wire_style=hoga.value,
                           screen_no=screen, order=placed)

    def cancel(self, intent: CancelIntent) -> OrderSendResult:
        """SendOrder with the cancel order type (3/4 KRX, 23 NXT), price 0, the original order number."""
        screen = self.cfg.kiwoom.screen_numbers.orders
        send_ns = self.latency_stamp(self.wall_ns())
        guard_ns = self._guard()
        if guard_ns is None:
            return self._guard_refusal(intent.ref, send_ns, 0, None)
        rc = self.api.send_order(intent.ref, screen, self.account, cancel_order_type(intent.venue, intent.side),
                                 intent.symbol, intent.qty, 0, HogaCode.LIMIT.value, intent.order_no)
        self._guard_settle(rc, guard_ns)
        return send_result(rc, intent.ref, self.now_ns(), send_ns, screen_no=screen)

    # -- the order-cap guard ----------------------------------------------------------------
    def _guard(self) -> int | None:
        """The guard clock's time when a send may go out now (its token taken), None when it may not."""
        t = self._guard_last_ns = max(self._guard_clock(), self._guard_last_ns)   # never backwards
        return t if self.send_guard.try_acquire(t, urgent=True) else None

    def _guard_settle(self, rc: int, guard_ns: int) -> None:
        if rc == ErrorCode.OP_ERR_ORD_OVERFLOW:      # -308: the broker did not count that call
            self.send_guard.release_at(guard_ns, guard_ns)

    def _guard_refusal(self, ref: str, send_ns: int, signal_ns: int, order: PlacedOrder | None) -> OrderSendResult:
        self.guard_refusals += 1
        return OrderSendResult(ref=ref, outcome=SendOutcome.RATE_LIMITED, t_ns=self.now_ns(), send_ns=send_ns,
                               signal_ns=signal_ns, wire_code=None, order=order,
                               reason=f"not sent: the bridge allows at most {KIWOOM_ORDERS_PER_SEC_CAP} sends in "
                                      f"any 1 s (Kiwoom's order cap) and this would have been one more")

__all__ = ["BridgeCore", "BridgeError", "StepOutput", "session_start_ns"]
