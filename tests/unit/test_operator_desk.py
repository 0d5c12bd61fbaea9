"""The operator's commands as the pair desk applies them inside a step, and what the operator's views carry.

A real :class:`PairDesk` armed at 09:00:37 on a trading day; signals are the SpreadEngine's values.
"""
from __future__ import annotations

import numpy as np
import pytest

from config.live import LIVE_CONFIG_KEYS, apply_live_changes
from config.loader import load_config
from core.costs import CostModel
from core.desk_events import ConfigReplaced, MarketOperationNotice, OperatorRequested
from core.enums import Direction, MarketOperation, OperatorAction
from core.observations import AuditEvent, KillSwitchTripped, OperatorActed, OrderAudited
from core.operator_view import DeskViewCache, SymbolRowTracker, desk_view
from core.order_flow import OrderRequest
from core.pair_desk import PairDesk
from core.signal import Signal
from core.spread import SpreadParams, SpreadState
from core.universe import Symbol, Universe
from outputs.event_feed import EventFeed
from tests.unit.desk_helpers import account_reports

S = 1_000_000_000
T0 = 1_796_169_600 * S            # 2026-12-02 09:00:00 KST, a trading day
CODES = ("015760", "005930")


def signal(code: str, t_s: float) -> Signal:
    return Signal(code, CODES.index(code), Direction.A, 1, 7660, 7670, 100, 100, 5.0, 6.5, T0 + int(t_s * S), 0, 0)


def armed_desk() -> PairDesk:
    desk = PairDesk(load_config(), Universe(tuple(Symbol(c) for c in CODES)))
    opened = MarketOperationNotice(MarketOperation.NXT_MAIN_OPEN, "R", "NXT main start", T0 + 30 * S)
    account = account_reports([(c, 1_000) for c in CODES], 100_000_000, T0 + 31 * S)   # shares to sell, cash
    desk.run_step(T0 + 36 * S, [*account, opened], [])
    assert desk.armed
    return desk


def takes(outputs: list) -> list[str]:
    return [o.intent.symbol for o in outputs if isinstance(o, OrderRequest) and o.new_pair]


def acted(outputs: list) -> list[OperatorActed]:
    return [o for o in outputs if isinstance(o, OperatorActed)]


def test_a_muted_code_gets_no_new_pair_until_unmuted_and_the_other_code_still_trades() -> None:
    desk = armed_desk()
    out, _ = desk.run_step(T0 + 37 * S, [OperatorRequested(OperatorAction.MUTE, "015760", "news", "gui")],
                           [signal("015760", 37), signal("005930", 37)])
    assert takes(out) == ["005930"]
    assert acted(out)[0].applied and acted(out)[0].message == "015760 muted (news)"
    assert desk_view(desk).muted == (("015760", "news"),)

    out, _ = desk.run_step(T0 + 38 * S, [OperatorRequested(OperatorAction.UNMUTE, "015760")],
                           [signal("015760", 38)])
    assert takes(out) == ["015760"]
    assert desk_view(desk).muted == ()


def test_disarm_stops_new_pairs_and_arm_lifts_it_while_the_session_guard_still_decides() -> None:
    desk = armed_desk()
    out, _ = desk.run_step(T0 + 37 * S, [OperatorRequested(OperatorAction.DISARM, "", "lunch")],
                           [signal("015760", 37)])
    assert takes(out) == []
    kills = [o for o in out if isinstance(o, KillSwitchTripped)]
    assert [(k.kind, k.reason) for k in kills] == [("operator", "lunch")]
    view = desk_view(desk)
    assert view.session_armed and view.disarmed_reason == "lunch" and not view.armed

    out, _ = desk.run_step(T0 + 38 * S, [OperatorRequested(OperatorAction.ARM, "", "back")],
                           [signal("015760", 38)])
    assert takes(out) == ["015760"]
    assert desk_view(desk).armed
    assert "re-armed" in acted(out)[0].message


def test_arm_code_lifts_a_freeze_and_a_repeated_command_says_it_had_nothing_to_do() -> None:
    desk = armed_desk()
    desk.risk.frozen_until["015760"] = T0 + 99 * S          # e.g. a reject-spike freeze
    out, _ = desk.run_step(T0 + 37 * S, [], [signal("015760", 37)])
    assert takes(out) == [] and desk_view(desk).frozen == (("015760", T0 + 99 * S),)
    out, _ = desk.run_step(T0 + 38 * S, [OperatorRequested(OperatorAction.ARM, "015760")], [signal("015760", 38)])
    assert takes(out) == ["015760"]
    out, _ = desk.run_step(T0 + 39 * S, [OperatorRequested(OperatorAction.ARM, "015760")], [])
    assert not acted(out)[0].applied and "neither frozen nor muted" in acted(out)[0].message


