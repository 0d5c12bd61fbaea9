"""outputs.telemetry_book: the run report and live figures, fed by typed observations.

Money comes from the real ledger (:class:`core.ledger.Ledger`) through ``FillBooked``: the book itself
keeps no ledger, so these tests book fills the way the pair desk does and check what the book reports.
"""
from __future__ import annotations

import json

import pytest

from config.loader import load_config
from core.clock import NS_PER_MS, NS_PER_S
from core.costs import CostModel
from core.enums import Direction, MarketOperation, Side, Venue
from core.ledger import Ledger
from core.observations import (
    AuditEvent,
    AutoPauseChanged,
    ErrorRaised,
    FillBooked,
    KillSwitchTripped,
    LatencyObserved,
    LatencyStage,
    OrderAudited,
    PairClosed,
    RejectSpike,
    ReplaySourceDescribed,
    SessionChanged,
    SignalObserved,
    TicksCounted,
)
from outputs.report import summarise
from outputs.telemetry_book import TelemetryBook

T0 = 1_780_000_000 * NS_PER_S          # an engine-clock instant (ns since the epoch)

SPEC_TOP_KEYS = {"backend", "symbols", "ticks", "signals", "pairs", "orders", "net_position", "pnl_krw",
                 "latency_ms", "kill_switch_events", "errors", "extra", "inventory",   # inventory: SPEC §10
                 "vi_events"}                                                           # vi_events: SPEC §11


@pytest.fixture(scope="module")
def cfg():
    return load_config()


class Desk:
    """Books fills in a real ledger, as the pair desk does, and feeds the book what the desk would say."""

    def __init__(self, book: TelemetryBook, costs: CostModel) -> None:
        self.book = book
        self.ledger = Ledger(costs, {"005930": "KOSPI", "035420": "KOSPI"})

    def fill(self, t: int, pair_id: str, code: str, venue: str, side: str, qty: int, price: int) -> FillBooked:
        v, s = Venue.parse(venue), Side.parse(side)
        b = self.ledger.book(pair_id, code, v, s, qty, price)
        obs = FillBooked(t, pair_id, code, v, s, qty, price, b.fee_krw, b.tax_krw, b.position_after, b.session,
                         b.symbol, self.ledger.marked_net_krw())
        self.book.consume(obs)
        return obs

    def send(self, t: int, code: str, cancel: bool = False) -> None:
        self.book.consume(OrderAudited(t, AuditEvent.CANCEL_SEND if cancel else AuditEvent.SEND, "P1", code=code,
                                       wire_code=0))

    def close(self, t: int, pair_id: str, code: str, done: bool = True, escalated: bool = False) -> PairClosed:
        obs = PairClosed(t, pair_id, code, done, escalated, "flat" if done else "error", self.ledger.pair(pair_id))
        self.book.consume(obs)
        return obs


def flat_costs() -> CostModel:
    return CostModel(krx_fee_bps=1.5, nxt_fee_bps=1.76833, tax_bps_by_market={"KOSPI": 20.0, "KOSDAQ": 20.0})


def _pair(desk: Desk, t: int, pair_id: str = "P1", code: str = "005930") -> None:
    """Buy 2 @ 72,300 on KRX, sell 2 @ 72,500 on NXT."""
    desk.send(t, code)
    desk.fill(t + 1, pair_id, code, "KRX", "BUY", 2, 72_300)
    desk.send(t + 2, code)
    desk.fill(t + 3, pair_id, code, "NXT", "SELL", 2, 72_500)


def test_report_has_exactly_the_spec_shape(cfg) -> None:
    book = TelemetryBook(cfg, "sim", 40)
    _pair(Desk(book, flat_costs()), T0)
    rep = book.report()
    assert set(rep) == SPEC_TOP_KEYS
    assert set(rep["pairs"]) == {"done", "failed", "escalated"}
    assert set(rep["orders"]) == {"sent", "cancels", "rejects", "timeouts", "max_in_any_1s"}
    assert set(rep["pnl_krw"]) == {"gross", "fees", "tax", "net"}
    assert set(rep["latency_ms"]) == {"tick_to_signal", "signal_to_send", "send_to_ack", "unhedged"}
    for s in rep["latency_ms"].values():
        assert set(s) == {"p50", "p95", "p99", "n"}
    assert isinstance(rep["kill_switch_events"], list) and isinstance(rep["errors"], list)
    assert rep["backend"] == "sim" and rep["symbols"] == 40
    json.dumps(rep, allow_nan=False)                 # plain JSON


