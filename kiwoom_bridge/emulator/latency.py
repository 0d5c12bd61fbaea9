"""Seeded latency distributions of the emulated control (SPEC §11: realistic timing, still deterministic).

Every stage (``sim.latency``: ``send_to_ack_ms``, ``ack_to_fill_ms``, ``cancel_ms``, ``market_data_ms``) is a
log-normal distribution given by its median and 99th percentile (``p99 == median``: a constant); a draw is
``median · exp(σ·z)`` with ``σ = ln(p99 / median) / 2.3263`` and ``z`` standard normal, capped at 60 s. Real
Kiwoom acks take tens to hundreds of milliseconds with a long tail: a constant latency would make every
hedge look well timed.

``chejan_before_ack_rate`` is the share of orders whose TR ack (OnReceiveTrData) comes *after* their first
Chejan rows: KOA's development guide warns that "주문건수가 폭증하는 경우 OnReceiveChejan 이벤트가
OnReceiveTRData 이벤트보다 앞서 수신될 수 있습니다" (the order desk delays such an ack by one more send→ack draw).

Draws come from their own :class:`random.Random`, seeded from the run's seed, in the order the emulator asks for
them — the emulator's events are deterministic at ``--speed max``, so the same seed gives the same latencies.
The fault stream (:mod:`kiwoom_bridge.emulator.faults`) has its own generator: turning latencies on or off never
changes which orders a fault hits.
"""
from __future__ import annotations

import math
import random
from typing import Any

from core.clock import NS_PER_MS

__all__ = ["LatencyModel", "Stage"]

_Z99 = 2.3263478740408408          # the standard normal's 99th percentile
_CAP_MS = 60_000.0
_SEED_SALT = 0x5EED_1A7E


class Stage:
    """One stage's distribution (ms): median and p99; :meth:`draw_ns` samples it."""

    __slots__ = ("median_ms", "p99_ms", "_sigma", "_rng")

    def __init__(self, median_ms: float, p99_ms: float, rng: random.Random) -> None:
        if not (math.isfinite(median_ms) and math.isfinite(p99_ms)) or median_ms < 0 or p99_ms < median_ms:
            raise ValueError(f"a latency needs 0 ≤ median ≤ p99, got median {median_ms!r}, p99 {p99_ms!r}")
        self.median_ms = float(median_ms)
        self.p99_ms = float(p99_ms)
        self._sigma = math.log(p99_ms / median_ms) / _Z99 if median_ms > 0 and p99_ms > median_ms else 0.0
        self._rng = rng

    @property
    def constant(self) -> bool:
        return self._sigma == 0.0

    def draw_ns(self) -> int:
        """One latency in ns (the median when the stage is constant; no random number is used then)."""
        if self._sigma == 0.0:
            return round(self.median_ms * NS_PER_MS)
        ms = self.median_ms * math.exp(self._sigma * self._rng.gauss(0.0, 1.0))
        return round(min(ms, _CAP_MS) * NS_PER_MS)


class LatencyModel:
    """The control's latencies, built from ``sim.latency`` (a :class:`config.schema.SimLatency`) and a seed.

    Attributes:
      send_to_ack, ack_to_fill, cancel, market_data: the stages (:class:`Stage`).
      chejan_before_ack_rate: share of orders whose Chejan overtakes the TR ack.
    """

    def __init__(self, latency_cfg: Any, seed: int) -> None:
        self._rng = random.Random((int(seed) ^ _SEED_SALT) & 0xFFFF_FFFF)
        self._chejan_rng = random.Random((int(seed) ^ _SEED_SALT ^ 0xC4E7) & 0xFFFF_FFFF)

        def stage(name: str) -> Stage:
            d = getattr(latency_cfg, name)
            if isinstance(d, (int, float)):
                return Stage(float(d), float(d), self._rng)
            return Stage(float(d.median), float(d.p99), self._rng)

        self.send_to_ack = stage("send_to_ack_ms")
        self.ack_to_fill = stage("ack_to_fill_ms")
        self.cancel = stage("cancel_ms")
        self.market_data = stage("market_data_ms")
        self.chejan_before_ack_rate = float(getattr(latency_cfg, "chejan_before_ack_rate", 0.0))

    def chejan_first(self) -> bool:
        """Whether the next order's Chejan overtakes its TR ack (no draw when the rate is 0)."""
        rate = self.chejan_before_ack_rate
        return rate > 0 and self._chejan_rng.random() < rate
