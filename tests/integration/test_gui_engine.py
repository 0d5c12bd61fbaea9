"""The operator window attached to a real engine (multiprocess actors, sim backend at --speed max).

Every panel fills with the engine's data; a click in the event feed selects its pair; arm/disarm, mute/unmute,
a live config change and a re-sharding made in the window reach the engine (seen coming back in its
snapshots); the window survives the engine stopping, says so, and re-attaches to the next engine on the port.
Waits poll for conditions with a deadline; nothing is timed.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PyQt5.QtCore import QPoint, Qt  # noqa: E402

from actors.runtime import EngineRuntime, EngineStartError, free_port, port_in_use  # noqa: E402
from config.loader import load_config, resolve_path  # noqa: E402
from config.universe_file import load_universe  # noqa: E402
from gui.link import EngineLink, LinkState  # noqa: E402
from gui.main_window import MainWindow, make_app  # noqa: E402
from protocol.wiring import RunOptions  # noqa: E402

pytestmark = pytest.mark.integration

WAIT_MS = 240_000            # generous bound on reaching a state (never asserted as a duration)
CORE_ACTORS = {"Supervisor", "KiwoomBridge", "Throttler", "PairManager", "SpreadEngine", "Telemetry"}


def start_engine(port: int, run_dir: Path, speed: float | None = None, start_time: str | None = None,
                 attempts_s: float = 60.0) -> EngineRuntime:
    """A sim engine on admin ``port`` (one shard, the demo universe); retried while the port is still held."""
    over: dict[str, Any] = {"actor_system": {"admin_port": port, "kiwoom_host_admin_port": free_port()},
                            "market_data": {"shards": 1}}
    if start_time:
        over["sim"] = {"start_time": start_time}
    cfg = load_config(overrides=over)
    universe = load_universe(resolve_path(cfg.symbols.universe_file))
    deadline = time.monotonic() + attempts_s
    while True:
        rt = EngineRuntime(cfg, universe, RunOptions(backend="sim", speed=speed, duration_s=4 * 3600.0,
                                                     run_dir=str(run_dir)), in_process=False)   # the window's port
        try:
            rt.start()
            return rt
        except EngineStartError:
            rt.shutdown()
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


@pytest.fixture
def window(qtbot) -> Iterator[tuple[MainWindow, EngineLink, int]]:
    make_app()
    port = free_port()
    link = EngineLink(port, interval_ms=200)
    win = MainWindow(link)
    qtbot.addWidget(win)
    win.show()
    link.start()
    try:
        yield win, link, port
    finally:
        link.stop()


def wait(qtbot, what: str, cond) -> None:
    """Wait (bounded) until ``cond()`` holds; fail naming ``what`` (and the last error ``cond`` raised, if any:
    a snapshot may lack a part for a moment, which is not yet a failure)."""
    last: list[BaseException] = []

    def check() -> bool:
        try:
            return bool(cond())
        except Exception as exc:  # noqa: BLE001
            last[:] = [exc]
            return False

    try:
        qtbot.waitUntil(check, timeout=WAIT_MS)
    except AssertionError:
        pytest.fail(f"timed out waiting for: {what}" + (f" (last error: {last[0]!r})" if last else ""))


def click_row(qtbot, view, row: int) -> None:
    rect = view.visualRect(view.model().index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.center()))


def test_the_window_runs_a_real_engine_from_attach_to_stop_and_back(window, qtbot, tmp_path: Path) -> None:
    win, link, port = window
    # no engine yet: the window says so and keeps trying
    wait(qtbot, "the not-attached banner", lambda: "NOT ATTACHED" in win.banner.text())
    rt = start_engine(port, tmp_path / "run1")
    try:
        # every panel fills with the engine's data
        from gui.__main__ import panels_filled
        wait(qtbot, "every panel filled", lambda: panels_filled(win))
        snap = win.snap
        assert snap is not None and snap.desk is not None
        assert win.symbols_model.rowCount() == len(rt.universe) == 212
        assert {a.name for a in win.shards.health.rows} >= CORE_ACTORS
        assert "Connected" in win.status.kiwoom.text() and "모의투자" in win.status.kiwoom.text()
        assert win.reports.league.rowCount() > 0 and win.config.cfg is not None
        # the launch strip: Connect → Register feeds → Arm, all done in order
        wait(qtbot, "armed", lambda: win.launch.steps and all(s.done for s in win.launch.steps))
        c, f, a = win.launch.steps
        assert "logged in" in c.text and "5/5 screens" in f.text and a.text.startswith("ARMED")

        # a click on a feed line about a pair selects that pair in the pair monitor
        feed = win.live.feed
        wait(qtbot, "a feed line about a pair", lambda: any(e.pair_id for e in feed.entries))
        win.live.follow.setChecked(False)
        row = max(i for i, e in enumerate(feed.entries) if e.pair_id)
        pid = feed.entries[row].pair_id
        win.live.feed_view.scrollTo(feed.index(row, 0))
        click_row(qtbot, win.live.feed_view, row)
        assert win.live.selected == pid
        assert pid in win.live.pair_head.text()

        # mute / unmute a code from the Symbols view: the PairManager has it (the engine's own snapshot)
        win.tabs.setCurrentIndex(1)
        code = rt.universe.symbols[3].code
        win.symbols.filter.setText(code)
        wait(qtbot, "the filtered row", lambda: win.symbols.proxy.rowCount() == 1)
        click_row(qtbot, win.symbols.view, 0)
        assert win.symbols.selected_code() == code
        qtbot.mouseClick(win.symbols.mute_btn, Qt.MouseButton.LeftButton)
        wait(qtbot, f"{code} muted in the engine", lambda: code in dict(win.snap.desk.muted))
        assert "MUTED" in win.symbols_model.text(win.symbols_model.row_for(code), "control")
        qtbot.mouseClick(win.symbols.unmute_btn, Qt.MouseButton.LeftButton)
        wait(qtbot, f"{code} unmuted in the engine", lambda: code not in dict(win.snap.desk.muted))

        # disarm, then Arm (enabled: inside the guard window) re-arms the engine
        qtbot.mouseClick(win.launch.disarm_btn, Qt.MouseButton.LeftButton)
        wait(qtbot, "disarmed by the operator", lambda: win.snap.desk.disarmed_reason == "operator")
        wait(qtbot, "Arm enabled", lambda: win.launch.arm_btn.isEnabled())
        qtbot.mouseClick(win.launch.arm_btn, Qt.MouseButton.LeftButton)
        wait(qtbot, "armed again", lambda: win.snap.desk.armed)
        assert any("re-armed" in e.text for e in feed.entries if e.kind == "OPERATOR")

        # a live config edit: refused locally with the loader's words when invalid, applied when valid
        win.tabs.setCurrentIndex(2)
        ed = win.config.editors["execution.t_hedge_ms"]
        ed.setValue(0)
        qtbot.mouseClick(win.config.apply_btn, Qt.MouseButton.LeftButton)
        assert "execution.t_hedge_ms: Input should be greater than 0" in win.config.message.text()
        ed.setValue(900)
        qtbot.mouseClick(win.config.apply_btn, Qt.MouseButton.LeftButton)
        wait(qtbot, "t_hedge 900 in the desk", lambda: win.snap.desk.t_hedge_ms == 900)
        assert win.snap.config.execution.t_hedge_ms == 900

        # scale to 2 shards from the Shards view
        win.tabs.setCurrentIndex(4)
        win.shards.spin.setValue(2)
        qtbot.mouseClick(win.shards.scale_btn, Qt.MouseButton.LeftButton)
        wait(qtbot, "2 shards in the plan", lambda: len({p[0] for p in win.snap.shard_plan}) == 2)
        wait(qtbot, "the scale result", lambda: any(w == "scale 2" and ok for w, ok, _ in win.results))
        wait(qtbot, "two MarketData actors alive",
             lambda: sum(a.alive and a.name.startswith("MarketData") for a in win.snap.health.actors) == 2)

        # stop from the window: the engine finishes, the final report shows, then the engine goes away
        win.launch.confirm_stop = lambda: True
        qtbot.mouseClick(win.launch.stop_btn, Qt.MouseButton.LeftButton)
        wait(qtbot, "the run finished", lambda: win.snap.finished and win.snap.final_report is not None)
        win.tabs.setCurrentIndex(3)
        wait(qtbot, "the final report in Reports", lambda: "final report" in win.reports.totals.text())
        rep = next((r for r in (rt.report(60) for _ in range(3)) if r is not None), None)
        assert rep is not None and rep.report["extra"]["operator_actions"]
    finally:
        rt.shutdown()
    wait(qtbot, "the engine shown gone", lambda: link.state is LinkState.GONE and "ENGINE GONE" in win.banner.text())
    assert win.isVisible() and win.symbols_model.rowCount() == 212       # what it showed is still there
    old_epoch = win.epoch

    # a new engine on the same port: the window re-attaches and starts afresh
    wait(qtbot, "the port released", lambda: not port_in_use(port))
    rt2 = start_engine(port, tmp_path / "run2")
    try:
        wait(qtbot, "re-attached to the new engine",
             lambda: link.state is LinkState.ATTACHED and win.epoch != old_epoch and win.snap.bridge is not None)
        assert not win.banner.isVisible()
    finally:
        rt2.shutdown()


def test_arm_stays_disabled_before_the_guard_window(window, qtbot, tmp_path: Path) -> None:
    win, link, port = window
    rt = start_engine(port, tmp_path / "run", speed=1.0, start_time="08:55:00")   # 5 min before the guard
    try:
        wait(qtbot, "connected and feeds registered",
             lambda: win.launch.steps and win.launch.steps[0].done and win.launch.steps[1].done)
        _, _, arm = win.launch.steps
        assert not arm.done and not arm.enabled and not win.launch.arm_btn.isEnabled()
        assert "guard window opens at 09:00:32" in arm.text
        assert "DISARMED" in win.status.armed.text()
    finally:
        rt.shutdown()
