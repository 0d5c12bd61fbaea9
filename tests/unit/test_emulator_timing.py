"""Realistic timing of the emulator (SPEC §11), all seeded and on the simulated clock: latency distributions per
stage, the Chejan that overtakes its TR ack, and the synthetic market's volatility interruptions."""
from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import numpy as np

from config.schema import LatencyDist, SimLatency, SimMarket
from core.clock import NS_PER_MS, NS_PER_S
from kiwoom_bridge.emulator.control import EmulatedControl
from kiwoom_bridge.emulator.latency import LatencyModel
from kiwoom_bridge.emulator.scheduler import SimScheduler
from kiwoom_bridge.emulator.synthetic import SyntheticMarket
from kiwoom_bridge.types import KRX, NXT, REAL_TYPE_QUOTE, REAL_TYPE_TRADE, REAL_TYPE_VI, QuoteEvent
from tests.unit.test_openapi_contract import CFG, SAMSUNG, T0, Harness, q

MS = NS_PER_MS
DIST = LatencyDist(median=30, p99=180)


def latency_cfg(send_to_ack: object = DIST, rate: float = 0.0) -> SimLatency:
    return SimLatency.model_validate({"send_to_ack_ms": send_to_ack, "ack_to_fill_ms": 5, "cancel_ms": 30,
                                      "market_data_ms": 1, "chejan_before_ack_rate": rate})


def quantiles_ms(draws_ns: list[int]) -> tuple[float, float]:
    a = np.asarray(draws_ns, dtype=np.float64) / MS
    return float(np.quantile(a, 0.5)), float(np.quantile(a, 0.99))


# -- the latency model ---------------------------------------------------------------------------------

def test_send_to_ack_draws_have_the_configured_median_and_a_long_tail() -> None:
    m = LatencyModel(latency_cfg(), seed=3)
    draws = [m.send_to_ack.draw_ns() for _ in range(5000)]
    p50, p99 = quantiles_ms(draws)
    assert 27 <= p50 <= 33
    assert 140 <= p99 <= 230 and p99 > 4 * p50
    assert min(draws) > 0 and len(set(draws)) > 4900                     # a distribution, not a few values


def test_latency_draws_repeat_with_the_seed_and_change_with_another() -> None:
    def draws(seed: int) -> list[int]:
        m = LatencyModel(latency_cfg(), seed)
        return [m.send_to_ack.draw_ns() for _ in range(200)]

    assert draws(11) == draws(11)
    assert draws(11) != draws(12)


def test_a_number_is_a_constant_latency() -> None:
    for cfg in (latency_cfg(30),                                                  # a bare number in the file
                SimpleNamespace(send_to_ack_ms=30, ack_to_fill_ms=5, cancel_ms=30, market_data_ms=1)):
        m = LatencyModel(cfg, seed=5)
        assert m.send_to_ack.constant
        assert {m.send_to_ack.draw_ns() for _ in range(1000)} == {30 * MS}
        assert {m.ack_to_fill.draw_ns() for _ in range(100)} == {5 * MS}
        assert m.chejan_first() is False


def test_chejan_before_ack_is_drawn_at_its_rate_and_never_at_rate_0() -> None:
    m = LatencyModel(latency_cfg(rate=0.02), seed=9)
    n = sum(m.chejan_first() for _ in range(10_000))
    assert 120 <= n <= 280                                                 # 200 expected
    m0 = LatencyModel(latency_cfg(rate=0.0), seed=9)
    assert not any(m0.chejan_first() for _ in range(10_000))


# -- through the emulated control, as the engine sees it -------------------------------------------------

def run_orders(n: int, seed: int, latency: SimLatency, **cfg_faults: object) -> tuple[Harness, dict[str, int]]:
    """``n`` resting buy orders, five per simulated second, through the facade; returns the send times."""
    sim = CFG.sim.model_copy(update={"latency": latency})
    if cfg_faults:
        sim = sim.model_copy(update={"faults": sim.faults.model_copy(update=cfg_faults)})
    h = Harness([q(10)], seed=seed, config=CFG.model_copy(update={"sim": sim}), constant_timing=False)
    sent: dict[str, int] = {}
    for i in range(n):
        if i and i % 5 == 0:
            h.run(1000)
        rq = f"o{i}"
        assert h.send(rq, 1, SAMSUNG, 1, 84000, "00") == 0
        sent[rq] = h.sched.now_ns
    h.run(70_000)                          # past the 60 s cap of any draw
    return h, sent


def ack_latencies(h: Harness, sent: dict[str, int]) -> list[int]:
    acks = {a.rq_name: a for a in h.of("on_ack")}
    assert set(acks) == set(sent)
    return [acks[rq].t_ns - sent[rq] for rq in sent]


