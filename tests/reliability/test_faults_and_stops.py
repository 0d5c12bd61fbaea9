"""Injected faults, killed actors and every way of stopping, at ``--speed max``, as an operator would meet them.

Each run must end flat, never send more than 5 orders in any second, exit with a code that means something
(0 = finished cleanly and flat, 1 = anything else) and leave no actor process and no listening admin behind.
Launches go through ``launch.py`` in a subprocess (signals, exit codes, files); killed actors through a real
engine started in-process (:class:`actors.runtime.EngineRuntime`), whose actor pids come from its health report.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from actors.runtime import EngineRuntime, EngineStartError, port_listening
from config.universe_file import load_universe
from core.universe import Symbol, Universe
from protocol.control import RunReport
from tests.integration.engine_helpers import ROOT, engine_config, live_children, poll
from tools.session_runner import SessionOutcome

pytestmark = pytest.mark.reliability

DEMO = ROOT / "config" / "universe_demo.csv"
WAIT_S = 180.0          # generous bounds on waiting for a state; never a timing assertion


def free_ports() -> tuple[int, int]:
    cfg = engine_config()
    return cfg.actor_system.admin_port, cfg.actor_system.kiwoom_host_admin_port


#: These tests stop, kill and query the multi-process engine from outside (arbctl, pids): at --speed max it is
#: chosen explicitly (the default runs a lockstep backtest in the launcher's process, tested at the end).
MULTIPROCESS = {"actor_system": {"lockstep_in_process": False}}


def write_config(tmp_path: Path, extra: str = "", in_process: bool = False) -> tuple[Path, int]:
    port, host_port = free_ports()
    conf = tmp_path / "engine.yaml"
    conf.write_text(f"actor_system: {{admin_port: {port}, kiwoom_host_admin_port: {host_port}, "
                    f"lockstep_in_process: {str(in_process).lower()}}}\n"
                    f"symbols: {{universe_file: {DEMO}}}\n" + extra, encoding="utf-8")
    return conf, port


def launch(tmp_path: Path, conf: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "launch.py", "--headless", "--config", str(conf), "--run-dir",
                             str(tmp_path / "run"), *args], cwd=str(ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def status(conf: Path) -> dict[str, Any]:
    r = subprocess.run([sys.executable, "-m", "tools.arbctl", "status", "--config", str(conf), "--json"],
                       cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    return json.loads(r.stdout) if r.stdout.strip() else {}


def wait_for(what: str, fn: Callable[[], Any]) -> Any:
    return poll(fn, what, WAIT_S, every_s=0.3)


def trading(conf: Path) -> dict[str, Any]:
    """Wait until the engine is armed and has completed a pair."""
    return wait_for("an armed engine with a pair done",
                    lambda: (lambda s: s if s.get("armed") and s.get("pairs_done", 0) > 0 else None)(status(conf)))


def engine_pids(port: int) -> set[int]:
    """Every process of the engine on admin ``port``: the admin's and its descendants."""
    for c in psutil.net_connections(kind="tcp"):
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            admin = psutil.Process(c.pid)
            return {admin.pid} | {p.pid for p in admin.children(recursive=True)}
    return set()


