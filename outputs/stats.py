"""Generic streaming statistics for telemetry: latency percentiles in bounded memory, rolling rates and
the most events in any window. Pure; times are ns, latencies ms.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from core.clock import NS_PER_S

__all__ = ["LatencyStats", "MaxInWindow", "RollingRate", "max_in_window"]


# ------------------------------------------------------------------------------------------------
# Latency percentiles
# ------------------------------------------------------------------------------------------------
class LatencyStats:
    """Percentiles of one latency, in milliseconds, in bounded memory.

    While at most ``exact_capacity`` samples have been seen, the samples themselves are kept and the
    percentiles are exactly ``numpy.percentile`` (linear interpolation). Beyond that the samples are
    dropped and the percentiles come from a log-bucket histogram whose buckets are 1 % wide
    (ratio 1.01 from 1 ns to 10⁸ ms), interpolated between order statistics like numpy does, so every
    reported percentile is within 0.5 % (relative) of the exact value. Memory: the histogram is a fixed
    ~26 KB; the exact buffer at most ``exact_capacity`` float64.

    Negative samples (a clock mix-up upstream) are counted in ``negative`` and recorded as 0 ms.

    Args:
      exact_capacity: How many samples to keep exactly before switching to the histogram (≥ 0).
    """

    MIN_MS = 1e-6
    """Smallest resolved value (1 ns); smaller samples are counted as 0 ms."""
    MAX_MS = 1e8
    """Largest bucketed value (~28 h); larger samples land in the last bucket (``max`` stays exact)."""
    GAMMA = 1.01
    """Ratio between consecutive bucket bounds."""
    _LOG_GAMMA = math.log(GAMMA)
    _NBUCKETS = int(math.ceil(math.log(MAX_MS / MIN_MS) / math.log(GAMMA))) + 1

    __slots__ = ("_counts", "_exact", "_exact_capacity", "_max", "_min", "_n", "_sum", "_zero", "negative")

    def __init__(self, exact_capacity: int = 100_000) -> None:
        if exact_capacity < 0:
            raise ValueError(f"exact_capacity must be ≥ 0, got {exact_capacity}")
        self._exact_capacity = int(exact_capacity)
        self._exact: list[float] | None = [] if exact_capacity > 0 else None
        self._counts = np.zeros(self._NBUCKETS, dtype=np.int64)
        self._zero = 0
        self._n = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf
        self.negative = 0

    # -- input -------------------------------------------------------------------------------
    def add(self, ms: float) -> None:
        """Record one sample of ``ms`` milliseconds.

        Raises:
          ValueError: If ``ms`` is not a finite number.
        """
        value = float(ms)
        if not math.isfinite(value):
            raise ValueError(f"latency must be a finite number of ms, got {ms!r}")
        if value < 0:
            self.negative += 1
            value = 0.0
        self._n += 1
        self._sum += value
        self._min = min(self._min, value)
        self._max = max(self._max, value)
        if value < self.MIN_MS:
            self._zero += 1
        else:
            idx = int(math.log(value / self.MIN_MS) / self._LOG_GAMMA)
            self._counts[min(max(idx, 0), self._NBUCKETS - 1)] += 1
        if self._exact is not None:
            if self._n <= self._exact_capacity:
                self._exact.append(value)
            else:
                self._exact = None          # switch to the histogram for good

    def add_many(self, values: Iterable[float]) -> None:
        """Record every sample of ``values`` (ms)."""
        for v in values:
            self.add(v)

    # -- output ------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of samples recorded."""
        return self._n

    @property
    def exact(self) -> bool:
        """True while percentiles are computed from the exact samples."""
        return self._exact is not None

    def percentiles(self, qs: Sequence[float]) -> list[float | None]:
        """The ``qs`` percentiles (0–100) in ms, ``None`` each when there are no samples."""
        if self._n == 0:
            return [None for _ in qs]
        if self._exact is not None:
            values = np.percentile(np.asarray(self._exact, dtype=np.float64), list(qs))
            return [float(v) for v in values]
        return [self._hist_percentile(q) for q in qs]

    def percentile(self, q: float) -> float | None:
        """The ``q`` percentile (0–100) in ms, or ``None`` without samples."""
        return self.percentiles([q])[0]

    def summary(self) -> dict[str, float | int | None]:
        """``{"p50", "p95", "p99", "n"}``: percentiles in ms (``None`` when ``n`` is 0), ``n`` an int."""
        p50, p95, p99 = self.percentiles((50, 95, 99))
        return {"p50": p50, "p95": p95, "p99": p99, "n": self._n}

    def stats(self) -> dict[str, Any]:
        """:meth:`summary` plus ``mean``, ``min``, ``max`` (ms), ``exact`` and ``negative``."""
        out: dict[str, Any] = self.summary()
        out["mean"] = self._sum / self._n if self._n else None
        out["min"] = self._min if self._n else None
        out["max"] = self._max if self._n else None
        out["exact"] = self.exact
        out["negative"] = self.negative
        return out

    def _value_at_rank(self, rank: int, cum: np.ndarray) -> float:
        if rank < self._zero:
            return 0.0
        idx = int(np.searchsorted(cum, rank - self._zero, side="right"))
        rep: float = self.MIN_MS * self.GAMMA ** (idx + 0.5)
        return min(max(rep, self._min), self._max)

    def _hist_percentile(self, q: float) -> float:
        rank = q / 100.0 * (self._n - 1)
        lo = int(math.floor(rank))
        frac = rank - lo
        cum = np.cumsum(self._counts)
        lower = self._value_at_rank(lo, cum)
        if frac == 0.0:
            return lower
        upper = self._value_at_rank(min(lo + 1, self._n - 1), cum)
        return lower + frac * (upper - lower)

    def __repr__(self) -> str:
        s = self.summary()
        return f"LatencyStats(n={s['n']}, p50={s['p50']}, p95={s['p95']}, p99={s['p99']})"


