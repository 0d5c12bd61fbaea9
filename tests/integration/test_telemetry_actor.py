"""The Telemetry actor in a real multiprocTCPBase ActorSystem: observations in, audit log and run report out."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from thespian.actors import ActorSystem

from actors.runtime import free_port
from actors.telemetry import Telemetry
from config.loader import load_config
from core.clock import NS_PER_S
from core.costs import CostModel
from core.enums import Direction, OrderRole, Side, Venue
from core.ledger import Ledger
from core.observations import (
    AuditEvent,
    FillBooked,
    KillSwitchTripped,
    LatencyObserved,
    LatencyStage,
    Observation,
    OrderAudited,
    PairClosed,
    SignalObserved,
    TicksCounted,
)
from outputs.audit import AUDIT_COLUMNS, read_audit
from protocol.control import Ping, Pong, ReportRequest, RunReport
from protocol.telemetry import TelemetryBatch, TelemetryConfigure, TelemetrySnapshot, TelemetrySnapshotRequest

pytestmark = pytest.mark.integration

T0 = 1_780_000_000 * NS_PER_S
ASK_TIMEOUT_S = 30


@pytest.fixture
def asys() -> Iterator[ActorSystem]:
    log_defs = {"version": 1, "root": {"level": "WARNING", "handlers": []}}   # never logDefs=False
    system = ActorSystem("multiprocTCPBase", {"Admin Port": free_port()}, logDefs=log_defs, transientUnique=True)
    try:
        yield system
    finally:
        system.shutdown()


def _observations() -> list[Observation]:
    """One pair as the desk reports it (fills booked in a real ledger), then a rejected entry and a freeze."""
    ms = 1_000_000
    ledger = Ledger(CostModel(1.5, 1.76833, {"KOSPI": 20.0, "KOSDAQ": 20.0}), {"005930": "KOSPI"})

    def fill(dt_ms: int, venue: Venue, side: Side, px: int) -> FillBooked:
        b = ledger.book("P1", "005930", venue, side, 1, px)
        return FillBooked(T0 + dt_ms * ms, "P1", "005930", venue, side, 1, px, b.fee_krw, b.tax_krw,
                          b.position_after, b.session, b.symbol, ledger.marked_net_krw())

    def audit(dt_ms: int, event: AuditEvent, pair_id: str, **kw: object) -> OrderAudited:
        return OrderAudited(T0 + dt_ms * ms, event, pair_id, **kw)  # type: ignore[arg-type]

    take = dict(role=OrderRole.TAKE, venue=Venue.KRX, code="005930", side=Side.BUY)
    post = dict(role=OrderRole.HEDGE_POST, venue=Venue.NXT, code="005930", side=Side.SELL)
    return [
        TicksCounted(T0, 1_000),
        SignalObserved(T0 + ms, "005930", Direction.A, 55.0, 7.6, 1),
        LatencyObserved(T0 + ms, LatencyStage.TICK_TO_SIGNAL, 2.5),
        audit(2, AuditEvent.SEND, "P1", qty=1, wire_style="03", price=0, wire_code=0, **take),
        LatencyObserved(T0 + 2 * ms, LatencyStage.SIGNAL_TO_SEND, 0.4),
        audit(20, AuditEvent.ACK, "P1", order_no="0000101", **take),
        LatencyObserved(T0 + 20 * ms, LatencyStage.SEND_TO_ACK, 18.0),
        fill(25, Venue.KRX, Side.BUY, 72_300),
        audit(25, AuditEvent.FILL, "P1", order_no="0000101", fill_qty=1, fill_px=72_300, broker_status="체결", **take),
        audit(26, AuditEvent.SEND, "P1", qty=1, wire_style="00", price=72_500, wire_code=0, **post),
        fill(300, Venue.NXT, Side.SELL, 72_500),
        audit(300, AuditEvent.FILL, "P1", order_no="0000102", fill_qty=1, fill_px=72_500, broker_status="체결", **post),
        LatencyObserved(T0 + 300 * ms, LatencyStage.UNHEDGED, 275.0, "005930"),
        PairClosed(T0 + 300 * ms, "P1", "005930", True, False, "flat", ledger.pair("P1")),
        audit(400, AuditEvent.REJECT, "P2", role=OrderRole.TAKE, venue=Venue.KRX, code="035420",
              message="[00Z112] 주문가능금액 부족"),
        KillSwitchTripped(T0 + 500 * ms, "reject_freeze", "035420", "3 rejects in 60 s"),
    ]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_telemetry_actor_end_to_end(asys: ActorSystem, tmp_path: Path, fmt: str) -> None:
    # Prepare
    run_dir = tmp_path / "run"
    config = load_config(overrides={"persistence": {"exec_log_format": fmt}})
    telemetry = asys.createActor(Telemetry)
    asys.tell(telemetry, TelemetryConfigure(config, "sim", 2, str(run_dir)))
    observations = _observations()
    # Act: a small batch, then the rest (as EngineActor.flush_telemetry sends them)
    asys.tell(telemetry, TelemetryBatch(tuple(observations[:4])))
    asys.tell(telemetry, TelemetryBatch(tuple(observations[4:])))
    reply = asys.ask(telemetry, ReportRequest(), ASK_TIMEOUT_S)
    # Assert: the report
    assert isinstance(reply, RunReport)
    rep = reply.report
    assert rep["backend"] == "sim" and rep["symbols"] == 2
    assert rep["ticks"] == 1_000 and rep["signals"] == 1
    assert rep["pairs"] == {"done": 1, "failed": 0, "escalated": 0}
    assert rep["orders"] == {"sent": 2, "cancels": 0, "rejects": 1, "timeouts": 0, "max_in_any_1s": 2}
    assert rep["net_position"] == {"005930": 0}
    assert rep["pnl_krw"] == {"gross": 200, "fees": 22, "tax": 145, "net": 33}
    assert rep["latency_ms"]["send_to_ack"] == {"p50": 18.0, "p95": 18.0, "p99": 18.0, "n": 1}
    assert rep["latency_ms"]["unhedged"]["n"] == 1
    assert [k["kind"] for k in rep["kill_switch_events"]] == ["reject_freeze"]
    assert rep["extra"]["audit"]["rows"] == 6
    # Assert: the files
    names = {Path(p).name for p in reply.paths}
    assert names == {"report.json", "report.html", "report.csv", "report.xlsx"}
    assert all(Path(p).is_file() for p in reply.paths)
    assert json.loads((run_dir / "report.json").read_text(encoding="utf-8"))["pairs"]["done"] == 1
    audit = read_audit(run_dir / f"audit.{fmt}")
    assert list(audit.columns) == list(AUDIT_COLUMNS) and len(audit) == 6
    assert audit["message_text"].iloc[-1] == "[00Z112] 주문가능금액 부족"
    assert audit["event_type"].tolist() == ["send", "ack", "fill", "send", "fill", "reject"]
    if fmt == "csv":
        with open(run_dir / "audit.csv", encoding="utf-8", newline="") as fh:
            assert tuple(next(csv.reader(fh))) == AUDIT_COLUMNS
    assert "polyline" in (run_dir / "report.html").read_text(encoding="utf-8")      # PnL curve from the audit


def test_ping_snapshot_and_events_before_configuration(asys: ActorSystem, tmp_path: Path) -> None:
    telemetry = asys.createActor(Telemetry)
    # an observation that arrives before the configuration is kept and counted once configured
    asys.tell(telemetry, TelemetryBatch((TicksCounted(T0, 7),)))
    asys.tell(telemetry, TelemetryConfigure(None, "replay", 1, str(tmp_path)))
    asys.tell(telemetry, TelemetryBatch((OrderAudited(T0 + 1, AuditEvent.SEND, "P1", code="005930", wire_code=0),)))
    snap = asys.ask(telemetry, TelemetrySnapshotRequest(), ASK_TIMEOUT_S)
    assert isinstance(snap, TelemetrySnapshot)
    assert snap.data["ticks"] == 7 and snap.data["orders_sent"] == 1 and snap.data["backend"] == "replay"
    pong = asys.ask(telemetry, Ping(nonce=42), ASK_TIMEOUT_S)
    assert isinstance(pong, Pong)
    assert pong.nonce == 42 and pong.name == "Telemetry" and pong.pid > 0 and pong.pending == 0
    assert pong.msgs_in == 5 and pong.msgs_out == 1            # 4 received before the ping + the ping
    assert dict(pong.detail)["audit_rows"] == 1 and dict(pong.detail)["orders_sent"] == 1