def test_send_to_ack_over_many_orders_follows_the_distribution_and_the_seed() -> None:
    h, sent = run_orders(1000, seed=21, latency=latency_cfg())
    lat = ack_latencies(h, sent)
    p50, p99 = quantiles_ms(lat)
    assert 25 <= p50 <= 36
    assert 110 <= p99 <= 300 and p99 > 3 * p50
    again, sent2 = run_orders(1000, seed=21, latency=latency_cfg())
    assert ack_latencies(again, sent2) == lat
    other, sent3 = run_orders(1000, seed=22, latency=latency_cfg())
    assert ack_latencies(other, sent3) != lat


def test_constant_latency_through_the_control() -> None:
    h, sent = run_orders(50, seed=21, latency=latency_cfg(30))
    assert set(ack_latencies(h, sent)) == {30 * MS}


def chejan_first_orders(h: Harness) -> list[str]:
    """The order numbers whose 접수 Chejan reached the engine before their TR ack."""
    seen_ack: set[str] = set()
    early: list[str] = []
    for name, v in h.log:
        if name == "on_ack":
            seen_ack.add(v.order_no)
        elif name == "on_execution" and v.status == "접수" and v.order_no not in seen_ack:
            early.append(v.order_no)
    return early


def test_chejan_overtakes_the_ack_at_roughly_the_configured_rate() -> None:
    h, sent = run_orders(400, seed=4, latency=latency_cfg(rate=0.25))
    early = chejan_first_orders(h)
    assert 60 <= len(early) <= 140                                         # 100 expected
    acks = {a.order_no: a for a in h.of("on_ack")}
    assert all(acks[no].accepted for no in early)                          # the ack still comes, later
    recv = {e.order_no: e.t_ns for e in h.execs() if e.status == "접수"}
    assert all(acks[no].t_ns > recv[no] for no in early)
    again, _ = run_orders(400, seed=4, latency=latency_cfg(rate=0.25))
    assert chejan_first_orders(again) == early


def test_no_chejan_overtakes_the_ack_at_rate_0() -> None:
    h, _ = run_orders(400, seed=4, latency=latency_cfg(rate=0.0))
    assert chejan_first_orders(h) == []
    assert len(h.execs()) == 400


def test_latencies_do_not_change_which_orders_a_fault_hits() -> None:
    def refused(latency: SimLatency) -> list[str]:
        h, _ = run_orders(100, seed=8, latency=latency, reject_rate=0.3, reject_mode="tr")
        return sorted(a.rq_name for a in h.of("on_ack") if not a.accepted)

    hit = refused(latency_cfg(30))
    assert 10 <= len(hit) <= 50 and refused(latency_cfg(DIST)) == hit


# -- synthetic volatility interruptions -----------------------------------------------------------------

HOUR = 3600 * NS_PER_S
CODES = ("100000", "100001", "100002", "100003")


def synth(seed: int = 7, vi_per_hour: float = 30.0, **params: object) -> tuple[SyntheticMarket, list[QuoteEvent]]:
    p = SimMarket.model_validate({"updates_per_symbol_per_s": 0.5, "vi_per_symbol_per_hour": vi_per_hour,
                                  "vi_call_s": 120, "vi_random_end_s": 30, **params})
    m = SyntheticMarket(CODES, start_ns=T0, end_ns=T0 + HOUR, params=p, seed=seed, chunk_s=10.0)
    return m, m.pop_until(T0 + HOUR)


def vi_windows(events: list[QuoteEvent]) -> dict[tuple[str, str], list[tuple[QuoteEvent, QuoteEvent | None]]]:
    """(code, venue) → its VIs as (start row, end row or None when the hour ended first); asserts alternation."""
    out: dict[tuple[str, str], list[tuple[QuoteEvent, QuoteEvent | None]]] = defaultdict(list)
    for e in events:
        if e.real_type != REAL_TYPE_VI:
            continue
        lst = out[(e.code, e.venue)]
        if e.vi_active:
            assert not lst or lst[-1][1] is not None, f"a VI starts inside another: {e}"
            lst.append((e, None))
        else:
            assert lst and lst[-1][1] is None, f"a VI ends without a start: {e}"
            lst[-1] = (lst[-1][0], e)
    return out


def test_synthetic_vis_start_and_end_after_the_call_and_its_random_end() -> None:
    m, events = synth()
    w = vi_windows(events)
    starts = [s for lst in w.values() for s, _ in lst]
    assert m.vi_started == len(starts) >= 40                # 8 streams, one VI per ~4.3 min each: ~110
    assert {v for _, v in w} == {KRX, NXT}
    for lst in w.values():
        for s, e in lst:
            assert s.last > 0 and s.vi_kind in ("static", "dynamic", "static+dynamic")
            if e is None:
                assert s.t_ns + 120 * NS_PER_S > T0 + HOUR - 30 * NS_PER_S   # only a VI the hour cut short
                continue
            assert 120 * NS_PER_S <= e.t_ns - s.t_ns <= 150 * NS_PER_S
            assert e.last == 0
    durations = [e.t_ns - s.t_ns for lst in w.values() for s, e in lst if e is not None]
    assert max(durations) - min(durations) > 15 * NS_PER_S  # the random end is used, not a fixed call