# ------------------------------------------------------------------------------------------------
# Rates
# ------------------------------------------------------------------------------------------------
class RollingRate:
    """Number of events in the trailing window ``(now − window_ns, now]``.

    Events may arrive slightly out of order (several actors report); they are kept sorted. Entries older
    than the window before the newest event are discarded, so queries are meant for ``now`` at or after
    the newest event (the live "last 5 minutes").

    Args:
      window_ns: Window length in nanoseconds (> 0).
    """

    __slots__ = ("_times", "_total", "_weights", "window_ns")

    def __init__(self, window_ns: int) -> None:
        if window_ns <= 0:
            raise ValueError(f"window_ns must be > 0, got {window_ns}")
        self.window_ns = int(window_ns)
        self._times: list[int] = []
        self._weights: list[int] = []
        self._total = 0

    def add(self, t_ns: int, n: int = 1) -> None:
        """Record ``n`` events at ``t_ns``."""
        t = int(t_ns)
        if not self._times or t >= self._times[-1]:
            self._times.append(t)
            self._weights.append(int(n))
        else:
            i = bisect.bisect_right(self._times, t)
            self._times.insert(i, t)
            self._weights.insert(i, int(n))
        self._total += int(n)
        cut = bisect.bisect_right(self._times, self._times[-1] - self.window_ns)
        if cut > 1024 or (cut and cut * 2 > len(self._times)):
            del self._times[:cut]
            del self._weights[:cut]

    def count(self, now_ns: int) -> int:
        """Events with ``now_ns − window_ns < t ≤ now_ns``."""
        lo = bisect.bisect_right(self._times, int(now_ns) - self.window_ns)
        hi = bisect.bisect_right(self._times, int(now_ns))
        return sum(self._weights[lo:hi])

    def per_second(self, now_ns: int) -> float:
        """Average events per second over the window ending at ``now_ns``."""
        return self.count(now_ns) * NS_PER_S / self.window_ns

    @property
    def total(self) -> int:
        """Events recorded since creation (not only in the window)."""
        return self._total


def max_in_window(times_ns: Sequence[int] | np.ndarray, window_ns: int = NS_PER_S) -> int:
    """The largest number of ``times_ns`` inside any half-open window ``[a, a + window_ns)``. Exact.

    Two pointers over the sorted times: for each event ``j`` the window ending at it holds the events
    ``i`` with ``t_j − t_i < window_ns``.
    """
    if window_ns <= 0:
        raise ValueError(f"window_ns must be > 0, got {window_ns}")
    t = np.sort(np.asarray(times_ns, dtype=np.int64))
    if t.size == 0:
        return 0
    left = np.searchsorted(t, t - int(window_ns), side="right")
    return int((np.arange(t.size) - left + 1).max())


class MaxInWindow:
    """The maximum number of events in ANY window of ``window_ns`` (half-open ``[a, a + window)``). Exact.

    Events added in time order update the maximum in O(1) amortised (two pointers); an event added out
    of order marks the result for a full recount (sort + binary search) at the next :attr:`value`.

    Args:
      window_ns: Window length in nanoseconds (default 1 s: Kiwoom's orders-per-second cap).
    """

    __slots__ = ("_best", "_dirty", "_left", "_times", "window_ns")

    def __init__(self, window_ns: int = NS_PER_S) -> None:
        if window_ns <= 0:
            raise ValueError(f"window_ns must be > 0, got {window_ns}")
        self.window_ns = int(window_ns)
        self._times: list[int] = []
        self._left = 0
        self._best = 0
        self._dirty = False

    def add(self, t_ns: int) -> None:
        """Record one event at ``t_ns``."""
        t = int(t_ns)
        if self._times and t < self._times[-1]:
            bisect.insort(self._times, t)
            self._dirty = True
            return
        self._times.append(t)
        if self._dirty:
            return
        while t - self._times[self._left] >= self.window_ns:
            self._left += 1
        self._best = max(self._best, len(self._times) - self._left)

    @property
    def value(self) -> int:
        """The maximum number of events in any window seen so far."""
        if self._dirty:
            self._best = max_in_window(self._times, self.window_ns)
            last = self._times[-1]
            self._left = bisect.bisect_right(self._times, last - self.window_ns)
            self._dirty = False
        return self._best

    def count_at(self, now_ns: int) -> int:
        """Events in the window ``(now_ns − window_ns, now_ns]`` (the live "orders in the last second")."""
        lo = bisect.bisect_right(self._times, int(now_ns) - self.window_ns)
        hi = bisect.bisect_right(self._times, int(now_ns))
        return hi - lo

    def __len__(self) -> int:
        return len(self._times)
