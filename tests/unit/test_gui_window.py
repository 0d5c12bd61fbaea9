"""The operator window without an engine: the launch strip's order, the Symbols table's row updates, Hangul.

Snapshots are built from the engine's own view types (what the Supervisor sends); the engine-attached
tests are in ``tests/integration/test_gui_engine.py``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("PyQt5")
pytest.importorskip("pytestqt")

from PyQt5.QtGui import QFontMetrics  # noqa: E402

from config.loader import load_config  # noqa: E402
from core.operator_view import SYMBOL_ROW_DTYPE, DeskView, SymbolInfo  # noqa: E402
from gui.fmt import arm_allowed, launch_steps  # noqa: E402
from gui.models import SymbolsModel, changed_runs  # noqa: E402
from protocol.operator import BridgeView, OperatorSnapshot, SymbolsDelta  # noqa: E402

S = 1_000_000_000
T0 = 1_796_169_600 * S            # 2026-12-02 09:00:00 KST


def desk(t_s: float, **kw: object) -> DeskView:
    base = dict(t_ns=T0 + int(t_s * S), phase="armed", session_armed=True, arm_reason="armed", disarmed_reason=None,
                nxt_main_open=True, market_operation="nxt_main_open ('R')", market_operation_ns=T0 + 30 * S,
                guard_start_ns=T0 + 32 * S, guard_end_ns=T0 + (6 * 3600 + 19 * 60 + 50) * S, muted=(), frozen=(),
                cooldowns=(), trips=(), active=(), recent=(), positions=(), pnl_marked_krw=0.0, flat=True,
                max_concurrent_symbols=2, t_hedge_ms=1000)
    base.update(kw)
    return DeskView(**base)  # type: ignore[arg-type]


def bridge(**kw: object) -> BridgeView:
    base = dict(backend="sim", connected=True, server="mock", account="******5611", speed=None,
                screens_registered=3, screens_needed=3, shards=1, started=True, step=10, t_ns=T0)
    base.update(kw)
    return BridgeView(**base)  # type: ignore[arg-type]


def snap(d: DeskView | None, b: BridgeView | None, **kw: object) -> OperatorSnapshot:
    return OperatorSnapshot(request_id=1, epoch="e", wall_ns=0, started=True, status=None, health=None, bridge=b,
                            desk=d, config=load_config(), **kw)  # type: ignore[arg-type]


def test_the_launch_strip_enables_each_step_only_after_the_one_before() -> None:
    c, f, a = launch_steps(None, attached=False)
    assert (c.enabled, f.enabled, a.enabled) == (True, False, False)
    c, f, a = launch_steps(snap(desk(20, session_armed=False, phase="pre-open"), bridge(connected=False)), True)
    assert not c.done and "login" in c.text and not f.enabled and not a.enabled
    c, f, a = launch_steps(snap(desk(20, session_armed=False), bridge(screens_registered=1, started=False)), True)
    assert c.done and not f.done and "1/3 screens" in f.text and not a.enabled
    # feeds registered, but the engine clock (09:00:20) is before the guard window: Arm disabled
    c, f, a = launch_steps(snap(desk(20, session_armed=False, disarmed_reason="operator"), bridge()), True)
    assert c.done and f.done and not a.enabled and "guard window opens at 09:00:32" in a.text
    # inside the guard window and disarmed by the operator: Arm enabled
    c, f, a = launch_steps(snap(desk(40, disarmed_reason="operator"), bridge()), True)
    assert a.enabled and not a.done and "disarmed: operator" in a.text
    # armed: done, nothing to press
    c, f, a = launch_steps(snap(desk(40), bridge()), True)
    assert a.done and not a.enabled
    # after the guard window closed: disabled again
    ok, why = arm_allowed(desk(7 * 3600), finished=False)
    assert not ok and why == "guard window closed at 15:19:50"


def universe(n: int) -> tuple[SymbolInfo, ...]:
    return tuple(SymbolInfo(f"{i:06d}", f"종목{i}", "KOSPI", True, f"{1000 + i // 100}", 0) for i in range(n))


def rows(n: int, bid: int = 70_000) -> np.ndarray:
    r = np.zeros(n, dtype=SYMBOL_ROW_DTYPE)
    r["sym"] = np.arange(n)
    r["krx_bid"], r["krx_ask"], r["nxt_bid"], r["nxt_ask"] = bid, bid + 100, bid, bid + 100
    return r


def test_an_800_symbol_table_repaints_only_the_rows_that_changed(qtbot) -> None:
    model = SymbolsModel()
    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda a, b: changed.append((a.row(), b.row())))
    model.apply(universe(800), rows(800), True, desk(40), T0 + 40 * S)
    assert model.rowCount() == 800 and model.text(5, "krx_bid") == "70,000"
    changed.clear()
    # the SpreadEngine's delta: rows 3, 4 and 700 changed, row 10 repeated unchanged
    delta = rows(800)[[3, 4, 10, 700]]
    delta["nxt_bid"][[0, 1, 3]] = 70_300
    model.apply((), delta, False, desk(41), T0 + 41 * S)
    assert changed == [(3, 4), (700, 700)] and model.last_changed_rows == 3
    assert model.text(700, "nxt_bid") == "70,300" and model.text(10, "nxt_bid") == "70,000"
    # a mute and a position only repaint their own rows
    changed.clear()
    model.apply((), None, False, desk(42, muted=(("000012", "news"),), positions=(("000400", 1),)), T0 + 42 * S)
    assert changed == [(12, 12), (400, 400)]
    assert model.text(12, "control") == "MUTED (news)" and model.text(400, "position") == "+1"
    assert changed_runs([5, 3, 4, 9]) == [(3, 5), (9, 9)]


def test_korean_text_renders_with_the_bundled_font_when_the_system_has_none(qtbot) -> None:
    from PyQt5.QtWidgets import QApplication, QLabel

    from gui.fonts import install_fonts
    family = install_fonts(QApplication.instance())
    label = QLabel("삼성전자 모의투자 실서버 잔고")
    qtbot.addWidget(label)
    metrics = QFontMetrics(label.font())
    assert all(metrics.inFont(ch) for ch in "삼성전자모의투자실서버잔고"), family
    img = label.grab().toImage()
    assert img.width() > 0 and any(img.pixel(x, y) != img.pixel(0, 0)
                                   for x in range(img.width()) for y in range(img.height()))


def test_the_window_fills_from_a_snapshot_and_a_new_epoch_starts_afresh(qtbot) -> None:
    from gui.main_window import MainWindow
    win = MainWindow(link=None)
    qtbot.addWidget(win)
    s = snap(desk(40), bridge(), universe=universe(5), symbols=SymbolsDelta(T0, rows(5), True, 1))
    win.apply(s)
    assert win.symbols_model.rowCount() == 5 and win.launch.steps[2].done
    win.apply(dataclasses.replace(s, epoch="other", universe=universe(3), symbols=SymbolsDelta(T0, rows(3), True, 1)))
    assert win.symbols_model.rowCount() == 3


def test_launch_opens_the_window_in_its_own_process_only_with_a_display(monkeypatch) -> None:
    import sys

    import launch
    assert launch.window_command(19811, "my.yaml") == [sys.executable, "-m", "gui", "--admin-port", "19811",
                                                        "--config", "my.yaml"]
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert not launch._gui_available()                 # offscreen: nobody could see a window
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        assert not launch._gui_available()             # no display
    monkeypatch.setenv("DISPLAY", ":99")
    assert launch._gui_available()                     # a display and an importable gui.main_window


def test_the_reports_view_exports_the_report_as_csv_and_xlsx(qtbot, tmp_path) -> None:
    import csv

    from openpyxl import load_workbook

    from gui.panels import ReportsPanel
    panel = ReportsPanel()
    qtbot.addWidget(panel)
    report = {"backend": "sim", "pairs": {"done": 3, "failed": 0, "escalated": 1}, "pnl_krw": {"net": 1234.0},
              "orders": {"sent": 6}, "net_position": {}, "kill_switch_events": [], "errors": [],
              "extra": {"symbols_table": [{"code": "005930", "pairs_done": 3, "pairs_failed": 0, "net_krw": 1234.0,
                                           "avg_net_bps": 4.2, "unhedged_p95_ms": 20.0, "orders_sent": 6,
                                           "rejects": 0, "reject_rate": 0.0, "timeouts": 0, "signals": 9,
                                           "fees_krw": 10, "tax_krw": 50}],
                        "tokens": {"threshold": 0.8, "time_at_or_above_threshold_s": 1.5, "mean_free": 3.2},
                        "reject_reasons": {"no token": 2}}}
    panel.apply(snap(desk(40), bridge(), report=report), {"005930": "삼성전자"})
    assert panel.league.rowCount() == 1 and "1 escalated" in panel.totals.text()
    assert "no token ×2" in panel.bottlenecks.text()
    for suffix in (".csv", ".xlsx"):
        panel.choose_path = lambda s, p=tmp_path / f"r{suffix}": str(p)
        panel._export(suffix)
        assert "written" in panel.note.text()
    rows = dict(csv.reader(open(tmp_path / "r.csv", encoding="utf-8")))
    assert rows["pairs.done"] == "3"
    wb = load_workbook(tmp_path / "r.xlsx")
    assert wb["Symbols"]["A2"].value == "005930"