def test_a_stream_in_its_vi_prints_no_trade_but_keeps_quoting() -> None:
    _, events = synth()
    w = vi_windows(events)
    quotes_inside = 0
    for e in events:
        for s, end in w.get((e.code, e.venue), ()):
            if s.t_ns <= e.t_ns < (end.t_ns if end is not None else T0 + HOUR):
                assert e.real_type != REAL_TYPE_TRADE, e
                quotes_inside += e.real_type == REAL_TYPE_QUOTE
    assert quotes_inside > 100


def test_synthetic_vis_are_fixed_by_the_seed() -> None:
    def vi_rows(seed: int) -> list[QuoteEvent]:
        return [e for e in synth(seed)[1] if e.real_type == REAL_TYPE_VI]

    assert vi_rows(5) == vi_rows(5)
    assert vi_rows(5) != vi_rows(6)


def test_no_vis_at_rate_0_and_the_rest_of_the_market_is_unchanged_by_them() -> None:
    m0, off = synth(vi_per_hour=0.0)
    assert m0.vi_started == 0 and not any(e.real_type == REAL_TYPE_VI for e in off)
    _, on = synth(vi_per_hour=30.0)
    w = vi_windows(on)

    def outside(events: list[QuoteEvent]) -> list[QuoteEvent]:
        return [e for e in events if e.real_type != REAL_TYPE_VI and not any(
            s.t_ns <= e.t_ns < (end.t_ns if end is not None else T0 + HOUR) for s, end in w.get((e.code, e.venue), ()))]

    def no_volume(events: list[QuoteEvent]) -> list[QuoteEvent]:
        return [e._replace(cum_volume=0) for e in events]

    assert no_volume(outside(on)) == no_volume(outside(off))     # the volume the VIs suppressed is missing later
    assert sum(e.cum_volume for e in outside(on)) < sum(e.cum_volume for e in outside(off))
    assert len([e for e in on if e.real_type != REAL_TYPE_VI]) == len(off)   # inside a VI a print becomes a quote


def test_a_synthetic_vi_puts_its_code_in_a_call_on_the_emulated_exchange() -> None:
    p = SimMarket.model_validate({"updates_per_symbol_per_s": 0.5, "vi_per_symbol_per_hour": 30.0})
    src = SyntheticMarket(CODES, start_ns=T0, end_ns=T0 + HOUR, params=p, seed=7)
    first = next(e for e in SyntheticMarket(CODES, start_ns=T0, end_ns=T0 + HOUR, params=p, seed=7)
                 .pop_until(T0 + 600 * NS_PER_S) if e.real_type == REAL_TYPE_VI)
    sched = SimScheduler(T0)
    ctl = EmulatedControl(sched, src, CFG, CODES, 7)
    ex = ctl.exchange(first.venue)
    other = ctl.exchange(NXT if first.venue == KRX else KRX)
    ctl.advance_to(first.t_ns - 1)
    assert not ex.in_vi(first.code)
    ctl.advance_to(first.t_ns)
    assert ex.in_vi(first.code) and ex.refusal(first.code, "13") == "call" and ex.refusal(first.code, "00") == ""
    assert not other.in_vi(first.code) and other.refusal(first.code, "13") == ""
    ctl.advance_to(first.t_ns + 150 * NS_PER_S)
    assert not ex.in_vi(first.code)


class _ZeroRandom:
    """A VI generator whose every draw is 0: each stream starts a VI at its chunk's first instant, lasting exactly
    vi_call_s (so it ends exactly on a chunk boundary)."""

    def random(self, n: int) -> np.ndarray:
        return np.zeros(n)


def test_a_vi_ending_exactly_on_a_chunk_boundary_still_ends() -> None:
    """Before the fix an end at a chunk's first instant was emitted by neither chunk: the code stayed in its call
    (for the emulated exchange, forever) and the next VI started on top of it."""
    p = SimMarket.model_validate({"updates_per_symbol_per_s": 0.5, "vi_per_symbol_per_hour": 30.0, "vi_call_s": 120,
                                  "vi_random_end_s": 0})
    m = SyntheticMarket(CODES[:1], start_ns=T0, end_ns=T0 + 300 * NS_PER_S, params=p, seed=7)
    m._vi_rng = _ZeroRandom()  # type: ignore[assignment]
    rows = [(e.t_ns - T0, e.vi_active) for e in m.pop_until(T0 + 300 * NS_PER_S) if e.real_type == REAL_TYPE_VI]
    s = NS_PER_S
    assert rows == [(0, True), (0, True), (120 * s, False), (120 * s, False),       # KRX and NXT of the one code
                    (121 * s, True), (121 * s, True), (241 * s, False), (241 * s, False),   # the next chunk's start
                    (242 * s, True), (242 * s, True)]                                # ends after the 300 s
