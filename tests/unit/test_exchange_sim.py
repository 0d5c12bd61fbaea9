"""kiwoom_bridge.emulator.exchange: L1 matching that is honest about what an L1 book can know."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiwoom_bridge.emulator.exchange import BUY, SELL, ExchangeSimulator, SimOrder
from kiwoom_bridge.types import KRX, NXT, REAL_TYPE_QUOTE, REAL_TYPE_TRADE, QuoteEvent

MS = 1_000_000


class Recorder:
    """An ExchangeListener that keeps what happened."""

    def __init__(self) -> None:
        self.fills: list[tuple[str, int, int, int]] = []        # (order_no, qty, price, t_ns)
        self.cancels: list[tuple[str, int, str]] = []           # (order_no, qty, reason)
        self.rejects: list[tuple[str, str]] = []

    def on_fill(self, order: SimOrder, qty: int, price: int, exec_id: str, t_ns: int) -> None:
        self.fills.append((order.order_no, qty, price, t_ns))

    def on_cancelled(self, order: SimOrder, qty: int, reason: str, t_ns: int) -> None:
        self.cancels.append((order.order_no, qty, reason))

    def on_rejected(self, order: SimOrder, reason: str, t_ns: int) -> None:
        self.rejects.append((order.order_no, reason))

    def filled(self, order_no: str) -> int:
        return sum(q for o, q, _, _ in self.fills if o == order_no)


def make(venue: str = KRX, **kw: object) -> tuple[ExchangeSimulator, Recorder]:
    rec = Recorder()
    return ExchangeSimulator(venue, rec, **kw), rec  # type: ignore[arg-type]


def quote(ex: ExchangeSimulator, t: int, ask: int = 0, bid: int = 0, ask_qty: int = 0, bid_qty: int = 0,
          code: str = "005930") -> None:
    ex.on_market(QuoteEvent(t, code, ex.venue, REAL_TYPE_QUOTE, ask=ask, bid=bid, ask_qty=ask_qty, bid_qty=bid_qty))


def trade(ex: ExchangeSimulator, t: int, last: int, qty: int = 0, cum: int = 0, code: str = "005930") -> None:
    ex.on_market(QuoteEvent(t, code, ex.venue, REAL_TYPE_TRADE, last=last, last_qty=qty, cum_volume=cum))


def order(no: str, side: int, qty: int, price: int, hoga: str, code: str = "005930", venue: str = KRX) -> SimOrder:
    return SimOrder(no, code, venue, side, qty, price, hoga)


# -- book --------------------------------------------------------------------------------------------

def test_zero_fields_are_absent_and_leave_the_book_unchanged() -> None:
    ex, _ = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    quote(ex, 2, ask_qty=7)
    b = ex.book("005930")
    assert (b.bid, b.ask, b.bid_qty, b.ask_qty) == (84500, 84600, 20, 7)


# -- take orders -------------------------------------------------------------------------------------

def test_market_ioc_fills_only_the_visible_size_and_cancels_the_rest() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    o = order("1", BUY, 15, 0, "13")
    ex.submit(o, 5)
    assert rec.fills == [("1", 10, 84600, 5)]
    assert rec.cancels == [("1", 5, "IOC 잔량취소")]
    assert o.leaves == 0 and o.filled == 10


def test_visible_size_is_consumed_by_successive_takes() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.submit(order("1", BUY, 6, 0, "13"), 2)
    ex.submit(order("2", BUY, 6, 0, "13"), 3)
    assert rec.filled("1") == 6 and rec.filled("2") == 4
    ex.submit(order("3", BUY, 1, 0, "13"), 4)
    assert rec.filled("3") == 0 and rec.cancels[-1] == ("3", 1, "IOC 잔량취소")


def test_limit_ioc_does_not_fill_outside_its_limit() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.submit(order("1", BUY, 5, 84500, "10"), 2)
    ex.submit(order("2", SELL, 5, 84600, "10"), 3)
    assert rec.fills == []
    assert [c[:2] for c in rec.cancels] == [("1", 5), ("2", 5)]
    ex.submit(order("3", SELL, 25, 84500, "10"), 4)     # at the bid: fills the visible 20 only
    assert rec.fills == [("3", 20, 84500, 4)] and rec.cancels[-1][:2] == ("3", 5)


def test_market_order_beyond_visible_size_fills_the_rest_one_tick_worse() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.submit(order("1", BUY, 15, 0, "03"), 2)
    assert rec.fills == [("1", 10, 84600, 2), ("1", 5, 84700, 2)] and rec.cancels == []
    ex.submit(order("2", SELL, 25, 0, "03"), 3)
    assert rec.fills[-2:] == [("2", 20, 84500, 3), ("2", 5, 84400, 3)]


def test_market_order_one_tick_worse_respects_tick_bands() -> None:
    ex, rec = make()
    quote(ex, 1, ask=2000, bid=1999, ask_qty=1, bid_qty=1)
    ex.submit(order("1", BUY, 2, 0, "03"), 2)       # 2,000 + 5 (the band above 2,000 has 5-won ticks)
    ex.submit(order("2", SELL, 2, 0, "03"), 3)      # 1,999 − 1
    assert rec.fills == [("1", 1, 2000, 2), ("1", 1, 2005, 2), ("2", 1, 1999, 3), ("2", 1, 1998, 3)]
    quote(ex, 4, ask=2005, bid=2000, ask_qty=1, bid_qty=1)
    ex.submit(order("3", SELL, 2, 0, "03"), 5)      # 2,000 − 1 (one tick below 2,000 is 1,999)
    assert rec.fills[-1] == ("3", 1, 1999, 5)


def test_market_order_without_an_opposite_quote_is_cancelled() -> None:
    ex, rec = make()
    quote(ex, 1, bid=84500, bid_qty=20)
    ex.submit(order("1", BUY, 3, 0, "03"), 2)
    assert rec.fills == [] and rec.cancels[0][:2] == ("1", 3)


def test_fok_fills_everything_or_nothing() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.submit(order("1", BUY, 11, 0, "23"), 2)
    assert rec.fills == [] and rec.cancels == [("1", 11, "FOK 전량취소")]
    ex.submit(order("2", BUY, 10, 84600, "20"), 3)
    assert rec.fills == [("2", 10, 84600, 3)]


# -- posted orders and the queue model ---------------------------------------------------------------

def test_posted_limit_at_the_touch_never_fills_instantly() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    o = order("1", BUY, 5, 84500, "00")
    ex.submit(o, 2)
    quote(ex, 3, ask=84600, bid=84500, ask_qty=12, bid_qty=25)
    assert rec.fills == [] and o.state == "open"
    assert o.queue_ahead == 20


def test_queue_ahead_is_consumed_by_prints_at_our_price_before_we_fill() -> None:
    ex, rec = make(queue_ahead_fraction=1.0)
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    o = order("1", BUY, 5, 84500, "00")
    ex.submit(o, 2)
    trade(ex, 3, 84500, 15)
    assert rec.fills == [] and o.queue_ahead == 5
    trade(ex, 4, 84500, 7)                       # 5 more ahead of us, then 2 for us
    assert rec.fills == [("1", 2, 84500, 4)] and o.leaves == 3
    trade(ex, 5, 84500, 10)
    assert rec.filled("1") == 5 and o.state == "done"


def test_queue_ahead_fraction_scales_the_queue() -> None:
    ex, rec = make(queue_ahead_fraction=0.5)
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.submit(order("1", BUY, 5, 84500, "00"), 2)
    trade(ex, 3, 84500, 12)
    assert rec.fills == [("1", 2, 84500, 3)]


def test_shrinking_visible_size_at_our_level_advances_the_queue() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    o = order("1", SELL, 5, 84600, "00")
    ex.submit(o, 2)
    assert o.queue_ahead == 10
    quote(ex, 3, ask_qty=3)                      # seven shares ahead of us were cancelled
    assert o.queue_ahead == 3
    trade(ex, 4, 84600, 4)
    assert rec.fills == [("1", 1, 84600, 4)]


def test_trade_through_fills_the_whole_remainder_at_our_price() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.submit(order("1", BUY, 5, 84500, "00"), 2)
    trade(ex, 3, 84400, 1)
    assert rec.fills == [("1", 5, 84500, 3)]


def test_opposite_best_crossing_fills_at_our_price_not_at_the_touch() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.submit(order("1", BUY, 5, 84500, "00"), 2)
    quote(ex, 3, ask=84400, bid=84300, ask_qty=8, bid_qty=8)
    assert rec.fills == [("1", 5, 84500, 3)]


def test_trade_through_fills_can_be_switched_off() -> None:
    ex, rec = make(trade_through_fills=False)
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.submit(order("1", BUY, 5, 84500, "00"), 2)
    trade(ex, 3, 84400, 50)
    quote(ex, 4, ask=84400, bid=84300, ask_qty=8, bid_qty=8)
    assert rec.fills == []


def test_improving_the_bid_puts_nobody_ahead() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84700, bid=84500, ask_qty=10, bid_qty=20)
    o = order("1", BUY, 5, 84600, "00")
    ex.submit(o, 2)
    assert o.queue_known and o.queue_ahead == 0
    trade(ex, 3, 84600, 2)
    assert rec.fills == [("1", 2, 84600, 3)]


def test_behind_the_best_the_queue_is_learned_when_the_market_arrives() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    o = order("1", BUY, 5, 84400, "00")
    ex.submit(o, 2)
    assert not o.queue_known
    quote(ex, 3, ask=84500, bid=84400, ask_qty=9, bid_qty=30)
    assert o.queue_known and o.queue_ahead == 30
    trade(ex, 4, 84400, 31)
    assert rec.fills == [("1", 1, 84400, 4)]


def test_marketable_limit_takes_the_visible_size_and_rests_the_remainder() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=4, bid_qty=20)
    o = order("1", BUY, 10, 84700, "00")
    ex.submit(o, 2)
    assert rec.fills == [("1", 4, 84600, 2)]          # at the touch, price-improved vs. the limit
    assert o.state == "open" and o.leaves == 6 and o.queue_ahead == 0
    quote(ex, 3, ask=84700, ask_qty=3)                # visible liquidity at our price: crossing fill
    assert rec.fills[-1] == ("1", 6, 84700, 3)


def test_print_size_comes_from_cumulative_volume_when_fid_15_is_absent() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=2)
    trade(ex, 2, 84600, cum=100)
    ex.submit(order("1", BUY, 5, 84500, "00"), 3)
    trade(ex, 4, 84500, cum=105)                      # 5 traded: 2 ahead of us, 3 for us
    assert rec.fills == [("1", 3, 84500, 4)]


def test_mid_order_is_priced_at_the_mid_between_ticks_and_rests() -> None:
    ex, rec = make(NXT)
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    o = order("1", BUY, 5, 0, "29", venue=NXT)
    ex.submit(o, 2)
    assert o.price == 84550 and o.state == "open" and rec.fills == []
    trade(ex, 3, 84500, 100)                           # a print below the mid trades through it
    assert rec.fills == [("1", 5, 84550, 3)]


def test_mid_order_rounds_away_from_crossing_on_a_one_won_spread() -> None:
    ex, _ = make(NXT)
    quote(ex, 1, ask=1501, bid=1500, ask_qty=10, bid_qty=20)
    b, s = order("1", BUY, 1, 0, "29", venue=NXT), order("2", SELL, 1, 0, "29", venue=NXT)
    ex.submit(b, 2)
    ex.submit(s, 3)
    assert (b.price, s.price) == (1500, 1501)


def test_mid_order_on_a_one_sided_book_is_rejected() -> None:
    ex, rec = make(NXT)
    quote(ex, 1, bid=84500, bid_qty=20)
    ex.submit(order("1", BUY, 5, 0, "29", venue=NXT), 2)
    assert rec.rejects and rec.rejects[0][0] == "1" and rec.fills == []


# -- cancels -----------------------------------------------------------------------------------------

def test_cancel_returns_the_open_quantity_and_zero_after_a_fill() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    ex.submit(order("1", BUY, 5, 84400, "00"), 2)
    assert ex.cancel("1", 0, 3) == 5
    assert ex.cancel("1", 0, 4) == 0
    ex.submit(order("2", BUY, 5, 84500, "00"), 5)
    trade(ex, 6, 84400, 1)                            # fills order 2 before its cancel arrives
    assert ex.cancel("2", 0, 7) == 0 and rec.filled("2") == 5
    assert ex.cancel("nope", 0, 8) == 0


def test_partial_cancel_leaves_the_rest_working() -> None:
    ex, _ = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    o = order("1", BUY, 5, 84400, "00")
    ex.submit(o, 2)
    assert ex.cancel("1", 2, 3) == 2 and o.leaves == 3 and o.state == "open"


def test_an_order_cancelled_in_flight_never_trades() -> None:
    ex, rec = make()
    quote(ex, 1, ask=84600, bid=84500, ask_qty=10, bid_qty=20)
    o = order("1", BUY, 5, 0, "13")
    ex.register(o)
    assert ex.cancel("1", 0, 2) == 5
    ex.submit(o, 3)
    assert rec.fills == [] and rec.cancels == []


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="queue_ahead_fraction"):
        make(queue_ahead_fraction=-1.0)
    with pytest.raises(ValueError, match="quantity"):
        order("1", BUY, 0, 1, "00")
    with pytest.raises(ValueError, match="side"):
        order("1", 0, 1, 1, "00")


# -- properties --------------------------------------------------------------------------------------

_events = st.lists(
    st.one_of(
        st.tuples(st.just("q"), st.integers(84000, 85000).map(lambda p: p - p % 100), st.integers(0, 50),
                  st.integers(0, 50)),
        st.tuples(st.just("t"), st.integers(84000, 85000).map(lambda p: p - p % 100), st.integers(0, 40),
                  st.just(0)),
        st.tuples(st.sampled_from(["buy", "sell"]), st.integers(1, 30), st.sampled_from(["00", "10", "13", "03"]),
                  st.integers(-3, 3)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_events)
def test_fills_never_exceed_order_quantity_or_beat_the_limit(events: list[tuple]) -> None:
    ex, rec = make()
    quote(ex, 0, ask=84600, bid=84500, ask_qty=10, bid_qty=10)
    orders: dict[str, SimOrder] = {}
    for i, e in enumerate(events, start=1):
        if e[0] == "q":
            b = ex.book("005930")
            bid = e[1]
            quote(ex, i, ask=bid + 100, bid=bid, ask_qty=e[2], bid_qty=e[3])
        elif e[0] == "t":
            trade(ex, i, e[1], e[2])
        else:
            side = BUY if e[0] == "buy" else SELL
            b = ex.book("005930")
            ref = b.ask if side == BUY else b.bid
            price = ref + 100 * e[3] if e[2] in ("00", "10") else 0
            o = order(str(i), side, e[1], price, e[2])
            before = (b.ask_qty if side == BUY else b.bid_qty)
            n_fills = len(rec.fills)
            ex.submit(o, i)
            orders[o.order_no] = o
            if e[2] in ("10", "13"):
                assert o.filled <= max(before, 0)       # takes never exceed the visible size
                assert o.state == "done"
            new = rec.fills[n_fills:]
            if e[2] == "00":
                for _, _, px, _ in new:                 # immediate fills only at the touch within the limit
                    assert (px <= price) if side == BUY else (px >= price)
    for o in orders.values():
        assert 0 <= o.filled <= o.qty
        assert o.filled + o.leaves <= o.qty
        if o.hoga in ("00", "10"):
            for no, _, px, _ in rec.fills:
                if no == o.order_no:
                    assert (px <= o.price) if o.side == BUY else (px >= o.price)
        assert rec.filled(o.order_no) == o.filled
