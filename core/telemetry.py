"""Telemetry arithmetic: latency percentiles, rolling rates, the orders-in-any-second maximum, and the
run's book of counters that becomes the SPEC §5 run report.

Everything here is pure: no actors, no threads, no clock reads. Time comes in with each event as ``t_ns``
(the engine clock, ns since the Unix epoch, UTC: simulated time in sim/replay, wall time live), so a
``--speed max`` replay produces the same report every time. Latency samples arrive already measured, in
milliseconds (the actors measure them on the monotonic wall clock).

Units: ``*_ns`` integers are nanoseconds, ``*_ms`` floats are milliseconds, ``*_s`` seconds, money is KRW.
"""
from __future__ import annotations

import bisect
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from actors.messages import TelemetryEvent
from core.clock import NS_PER_S, kst_datetime
from core.costs import marked_net_krw

__all__ = [
    "CORE_LATENCIES",
    "LatencyStats",
    "MaxInWindow",
    "RollingRate",
    "TelemetryBook",
    "iso_kst",
    "max_in_window",
    "normalise_code",
]

log = logging.getLogger("arb.telemetry")

#: The four latencies the SPEC §5 report always carries, in report order.
CORE_LATENCIES = ("tick_to_signal", "signal_to_send", "send_to_ack", "unhedged")
#: Further latencies the engine measures (reported under ``extra``).
EXTRA_LATENCIES = ("take_fill", "hedge_complete")
#: Window of the rolling reject/timeout rates (seed 003 §3: "rolling 5 min").
RATE_WINDOW_NS = 300 * NS_PER_S
#: Window of the live ticks/s figure.
TICK_RATE_WINDOW_NS = 5 * NS_PER_S
#: At most this many entries are kept in each event list of the report (kill switches, errors, ...).
MAX_LIST_ENTRIES = 10_000
#: At most this many malformed events are described in ``errors``; later ones are only counted.
MAX_BAD_EVENT_ERRORS = 100


def iso_kst(t_ns: int) -> str:
    """``t_ns`` (ns since the epoch) as an ISO-8601 Asia/Seoul timestamp with microseconds."""
    return kst_datetime(int(t_ns)).isoformat(timespec="microseconds")


def normalise_code(raw: Any) -> str:
    """A 6-digit stock code from what Kiwoom or an actor wrote: ``"A005930"`` and ``"005930_NX"`` → ``"005930"``."""
    code = str(raw).strip()
    if code.endswith("_NX"):
        code = code[:-3]
    if len(code) == 7 and code[0] in "AJQ" and code[1:].isdigit():
        code = code[1:]
    return code


