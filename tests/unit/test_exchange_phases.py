"""kiwoom_bridge.emulator.exchange under market phases and VIs (SPEC §11): calls, uncrosses, pauses, limit-only
sessions, a VI on one code, empty sides. Exchange time only; the phase is set the way the control sets it."""
from __future__ import annotations

import pytest

from core.phases import VenuePhase
from kiwoom_bridge.emulator.exchange import BUY, SELL, ExchangeSimulator
from kiwoom_bridge.types import EMPTY_SIDE, KRX, NXT, REAL_TYPE_QUOTE, QuoteEvent
from tests.unit.test_exchange_sim import Recorder, make, order, quote, trade

SAMSUNG, HYNIX = "005930", "000660"

# The matching engine's refusals on arrival (a '거부' Chejan 919), as exchange.py words them.
CALL_REFUSAL = "[emulator] 단일가매매 중에는 IOC/FOK/중간가 주문을 할 수 없습니다"
PAUSE_REFUSAL = "[emulator] 휴장: 주문 도착 시 매매거래가 중단되어 있습니다"
CLOSED_REFUSAL = "[emulator] 장종료: 주문 도착 시 매매거래 시간이 아닙니다"
LIMIT_ONLY_REFUSAL = "[emulator] 지정가 주문만 가능한 시간입니다"


def in_phase(phase: VenuePhase, venue: str = KRX) -> tuple[ExchangeSimulator, Recorder]:
    """An exchange with a 84500/84600 book (20 × 10) on SAMSUNG, then put in ``phase``."""
    ex, rec = make(venue)
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.set_phase(phase, 2)
    return ex, rec


# -- a call ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("hoga,price", [("10", 84600), ("13", 0), ("20", 84600), ("23", 0), ("29", 0)])
def test_a_call_refuses_ioc_fok_and_mid_orders(hoga: str, price: int) -> None:
    ex, rec = in_phase(VenuePhase.CALL)
    o = order("1", BUY, 5, price, hoga)
    ex.submit(o, 3)
    assert rec.rejects == [("1", CALL_REFUSAL)]
    assert rec.fills == [] and rec.cancels == [] and o.state == "done" and o.leaves == 0
    assert ex.book(SAMSUNG).ask_qty == 10                     # nothing was taken off the book


def test_a_marketable_limit_rests_in_a_call_and_nothing_matches_continuously() -> None:
    ex, rec = in_phase(VenuePhase.CALL)
    buy = order("1", BUY, 5, 84700, "00")                     # would take the 84600 ask in continuous trading
    sell = order("2", SELL, 5, 84400, "00")
    ex.submit(buy, 3)
    ex.submit(sell, 4)
    assert (buy.state, buy.leaves, sell.state, sell.leaves) == ("open", 5, "open", 5)
    trade(ex, 5, 84300, 50)                                   # a print through both (indicative, in a call)
    quote(ex, 6, ask=84300, bid=84800, ask_qty=30, bid_qty=30)  # the opposite bests cross both
    assert rec.fills == [] and rec.rejects == [] and rec.cancels == []
    assert [o.order_no for o in ex.resting(SAMSUNG)] == ["1", "2"]


def test_market_orders_rest_in_a_krx_call_but_are_refused_in_an_nxt_call() -> None:
    krx, krec = in_phase(VenuePhase.CALL, KRX)
    krx.submit(order("1", BUY, 3, 0, "03"), 3)
    assert krec.rejects == [] and krec.fills == [] and [o.order_no for o in krx.resting(SAMSUNG)] == ["1"]
    nxt, nrec = in_phase(VenuePhase.CALL, NXT)
    nxt.submit(order("1", BUY, 3, 0, "03", venue=NXT), 3)
    assert nrec.rejects == [("1", CALL_REFUSAL)] and nxt.resting(SAMSUNG) == []