def assert_nothing_left(pids: set[int], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and ([p for p in pids if psutil.pid_exists(p) and
                                            psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
                                           or port_listening(port)):
        time.sleep(0.3)
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"engine processes left: {alive}"
    assert not port_listening(port), f"an admin still listens on {port}"


def read_report(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "run" / "report.json").read_text(encoding="utf-8"))


def open_legs(report: dict[str, Any]) -> dict[str, int]:
    return {c: q for c, q in report["net_position"].items() if q}


# -------------------------------------------------------------------------------------------- ways of stopping
def test_sigterm_is_the_orderly_stop(tmp_path: Path) -> None:
    conf, port = write_config(tmp_path)
    proc = launch(tmp_path, conf, "--speed", "max")
    try:
        trading(conf)
        pids = engine_pids(port)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "stop requested" in out and "Run report" in out and "Position: flat" in out
    report = read_report(tmp_path)
    assert not open_legs(report) and report["orders"]["max_in_any_1s"] <= 5
    assert any(k["kind"] == "operator" and "SIGTERM" in k["reason"] for k in report["kill_switch_events"])
    assert_nothing_left(pids, port)


def test_a_killed_launcher_is_noticed_and_the_engine_stops_itself(tmp_path: Path) -> None:
    conf, port = write_config(tmp_path)
    proc = launch(tmp_path, conf, "--speed", "max")
    try:
        trading(conf)
        pids = engine_pids(port)
        proc.kill()                                         # SIGKILL: nothing of the launcher runs any more
        proc.wait(timeout=30)
        report_file = tmp_path / "run" / "report.json"
        wait_for("the engine's own report", report_file.exists)
        assert_nothing_left(pids, port)
    finally:
        proc.kill()
    report = read_report(tmp_path)
    assert not open_legs(report), report["net_position"]
    assert any("the launcher" in e["message"] and "is gone" in e["message"] for e in report["errors"])


def test_the_third_interrupt_gives_a_partial_report_and_exit_1(tmp_path: Path) -> None:
    conf, port = write_config(tmp_path)
    proc = launch(tmp_path, conf, "--speed", "max")
    try:
        trading(conf)
        pids = engine_pids(port)
        for _ in range(3):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        proc.kill()
    assert proc.returncode == 1, err[-3000:]
    assert "PARTIAL" in out
    report = read_report(tmp_path)
    assert report["extra"]["partial"] is True
    legs = open_legs(report)
    if legs:                                   # whatever was open is shouted, code by code
        assert "OPEN LEGS — FLATTEN BY HAND" in err and all(code in err for code in legs)
    assert_nothing_left(pids, port)


def test_arbctl_stop_from_another_terminal(tmp_path: Path) -> None:
    conf, port = write_config(tmp_path)
    proc = launch(tmp_path, conf, "--speed", "max")
    try:
        trading(conf)
        pids = engine_pids(port)
        stop = subprocess.run([sys.executable, "-m", "tools.arbctl", "stop", "--config", str(conf)], cwd=str(ROOT),
                              capture_output=True, text=True, timeout=WAIT_S)
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        proc.kill()
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "Position: flat" in stop.stdout and f"admin port {port} has shut down" in stop.stdout
    assert proc.returncode == 0, err[-3000:]
    assert any(k["reason"] == "arbctl stop" for k in read_report(tmp_path)["kill_switch_events"])
    assert_nothing_left(pids, port)


# ------------------------------------------------------------------------------------------------ fault storms
def test_a_fault_storm_is_counted_and_ends_flat_within_the_cap(tmp_path: Path) -> None:
    """A -308 storm, broker rejects and dropped acks in one run: every kind is counted in the report, the
    summary names the refusals, and the book ends flat at ≤ 5 orders/s."""
    conf, _ = write_config(tmp_path, "sim:\n  faults:\n    reject_rate: 0.1\n    drop_ack_rate: 0.1\n"
                                     "    storm_308_window: {start: '09:00:40', end: '09:00:50'}\n")
    proc = launch(tmp_path, conf, "--speed", "max", "--duration", "45")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, (out[-3000:], err[-3000:])
    report = read_report(tmp_path)
    assert not open_legs(report) and report["orders"]["max_in_any_1s"] <= 5
    kinds = report["extra"]["orders"]["rejects_by_kind"]
    assert kinds["broker"] > 0 and kinds["rate_limited"] > 0 and kinds["lost"] > 0, kinds
    assert report["orders"]["rejects"] == sum(kinds.values())
    assert report["orders"]["timeouts"] >= kinds["lost"] > 0
    assert report["extra"]["orders"]["refusal_storms"], "the -308 storm raised no event"
    assert f"{kinds['rate_limited']} refused for the order rate (-308)" in out and "REFUSAL STORM" in out


def test_a_disconnect_disarms_and_the_dead_line_sees_few_sends(tmp_path: Path) -> None:
    """The connection drops mid-run: the engine disarms at once, counts it, and sends a bounded handful of
    cancels and hedges into the dead line (spaced by the cancel timeout) instead of a stream. A leg the dead
    line could not close makes the run exit 1 naming it; a flat book exits 0."""
    # with these faults (seeded, lockstep: the same every run) a hedge post is resting when the line drops
    conf, _ = write_config(tmp_path, "sim:\n  faults:\n    reject_rate: 0.1\n    drop_ack_rate: 0.1\n"
                                     "    storm_308_window: {start: '09:00:40', end: '09:00:50'}\n"
                                     "    disconnect_at: '09:01:00'\n")
    proc = launch(tmp_path, conf, "--speed", "max", "--duration", "45")
    out, err = proc.communicate(timeout=600)
    report = read_report(tmp_path)
    assert report["extra"]["connection"]["disconnects"] == 1 and "Connection: 1 disconnect(s)" in out
    assert any(k["kind"] == "disconnect" for k in report["kill_switch_events"])
    import csv
    with open(tmp_path / "run" / "audit.csv", newline="", encoding="utf-8") as fh:
        after = [r for r in csv.DictReader(fh) if r["ts"][11:19] >= "09:01:00"
                 and r["event_type"] in ("send", "cancel_send", "reject", "send_refused")]
    active = len({r["pair_id"] for r in after})
    assert active >= 1, "no pair was open when the line dropped: the test no longer tests the dead line"
    assert len(after) <= 12 * active, f"{len(after)} sends into the dead line for {active} pair(s)"
    legs = open_legs(report)
    assert proc.returncode == (1 if legs else 0), (out[-2000:], err[-2000:])
    if legs:
        assert "NOT FLAT" in err and all(code in err for code in legs)


# ---------------------------------------------------------------------------------------------- killed actors
def run_and_kill(tmp_path: Path, actor: str, *, duration_s: float = 50) -> tuple[dict[str, Any], dict[str, Any]]:
    """A multi-process engine started from this process at --speed max: once a pair is open, SIGKILL
    ``actor``; wait for the end.
    Returns the report and what was seen."""
    cfg = engine_config({"telemetry": {"heartbeat_interval_ms": 200}, **MULTIPROCESS})
    uni = load_universe(DEMO)
    from protocol.wiring import RunOptions
    rt = EngineRuntime(cfg, uni, RunOptions(backend="sim", speed=None, duration_s=duration_s,
                                            run_dir=str(tmp_path / "run")))
    seen: dict[str, Any] = {}
    try:
        rt.start()

        def victim() -> Any:
            h, st = rt.health(), rt.status()
            target = next((a for a in (h.actors if h else ()) if a.name == actor and a.pid), None)
            return target if (target is not None and st is not None and st.armed and st.pairs_done > 0
                              and st.active_pairs > 0) else None

        target = wait_for(f"a pair open while {actor} runs", victim)
        health = rt.health()
        assert health is not None
        seen["pids"] = {a.pid for a in health.actors if a.pid}
        os.kill(target.pid, signal.SIGKILL)
        seen["killed"] = target.pid
        st = rt.wait_finished(WAIT_S * 2)
        assert st is not None and st.finished, st
        rep = rt.report(60)
        assert rep is not None
        seen["pids"] |= {a.pid for a in (rt.health() or health).actors if a.pid}
        return rep.report, seen
    finally:
        rt.shutdown()
        assert_nothing_left(seen.get("pids", set()), cfg.actor_system.admin_port)


def test_a_killed_throttler_is_replaced_and_the_cap_holds(tmp_path: Path) -> None:
    report, _ = run_and_kill(tmp_path, "Throttler")
    assert not open_legs(report), (report["net_position"], report["errors"])
    assert report["orders"]["max_in_any_1s"] <= 5
    messages = [e["message"] for e in report["errors"]]
    assert any("Throttler exited; restarting it" in m for m in messages), messages
    assert report["pairs"]["done"] > 0


def test_a_killed_spread_engine_stops_the_run_flat(tmp_path: Path) -> None:
    report, _ = run_and_kill(tmp_path, "SpreadEngine")
    assert not open_legs(report), (report["net_position"], report["errors"])
    messages = [e["message"] for e in report["errors"]]
    assert any("SpreadEngine" in m and "the run stops" in m for m in messages), messages
    assert report["extra"]["finished"]["reason"] == "SpreadEngine died"
    assert report["extra"]["finished"]["aborted"] == "SpreadEngine died"
    assert SessionOutcome(RunReport(report)).exit_code == 1          # an aborted run never exits 0


def test_a_killed_telemetry_stops_the_run_and_says_what_is_lost(tmp_path: Path) -> None:
    report, _ = run_and_kill(tmp_path, "Telemetry")
    assert report["extra"]["telemetry_lost"] is True and report["extra"]["partial"] is True
    assert report["extra"]["flat"] is True and not open_legs(report)
    assert any("TELEMETRY LOST" in e["message"] for e in report["errors"])
    assert (tmp_path / "run" / "report.json").exists()
    assert SessionOutcome(RunReport(report)).exit_code == 1


def test_a_start_up_failure_leaves_no_process_and_no_admin(tmp_path: Path) -> None:
    """The Supervisor cannot lay the universe out on screens (bypassing the launcher's check): the start
    fails with a clear error and the actor system is gone."""
    cfg = engine_config(MULTIPROCESS)
    port = cfg.actor_system.admin_port
    big = Universe(tuple(Symbol(f"{c:06d}", f"S{c}", "KOSPI") for c in range(1, 10_002)))   # 20,002 codes
    from protocol.wiring import RunOptions
    rt = EngineRuntime(cfg, big, RunOptions(backend="sim", speed=None, duration_s=5, run_dir=str(tmp_path / "run")))
    pids: set[int] = set()
    try:
        with pytest.raises(EngineStartError, match="201 screens"):
            rt.start()
        pids = engine_pids(port)           # the admin and whatever it forked for the failed start
        assert pids, "no actor system to look at"
    finally:
        rt.shutdown()
    assert_nothing_left(pids, port)


# ---------------------------------------------------------------------------------- the in-process backtest
def test_an_in_process_backtest_stops_in_order_on_sigterm_and_leaves_nothing(tmp_path: Path) -> None:
    """The default --speed max run has every actor in the launcher: SIGTERM is still the orderly stop (exit 0,
    report, flat) and no other process or port ever existed."""
    conf, port = write_config(tmp_path, in_process=True)
    proc = launch(tmp_path, conf, "--speed", "max", "--duration", "3600")
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:                       # the launcher's own status lines (no admin port to ask)
            seen.append(line)
            if "engine started" in line:
                break
        assert any("engine started" in line for line in seen), seen
        out_stream = proc.stdout

        def pairs_done() -> bool:
            m = re.search(r"pairs active \d+ done (\d+)", out_stream.readline())
            return m is not None and int(m.group(1)) > 0

        wait_for("a status line with a pair done", pairs_done)
        children = psutil.Process(proc.pid).children(recursive=True)
        listening = port_listening(port)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        proc.kill()
    assert proc.returncode == 0, (out, err)
    assert not children and not listening
    report = read_report(tmp_path)
    assert any(k["kind"] == "operator" and "SIGTERM" in k["reason"] for k in report["kill_switch_events"])
    assert report["extra"]["flat"] is True and not open_legs(report)
    assert report["pairs"]["done"] > 0


def test_an_in_process_start_up_failure_is_one_clear_error(tmp_path: Path) -> None:
    cfg = engine_config()
    big = Universe(tuple(Symbol(f"{c:06d}", f"S{c}", "KOSPI") for c in range(1, 10_002)))   # 20,002 codes
    from protocol.wiring import RunOptions
    rt = EngineRuntime(cfg, big, RunOptions(backend="sim", speed=None, duration_s=5, run_dir=str(tmp_path / "run")))
    assert rt.in_process
    before = live_children()
    try:
        with pytest.raises(EngineStartError, match="201 screens"):
            rt.start()
        assert live_children() <= before, "an in-process start forked a process"
    finally:
        rt.shutdown()
