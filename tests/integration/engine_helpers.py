"""Run the real engine (multiprocess actors) from tests, and build small recordings by code."""
from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from actors.runtime import EngineRuntime
from config.loader import load_config, merge
from core.universe import Symbol, Universe
from kiwoom_bridge.recording import write_recording
from protocol.wiring import RunOptions
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def engine_config(overrides: dict | None = None) -> Any:
    """The default config with free admin ports and ``overrides`` merged key by key."""
    p = free_port()
    q = free_port()
    base = {"actor_system": {"admin_port": p, "kiwoom_host_admin_port": q}}
    return load_config(overrides=merge(base, overrides or {}))


def run_engine(cfg: Any, universe: Universe, run_dir: Path, *, backend: str = "sim", speed: float | None = None,
               duration_s: float | None = None, replay_file: str | None = None, seed: int | None = None,
               timeout_s: float = 240, during: Any = None) -> tuple[dict, EngineRuntime | None]:
    """Start the engine, optionally call ``during(rt)`` while it runs, wait for it to finish,
    return the run report dict. The actor system is always shut down."""
    opts = RunOptions(backend=backend, replay_file=replay_file, speed=speed, duration_s=duration_s, seed=seed,
                      run_dir=str(run_dir))
    rt = EngineRuntime(cfg, universe, opts)
    try:
        rt.start()
        if during is not None:
            during(rt)
        st = rt.wait_finished(timeout_s)
        assert st is not None and st.finished, f"the run did not finish in {timeout_s} s: {st}"
        rep = rt.report(60)
        assert rep is not None, "no run report"
        return rep.report, None
    finally:
        rt.shutdown()


def live_children() -> set[int]:
    """Pids of this process's descendants that still run (earlier tests may leave zombies behind)."""
    out = set()
    for p in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.add(p.pid)
        except psutil.NoSuchProcess:
            continue
    return out


def read_audit(run_dir: Path) -> list[dict]:
    """Audit rows of a run as dicts (CSV)."""
    import csv
    with open(run_dir / "audit.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def two_symbol_universe() -> Universe:
    return Universe((Symbol("005930", "Samsung Electronics", "KOSPI"), Symbol("000660", "SK hynix", "KOSPI")))


def quote(ts: dt.datetime, code: str, venue: str, bid: int, ask: int, bid_qty: int = 500,
          ask_qty: int = 500) -> dict:
    return {"timestamp": ts.isoformat(timespec="microseconds"), "symbol": code, "venue": venue,
            "real_type": "주식호가잔량", "fid_10": 0, "fid_11": 0, "fid_12": 0.0, "fid_13": 0,
            "fid_27": ask, "fid_28": bid, "fid_41": ask, "fid_51": bid, "fid_61": ask_qty, "fid_71": bid_qty,
            "raw_code": code if venue == "KRX" else f"{code}_NX"}


def build_recording(path: Path, day: dt.date, start: dt.time, seconds: float,
                    dislocations: list[tuple[float, float, str, str, int]], step_ms: int = 100,
                    hedge_jumps: list[tuple[float, str, str, int]] | None = None) -> Path:
    """A calm two-symbol day (KRX and NXT both 70,000/70,100 for 005930; 120,000/120,100 for 000660)
    with scripted events.

    ``dislocations``: (at_s, for_s, code, venue, ticks) — that venue's quotes move up ``ticks`` ticks
    for ``for_s`` seconds (the venue becomes rich: its bid above the other venue's ask).
    ``hedge_jumps``: (at_s, code, venue, ticks) — from then on that venue's ask moves up ``ticks``
    ticks (a passive hedge at the old ask is left behind), for the rest of the file.
    """
    base = {"005930": (70_000, 100), "000660": (120_000, 100)}
    t0 = dt.datetime.combine(day, start)
    rows = []
    n = int(seconds * 1000 / step_ms)
    for k in range(n):
        s = k * step_ms / 1000
        ts = t0 + dt.timedelta(milliseconds=k * step_ms)
        for code, (bid0, tick) in base.items():
            for vi, venue in enumerate(("KRX", "NXT")):
                bid, ask = bid0, bid0 + tick
                for at, dur, dcode, dven, ticks in dislocations:
                    if dcode == code and dven == venue and at <= s < at + dur:
                        bid, ask = bid + ticks * tick, ask + ticks * tick
                for at, jcode, jven, ticks in hedge_jumps or []:
                    if jcode == code and jven == venue and s >= at:
                        ask = ask + ticks * tick
                # a few microseconds apart so the two venues never share a timestamp
                rows.append(quote(ts + dt.timedelta(microseconds=vi + 2 * (code == "000660")), code, venue,
                                  bid, ask))
    return write_recording(path, rows, engine="fastparquet")


def dump(report: dict) -> str:
    return json.dumps({k: report.get(k) for k in ("pairs", "orders", "net_position", "pnl_krw", "errors")},
                      ensure_ascii=False, default=str)


#: Generous bound on waiting for the system to reach a state (never asserted: a loaded 2-core machine is slow).
POLL_DEADLINE_S = 300.0


def poll(fn, what: str, deadline_s: float = POLL_DEADLINE_S, every_s: float = 1.0):  # type: ignore[no-untyped-def]
    """Call ``fn`` every ``every_s`` until it returns a truthy value; fail (saying ``what``) after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every_s)
    pytest.fail(f"timed out waiting for {what}; last: {last!r}")
