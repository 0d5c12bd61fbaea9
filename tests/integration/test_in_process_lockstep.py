"""A ``--speed max`` backtest runs every actor in the launching process (``actor_system.lockstep_in_process``):
it must be the same run as on the multi-process base — the same orders, fills and report — only faster, and
leave no process or port behind."""
from __future__ import annotations

import threading
from pathlib import Path

from actors.runtime import EngineRuntime, port_listening
from config.universe_file import load_universe
from core.universe import Universe
from protocol.wiring import RunOptions
from tests.integration.engine_helpers import ROOT, engine_config, live_children, read_audit

BUSY = {"sim": {"market": {"dislocation_rate_per_min": 6.0}}}


def _universe(n: int = 40) -> Universe:
    full = load_universe(ROOT / "config" / "universe_demo.csv")
    return Universe(tuple(full.symbols[:n]))


def _run(run_dir: Path, in_process: bool, seen: dict | None = None) -> tuple[dict, EngineRuntime]:
    cfg = engine_config({**BUSY, "actor_system": {"lockstep_in_process": in_process}})
    opts = RunOptions(backend="sim", speed=None, duration_s=45, seed=3, run_dir=str(run_dir))
    rt = EngineRuntime(cfg, _universe(), opts)
    before = live_children()
    try:
        rt.start()
        if seen is not None:
            seen["listening"] = port_listening(cfg.actor_system.admin_port)
            seen["children"] = sorted(live_children() - before)
            seen["threads"] = threading.active_count()
        st = rt.wait_finished(240)
        assert st is not None and st.finished, st
        rep = rt.report(60)
        assert rep is not None
        return rep.report, rt
    finally:
        rt.shutdown()


def _same_run(report: dict) -> dict:
    keep = ("ticks", "signals", "pairs", "orders", "net_position", "inventory", "pnl_krw", "vi_events")
    return {k: report.get(k) for k in keep} | {"finished": {k: v for k, v in report["extra"]["finished"].items()}}


def test_an_in_process_backtest_is_the_same_run_as_the_multiprocess_one(tmp_path: Path) -> None:
    seen: dict = {}
    fast, rt_fast = _run(tmp_path / "in_process", True, seen)
    slow, rt_slow = _run(tmp_path / "multiprocess", False)
    assert rt_fast.in_process and not rt_slow.in_process
    assert rt_fast.base == "simpleSystemBase" and rt_slow.base == "multiprocTCPBase"
    # every actor ran here: no admin port, no child process
    assert seen == {"listening": False, "children": [], "threads": seen["threads"]}
    assert fast["pairs"]["done"] > 0, "the run traded nothing: the comparison would be empty"
    assert _same_run(fast) == _same_run(slow)
    assert read_audit(tmp_path / "in_process") == read_audit(tmp_path / "multiprocess")
    assert all(q == 0 for q in fast["net_position"].values())


def test_paced_runs_and_windows_stay_multiprocess(tmp_path: Path) -> None:
    cfg = engine_config()
    paced = EngineRuntime(cfg, _universe(4), RunOptions(backend="sim", speed=1.0, run_dir=str(tmp_path)))
    windowed = EngineRuntime(cfg, _universe(4), RunOptions(backend="sim", speed=None, run_dir=str(tmp_path)),
                             in_process=False)
    host = EngineRuntime(cfg, _universe(4), RunOptions(backend="sim", speed=None, run_dir=str(tmp_path)),
                         bridge_layout="host")
    assert not paced.in_process and not windowed.in_process and not host.in_process
    assert EngineRuntime(cfg, _universe(4), RunOptions(backend="replay", speed=None, run_dir=str(tmp_path))).in_process