def test_pnl_is_the_ledgers_and_the_pair_result_travels_with_the_close(cfg) -> None:
    # Prepare
    book = TelemetryBook(cfg, "sim", 1)
    desk = Desk(book, flat_costs())
    # Act
    _pair(desk, T0)
    closed = desk.close(T0 + 10, "P1", "005930")
    rep = book.report()
    # Assert: gross = 2×72,500 − 2×72,300 = 400; fees truncated per fill: 21 (KRX) + 25 (NXT); tax 290
    assert rep["pnl_krw"] == {"gross": 400, "fees": 46, "tax": 290, "net": 64}
    assert rep["net_position"] == {"005930": 0}
    assert rep["pairs"] == {"done": 1, "failed": 0, "escalated": 0}
    assert rep["orders"]["sent"] == 2
    assert closed.cash.net_krw == 64 and closed.cash.net_bps == pytest.approx(64 / 144_600 * 1e4)
    assert rep["extra"]["pnl_timeline"] == [[T0 + 10, 64]]
    assert rep["extra"]["flat"] is True
    row = rep["extra"]["symbols_table"][0]
    assert (row["code"], row["fills"], row["net_krw"], row["pairs_done"]) == ("005930", 2, 64, 1)


def test_open_position_is_reported_and_valued_at_the_last_fill() -> None:
    book = TelemetryBook(None, "replay", 2)
    Desk(book, flat_costs()).fill(T0, "P9", "035420", "KRX", "BUY", 3, 200_000)
    rep = book.report()
    assert rep["net_position"] == {"035420": 3}
    # the open 3 shares are valued at their last fill: only the fee is lost so far (cash alone: -600,090)
    assert rep["pnl_krw"] == {"gross": 0, "fees": 90, "tax": 0, "net": -90, "cash_net": -600_090,
                              "marked_at_last_fill": True}
    assert rep["extra"]["flat"] is False
    assert rep["extra"]["pairs"]["open_with_fills"] == 1
    assert book.snapshot()["pnl_marked_net_krw"] == -90


def test_live_pnl_of_a_half_done_slice_is_not_the_takes_proceeds() -> None:
    book = TelemetryBook(None, "sim", 1)
    desk = Desk(book, flat_costs())
    desk.fill(T0, "P1", "005930", "NXT", "SELL", 1, 80_000)
    # an unhedged sale is never profit: open shares are valued at their last fill, the cash figure is kept aside
    pnl = book.snapshot()["pnl_krw"]
    assert pnl["net"] == -(14 + 160) and pnl["gross"] == 0 and pnl["marked_at_last_fill"] is True
    assert pnl["cash_net"] == 80_000 - 14 - 160                      # cash: the proceeds of the take
    assert book.snapshot()["pnl_marked_net_krw"] == -(14 + 160)    # marked: what it has cost so far
    assert "cash flows alone +79,826" in summarise(book.report())
    desk.fill(T0 + 5, "P1", "005930", "KRX", "BUY", 1, 79_900)
    snap = book.snapshot()
    assert snap["pnl_marked_net_krw"] == snap["pnl_krw"]["net"] == 100 - 14 - 160 - 11


