"""outputs.stats: latency percentiles in bounded memory, rolling rates, the most events in any window."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clock import NS_PER_MS, NS_PER_S
from outputs.stats import LatencyStats, MaxInWindow, RollingRate, max_in_window

T0 = 1_780_000_000 * NS_PER_S          # an engine-clock instant (ns since the epoch)


# ------------------------------------------------------------------------------------------------
# LatencyStats
# ------------------------------------------------------------------------------------------------
class TestLatencyStats:
    def test_empty_has_null_percentiles(self) -> None:
        assert LatencyStats().summary() == {"p50": None, "p95": None, "p99": None, "n": 0}

    def test_exact_mode_matches_numpy(self) -> None:
        # Prepare
        rng = np.random.default_rng(1)
        samples = rng.lognormal(mean=1.0, sigma=0.8, size=5_000)
        stats = LatencyStats()
        # Act
        stats.add_many(samples)
        # Assert
        s = stats.summary()
        assert s["n"] == 5_000 and stats.exact
        for key, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            assert s[key] == pytest.approx(float(np.percentile(samples, q)), rel=1e-12)

    def test_known_small_sample(self) -> None:
        stats = LatencyStats()
        stats.add_many([1.0, 2.0, 3.0, 4.0, 100.0])
        s = stats.summary()
        assert s["p50"] == 3.0
        assert s["p95"] == pytest.approx(np.percentile([1, 2, 3, 4, 100], 95))
        assert isinstance(s["n"], int)

    def test_histogram_mode_within_one_percent(self) -> None:
        # Prepare: the exact buffer holds only 100 samples, so 20 000 go through the histogram
        rng = np.random.default_rng(7)
        samples = np.concatenate([rng.exponential(3.0, 15_000), rng.uniform(20, 400, 5_000)])
        stats = LatencyStats(exact_capacity=100)
        # Act
        stats.add_many(samples)
        # Assert
        assert not stats.exact
        for q in (50, 95, 99):
            assert stats.percentile(q) == pytest.approx(float(np.percentile(samples, q)), rel=0.01)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.floats(min_value=0.001, max_value=5_000, allow_nan=False), min_size=1, max_size=300))
    def test_histogram_within_one_percent_any_sample(self, values: list[float]) -> None:
        stats = LatencyStats(exact_capacity=0)
        stats.add_many(values)
        for q in (50, 95, 99):
            assert stats.percentile(q) == pytest.approx(float(np.percentile(values, q)), rel=0.01)

    def test_rejects_non_finite_and_counts_negative(self) -> None:
        stats = LatencyStats()
        with pytest.raises(ValueError):
            stats.add(float("nan"))
        stats.add(-1.0)
        assert stats.negative == 1 and stats.summary()["p50"] == 0.0


# ------------------------------------------------------------------------------------------------
# RollingRate / MaxInWindow
# ------------------------------------------------------------------------------------------------
class TestRollingRate:
    def test_window_is_half_open_on_the_left(self) -> None:
        r = RollingRate(60 * NS_PER_S)
        for s in (0, 10, 59, 60):
            r.add(T0 + s * NS_PER_S)
        assert r.count(T0 + 60 * NS_PER_S) == 3          # t = 0 is exactly one window ago: out
        assert r.count(T0 + 59 * NS_PER_S) == 3
        assert r.count(T0 + 200 * NS_PER_S) == 0
        assert r.total == 4

    def test_out_of_order_and_weights(self) -> None:
        r = RollingRate(NS_PER_S)
        r.add(T0 + 500 * NS_PER_MS, n=10)
        r.add(T0 + 100 * NS_PER_MS, n=5)
        assert r.count(T0 + 900 * NS_PER_MS) == 15
        assert r.per_second(T0 + 1_200 * NS_PER_MS) == 10.0


class TestMaxInWindow:
    @pytest.mark.parametrize("times_ms, expected", [
        ([], 0),
        ([0], 1),
        ([0, 999], 2),
        ([0, 1000], 1),                                   # exactly 1 s apart: never in one window
        ([0, 200, 400, 600, 800, 1000, 1200], 5),
        ([0, 0, 0, 5000], 3),
        ([100, 1050, 1100, 1150, 2000, 2099], 4),        # [1050, 2050) holds 1050, 1100, 1150, 2000
    ])
    def test_hand_cases(self, times_ms: list[int], expected: int) -> None:
        m = MaxInWindow(NS_PER_S)
        for t in times_ms:
            m.add(T0 + t * NS_PER_MS)
        assert m.value == expected
        assert max_in_window([T0 + t * NS_PER_MS for t in times_ms], NS_PER_S) == expected

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(min_value=0, max_value=5_000), max_size=60),
           st.integers(min_value=1, max_value=2_000))
    def test_matches_brute_force(self, times: list[int], window: int) -> None:
        # Brute force: the best window can always start at an event.
        brute = max((sum(1 for u in times if a <= u < a + window) for a in times), default=0)
        m = MaxInWindow(window)
        for t in times:                                  # arbitrary order: exercises the recount path
            m.add(t)
        assert m.value == brute
        in_order = MaxInWindow(window)
        for t in sorted(times):                          # sorted: exercises the incremental path
            in_order.add(t)
        assert in_order.value == brute

    def test_count_at_is_the_live_last_second(self) -> None:
        m = MaxInWindow()
        for ms in (0, 300, 600, 900, 1_400):
            m.add(T0 + ms * NS_PER_MS)
        assert m.count_at(T0 + 1_400 * NS_PER_MS) == 3   # 600, 900, 1400
