"""The bridge's latency clock against the engine's (core.clock_offset): probes, their bound, one machine's clock."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock_offset import WINDOW, ClockOffset

HOURS_3 = 3 * 3600 * 1_000_000_000
MS = 1_000_000


def probe(clk: ClockOffset, bridge_sent: int, out_ns: int, back_ns: int, true_offset: int) -> None:
    """One probe with one-way delays ``out_ns`` (bridge → engine) and ``back_ns``, clocks ``true_offset`` apart."""
    engine_answer = bridge_sent + out_ns + true_offset
    clk.observe(bridge_sent, engine_answer, bridge_sent + out_ns + back_ns)


def test_nothing_is_known_before_the_first_answer() -> None:
    clk = ClockOffset()
    assert not clk.known and clk.offset_ns is None and clk.uncertainty_ns is None
    assert clk.to_engine(123) is None          # a stamp now would be a lie: no figure instead


def test_one_machine_gives_exactly_zero_whatever_the_queueing() -> None:
    clk = ClockOffset()
    for i, (out, back) in enumerate([(300_000, 900_000), (2 * MS, 50_000), (40_000, 40_000)]):
        probe(clk, 10 * MS * (i + 1), out, back, true_offset=0)
    assert clk.offset_ns == 0 and clk.same_clock and clk.uncertainty_ns == 0
    assert clk.to_engine(5_000) == 5_000


@pytest.mark.parametrize("true_offset", [HOURS_3, -HOURS_3, 7 * MS])
def test_another_machine_is_measured_within_half_the_best_round_trip(true_offset: int) -> None:
    clk = ClockOffset()
    # asymmetric delays: the worst probes are slow one way; the best round trip is 0.2 ms
    for i, (out, back) in enumerate([(5 * MS, 100_000), (100_000, 100_000), (50_000, 3 * MS)]):
        probe(clk, 1_000 * MS * (i + 1), out, back, true_offset)
    assert not clk.same_clock
    assert clk.uncertainty_ns == 100_000
    assert clk.offset_ns is not None and abs(clk.offset_ns - true_offset) <= 100_000
    assert clk.to_engine(42) == 42 + clk.offset_ns


def test_the_best_probe_leaves_the_window_after_as_many_newer_ones() -> None:
    clk = ClockOffset()
    probe(clk, 0, 10_000, 10_000, HOURS_3)                      # 20 us: the best, exact
    for i in range(1, WINDOW):
        probe(clk, i * 1_000 * MS, 4 * MS, 0, HOURS_3)          # 4 ms one way: each 2 ms off
    assert clk.offset_ns == HOURS_3 and clk.uncertainty_ns == 10_000
    probe(clk, WINDOW * 1_000 * MS, 4 * MS, 0, HOURS_3)         # the 17th: the best has left the window
    assert clk.uncertainty_ns == 2 * MS and clk.offset_ns == HOURS_3 + 2 * MS


def test_an_answer_before_its_probe_left_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="before it left"):
        ClockOffset().observe(2_000, 10, 1_000)
    with pytest.raises(ValueError, match="at least one probe"):
        ClockOffset(window=0)


@given(true_offset=st.integers(-10**15, 10**15),
       delays=st.lists(st.tuples(st.integers(0, 50 * MS), st.integers(0, 50 * MS)), min_size=1, max_size=40))
def test_the_estimate_is_never_further_from_the_truth_than_its_bound(true_offset: int,
                                                                      delays: list[tuple[int, int]]) -> None:
    clk = ClockOffset()
    for i, (out, back) in enumerate(delays):
        probe(clk, i * 200 * MS, out, back, true_offset)
    assert clk.offset_ns is not None and clk.uncertainty_ns is not None
    best_rtt = min(o + b for o, b in delays[-WINDOW:])
    if clk.offset_ns:
        assert abs(clk.offset_ns - true_offset) <= (best_rtt + 1) // 2 + 1
        assert clk.uncertainty_ns == (best_rtt + 1) // 2
    else:
        # taken as one clock: the truth lies within the round trip of zero (two machines' boots that close
        # are the only way to be wrong, and then by less than the probe's own round trip)
        assert abs(true_offset) <= best_rtt + 1 and clk.uncertainty_ns == 0
    if true_offset == 0:
        assert clk.offset_ns == 0
