"""SpreadState: the SpreadEngine's signal rule and flicker cooldown, without the actor."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from config.loader import load_config
from core.costs import CostModel
from core.enums import Direction
from core.spread import SpreadParams, SpreadState

MS = 1_000_000
T0 = 1_795_000_000 * 10**9
CODES = ("005930", "000660")


@pytest.fixture
def state() -> SpreadState:
    cfg = load_config()
    costs = CostModel.for_date(cfg.fees, dt.date(2026, 11, 20))
    params = SpreadParams(cooldown_ns=100 * MS, slice_qty=1, min_visible_qty=1)
    return SpreadState(CODES, ("KOSPI", "KOSPI"), costs, np.ones(2), params)


def book(st: SpreadState, sym: int, krx: tuple[int, int, int, int], nxt: tuple[int, int, int, int],
         t_ns: int = T0, quality: int = 0) -> None:
    """Set one symbol's (bid, ask, bid_qty, ask_qty) on each venue, as a shard delta does."""
    st.apply_delta(np.array([sym]), np.array([krx]), np.array([nxt]), np.array([t_ns + 7]), np.array([t_ns]),
                   np.array([quality], dtype=np.uint8))


CALM = ((75_000, 75_100, 500, 500), (75_000, 75_100, 500, 500))
# NXT bid 75,400 over KRX ask 75,000: 400 KRW gross − fees 11 + 13 − tax 151 (0.20 %) ≈ 225 KRW net, 2.2 ticks
RICH_NXT = ((74_900, 75_000, 500, 500), (75_400, 75_500, 300, 300))


def test_an_eligible_changed_book_signals_once_until_it_changes_again(state: SpreadState) -> None:
    book(state, 0, *RICH_NXT)
    book(state, 1, *CALM)
    sigs, eligible = state.evaluate(T0, wall_ns=123)
    assert eligible == 1 and len(sigs) == 1
    s = sigs[0]
    assert (s.code, s.sym, s.direction) == ("005930", 0, Direction.A)            # buy KRX ask, sell NXT bid
    assert (s.buy_px, s.sell_px, s.buy_qty_visible, s.sell_qty_visible) == (75_000, 75_400, 500, 300)
    assert s.qty == 1 and s.t_tick_ns == T0 and s.tick_arrival_ns == T0 + 7 and s.signal_ns == 123
    assert s.net_krw > 100 and s.net_bps > 0
    # unchanged and still eligible: no new signal (the PairManager has it already)
    assert state.evaluate(T0 + 10 * MS, 0) == ([], 1)
    # the book changes and is still eligible: signalled again with the new prices
    book(state, 0, (74_900, 75_000, 500, 500), (75_500, 75_600, 300, 300), t_ns=T0 + 20 * MS)
    sigs, _ = state.evaluate(T0 + 20 * MS, 0)
    assert [(x.sell_px, x.t_tick_ns) for x in sigs] == [(75_500, T0 + 20 * MS)]


def test_direction_b_buys_nxt_and_sells_krx(state: SpreadState) -> None:
    book(state, 1, (120_600, 120_700, 50, 50), (120_000, 120_100, 40, 40))
    (s,), _ = state.evaluate(T0, 0)
    assert (s.code, s.direction, s.buy_px, s.sell_px) == ("000660", Direction.B, 120_100, 120_600)


def test_a_spread_that_flickers_off_is_held_back_for_the_cooldown(state: SpreadState) -> None:
    book(state, 0, *RICH_NXT)
    assert len(state.evaluate(T0, 0)[0]) == 1
    book(state, 0, *CALM, t_ns=T0 + 10 * MS)
    assert state.evaluate(T0 + 10 * MS, 0) == ([], 0)                  # dropped: cooldown until +110 ms
    book(state, 0, *RICH_NXT, t_ns=T0 + 20 * MS)
    assert state.evaluate(T0 + 20 * MS, 0) == ([], 0)                  # eligible again, but cooling down
    assert state.evaluate(T0 + 110 * MS - 1, 0) == ([], 0)
    sigs, _ = state.evaluate(T0 + 110 * MS, 0)                          # exactly at the end: signalled
    assert [x.code for x in sigs] == ["005930"]
    # ... by time alone: its tick came 90 ms before, so the signal is not that tick's (no Tick→Signal figure)
    assert [(x.by_tick, x.tick_arrival_ns) for x in sigs] == [(False, T0 + 20 * MS + 7)]


def test_a_signal_is_its_ticks_only_when_the_book_changed_since_the_last_evaluation(state: SpreadState) -> None:
    book(state, 0, *RICH_NXT)
    (first,), _ = state.evaluate(T0, 0)
    assert first.by_tick                                                 # the tick that made it eligible
    book(state, 0, (74_900, 75_000, 500, 500), (75_500, 75_600, 300, 300), t_ns=T0 + 20 * MS)
    (again,), _ = state.evaluate(T0 + 20 * MS, 0)
    assert again.by_tick and again.tick_arrival_ns == T0 + 20 * MS + 7


def test_a_cooldown_set_by_the_pair_manager_holds_the_symbol(state: SpreadState) -> None:
    state.cool_down(0, T0 + 250 * MS)
    book(state, 0, *RICH_NXT)
    assert state.evaluate(T0, 0) == ([], 0)
    assert len(state.evaluate(T0 + 250 * MS, 0)[0]) == 1


@pytest.mark.parametrize("krx, nxt, why", [
    ((75_000, 75_000, 500, 500), (75_400, 75_500, 300, 300), "locked KRX book"),
    ((75_100, 75_000, 500, 500), (75_400, 75_500, 300, 300), "crossed KRX book"),
    ((74_900, 75_000, 500, 500), (75_400, 75_500, 0, 300), "no visible size at the NXT bid"),
    ((74_900, 0, 500, 0), (75_400, 75_500, 300, 300), "no KRX ask"),
    ((74_900, 75_000, 500, 500), (75_100, 75_200, 300, 300), "1 tick gross is less than 1 tick net"),
])
def test_books_that_are_never_eligible(state: SpreadState, krx, nxt, why) -> None:
    book(state, 0, krx, nxt)
    assert state.evaluate(T0, 0) == ([], 0), why


def test_bad_data_quality_is_never_signalled(state: SpreadState) -> None:
    book(state, 0, *RICH_NXT, quality=1)       # e.g. stale or off-grid, as the shard flags it
    assert state.evaluate(T0, 0) == ([], 0)
    book(state, 0, *RICH_NXT, quality=0)
    assert len(state.evaluate(T0, 0)[0]) == 1