def _num(value: Any) -> int | float:
    """A JSON-friendly number: ``int`` when the value is integral, otherwise ``float``.

    Raises:
      ValueError: If the value is not a finite number.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return int(number) if number.is_integer() else number


def _int(value: Any) -> int:
    """An exact integer (quantities, counts) from an int, an integral float or a numeric string."""
    number = _num(value)
    if isinstance(number, float):
        raise ValueError(f"expected a whole number, got {value!r}")
    return number


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
        rep = self.MIN_MS * self.GAMMA ** (idx + 0.5)
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


# ------------------------------------------------------------------------------------------------
# The book
# ------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Cash:
    """Cash flows of a set of fills (KRW); ``gross = sell − buy``, ``net = gross − fees − tax``."""

    buy_cash: int | float = 0
    sell_cash: int | float = 0
    buy_qty: int = 0
    sell_qty: int = 0
    fees: int | float = 0
    tax: int | float = 0
    fills: int = 0

    def add(self, side: str, qty: int, price: int | float, fee: int | float, tax: int | float) -> None:
        if side == "BUY":
            self.buy_cash += qty * price
            self.buy_qty += qty
        else:
            self.sell_cash += qty * price
            self.sell_qty += qty
        self.fees += fee
        self.tax += tax
        self.fills += 1

    @property
    def gross(self) -> int | float:
        return self.sell_cash - self.buy_cash

    @property
    def net(self) -> int | float:
        return self.gross - self.fees - self.tax

    @property
    def net_bps(self) -> float | None:
        """Net PnL in bps of the bought notional (None without buys)."""
        return self.net / self.buy_cash * 1e4 if self.buy_cash else None


@dataclass(slots=True)
class _Pair:
    code: str
    cash: _Cash = field(default_factory=_Cash)
    first_fill_ns: int | None = None


@dataclass(slots=True)
class _Symbol:
    signals: int = 0
    pairs_done: int = 0
    pairs_failed: int = 0
    escalated: int = 0
    orders_sent: int = 0
    cancels: int = 0
    rejects: int = 0
    timeouts: int = 0
    cash: _Cash = field(default_factory=_Cash)
    net_bps_sum: float = 0.0
    net_bps_n: int = 0
    unhedged: LatencyStats = field(default_factory=lambda: LatencyStats(exact_capacity=10_000))


def _cfg(config: Any, path: str, default: Any) -> Any:
    """``config.a.b.c`` or ``default`` when ``config`` is None or lacks a part of the path."""
    node = config
    for part in path.split("."):
        if node is None:
            return default
        node = getattr(node, part, None)
    return default if node is None else node


class TelemetryBook:
    """Every counter of a run, fed by :class:`~actors.messages.TelemetryEvent` values.

    Feed events with :meth:`consume`; read the live figures with :meth:`snapshot` and the SPEC §5 run
    report with :meth:`report`. Malformed events never raise: they are counted and described (the first
    :data:`MAX_BAD_EVENT_ERRORS`) in the report's ``errors`` with source ``telemetry``.

    Conventions:

    * ``orders.sent`` counts new orders that reached Kiwoom (``order`` rows ``send`` with ``rc == 0``),
      ``orders.cancels`` cancels that reached it (``cancel_send`` with ``rc == 0``); both count against
      the 5/s cap, so ``max_in_any_1s`` is over both.
    * Reject/timeout rates are per order attempt that reached Kiwoom (sends + cancels), over 5 minutes.
    * ``net_position`` is BUY +qty / SELL −qty of the ``fill`` events, per code that traded.
    * ``pnl_krw``: gross = sell cash − buy cash; fees and tax as given by the caller (already rounded);
      net = gross − fees − tax. KRW.
    * A reject spike (``risk.reject_freeze.rejects`` rejects in ``window_s`` on one code) is detected
      here too, so it is alerted even when kill switches are off.

    Args:
      config: The :class:`~config.schema.EngineConfig` (or None for defaults).
      backend: ``"sim"``, ``"replay"`` or ``"kiwoom"``.
      symbols: The universe size, or the universe's codes.
    """

    def __init__(self, config: Any = None, backend: str = "sim", symbols: int | Sequence[str] = 0) -> None:
        self.config = config
        self.backend = str(backend)
        self.symbols = int(symbols) if isinstance(symbols, (int, np.integer)) else len(list(symbols))
        self.slo_targets_ms = {
            "tick_to_signal": _cfg(config, "telemetry.slo_targets_ms.tick_to_signal_p95", 25),
            "signal_to_send": _cfg(config, "telemetry.slo_targets_ms.signal_to_send_p95", 15),
            "send_to_ack": _cfg(config, "telemetry.slo_targets_ms.send_to_ack_p95", 150),
        }
        self.autopause_threshold = float(_cfg(config, "telemetry.orders_utilization_autopause.threshold", 0.8))
        self.orders_cap_per_s = int(_cfg(config, "kiwoom.rate_limits.orders_per_sec", 5))
        self.reject_spike_count = int(_cfg(config, "risk.reject_freeze.rejects", 3))
        self.reject_spike_window_s = int(_cfg(config, "risk.reject_freeze.window_s", 60))
        self.reject_freeze_s = int(_cfg(config, "risk.reject_freeze.freeze_s", 60))
        self.kill_switches_enabled = bool(_cfg(config, "risk.kill_switches_enabled", True))

        self.ticks = 0
        self.signals = 0
        self.signals_by_direction: Counter[str] = Counter()
        self._signal_bps_sum = 0.0
        self.pairs_done = 0
        self.pairs_failed = 0
        self.pairs_escalated = 0
        self.orders_sent = 0
        self.cancels = 0
        self.rejects = 0
        self.timeouts = 0
        self.refused = 0
        self.denied = 0
        self.order_events: Counter[str] = Counter()
        self.events_by_kind: Counter[str] = Counter()
        self.bad_events = 0
        self.dropped_entries = 0

        self.cash = _Cash()
        self.net_position: dict[str, int] = {}
        self.last_fill_px: dict[str, int | float] = {}
        self._pairs: dict[str, _Pair] = {}
        self._pair_bps_sum = 0.0
        self._pair_bps_n = 0
        self._cum_pair_net: int | float = 0
        self.pnl_timeline: list[tuple[int, int | float]] = []
        self._symbols: dict[str, _Symbol] = {}

        self.latency: dict[str, LatencyStats] = {name: LatencyStats() for name in CORE_LATENCIES + EXTRA_LATENCIES}
        self._sends = MaxInWindow(NS_PER_S)
        self._attempts_5m = RollingRate(RATE_WINDOW_NS)
        self._rejects_5m = RollingRate(RATE_WINDOW_NS)
        self._timeouts_5m = RollingRate(RATE_WINDOW_NS)
        self._ticks_rate = RollingRate(TICK_RATE_WINDOW_NS)
        self._symbol_rejects: dict[str, RollingRate] = {}
        self._last_spike_ns: dict[str, int] = {}

        self.kill_switch_events: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.armed: bool | None = None
        self.session_reason = ""
        self.auto_pause_episodes: list[dict[str, Any]] = []
        self._pause_started_ns: int | None = None
        self._pause_peak = 0.0
        self.paused = False
        self.tokens_free: int | None = None
        self.utilisation: float | None = None
        self._tokens_min: int | None = None
        self._tokens_sum = 0
        self._tokens_n = 0
        self._util_max = 0.0
        self._last_tokens_ns: int | None = None
        self._hot_ns = 0                       # engine time with utilisation ≥ the auto-pause threshold
        self.reported_positions: dict[str, Any] = {}
        self.replay_source: dict[str, Any] | None = None
        self.first_t_ns: int | None = None
        self.last_t_ns: int | None = None

    # -- input -------------------------------------------------------------------------------
    def consume(self, event: TelemetryEvent) -> list[TelemetryEvent]:
        """Account for one event.

        Returns:
          The events worth an alert, derived from this one: the event itself (a ``pair_done`` enriched
          with its ``net_krw``/``net_bps``) and, on the reject that makes a spike, a ``reject_spike``
          event ``{code, rejects, window_s, frozen, freeze_s}``. Malformed events return ``[]``.
        """
        kind = str(event.kind)
        self.events_by_kind[kind] += 1
        try:
            t_ns = int(event.t_ns)
            data = event.data if isinstance(event.data, Mapping) else {}
            if self.first_t_ns is None or t_ns < self.first_t_ns:
                self.first_t_ns = t_ns
            if self.last_t_ns is None or t_ns > self.last_t_ns:
                self.last_t_ns = t_ns
            handler = getattr(self, f"_on_{kind}", None)
            if handler is None:
                return [event]
            derived = handler(event, t_ns, data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._bad_event(event, exc)
            return []
        if derived is None:
            return [event]
        return derived

    def consume_many(self, events: Iterable[TelemetryEvent]) -> list[TelemetryEvent]:
        """:meth:`consume` each event; the alert-worthy events of all of them, in order."""
        out: list[TelemetryEvent] = []
        for ev in events:
            out.extend(self.consume(ev))
        return out

    def _bad_event(self, event: TelemetryEvent, exc: Exception) -> None:
        self.bad_events += 1
        if self.bad_events <= MAX_BAD_EVENT_ERRORS:
            message = f"malformed {event.kind!r} event: {type(exc).__name__}: {exc}"
            log.warning("telemetry: %s", message)
            self._append(self.errors, {"ts": self._ts(event.t_ns), "t_ns": self._safe_int(event.t_ns),
                                       "source": "telemetry", "message": message})

    @staticmethod
    def _safe_int(value: Any) -> int | None:
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    def _ts(self, t_ns: Any) -> str:
        t = self._safe_int(t_ns)
        if t is None:
            return ""
        try:
            return iso_kst(t)
        except (OverflowError, OSError, ValueError):
            return ""

    def _append(self, target: list[dict[str, Any]], entry: dict[str, Any]) -> None:
        if len(target) < MAX_LIST_ENTRIES:
            target.append(entry)
        else:
            self.dropped_entries += 1

    def _symbol(self, code: str) -> _Symbol:
        sym = self._symbols.get(code)
        if sym is None:
            sym = self._symbols[code] = _Symbol()
        return sym

    # -- handlers (one per kind) -------------------------------------------------------------
    def _on_ticks(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> None:
        n = _int(data["n"])
        self.ticks += n
        self._ticks_rate.add(t_ns, n)

    def _on_signal(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> None:
        self.signals += 1
        direction = str(data.get("direction", ""))
        self.signals_by_direction[direction] += 1
        bps = data.get("net_bps")
        if bps is not None:
            self._signal_bps_sum += float(bps)
        code = data.get("code")
        if code is not None:
            self._symbol(normalise_code(code)).signals += 1

    def _on_latency(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> None:
        name = str(data["name"])
        ms = data["ms"]
        samples = ms if isinstance(ms, (list, tuple, np.ndarray)) else (ms,)
        stats = self.latency.get(name)
        if stats is None:
            stats = self.latency[name] = LatencyStats()
        values = [float(v) for v in samples]
        stats.add_many(values)
        if name == "unhedged" and data.get("code"):
            self._symbol(normalise_code(data["code"])).unhedged.add_many(values)

    def _on_order(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> list[TelemetryEvent] | None:
        etype = str(data.get("event_type", ""))
        self.order_events[etype] += 1
        code = normalise_code(data["symbol"]) if data.get("symbol") not in (None, "") else ""
        sym = self._symbol(code) if code else None
        if etype in ("send", "cancel_send"):
            rc = data.get("rc")
            try:
                reached = rc is not None and rc != "" and int(rc) == 0
            except (TypeError, ValueError):
                reached = False
            if not reached:
                self.refused += 1
                return None
            self._sends.add(t_ns)
            self._attempts_5m.add(t_ns)
            if etype == "send":
                self.orders_sent += 1
                if sym:
                    sym.orders_sent += 1
            else:
                self.cancels += 1
                if sym:
                    sym.cancels += 1
        elif etype == "send_refused":
            self.refused += 1
        elif etype == "denied":
            self.denied += 1
        elif etype == "reject":
            self.rejects += 1
            self._rejects_5m.add(t_ns)
            if sym:
                sym.rejects += 1
                return [event] + self._reject_spike(code, t_ns)
        elif etype == "timeout":
            self.timeouts += 1
            self._timeouts_5m.add(t_ns)
            if sym:
                sym.timeouts += 1
        return None

    def _reject_spike(self, code: str, t_ns: int) -> list[TelemetryEvent]:
        window_ns = self.reject_spike_window_s * NS_PER_S
        rate = self._symbol_rejects.get(code)
        if rate is None:
            rate = self._symbol_rejects[code] = RollingRate(window_ns)
        rate.add(t_ns)
        count = rate.count(t_ns)
        last = self._last_spike_ns.get(code)
        if count >= self.reject_spike_count and (last is None or t_ns - last >= window_ns):
            self._last_spike_ns[code] = t_ns
            return [TelemetryEvent("reject_spike", t_ns, {
                "code": code, "rejects": count, "window_s": self.reject_spike_window_s,
                "frozen": self.kill_switches_enabled, "freeze_s": self.reject_freeze_s})]
        return []

    def _on_fill(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> None:
        code = normalise_code(data["code"])
        side = str(data["side"]).upper()
        if side not in ("BUY", "SELL"):
            raise ValueError(f"side must be BUY or SELL, got {data['side']!r}")
        qty = _int(data["qty"])
        price = _num(data["price"])
        fee = _num(data.get("fee_krw") or 0)
        tax = _num(data.get("tax_krw") or 0)
        if qty <= 0:
            raise ValueError(f"fill qty must be > 0, got {qty}")
        self.cash.add(side, qty, price, fee, tax)
        self.net_position[code] = self.net_position.get(code, 0) + (qty if side == "BUY" else -qty)
        self.last_fill_px[code] = price
        self._symbol(code).cash.add(side, qty, price, fee, tax)
        pair_id = data.get("pair_id")
        if pair_id not in (None, ""):
            pair = self._pairs.get(str(pair_id))
            if pair is None:
                pair = self._pairs[str(pair_id)] = _Pair(code=code, first_fill_ns=t_ns)
            pair.cash.add(side, qty, price, fee, tax)

    def _close_pair(self, t_ns: int, data: Mapping[str, Any], done: bool) -> list[TelemetryEvent]:
        code = normalise_code(data.get("code", ""))
        pair_id = data.get("pair_id")
        escalated = bool(data.get("escalated", False))
        if done:
            self.pairs_done += 1
        else:
            self.pairs_failed += 1
        if escalated:
            self.pairs_escalated += 1
        sym = self._symbol(code) if code else None
        if sym:
            if done:
                sym.pairs_done += 1
            else:
                sym.pairs_failed += 1
            sym.escalated += int(escalated)
        enriched = dict(data)
        pair = self._pairs.pop(str(pair_id), None) if pair_id not in (None, "") else None
        if pair is not None and pair.cash.fills:
            net = pair.cash.net
            bps = pair.cash.net_bps
            enriched.setdefault("net_krw", net)
            enriched.setdefault("net_bps", bps)
            self._cum_pair_net += net
            if len(self.pnl_timeline) < MAX_LIST_ENTRIES:
                self.pnl_timeline.append((t_ns, self._cum_pair_net))
            if bps is not None:
                self._pair_bps_sum += bps
                self._pair_bps_n += 1
                if sym:
                    sym.net_bps_sum += bps
                    sym.net_bps_n += 1
        return [TelemetryEvent("pair_done" if done else "pair_failed", t_ns, enriched)]

    def _on_pair_done(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> list[TelemetryEvent]:
        return self._close_pair(t_ns, data, done=True)

    def _on_pair_failed(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> list[TelemetryEvent]:
        return self._close_pair(t_ns, data, done=False)

    def _on_kill_switch(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> None:
        entry = {"ts": iso_kst(t_ns), "t_ns": t_ns, "kind": str(data.get("kind", "")),
                 "code": str(data.get("code", "") or ""), "reason": str(data.get("reason", ""))}
        for key, value in data.items():
            entry.setdefault(str(key), value if isinstance(value, (int, float, str, bool, type(None))) else str(value))
        self._append(self.kill_switch_events, entry)

    def _on_error(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> None:
        self._append(self.errors, {"ts": iso_kst(t_ns), "t_ns": t_ns, "source": str(data.get("source", "")),
                                   "message": str(data.get("message", ""))})

    def _on_replay_source(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> None:
        """What the replay found in its recording: files, the ``fid_41``/``fid_51`` meaning, whether
        the size check could be applied, notes (SPEC §6: said once, and kept in the report)."""
        self.replay_source = {
            "files": [str(f) for f in data.get("files", ())],
            "fid41_meaning": str(data["fid41_meaning"]),
            "size_check_applied": bool(data["size_check_applied"]),
            "assumed_visible_qty": data.get("assumed_visible_qty"),
            "description": str(data.get("description", "")),
            "rows_read": data.get("rows_read"), "rows_replayed": data.get("rows_replayed"),
            "notes": [str(n) for n in data.get("notes", ())],
        }

    def _on_session(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> None:
        self.armed = bool(data.get("armed", False))
        self.session_reason = str(data.get("reason", ""))
        self._append(self.sessions, {"ts": iso_kst(t_ns), "t_ns": t_ns, "armed": self.armed,
                                     "reason": self.session_reason, "code": str(data.get("code", "") or "")})

    def _on_auto_pause(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> None:
        on = bool(data["on"])
        util = data.get("utilisation")
        if util is not None:
            self.utilisation = float(util)
            self._util_max = max(self._util_max, self.utilisation)
        if on and self._pause_started_ns is None:
            self._pause_started_ns = t_ns
            self._pause_peak = self.utilisation or 0.0
        elif on:
            self._pause_peak = max(self._pause_peak, self.utilisation or 0.0)
        elif not on and self._pause_started_ns is not None:
            start = self._pause_started_ns
            self._append(self.auto_pause_episodes, {
                "start": iso_kst(start), "end": iso_kst(t_ns), "start_ns": start, "end_ns": t_ns,
                "duration_s": (t_ns - start) / NS_PER_S, "peak_utilisation": self._pause_peak})
            self._pause_started_ns = None
        self.paused = on

    def _on_tokens(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> None:
        if self._last_tokens_ns is not None and self.utilisation is not None \
                and self.utilisation >= self.autopause_threshold and t_ns > self._last_tokens_ns:
            self._hot_ns += t_ns - self._last_tokens_ns
        self._last_tokens_ns = t_ns if self._last_tokens_ns is None else max(self._last_tokens_ns, t_ns)
        if data.get("free") is not None:
            free = _int(data["free"])
            self.tokens_free = free
            self._tokens_min = free if self._tokens_min is None else min(self._tokens_min, free)
            self._tokens_sum += free
            self._tokens_n += 1
        if data.get("utilisation") is not None:
            self.utilisation = float(data["utilisation"])
            self._util_max = max(self._util_max, self.utilisation)
        if data.get("paused") is not None:
            self.paused = bool(data["paused"])

    def _on_position(self, event: TelemetryEvent, t_ns: int, data: Mapping[str, Any]) -> None:
        code = normalise_code(data["code"])
        self.reported_positions[code] = {k: v for k, v in data.items() if k != "code"}

    # -- derived figures ---------------------------------------------------------------------
    def pair_result(self, pair_id: str) -> tuple[int | float, float | None] | None:
        """``(net_krw, net_bps)`` of the fills seen so far for an open ``pair_id``, or None."""
        pair = self._pairs.get(str(pair_id))
        if pair is None:
            return None
        return pair.cash.net, pair.cash.net_bps

    def _rate(self, num: RollingRate, now_ns: int) -> float | None:
        den = self._attempts_5m.count(now_ns)
        return num.count(now_ns) / den if den else None

    @property
    def max_in_any_1s(self) -> int:
        """Most orders + cancels that reached Kiwoom in any 1-second window."""
        return self._sends.value

    def pnl(self) -> dict[str, int | float]:
        """``{"gross", "fees", "tax", "net"}`` in KRW."""
        return {"gross": self.cash.gross, "fees": self.cash.fees, "tax": self.cash.tax, "net": self.cash.net}

    def marked_net_krw(self) -> int | float:
        """The live net PnL: :func:`core.costs.marked_net_krw` of the fills so far (KRW)."""
        return marked_net_krw(self.cash.net, self.net_position, self.last_fill_px)

    def snapshot(self, now_ns: int | None = None) -> dict[str, Any]:
        """Live figures at ``now_ns`` (default: the newest event time) for the status line, GUI and metrics."""
        now = int(now_ns) if now_ns is not None else (self.last_t_ns or 0)
        return {
            "t_ns": now,
            "backend": self.backend,
            "ticks": self.ticks,
            "ticks_per_s": self._ticks_rate.per_second(now),
            "signals": self.signals,
            "orders_sent": self.orders_sent,
            "cancels": self.cancels,
            "rejects": self.rejects,
            "timeouts": self.timeouts,
            "orders_last_1s": self._sends.count_at(now),
            "max_in_any_1s": self.max_in_any_1s,
            "attempts_5m": self._attempts_5m.count(now),
            "rejects_5m": self._rejects_5m.count(now),
            "timeouts_5m": self._timeouts_5m.count(now),
            "reject_rate_5m": self._rate(self._rejects_5m, now),
            "timeout_rate_5m": self._rate(self._timeouts_5m, now),
            "utilisation": self.utilisation,
            "tokens_free": self.tokens_free,
            "paused": self.paused,
            "armed": self.armed,
            "session_reason": self.session_reason,
            "pairs_done": self.pairs_done,
            "pairs_failed": self.pairs_failed,
            "pairs_escalated": self.pairs_escalated,
            "pnl_krw": self.pnl(),
            "pnl_marked_net_krw": self.marked_net_krw(),
            "open_positions": sum(1 for q in self.net_position.values() if q),
            "latency_p95_ms": {name: st.percentile(95) for name, st in self.latency.items()},
            "kill_switch_events": len(self.kill_switch_events),
            "errors": len(self.errors),
        }

    def report(self) -> dict[str, Any]:
        """The SPEC §5 run report (plain JSON-serialisable dict), with details under ``extra``."""
        now = self.last_t_ns or 0
        latency = {name: self.latency[name].summary() for name in CORE_LATENCIES}
        rep: dict[str, Any] = {
            "backend": self.backend,
            "symbols": self.symbols,
            "ticks": self.ticks,
            "signals": self.signals,
            "pairs": {"done": self.pairs_done, "failed": self.pairs_failed, "escalated": self.pairs_escalated},
            "orders": {"sent": self.orders_sent, "cancels": self.cancels, "rejects": self.rejects,
                       "timeouts": self.timeouts, "max_in_any_1s": self.max_in_any_1s},
            "net_position": {code: int(q) for code, q in sorted(self.net_position.items())},
            "pnl_krw": self.pnl(),
            "latency_ms": latency,
            "kill_switch_events": list(self.kill_switch_events),
            "errors": list(self.errors),
            "extra": self._extra(now, latency),
        }
        return rep

    def _extra(self, now: int, latency: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        attempts = self.orders_sent + self.cancels
        slo = {}
        for name, target in self.slo_targets_ms.items():
            p95 = latency[name]["p95"]
            slo[name] = {"target_p95_ms": target, "measured_p95_ms": p95,
                         "met": None if p95 is None else bool(p95 <= target)}
        pause_open = None
        if self._pause_started_ns is not None:
            pause_open = {"start": iso_kst(self._pause_started_ns), "start_ns": self._pause_started_ns,
                          "duration_s": (now - self._pause_started_ns) / NS_PER_S}
        pause_total = sum(e["duration_s"] for e in self.auto_pause_episodes) + (pause_open or {}).get("duration_s", 0)
        symbols_table = []
        for code, s in sorted(self._symbols.items()):
            symbols_table.append({
                "code": code, "signals": s.signals, "pairs_done": s.pairs_done, "pairs_failed": s.pairs_failed,
                "escalated": s.escalated, "orders_sent": s.orders_sent, "cancels": s.cancels,
                "rejects": s.rejects, "timeouts": s.timeouts,
                "reject_rate": s.rejects / (s.orders_sent + s.cancels) if s.orders_sent + s.cancels else None,
                "fills": s.cash.fills, "buy_qty": s.cash.buy_qty, "sell_qty": s.cash.sell_qty,
                "net_position": self.net_position.get(code, 0),
                "gross_krw": s.cash.gross, "fees_krw": s.cash.fees, "tax_krw": s.cash.tax, "net_krw": s.cash.net,
                "avg_net_bps": s.net_bps_sum / s.net_bps_n if s.net_bps_n else None,
                "unhedged_p95_ms": s.unhedged.percentile(95),
            })
        symbols_table.sort(key=lambda r: (-r["net_krw"], r["code"]))
        closed = self.pairs_done + self.pairs_failed
        return {
            "slo": slo,
            "latency_ms": {name: st.summary() for name, st in self.latency.items() if name not in CORE_LATENCIES},
            "latency_detail": {name: st.stats() for name, st in self.latency.items()},
            "orders": {
                "attempts": attempts, "refused": self.refused, "denied": self.denied,
                "by_event_type": dict(sorted(self.order_events.items())),
                "reject_rate": self.rejects / attempts if attempts else None,
                "timeout_rate": self.timeouts / attempts if attempts else None,
                "cancel_ratio": self.cancels / self.orders_sent if self.orders_sent else None,
                "rejects_last_5m": self._rejects_5m.count(now), "timeouts_last_5m": self._timeouts_5m.count(now),
                "reject_rate_last_5m": self._rate(self._rejects_5m, now),
                "timeout_rate_last_5m": self._rate(self._timeouts_5m, now),
                "orders_cap_per_s": self.orders_cap_per_s,
            },
            "pairs": {
                "hit_rate": self.pairs_done / closed if closed else None,
                "avg_net_bps": self._pair_bps_sum / self._pair_bps_n if self._pair_bps_n else None,
                "open_with_fills": sum(1 for p in self._pairs.values() if p.cash.fills),
            },
            "pnl": {"buy_cash_krw": self.cash.buy_cash, "sell_cash_krw": self.cash.sell_cash,
                    "buy_qty": self.cash.buy_qty, "sell_qty": self.cash.sell_qty, "fills": self.cash.fills},
            "flat": all(q == 0 for q in self.net_position.values()),
            "signals": {"by_direction": dict(sorted(self.signals_by_direction.items())),
                        "avg_net_bps": self._signal_bps_sum / self.signals if self.signals else None},
            "auto_pause": {"episodes": list(self.auto_pause_episodes), "count": len(self.auto_pause_episodes),
                           "open": pause_open, "total_s": pause_total},
            "tokens": {"last_free": self.tokens_free, "min_free": self._tokens_min,
                       "mean_free": self._tokens_sum / self._tokens_n if self._tokens_n else None,
                       "last_utilisation": self.utilisation, "max_utilisation": self._util_max,
                       "time_at_or_above_threshold_s": self._hot_ns / NS_PER_S,
                       "threshold": self.autopause_threshold},
            "sessions": list(self.sessions),
            "symbols_table": symbols_table,
            "pnl_timeline": [[t, v] for t, v in self.pnl_timeline],
            "reported_positions": dict(self.reported_positions),
            "replay": dict(self.replay_source) if self.replay_source is not None else None,
            "events_by_kind": dict(sorted(self.events_by_kind.items())),
            "period": {
                "first_t_ns": self.first_t_ns, "last_t_ns": self.last_t_ns,
                "first_ts": iso_kst(self.first_t_ns) if self.first_t_ns is not None else None,
                "last_ts": iso_kst(self.last_t_ns) if self.last_t_ns is not None else None,
                "duration_s": (self.last_t_ns - self.first_t_ns) / NS_PER_S if self.first_t_ns is not None else 0.0,
            },
            "telemetry": {"bad_events": self.bad_events, "dropped_list_entries": self.dropped_entries},
        }

