"""The synthetic market source: determinism, book sanity, rates and tradable dislocations."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from config.schema import SimMarket
from core.ticks import is_on_tick, shift_ticks, tick_size
from kiwoom_bridge.emulator.synthetic import RT_QUOTE, RT_TRADE, EventBatch, SyntheticMarket
from kiwoom_bridge.types import REAL_TYPE_QUOTE, REAL_TYPE_TRADE, QuoteEvent

START_NS = 1_757_116_825_000_000_000          # 2025-09-06 09:00:25 Asia/Seoul
S = 1_000_000_000

# 2026 costs (SPEC §3): broker+venue fee bps per leg, sell tax bps.
KRX_FEE_BPS = 1.5
NXT_FEE_BPS = 1.45 + 0.31833
TAX_BPS = 20.0


def codes(n: int) -> list[str]:
    return [f"{100000 + i:06d}" for i in range(n)]


def generate(n_symbols: int = 50, seconds: float = 10.0, seed: int = 7, **kwargs) -> tuple[SyntheticMarket, EventBatch]:
    m = SyntheticMarket(codes(n_symbols), start_ns=START_NS, seed=seed, **kwargs)
    return m, m.pop_arrays_until(START_NS + int(seconds * S) - 1)


def books(batch: EventBatch) -> pd.DataFrame:
    """Each event with the latest KRX and NXT best ask/bid of its symbol after it (forward-filled)."""
    df = pd.DataFrame({"t": batch.t_ns, "sym": batch.code_idx, "venue": batch.venue,
                       "ask": batch.ask, "bid": batch.bid})
    for v, name in ((0, "k"), (1, "n")):
        for side in ("ask", "bid"):
            df[f"{name}_{side}"] = np.where((df.venue == v) & (df[side] > 0), df[side], np.nan)
    cols = ["k_ask", "k_bid", "n_ask", "n_bid"]
    df[cols] = df.groupby("sym")[cols].ffill()
    return df


def eligible_moments(batch: EventBatch) -> pd.DataFrame:
    """Events after which buying one venue's ask and selling the other's bid nets ≥ 1 tick after costs."""
    df = books(batch).dropna()

    def net(buy: pd.Series, sell: pd.Series, buy_fee: float, sell_fee: float) -> pd.Series:
        return sell - buy - buy * buy_fee / 1e4 - sell * sell_fee / 1e4 - sell * TAX_BPS / 1e4

    net_a = net(df.k_ask, df.n_bid, KRX_FEE_BPS, NXT_FEE_BPS)     # buy KRX, sell NXT
    net_b = net(df.n_ask, df.k_bid, NXT_FEE_BPS, KRX_FEE_BPS)     # buy NXT, sell KRX
    ok = (net_a >= tick_size(df.k_ask.to_numpy())) | (net_b >= tick_size(df.n_ask.to_numpy()))
    return df[ok]


# ------------------------------------------------------------------------------------- determinism

def test_same_seed_same_events_different_seed_different() -> None:
    _, a = generate(seed=11)
    _, b = generate(seed=11)
    _, c = generate(seed=12)
    for f in EventBatch.__slots__:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert len(a) != len(c) or not np.array_equal(a.ask, c.ask)


def test_sequence_does_not_depend_on_how_it_is_popped() -> None:
    _, whole = generate(seconds=5.0, seed=3)
    m = SyntheticMarket(codes(50), start_ns=START_NS, seed=3)
    parts = []
    t = START_NS
    while t < START_NS + 5 * S - 1:
        t = min(t + 300_000_000, START_NS + 5 * S - 1)
        parts.append(m.pop_arrays_until(t))
    pieces = EventBatch.concat(parts)
    for f in EventBatch.__slots__:
        np.testing.assert_array_equal(getattr(pieces, f), getattr(whole, f), err_msg=f)


# ------------------------------------------------------------------------------------- book sanity

def test_events_in_time_order_and_never_crossed_or_locked_on_a_venue() -> None:
    _, b = generate(n_symbols=100, seconds=20.0)
    assert np.all(np.diff(b.t_ns) >= 0)
    assert b.t_ns[0] >= START_NS
    assert np.all(b.ask > 0) and np.all(b.bid > 0)
    assert np.all(b.ask > b.bid)
    # And the per-venue books the events build (forward-filled) are never crossed or locked either.
    df = books(b)
    assert not ((df.k_ask <= df.k_bid) & df.k_ask.notna() & df.k_bid.notna()).any()
    assert not ((df.n_ask <= df.n_bid) & df.n_ask.notna() & df.n_bid.notna()).any()


def test_prices_on_the_tick_grid_and_spreads_of_one_or_two_ticks() -> None:
    m, b = generate(n_symbols=100, seconds=20.0)
    assert np.all(is_on_tick(b.ask)) and np.all(is_on_tick(b.bid))
    trade = b.real_type == RT_TRADE
    assert np.all(is_on_tick(b.last[trade]))
    assert np.all(is_on_tick(m.start_prices))
    assert np.all((m.start_prices >= 2_000) & (m.start_prices <= 300_000))
    # Spread in grid steps (a spread across a band boundary has one step of each band).
    steps = np.round((b.ask - b.bid) / np.minimum(tick_size(b.bid), tick_size(b.ask)))
    assert set(np.unique((b.ask - b.bid) // tick_size(b.bid)).tolist()) <= {1, 2, 3, 4, 5, 6, 10, 11}
    assert np.mean(steps == 1) > 0.7
    assert np.any(steps == 2)


def test_both_venues_and_every_symbol_quote() -> None:
    _, b = generate(n_symbols=40, seconds=5.0)
    assert set(np.unique(b.venue).tolist()) == {0, 1}
    assert set(np.unique(b.code_idx).tolist()) == set(range(40))
    # The initial snapshot populates every book at start_ns.
    first = b.t_ns == START_NS
    assert first.sum() == 80
    assert np.all(b.real_type[first] == RT_QUOTE)


def test_sizes_in_range_and_heavier_on_krx() -> None:
    params = SimMarket(size_min=5, size_max=3000)
    _, b = generate(n_symbols=100, seconds=20.0, params=params)
    quote = b.real_type == RT_QUOTE
    for q in (b.ask_qty[quote], b.bid_qty[quote]):
        assert q.min() >= 5 and q.max() <= 3000
    krx = quote & (b.venue == 0)
    nxt = quote & (b.venue == 1)
    assert b.ask_qty[krx].mean() > 1.5 * b.ask_qty[nxt].mean()


def test_trade_prints_at_bid_or_ask_with_quantity_and_rising_volume() -> None:
    _, b = generate(n_symbols=50, seconds=30.0)
    trade = b.real_type == RT_TRADE
    assert 0.1 < trade.mean() < 0.3
    assert np.all((b.last[trade] == b.ask[trade]) | (b.last[trade] == b.bid[trade]))
    assert np.any(b.last[trade] == b.ask[trade]) and np.any(b.last[trade] == b.bid[trade])
    assert np.all(b.last_qty[trade] >= 1)
    assert np.all(b.ask_qty[trade] == 0) and np.all(b.bid_qty[trade] == 0)
    assert np.all(b.last[~trade] == 0) and np.all(b.cum_volume[~trade] == 0)
    df = pd.DataFrame({"s": b.code_idx[trade] * 2 + b.venue[trade], "cum": b.cum_volume[trade],
                       "q": b.last_qty[trade]})
    for _, g in df.groupby("s"):
        assert np.all(np.diff(g.cum.to_numpy()) == g.q.to_numpy()[1:])


# ------------------------------------------------------------------------------------- rates

def test_event_rate_close_to_configured() -> None:
    n, seconds = 200, 60
    m, b = generate(n_symbols=n, seconds=seconds)
    regular = SimMarket().updates_per_symbol_per_s * 2 * n * seconds
    dislocations = len(m.dislocation_log()["start_ns"])
    extra = 2 * n + 2 * dislocations        # initial snapshot, dislocation start/end updates
    assert m.total_rate == pytest.approx(SimMarket().updates_per_symbol_per_s * 2 * n)
    assert len(b) == pytest.approx(regular + extra, rel=0.03)
    # Dislocations: about dislocation_rate_per_min per symbol (a few overlapping ones are dropped).
    assert dislocations == pytest.approx(n * seconds / 60 * SimMarket().dislocation_rate_per_min, rel=0.2)


def test_rate_override_gives_n_updates_per_second_over_all_symbols() -> None:
    m, b = generate(n_symbols=100, seconds=10.0, rate=5_000, initial_snapshot=False,
                    params=SimMarket(dislocation_rate_per_min=0))
    assert m.total_rate == pytest.approx(5_000)
    assert len(b) == pytest.approx(50_000, rel=0.03)


# ------------------------------------------------------------------------------------- dislocations

def test_dislocations_produce_eligible_edges_for_the_engine() -> None:
    # 200 symbols × 60 s with the default parameters: some moments must pay ≥ 1 tick after fees and tax.
    m, b = generate(n_symbols=200, seconds=60.0)
    elig = eligible_moments(b)
    assert len(elig) >= 3
    assert elig.sym.nunique() >= 3
    # Every eligible moment lies inside a dislocation of its symbol (the model has no other source of edge
    # beyond an occasional stale quote).
    log = m.dislocation_log()
    inside = 0
    for sym, t in zip(elig.sym.to_numpy(), elig.t.to_numpy(), strict=True):
        hit = (log["code_idx"] == sym) & (log["start_ns"] <= t) & (t < log["end_ns"])
        inside += bool(hit.any())
    assert inside >= 0.9 * len(elig)


def test_without_dislocations_edges_are_rare() -> None:
    _, with_d = generate(n_symbols=200, seconds=60.0)
    _, without = generate(n_symbols=200, seconds=60.0, params=SimMarket(dislocation_rate_per_min=0))
    assert len(eligible_moments(without)) <= 0.1 * len(eligible_moments(with_d))


def test_dislocation_shifts_one_venue_then_reverts() -> None:
    # No volatility, no venue noise, one-tick spreads: the undisturbed bid of every symbol is its start price.
    params = SimMarket(dislocation_rate_per_min=6, dislocation_ticks_min=5, dislocation_ticks_max=5,
                       dislocation_ms=2000, correlation=1.0)
    m, b = generate(n_symbols=5, seconds=30.0, params=params, volatility_bps_per_sqrt_s=0.0,
                    two_tick_spread_fraction=0.0)
    log = m.dislocation_log()
    assert len(log["start_ns"]) > 0
    assert set(np.abs(log["shift_ticks"]).tolist()) == {5}
    assert np.all(log["end_ns"] - log["start_ns"] == 2_000_000_000)
    expected_bid = m.start_prices[b.code_idx].copy()
    columns = (log[f] for f in ("code_idx", "venue", "start_ns", "end_ns", "shift_ticks"))
    for sym, v, t0, t1, k in zip(*columns, strict=True):
        during = (b.code_idx == sym) & (b.venue == v) & (b.t_ns >= t0) & (b.t_ns < t1)
        assert during.any()                                   # at least the start update
        if t1 <= b.t_ns[-1]:
            assert np.any((b.code_idx == sym) & (b.venue == v) & (b.t_ns == t1))   # the revert update
        expected_bid[during] = shift_ticks(int(m.start_prices[sym]), int(k))
    np.testing.assert_array_equal(b.bid, expected_bid)
    np.testing.assert_array_equal(b.ask, shift_ticks(expected_bid, 1))


# ------------------------------------------------------------------------------------- the protocol

def test_market_source_surface_and_quote_events() -> None:
    from kiwoom_bridge.emulator.source import MarketSource

    m = SyntheticMarket(codes(10), start_ns=START_NS, end_ns=START_NS + 3 * S, seed=5)
    assert isinstance(m, MarketSource)
    assert m.adds_latency is True and m.sizes_known is True
    assert m.codes == tuple(codes(10)) and m.start_ns == START_NS
    assert "10 symbols" in m.description
    assert m.peek_time_ns() == START_NS
    events = m.pop_until(START_NS + S)
    assert all(isinstance(e, QuoteEvent) for e in events)
    assert all(START_NS <= e.t_ns <= START_NS + S for e in events)
    assert {e.real_type for e in events} == {REAL_TYPE_QUOTE, REAL_TYPE_TRADE}
    assert {e.venue for e in events} == {"KRX", "NXT"}
    t_next = m.peek_time_ns()
    assert t_next is not None and t_next > START_NS + S
    rest = m.pop_arrays_until(START_NS + 10 * S)
    assert len(rest) > 0 and rest.t_ns.max() < START_NS + 3 * S
    assert m.peek_time_ns() is None
    assert len(m.pop_arrays_until(START_NS + 20 * S)) == 0
    assert m.pop_until(START_NS + 20 * S) == []


def test_quote_events_match_the_arrays() -> None:
    m1 = SyntheticMarket(codes(8), start_ns=START_NS, seed=9)
    m2 = SyntheticMarket(codes(8), start_ns=START_NS, seed=9)
    arrays = m1.pop_arrays_until(START_NS + 2 * S)
    events = m2.pop_until(START_NS + 2 * S)
    assert len(events) == len(arrays)
    for i in (0, len(events) // 2, len(events) - 1):
        e = events[i]
        assert e.t_ns == arrays.t_ns[i] and e.code == codes(8)[arrays.code_idx[i]]
        assert e.venue == ("KRX", "NXT")[arrays.venue[i]]
        assert (e.ask, e.bid, e.ask_qty, e.bid_qty, e.last, e.last_qty) == tuple(
            int(getattr(arrays, f)[i]) for f in ("ask", "bid", "ask_qty", "bid_qty", "last", "last_qty"))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        SyntheticMarket([], start_ns=START_NS)
    with pytest.raises(ValueError):
        SyntheticMarket(["000001", "000001"], start_ns=START_NS)
    with pytest.raises(ValueError):
        SyntheticMarket(codes(2), start_ns=START_NS, end_ns=START_NS)
    with pytest.raises(ValueError):
        SyntheticMarket(codes(2), start_ns=START_NS, rate=0)
    with pytest.raises(TypeError):
        SyntheticMarket(codes(2), start_ns=1.5)  # type: ignore[arg-type]
