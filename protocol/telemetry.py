"""Messages to and from the Telemetry actor: batches of observations, its configuration, live snapshots."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.schema import EngineConfig
from core.observations import Observation
from protocol.compact_repr import compact_repr

__all__ = ["TelemetryBatch", "TelemetryConfigure", "TelemetrySnapshot", "TelemetrySnapshotRequest"]


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class TelemetryBatch:
    """Any actor → Telemetry: observations, in the order they happened."""

    observations: tuple[Observation, ...]


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class TelemetryConfigure:
    """Supervisor → Telemetry: start the run's telemetry (``config`` None = defaults, no Slack, no
    Prometheus) for ``symbols`` symbols of ``backend``, files in ``run_dir``."""

    config: EngineConfig | None
    backend: str
    symbols: int
    run_dir: str


@dataclass(frozen=True, slots=True)
class TelemetrySnapshotRequest:
    """Anyone → Telemetry: answer a :class:`TelemetrySnapshot` of the live figures at ``now_ns``."""

    now_ns: int | None = None


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class TelemetrySnapshot:
    """Telemetry → asker: the live figures (a JSON-ready dict)."""

    data: dict[str, Any]