def test_the_uncross_fills_strictly_better_orders_at_p_and_leaves_orders_at_p_resting() -> None:
    ex, rec = in_phase(VenuePhase.CALL)
    ex.submit(order("b_better", BUY, 5, 84700, "00"), 3)
    ex.submit(order("b_at", BUY, 3, 84500, "00"), 4)
    ex.submit(order("b_worse", BUY, 2, 84400, "00"), 5)
    ex.submit(order("s_better", SELL, 4, 84300, "00"), 6)
    ex.submit(order("s_at", SELL, 6, 84500, "00"), 7)
    ex.submit(order("s_worse", SELL, 1, 84600, "00"), 8)
    ex.submit(order("mkt", BUY, 7, 0, "03"), 9)
    ex.set_phase(VenuePhase.CONTINUOUS, 100, {SAMSUNG: 84500})
    assert sorted(rec.fills) == sorted([("b_better", 5, 84500, 100), ("s_better", 4, 84500, 100),
                                        ("mkt", 7, 84500, 100)])
    left = {o.order_no: o for o in ex.resting(SAMSUNG)}
    assert set(left) == {"b_at", "b_worse", "s_at", "s_worse"}
    assert all(o.leaves == o.qty for o in left.values())
    assert not left["b_at"].queue_known and not left["s_at"].queue_known  # their share of P's volume is unknown
    assert rec.cancels == [] and rec.rejects == []


def test_after_the_uncross_the_venue_matches_continuously_again() -> None:
    ex, rec = in_phase(VenuePhase.CALL)
    at_p = order("1", BUY, 3, 84500, "00")
    ex.submit(at_p, 3)
    ex.set_phase(VenuePhase.CONTINUOUS, 100, {SAMSUNG: 84500})
    ex.submit(order("2", BUY, 4, 0, "13"), 101)              # an IOC takes the visible ask again
    assert rec.fills == [("2", 4, 84600, 101)]
    trade(ex, 102, 84500, 10)                                # first print at P: only learns nobody is ahead
    assert rec.filled("1") == 0 and at_p.queue_known and at_p.queue_ahead == 0
    trade(ex, 103, 84500, 2)
    assert rec.fills[-1] == ("1", 2, 84500, 103)


def test_without_a_given_price_the_uncross_uses_the_last_print_of_the_call() -> None:
    ex, rec = in_phase(VenuePhase.CALL)
    ex.submit(order("1", BUY, 5, 84800, "00"), 3)
    ex.submit(order("2", BUY, 5, 84700, "00"), 4)
    trade(ex, 5, 84600, 1)
    trade(ex, 6, 84700, 1)                                   # the last print of the call: P = 84700
    ex.set_phase(VenuePhase.CONTINUOUS, 100)
    assert rec.fills == [("1", 5, 84700, 100)]
    assert [o.order_no for o in ex.resting(SAMSUNG)] == ["2"]


def test_a_print_before_the_call_is_not_its_uncross_price() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.set_phase(VenuePhase.CALL, 2)
    trade(ex, 3, 84900, 1)                                   # printed during call #1
    ex.set_phase(VenuePhase.PAUSE, 4)                        # no resting order: nothing uncrossed
    ex.set_phase(VenuePhase.CALL, 5)                         # call #2: a fresh call
    ex.submit(order("1", BUY, 5, 84800, "00"), 6)
    ex.set_phase(VenuePhase.CONTINUOUS, 100)                 # no print in call #2: the mid, 84550 → 84500
    assert rec.fills == [("1", 5, 84500, 100)]


def test_without_a_print_the_uncross_is_at_the_mid_rounded_down_to_the_grid() -> None:
    ex, rec = in_phase(VenuePhase.CALL)                      # 84500 / 84600: mid 84550, off the 100-won grid
    ex.submit(order("1", BUY, 5, 84600, "00"), 3)
    ex.submit(order("2", SELL, 5, 84500, "00"), 4)
    ex.set_phase(VenuePhase.CONTINUOUS, 100)
    assert rec.fills == [("1", 5, 84500, 100)]               # P = 84500: the buy is better, the sell is at P
    assert [o.order_no for o in ex.resting(SAMSUNG)] == ["2"]


def test_without_any_price_no_uncross_happens() -> None:
    ex, rec = make()
    ex.set_phase(VenuePhase.CALL, 1)
    ex.submit(order("1", BUY, 5, 84600, "00"), 2)            # no book, no print
    ex.set_phase(VenuePhase.CONTINUOUS, 100)
    assert rec.fills == [] and [o.order_no for o in ex.resting(SAMSUNG)] == ["1"]


# -- a pause, closed, limit only ----------------------------------------------------------------------

@pytest.mark.parametrize("hoga,price", [("00", 84500), ("03", 0), ("10", 84600), ("13", 0), ("20", 84600),
                                        ("29", 0)])
def test_a_pause_refuses_every_new_order(hoga: str, price: int) -> None:
    ex, rec = in_phase(VenuePhase.PAUSE, NXT)
    ex.submit(order("1", BUY, 5, price, hoga, venue=NXT), 3)
    assert rec.rejects == [("1", PAUSE_REFUSAL)] and rec.fills == [] and ex.resting(SAMSUNG) == []


