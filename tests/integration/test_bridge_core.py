"""BridgeCore without actors: the sim and replay backends driven step by step through ``advance_to``.

:class:`~kiwoom_bridge.bridge_core.BridgeCore` is the KiwoomBridge actor's logic: login, screen
registration and routing, market rows per shard, FID 215, orders and cancels, and the per-step hand-out
(``take``) of the broker's notices translated into domain events (:mod:`core.desk_events`). Here it is
driven directly, on the one simulated clock, so every assertion is about engine
time, never the wall clock. (Under ``tests/integration`` because building the first sim backend in a
process takes a few seconds of imports; nothing here starts an ActorSystem.)
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from config.loader import load_config
from config.universe_file import load_universe
from core.clock import NS_PER_MS, NS_PER_S, ns_from_kst
from core.desk_events import (
    BrokerNotice,
    ConnectionChanged,
    HoldingUpdated,
    MarketOperationNotice,
    OrderAccepted,
    OrderAcknowledged,
    OrderCancelled,
    OrderFilled,
    OrderSendResult,
    SendOutcome,
)
from core.enums import MarketOperation, OrderRole, OrderStyle, Side, Venue
from core.l1 import L1_ROW_DTYPE
from core.order_flow import PlacedOrder
from core.pair_events import CancelIntent, OrderIntent
from core.throttle import TokenBucket
from core.ticks import is_on_tick, shift_ticks
from core.universe import Universe
from kiwoom_bridge.bridge_core import BridgeCore, BridgeError
from kiwoom_bridge.recording import format_timestamp, write_recording
from kiwoom_bridge.types import REAL_TYPE_QUOTE, REAL_TYPE_TRADE
from protocol.wiring import RunOptions

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 3, 10)                      # a Tuesday, an XKRX trading day
EMULATOR_ACCOUNT = "8012345611"                 # what the emulated GetLoginInfo("ACCNO") reports
ROW_FIELDS = tuple(n for n in L1_ROW_DTYPE.names if n != "arrival_ns")   # arrival_ns is wall time
VENUE = {"KRX": 0, "NXT": 1}


# ---------------------------------------------------------------------------------------- fixtures

@pytest.fixture(autouse=True)
def _no_account_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIWOOM_ACCOUNT", raising=False)


@pytest.fixture(scope="module")
def cfg() -> Any:
    return load_config(overrides={"sim": {"date": DAY.isoformat()}})


@pytest.fixture(scope="module")
def universe() -> Universe:
    return load_universe(ROOT / "config" / "universe_demo.csv")


def screens_of(universe: Universe) -> list[tuple[str, tuple[str, ...]]]:
    return [(s.screen_no, s.codes) for s in universe.screens()]


def sim_core(cfg: Any, universe: Universe, seed: int | None = None) -> BridgeCore:
    """A sim BridgeCore at --speed max, logged in, FID 215 registered."""
    core = BridgeCore(cfg, universe, RunOptions(backend="sim", speed=None, seed=seed))
    core.login()
    assert core.register_session() == 0
    return core


def advance(core: BridgeCore, t_ns: int, shard_ids: tuple[int, ...] = (0,)) -> Any:
    core.advance_to(t_ns)
    return core.take(t_ns, shard_ids)


def fold(rows: np.ndarray) -> dict[tuple[int, int], dict[str, int]]:
    """The last known L1 per (sym, venue): every row updates only the fields it carries (non-zero)."""
    book: dict[tuple[int, int], dict[str, int]] = {}
    for r in rows:
        b = book.setdefault((int(r["sym"]), int(r["venue"])),
                            {"ask": 0, "bid": 0, "ask_qty": 0, "bid_qty": 0, "last": 0, "t_ns": 0})
        for f in ("ask", "bid", "ask_qty", "bid_qty", "last"):
            if r[f]:
                b[f] = int(r[f])
        b["t_ns"] = int(r["t_ns"])
    return book


def of_type(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


STYLE = {"10": OrderStyle.LIMIT_IOC, "13": OrderStyle.MARKET_IOC, "00": OrderStyle.LIMIT}


def intent(ref: str, code: str, venue: str, side: str, qty: int, hoga: str, price: int) -> PlacedOrder:
    """A placed order as the Throttler hands it over (``hoga`` names the style by Kiwoom's code)."""
    pair_id = ref.split(":")[0]
    it = OrderIntent(ref=ref, pair_id=pair_id, symbol=code, venue=Venue.parse(venue), side=Side.parse(side), qty=qty,
                     style=STYLE[hoga], price=price, role=OrderRole.TAKE, urgent=False)
    return PlacedOrder(it, 0)


def cancel_of(ref: str, code: str, venue: str, side: str, order_no: str, qty: int) -> CancelIntent:
    return CancelIntent(ref=ref, pair_id=ref.split(":")[0], symbol=code, target_ref="", order_no=order_no,
                        venue=Venue.parse(venue), side=Side.parse(side), qty=qty)


def touch(core: BridgeCore, code: str, venue: str) -> tuple[int, int]:
    """(bid, ask) of ``code`` on ``venue`` as the engine last saw them (the snapshot of its shard)."""
    i = core.index[code]
    snap = core.snapshot_rows(core.code_shard[code])
    row = snap[(snap["sym"] == i) & (snap["venue"] == VENUE[venue])]
    assert len(row) == 1, f"no market data yet for {code} on {venue}"
    return int(row["bid"][0]), int(row["ask"][0])


NOTICES = (OrderAccepted, OrderFilled, OrderCancelled)


def order_events(events: list[Any], order_no: str) -> list[Any]:
    """The execution notices that concern ``order_no`` (its own, or a cancel naming it), in order."""
    return [e for e in of_type(events, NOTICES) if order_no in (e.order_no, e.orig_order_no)]


# ----------------------------------------------------------------------------------- login, 215

def test_login_connects_and_takes_the_account_of_the_logged_in_user(cfg: Any, universe: Universe) -> None:
    # Prepare
    core = BridgeCore(cfg, universe, RunOptions(backend="sim", speed=None))
    assert not core.connected and core.account == ""
    start = core.now_ns()

    # Act
    core.login()

    # Assert: OnEventConnect(0) arrived on the simulated clock, the account is the user's
    assert core.connected
    assert core.api.connect_state() == 1
    assert core.account == EMULATOR_ACCOUNT
    assert core.account in core.api.accounts()
    assert core.now_ns() > start, "login is asynchronous: the clock must have moved to OnEventConnect"
    assert not of_type(core.take(core.now_ns(), ()).events, ConnectionChanged), "login consumes its event"


def test_login_honours_kiwoom_account_and_reports_failures(cfg: Any, universe: Universe,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIWOOM_ACCOUNT", EMULATOR_ACCOUNT)
    core = BridgeCore(cfg, universe, RunOptions(backend="sim", speed=None))
    core.login()
    assert core.account == EMULATOR_ACCOUNT

    # the emulated user holds the account KIWOOM_ACCOUNT names when the bridge is built ...
    monkeypatch.setenv("KIWOOM_ACCOUNT", "5555555511")
    other = BridgeCore(cfg, universe, RunOptions(backend="sim", speed=None))
    other.login()
    assert other.account == "5555555511"
    # ... and a login whose user does not hold the account named is refused
    holder = BridgeCore(cfg, universe, RunOptions(backend="sim", speed=None))
    monkeypatch.setenv("KIWOOM_ACCOUNT", "6666666611")
    with pytest.raises(BridgeError, match="KIWOOM_ACCOUNT"):
        holder.login()

    monkeypatch.delenv("KIWOOM_ACCOUNT")
    failing = BridgeCore(cfg, universe, RunOptions(backend="sim", speed=None))
    failing.control.login_result = -101            # OP_ERR_CONNECT
    with pytest.raises(BridgeError, match=r"login failed: -101"):
        failing.login()
    assert not failing.connected


def test_fid_215_sends_krx_open_at_once_and_nxt_main_start_at_09_00_30(cfg: Any, universe: Universe) -> None:
    # Prepare: the sim clock starts at sim.start_time 09:00:25
    core = sim_core(cfg, universe)
    start = ns_from_kst(DAY, cfg.sim.start_time)
    assert cfg.sim.start_time == dt.time(9, 0, 25)
    nxt_main = ns_from_kst(DAY, dt.time(9, 0, 30))

    # Act
    out = advance(core, ns_from_kst(DAY, dt.time(9, 0, 31)), ())

    # Assert
    sessions = of_type(out.events, MarketOperationNotice)
    assert [(s.raw, s.operation) for s in sessions] == [("3", MarketOperation.KRX_OPEN),
                                                        ("R", MarketOperation.NXT_MAIN_OPEN)], sessions
    krx_open, nxt_open = sessions
    assert start <= krx_open.t_ns < start + NS_PER_S, "the current state ('3') comes at once"
    assert nxt_open.t_ns == nxt_main


# ------------------------------------------------------------------------ registration and rows

def test_registering_the_demo_universe_routes_every_code_to_its_shard(cfg: Any, universe: Universe) -> None:
    # Prepare
    core = sim_core(cfg, universe)
    screens = screens_of(universe)
    assert [len(c) for _, c in screens] == [50, 50, 50, 50, 12]     # 100 codes per screen counting _NX

    # Act
    err = core.register(0, tuple(screens), 0)

    # Assert
    assert err == ""
    assert set(core.routes) == {s for s, _ in screens}
    assert all(r.registered and r.shard_id == 0 and r.generation == 0 for r in core.routes.values())
    assert core.code_shard == {code: 0 for code in universe.codes}


def test_five_seconds_give_rows_for_both_venues_and_only_for_registered_codes(cfg: Any,
                                                                              universe: Universe) -> None:
    # Prepare: screen 1 → shard 0, screen 2 → shard 1, the other screens not registered at all
    core = sim_core(cfg, universe)
    s1, s2, *rest = screens_of(universe)
    assert core.register(0, (s1,), 0) == ""
    assert core.register(1, (s2,), 0) == ""
    t0 = core.now_ns()
    core.start_clock()

    # Act
    out = advance(core, t0 + 5 * NS_PER_S, (0, 1))

    # Assert
    wanted = {0: {universe.index_of(c) for c in s1[1]}, 1: {universe.index_of(c) for c in s2[1]}}
    for shard, rows in out.rows.items():
        assert rows.dtype == L1_ROW_DTYPE
        assert len(rows) > 0, f"shard {shard} got no rows in 5 s"
        assert set(rows["sym"].tolist()) <= wanted[shard], f"shard {shard} got rows of codes it does not own"
        assert set(rows["venue"].tolist()) == {0, 1}, "rows for both KRX and NXT"
        assert set(rows["kind"].tolist()) == {0, 1}, "quotes (주식호가잔량) and trades (주식체결)"
        assert np.all(np.diff(rows["t_ns"]) >= 0), "rows are in arrival order"
        assert rows["t_ns"].min() > t0 and rows["t_ns"].max() <= t0 + 5 * NS_PER_S
        quotes, trades = rows[rows["kind"] == 0], rows[rows["kind"] == 1]
        for f in ("ask", "bid", "ask_qty", "bid_qty"):
            assert np.all(quotes[f] > 0), f"a quote row without {f}"
        assert np.all(trades["last"] > 0) and np.all(trades["ask_qty"] == 0)
    unregistered = {universe.index_of(c) for s in rest for c in s[1]}
    seen = set(out.rows[0]["sym"].tolist()) | set(out.rows[1]["sym"].tolist())
    assert not seen & unregistered
    # the market did move for the unregistered codes: they were filtered by registration, not absent
    assert all(core.control.book(c, v) is not None for s in rest for c in s[1] for v in ("KRX", "NXT"))
    assert core.updates_total == len(out.rows[0]) + len(out.rows[1])
    assert not [e for e in of_type(out.events, BrokerNotice) if "real-data rows" in e.text], \
        "no rows were dropped for a shard without a subscriber"


def test_snapshot_rows_hold_the_last_state_of_each_code_of_the_shard(cfg: Any, universe: Universe) -> None:
    # Prepare
    core = sim_core(cfg, universe)
    s1, *others = screens_of(universe)
    core.register(0, (s1,), 0)
    core.register(1, tuple(others), 0)
    t0 = core.now_ns()
    delivered = {0: [], 1: []}

    # Act: two steps, so the snapshot must combine them
    for t in (t0 + 3 * NS_PER_S, t0 + 5 * NS_PER_S):
        out = advance(core, t, (0, 1))
        for shard in (0, 1):
            delivered[shard].append(out.rows[shard])

    # Assert
    for shard in (0, 1):
        expected = fold(np.concatenate(delivered[shard]))
        snap = core.snapshot_rows(shard)
        assert snap.dtype == L1_ROW_DTYPE
        assert np.all(snap["kind"] == 0)
        got = {(int(r["sym"]), int(r["venue"])): {f: int(r[f]) for f in ("ask", "bid", "ask_qty", "bid_qty",
                                                                         "last", "t_ns")} for r in snap}
        assert len(got) == len(snap), "one snapshot row per (code, venue)"
        assert got == expected
    assert len(core.snapshot_rows(0)) == 2 * len(s1[1])       # every code moved on both venues in 5 s
    assert core.snapshot_rows(7).size == 0                      # an unknown shard owns nothing


# ------------------------------------------------------------------------------------------- orders

@pytest.mark.parametrize(("venue", "side"), [("KRX", "BUY"), ("NXT", "SELL")])
def test_take_ioc_is_acked_then_filled_and_its_remainder_cancelled(cfg: Any, universe: Universe, venue: str,
                                                                   side: str) -> None:
    # Prepare: a limit IOC at the touch for more than any visible size (sizes ≤ sim.market.size_max), from an
    # account that holds the shares and has the cash for it (the emulator refuses anything else)
    cfg = load_config(overrides={"sim": {"date": DAY.isoformat(),
                                         "account": {"holdings_default": 10_000, "cash_krw": 10**13}}})
    core = sim_core(cfg, universe)
    core.register(0, tuple(screens_of(universe)), 0)
    advance(core, core.now_ns() + 5 * NS_PER_S)
    code = "005930"
    bid, ask = touch(core, code, venue)
    limit = ask if side == "BUY" else bid
    qty = cfg.sim.market.size_max + 1
    order = intent("T1:take:1", code, venue, side, qty, "10", limit)

    # Act
    res = core.place(order)
    out = advance(core, core.now_ns() + NS_PER_S)

    # Assert: SendOrder accepted (sent as Kiwoom's limit IOC "10"), then the ack with an order number
    assert isinstance(res, OrderSendResult) and res.outcome is SendOutcome.SENT and res.ref == order.intent.ref
    assert (res.wire_code, res.wire_style, res.order) == (0, "10", order)
    events = out.events
    acks = [a for a in of_type(events, OrderAcknowledged) if a.ref == order.intent.ref]
    assert len(acks) == 1 and acks[0].accepted, acks
    order_no = acks[0].order_no
    assert len(order_no) == 7 and order_no.isdigit()
    reps = order_events(events, order_no)
    assert reps and isinstance(reps[0], OrderAccepted), reps
    assert events.index(acks[0]) < events.index(reps[0])
    first = reps[0]
    assert (first.code, first.venue, first.side, first.order_qty, first.leaves_qty) == (code, venue, side, qty, qty)
    assert first.broker_status == "접수"
    rest = reps[1:]
    assert rest and all(isinstance(r, (OrderFilled, OrderCancelled)) for r in rest), reps
    fills = of_type(rest, OrderFilled)
    confirms = of_type(rest, OrderCancelled)
    filled = sum(r.qty for r in fills)
    assert len(confirms) == 1 and confirms[0] is rest[-1], "the IOC remainder is cancelled last"
    # the venue cancelling the remainder names the IOC itself
    assert confirms[0].order_no == confirms[0].cancel_order_no == order_no
    assert confirms[0].cancelled_qty > 0
    assert filled + confirms[0].cancelled_qty == qty
    for f in fills:
        assert f.qty > 0 and f.venue == venue
        assert (f.price <= limit) if side == "BUY" else (f.price >= limit)
    if filled:
        balances = [b for b in of_type(events, HoldingUpdated) if b.code == code]
        held = cfg.sim.account.holdings_default
        assert balances and balances[-1].holding_qty == held + (filled if side == "BUY" else -filled)


def without_bridge_guard(core: BridgeCore) -> BridgeCore:
    """The bridge's own 5-sends-per-second guard out of the way, so that the emulator's -308 rule is tested."""
    core.send_guard = TokenBucket(1_000, NS_PER_S)
    return core


def test_sixth_accepted_sendorder_within_one_engine_second_gets_308(cfg: Any, universe: Universe) -> None:
    # Prepare
    core = without_bridge_guard(sim_core(cfg, universe))
    core.register(0, tuple(screens_of(universe)), 0)
    t0 = core.now_ns() + 2 * NS_PER_S
    advance(core, t0)
    codes = universe.codes
    bid, _ = touch(core, codes[0], "KRX")
    rest_px = shift_ticks(bid, -20)

    # Act: five accepted SendOrders spread over 800 ms (one of them a cancel: cancels count), a sixth at 900 ms
    results: list[tuple[int, OrderSendResult]] = []
    events: list[Any] = []
    resting = intent("R0:post:1", codes[0], "KRX", "BUY", 1, "00", rest_px)
    results.append((0, core.place(resting)))
    for k, ms in enumerate((200, 400, 600), start=1):
        events += advance(core, t0 + ms * NS_PER_MS).events
        results.append((ms, core.place(intent(f"R{k}:take:1", codes[k], "KRX", "SELL", 1, "13", 0))))
    events += advance(core, t0 + 800 * NS_PER_MS).events
    resting_no = next(a.order_no for a in of_type(events, OrderAcknowledged) if a.ref == resting.intent.ref)
    results.append((800, core.cancel(cancel_of("R0:cancel:1", codes[0], "KRX", "BUY", resting_no, 1))))
    advance(core, t0 + 900 * NS_PER_MS)
    results.append((900, core.place(intent("R5:take:1", codes[5], "KRX", "BUY", 1, "13", 0))))
    advance(core, t0 + NS_PER_S - 1)
    results.append((999, core.place(intent("R6:take:1", codes[6], "KRX", "BUY", 1, "13", 0))))
    advance(core, t0 + NS_PER_S)            # the window is half-open: the first order has left it
    results.append((1000, core.place(intent("R7:take:1", codes[7], "KRX", "BUY", 1, "13", 0))))
    results.append((1000, core.place(intent("R8:take:1", codes[8], "KRX", "BUY", 1, "13", 0))))
    out = advance(core, t0 + 2 * NS_PER_S)

    # Assert
    assert [(ms, r.wire_code) for ms, r in results] == [(0, 0), (200, 0), (400, 0), (600, 0), (800, 0), (900, -308),
                                                        (999, -308), (1000, 0), (1000, -308)]
    assert {r.outcome for _, r in results if r.wire_code == -308} == {SendOutcome.RATE_LIMITED}
    refused = {r.ref for _, r in results if r.outcome is not SendOutcome.SENT}
    assert not [a for a in of_type(out.events, OrderAcknowledged) if a.ref in refused], "a refused call got an ack"
    assert [a.ref for a in of_type(out.events, OrderAcknowledged)] == ["R7:take:1"]


def test_six_sendorders_at_one_instant_the_sixth_gets_308(cfg: Any, universe: Universe) -> None:
    core = without_bridge_guard(sim_core(cfg, universe))
    core.register(0, tuple(screens_of(universe)), 0)
    advance(core, core.now_ns() + 2 * NS_PER_S)
    rcs = [core.place(intent(f"B{k}:take:1", universe.codes[k], "NXT", "BUY", 1, "13", 0)).wire_code
           for k in range(6)]
    assert rcs == [0, 0, 0, 0, 0, -308]


def test_the_bridge_never_sends_a_sixth_order_within_one_second(cfg: Any, universe: Universe) -> None:
    """Whatever the Throttler did (a restarted one, a bug), the bridge keeps the sixth send off the wire: it
    answers rate-limited itself (no broker code), and the broker saw only five calls."""
    core = sim_core(cfg, universe)
    core.register(0, tuple(screens_of(universe)), 0)
    t0 = core.now_ns() + 2 * NS_PER_S
    advance(core, t0)
    sent = [core.place(intent(f"G{k}:take:1", universe.codes[k], "NXT", "BUY", 1, "13", 0)) for k in range(7)]
    assert [r.outcome for r in sent] == [SendOutcome.SENT] * 5 + [SendOutcome.RATE_LIMITED] * 2
    assert [r.wire_code for r in sent[5:]] == [None, None] and "at most 5 sends" in sent[5].reason
    out = advance(core, t0 + 500 * NS_PER_MS)
    acked = {a.ref for a in of_type(out.events, OrderAcknowledged)}
    assert acked == {f"G{k}:take:1" for k in range(5)}            # the refused two never reached the broker
    advance(core, t0 + NS_PER_S)                                   # one second later the window has room again
    assert core.place(intent("G9:take:1", universe.codes[9], "NXT", "BUY", 1, "13", 0)).outcome is SendOutcome.SENT


@pytest.mark.parametrize(("venue", "side"), [("KRX", "BUY"), ("NXT", "SELL")])
def test_cancel_of_a_resting_limit_order_is_confirmed_with_the_cancelled_qty(cfg: Any, universe: Universe,
                                                                            venue: str, side: str) -> None:
    # Prepare: a limit 20 ticks away from the touch rests on the book
    core = sim_core(cfg, universe)
    core.register(0, tuple(screens_of(universe)), 0)
    advance(core, core.now_ns() + 5 * NS_PER_S)
    code = "000660"
    bid, ask = touch(core, code, venue)
    price = shift_ticks(bid, -20) if side == "BUY" else shift_ticks(ask, 20)
    assert is_on_tick(price)
    qty = 3
    post = intent("C1:post:1", code, venue, side, qty, "00", price)
    assert core.place(post).outcome is SendOutcome.SENT
    out = advance(core, core.now_ns() + 100 * NS_PER_MS)
    order_no = next(a.order_no for a in of_type(out.events, OrderAcknowledged) if a.ref == post.intent.ref)
    assert [type(r) for r in order_events(out.events, order_no)] == [OrderAccepted]

    # Act
    req = cancel_of("C1:cancel:1", code, venue, side, order_no, qty)
    res = core.cancel(req)
    out = advance(core, core.now_ns() + 200 * NS_PER_MS)

    # Assert: the cancel (an order of its own) is acked and accepted, then the cancelled qty is confirmed
    assert res.outcome is SendOutcome.SENT and res.ref == req.ref
    cancel_ack = [a for a in of_type(out.events, OrderAcknowledged) if a.ref == req.ref]
    assert len(cancel_ack) == 1 and cancel_ack[0].accepted and cancel_ack[0].order_no != order_no
    reps = order_events(out.events, order_no)
    assert [type(r) for r in reps] == [OrderAccepted, OrderCancelled], reps
    accepted_cancel, confirm = reps
    assert accepted_cancel.order_no == cancel_ack[0].order_no and accepted_cancel.orig_order_no == order_no
    assert confirm.order_no == order_no and confirm.cancel_order_no == cancel_ack[0].order_no
    assert confirm.venue == venue and confirm.cancelled_qty == qty
    assert not of_type(reps, OrderFilled)
    assert core.control.exchange(venue).resting(code) == []


# ------------------------------------------------------------------------------------ determinism

def _drive(core: BridgeCore, universe: Universe) -> tuple[dict[int, np.ndarray], list[Any], list[tuple]]:
    """One scripted session: two shards, steps of uneven length, takes, a resting order and its cancel.

    Returns the rows per shard, every event in order, and (ref, rc, t_ns) of every SendOrder.
    """
    s1, *others = screens_of(universe)
    core.register(0, (s1,), 0)
    core.register(1, tuple(others), 0)
    t0 = core.now_ns()
    core.start_clock()
    rows: dict[int, list[np.ndarray]] = {0: [], 1: []}
    events: list[Any] = []
    sends: list[tuple] = []
    resting_no = ""
    # every code has quoted on both venues after 5 s: the orders start then
    for k, ms in enumerate((2_500, 5_000, 5_010, 5_020, 5_500, 6_200, 7_000, 7_001, 8_500, 10_000)):
        out = advance(core, t0 + ms * NS_PER_MS, (0, 1))
        for shard in (0, 1):
            rows[shard].append(out.rows[shard])
        events.extend(out.events)
        if k == 1:
            bid, ask = touch(core, "005930", "KRX")
            sends.append(core.place(intent("D1:take:1", "005930", "KRX", "BUY", 3, "10", ask)))
            sends.append(core.place(intent("D2:post:1", "000660", "NXT", "SELL", 2, "00",
                                           shift_ticks(touch(core, "000660", "NXT")[1], 15))))
        if k == 5:          # 1.2 s after the send: acked whatever the seeded send→ack latency drew
            resting_no = next(a.order_no for a in of_type(events, OrderAcknowledged) if a.ref == "D2:post:1")
            sends.append(core.cancel(cancel_of("D2:cancel:1", "000660", "NXT", "SELL", resting_no, 2)))
        if k == 6:
            sends.append(core.place(intent("D3:take:1", universe.codes[50], "NXT", "SELL", 5, "13", 0)))
    merged = {shard: np.concatenate(parts) for shard, parts in rows.items()}
    return merged, events, [(r.ref, r.wire_code, r.t_ns) for r in sends]


def test_same_config_and_seed_give_identical_rows_and_events(cfg: Any, universe: Universe) -> None:
    # Act
    rows_a, events_a, sends_a = _drive(sim_core(cfg, universe, seed=123), universe)
    rows_b, events_b, sends_b = _drive(sim_core(cfg, universe, seed=123), universe)
    rows_c, _, _ = _drive(sim_core(cfg, universe, seed=124), universe)

    # Assert: the script did something worth comparing
    assert all(rc == 0 for _, rc, _ in sends_a) and len(sends_a) == 4
    kinds = Counter(type(e).__name__ for e in of_type(events_a, NOTICES))
    assert kinds["OrderAccepted"] >= 4 and kinds["OrderFilled"] >= 1 and kinds["OrderCancelled"] >= 1, kinds
    assert [s.raw for s in of_type(events_a, MarketOperationNotice)] == ["3", "R"]
    # ... identical runs
    assert sends_a == sends_b
    for shard in (0, 1):
        assert len(rows_a[shard]) == len(rows_b[shard]) > 0
        for f in ROW_FIELDS:
            assert np.array_equal(rows_a[shard][f], rows_b[shard][f]), f"shard {shard} column {f} differs"
    assert events_a == events_b
    # ... and the comparison can tell runs apart: another seed is another market
    assert any(len(rows_a[s]) != len(rows_c[s]) or not np.array_equal(rows_a[s]["ask"], rows_c[s]["ask"])
               for s in (0, 1))


# ------------------------------------------------------------------------------------------ replay

def _recording_rows(t0: int) -> list[dict[str, Any]]:
    """A short recording in our recorder's layout: 주식호가잔량 rows with prices (41/51) and sizes (61/71),
    주식체결 rows with last (10), cumulative volume (13) and best prices (27/28). Rows are 37 ms apart
    starting exactly at ``t0``."""
    rows: list[dict[str, Any]] = []
    base = {"005930": (71_000, 100), "000660": (180_000, 100)}
    cum: dict[tuple[str, str], int] = {}
    for i in range(24):
        code = ("005930", "000660")[i % 2]
        venue = ("KRX", "NXT")[(i // 2) % 2]
        bid0, tick = base[code]
        bid = bid0 + tick * (i % 5)
        ask = bid + tick
        row: dict[str, Any] = {"timestamp": format_timestamp(t0 + i * 37 * NS_PER_MS), "symbol": code,
                               "venue": venue, "raw_code": code + ("_NX" if venue == "NXT" else ""),
                               "fid_11": 0, "fid_12": 0.0}
        if i % 4 == 3:
            cum[(code, venue)] = cum.get((code, venue), 1_000) + 10 + i
            row.update(real_type=REAL_TYPE_TRADE, fid_10=ask, fid_13=cum[(code, venue)], fid_27=ask, fid_28=bid,
                       fid_41=0, fid_51=0, fid_61=0, fid_71=0)
        else:
            row.update(real_type=REAL_TYPE_QUOTE, fid_10=0, fid_13=0, fid_27=0, fid_28=0, fid_41=ask, fid_51=bid,
                       fid_61=100 + i, fid_71=200 + i)
        rows.append(row)
    return rows


def test_replay_yields_the_recorded_quotes_and_then_reports_exhaustion(tmp_path: Path) -> None:
    # Prepare: a fastparquet file (the user's recorder's writer), the engine registered on both codes
    t0 = ns_from_kst(DAY, dt.time(9, 5, 0))
    recorded = _recording_rows(t0)
    path = write_recording(tmp_path / "market_data_20260310.parquet", recorded, engine="fastparquet")
    uni = Universe.from_codes(["005930", "000660"])
    core = BridgeCore(load_config(), uni, RunOptions(backend="replay", replay_file=str(path), speed=None))
    assert not core.source_exhausted()
    core.login()
    assert core.register_session() == 0
    assert core.register(0, tuple(screens_of(uni)), 0) == ""
    t_last = t0 + (len(recorded) - 1) * 37 * NS_PER_MS

    # Act
    before_last = advance(core, t_last - 1)
    exhausted_before_last = core.source_exhausted()
    last = advance(core, t_last + NS_PER_S)

    # Assert: one row per recorded row, in order, carrying exactly the recorded values
    expected = []
    for r in recorded:
        trade = r["real_type"] == REAL_TYPE_TRADE
        expected.append((uni.index_of(r["symbol"]), VENUE[r["venue"]], 1 if trade else 0,
                         r["fid_27"] if trade else r["fid_41"], r["fid_28"] if trade else r["fid_51"],
                         0 if trade else r["fid_61"], 0 if trade else r["fid_71"], r["fid_10"],
                         t0 + recorded.index(r) * 37 * NS_PER_MS))
    got_rows = np.concatenate([before_last.rows[0], last.rows[0]])
    got = [tuple(int(row[f]) for f in ROW_FIELDS) for row in got_rows]
    assert got == expected
    assert not exhausted_before_last
    assert core.source_exhausted()
    assert core.source.sizes_known


def test_latency_stamps_are_on_the_engine_clock_and_carry_no_figure_while_it_is_unknown(cfg: Any,
                                                                                         universe: Universe) -> None:
    """A Kiwoom host on another machine: its monotonic clock is hours from the engine's. Until the bridge knows
    the offset its tick arrivals and order sends carry no latency (0, never a figure hours off); once known,
    every stamp is on the engine's clock (core.clock_offset)."""
    # Prepare: a paced bridge whose wall clock is this test's (the host machine's), three hours behind the engine
    offset = 3 * 3600 * NS_PER_S
    wall = [1_000 * NS_PER_S]
    cfg = load_config(overrides={"sim": {"date": DAY.isoformat(),
                                         "account": {"holdings_default": 10_000, "cash_krw": 10**13}}})
    core = BridgeCore(cfg, universe, RunOptions(backend="sim", speed=1.0), wall_ns=lambda: wall[0])
    core.login()
    assert core.register_session() == 0
    core.register(0, tuple(screens_of(universe)), 0)
    core.latency_offset_ns = None                       # as the bridge actor starts a paced run
    core.start_clock()

    # Act 1: two seconds of market while the offset is unknown, and an order sent then
    wall[0] += 2 * NS_PER_S
    core.advance_to(core.paced_target_ns())
    code = "005930"
    bid, _ = touch(core, code, "KRX")
    unknown_send = core.place(intent("T1:take:1", code, "KRX", "SELL", 1, "10", bid))
    unknown_rows = core.take(core.now_ns(), (0,)).rows[0]

    # Act 2: the offset becomes known; two more seconds and another order
    core.latency_offset_ns = offset
    start = wall[0]
    wall[0] += 2 * NS_PER_S
    core.advance_to(core.paced_target_ns())
    known_send = core.place(intent("T2:take:1", code, "KRX", "SELL", 1, "10", bid))
    rows = core.take(core.now_ns(), (0,)).rows[0]

    # Assert: no figure before; after, each arrival is its tick's due time on the host's clock + the offset
    assert len(unknown_rows) and (unknown_rows["arrival_ns"] == 0).all()
    assert unknown_send.outcome is SendOutcome.SENT and unknown_send.send_ns == 0
    assert len(rows)
    assert ((rows["arrival_ns"] > start + offset) & (rows["arrival_ns"] <= wall[0] + offset)).all()
    assert known_send.send_ns == wall[0] + offset
    assert (core.snapshot_rows(0)["arrival_ns"] == wall[0] + offset).all()
