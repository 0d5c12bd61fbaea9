"""What lockstep relies on to merge quiet quanta (SPEC §7): the edge screen never misses a symbol the SpreadEngine
calls eligible, the session's next edge bounds every change of its verdict, and the desk's idle horizon."""
from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from config.loader import load_config
from core.clock import ns_from_kst
from core.costs import CostModel
from core.pair_desk import PairDesk
from core.session import SessionClock
from core.spread import EdgeScreen, SpreadParams, SpreadState, min_net_ticks_of
from core.universe import Universe

DAY = dt.date(2026, 11, 20)                     # a Friday, a trading day
T0 = ns_from_kst(DAY, dt.time(10, 0))
CODES = ("005930", "000660", "035420")
MARKETS = ("KOSPI", "KOSDAQ", "KOSPI")

#: one symbol: KRX bid on a 100-KRW grid near 100,000 (tick 100), NXT bid a few ticks away, spreads 0-3 ticks
#: (0: a locked, invalid book), sizes on each side
symbol_books = st.tuples(st.integers(900, 1_100), st.integers(-8, 8), st.integers(0, 3), st.integers(0, 3),
                         st.integers(0, 50), st.integers(0, 50))


@settings(max_examples=400, deadline=None)
@given(st.lists(symbol_books, min_size=3, max_size=3), st.sampled_from([0.0, 0.5, 1.0, 3.0]), st.booleans())
def test_the_screen_keeps_every_symbol_the_spread_engine_calls_eligible(books, buffer, relaxed):
    """Whatever the books, sizes, edge buffer and a live edit of the tax: eligible ⊆ possible."""
    cfg = load_config()
    mnt = min_net_ticks_of(buffer, {"000660": 0.0}, CODES)
    spread = SpreadState(CODES, MARKETS, CostModel.for_date(cfg.fees, DAY), mnt,
                         SpreadParams(cooldown_ns=0, slice_qty=1, min_visible_qty=10))
    krx = np.array([[b * 100, (b + wk) * 100, q1, q2] for b, _, wk, _, q1, q2 in books], dtype=np.int64)
    nxt = np.array([[(b + o) * 100, (b + o + wn) * 100, q2, q1] for b, o, _, wn, q1, q2 in books], dtype=np.int64)
    spread.apply_delta(np.arange(3), krx, nxt, np.zeros(3, dtype=np.int64), np.full(3, T0), np.zeros(3, np.uint8))
    spread.evaluate(T0, 0)
    screen = EdgeScreen(MARKETS, cfg.fees, mnt)
    if relaxed:     # the operator lowered the tax: the SpreadEngine may use either
        no_tax = {m: dict.fromkeys(years, 0.0) for m, years in cfg.fees.tax.items()}
        screen.relax(load_config(overrides={"fees": {"tax": no_tax}}).fees, mnt * 0.5)
    possible = set(screen.possible(krx[:, 0], krx[:, 1], nxt[:, 0], nxt[:, 1], T0).tolist())
    assert set(np.flatnonzero(spread.was_eligible).tolist()) <= possible


def test_the_screen_rules_out_calm_and_thin_edges():
    cfg = load_config()
    screen = EdgeScreen(MARKETS, cfg.fees, np.ones(3))
    calm = np.array([75_000, 120_000, 200_000]), np.array([75_100, 120_100, 200_500])
    assert len(screen.possible(*calm, *calm, T0)) == 0
    # NXT bid one tick over KRX ask: a gross edge, but not one tick net of fees and tax
    nb = np.array([75_200, 120_000, 200_000])
    assert len(screen.possible(*calm, nb, nb + 100, T0)) == 0
    nb[0] = 75_500                                # four ticks over: possible
    assert screen.possible(*calm, nb, nb + 100, T0).tolist() == [0]


def test_session_verdicts_only_change_at_its_next_edge():
    """Sampling a whole day: between now and next_change_ns the arming, the phase and the notices' check
    answer as now (the armed reason's clock text aside)."""
    cfg = load_config()
    clock = SessionClock(cfg.sessions)
    t = ns_from_kst(DAY, dt.time(0, 0, 1))
    end = ns_from_kst(DAY + dt.timedelta(days=1), dt.time(0, 0, 30))
    edges = 0
    while t < end:
        nxt = clock.next_change_ns(t)
        assert nxt > t
        for probe in (t, (t + nxt) // 2, nxt - 1):
            a, b = clock.status(t), clock.status(probe)
            assert (a.armed, a.phase, clock.mismatch(t)) == (b.armed, b.phase, clock.mismatch(probe)), probe
        t, edges = nxt, edges + 1
    assert edges >= 4                              # guard start/end, nxt_main start/end at least


def test_an_idle_desk_has_a_horizon_and_an_unmanaged_position_has_none():
    cfg = load_config()
    desk = PairDesk(cfg, Universe.from_codes(CODES))
    desk.run_step(T0, (), ())
    horizon = desk.idle_until_ns()
    assert horizon is not None and T0 < horizon <= SessionClock(cfg.sessions).next_change_ns(T0)
    assert desk.watched_syms() == ()
