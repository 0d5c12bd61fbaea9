"""Telemetry actor: a thin shell around :class:`outputs.telemetry_book.TelemetryBook`, the audit log, Slack
and Prometheus.

Every actor sends it :mod:`core.observations` values (batched per step in a
:class:`~protocol.telemetry.TelemetryBatch`). For each observation the actor

1. feeds the book (counters, latencies, the ledger's totals, rates),
2. appends :class:`~core.observations.OrderAudited` rows to the audit log (``run_dir/audit.csv`` or
   ``.parquet``, per ``persistence.exec_log_format``),
3. hands it to the Slack alerter, which posts the alert-worthy ones (fills, pair done, auto-pause,
   hedge timeout, reject spike) on its own thread and can never block this actor.

A :class:`~protocol.control.ReportRequest` writes the run report files into the run directory and
answers :class:`~protocol.control.RunReport`. Observations that arrive before the configuration are kept
(up to :data:`MAX_PENDING_EVENTS`) and replayed once it comes.
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from thespian.actors import ActorAddress, ActorExitRequest, WakeupMessage

from actors.base import EngineActor
from config.schema import EngineConfig
from core.observations import Observation, OrderAudited
from outputs.alerts import AlertContext, SlackAlerter
from outputs.audit import AuditLog, audit_path, audit_row
from outputs.event_feed import EventFeed
from outputs.metrics import MetricsExporter
from outputs.report import write_run_report
from outputs.telemetry_book import TelemetryBook
from protocol.control import Detail, ReportRequest, RunReport
from protocol.operator import OperatorDetailRequest, TelemetryView
from protocol.telemetry import TelemetryBatch, TelemetryConfigure, TelemetrySnapshot, TelemetrySnapshotRequest
from protocol.wiring import Configure

__all__ = ["MAX_PENDING_EVENTS", "Telemetry"]

log = logging.getLogger("arb.telemetry")

#: Observations kept while the actor waits for its configuration; later ones are counted and dropped.
MAX_PENDING_EVENTS = 100_000
#: Audit write failures described in the report's ``errors``; later ones are only counted.
MAX_AUDIT_ERRORS = 10
_METRICS_TICK = "metrics"
#: At the end of a run the alerter gets this long (s) to post what is still waiting (at Slack's pace).
ALERT_FLUSH_S = 3.0


class Telemetry(EngineActor):
    """The engine's telemetry actor (see the module docstring). Stateless apart from the book and its files."""

    actor_name = "Telemetry"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.book: TelemetryBook | None = None
        self.audit: AuditLog | None = None
        self.audit_file: Path | None = None
        self.audit_fmt = "csv"
        self.audit_rows = 0
        self.audit_errors = 0
        self.alerter: SlackAlerter | None = None
        self.metrics: MetricsExporter | None = None
        self.metrics_interval = dt.timedelta(seconds=1)
        self.run_dir: Path | None = None
        self._pending: list[Observation] = []
        self._pending_dropped = 0
        self.feed = EventFeed()

    # -- configuration -----------------------------------------------------------------------
    def receiveMsg_TelemetryConfigure(self, msg: TelemetryConfigure, sender: ActorAddress) -> None:
        self._configure(msg.config, msg.backend, msg.symbols, msg.run_dir)

    def receiveMsg_Configure(self, msg: Configure, sender: ActorAddress) -> None:
        self._configure(msg.config, msg.options.backend, len(msg.universe), msg.options.run_dir)

    def _configure(self, config: EngineConfig | None, backend: str, symbols: int, run_dir: str) -> None:
        if self.book is not None:
            log.warning("Telemetry reconfigured: the previous run's counters are replaced")
            self._close_resources()
        self.run_dir = Path(run_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.book = TelemetryBook(config, backend, symbols)
        self.audit_fmt = config.persistence.exec_log_format if config is not None else "csv"
        self.audit_file = audit_path(self.run_dir, self.audit_fmt)
        self.audit_rows = 0
        self.audit_errors = 0
        self.alerter = SlackAlerter(config.alerts.slack if config is not None else None,
                                    context=AlertContext.from_config(config))
        hb_ms = config.telemetry.heartbeat_interval_ms if config is not None else 1000
        self.metrics_interval = dt.timedelta(milliseconds=hb_ms)
        self.metrics = None
        exporter = MetricsExporter.from_config(config.telemetry if config is not None else None)
        if exporter is not None:
            try:
                exporter.start()
            except OSError as exc:
                self._record_error(f"Prometheus metrics not served on 127.0.0.1:{exporter.port}: {exc.strerror or exc}")
            else:
                self.metrics = exporter
                self.wakeupAfter(self.metrics_interval, payload=_METRICS_TICK)
        pending, self._pending = self._pending, []
        for ev in pending:
            self._handle(ev)
        if self._pending_dropped:
            self._record_error(f"{self._pending_dropped} observation(s) dropped before configuration")
            self._pending_dropped = 0

    # -- events ------------------------------------------------------------------------------
    def receiveMsg_TelemetryBatch(self, msg: TelemetryBatch, sender: ActorAddress) -> None:
        for obs in msg.observations:
            self._handle(obs)

    def _handle(self, obs: Observation) -> None:
        if self.book is None:
            if len(self._pending) < MAX_PENDING_EVENTS:
                self._pending.append(obs)
            else:
                self._pending_dropped += 1
            return
        self.book.consume(obs)
        self.feed.consume(obs)
        if isinstance(obs, OrderAudited):
            self._audit(obs)
        if self.alerter is not None:
            self.alerter.alert(obs)

    def _audit(self, obs: OrderAudited) -> None:
        row = audit_row(obs)
        try:
            if self.audit is None:
                assert self.audit_file is not None
                self.audit = AuditLog(self.audit_file, self.audit_fmt)
            self.audit.write(row)
            self.audit_rows += 1
        except (OSError, ValueError) as exc:
            self.audit_errors += 1
            if self.audit_errors <= MAX_AUDIT_ERRORS:
                self._record_error(f"audit log write failed ({self.audit_file}): {type(exc).__name__}: {exc}")

    def _record_error(self, message: str) -> None:
        log.warning("Telemetry: %s", message)
        if self.book is not None:
            self.book.record_error("telemetry", message)

    # -- queries -----------------------------------------------------------------------------
    def receiveMsg_ReportRequest(self, msg: ReportRequest, sender: ActorAddress) -> None:
        book = self.book
        if book is None:                       # not configured: report what arrived, write nothing
            book = TelemetryBook(None, "unknown", 0)
            book.consume_many(self._pending)
            self.send(sender, RunReport(report=book.report(), paths=()))
            return
        if self.audit is not None:
            if self.audit_fmt == "parquet":    # a Parquet file is readable only once closed
                self._close_audit()
            else:
                self.audit.flush()
        if self.alerter is not None:
            if not msg.partial:
                self.alerter.close(timeout_s=ALERT_FLUSH_S)    # the run is over: deliver what is waiting
            book.alert_delivery = self.alerter.stats()
        report = book.report()
        if msg.partial:
            report["extra"]["partial"] = True
            report["errors"].append({"ts": "", "t_ns": book.last_t_ns, "source": "telemetry",
                                     "message": "PARTIAL report: the operator stopped waiting before the run "
                                                "finished; orders may still be working at the broker"})
        open_pos = {c: q for c, q in (report.get("net_position") or {}).items() if q}
        if open_pos:
            report["errors"].append({"ts": "", "t_ns": book.last_t_ns, "source": "telemetry",
                                     "message": f"the book is NOT flat at the end of the run: {open_pos} "
                                                f"(shares by code, from the fills); flatten by hand"})
        report["extra"]["audit"] = {"path": str(self.audit_file) if self.audit_rows else None,
                                    "format": self.audit_fmt, "rows": self.audit_rows, "errors": self.audit_errors}
        paths: tuple[str, ...] = ()
        try:
            assert self.run_dir is not None
            paths = tuple(write_run_report(report, self.run_dir,
                                           self.audit_file if self.audit_rows else None))
        except (OSError, ValueError) as exc:
            message = f"run report not written to {self.run_dir}: {type(exc).__name__}: {exc}"
            log.error("Telemetry: %s", message)
            report["errors"].append({"ts": "", "t_ns": book.last_t_ns, "source": "telemetry", "message": message})
        self.send(sender, RunReport(report=report, paths=paths))

    def receiveMsg_TelemetrySnapshotRequest(self, msg: TelemetrySnapshotRequest, sender: ActorAddress) -> None:
        book = self.book or TelemetryBook(None, "unknown", 0)
        self.send(sender, TelemetrySnapshot(book.snapshot(msg.now_ns)))

    def operator_detail(self, msg: OperatorDetailRequest) -> tuple[str, Any]:
        """Live figures, the event feed after the Supervisor's cursor and, when asked, the live report."""
        book = self.book or TelemetryBook(None, "unknown", 0)
        report = book.report() if msg.include_report else None
        return "telemetry", TelemetryView(book.snapshot(), self.feed.since(msg.feed_since), report)

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender: ActorAddress) -> None:
        if msg.payload != _METRICS_TICK or self.metrics is None or self.book is None:
            return
        if self.alerter is not None:
            self.book.alert_delivery = self.alerter.stats()
        self.metrics.update(self.book.snapshot())
        self.wakeupAfter(self.metrics_interval, payload=_METRICS_TICK)

    def detail(self) -> Detail:
        out: list[tuple[str, Any]] = [("audit_rows", self.audit_rows)]
        if self.book is not None:
            snap = self.book.snapshot()
            out += [(k, snap[k]) for k in ("ticks", "ticks_per_s", "signals", "orders_sent", "pairs_done",
                                           "pairs_failed", "max_in_any_1s", "open_positions") if k in snap]
            out.append(("pnl_net_krw", float(snap["pnl_marked_net_krw"])))
        return tuple(out)

    # -- shutdown ----------------------------------------------------------------------------
    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender: ActorAddress) -> None:
        self._close_resources()

    def _close_audit(self) -> None:
        if self.audit is None:
            return
        try:
            self.audit.close()
        except OSError as exc:
            self._record_error(f"audit log close failed ({self.audit_file}): {exc}")
        self.audit = None

    def _close_resources(self) -> None:
        self._close_audit()
        if self.alerter is not None:
            self.alerter.close(timeout_s=1.0)
            self.alerter = None
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None

