"""Start the whole engine: config → actor system → Kiwoom host for the backend → Supervisor → trade.

    python launch.py [--config PATH] [--backend sim|replay|kiwoom] [--replay FILE.parquet]
                     [--speed X|max] [--duration SECONDS] [--headless] [--report PATH] [--seed N]

Without flags it runs the simulator on the demo universe, its clock starting just before the guard
window so the engine arms within seconds. ``--duration`` counts engine-clock seconds (simulated
time in sim/replay). Ctrl-C disarms, lets in-flight pairs finish, writes the report and shuts
every process down.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any



def parse_speed(text: str) -> float | None:
    """``max`` → None (lockstep); otherwise a positive float multiple of real time."""
    if text.strip().lower() == "max":
        return None
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed must be a number or 'max', got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"--speed must be > 0, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="launch.py", description="KRX<->NXT cross-venue arbitrage engine")
    p.add_argument("--config", help="YAML file merged over config/default.yaml")
    p.add_argument("--backend", choices=("sim", "replay", "kiwoom"), default="sim")
    p.add_argument("--replay", metavar="FILE", help="recording to replay (with --backend replay)")
    p.add_argument("--speed", type=parse_speed, default=1.0, metavar="X|max",
                   help="simulated clock speed (multiple of real time) or 'max' for lockstep")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this much engine-clock time")
    p.add_argument("--headless", action="store_true", help="no GUI; print a live status line")
    p.add_argument("--report", metavar="PATH", help="write the run report JSON here")
    p.add_argument("--seed", type=int, help="seed of the synthetic market (overrides sim.seed)")
    p.add_argument("--run-dir", help="directory for the audit log and report files (default: a new one "
                                     "under persistence.reports_dir)")
    return p


def fail(msg: str, code: int = 2) -> int:
    print(msg, file=sys.stderr)
    return code


def status_line(st: Any) -> str:
    from core.clock import kst_datetime
    clock = kst_datetime(st.t_ns).strftime("%H:%M:%S") if st.t_ns else "--:--:--"
    armed = "ARMED" if st.armed else "disarmed"
    pause = " AUTO-PAUSE" if st.paused else ""
    return (f"{clock} {st.session:<10} {armed:<8}{pause} ticks/s {st.ticks_per_s:8.0f}  tokens {st.tokens_free}  "
            f"pairs active {st.active_pairs} done {st.pairs_done}  PnL {st.pnl_net_krw:+,.0f} KRW")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from config.loader import ConfigError, load_config, resolve_path
    from config.universe_file import UniverseError, load_universe

    overrides: dict[str, Any] = {}
    if args.seed is not None:
        overrides["sim"] = {"seed": args.seed}
    try:
        cfg = load_config(args.config, overrides or None)
    except ConfigError as exc:
        return fail(str(exc))
    if args.backend == "replay" and not args.replay:
        return fail("--backend replay needs --replay FILE.parquet")
    if args.replay and args.backend != "replay":
        args.backend = "replay"
    if args.replay and not Path(args.replay).exists():
        return fail(f"--replay {args.replay}: file not found")
    try:
        universe = load_universe(resolve_path(cfg.symbols.universe_file, args.config))
    except (UniverseError, OSError) as exc:
        return fail(f"symbols.universe_file: {exc}")

    run_dir = Path(args.run_dir) if args.run_dir else (
        resolve_path(cfg.persistence.reports_dir, args.config) / dt.datetime.now().strftime("run-%Y%m%d-%H%M%S"))
    run_dir.mkdir(parents=True, exist_ok=True)

    headless = args.headless or not _gui_available()
    if not args.headless and headless:
        print("no display (or no GUI module) available: running headless", file=sys.stderr)

    from protocol.wiring import RunOptions
    from actors.runtime import EngineRuntime, RuntimeErrorWithHint

    opts = RunOptions(backend=args.backend, replay_file=args.replay, speed=args.speed, duration_s=args.duration,
                      seed=args.seed, run_dir=str(run_dir), config_path=args.config)
    rt = EngineRuntime(cfg, universe, opts)
    stop_requested = {"n": 0}

    def on_sigint(signum: int, frame: Any) -> None:  # noqa: ARG001
        stop_requested["n"] += 1
        if stop_requested["n"] > 2:
            raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_sigint)
    report = None
    try:
        rt.start()
        print(f"engine started: backend {args.backend}, {len(universe)} symbols, speed "
              f"{'max' if args.speed is None else args.speed}, run dir {run_dir}", flush=True)
        last_line = 0.0
        stopping = False
        replay_said = args.backend != "replay"
        tty = sys.stdout.isatty()
        every = 1.0 if tty else 5.0
        while True:
            if stop_requested["n"] and not stopping:
                print("\nstop requested: disarming, finishing in-flight pairs…", flush=True)
                rt.stop("operator interrupt (Ctrl-C)")
                stopping = True
            st = rt.status()
            replay_said = _say_replay_once(st, replay_said)
            if st is not None and headless and time.monotonic() - last_line >= every:
                # one live line on a terminal; a plain line every few seconds into a pipe or log
                print(("\r" if tty else "") + status_line(st), end="" if tty else "\n", flush=True)
                last_line = time.monotonic()
            if st is not None and st.finished:
                break
            time.sleep(0.2)
        if tty:
            print()
        report = rt.report()
    except RuntimeErrorWithHint as exc:
        _remove_if_empty(run_dir)        # the run never started: leave no empty run folder behind
        return fail(str(exc), 1)
    finally:
        signal.signal(signal.SIGINT, old)
        rt.shutdown()
    if report is None:
        return fail("the run ended without a report", 1)
    from outputs.report import summarise
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report.report, indent=2, ensure_ascii=False, default=str))
    print(summarise(report.report))
    if args.report:
        print(f"report: {args.report}")
    print(f"run files: {run_dir}")
    bad = [c for c, q in report.report.get("net_position", {}).items() if q != 0]
    return 1 if bad else 0


def _say_replay_once(st: Any, said: bool) -> bool:
    """Print once what the replayed recording holds (fid_41 meaning, whether sizes are checked)."""
    from actors.runtime import replay_notice
    notice = None if said else replay_notice(st)
    if notice:
        print(f"\n{notice}", flush=True)
    return said or notice is not None


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()                    # only succeeds on an empty directory
    except OSError:
        pass


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
    sys.exit(main())
