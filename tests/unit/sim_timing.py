"""Constant emulator latencies, for the tests that check exact event times (the defaults are distributions)."""
from __future__ import annotations

from config.schema import EngineConfig, LatencyDist, SimLatency

#: send→ack 15 ms, ack→fill 5 ms, cancel 15 ms, market data 1 ms, every time; no Chejan before its ack.
CONSTANT_LATENCY = SimLatency(send_to_ack_ms=LatencyDist(median=15, p99=15),
                              ack_to_fill_ms=LatencyDist(median=5, p99=5), cancel_ms=LatencyDist(median=15, p99=15),
                              market_data_ms=LatencyDist(median=1, p99=1), chejan_before_ack_rate=0.0)


def with_constant_latency(cfg: EngineConfig) -> EngineConfig:
    """``cfg`` with :data:`CONSTANT_LATENCY` as its emulator's latencies."""
    return cfg.model_copy(update={"sim": cfg.sim.model_copy(update={"latency": CONSTANT_LATENCY})})
