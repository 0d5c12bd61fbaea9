"""Replay throughput through the full actor engine at ``--speed max`` (SPEC §9: ≥ 20,000 L1 updates/s).

    python -m bench.replay [--symbols 800] [--rate 20000] [--seconds 30] [--quantum-ms 10]

Builds a recording in the recorder's schema (seed 004 columns plus ``fid_61``/``fid_71``): every
symbol quoted on KRX and NXT, ``--rate`` quote rows per second of market time in all, the two
venues' books random walks on the tick grid that now and then dislocate by a few ticks. It then
replays the file through the real actors (bridge with the emulator, shards, SpreadEngine,
PairManager, Throttler, Telemetry) in lockstep and prints one JSON object:

    {"rows", "market_seconds", "wall_s", "rows_per_s", "steps", "steps_per_s", "rows_per_step",
     "pairs_done", "flat", "target_rows_per_s", "met"}

``wall_s`` runs from the first step to the end of the run (start-up and the report are not counted);
``rows_per_s`` = rows the shards consumed / ``wall_s``. In lockstep each step advances the clock by at
least ``spread_engine.batch_interval_ms`` of market time and waits for the engine's credit, so the
figure is ``steps_per_s × rows_per_step``: it measures the actors' step rate at this batch size.
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


def run(symbols: int, rate: float, seconds: float, quantum_ms: int) -> dict:
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
        "actor_system": {"admin_port": port, "kiwoom_host_admin_port": host_port},
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
        "flat": all(q == 0 for q in report.get("net_position", {}).values()),
        "target_rows_per_s": TARGET_ROWS_PER_S, "met": bool(rps and rps >= TARGET_ROWS_PER_S),
    }


@click.command()
@click.option("--symbols", type=int, default=800, show_default=True)
@click.option("--rate", type=float, default=20_000.0, show_default=True, help="Quote rows per second of market time.")
@click.option("--seconds", type=float, default=30.0, show_default=True, help="Market time in the recording.")
@click.option("--quantum-ms", "quantum_ms", type=int, default=None,
              help="spread_engine.batch_interval_ms for the run (default: the config's, 10).")
def main(symbols: int, rate: float, seconds: float, quantum_ms: int | None) -> None:
    """Replay throughput through the actors at --speed max, JSON."""
    from config.loader import load_config
    quantum = quantum_ms or load_config().spread_engine.batch_interval_ms
    print(json.dumps(run(symbols, rate, seconds, quantum)), flush=True)


if __name__ == "__main__":
    main()