def test_orders_counting_and_max_in_any_1s() -> None:
    book = TelemetryBook(None, "sim", 1)
    for i, (event, rc) in enumerate([(AuditEvent.SEND, 0), (AuditEvent.SEND, 0), (AuditEvent.CANCEL_SEND, 0),
                                     (AuditEvent.SEND_REFUSED, -308), (AuditEvent.DENIED, None),
                                     (AuditEvent.SEND, 0)]):
        book.consume(OrderAudited(T0 + i * 100 * NS_PER_MS, event, "P1", code="005930", wire_code=rc))
    book.consume(OrderAudited(T0 + 5 * NS_PER_S, AuditEvent.SEND, "P2", code="005930", wire_code=0))
    book.consume(OrderAudited(T0 + 5 * NS_PER_S, AuditEvent.TIMEOUT, "P2", code="005930"))
    book.consume(OrderAudited(T0 + 6 * NS_PER_S, AuditEvent.LOST, "P2", code="005930"))
    book.consume(OrderAudited(T0 + 7 * NS_PER_S, AuditEvent.REJECT, "P3", code="005930"))
    rep = book.report()
    # every reject counts, by kind: the -308 refusal, the lost ack, the broker's reject
    assert rep["orders"] == {"sent": 4, "cancels": 1, "rejects": 3, "timeouts": 1, "max_in_any_1s": 4}
    assert rep["extra"]["orders"]["rejects_by_kind"] == {"broker": 1, "rate_limited": 1, "lost": 1}
    assert rep["extra"]["orders"]["refused"] == 1 and rep["extra"]["orders"]["denied"] == 1
    assert rep["extra"]["orders"]["attempts"] == 6       # 4 sends, 1 cancel and the refused call
    assert "3 rejects (1 by the broker, 1 refused for the order rate (-308), 1 lost without ack)" in summarise(rep)


def test_reject_rate_window_and_spikes(cfg) -> None:
    book = TelemetryBook(cfg, "sim", 1)
    for i in range(10):
        book.consume(OrderAudited(T0 + i * NS_PER_S, AuditEvent.SEND, "P", code="035420", wire_code=0))
    for s in (1, 20, 50):
        book.consume(OrderAudited(T0 + s * NS_PER_S, AuditEvent.REJECT, "P", code="035420"))
    book.consume(RejectSpike(T0 + 50 * NS_PER_S, "035420", 3, 60, True, 60))
    snap = book.snapshot(T0 + 60 * NS_PER_S)
    assert snap["rejects_5m"] == 3 and snap["attempts_5m"] == 10
    assert snap["reject_rate_5m"] == pytest.approx(0.3)
    later = book.snapshot(T0 + 302 * NS_PER_S)       # window (2 s, 302 s]: sends 3..9 s, rejects 20, 50 s
    assert later["rejects_5m"] == 2 and later["attempts_5m"] == 7
    assert later["reject_rate_5m"] == pytest.approx(2 / 7)
    assert book.snapshot(T0 + 400 * NS_PER_S)["reject_rate_5m"] is None   # no attempts in the window
    assert book.report()["extra"]["orders"]["reject_spikes"] == 1


def test_latency_kill_switch_errors_and_sessions(cfg) -> None:
    book = TelemetryBook(cfg, "sim", 1)
    for ms in (1.0, 2.0, 3.0):
        book.consume(LatencyObserved(T0, LatencyStage.TICK_TO_SIGNAL, ms))
    book.consume(LatencyObserved(T0, LatencyStage.TAKE_FILL, 4.0))
    book.consume(LatencyObserved(T0, LatencyStage.UNHEDGED, 40.0, "005930"))
    book.consume(KillSwitchTripped(T0 + 1, "reject_freeze", "035420", "3 rejects in 60 s", T0 + 60 * NS_PER_S))
    book.consume(ErrorRaised(T0 + 2, "Bridge", "-106 disconnected"))
    book.consume(SessionChanged(T0 + 3, True, "market-operation notice", MarketOperation.NXT_MAIN_OPEN, "R"))
    book.consume(AutoPauseChanged(T0 + 4 * NS_PER_S, True, 0.8))
    book.consume(AutoPauseChanged(T0 + 9 * NS_PER_S, False, 0.4))
    rep = book.report()
    assert rep["latency_ms"]["tick_to_signal"]["p50"] == 2.0
    assert rep["latency_ms"]["tick_to_signal"]["n"] == 3
    assert rep["extra"]["latency_ms"]["take_fill"]["n"] == 1
    ks = rep["kill_switch_events"][0]
    assert (ks["kind"], ks["until_ns"]) == ("reject_freeze", T0 + 60 * NS_PER_S)
    assert ks["ts"].startswith("2026-") and "+09:00" in ks["ts"]
    assert rep["errors"] == [{"ts": rep["errors"][0]["ts"], "t_ns": T0 + 2, "source": "Bridge",
                              "message": "-106 disconnected"}]
    assert rep["extra"]["slo"]["tick_to_signal"] == {"target_p95_ms": 25, "measured_p95_ms": pytest.approx(2.9),
                                                     "met": True}
    assert rep["extra"]["auto_pause"]["count"] == 1
    assert rep["extra"]["auto_pause"]["episodes"][0]["duration_s"] == 5.0
    session = rep["extra"]["sessions"][0]
    assert (session["armed"], session["code"], session["operation"]) == (True, "R", "nxt_main_open")
    # the per-symbol unhedged percentile is filled from samples that name their code
    row = next(r for r in rep["extra"]["symbols_table"] if r["code"] == "005930")
    assert row["unhedged_p95_ms"] == 40.0


