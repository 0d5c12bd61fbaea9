"""Prometheus metrics of the engine, served on ``127.0.0.1:telemetry.prometheus_port`` (0 = off).

The exporter owns a :class:`prometheus_client.CollectorRegistry` of its own (never the process-global
default) with one collector that renders the latest :meth:`outputs.telemetry_book.TelemetryBook.snapshot`. The
Telemetry actor calls :meth:`MetricsExporter.update` with a fresh snapshot about once per heartbeat; the
HTTP thread only reads the last snapshot it was given (one reference swap), so a scrape never touches
the book while the actor changes it.

Metric names carry their units (``_seconds``, ``_krw``, ``_ratio``); counters end in ``_total``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["MetricsExporter", "SnapshotCollector"]

log = logging.getLogger("arb.metrics")

# snapshot key → (metric name, help) for monotonically growing counts
_COUNTERS = (
    ("ticks", "arb_ticks_total", "Real-data updates consumed."),
    ("signals", "arb_signals_total", "Eligible edges signalled by the spread engine."),
    ("orders_sent", "arb_orders_sent_total", "New orders that reached Kiwoom (SendOrder returned 0)."),
    ("cancels", "arb_cancels_total", "Cancels that reached Kiwoom (they count against the 5/s cap)."),
    ("rejects", "arb_rejects_total", "Rejects of every kind (arb_rejects_by_kind_total splits them)."),
    ("timeouts", "arb_timeouts_total", "Ack or cancel timeouts."),
    ("disconnects", "arb_disconnects_total", "Broker connection losses."),
    ("refusal_storms", "arb_refusal_storms_total", "Episodes of many order-rate (-308) refusals in a short time."),
    ("alerts_undelivered", "arb_alerts_undelivered_total", "Slack alerts that could not be delivered."),
    ("pairs_done", "arb_pairs_done_total", "Pairs completed flat."),
    ("pairs_failed", "arb_pairs_failed_total", "Pairs that failed."),
    ("pairs_escalated", "arb_pairs_escalated_total", "Pairs whose hedge was escalated to IOC/market."),
    ("kill_switch_events", "arb_kill_switch_events_total", "Kill-switch events (freezes, disarms)."),
    ("errors", "arb_errors_total", "Errors reported by the actors."),
    ("vi_events", "arb_vi_events_total", "Volatility interruptions started on a code of the universe."),
)
# snapshot key → (metric name, help, scale) for instantaneous values
_GAUGES = (
    ("ticks_per_s", "arb_ticks_per_second", "Real-data updates per second (5 s average).", 1.0),
    ("orders_last_1s", "arb_orders_last_second", "Orders + cancels sent in the last second.", 1.0),
    ("max_in_any_1s", "arb_orders_max_in_any_second", "Most orders + cancels in any 1 s window so far.", 1.0),
    ("utilisation", "arb_orders_utilisation_ratio", "Orders per second / cap (0..1).", 1.0),
    ("tokens_free", "arb_order_tokens_free", "Free order tokens in the throttle bucket.", 1.0),
    ("paused", "arb_auto_paused", "1 while new entries are auto-paused.", 1.0),
    ("armed", "arb_armed", "1 while the engine is armed.", 1.0),
    ("reject_rate_5m", "arb_reject_rate_5m_ratio", "Rejects / order attempts over 5 minutes.", 1.0),
    ("timeout_rate_5m", "arb_timeout_rate_5m_ratio", "Timeouts / order attempts over 5 minutes.", 1.0),
    ("open_positions", "arb_open_positions", "Codes with a non-zero net position.", 1.0),
)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class SnapshotCollector(Collector):
    """Renders the last snapshot given to :meth:`set` as Prometheus metric families."""

    def __init__(self) -> None:
        self._snapshot: Mapping[str, Any] = {}

    def set(self, snapshot: Mapping[str, Any]) -> None:
        """Replace the snapshot (atomic reference swap)."""
        self._snapshot = dict(snapshot)

    def collect(self) -> Iterator[Any]:
        snap = self._snapshot
        for key, name, help_text in _COUNTERS:
            value = _float(snap.get(key))
            if value is not None:
                yield CounterMetricFamily(name.removesuffix("_total"), help_text, value=value)
        for key, name, help_text, scale in _GAUGES:
            value = _float(snap.get(key))
            if value is not None:
                yield GaugeMetricFamily(name, help_text, value=value * scale)
        kinds = snap.get("rejects_by_kind") or {}
        if kinds:
            kinds_family = CounterMetricFamily("arb_rejects_by_kind", "Rejects by kind: broker (the broker refused the "
                                         "order), rate_limited (-308 or the bridge's order-cap guard), lost (no "
                                         "ack in time).", labels=["kind"])
            for kind, n in sorted(kinds.items()):
                value = _float(n)
                if value is not None:
                    kinds_family.add_metric([kind], value)
            yield kinds_family
        pnl = snap.get("pnl_krw") or {}
        if pnl:
            family = GaugeMetricFamily("arb_pnl_krw", "Session PnL in KRW by component (cash flows; "
                                       "marked_net values open positions at their last fill).",
                                       labels=["component"])
            for component in ("gross", "fees", "tax", "net"):
                value = _float(pnl.get(component))
                if value is not None:
                    family.add_metric([component], value)
            marked = _float(snap.get("pnl_marked_net_krw"))
            if marked is not None:
                family.add_metric(["marked_net"], marked)
            yield family
        lat = snap.get("latency_p95_ms") or {}
        if lat:
            family = GaugeMetricFamily("arb_latency_p95_seconds", "p95 latency of each engine stage, seconds.",
                                       labels=["stage"])
            for stage, ms in sorted(lat.items()):
                value = _float(ms)
                if value is not None:
                    family.add_metric([stage], value / 1000.0)
            yield family


class MetricsExporter:
    """Serves the engine's metrics over HTTP on ``addr:port`` from a registry of its own.

    Args:
      port: TCP port (> 0); use :meth:`from_config` to get None for port 0 (off).
      addr: Listen address; localhost by default (the metrics are not meant for the network).
    """

    def __init__(self, port: int, addr: str = "127.0.0.1") -> None:
        if not 0 < int(port) < 65536:
            raise ValueError(f"prometheus port must be 1..65535, got {port}")
        self.port = int(port)
        self.addr = addr
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = SnapshotCollector()
        self.registry.register(self.collector)
        self._server: Any = None
        self._thread: Any = None

    @classmethod
    def from_config(cls, telemetry_cfg: Any) -> MetricsExporter | None:
        """An exporter for ``config.telemetry`` or None when ``prometheus_port`` is 0 (off)."""
        port = int(getattr(telemetry_cfg, "prometheus_port", 0) or 0)
        return cls(port) if port > 0 else None

    def start(self) -> None:
        """Start serving (a daemon thread).

        Raises:
          OSError: If the port cannot be bound (in use, not permitted).
        """
        if self._server is not None:
            return
        self._server, self._thread = start_http_server(self.port, addr=self.addr, registry=self.registry)
        log.info("Prometheus metrics on http://%s:%d/metrics", self.addr, self.port)

    def update(self, snapshot: Mapping[str, Any]) -> None:
        """Publish a :meth:`outputs.telemetry_book.TelemetryBook.snapshot`."""
        self.collector.set(snapshot)

    def render(self) -> bytes:
        """The metrics in Prometheus text format (what a scrape returns)."""
        return generate_latest(self.registry)

    def close(self) -> None:
        """Stop serving and free the port. Idempotent."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        self._thread = None

    def __repr__(self) -> str:
        return f"MetricsExporter({self.addr}:{self.port}, serving={self._server is not None})"
