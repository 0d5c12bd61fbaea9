"""outputs.audit (append-only CSV/Parquet audit log) and outputs.report (run report files, summary, arbctl report)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from core.clock import NS_PER_MS, NS_PER_S
from core.costs import CostModel
from core.enums import Direction, OrderRole, OrderStyle, Side, Venue
from core.ledger import Ledger
from core.observations import (
    AuditEvent,
    FillBooked,
    KillSwitchTripped,
    LatencyObserved,
    LatencyStage,
    OrderAudited,
    PairClosed,
    SignalObserved,
    TicksCounted,
)
from outputs.audit import AUDIT_COLUMNS, AuditLog, AuditSchemaError, audit_row, read_audit
from outputs.report import REPORT_FILES, flatten, load_run, pnl_curve_from_audit, summarise, write_run_report
from outputs.telemetry_book import TelemetryBook
from tools.arbctl import cli

T0 = 1_780_000_000 * NS_PER_S


def row(i: int, event_type: str = "send", **kw: object) -> dict[str, object]:
    base = {"event_type": event_type, "pair_id": f"P{i}", "leg": "take", "venue": "KRX", "symbol": "005930",
            "order_no": f"{i:07d}", "side": "BUY", "qty": 1, "hoga_code": "03", "price": 0, "rc": 0,
            "t_ns": T0 + i * NS_PER_MS}
    base.update(kw)
    return base


# ------------------------------------------------------------------------------------------------
# audit log
# ------------------------------------------------------------------------------------------------
class TestAuditCsv:
    def test_header_once_and_append_only_across_writers(self, tmp_path: Path) -> None:
        # Prepare
        path = tmp_path / "run" / "audit.csv"
        # Act: two writers one after the other (e.g. a restarted Telemetry actor)
        with AuditLog(path, "csv") as first:
            first.write(row(1))
            first.write(row(2, "ack", message_text="정상처리, \"quoted\"\nsecond line"))
        before = path.read_bytes()
        with AuditLog(path, "csv") as second:
            second.write(row(3, "fill", fill_qty=1, fill_px=72_300))
        after = path.read_bytes()
        # Assert: earlier bytes untouched, header written once, missing keys empty
        assert after.startswith(before)
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert tuple(rows[0]) == AUDIT_COLUMNS
        assert sum(1 for r in rows if tuple(r) == AUDIT_COLUMNS) == 1
        assert len(rows) == 4
        rec = dict(zip(AUDIT_COLUMNS, rows[2], strict=True))
        assert rec["message_text"] == "정상처리, \"quoted\"\nsecond line"
        assert rec["fid_9203"] == "" and rec["orig_order_no"] == ""
        assert rec["ts"].startswith("2026-") and rec["ts"].endswith("+09:00")   # derived from t_ns, Asia/Seoul
        assert dict(zip(AUDIT_COLUMNS, rows[1], strict=True))["order_no"] == "0000001"      # leading zeros kept

    def test_rows_are_flushed_as_they_come(self, tmp_path: Path) -> None:
        path = tmp_path / "audit.csv"
        log = AuditLog(path, "csv")
        log.write(row(1))
        assert len(path.read_text(encoding="utf-8").splitlines()) == 2   # readable before close
        log.close()
        log.close()                                                        # idempotent
        with pytest.raises(ValueError):
            log.write(row(2))

    def test_refuses_foreign_header(self, tmp_path: Path) -> None:
        path = tmp_path / "audit.csv"
        path.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
        with pytest.raises(AuditSchemaError):
            AuditLog(path, "csv")
        assert path.read_text(encoding="utf-8") == "a,b,c\n1,2,3\n"

    def test_read_audit_csv(self, tmp_path: Path) -> None:
        path = tmp_path / "audit.csv"
        with AuditLog(path, "csv") as log:
            for i in range(3):
                log.write(row(i))
        df = read_audit(path)
        assert list(df.columns) == list(AUDIT_COLUMNS)
        assert df["t_ns"].tolist() == [T0 + i * NS_PER_MS for i in range(3)]
        assert df["symbol"].tolist() == ["005930"] * 3


class TestAuditParquet:
    def test_readback_in_row_groups(self, tmp_path: Path) -> None:
        path = tmp_path / "audit.parquet"
        with AuditLog(path, "parquet", row_group_size=4) as log:
            for i in range(10):
                log.write(row(i, fid_9203=f"{i:07d}"))
            log.write({"event_type": "reject", "qty": "abc", "t_ns": T0})       # bad int → null, counted
        meta = pq.ParquetFile(path).metadata
        assert meta.num_rows == 11 and meta.num_row_groups == 3
        assert pq.read_schema(path).names == list(AUDIT_COLUMNS)
        df = read_audit(path)
        assert df["fid_9203"].iloc[3] == "0000003"
        assert df["t_ns"].iloc[9] == T0 + 9 * NS_PER_MS                       # exact int64, no float rounding
        assert df["qty"].isna().iloc[10] and log.coerce_failures == 1

    def test_existing_file_gets_a_part_file(self, tmp_path: Path) -> None:
        path = tmp_path / "audit.parquet"
        with AuditLog(path, "parquet") as log:
            log.write(row(1))
        with AuditLog(path, "parquet") as log2:
            log2.write(row(2))
        assert log2.path.name == "audit.part1.parquet"
        assert pq.read_table(path).num_rows == 1                               # the first file is untouched
        assert read_audit(path)["pair_id"].tolist() == ["P1", "P2"]

    def test_empty_log_is_a_valid_file(self, tmp_path: Path) -> None:
        path = tmp_path / "audit.parquet"
        AuditLog(path, "parquet").close()
        assert pq.read_table(path).num_rows == 0


# ------------------------------------------------------------------------------------------------
# report files
# ------------------------------------------------------------------------------------------------
def _book_with_a_pair() -> TelemetryBook:
    """A pair as the desk reports it: buy 1 @ 72,300 on KRX, sell 1 @ 72,500 on NXT, booked in a real ledger."""
    book = TelemetryBook(None, "sim", 2)
    ledger = Ledger(CostModel(1.5, 1.76833, {"KOSPI": 20.0, "KOSDAQ": 20.0}), {"005930": "KOSPI"})
    book.consume_many([TicksCounted(T0, 500), SignalObserved(T0 + 1, "005930", Direction.A, 60.0, 8.3, 1),
                       LatencyObserved(T0 + 1, LatencyStage.TICK_TO_SIGNAL, 2.0),
                       LatencyObserved(T0 + 1, LatencyStage.SIGNAL_TO_SEND, 0.5)])
    for t, venue, side, px in ((T0 + 2 * NS_PER_S, Venue.KRX, Side.BUY, 72_300),
                               (T0 + 3 * NS_PER_S, Venue.NXT, Side.SELL, 72_500)):
        b = ledger.book("P1", "005930", venue, side, 1, px)
        book.consume(FillBooked(t, "P1", "005930", venue, side, 1, px, b.fee_krw, b.tax_krw, b.position_after,
                                b.session, b.symbol, ledger.marked_net_krw()))
    book.consume(PairClosed(T0 + 3 * NS_PER_S, "P1", "005930", True, False, "flat", ledger.pair("P1")))
    book.consume(KillSwitchTripped(T0 + 4 * NS_PER_S, "reject_freeze", "035420", "3 rejects/60 s"))
    return book


def test_audit_row_of_a_fill_notice_keeps_the_brokers_values_in_the_seed_columns() -> None:
    obs = OrderAudited(T0, AuditEvent.FILL, "P1", request_name="P1:take:1", role=OrderRole.TAKE, venue=Venue.NXT,
                       code="005930", side=Side.SELL, qty=1, style=OrderStyle.LIMIT_IOC, wire_style="10",
                       price=72_500, order_no="0000002", leaves_qty=0, fill_qty=1, fill_px=72_500, exec_id="E9",
                       screen_no="9000", broker_status="체결")
    r = audit_row(obs)
    assert (r["event_type"], r["leg"], r["venue"], r["side"], r["hoga_code"], r["rq_name"]) == \
        ("fill", "take", "NXT", "SELL", "10", "P1:take:1")
    assert (r["sGubun"], r["fid_9203"], r["fid_913"], r["fid_910"], r["fid_911"], r["fid_909"]) == \
        ("0", "0000002", "체결", 72_500, 1, "E9")
    sent = audit_row(OrderAudited(T0, AuditEvent.CANCEL_SEND, "P1", request_name="P1:cancel:1", is_cancel=True,
                                  wire_code=0))
    assert (sent["leg"], sent["rc"], sent.get("fid_9203")) == ("cancel", 0, None)


class TestReportFiles:
    def test_all_files_written_and_readable(self, tmp_path: Path) -> None:
        # Prepare: a report and an audit log with the pair's two fills
        rep = _book_with_a_pair().report()
        audit = tmp_path / "audit.csv"
        with AuditLog(audit, "csv") as log:
            log.write(row(1, "fill", pair_id="P1", side="BUY", fill_qty=1, fill_px=72_300, t_ns=T0 + 2 * NS_PER_S))
            log.write(row(2, "fill", pair_id="P1", side="SELL", fill_qty=1, fill_px=72_500, venue="NXT",
                          t_ns=T0 + 3 * NS_PER_S))
        # Act
        paths = write_run_report(rep, tmp_path, audit_path=audit)
        # Assert
        assert [Path(p).name for p in paths] == list(REPORT_FILES)
        assert all(Path(p).is_file() for p in paths)
        assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8")) == json.loads(json.dumps(rep))
        page = (tmp_path / "report.html").read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "polyline" in page
        assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")   # self-contained
        with open(tmp_path / "report.csv", encoding="utf-8", newline="") as fh:
            flat = dict(csv.reader(fh))
        assert flat["pairs.done"] == "1" and flat["pnl_krw.net"] == "33" and flat["net_position.005930"] == "0"
        wb = load_workbook(tmp_path / "report.xlsx")
        assert {"Summary", "Symbols", "Latency", "Events"} <= set(wb.sheetnames)
        summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(min_row=2, values_only=True)}
        assert summary["pnl_krw.net"] == 33 and summary["pairs.done"] == 1
        header = [c.value for c in wb["Symbols"][1]]
        assert "code" in header and "net_krw" in header

    def test_pnl_curve_from_audit(self, tmp_path: Path) -> None:
        audit = tmp_path / "audit.csv"
        with AuditLog(audit, "csv") as log:
            log.write(row(1, "fill", pair_id="P1", side="BUY", fill_qty=2, fill_px=1_000, t_ns=T0 + 1))
            log.write(row(2, "fill", pair_id="P1", side="SELL", fill_qty=1, fill_px=1_010, t_ns=T0 + 2))
            log.write(row(3, "send", pair_id="P2", t_ns=T0 + 3))
            log.write(row(4, "fill", pair_id="P1", side="SELL", fill_qty=1, fill_px=1_005, t_ns=T0 + 4))
        assert pnl_curve_from_audit(audit) == [(T0 + 4, 15.0)]

    def test_flatten(self) -> None:
        assert flatten({"a": {"b": 1, "c": [2, {"d": None}]}, "e": {}}) == [
            ("a.b", 1), ("a.c.0", 2), ("a.c.1.d", ""), ("e", "")]


class TestSummaryAndCommand:
    def test_summarise_mentions_pairs_and_pnl(self) -> None:
        text = summarise(_book_with_a_pair().report())
        assert "Pairs: 1 done, 0 failed, 0 escalated" in text
        assert "PnL KRW: gross +200 · fees 22 · tax 145 · net +33" in text
        assert "flat" in text and "tick_to_signal" in text and "Kill-switch events: 1" in text

    def test_summarise_flags_open_position(self) -> None:
        rep = _book_with_a_pair().report()
        rep["net_position"]["000660"] = -2
        assert "NOT FLAT: 000660 -2" in summarise(rep)

    def test_load_run_and_arbctl_report(self, tmp_path: Path) -> None:
        rep = _book_with_a_pair().report()
        write_run_report(rep, tmp_path)
        assert load_run(tmp_path)["pairs"]["done"] == 1
        result = CliRunner().invoke(cli, ["report", str(tmp_path)])
        assert result.exit_code == 0 and "Pairs: 1 done" in result.output

    def test_arbctl_report_without_report(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(cli, ["report", str(tmp_path / "nothing")])
        assert result.exit_code == 2
        assert result.output.count("\n") == 1 and "report.json" in result.output
