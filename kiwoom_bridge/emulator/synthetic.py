"""A seeded synthetic KRX/NXT market: the default market source of the ``sim`` backend.

Model (per symbol; all randomness from one seeded :class:`numpy.random.Generator`, so a seed and the
parameters fix every event):

* **Starting price** ``p0``: log-uniform in 2,000–300,000 KRW, snapped to the tick grid. It also serves as
  the previous close for 전일대비/등락율.
* **Fair value** ``F``: a random walk in log price, ``volatility_bps_per_sqrt_s`` basis points per √s
  (default 3 bp/√s ≈ 5 % over a trading day), kept inside ±25 % of ``p0`` (the daily price limits are ±30 %).
* **Venue value** ``L_v = F · exp(ε_v)``, ``ε_v`` independent per update with a standard deviation chosen
  so that the correlation of one-second KRX and NXT moves is ``params.correlation``. With the default
  0.95 this noise is well under a tick, so both venues mostly show the same quote and differ by one tick
  when ``F`` is near a tick boundary — never by enough for an edge on their own.
* **Quotes**: bid = ``L_v`` rounded down to the grid, ask one tick above (two ticks on 15 % of updates,
  widened on a random side). Ask > bid on every update, so a venue's book is never crossed or locked.
* **Sizes**: log-uniform integers in ``size_min..size_max`` shares on KRX; NXT sizes are
  ``nxt_size_factor`` (0.35) of a KRX draw (NXT books are thinner).
* **Update times**: a Poisson process of ``updates_per_symbol_per_s`` per symbol per venue (or ``rate`` in
  total), merged across symbols and venues in time order. A fraction ``trade_fraction`` (0.2) of updates
  are 주식체결 trade prints: a trade at the venue's current bid or ask (``last``) with a quantity
  (``last_qty``, skewed small, at most one visible size) and the running cumulative volume; the others are
  주식호가잔량 book updates carrying best ask/bid prices and sizes.
* **Dislocations**: a Poisson process of ``dislocation_rate_per_min`` per symbol. A dislocation picks one
  venue, a direction and ``dislocation_ticks_min..max`` ticks; that venue's quotes are shifted by that many
  grid steps for ``dislocation_ms``, then revert. An extra book update is emitted on that venue at the start
  and at the end. A dislocation that would start while another is active on the same symbol is dropped, so
  the realised rate is slightly below the configured one. Shifting one venue's ask and bid by ``k`` ticks
  gives a gross cross-venue edge of ``k − 1`` ticks (one spread is paid), i.e. a net edge of ≥ 1 tick after
  ≈ 23 bp of 2026 costs whenever ``(k − 2) · tick ≥ 23 bp · price`` — for a large share of dislocations of 4
  or more ticks.

* **Volatility interruptions** (SPEC §11): a Poisson process of ``vi_per_symbol_per_hour`` per symbol *and
  venue*. A VI puts the code on that venue into a call of ``vi_call_s`` plus a uniform random close within
  ``vi_random_end_s`` (2 min + ≤ 30 s by default): a ``VI발동/해제`` start row (its ``last`` the trigger price,
  the fair value on the grid at the chunk's start; its kind dynamic 60 %, static 35 %, both 5 %) and an end row
  (no price: the exchange uncrosses at its book's mid). Meanwhile that venue prints no trade for the code (a
  call has no trades; its quotes go on, as an indicative book). A new VI of a stream starts only in a chunk
  where none was active. VIs draw from their own generator (seeded from ``seed``): the rest of the market is
  the same with them on or off, apart from the prints they suppress.

Events are generated in vectorised chunks of ``chunk_s`` simulated seconds (1 s) with fixed boundaries,
so the sequence does not depend on how callers pop it.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from config.schema import SimMarket
from core.clock import NS_PER_S
from core.ticks import price_at_tick_index, round_to_tick, tick_index

# EventBatch and its codes live in kiwoom_bridge.event_batch (the replay reader needs them too); re-exported here.
from kiwoom_bridge.event_batch import (
    REAL_TYPE_CODES,
    RT_QUOTE,
    RT_TRADE,
    RT_VI_END,
    RT_VI_START,
    VENUE_CODES,
    EventBatch,
)
from kiwoom_bridge.types import QuoteEvent

__all__ = [
    "REAL_TYPE_CODES",
    "RT_QUOTE",
    "RT_TRADE",
    "VENUE_CODES",
    "EventBatch",
    "SyntheticMarket",
]

_START_PRICE_MIN_KRW = 2_000.0
_START_PRICE_MAX_KRW = 300_000.0
_PRICE_BAND = 0.25                      # the fair value stays within ±25 % of the starting price


class SyntheticMarket:
    """The synthetic market source (satisfies ``kiwoom_bridge.emulator.source.MarketSource``).

    Args:
      codes: The symbols (6-digit codes), in the order used by ``EventBatch.code_idx``.
      markets: Optional code → ``"KOSPI"``/``"KOSDAQ"`` (kept as :attr:`markets`; missing codes are KOSPI).
        The model does not depend on it.
      start_ns: Time of the first possible event, ns since the Unix epoch (required).
      end_ns: Events strictly before this time only (None = endless).
      params: ``cfg.sim.market`` (:class:`config.schema.SimMarket`, or anything with its attributes).
      seed: Seed of the generator (``cfg.sim.seed``).
      rate: If given, the total number of updates per second over all symbols and both venues (trade prints
        included; the few dislocation start/end updates come on top); it overrides
        ``params.updates_per_symbol_per_s``. For benchmarks that need exactly N updates/s.
      chunk_s: Simulated seconds generated per vectorised chunk.
      volatility_bps_per_sqrt_s: Volatility of the fair value, basis points per √second.
      trade_fraction: Share of updates that are 주식체결 trade prints.
      two_tick_spread_fraction: Share of book updates quoting a two-tick spread (the rest quote one tick).
      nxt_size_factor: NXT sizes relative to KRX sizes.
      initial_snapshot: Emit one book update per symbol and venue at ``start_ns`` so that every book is
        populated from the start (what the engine's initial TR query would give live).

    Attributes:
      codes, start_ns, end_ns, markets, seed, start_prices (int64 KRW per code), adds_latency (True: the
      emulator adds market-data latency), sizes_known (True), description.
    """

    adds_latency: bool = True
    sizes_known: bool = True

    def __init__(self, codes: Sequence[str], markets: Mapping[str, str] | None = None, start_ns: int | None = None,
                 end_ns: int | None = None, params: Any = None, seed: int = 7, *, rate: float | None = None,
                 chunk_s: float = 1.0, volatility_bps_per_sqrt_s: float = 3.0, trade_fraction: float = 0.2,
                 two_tick_spread_fraction: float = 0.15, nxt_size_factor: float = 0.35,
                 initial_snapshot: bool = True) -> None:
        self.codes: tuple[str, ...] = tuple(codes)
        if not self.codes:
            raise ValueError("SyntheticMarket needs at least one code")
        if len(set(self.codes)) != len(self.codes):
            raise ValueError("SyntheticMarket codes must be unique")
        if start_ns is None:
            raise TypeError("start_ns (epoch nanoseconds of the first possible event) is required")
        if isinstance(start_ns, bool) or not isinstance(start_ns, (int, np.integer)):
            raise TypeError(f"start_ns must be an int of epoch nanoseconds, got {type(start_ns).__name__}")
        if end_ns is not None and end_ns <= start_ns:
            raise ValueError(f"end_ns ({end_ns}) must be after start_ns ({start_ns})")
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be > 0 updates/s, got {rate}")
        if not chunk_s > 0:
            raise ValueError(f"chunk_s must be > 0 seconds, got {chunk_s}")
        if not 0 <= trade_fraction <= 1 or not 0 <= two_tick_spread_fraction <= 1:
            raise ValueError("trade_fraction and two_tick_spread_fraction must lie in [0, 1]")
        if not 0 < nxt_size_factor <= 1:
            raise ValueError(f"nxt_size_factor must lie in (0, 1], got {nxt_size_factor}")
        if volatility_bps_per_sqrt_s < 0:
            raise ValueError(f"volatility_bps_per_sqrt_s must be ≥ 0, got {volatility_bps_per_sqrt_s}")
        p = params if params is not None else SimMarket()
        self.params = p
        self.markets: dict[str, str] = {c: (markets or {}).get(c, "KOSPI") for c in self.codes}
        self.start_ns = int(start_ns)
        self.end_ns = None if end_ns is None else int(end_ns)
        self.seed = int(seed)
        n = len(self.codes)
        self._n = n
        self._lam = float(rate) / (2 * n) if rate is not None else float(p.updates_per_symbol_per_s)
        self._disl_per_s = float(p.dislocation_rate_per_min) / 60.0
        self._disl_ns = int(p.dislocation_ms) * 1_000_000
        self._disl_min = int(p.dislocation_ticks_min)
        self._disl_max = int(p.dislocation_ticks_max)
        self._size_min = int(p.size_min)
        self._size_max = int(p.size_max)
        self._sigma = volatility_bps_per_sqrt_s / 1e4                     # log-price per √s
        rho = max(float(p.correlation), 0.01)
        # var(ΔF over 1 s) = σ²; var(ε_K − ε_N) = 2 s²; corr of 1-s venue moves = σ² / (σ² + 2 s²) = ρ.
        self._noise = self._sigma * math.sqrt((1.0 - rho) / (2.0 * rho))
        self._trade_fraction = float(trade_fraction)
        self._two_tick = float(two_tick_spread_fraction)
        self._nxt_factor = float(nxt_size_factor)
        self._chunk_ns = max(1, int(round(chunk_s * NS_PER_S)))
        self._snapshot_due = bool(initial_snapshot)

        self._rng = np.random.default_rng(self.seed)
        u = self._rng.uniform(math.log(_START_PRICE_MIN_KRW), math.log(_START_PRICE_MAX_KRW), n)
        self.start_prices: np.ndarray = np.asarray(round_to_tick(np.exp(u), "nearest"), dtype=np.int64)
        self._ref = self.start_prices.astype(np.float64)
        # Start the fair value mid-way between the bid (p0) and the next tick so the first quote is p0 / p0+tick.
        self._logf = np.log(self._ref) + 1e-9
        self._logf_lo = np.log(self._ref * (1 - _PRICE_BAND))
        self._logf_hi = np.log(self._ref * (1 + _PRICE_BAND))
        self._last_t = np.full(n, self.start_ns, dtype=np.int64)
        self._cum = np.zeros(2 * n, dtype=np.int64)
        self._d_start = np.zeros(n, dtype=np.int64)
        self._d_end = np.zeros(n, dtype=np.int64)       # 0 or ≤ now: no active dislocation
        self._d_venue = np.zeros(n, dtype=np.int64)
        self._d_shift = np.zeros(n, dtype=np.int64)
        self._disl_log: list[np.ndarray] = []

        # volatility interruptions per stream (2·symbol + venue): their own generator, current interval
        self._vi_per_s = float(getattr(p, "vi_per_symbol_per_hour", 0.0)) / 3600.0
        self._vi_call_ns = int(getattr(p, "vi_call_s", 120)) * NS_PER_S
        self._vi_rand_ns = int(getattr(p, "vi_random_end_s", 30)) * NS_PER_S
        self._vi_rng = np.random.default_rng([self.seed, 0x5649])
        self._vi_start = np.zeros(2 * n, dtype=np.int64)
        self._vi_end = np.zeros(2 * n, dtype=np.int64)       # 0 or ≤ now: no VI
        self.vi_started = 0

        self._horizon = self.start_ns                   # events before this time have been generated
        self._pending: deque[EventBatch] = deque()
        self._cursor = 0                                # rows of _pending[0] already popped
        self.events_generated = 0

        total = self._lam * 2 * n
        self.description = (
            f"synthetic market: {n} symbols × 2 venues, seed {self.seed}, {total:,.0f} updates/s "
            f"({self._lam:g} per symbol per venue, {self._trade_fraction:.0%} trade prints), dislocations "
            f"{p.dislocation_rate_per_min:g}/min/symbol of {self._disl_min}–{self._disl_max} ticks for "
            f"{p.dislocation_ms} ms, correlation {p.correlation:g}, sizes {self._size_min}–{self._size_max} "
            f"shares")

    @classmethod
    def from_config(cls, cfg: Any, codes: Sequence[str], start_ns: int, markets: Mapping[str, str] | None = None,
                    end_ns: int | None = None, rate: float | None = None) -> SyntheticMarket:
        """Build from an :class:`config.schema.EngineConfig` (``cfg.sim.market`` and ``cfg.sim.seed``)."""
        return cls(codes, markets, start_ns, end_ns, cfg.sim.market, cfg.sim.seed, rate=rate)

    # ---------------------------------------------------------------------------------- the protocol
    @property
    def total_rate(self) -> float:
        """Expected updates per second over all symbols and venues (without dislocation updates)."""
        return self._lam * 2 * self._n

    def _exhausted_generation(self) -> bool:
        return self.end_ns is not None and self._horizon >= self.end_ns

    def peek_time_ns(self) -> int | None:
        """Time of the next event (ns since the epoch), or None when ``end_ns`` has been reached."""
        while True:
            while self._pending and self._cursor >= len(self._pending[0]):
                self._pending.popleft()
                self._cursor = 0
            if self._pending:
                return int(self._pending[0].t_ns[self._cursor])
            if self._exhausted_generation():
                return None
            self._generate_chunk()

    def pop_arrays_until(self, t_ns: int) -> EventBatch:
        """Every remaining event with time ≤ ``t_ns``, as columns, in time order."""
        while self._horizon <= t_ns and not self._exhausted_generation():
            self._generate_chunk()
        parts: list[EventBatch] = []
        while self._pending:
            head = self._pending[0]
            stop = int(np.searchsorted(head.t_ns, t_ns, side="right"))
            if stop > self._cursor:
                parts.append(head.slice(self._cursor, stop))
            if stop >= len(head):
                self._pending.popleft()
                self._cursor = 0
                continue
            self._cursor = max(self._cursor, stop)
            break
        return EventBatch.concat(parts)

    def pop_until(self, t_ns: int) -> list[QuoteEvent]:
        """Every remaining event with time ≤ ``t_ns`` as :class:`QuoteEvent` objects, in time order."""
        return self.pop_arrays_until(t_ns).to_events(self.codes, True)

    def dislocation_log(self) -> dict[str, np.ndarray]:
        """Every dislocation started so far, as int64 arrays.

        Keys: ``code_idx``, ``venue`` (0 KRX / 1 NXT), ``start_ns``, ``end_ns`` (epoch ns) and ``shift_ticks``
        (signed grid steps applied to that venue's ask and bid).
        """
        if self._disl_log:
            rows = np.concatenate(self._disl_log, axis=0)
        else:
            rows = np.zeros((0, 5), dtype=np.int64)
        return {"code_idx": rows[:, 0], "venue": rows[:, 1], "start_ns": rows[:, 2], "end_ns": rows[:, 3],
                "shift_ticks": rows[:, 4]}

    # ---------------------------------------------------------------------------------- generation
    def _generate_chunk(self) -> None:
        t0 = self._horizon
        t1 = t0 + self._chunk_ns
        if self.end_ns is not None:
            t1 = min(t1, self.end_ns)
        span = t1 - t0
        span_s = span / NS_PER_S
        rng = self._rng
        n = self._n

        # Regular updates: Poisson counts per stream (stream = 2·symbol + venue), uniform times.
        counts = rng.poisson(self._lam * span_s, size=2 * n)
        stream = np.repeat(np.arange(2 * n, dtype=np.int64), counts)
        t = t0 + (rng.random(stream.size) * span).astype(np.int64)
        trade = rng.random(stream.size) < self._trade_fraction
        if self._snapshot_due:
            self._snapshot_due = False
            stream = np.concatenate([np.arange(2 * n, dtype=np.int64), stream])
            t = np.concatenate([np.full(2 * n, t0, dtype=np.int64), t])
            trade = np.concatenate([np.zeros(2 * n, dtype=bool), trade])

        # Dislocations: new starts, overlap filter, the intervals active in this chunk.
        d_counts = rng.poisson(self._disl_per_s * span_s, size=n)
        d_sym = np.repeat(np.arange(n, dtype=np.int64), d_counts)
        d_start = t0 + (rng.random(d_sym.size) * span).astype(np.int64)
        d_venue = rng.integers(0, 2, d_sym.size)
        d_mag = rng.integers(self._disl_min, self._disl_max + 1, d_sym.size)
        d_sign = np.where(rng.random(d_sym.size) < 0.5, -1, 1)
        o = np.lexsort((d_start, d_sym))
        d_sym, d_start, d_venue, d_shift = d_sym[o], d_start[o], d_venue[o], (d_mag * d_sign)[o]
        keep = d_start >= self._d_end[d_sym]
        same = np.zeros(d_sym.size, dtype=bool)
        same[1:] = d_sym[1:] == d_sym[:-1]
        close = np.zeros(d_sym.size, dtype=bool)
        close[1:] = (d_start[1:] - d_start[:-1]) < self._disl_ns
        keep &= ~(same & close)
        d_sym, d_start, d_venue, d_shift = d_sym[keep], d_start[keep], d_venue[keep], d_shift[keep]
        d_end = d_start + self._disl_ns
        if d_sym.size:
            self._disl_log.append(np.stack([d_sym, d_venue, d_start, d_end, d_shift], axis=1))

        carried = np.nonzero(self._d_end > t0)[0]
        i_sym = np.concatenate([carried, d_sym])
        i_start = np.concatenate([self._d_start[carried], d_start])
        i_end = np.concatenate([self._d_end[carried], d_end])
        i_venue = np.concatenate([self._d_venue[carried], d_venue])
        i_shift = np.concatenate([self._d_shift[carried], d_shift])
        if d_sym.size:   # the latest interval per symbol becomes the state carried into the next chunk
            last = np.ones(d_sym.size, dtype=bool)
            last[:-1] = d_sym[:-1] != d_sym[1:]
            s = d_sym[last]
            self._d_start[s], self._d_end[s] = d_start[last], d_end[last]
            self._d_venue[s], self._d_shift[s] = d_venue[last], d_shift[last]

        # Extra book updates on the dislocated venue at each start and at each end inside the chunk.
        ends_here = i_end < t1
        stream = np.concatenate([stream, 2 * d_sym + d_venue, 2 * i_sym[ends_here] + i_venue[ends_here]])
        t = np.concatenate([t, d_start, i_end[ends_here]])
        trade = np.concatenate([trade, np.zeros(d_sym.size + int(ends_here.sum()), dtype=bool)])
        m = stream.size
        sym = stream >> 1
        venue = stream & 1
        vi_rows = self._vi_chunk(t0, t1)
        if vi_rows is not None and m:
            # a stream in its VI's call prints nothing (its quotes go on)
            in_vi = (t >= self._vi_start[stream]) & (t < self._vi_end[stream])
            trade = trade & ~in_vi

        # Dislocation shift in force at each event (intervals of one symbol never overlap).
        shift = np.zeros(m, dtype=np.int64)
        if i_sym.size and m:
            base = int(min(t0, int(i_start.min()))) - 1
            width = t1 - base + 1
            i_key = i_sym * width + (i_start - base)
            io = np.argsort(i_key, kind="stable")
            i_key, i_sym_s, i_end_s, i_venue_s, i_shift_s = (
                i_key[io], i_sym[io], i_end[io], i_venue[io], i_shift[io])
            pos = np.searchsorted(i_key, sym * width + (t - base), side="right") - 1
            ok = pos >= 0
            posc = np.where(ok, pos, 0)
            hit = ok & (i_sym_s[posc] == sym) & (t < i_end_s[posc]) & (i_venue_s[posc] == venue)
            shift = np.where(hit, i_shift_s[posc], 0)

        # Fair value: random walk per symbol at its event times.
        log_l = np.zeros(m)
        if m:
            o = np.lexsort((t, sym))
            s_sym, s_t = sym[o], t[o]
            first = np.ones(m, dtype=bool)
            first[1:] = s_sym[1:] != s_sym[:-1]
            prev_t = np.empty(m, dtype=np.int64)
            prev_t[1:] = s_t[:-1]
            prev_t[first] = self._last_t[s_sym[first]]
            dt_s = np.maximum(s_t - prev_t, 0) / NS_PER_S
            inc = self._sigma * np.sqrt(dt_s) * rng.standard_normal(m)
            cs = np.cumsum(inc)
            group_start = np.nonzero(first)[0]
            offset = np.repeat(cs[group_start] - inc[group_start], np.diff(np.append(group_start, m)))
            s_logf = np.clip(self._logf[s_sym] + cs - offset, self._logf_lo[s_sym], self._logf_hi[s_sym])
            last = np.ones(m, dtype=bool)
            last[:-1] = first[1:]
            self._logf[s_sym[last]] = s_logf[last]
            self._last_t[s_sym[last]] = s_t[last]
            log_l[o] = s_logf
            log_l += self._noise * rng.standard_normal(m)

        # Quotes on the grid: bid ≤ L < bid + tick; spread 1 tick (sometimes 2); dislocation shift.
        bid_floor = np.asarray(round_to_tick(np.exp(log_l), "down"), dtype=np.int64) if m else np.zeros(0, np.int64)
        idx_b = np.asarray(tick_index(bid_floor), dtype=np.int64) if m else np.zeros(0, np.int64)
        wide = rng.random(m) < self._two_tick
        widen_down = wide & (rng.random(m) < 0.5)
        idx_b = idx_b - widen_down + shift
        idx_b = np.maximum(idx_b, 1)
        idx_a = idx_b + 1 + wide
        bid = np.asarray(price_at_tick_index(idx_b), dtype=np.int64) if m else np.zeros(0, np.int64)
        ask = np.asarray(price_at_tick_index(idx_a), dtype=np.int64) if m else np.zeros(0, np.int64)

        # Sizes (book updates only): log-uniform on KRX, thinner on NXT.
        lo, hi = math.log(self._size_min), math.log(self._size_max + 1)
        factor = np.where(venue == 1, self._nxt_factor, 1.0)
        draw = np.exp(rng.uniform(lo, hi, (2, m)))
        sizes = np.clip(np.floor(draw * factor), self._size_min, self._size_max).astype(np.int64)
        ask_qty = np.where(trade, 0, sizes[0])
        bid_qty = np.where(trade, 0, sizes[1])

        # Trade prints at the bid or the ask, quantity skewed small, at most one visible size.
        buy = rng.random(m) < 0.5
        u = rng.random(m)
        last_px = np.where(trade, np.where(buy, ask, bid), 0)
        last_qty = np.where(trade, np.minimum(1 + np.floor(u * u * sizes[0]).astype(np.int64), sizes[0]), 0)
        cum = np.zeros(m, dtype=np.int64)
        if trade.any():
            ti = np.nonzero(trade)[0]
            o2 = ti[np.lexsort((t[ti], stream[ti]))]
            st, q = stream[o2], last_qty[o2]
            first = np.ones(o2.size, dtype=bool)
            first[1:] = st[1:] != st[:-1]
            cs = np.cumsum(q)
            gs = np.nonzero(first)[0]
            off = np.repeat(cs[gs] - q[gs], np.diff(np.append(gs, o2.size)))
            cum[o2] = self._cum[st] + cs - off
            lastg = np.ones(o2.size, dtype=bool)
            lastg[:-1] = first[1:]
            self._cum[st[lastg]] = cum[o2][lastg]
        ref = self.start_prices[sym]
        change = np.where(trade, last_px - ref, 0)
        change_rate = np.where(trade, np.round(100.0 * change / ref, 2), 0.0)

        rtype = trade.astype(np.uint8)
        if vi_rows is not None:
            v_t, v_stream, v_rt, v_px, v_kind = vi_rows
            k = v_t.size
            z = np.zeros(k, dtype=np.int64)
            t, stream = np.concatenate([t, v_t]), np.concatenate([stream, v_stream])
            sym, venue = stream >> 1, stream & 1
            rtype = np.concatenate([rtype, v_rt])
            ask, bid = np.concatenate([ask, z]), np.concatenate([bid, z])
            ask_qty, bid_qty = np.concatenate([ask_qty, z]), np.concatenate([bid_qty, z])
            last_px, last_qty = np.concatenate([last_px, v_px]), np.concatenate([last_qty, v_kind])
            cum, change = np.concatenate([cum, z]), np.concatenate([change, z])
            change_rate = np.concatenate([change_rate, np.zeros(k)])
            m += k
        order = np.lexsort((stream, t))
        batch = EventBatch(
            t[order], sym[order].astype(np.int32), venue[order].astype(np.uint8),
            rtype[order], ask[order], bid[order], ask_qty[order], bid_qty[order],
            last_px[order], last_qty[order], cum[order], change[order], change_rate[order])
        self._horizon = t1
        self.events_generated += m
        if m:
            self._pending.append(batch)

    def _vi_chunk(self, t0: int, t1: int) -> tuple[np.ndarray, ...] | None:
        """The VI rows of the chunk [t0, t1): (t, stream, real type, price, kind code), updating the intervals.
        None when VIs are off."""
        if self._vi_per_s <= 0:
            return None
        rng = self._vi_rng
        n2 = 2 * self._n
        span = t1 - t0
        # ends inside this chunk [t0, t1), its first instant included (the previous chunk emitted ends < t0 only)
        ending = np.flatnonzero((self._vi_end >= t0) & (self._vi_end <= t1 - 1))
        # starts: only streams with no VI at any time of this chunk (one ending at t0 was active at t0)
        free = self._vi_end < t0
        starts = rng.random(n2) < -np.expm1(-self._vi_per_s * span / NS_PER_S)
        u = rng.random(n2)
        dur_u = rng.random(n2)
        kind_u = rng.random(n2)
        new = np.flatnonzero(starts & free)
        st = t0 + (u[new] * span).astype(np.int64)
        self._vi_start[new] = st
        self._vi_end[new] = st + self._vi_call_ns + (dur_u[new] * self._vi_rand_ns).astype(np.int64)
        self.vi_started += int(new.size)
        # the new VIs that also end in this chunk (a very short call) end here too
        ending = np.union1d(ending, new[self._vi_end[new] <= t1 - 1])
        kind = np.where(kind_u < 0.60, 2, np.where(kind_u < 0.95, 1, 3)).astype(np.int64)
        trigger = np.asarray(round_to_tick(np.exp(self._logf[new >> 1]), "down"), dtype=np.int64) \
            if new.size else np.zeros(0, dtype=np.int64)
        t = np.concatenate([st, self._vi_end[ending]])
        stream = np.concatenate([new, ending]).astype(np.int64)
        rt = np.concatenate([np.full(new.size, RT_VI_START, np.uint8), np.full(ending.size, RT_VI_END, np.uint8)])
        px = np.concatenate([trigger, np.zeros(ending.size, dtype=np.int64)])
        kinds = np.concatenate([kind[new], kind[ending]])
        return t, stream, rt, px, kinds