def test_resting_orders_wait_through_a_pause_and_trade_after_it() -> None:
    ex, rec = make(NXT)
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    o = order("1", BUY, 5, 84500, "00", venue=NXT)
    ex.submit(o, 2)
    ex.set_phase(VenuePhase.PAUSE, 3)
    trade(ex, 4, 84400, 50)                                  # would trade through it in continuous trading
    quote(ex, 5, ask=84400, bid=84300, ask_qty=8, bid_qty=8)
    assert rec.fills == [] and o.state == "open" and o.leaves == 5
    ex.set_phase(VenuePhase.CONTINUOUS, 6)                   # a pause ends without an uncross
    assert rec.fills == []
    trade(ex, 7, 84400, 1)
    assert rec.fills == [("1", 5, 84500, 7)]


def test_closing_cancels_what_rests_and_refuses_new_orders() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.submit(order("1", BUY, 5, 84400, "00"), 2)
    ex.set_phase(VenuePhase.CLOSED, 3)
    assert rec.cancels == [("1", 5, "장마감")] and ex.resting(SAMSUNG) == []
    ex.submit(order("2", BUY, 1, 84400, "00"), 4)
    assert rec.rejects == [("2", CLOSED_REFUSAL)]


@pytest.mark.parametrize("hoga,price", [("03", 0), ("10", 84600), ("13", 0), ("20", 84600), ("23", 0), ("29", 0)])
def test_limit_only_refuses_everything_but_plain_limits(hoga: str, price: int) -> None:
    ex, rec = in_phase(VenuePhase.LIMIT_ONLY, NXT)
    ex.submit(order("1", BUY, 5, price, hoga, venue=NXT), 3)
    assert rec.rejects == [("1", LIMIT_ONLY_REFUSAL)] and rec.fills == []


def test_limit_only_matches_limits_continuously() -> None:
    ex, rec = in_phase(VenuePhase.LIMIT_ONLY, NXT)
    o = order("1", BUY, 15, 84600, "00", venue=NXT)
    ex.submit(o, 3)                                          # marketable: takes the visible 10, rests 5
    assert rec.fills == [("1", 10, 84600, 3)] and o.state == "open" and o.leaves == 5
    trade(ex, 4, 84500, 1)                                   # and the queue model runs: a print through it
    assert rec.fills[-1] == ("1", 5, 84600, 4)


# -- a volatility interruption on one code -------------------------------------------------------------

def test_a_vi_puts_only_its_code_in_a_call() -> None:
    ex, rec = make()
    for code in (SAMSUNG, HYNIX):
        quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20, code=code)
    ex.set_vi(SAMSUNG, True, 2)
    assert ex.in_vi(SAMSUNG) and ex.in_call(SAMSUNG) and not ex.matching(SAMSUNG)
    assert not ex.in_vi(HYNIX) and ex.matching(HYNIX) and ex.phase is VenuePhase.CONTINUOUS
    ex.submit(order("1", BUY, 5, 0, "13"), 3)                # IOC on the code in VI: refused as in a call
    ex.submit(order("2", BUY, 5, 0, "13", code=HYNIX), 4)    # the other code trades
    assert rec.rejects == [("1", CALL_REFUSAL)]
    assert rec.fills == [("2", 5, 84600, 4)]
    ex.submit(order("3", BUY, 5, 84700, "00"), 5)            # a marketable limit in VI rests
    trade(ex, 6, 84300, 50)
    assert rec.fills == [("2", 5, 84600, 4)] and [o.order_no for o in ex.resting(SAMSUNG)] == ["3"]


def test_the_end_of_a_vi_uncrosses_its_code() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20, code=HYNIX)
    ex.submit(order("h", BUY, 2, 84400, "00", code=HYNIX), 2)  # rests on the other code, untouched by the VI
    ex.set_vi(SAMSUNG, True, 3)
    ex.submit(order("1", BUY, 5, 84800, "00"), 4)
    ex.submit(order("2", BUY, 5, 84700, "00"), 5)
    ex.submit(order("3", SELL, 5, 84500, "00"), 6)
    ex.set_vi(SAMSUNG, False, 100, 84700)                    # 해제 at 84700
    assert sorted(rec.fills) == [("1", 5, 84700, 100), ("3", 5, 84700, 100)]
    assert [o.order_no for o in ex.resting(SAMSUNG)] == ["2"] and ex.matching(SAMSUNG)
    assert [o.order_no for o in ex.resting(HYNIX)] == ["h"]


