"""The Telemetry actor in a real multiprocTCPBase ActorSystem: events in, audit log and run report out."""
from __future__ import annotations

import csv
import json
import socket
from pathlib import Path
from typing import Iterator

import pytest
from thespian.actors import ActorSystem

from actors.messages import Ping, Pong, ReportRequest, RunReport, TelemetryBatch, TelemetryEvent
from actors.telemetry import Telemetry, TelemetryConfigure, TelemetrySnapshot, TelemetrySnapshotRequest
from config.loader import load_config
from core.audit import AUDIT_COLUMNS, read_audit
from core.clock import NS_PER_S

pytestmark = pytest.mark.integration

T0 = 1_780_000_000 * NS_PER_S
ASK_TIMEOUT_S = 30


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def asys() -> Iterator[ActorSystem]:
    log_defs = {"version": 1, "root": {"level": "WARNING", "handlers": []}}   # never logDefs=False
    system = ActorSystem("multiprocTCPBase", {"Admin Port": _free_port()}, logDefs=log_defs, transientUnique=True)
    try:
        yield system
    finally:
        system.shutdown()


def _events() -> list[TelemetryEvent]:
    def e(event_kind: str, dt_ms: int, **data: object) -> TelemetryEvent:
        return TelemetryEvent(event_kind, T0 + dt_ms * 1_000_000, dict(data))

    return [
        e("ticks", 0, n=1_000),
        e("signal", 1, code="005930", direction="KRX->NXT", net_krw=55.0, net_bps=7.6, qty=1),
        e("latency", 1, name="tick_to_signal", ms=2.5),
        e("order", 2, event_type="send", pair_id="P1", leg="take", venue="KRX", symbol="005930", side="BUY",
          qty=1, hoga_code="03", price=0, rc=0),
        e("latency", 2, name="signal_to_send", ms=0.4),
        e("order", 20, event_type="ack", pair_id="P1", leg="take", venue="KRX", symbol="005930", order_no="0000101"),
        e("latency", 20, name="send_to_ack", ms=18.0),
        e("fill", 25, pair_id="P1", code="005930", venue="KRX", side="BUY", qty=1, price=72_300, fee_krw=10,
          tax_krw=0),
        e("order", 25, event_type="fill", pair_id="P1", leg="take", venue="KRX", symbol="005930",
          order_no="0000101", side="BUY", fill_qty=1, fill_px=72_300),
        e("order", 26, event_type="send", pair_id="P1", leg="hedge_post", venue="NXT", symbol="005930",
          side="SELL", qty=1, hoga_code="00", price=72_500, rc=0),
        e("fill", 300, pair_id="P1", code="005930", venue="NXT", side="SELL", qty=1, price=72_500, fee_krw=12,
          tax_krw=145),
        e("order", 300, event_type="fill", pair_id="P1", leg="hedge_post", venue="NXT", symbol="005930",
          order_no="0000102", side="SELL", fill_qty=1, fill_px=72_500),
        e("latency", 300, name="unhedged", ms=275.0),
        e("pair_done", 300, pair_id="P1", code="005930", escalated=False, reason="hedged"),
        e("order", 400, event_type="reject", pair_id="P2", leg="take", venue="KRX", symbol="035420",
          message_text="[00Z112] 주문가능금액 부족"),
        e("kill_switch", 500, kind="reject_freeze", code="035420", reason="3 rejects in 60 s"),
    ]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_telemetry_actor_end_to_end(asys: ActorSystem, tmp_path: Path, fmt: str) -> None:
    # Prepare
    run_dir = tmp_path / "run"
    config = load_config(overrides={"persistence": {"exec_log_format": fmt}})
    telemetry = asys.createActor(Telemetry)
    asys.tell(telemetry, TelemetryConfigure(config, "sim", 2, str(run_dir)))
    events = _events()
    # Act: some events one by one, the rest as a batch (as EngineActor.flush_telemetry sends them)
    for event in events[:4]:
        asys.tell(telemetry, event)
    asys.tell(telemetry, TelemetryBatch(tuple(events[4:])))
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
    # an event that arrives before the configuration is kept and counted once configured
    asys.tell(telemetry, TelemetryEvent("ticks", T0, {"n": 7}))
    asys.tell(telemetry, TelemetryConfigure(None, "replay", 1, str(tmp_path)))
    asys.tell(telemetry, TelemetryEvent("order", T0 + 1, {"event_type": "send", "symbol": "005930", "rc": 0}))
    snap = asys.ask(telemetry, TelemetrySnapshotRequest(), ASK_TIMEOUT_S)
    assert isinstance(snap, TelemetrySnapshot)
    assert snap.data["ticks"] == 7 and snap.data["orders_sent"] == 1 and snap.data["backend"] == "replay"
    pong = asys.ask(telemetry, Ping(nonce=42), ASK_TIMEOUT_S)
    assert isinstance(pong, Pong)
    assert pong.nonce == 42 and pong.name == "Telemetry" and pong.pid > 0 and pong.pending == 0
    assert pong.msgs_in == 5 and pong.msgs_out == 1            # 4 received before the ping + the ping
    assert dict(pong.detail)["audit_rows"] == 1 and dict(pong.detail)["orders_sent"] == 1