def test_a_live_config_changes_new_pairs_timers_and_the_concurrency_limit() -> None:
    desk = armed_desk()
    cfg, changes = apply_live_changes(desk.cfg, (("execution.t_hedge_ms", 700),
                                                 ("execution.max_concurrent_symbols", 1)))
    assert changes == ("execution.t_hedge_ms: 1000 -> 700", "execution.max_concurrent_symbols: 2 -> 1")
    out, _ = desk.run_step(T0 + 37 * S, [ConfigReplaced(cfg, changes, "gui")],
                           [signal("015760", 37), signal("005930", 37)])
    assert takes(out) == ["015760"]                     # one symbol at a time now
    view = desk_view(desk)
    assert view.active[0].t_hedge_ms == 700 and view.t_hedge_ms == 700 and view.max_concurrent_symbols == 1
    assert "execution.t_hedge_ms: 1000 -> 700" in acted(out)[0].message


def test_live_changes_are_validated_by_the_loader_and_limited_to_the_live_keys() -> None:
    cfg = load_config()
    with pytest.raises(ValueError, match=r"live edit: execution.t_hedge_ms: Input should be greater than 0"):
        apply_live_changes(cfg, (("execution.t_hedge_ms", 0),))
    with pytest.raises(ValueError, match=r"sessions.overlap_window: cannot be changed on a running engine"):
        apply_live_changes(cfg, (("sessions.overlap_window", "x"),))
    new, changes = apply_live_changes(cfg, (("fees.nxt.broker_bps", 1.2),))
    assert new.fees.nxt.broker_bps == 1.2 and changes == ("fees.nxt.broker_bps: 1.45 -> 1.2",)
    assert all(k.count(".") >= 1 for k in LIVE_CONFIG_KEYS)


def test_the_pair_monitor_view_has_the_orders_and_the_timeline_of_a_pair() -> None:
    desk = armed_desk()
    out, _ = desk.run_step(T0 + 37 * S, [], [signal("015760", 37)])
    view = desk_view(desk)
    (pair,) = view.active
    assert pair.code == "015760" and pair.state == "ENTRY_TAKE_SENT" and pair.direction == "A"
    assert [(o.role, o.side, o.style, o.price, o.status) for o in pair.orders] == \
        [("take", "SELL", "limit_ioc", 7670, "PENDING_SEND")]
    assert [(e.kind, e.state) for e in pair.timeline] == [("state", "CANDIDATE"), ("state", "ENTRY_TAKE_SENT")]
    assert pair.timeline[0].t_ns == T0 + 37 * S
    assert view.guard_start_ns == T0 + 32 * S and view.nxt_main_open is True


def spread_state(n: int = 800) -> SpreadState:
    cfg = load_config()
    costs = CostModel.for_date(cfg.fees, __import__("datetime").date(2026, 12, 2))
    st = SpreadState(tuple(f"{i:06d}" for i in range(n)), ("KOSPI",) * n, costs, np.ones(n),
                     SpreadParams(cooldown_ns=100_000_000, slice_qty=1, min_visible_qty=1))
    sym = np.arange(n)
    book = np.tile(np.array([[70_000, 70_100, 500, 500]], dtype=np.int64), (n, 1))
    st.apply_delta(sym, book, book.copy(), np.zeros(n, dtype=np.int64), np.full(n, T0, dtype=np.int64),
                   np.zeros(n, dtype=np.uint8))
    return st


def test_symbol_rows_hand_out_only_the_rows_that_changed_since_the_last_answer() -> None:
    st = spread_state()
    tracker = SymbolRowTracker()
    first = tracker.changed_rows(st, T0 + S)
    assert len(first) == 800 and not first["eligible"].any()
    assert len(tracker.changed_rows(st, T0 + S)) == 0
    # NXT of symbol 7 becomes rich by 3 ticks: bid 70,400 over KRX ask 70,100 — an eligible edge
    rich = np.array([[70_400, 70_500, 500, 500]], dtype=np.int64)
    st.apply_delta(np.array([7]), np.array([[70_000, 70_100, 500, 500]]), rich, np.zeros(1, dtype=np.int64),
                   np.array([T0 + S]), np.zeros(1, dtype=np.uint8))
    delta = tracker.changed_rows(st, T0 + 2 * S)
    assert delta["sym"].tolist() == [7]
    row = delta[0]
    assert row["direction"] == 1 and row["eligible"] and row["size_ok"] and row["nxt_bid"] == 70_400
    assert row["net_krw"] == pytest.approx(300 - 70_100 * 1.5e-4 - 70_400 * (1.45 + 0.31833) * 1e-4 - 70_400 * 20e-4)
    assert len(tracker.changed_rows(st, T0 + 2 * S, full=True)) == 800