def test_a_vi_ending_without_a_price_uncrosses_at_its_last_print_else_the_mid() -> None:
    ex, rec = make()
    for code in (SAMSUNG, HYNIX):
        quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20, code=code)
    trade(ex, 2, 84900, 1)                                   # before the VI: not its price
    ex.set_vi(SAMSUNG, True, 3)
    ex.set_vi(HYNIX, True, 3)
    ex.submit(order("1", BUY, 5, 84800, "00"), 4)
    ex.submit(order("2", BUY, 5, 84800, "00", code=HYNIX), 4)
    trade(ex, 5, 84700, 1)                                   # printed in SAMSUNG's VI
    ex.set_vi(SAMSUNG, False, 100)
    ex.set_vi(HYNIX, False, 100)                             # no print: the mid 84550, down to 84500
    assert rec.fills == [("1", 5, 84700, 100), ("2", 5, 84500, 100)]


def test_a_vi_ending_inside_a_venue_call_waits_for_the_call_uncross() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.set_vi(SAMSUNG, True, 2)
    ex.submit(order("1", BUY, 5, 84800, "00"), 3)
    ex.set_phase(VenuePhase.CALL, 4)
    ex.set_vi(SAMSUNG, False, 5, 84600)
    assert rec.fills == [] and ex.in_call(SAMSUNG)
    ex.set_phase(VenuePhase.CONTINUOUS, 100, {SAMSUNG: 84700})
    assert rec.fills == [("1", 5, 84700, 100)]


def test_a_call_ending_leaves_a_code_still_in_vi_in_its_call() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.set_phase(VenuePhase.CALL, 2)
    ex.submit(order("1", BUY, 5, 84800, "00"), 3)
    ex.set_vi(SAMSUNG, True, 4)
    ex.set_phase(VenuePhase.CONTINUOUS, 5, {SAMSUNG: 84500})
    assert rec.fills == [] and ex.in_call(SAMSUNG)
    ex.submit(order("2", BUY, 1, 0, "13"), 6)
    assert rec.rejects == [("2", CALL_REFUSAL)]
    ex.set_vi(SAMSUNG, False, 7, 84600)
    assert rec.fills == [("1", 5, 84600, 7)]


# -- empty sides ---------------------------------------------------------------------------------------

def empty(ex: ExchangeSimulator, t: int, ask: bool = True, bid: bool = False, code: str = SAMSUNG) -> None:
    ex.on_market(QuoteEvent(t, code, ex.venue, REAL_TYPE_QUOTE, ask=EMPTY_SIDE if ask else 0,
                            bid=EMPTY_SIDE if bid else 0))


def test_an_empty_side_is_price_0_size_0_and_a_take_against_it_finds_nothing() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    empty(ex, 2)                                             # limit up: nobody sells
    b = ex.book(SAMSUNG)
    assert (b.ask, b.ask_qty, b.bid, b.bid_qty) == (0, 0, 84500, 20)
    ex.submit(order("1", BUY, 5, 0, "13"), 3)
    ex.submit(order("2", BUY, 5, 90000, "10"), 4)
    ex.submit(order("3", BUY, 5, 0, "23"), 5)
    ex.submit(order("4", BUY, 5, 0, "03"), 6)
    assert rec.fills == []
    assert [c[:2] for c in rec.cancels] == [("1", 5), ("2", 5), ("3", 5), ("4", 5)]
    quote(ex, 7, bid_qty=25)                                 # an update of the other side keeps this one empty
    assert (b.ask, b.ask_qty) == (0, 0)
    ex.submit(order("5", SELL, 5, 0, "13"), 8)               # the other side still trades
    assert rec.fills == [("5", 5, 84500, 8)]


def test_a_limit_against_an_empty_side_rests_and_a_mid_order_is_refused() -> None:
    ex, rec = make(NXT)
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    empty(ex, 2, ask=False, bid=True)                        # limit down: nobody buys
    s = order("1", SELL, 5, 84000, "00", venue=NXT)
    ex.submit(s, 3)
    assert rec.fills == [] and s.state == "open"
    ex.submit(order("2", BUY, 1, 0, "29", venue=NXT), 4)
    assert rec.rejects and rec.rejects[0][0] == "2" and "중간가" in rec.rejects[0][1]
    quote(ex, 5, bid=84000, bid_qty=3)                       # the side comes back at our price: fills at it
    assert rec.fills == [("1", 5, 84000, 5)]
