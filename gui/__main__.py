"""``python -m gui``: attach the operator window to a running engine.

    python -m gui [--config PATH] [--admin-port P] [--interval-ms 500] [--screenshots DIR]

The admin port comes from the config (``actor_system.admin_port``) unless ``--admin-port`` is given. The
window attaches when the engine answers, re-attaches when it comes back and says clearly when it is gone;
closing the window never stops the engine (its Stop button does, after asking). ``--screenshots DIR``
waits until every panel has data (``--shots-min-pairs``: and the engine has done that many pairs, preferring a
moment with a pair in flight), renders each view to ``DIR/gui-<view>.png`` and exits.
"""
from __future__ import annotations

import signal
import sys
import time

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Config of the running engine (its actor_system.admin_port and base).")
@click.option("--admin-port", "admin_port", type=click.IntRange(1, 65535), default=None,
              help="Admin port of the engine's actor system (overrides the config).")
@click.option("--interval-ms", "interval_ms", type=click.IntRange(100, 5000), default=500, show_default=True,
              help="How often the window asks for a snapshot.")
@click.option("--screenshots", "shots_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Render every view to PNG files in this directory once they have data, then exit.")
@click.option("--shots-timeout-s", "shots_timeout_s", type=float, default=180.0, show_default=True,
              help="With --screenshots: give up (exit 1) when the panels are not filled by then.")
@click.option("--shots-min-pairs", "shots_min_pairs", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --screenshots: wait until the engine has done this many pairs (and, for up to 30 s "
                   "more, for a pair in flight to show).")
@click.option("--nice", "nice", type=click.IntRange(0, 19), default=19, show_default=True,
              help="Lower the window's CPU priority by this much (0 = unchanged): on a machine the engine "
                   "saturates, the operator window yields to the tick path (it lags a little instead).")
@click.option("--quit-after-s", "quit_after_s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Close after this many seconds and print what the window received as JSON (benchmarks).")
def main(config_path: str | None, admin_port: int | None, interval_ms: int, shots_dir: str | None,
         shots_timeout_s: float, shots_min_pairs: int, nice: int, quit_after_s: float | None) -> None:
    """The KRX<->NXT engine's operator window."""
    lower_priority(nice)            # before any thread starts: Linux threads inherit it from their creator
    from PyQt5.QtCore import QTimer

    from config.loader import ConfigError, load_config
    from gui.link import EngineLink
    from gui.main_window import MainWindow, make_app

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    port = admin_port or cfg.actor_system.admin_port
    app = make_app(sys.argv[:1])
    link = EngineLink(port, cfg.actor_system.base, interval_ms=interval_ms)
    win = MainWindow(link, title=f"KRX↔NXT arbitrage — operator (admin port {port})")
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    tick = QTimer()
    tick.timeout.connect(lambda: None)       # lets Python see Ctrl-C while Qt's loop runs
    tick.start(250)
    if shots_dir:
        start = time.monotonic()
        ready_at: list[float] = []

        def check() -> None:
            snap = win.snap
            done = int((snap.figures or {}).get("pairs_done") or 0) if snap is not None else 0
            if panels_filled(win) and done >= shots_min_pairs:
                if not ready_at:
                    ready_at.append(time.monotonic())
                active = snap is not None and snap.desk is not None and snap.desk.active
                if active or time.monotonic() - ready_at[0] > 30:
                    if active and snap is not None and snap.desk is not None:
                        win.live.select_pair(snap.desk.active[0].pair_id)
                    paths = win.grab_views(shots_dir)
                    click.echo("\n".join(str(p) for p in paths))
                    app.exit(0)
            elif time.monotonic() - start > shots_timeout_s:
                click.echo(f"the panels were not filled within {shots_timeout_s:g} s", err=True)
                app.exit(1)

        shots = QTimer()
        shots.timeout.connect(check)
        shots.start(500)
    if quit_after_s is not None:
        QTimer.singleShot(int(quit_after_s * 1000), app.quit)
    win.show()
    link.start()
    code = app.exec_()
    link.stop()
    if quit_after_s is not None:
        import json
        click.echo(json.dumps({"snapshots": win.snapshots, "link": link.state.value,
                               "symbols": win.symbols_model.rowCount(), "feed_lines": win.live.feed.rowCount()}))
    sys.exit(code)


def lower_priority(level: int) -> None:
    """Run the window below the engine's priority (Unix nice ``+level``; below-normal class on Windows)."""
    if level <= 0:
        return
    try:
        import psutil
        proc = psutil.Process()
        if sys.platform == "win32":
            proc.nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        else:
            proc.nice(min(19, proc.nice() + level))
    except Exception:  # noqa: BLE001 - a priority we may not change is no reason not to show the window
        pass


def panels_filled(win: object) -> bool:
    """Whether every view of the window shows engine data (a pair with a timeline, feed lines, symbol rows,
    a report with a league, health rows, the configuration)."""
    from gui.main_window import MainWindow
    assert isinstance(win, MainWindow)
    snap = win.snap
    if snap is None or snap.desk is None or snap.bridge is None:
        return False
    live = win.live
    return bool(len(win.symbols_model.infos) and live.feed.rowCount() and live.pair_list.rowCount()
                and live.timeline.rowCount() and win.reports.league.rowCount() and win.shards.health.rowCount()
                and win.config.cfg is not None)


if __name__ == "__main__":
    main()
