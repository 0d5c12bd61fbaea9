"""Start the whole engine: config → actor system → Kiwoom host for the backend → Supervisor → trade.

    python launch.py [--config PATH] [--backend sim|replay|kiwoom] [--replay FILE.parquet]
                     [--speed X|max] [--duration SECONDS] [--headless] [--report PATH] [--seed N]

Without flags it runs the simulator on the demo universe, its clock starting just before the guard
window so the engine arms within seconds. ``--duration`` counts engine-clock seconds (simulated
time in sim/replay). Ctrl-C disarms, lets in-flight pairs finish, writes the report and shuts
every process down.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from tools.session_runner import SessionOutcome

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def parse_speed(text: str) -> float | None:
    """``max`` → None (lockstep); otherwise a positive float multiple of real time.

    Raises:
      ValueError: for anything else, naming the text.
    """
    if text.strip().lower() == "max":
        return None
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"must be a number or 'max', got {text!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise ValueError(f"must be a finite number > 0 or 'max', got {text!r}")
    return v


def speed_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """click callback of ``--speed``: :func:`parse_speed`, errors as click's usage errors."""
    if value is None:
        return None
    try:
        return parse_speed(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _fail(message: str, code: int = EXIT_INVALID) -> None:
    click.echo(message, err=True)
    sys.exit(code)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="YAML file merged over config/default.yaml.")
@click.option("--backend", type=click.Choice(["sim", "replay", "kiwoom"]), default="sim", show_default=True)
@click.option("--replay", "replay_file", metavar="FILE", default=None,
              help="Recording to replay (implies --backend replay).")
@click.option("--universe", "universe_file", metavar="FILE", default=None,
              help="Replay only the recording's codes listed in this universe file (default: all of the "
                   "recording's codes).")
@click.option("--speed", default="1", callback=speed_option, metavar="X|max", show_default=True,
              help="Simulated clock speed (a multiple of real time) or 'max' for lockstep.")
@click.option("--duration", "duration_s", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="Stop after this much engine-clock time.")
@click.option("--headless", is_flag=True, help="No GUI; print a live status line.")
@click.option("--report", "report_path", metavar="PATH", default=None, help="Write the run report JSON here.")
@click.option("--seed", type=int, default=None, help="Seed of the synthetic market (overrides sim.seed).")
@click.option("--run-dir", "run_dir", default=None,
              help="Directory for the audit log and report files (default: a new one under "
                   "persistence.reports_dir).")
def main(config_path: str | None, backend: str, replay_file: str | None, universe_file: str | None,
         speed: float | None, duration_s: float | None, headless: bool, report_path: str | None, seed: int | None,
         run_dir: str | None) -> None:
    """KRX<->NXT cross-venue arbitrage engine.

    Exit codes: 0 = finished and flat; 1 = a runtime failure or not flat; 2 = invalid input.
    """
    from rich.console import Console

    from actors.runtime import EngineRuntime, EngineStartError
    from config.loader import resolve_path
    from outputs.report import summarise
    from protocol.wiring import RunOptions, parse_backend
    from tools.preflight import InputError, preflight, replay_symbols_notes
    from tools.session_runner import run_session

    if replay_file:
        backend = "replay"
    try:        # every input checked before anything starts: a bad one exits 2 and leaves nothing behind
        checked = preflight(config_path, backend=backend, replay_file=replay_file,
                            overrides={"sim": {"seed": seed}} if seed is not None else None,
                            universe_file=universe_file)
    except InputError as exc:
        _fail(str(exc))
        return
    cfg, universe = checked.config, checked.universe

    rdir = Path(run_dir) if run_dir else (
        resolve_path(cfg.persistence.reports_dir, config_path) / dt.datetime.now().strftime("run-%Y%m%d-%H%M%S"))
    made_rdir = not rdir.exists()
    rdir.mkdir(parents=True, exist_ok=True)
    console = Console(highlight=False)
    window: subprocess.Popen[bytes] | None = None
    if not headless and not _gui_available():
        console.print("no display (or no GUI module) available: running headless", style="yellow")
    elif not headless:
        window = open_window(cfg.actor_system.admin_port, config_path, rdir / "window.log")
        console.print(f"operator window started (pid {window.pid}, log {rdir / 'window.log'}); it attaches as "
                      f"soon as the engine answers", highlight=False)

    symbols_notes = replay_symbols_notes(checked)
    opts = RunOptions(backend=parse_backend(backend), replay_file=replay_file, speed=speed, duration_s=duration_s,
                      seed=seed, run_dir=str(rdir), config_path=config_path,
                      symbols_source=checked.replay.source if checked.replay else "", symbols_notes=symbols_notes)
    rt = EngineRuntime(cfg, universe, opts, in_process=False if window is not None else None)  # a window needs the port
    headline = "\n".join((f"engine started: backend {backend}, {len(universe)} symbols, speed "
                          f"{'max' if speed is None else f'{speed:g}'}, run dir {rdir}",) + symbols_notes)
    try:
        outcome = run_session(rt, console, headline=headline, replay=backend == "replay")
    except EngineStartError as exc:
        if made_rdir:
            shutil.rmtree(rdir, ignore_errors=True)   # the run never started: leave no run folder behind
        _fail(str(exc), EXIT_FAILED)
        return
    if window is not None and window.poll() not in (None, 0):
        console.print(f"the operator window exited early (code {window.returncode}): see {rdir / 'window.log'}",
                      style="yellow", highlight=False)
    if outcome.report is None:
        _fail(outcome.failed or "the run ended without a report", EXIT_FAILED)
        return
    report = outcome.report.report
    if report_path:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    click.echo(summarise(report))
    if report_path:
        click.echo(f"report: {report_path}")
    click.echo(f"run files: {rdir}")
    if outcome.exit_code != EXIT_OK:
        click.echo(_why_not_ok(outcome), err=True)
    sys.exit(outcome.exit_code)


def _why_not_ok(outcome: SessionOutcome) -> str:
    """One line on why a run that produced a report still exits 1."""
    from tools.session_runner import open_legs
    legs = open_legs(outcome.report.report) if outcome.report is not None else {}
    if legs:
        return "NOT FLAT: " + ", ".join(f"{c} {q:+d}" for c, q in sorted(legs.items())) + " — flatten by hand"
    if outcome.abandoned:
        return "the run was abandoned before it finished: the report is partial"
    finished = (outcome.report.report.get("extra") or {}).get("finished") or {} if outcome.report else {}
    if finished.get("aborted"):
        return f"the run was cut short ({finished['aborted']}): see the report's errors"
    return "the run did not finish cleanly: see the report's errors"


def window_command(admin_port: int, config_path: str | None) -> list[str]:
    """The command that opens the operator window on the engine at ``admin_port`` (its own process)."""
    cmd = [sys.executable, "-m", "gui", "--admin-port", str(admin_port)]
    if config_path:
        cmd += ["--config", config_path]
    return cmd


def open_window(admin_port: int, config_path: str | None, log_path: Path) -> subprocess.Popen[bytes]:
    """Start the operator window in its own process and session: off the tick path, and Ctrl-C in this
    terminal stops the engine in order without closing the window, which then shows the engine gone (and
    its final report); closing the window never stops the engine. Its output goes to ``log_path`` (a Qt
    platform that cannot start says why there)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(window_command(admin_port, config_path), cwd=str(Path(__file__).resolve().parent),
                                start_new_session=True, stdout=log, stderr=subprocess.STDOUT)


def _gui_available() -> bool:
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return False
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return False
    try:
        import gui.main_window  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means no GUI
        return False
    return True


if __name__ == "__main__":
    main()