def test_symbol_rows_are_handed_out_in_bounded_answers_eligible_rows_first_and_none_is_lost() -> None:
    st = spread_state()
    tracker = SymbolRowTracker()
    seen: list[int] = []
    for _ in range(9):                              # 800 new rows, at most 96 an answer
        part = tracker.changed_rows(st, T0 + S, limit=96)
        assert len(part) <= 96
        seen += part["sym"].tolist()
    assert sorted(seen) == list(range(800))         # every row once, nothing repeated or lost
    assert len(tracker.changed_rows(st, T0 + S, limit=96)) == 0
    # every row changes, and symbol 500 becomes eligible: it comes in the first answer
    book = np.tile(np.array([[70_100, 70_200, 500, 500]], dtype=np.int64), (800, 1))
    nxt = book.copy()
    nxt[500] = [70_500, 70_600, 500, 500]
    st.apply_delta(np.arange(800), book, nxt, np.zeros(800, dtype=np.int64), np.full(800, T0 + S, dtype=np.int64),
                   np.zeros(800, dtype=np.uint8))
    first = tracker.changed_rows(st, T0 + 2 * S, limit=96)
    assert first["sym"][0] == 500 and first["eligible"][0] and len(first) == 96


def test_the_event_feed_numbers_lines_and_hands_out_only_new_ones() -> None:
    feed = EventFeed(capacity=3)
    for i in range(5):
        feed.consume(OrderAudited(T0 + i, AuditEvent.SEND, f"p{i}", code="005930", qty=1))
    assert [e.seq for e in feed.since(0)] == [3, 4, 5]          # bounded: the newest three
    assert [e.seq for e in feed.since(4)] == [5]
    assert feed.since(5) == ()
    line = feed.since(4)[0]
    assert line.kind == "SEND" and line.pair_id == "p4" and line.code == "005930"
    assert feed.consume(OperatorActed(T0, OperatorAction.MUTE, "005930", "news", True, "005930 muted")).kind \
        == "OPERATOR"


def test_finished_pairs_views_are_reused_until_the_pair_changes() -> None:
    from core.desk_events import OrderDenied
    desk = armed_desk()
    out, _ = desk.run_step(T0 + 37 * S, [], [signal("015760", 37)])
    (req,) = [o for o in out if isinstance(o, OrderRequest)]
    cache = DeskViewCache()
    active = desk_view(desk, cache=cache).active[0]
    assert active.state == "ENTRY_TAKE_SENT" and cache.pairs == {}      # pairs in flight are always rebuilt
    desk.run_step(T0 + 38 * S, [OrderDenied(req.intent.ref, req.intent.pair_id, "no token", T0 + 37 * S)], [])
    first = desk_view(desk, cache=cache).recent[0]
    assert first.state == "COOLDOWN" and first.outcome == "rejected"
    assert desk_view(desk, cache=cache).recent[0] is first                # unchanged: the same view object


def test_the_inventory_shows_what_a_new_pair_may_sell_and_is_rebuilt_only_when_that_changes() -> None:
    desk = armed_desk()
    cache = DeskViewCache()
    before = desk_view(desk, cache=cache).inventory
    assert [(r.code, r.held, r.sellable) for r in before] == [(r.code, r.held, r.sellable)
                                                              for r in desk.account_view()]
    assert desk_view(desk, cache=cache).inventory is before          # nothing changed: the same rows
    desk.run_step(T0 + 37 * S, [], [signal("015760", 37)])            # a pair claims the shares its sell may use
    after = {r.code: r for r in desk_view(desk, cache=cache).inventory}
    slice_qty = desk.cfg.execution.slice_qty
    assert after["015760"].held == 1_000 and after["015760"].sellable == 1_000 - slice_qty
    assert after["005930"].sellable == 1_000