def test_what_cannot_be_accounted_never_raises() -> None:
    book = TelemetryBook(None, "sim", 1)
    book.consume(LatencyObserved(T0, "fast", 1.0))          # type: ignore[arg-type] - not a stage
    book.consume("not an observation")                       # type: ignore[arg-type]
    rep = book.report()
    assert rep["extra"]["telemetry"]["bad_events"] == 2
    assert all(e["source"] == "telemetry" for e in rep["errors"])


def test_ticks_and_signals() -> None:
    book = TelemetryBook(None, "sim", 3)
    book.consume(TicksCounted(T0, 400))
    book.consume(TicksCounted(T0 + NS_PER_S, 600))
    book.consume(SignalObserved(T0 + NS_PER_S, "005930", Direction.A, 40.0, 5.5, 1))
    rep = book.report()
    assert rep["ticks"] == 1_000 and rep["signals"] == 1
    assert book.snapshot()["ticks_per_s"] == 200.0   # 1,000 updates in the 5 s window
    assert rep["extra"]["signals"]["by_direction"] == {"KRX->NXT": 1}


# ------------------------------------------------------------------------------------------------
# Prometheus export
# ------------------------------------------------------------------------------------------------
class TestMetricsExport:
    def test_off_when_port_is_zero(self, cfg) -> None:
        from outputs.metrics import MetricsExporter

        assert cfg.telemetry.prometheus_port == 0
        assert MetricsExporter.from_config(cfg.telemetry) is None

    def test_snapshot_rendered_and_served_on_localhost(self) -> None:
        import socket
        import urllib.request

        from outputs.metrics import MetricsExporter

        # Prepare
        book = TelemetryBook(None, "sim", 1)
        _pair(Desk(book, flat_costs()), T0)
        book.consume(LatencyObserved(T0, LatencyStage.SEND_TO_ACK, 20.0))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        exporter = MetricsExporter(port)
        exporter.update(book.snapshot())
        # Act
        text = exporter.render().decode()
        exporter.start()
        try:
            served = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        finally:
            exporter.close()
        # Assert
        assert "arb_orders_sent_total 2.0" in text
        assert 'arb_pnl_krw{component="net"} 64.0' in text
        assert 'arb_latency_p95_seconds{stage="send_to_ack"} 0.02' in text
        assert "arb_orders_sent_total 2.0" in served
        assert "python_gc" not in served                 # our own registry, not the process-global one


def test_replay_source_is_kept_in_the_report_and_said_in_the_summary() -> None:
    book = TelemetryBook(None, "replay", 3)
    assert book.report()["extra"]["replay"] is None
    desc = "fid_41/fid_51 hold best ask/bid PRICES; no sizes in file: assumed 100 shares, size check NOT applied"
    said = "replaying the recording's 3 codes (taken from the recording; ...): 000010, 000020, 000030"
    book.consume(ReplaySourceDescribed(T0, ("/d/market_data_20250908.parquet",), "price", False, 100, desc, 10, 9,
                                       (desc, "1 row of 999999 skipped (not in the universe)"), 3, "recording",
                                       (said,)))
    src = book.report()["extra"]["replay"]
    assert src == {"files": ["/d/market_data_20250908.parquet"], "fid41_meaning": "price",
                   "size_check_applied": False, "assumed_visible_qty": 100, "description": desc,
                   "rows_read": 10, "rows_replayed": 9,
                   "notes": [desc, "1 row of 999999 skipped (not in the universe)"],
                   "symbols": 3, "symbols_source": "recording", "symbols_notes": [said]}
    text = summarise(book.report())
    assert f"  Replay: {desc}" in text.splitlines()
    assert text.count(desc) == 1                               # the description is not repeated as a note
    assert "    note: 1 row of 999999 skipped (not in the universe)" in text.splitlines()
