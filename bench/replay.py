"""Lockstep (``--speed max``) throughput through the full actor engine, side by side in one run (SPEC §9).

    python -m bench.replay [--only dense,sparse,sim] [--dense-seconds 30] [--sparse-seconds 180]
                           [--sim-seconds 60] [--quantum-ms 10]

* **dense**: an 800-symbol day at 20,000 quote rows/s of market time (target ≥ 20,000 rows/s);
* **sparse**: 20 symbols at ~83 rows/s (3 min ≈ 15,000 rows; target ≥ 50× real time);
* **sim**: the synthetic market on the demo universe (target ≥ 20× real time).

The recordings are in the recorder's schema (seed 004 columns plus ``fid_61``/``fid_71``): every symbol quoted
on KRX and NXT, the two venues' books random walks on the tick grid that now and then dislocate by a few ticks.
Each is replayed through the real actors (bridge with the emulator, shards, SpreadEngine, PairManager,
Throttler, Telemetry) and the run prints one JSON object::

    {"dense": {...}, "sparse": {...}, "sim": {...}, "dense_multiprocess": {...}, ..., "before": {...}}

The first three run as a backtest runs by default, every actor in this process (``actor_system.lockstep_in_process``);
the ``_multiprocess`` ones (unless ``--no-multiprocess``) run the same input on the multi-process base, side by
side: ``x_vs_multiprocess`` is the wall-time ratio, ``same_run_as_multiprocess`` says the steps, pairs, rows and
flatness agree.

each with ``wall_s`` (first step to the end of the run: start-up and the report not counted), ``rows_per_s``,
``x_real_time`` (market seconds / wall seconds), ``steps`` (lockstep steps: quiet quanta are merged, so fewer
than quanta), ``target`` and ``met``, and ``vs_before`` (this figure / :data:`BEFORE`'s, measured on the same
shared 2-core machine before lockstep merged quiet quanta).
"""
from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import click
import numpy as np

TARGET_ROWS_PER_S = 20_000
TARGET_SPARSE_X = 50.0
TARGET_SIM_X = 20.0
#: Measured before lockstep merged quiet quanta (commit 7b389d8, this machine, loaded by other runs): the dense
#: figure from the README's table (2026-12-01), the sparse day and a 300 s sim measured on 2026-12-02.
BEFORE = {"dense_rows_per_s": 10_436.0, "sparse_x_real_time": 1.55, "sparse_steps": 11_968,
          "sim_x_real_time": 0.84, "sim_steps_per_sim_s": 101.8}
DAY = dt.date(2026, 11, 20)           # a Friday, a KRX trading day
START = dt.time(10, 0, 0)


def build_recording(path: Path, codes: list[str], rate: float, seconds: float, seed: int = 11) -> int:
    """Write the recording; returns its number of rows. Vectorised: 600,000 rows take about a second."""
    import pandas as pd

    from core.clock import ns_from_kst
    from core.ticks import tick_size
    from kiwoom_bridge.recording import SEED_COLUMNS, SIZE_COLUMNS, format_timestamps, write_recording

    rng = np.random.default_rng(seed)
    n_sym = len(codes)
    n = int(rate * seconds)
    t0 = ns_from_kst(DAY, START)
    t = t0 + np.sort(rng.integers(0, int(seconds * 1e9), n))
    sym = rng.integers(0, n_sym, n)
    ven = rng.integers(0, 2, n)                      # 0 KRX, 1 NXT
    base = rng.choice([9_000, 31_000, 72_000, 150_000, 330_000], n_sym)
    tick = tick_size(base)
    # a random walk of the mid per symbol (shared by both venues) plus a rare per-venue dislocation
    steps = rng.choice([-1, 0, 0, 0, 1], n)
    walk = np.zeros(n, dtype=np.int64)
    for s in range(n_sym):            # cumulative sum per symbol in row order
        m = sym == s
        walk[m] = np.cumsum(steps[m])
    disloc = np.where(rng.random(n) < 0.002, rng.choice([-3, 3], n), 0)
    bid = base[sym] + (walk + disloc) * tick[sym]
    bid = np.maximum(bid, tick[sym])
    ask = bid + tick[sym]
    bid_qty = rng.integers(1, 800, n)
    ask_qty = rng.integers(1, 800, n)
    code_arr = np.asarray(codes, dtype=object)[sym]
    df = pd.DataFrame({
        "timestamp": format_timestamps(t), "symbol": code_arr,
        "venue": np.where(ven == 0, "KRX", "NXT").astype(object), "real_type": "주식호가잔량",
        "fid_10": 0, "fid_11": 0, "fid_12": 0.0, "fid_13": 0, "fid_27": ask, "fid_28": bid,
        "fid_41": ask, "fid_51": bid,
        "raw_code": np.where(ven == 0, code_arr, code_arr + "_NX").astype(object),
        "fid_61": ask_qty, "fid_71": bid_qty,
    })
    df = df[list(SEED_COLUMNS) + list(SIZE_COLUMNS)]
    write_recording(path, df, engine="pyarrow", coerce=False)
    return n


