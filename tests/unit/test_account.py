"""The account (SPEC §10) on a fake clock: the pure account model, and the real pair desk's admission,
reconciliation, price-bounded flatten orders, FLATTEN FAILED, session end and the fill figures it reports.

Every desk test drives :class:`core.pair_desk.PairDesk` with the broker's events in domain terms (as the
bridge would hand them over) and reads what it asks for (order requests) and what it observes.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from config.loader import load_config
from core.account import AccountModel, Holding, pair_claim
from core.clock import ns_from_kst
from core.costs import settlement_date
from core.desk_events import (
    ArmRequested,
    HoldingsReported,
    HoldingUpdated,
    MarketOperationNotice,
    OrderAcknowledged,
    OrderCancelled,
    OrderFilled,
    OrderSendResult,
    SendOutcome,
)
from core.enums import Direction, MarketOperation, OrderRole, OrderStyle, Side, Venue
from core.observations import (
    AccountReported,
    CodeRearmed,
    FillBooked,
    FlattenFailed,
    KillSwitchTripped,
    LatencyObserved,
    LatencyStage,
    ReconcileMismatch,
)
from core.order_flow import CancelRequest, OrderRequest
from core.pair_desk import PairDesk
from core.pair_events import OrderIntent, OrderStatus, OrderView
from core.signal import L1Touches, Signal
from core.ticks import shift_ticks
from core.universe import Symbol, Universe
from tests.unit.desk_helpers import account_reports

S = 1_000_000_000
MS = 1_000_000
DAY = dt.date(2026, 12, 2)                 # a Wednesday, a KRX trading day
T0 = ns_from_kst(DAY, dt.time(9, 0, 0))
A, B = "005930", "000660"
OPEN = MarketOperationNotice(MarketOperation.NXT_MAIN_OPEN, "R", "NXT main start", T0 + 30 * S)


# ------------------------------------------------------------------------------------------------
# The pure account model
# ------------------------------------------------------------------------------------------------

def test_the_first_holdings_report_is_the_start_and_later_ones_are_reconciled() -> None:
    acct = AccountModel([A, B])
    assert not acct.known and acct.untradeable(1) == []
    assert acct.on_holdings_report({A: Holding(10, 10)}, T0) == []          # B absent: holds nothing
    assert acct.held(A) == 10 and acct.held(B) == 0 and acct.sellable(A) == 10
    acct.on_cash_report(1_000_000, 1_000_000, quiet=True)
    assert acct.known and acct.untradeable(1) == [B]
    acct.on_fill(A, Side.SELL, 1, 70_000.0)
    acct.on_fill(A, Side.BUY, 1, -70_100.0)
    assert acct.held(A) == 10 and acct.cash_krw == pytest.approx(999_900)
    assert acct.on_holdings_report({A: Holding(10, 10)}, T0 + S) == []
    (mm,) = acct.on_holdings_report({A: Holding(15, 15)}, T0 + 2 * S)
    assert (mm.code, mm.expected_qty, mm.broker_qty, mm.delta, mm.source) == (A, 10, 15, 5, "holdings report")
    assert acct.on_holdings_report({A: Holding(15, 15)}, T0 + 3 * S) == [], "one mismatch is reported once"
    assert acct.held(A) == 15, "the broker's figure is the truth for admission"


def test_a_busy_code_keeps_its_tracked_figures_and_is_not_reconciled() -> None:
    acct = AccountModel([A])
    acct.on_holdings_report({A: Holding(10, 10)}, T0)
    acct.on_fill(A, Side.SELL, 1, 70_000.0)                                  # the hedge not filled yet
    assert acct.on_holdings_report({A: Holding(10, 10)}, T0 + S, busy=[A]) == []
    assert acct.held(A) == 9 and acct.deferred == 1


def test_rearm_accepts_the_broker_and_the_inventory_separates_the_engine_from_the_rest() -> None:
    acct = AccountModel([A])
    acct.on_holdings_report({A: Holding(10, 10)}, T0)
    acct.on_fill(A, Side.SELL, 2, 140_000.0)
    mm = acct.on_position_notice(A, 13, T0 + S)                              # another terminal bought 5
    assert mm is not None and (mm.expected_qty, mm.broker_qty, mm.source) == (8, 13, "position notice")
    assert acct.rearm(A) == 5 and acct.mismatches == {}
    assert acct.on_position_notice(A, 13, T0 + 2 * S) is None
    (row,) = acct.inventory()
    assert (row.start, row.end, row.net, row.unexplained) == (10, 13, -2, 5)


def test_sellable_leaves_out_what_the_broker_locks_and_what_open_orders_claim() -> None:
    acct = AccountModel([A])
    acct.on_holdings_report({A: Holding(10, 7)}, T0)      # 3 locked by another terminal's open sell
    assert acct.sellable(A) == 7 and acct.sellable(A, claimed=5) == 2 and acct.sellable(A, claimed=9) == 0


def test_a_cash_report_applies_only_when_the_account_was_quiet() -> None:
    acct = AccountModel([A])
    assert acct.on_cash_report(500_000, 600_000, quiet=False), "the first report always applies"
    acct.on_fill(A, Side.BUY, 1, -70_010.0)
    assert not acct.on_cash_report(500_000, 600_000, quiet=False)
    assert acct.cash_krw == pytest.approx(429_990) and acct.cash_available(29_990) == pytest.approx(400_000)
    assert acct.on_cash_report(430_000, 600_000, quiet=True) and acct.cash_krw == 430_000


def _view(role: OrderRole, side: Side, qty: int, price: int, status: OrderStatus, filled: int = 0,
          cancelled: int = 0) -> OrderView:
    it = OrderIntent(f"p:{role}:1", "p", A, Venue.KRX, side, qty, OrderStyle.LIMIT_IOC, price, role, False)
    return OrderView(it, "1", status, filled, cancelled, None, False, 0, (), "")


def test_a_pair_claims_its_open_sells_and_the_buys_they_may_need() -> None:
    take_open = _view(OrderRole.TAKE, Side.SELL, 3, 70_300, OrderStatus.WORKING)
    c = pair_claim([take_open], 70_300, 2.0)
    assert c.sell_shares == 3 and c.cash_krw == pytest.approx(3 * 70_300 * 1.0002)
    # take filled 2 (1 cancelled), the post bought 1 and is still open for 1 at 70,100
    take = _view(OrderRole.TAKE, Side.SELL, 3, 70_300, OrderStatus.CANCELLED, filled=2, cancelled=1)
    post = _view(OrderRole.HEDGE_POST, Side.BUY, 2, 70_400, OrderStatus.WORKING, filled=1)
    c = pair_claim([take, post], 70_300, 0.0)
    assert c.sell_shares == 0 and c.cash_krw == pytest.approx(1 * 70_400), "the higher of bound and limit"
    lost = _view(OrderRole.UNWIND, Side.SELL, 1, 70_000, OrderStatus.LOST)
    assert pair_claim([lost], 70_300, 0.0).sell_shares == 1, "a lost order may still fill: it keeps its claim"


# ------------------------------------------------------------------------------------------------
# The desk
# ------------------------------------------------------------------------------------------------

def make_desk(codes: tuple[str, ...] = (A, B), **overrides: object) -> PairDesk:
    return PairDesk(load_config(overrides=overrides or None), Universe(tuple(Symbol(c) for c in codes)))


def signal(code: str, sym: int, buy: int = 70_000, sell: int = 70_300, qty: int = 1,
           direction: Direction = Direction.A) -> Signal:
    return Signal(code, sym, direction, qty, buy, sell, 100, 100, 150.0, 21.0, T0, 0, 0)


def arm(desk: PairDesk, holdings: dict[str, int], cash_krw: int) -> list:
    out, _ = desk.run_step(T0 + 33 * S, [OPEN, *account_reports(holdings.items(), cash_krw, T0 + 31 * S)], [])
    assert desk.armed and desk.account.known
    return out


def requests(out: list) -> list[OrderRequest]:
    return [o for o in out if isinstance(o, OrderRequest)]


def of(out: list, cls: type) -> list:
    return [o for o in out if isinstance(o, cls)]


def sent(ref: str, t: int) -> OrderSendResult:
    return OrderSendResult(ref=ref, outcome=SendOutcome.SENT, t_ns=t, send_ns=0)


def acked(ref: str, no: str, t: int) -> OrderAcknowledged:
    return OrderAcknowledged(ref=ref, order_no=no, t_ns=t)


def filled(no: str, code: str, venue: Venue, side: Side, qty: int, price: int, leaves: int, t: int,
           fee: int = 0, tax: int = 0, order_qty: int | None = None) -> OrderFilled:
    return OrderFilled(no, t, code, venue, side, order_qty if order_qty is not None else qty + leaves,
                       leaves_qty=leaves, qty=qty, price=price, exec_id=f"x{no}-{t}", broker_fee_krw=fee,
                       broker_tax_krw=tax, broker_charges=True)


def ioc_cancelled(no: str, code: str, venue: Venue, side: Side, qty: int, t: int) -> OrderCancelled:
    return OrderCancelled(no, t, code, venue, side, cancel_order_no=no, cancelled_qty=qty)


def test_no_pair_starts_before_the_broker_reported_the_account() -> None:
    desk = make_desk()
    out, _ = desk.run_step(T0 + 33 * S, [OPEN], [signal(A, 0)])
    assert desk.armed and requests(out) == []
    assert desk.refused == {"account not reported yet": 1}


def test_only_codes_the_account_holds_are_ever_sold() -> None:
    desk = make_desk()
    arm(desk, {A: 10}, 100_000_000)
    out, _ = desk.run_step(T0 + 34 * S, [], [signal(B, 1), signal(A, 0)])
    (take,) = requests(out)
    assert (take.intent.symbol, take.intent.side, take.intent.role) == (A, Side.SELL, OrderRole.TAKE)
    assert desk.refused == {"not enough sellable shares": 1}
    view = {r.code: r for r in desk.account_view()}
    assert not view[B].tradeable and view[B].why_not == "no holdings"
    assert view[A].tradeable and view[A].sellable == 9, "the open take claims its share"


def test_the_cash_must_cover_the_buy_at_its_flatten_bound_plus_fees() -> None:
    cfg = load_config()
    fee_bps = max(cfg.fees.krx.broker_bps + cfg.fees.krx.regulatory_bps,
                  cfg.fees.nxt.broker_bps + cfg.fees.nxt.regulatory_bps)
    need = int(shift_ticks(70_000, cfg.risk.max_flatten_slippage_ticks)) * (1 + fee_bps / 10_000)
    short = make_desk()
    arm(short, {A: 10}, int(need))                                    # one won short
    out, _ = short.run_step(T0 + 34 * S, [], [signal(A, 0)])
    assert requests(out) == [] and short.refused == {"not enough orderable cash": 1}
    enough = make_desk()
    arm(enough, {A: 10}, int(need) + 1)
    out, _ = enough.run_step(T0 + 34 * S, [], [signal(A, 0)])
    assert len(requests(out)) == 1


def test_an_open_pair_claims_the_shares_and_cash_a_second_pair_would_need() -> None:
    desk = make_desk(execution={"max_outstanding_pairs_per_symbol": 2})
    arm(desk, {A: 1, B: 5}, 120_000)          # enough for one buy at its bound, not for two
    out, _ = desk.run_step(T0 + 34 * S, [], [signal(A, 0)])
    assert len(requests(out)) == 1
    out, _ = desk.run_step(T0 + 35 * S, [], [signal(A, 0), signal(B, 1)])
    assert requests(out) == []
    assert desk.refused == {"not enough sellable shares": 1, "not enough orderable cash": 1}


def _run_pair(desk: PairDesk, t: int, code: str = A, sym: int = 0) -> tuple[int, str]:
    """Admit a signal on ``code`` and complete its pair (take and post fill); returns (time, pair id)."""
    out, _ = desk.run_step(t, [], [signal(code, sym)])
    (take,) = requests(out)
    ref = take.intent.ref
    out, _ = desk.run_step(t + 20 * MS, [sent(ref, t + 1 * MS), acked(ref, f"{sym}01", t + 16 * MS),
                                         filled(f"{sym}01", code, Venue.NXT, Side.SELL, 1, 70_300, 0, t + 20 * MS)], [])
    (post,) = requests(out)
    pref = post.intent.ref
    desk.run_step(t + 60 * MS, [sent(pref, t + 21 * MS), acked(pref, f"{sym}02", t + 36 * MS),
                                filled(f"{sym}02", code, Venue.KRX, Side.BUY, 1, 70_000, 0, t + 60 * MS),
                                HoldingUpdated(code, desk.account.held(code) + 1, 70_000, t + 60 * MS)], [])
    assert not desk.active
    return t + 60 * MS, take.intent.pair_id


def test_a_completed_pair_leaves_holdings_unchanged_and_a_quiet_report_agrees() -> None:
    desk = make_desk()
    arm(desk, {A: 10}, 10_000_000)
    t, _ = _run_pair(desk, T0 + 40 * S)
    assert desk.account.held(A) == 10 and desk.account.expected(A) == 10
    out, _ = desk.run_step(t + 5 * S, [HoldingsReported(((A, 10, 10),), t + 4 * S, t + 5 * S)], [])
    assert of(out, ReconcileMismatch) == [] and not desk.risk.held


def test_a_mismatch_freezes_its_code_until_the_operator_rearms_it() -> None:
    desk = make_desk()
    arm(desk, {A: 10, B: 10}, 10_000_000)
    report = HoldingsReported(((A, 15, 15), (B, 10, 10)), T0 + 60 * S, T0 + 60 * S + 20 * MS)
    out, _ = desk.run_step(T0 + 61 * S, [report], [signal(A, 0)])
    (mm,) = of(out, ReconcileMismatch)
    assert (mm.code, mm.expected_qty, mm.broker_qty) == (A, 10, 15)
    (ks,) = of(out, KillSwitchTripped)
    assert (ks.kind, ks.code, ks.until_ns) == ("reconcile_mismatch", A, None)
    assert "RECONCILE MISMATCH" in ks.reason and requests(out) == [], "no pair on a frozen code"
    out, _ = desk.run_step(T0 + 90 * S, [], [signal(A, 0)])
    assert requests(out) == [], "still frozen long after: only the operator re-arms it"
    out, _ = desk.run_step(T0 + 91 * S, [ArmRequested(A, "operator")], [signal(A, 0)])
    (re,) = of(out, CodeRearmed)
    assert (re.code, re.accepted_shares) == (A, 5) and len(requests(out)) == 1
    assert desk.account.expected(A) == 15


def test_more_mismatched_codes_than_allowed_disarm_the_engine() -> None:
    desk = make_desk(risk={"max_reconcile_mismatches": 1})
    arm(desk, {A: 10, B: 10}, 10_000_000)
    report = HoldingsReported(((A, 11, 11), (B, 9, 9)), T0 + 60 * S, T0 + 60 * S + 20 * MS)
    out, _ = desk.run_step(T0 + 61 * S, [report], [])
    kinds = [(k.kind, k.code) for k in of(out, KillSwitchTripped)]
    assert kinds == [("reconcile_mismatch", A), ("reconcile_mismatch", B), ("reconcile_mismatch", "")]
    assert desk.risk.disarmed_reason is not None
    desk.run_step(T0 + 62 * S, [ArmRequested(B)], [])
    assert desk.risk.disarmed_reason is None, "back within the limit once the operator re-armed a code"
    out, _ = desk.run_step(T0 + 63 * S, [], [signal(A, 0), signal(B, 1)])
    assert [r.intent.symbol for r in requests(out)] == [B]


def test_a_report_is_not_reconciled_for_a_code_that_was_busy_during_the_query() -> None:
    desk = make_desk()
    arm(desk, {A: 10}, 10_000_000)
    out, _ = desk.run_step(T0 + 40 * S, [], [signal(A, 0)])
    ref = requests(out)[0].intent.ref
    t = T0 + 40 * S
    events = [sent(ref, t + MS), acked(ref, "001", t + 16 * MS),
              filled("001", A, Venue.NXT, Side.SELL, 1, 70_300, 0, t + 20 * MS),
              HoldingsReported(((A, 10, 10),), t, t + 30 * MS)]     # asked before the sale reached it
    out, _ = desk.run_step(t + 40 * MS, events, [])
    assert of(out, ReconcileMismatch) == [] and desk.account.held(A) == 9


def test_a_position_notice_that_the_fills_do_not_explain_is_a_mismatch_at_once() -> None:
    desk = make_desk()
    arm(desk, {A: 10}, 10_000_000)
    out, _ = desk.run_step(T0 + 40 * S, [HoldingUpdated(A, 7, 70_000, T0 + 40 * S)], [])
    (mm,) = of(out, ReconcileMismatch)
    assert (mm.broker_qty, mm.expected_qty, mm.source) == (7, 10, "position notice")


def test_a_position_notice_after_a_fill_not_yet_booked_is_not_a_mismatch() -> None:
    # Kiwoom may deliver Chejan before the TR ack (역전현상): the fill waits for its order number
    desk = make_desk()
    arm(desk, {A: 10}, 10_000_000)
    t = T0 + 40 * S
    out, _ = desk.run_step(t, [], [signal(A, 0)])
    ref = requests(out)[0].intent.ref
    early = [sent(ref, t + MS), filled("001", A, Venue.NXT, Side.SELL, 1, 70_300, 0, t + 10 * MS),
             HoldingUpdated(A, 9, 70_000, t + 10 * MS)]
    out, _ = desk.run_step(t + 12 * MS, early, [])
    assert of(out, ReconcileMismatch) == [] and desk.account.held(A) == 9
    out, _ = desk.run_step(t + 20 * MS, [acked(ref, "001", t + 15 * MS)], [])
    assert of(out, FillBooked) and desk.account.expected(A) == 9, "booked once its number is known"


def _touch(sym: int, krx: tuple[int, int], nxt: tuple[int, int]) -> L1Touches:
    a = lambda v: np.array([v], dtype=np.int64)  # noqa: E731
    return L1Touches(a(sym), a(krx[0]), a(krx[1]), a(nxt[0]), a(nxt[1]))


def _escalate(desk: PairDesk, t: int) -> tuple[str, int]:
    """A pair on A whose take fills and whose post does not: returns (pair id, time of the post's cancel)."""
    out, _ = desk.run_step(t, [], [signal(A, 0)])
    ref = requests(out)[0].intent.ref
    out, _ = desk.run_step(t + 20 * MS, [sent(ref, t + MS), acked(ref, "001", t + 16 * MS),
                                         filled("001", A, Venue.NXT, Side.SELL, 1, 70_300, 0, t + 20 * MS)], [])
    post = requests(out)[0].intent
    desk.run_step(t + 40 * MS, [sent(post.ref, t + 21 * MS), acked(post.ref, "002", t + 36 * MS)], [])
    # the KRX (cheap) book moves up while the post rests; the hedge deadline passes
    out, _ = desk.run_step(t + 1020 * MS, [], [], touches=_touch(0, (70_100, 70_200), (70_300, 70_400)))
    (cancel,) = of(out, CancelRequest)
    return requests(out)[0].intent.pair_id if requests(out) else cancel.intent.pair_id, t + 1020 * MS


def test_escalation_is_a_limit_ioc_at_the_latest_touch_plus_the_slippage_ticks() -> None:
    desk = make_desk()
    arm(desk, {A: 10}, 10_000_000)
    t0 = T0 + 40 * S
    pid, t = _escalate(desk, t0)
    cref = f"{pid}:cancel:1"
    out, _ = desk.run_step(t + 20 * MS, [sent(cref, t + MS), acked(cref, "003", t + 16 * MS),
                                         OrderCancelled("002", t + 18 * MS, A, Venue.KRX, Side.BUY,
                                                        cancel_order_no="003", cancelled_qty=1)], [])
    (ioc,) = requests(out)
    assert (ioc.intent.role, ioc.intent.style, ioc.intent.side) == (OrderRole.HEDGE_IOC, OrderStyle.LIMIT_IOC, Side.BUY)
    assert ioc.intent.price == 70_200 + 3 * 100, "the ask of the latest touch + 3 ticks, not the signal's ask"


def test_flatten_failed_freezes_the_code_disarms_and_names_the_open_shares() -> None:
    desk = make_desk(risk={"max_flatten_orders": 2})
    arm(desk, {A: 10}, 10_000_000)
    pid, t = _escalate(desk, T0 + 40 * S)
    cref = f"{pid}:cancel:1"
    out, _ = desk.run_step(t + 20 * MS, [sent(cref, t + MS), acked(cref, "003", t + 16 * MS),
                                         OrderCancelled("002", t + 18 * MS, A, Venue.KRX, Side.BUY,
                                                        cancel_order_no="003", cancelled_qty=1)], [])
    for k in range(2):                     # every bounded IOC finds no seller at its limit
        (ioc,) = requests(out)
        t += 40 * MS
        no = f"01{k}"
        out, _ = desk.run_step(t, [sent(ioc.intent.ref, t - 30 * MS), acked(ioc.intent.ref, no, t - 15 * MS),
                                   ioc_cancelled(no, A, Venue.KRX, Side.BUY, 1, t - 10 * MS)], [])
    (ff,) = of(out, FlattenFailed)
    assert (ff.code, ff.open_shares, ff.venue) == (A, -1, Venue.KRX) and "FLATTEN FAILED" in ff.reason
    assert {(k.kind, k.code) for k in of(out, KillSwitchTripped)} == {("flatten_failed", A), ("flatten_failed", "")}
    assert A in desk.risk.held and desk.risk.disarmed_reason is not None
    out, _ = desk.run_step(t + S, [], [signal(A, 0)])
    assert requests(out) == []


def test_the_session_is_over_at_the_guard_end() -> None:
    desk = make_desk()
    arm(desk, {A: 10}, 10_000_000)
    _, before = desk.run_step(ns_from_kst(DAY, dt.time(15, 19, 49)), [], [])
    _, after = desk.run_step(ns_from_kst(DAY, dt.time(15, 19, 50)), [], [])
    assert not before.session_over and after.session_over and not after.armed


def test_fills_report_the_broker_charges_per_fill_and_the_fill_latencies() -> None:
    desk = make_desk()
    arm(desk, {A: 10}, 10_000_000)
    t = T0 + 40 * S
    out, _ = desk.run_step(t, [], [signal(A, 0, qty=2)])
    ref = requests(out)[0].intent.ref
    # the broker's 938/939 are cumulative for the order: 9 then 21 → 9 and 12 for the two fills
    out, _ = desk.run_step(t + 30 * MS, [sent(ref, t + MS), acked(ref, "001", t + 16 * MS),
                                         filled("001", A, Venue.NXT, Side.SELL, 1, 70_300, 1, t + 21 * MS, 9, 140),
                                         filled("001", A, Venue.NXT, Side.SELL, 1, 70_300, 0, t + 25 * MS, 21, 281)],
                                [])
    fills = of(out, FillBooked)
    assert [(f.broker_fee_krw, f.broker_tax_krw) for f in fills] == [(9, 140), (12, 141)]
    assert [f.tax_year for f in fills] == [settlement_date(DAY).year] * 2
    (lat,) = [o for o in of(out, LatencyObserved) if o.stage is LatencyStage.TAKE_FILL]
    assert lat.ms == pytest.approx(20.0) and lat.code == A          # the take's send to its first fill


def test_the_tax_year_is_that_of_each_trades_settlement() -> None:
    desk = make_desk()
    d1, d2 = dt.date(2025, 12, 24), dt.date(2025, 12, 29)
    assert settlement_date(d1).year == 2025 and settlement_date(d2).year == 2026
    desk._ensure_ledger(ns_from_kst(d1, dt.time(10)))
    for d in (d1, d2):
        fill = filled("001", A, Venue.KRX, Side.SELL, 100, 50_000, 0, ns_from_kst(d, dt.time(10)))
        desk.pairs.clear()
        desk._book_fill("p", fill)
    books = [o for o in desk._out if isinstance(o, FillBooked)]
    assert [b.tax_year for b in books] == [2025, 2026]
    assert [b.tax_krw for b in books] == [int(5_000_000 * 0.0015), int(5_000_000 * 0.0020)], "15 then 20 bps"


def test_one_account_report_per_round_carries_the_inventory() -> None:
    desk = make_desk()
    out = arm(desk, {A: 10}, 10_000_000)
    (rep,) = of(out, AccountReported)
    assert rep.purpose == "login" and rep.inventory == ((A, 10, 10, 0),) and rep.untradeable == (B,)
    assert rep.cash_krw == 10_000_000
