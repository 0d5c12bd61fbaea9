"""core.telemetry: percentiles, rolling rates, max-in-any-window and the run report book."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.messages import TelemetryEvent
from config.loader import load_config
from core.clock import NS_PER_MS, NS_PER_S
from core.telemetry import (LatencyStats, MaxInWindow, RollingRate, TelemetryBook, max_in_window,
                            normalise_code)

T0 = 1_780_000_000 * NS_PER_S          # an engine-clock instant (ns since the epoch)

SPEC_TOP_KEYS = {"backend", "symbols", "ticks", "signals", "pairs", "orders", "net_position", "pnl_krw",
                 "latency_ms", "kill_switch_events", "errors", "extra"}


def ev(event_kind: str, t_ns: int, **data: object) -> TelemetryEvent:
    return TelemetryEvent(event_kind, t_ns, dict(data))


@pytest.fixture(scope="module")
def cfg():
    return load_config()


# ------------------------------------------------------------------------------------------------
# LatencyStats
# ------------------------------------------------------------------------------------------------
class TestLatencyStats:
    def test_empty_has_null_percentiles(self) -> None:
        assert LatencyStats().summary() == {"p50": None, "p95": None, "p99": None, "n": 0}

    def test_exact_mode_matches_numpy(self) -> None:
        # Prepare
        rng = np.random.default_rng(1)
        samples = rng.lognormal(mean=1.0, sigma=0.8, size=5_000)
        stats = LatencyStats()
        # Act
        stats.add_many(samples)
        # Assert
        s = stats.summary()
        assert s["n"] == 5_000 and stats.exact
        for key, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            assert s[key] == pytest.approx(float(np.percentile(samples, q)), rel=1e-12)

    def test_known_small_sample(self) -> None:
        stats = LatencyStats()
        stats.add_many([1.0, 2.0, 3.0, 4.0, 100.0])
        s = stats.summary()
        assert s["p50"] == 3.0
        assert s["p95"] == pytest.approx(np.percentile([1, 2, 3, 4, 100], 95))
        assert isinstance(s["n"], int)

    def test_histogram_mode_within_one_percent(self) -> None:
        # Prepare: the exact buffer holds only 100 samples, so 20 000 go through the histogram
        rng = np.random.default_rng(7)
        samples = np.concatenate([rng.exponential(3.0, 15_000), rng.uniform(20, 400, 5_000)])
        stats = LatencyStats(exact_capacity=100)
        # Act
        stats.add_many(samples)
        # Assert
        assert not stats.exact
        for q in (50, 95, 99):
            assert stats.percentile(q) == pytest.approx(float(np.percentile(samples, q)), rel=0.01)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.floats(min_value=0.001, max_value=5_000, allow_nan=False), min_size=1, max_size=300))
    def test_histogram_within_one_percent_any_sample(self, values: list[float]) -> None:
        stats = LatencyStats(exact_capacity=0)
        stats.add_many(values)
        for q in (50, 95, 99):
            assert stats.percentile(q) == pytest.approx(float(np.percentile(values, q)), rel=0.01)

    def test_rejects_non_finite_and_counts_negative(self) -> None:
        stats = LatencyStats()
        with pytest.raises(ValueError):
            stats.add(float("nan"))
        stats.add(-1.0)
        assert stats.negative == 1 and stats.summary()["p50"] == 0.0


# ------------------------------------------------------------------------------------------------
# RollingRate / MaxInWindow
# ------------------------------------------------------------------------------------------------
class TestRollingRate:
    def test_window_is_half_open_on_the_left(self) -> None:
        r = RollingRate(60 * NS_PER_S)
        for s in (0, 10, 59, 60):
            r.add(T0 + s * NS_PER_S)
        assert r.count(T0 + 60 * NS_PER_S) == 3          # t = 0 is exactly one window ago: out
        assert r.count(T0 + 59 * NS_PER_S) == 3
        assert r.count(T0 + 200 * NS_PER_S) == 0
        assert r.total == 4

    def test_out_of_order_and_weights(self) -> None:
        r = RollingRate(NS_PER_S)
        r.add(T0 + 500 * NS_PER_MS, n=10)
        r.add(T0 + 100 * NS_PER_MS, n=5)
        assert r.count(T0 + 900 * NS_PER_MS) == 15
        assert r.per_second(T0 + 1_200 * NS_PER_MS) == 10.0


class TestMaxInWindow:
    @pytest.mark.parametrize("times_ms, expected", [
        ([], 0),
        ([0], 1),
        ([0, 999], 2),
        ([0, 1000], 1),                                   # exactly 1 s apart: never in one window
        ([0, 200, 400, 600, 800, 1000, 1200], 5),
        ([0, 0, 0, 5000], 3),
        ([100, 1050, 1100, 1150, 2000, 2099], 4),        # [1050, 2050) holds 1050, 1100, 1150, 2000
    ])
    def test_hand_cases(self, times_ms: list[int], expected: int) -> None:
        m = MaxInWindow(NS_PER_S)
        for t in times_ms:
            m.add(T0 + t * NS_PER_MS)
        assert m.value == expected
        assert max_in_window([T0 + t * NS_PER_MS for t in times_ms], NS_PER_S) == expected

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(min_value=0, max_value=5_000), max_size=60),
           st.integers(min_value=1, max_value=2_000))
    def test_matches_brute_force(self, times: list[int], window: int) -> None:
        # Brute force: the best window can always start at an event.
        brute = max((sum(1 for u in times if a <= u < a + window) for a in times), default=0)
        m = MaxInWindow(window)
        for t in times:                                  # arbitrary order: exercises the recount path
            m.add(t)
        assert m.value == brute
        in_order = MaxInWindow(window)
        for t in sorted(times):                          # sorted: exercises the incremental path
            in_order.add(t)
        assert in_order.value == brute

    def test_count_at_is_the_live_last_second(self) -> None:
        m = MaxInWindow()
        for ms in (0, 300, 600, 900, 1_400):
            m.add(T0 + ms * NS_PER_MS)
        assert m.count_at(T0 + 1_400 * NS_PER_MS) == 3   # 600, 900, 1400


# ------------------------------------------------------------------------------------------------
# TelemetryBook
# ------------------------------------------------------------------------------------------------
def _pair(book: TelemetryBook, t: int, pair_id: str = "P1", code: str = "005930") -> None:
    """A hand-made pair: buy 2 @ 72,300 on KRX, sell 2 @ 72,500 on NXT, fees/tax already rounded."""
    book.consume(ev("order", t, event_type="send", pair_id=pair_id, leg="take", venue="KRX", symbol=code,
                    side="BUY", qty=2, rc=0))
    book.consume(ev("fill", t + 1, pair_id=pair_id, code=code, venue="KRX", side="BUY", qty=2, price=72_300,
                    fee_krw=21, tax_krw=0))
    book.consume(ev("order", t + 2, event_type="send", pair_id=pair_id, leg="hedge_post", venue="NXT",
                    symbol=code + "_NX", side="SELL", qty=2, rc=0))
    book.consume(ev("fill", t + 3, pair_id=pair_id, code=code, venue="NXT", side="SELL", qty=2, price=72_500,
                    fee_krw=25, tax_krw=290))


class TestTelemetryBook:
    def test_report_has_exactly_the_spec_shape(self, cfg) -> None:
        book = TelemetryBook(cfg, "sim", 40)
        _pair(book, T0)
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

    def test_pnl_arithmetic_and_flat_position(self, cfg) -> None:
        # Prepare
        book = TelemetryBook(cfg, "sim", ["005930"])
        # Act
        _pair(book, T0)
        out = book.consume(ev("pair_done", T0 + 10, pair_id="P1", code="005930", escalated=False, reason="hedged"))
        rep = book.report()
        # Assert: gross = 2×72,500 − 2×72,300 = 400; net = 400 − (21 + 25) − 290 = 64
        assert rep["pnl_krw"] == {"gross": 400, "fees": 46, "tax": 290, "net": 64}
        assert rep["net_position"] == {"005930": 0}
        assert rep["pairs"] == {"done": 1, "failed": 0, "escalated": 0}
        assert rep["orders"]["sent"] == 2
        assert rep["symbols"] == 1
        # the pair_done handed to the alerter carries the pair's own result
        assert out[0].kind == "pair_done" and out[0].data["net_krw"] == 64
        assert out[0].data["net_bps"] == pytest.approx(64 / 144_600 * 1e4)
        assert rep["extra"]["pnl_timeline"] == [[T0 + 10, 64]]
        assert rep["extra"]["flat"] is True

    def test_open_position_is_reported(self) -> None:
        book = TelemetryBook(None, "replay", 2)
        book.consume(ev("fill", T0, pair_id="P9", code="A035420", venue="KRX", side="BUY", qty=3, price=200_000,
                        fee_krw=90, tax_krw=0))
        rep = book.report()
        assert rep["net_position"] == {"035420": 3}
        assert rep["pnl_krw"] == {"gross": -600_000, "fees": 90, "tax": 0, "net": -600_090}
        assert rep["extra"]["flat"] is False
        # the live figure values the open 3 shares at their last fill: only the fee is lost so far
        assert book.snapshot()["pnl_marked_net_krw"] == -90

    def test_live_pnl_of_a_half_done_slice_is_not_the_takes_proceeds(self) -> None:
        book = TelemetryBook(None, "sim", 1)
        book.consume(ev("fill", T0, pair_id="P1", code="005930", venue="NXT", side="SELL", qty=1, price=80_000,
                        fee_krw=12, tax_krw=160))
        assert book.snapshot()["pnl_krw"]["gross"] == 80_000          # cash: the proceeds of the take
        assert book.snapshot()["pnl_marked_net_krw"] == -172           # marked: what it has cost so far
        book.consume(ev("fill", T0 + 5, pair_id="P1", code="005930", venue="KRX", side="BUY", qty=1, price=79_900,
                        fee_krw=11, tax_krw=0))
        snap = book.snapshot()
        assert snap["pnl_marked_net_krw"] == snap["pnl_krw"]["net"] == 100 - 12 - 160 - 11

    def test_orders_counting_and_max_in_any_1s(self) -> None:
        book = TelemetryBook(None, "sim", 1)
        for i, (etype, rc) in enumerate([("send", 0), ("send", 0), ("cancel_send", 0), ("send", -308),
                                         ("send_refused", None), ("send", 0)]):
            book.consume(ev("order", T0 + i * 100 * NS_PER_MS, event_type=etype, symbol="005930", rc=rc))
        book.consume(ev("order", T0 + 5 * NS_PER_S, event_type="send", symbol="005930", rc=0))
        book.consume(ev("order", T0 + 5 * NS_PER_S, event_type="timeout", symbol="005930"))
        rep = book.report()
        assert rep["orders"] == {"sent": 4, "cancels": 1, "rejects": 0, "timeouts": 1, "max_in_any_1s": 4}
        assert rep["extra"]["orders"]["refused"] == 2

    def test_reject_rate_window_and_spike(self, cfg) -> None:
        book = TelemetryBook(cfg, "sim", 1)
        for i in range(10):
            book.consume(ev("order", T0 + i * NS_PER_S, event_type="send", symbol="035420", rc=0))
        spikes = []
        for s in (1, 20, 50):                            # 3 rejects within 60 s on one code
            out = book.consume(ev("order", T0 + s * NS_PER_S, event_type="reject", symbol="035420"))
            spikes += [e for e in out if e.kind == "reject_spike"]
        assert [e.data["rejects"] for e in spikes] == [3]
        assert spikes[0].data == {"code": "035420", "rejects": 3, "window_s": 60, "frozen": True, "freeze_s": 60}
        snap = book.snapshot(T0 + 60 * NS_PER_S)
        assert snap["rejects_5m"] == 3 and snap["attempts_5m"] == 10
        assert snap["reject_rate_5m"] == pytest.approx(0.3)
        later = book.snapshot(T0 + 302 * NS_PER_S)       # window (2 s, 302 s]: sends 3..9 s, rejects 20, 50 s
        assert later["rejects_5m"] == 2 and later["attempts_5m"] == 7
        assert later["reject_rate_5m"] == pytest.approx(2 / 7)
        assert book.snapshot(T0 + 400 * NS_PER_S)["reject_rate_5m"] is None   # no attempts in the window

    def test_latency_kill_switch_errors_and_sessions(self, cfg) -> None:
        book = TelemetryBook(cfg, "sim", 1)
        for ms in (1.0, 2.0, 3.0):
            book.consume(ev("latency", T0, name="tick_to_signal", ms=ms))
        book.consume(ev("latency", T0, name="take_fill", ms=[4.0, 6.0]))
        book.consume(ev("kill_switch", T0 + 1, kind="reject_freeze", code="035420", reason="3 rejects in 60 s"))
        book.consume(ev("error", T0 + 2, source="Bridge", message="-106 disconnected"))
        book.consume(ev("session", T0 + 3, armed=True, reason="guard window", code="R"))
        book.consume(ev("auto_pause", T0 + 4 * NS_PER_S, on=True, utilisation=0.8))
        book.consume(ev("auto_pause", T0 + 9 * NS_PER_S, on=False, utilisation=0.4))
        rep = book.report()
        assert rep["latency_ms"]["tick_to_signal"]["p50"] == 2.0
        assert rep["latency_ms"]["tick_to_signal"]["n"] == 3
        assert rep["extra"]["latency_ms"]["take_fill"]["n"] == 2
        assert rep["kill_switch_events"][0]["kind"] == "reject_freeze"
        assert rep["kill_switch_events"][0]["ts"].startswith("2026-") and "+09:00" in rep["kill_switch_events"][0]["ts"]
        assert rep["errors"] == [{"ts": rep["errors"][0]["ts"], "t_ns": T0 + 2, "source": "Bridge",
                                  "message": "-106 disconnected"}]
        assert rep["extra"]["slo"]["tick_to_signal"] == {"target_p95_ms": 25, "measured_p95_ms": pytest.approx(2.9),
                                                         "met": True}
        assert rep["extra"]["auto_pause"]["count"] == 1
        assert rep["extra"]["auto_pause"]["episodes"][0]["duration_s"] == 5.0
        assert rep["extra"]["sessions"][0]["armed"] is True

    def test_malformed_events_never_raise(self) -> None:
        book = TelemetryBook(None, "sim", 1)
        assert book.consume(ev("fill", T0, code="005930", side="HOLD", qty=1, price=1)) == []
        assert book.consume(ev("ticks", T0)) == []
        assert book.consume(TelemetryEvent("latency", T0, {"name": "x", "ms": "fast"})) == []
        rep = book.report()
        assert rep["extra"]["telemetry"]["bad_events"] == 3
        assert all(e["source"] == "telemetry" for e in rep["errors"])
        assert rep["net_position"] == {}

    def test_ticks_and_signals(self) -> None:
        book = TelemetryBook(None, "sim", 3)
        book.consume(ev("ticks", T0, n=400))
        book.consume(ev("ticks", T0 + NS_PER_S, n=600))
        book.consume(ev("signal", T0 + NS_PER_S, code="005930", direction="KRX->NXT", net_krw=40.0, net_bps=5.5,
                        qty=1))
        rep = book.report()
        assert rep["ticks"] == 1_000 and rep["signals"] == 1
        assert book.snapshot()["ticks_per_s"] == 200.0   # 1,000 updates in the 5 s window
        assert rep["extra"]["signals"]["by_direction"] == {"KRX->NXT": 1}


def test_normalise_code() -> None:
    assert normalise_code("A005930") == "005930"
    assert normalise_code("005930_NX") == "005930"
    assert normalise_code("005930") == "005930"


# ------------------------------------------------------------------------------------------------
# Prometheus export
# ------------------------------------------------------------------------------------------------
class TestMetricsExport:
    def test_off_when_port_is_zero(self, cfg) -> None:
        from core.metrics_export import MetricsExporter

        assert cfg.telemetry.prometheus_port == 0
        assert MetricsExporter.from_config(cfg.telemetry) is None

    def test_snapshot_rendered_and_served_on_localhost(self) -> None:
        import socket
        import urllib.request

        from core.metrics_export import MetricsExporter

        # Prepare
        book = TelemetryBook(None, "sim", 1)
        _pair(book, T0)
        book.consume(ev("latency", T0, name="send_to_ack", ms=20.0))
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
    from core.report import summarise
    book = TelemetryBook(None, "replay", 3)
    assert book.report()["extra"]["replay"] is None
    desc = "fid_41/fid_51 hold best ask/bid PRICES; no sizes in file: assumed 100 shares, size check NOT applied"
    book.consume(ev("replay_source", T0, files=("/d/market_data_20250908.parquet",), fid41_meaning="price",
                    size_check_applied=False, assumed_visible_qty=100, description=desc, rows_read=10,
                    rows_replayed=9, notes=(desc, "1 row of 999999 skipped (not in the universe)")))
    src = book.report()["extra"]["replay"]
    assert src == {"files": ["/d/market_data_20250908.parquet"], "fid41_meaning": "price",
                   "size_check_applied": False, "assumed_visible_qty": 100, "description": desc,
                   "rows_read": 10, "rows_replayed": 9, "notes": [desc, "1 row of 999999 skipped (not in the universe)"]}
    text = summarise(book.report())
    assert f"  Replay: {desc}" in text.splitlines()
    assert text.count(desc) == 1                               # the description is not repeated as a note
    assert "    note: 1 row of 999999 skipped (not in the universe)" in text.splitlines()