def run(symbols: int, rate: float, seconds: float, quantum_ms: int, in_process: bool = True) -> dict:
    from actors.runtime import EngineRuntime, free_port
    from config.loader import load_config
    from core.universe import Universe
    from protocol.wiring import RunOptions

    codes = [f"{100000 + 7 * i:06d}" for i in range(symbols)]
    uni = Universe.from_codes(codes, market="KOSPI", nxt=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    rec = tmp / f"market_data_{DAY:%Y%m%d}.parquet"
    t_build = time.monotonic()
    rows = build_recording(rec, codes, rate, seconds)
    build_s = time.monotonic() - t_build
    port, host_port = free_port(), free_port()
    cfg = load_config(overrides={
        "actor_system": {"admin_port": port, "kiwoom_host_admin_port": host_port, "lockstep_in_process": in_process},
        "spread_engine": {"batch_interval_ms": quantum_ms},
        "telemetry": {"heartbeat_interval_ms": 1000},
    })
    opts = RunOptions(backend="replay", replay_file=str(rec), speed=None, run_dir=str(tmp / "run"))
    rt = EngineRuntime(cfg, uni, opts)
    try:
        rt.start()
        w0 = time.monotonic()
        st = rt.wait_finished(3600, poll_s=0.2)
        wall = time.monotonic() - w0
        rep = rt.report(120)
        report = rep.report if rep is not None else {}
    finally:
        rt.shutdown()
    fin = (report.get("extra") or {}).get("finished") or {}
    consumed = int(report.get("ticks", 0))
    steps = int(fin.get("step", 0)) or int(dict(st.detail).get("bridge.step", 0) if st is not None else 0)
    rps = consumed / wall if wall > 0 else None
    return {
        "symbols": symbols, "rows": rows, "rows_consumed": consumed, "market_seconds": seconds,
        "quantum_ms": quantum_ms, "build_s": round(build_s, 2), "wall_s": round(wall, 2),
        "rows_per_s": round(rps, 1) if rps else None, "steps": steps,
        "steps_per_s": round(steps / wall, 1) if wall > 0 else None,
        "rows_per_step": round(consumed / steps, 1) if steps else None,
        "pairs_done": report.get("pairs", {}).get("done"),
        "flat": all(q == 0 for q in report.get("net_position", {}).values()), "in_process": rt.in_process,
        "target_rows_per_s": TARGET_ROWS_PER_S, "met": bool(rps and rps >= TARGET_ROWS_PER_S),
    }


def run_sim(seconds: float, quantum_ms: int, in_process: bool = True) -> dict:
    """The sim backend on the demo universe at --speed max for ``seconds`` of simulated time."""
    from actors.runtime import EngineRuntime, free_port
    from config.loader import load_config
    from config.universe_file import load_universe
    from protocol.wiring import RunOptions

    root = Path(__file__).resolve().parents[1]
    uni = load_universe(root / "config" / "universe_demo.csv")
    tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    cfg = load_config(overrides={
        "actor_system": {"admin_port": free_port(), "kiwoom_host_admin_port": free_port(),
                         "lockstep_in_process": in_process},
        "spread_engine": {"batch_interval_ms": quantum_ms},
    })
    rt = EngineRuntime(cfg, uni, RunOptions(backend="sim", speed=None, duration_s=seconds, run_dir=str(tmp / "run")))
    try:
        rt.start()
        w0 = time.monotonic()
        rt.wait_finished(3600, poll_s=0.2)
        wall = time.monotonic() - w0
        rep = rt.report(120)
        report = rep.report if rep is not None else {}
    finally:
        rt.shutdown()
    steps = int(((report.get("extra") or {}).get("finished") or {}).get("step", 0))
    x = seconds / wall if wall > 0 else 0.0
    return {"symbols": len(uni), "sim_seconds": seconds, "ticks": report.get("ticks"), "wall_s": round(wall, 2),
            "x_real_time": round(x, 2), "steps": steps, "pairs_done": report.get("pairs", {}).get("done"),
            "flat": all(q == 0 for q in (report.get("net_position") or {}).values()), "in_process": rt.in_process,
            "target_x_real_time": TARGET_SIM_X, "met": x >= TARGET_SIM_X,
            "vs_before": round(x / BEFORE["sim_x_real_time"], 1)}


def _replay_figures(out: dict, target_x: float | None) -> dict:
    x = out["market_seconds"] / out["wall_s"] if out["wall_s"] else 0.0
    out["x_real_time"] = round(x, 2)
    if target_x is not None:
        out["target_x_real_time"] = target_x
        out["met"] = x >= target_x
        out["vs_before"] = round(x / BEFORE["sparse_x_real_time"], 1)
    else:
        out["vs_before"] = round((out["rows_per_s"] or 0) / BEFORE["dense_rows_per_s"], 2)
    return out


@click.command()
@click.option("--only", default="dense,sparse,sim", show_default=True, help="Which runs, comma-separated.")
@click.option("--dense-seconds", type=float, default=30.0, show_default=True, help="Market time of the dense day.")
@click.option("--sparse-seconds", type=float, default=180.0, show_default=True,
              help="Market time of the sparse day.")
@click.option("--sim-seconds", type=float, default=60.0, show_default=True, help="Simulated time of the sim run.")
@click.option("--quantum-ms", "quantum_ms", type=int, default=None,
              help="spread_engine.batch_interval_ms for the runs (default: the config's, 10).")
@click.option("--multiprocess/--no-multiprocess", default=True, show_default=True,
              help="Also run each on the multi-process base (actor_system.lockstep_in_process: false), side by side.")
def main(only: str, dense_seconds: float, sparse_seconds: float, sim_seconds: float, quantum_ms: int | None,
         multiprocess: bool) -> None:
    """Lockstep throughput of a dense day, a sparse day and the sim, side by side, JSON."""
    from config.loader import load_config
    quantum = quantum_ms or load_config().spread_engine.batch_interval_ms
    runs = {r.strip() for r in only.split(",") if r.strip()}
    unknown = runs - {"dense", "sparse", "sim"}
    if unknown:
        raise click.BadParameter(f"unknown run(s) {sorted(unknown)}: choose from dense, sparse, sim",
                                 param_hint="--only")
    out: dict[str, object] = {}
    bases = (True, False) if multiprocess else (True,)
    for in_process in bases:
        tail = "" if in_process else "_multiprocess"
        if "dense" in runs:
            out["dense" + tail] = _replay_figures(run(800, 20_000.0, dense_seconds, quantum, in_process), None)
        if "sparse" in runs:
            out["sparse" + tail] = _replay_figures(run(20, 83.0, sparse_seconds, quantum, in_process),
                                                   TARGET_SPARSE_X)
        if "sim" in runs:
            out["sim" + tail] = run_sim(sim_seconds, quantum, in_process)
    for name in ("dense", "sparse", "sim"):
        fast, slow = out.get(name), out.get(name + "_multiprocess")
        if isinstance(fast, dict) and isinstance(slow, dict) and fast.get("wall_s") and slow.get("wall_s"):
            fast["x_vs_multiprocess"] = round(slow["wall_s"] / fast["wall_s"], 2)
            fast["same_run_as_multiprocess"] = all(fast.get(k) == slow.get(k) for k in
                                                   ("steps", "pairs_done", "flat", "rows_consumed", "ticks"))
    out["before"] = BEFORE
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
