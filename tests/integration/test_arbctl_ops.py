"""``arbctl health / status / scale / replay`` as real subprocesses against a real running engine."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from actors.runtime import EngineRuntime, port_in_use
from actors.runtime import port_listening as listening
from config.loader import load_config, resolve_path
from config.universe_file import load_universe
from core.clock import ns_from_kst
from kiwoom_bridge.recording import format_timestamp, write_recording
from protocol.wiring import RunOptions
from tests.conftest import free_port
from tests.integration import engine_helpers

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/work/venv/bin/python" if Path("/work/venv/bin/python").exists() else sys.executable
CODES = ("005930", "000660", "035420")
CORE_ACTORS = ("Supervisor", "KiwoomBridge", "Throttler", "PairManager", "SpreadEngine", "Telemetry")
POLL_DEADLINE_S = 120.0     # generous bound on waiting for the system to reach a state (never asserted)


def port_pair() -> int:
    """A free admin port P whose neighbour P+1 (the Kiwoom host admin port) is free too."""
    for _ in range(50):
        p = free_port()
        if not port_in_use(p + 1):
            return p
    raise RuntimeError("no free pair of ports")


def write_config(tmp_path: Path, port: int, universe_file: Path | None = None) -> Path:
    """A config on admin port P (Kiwoom host P+1), one shard; the demo universe unless ``universe_file``."""
    conf = tmp_path / "engine.yaml"
    conf.write_text(f"actor_system: {{admin_port: {port}, kiwoom_host_admin_port: {port + 1}}}\n"
                    + (f"symbols: {{universe_file: {universe_file}}}\n" if universe_file else "")
                    + "market_data: {shards: 1}\n", encoding="utf-8")
    return conf


def write_universe(tmp_path: Path, codes: tuple[str, ...] = CODES) -> Path:
    p = tmp_path / "universe.csv"
    p.write_text("code,name,market,nxt\n" + "".join(f"{c},S{c},KOSPI,true\n" for c in codes), encoding="utf-8")
    return p


def arbctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "tools.arbctl", *args], cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout)


def poll(fn, what: str):
    """Call ``fn`` every second until it returns a truthy value; fail (saying ``what``) after POLL_DEADLINE_S."""
    return engine_helpers.poll(fn, what, POLL_DEADLINE_S)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[EngineRuntime, Path]]:
    """A real engine (sim backend, speed 20, no duration) on free ports; always shut down.

    The demo universe (212 symbols = 3 screens), so that it can be re-sharded to 2 shards.
    """
    port = port_pair()
    conf = write_config(tmp_path, port)
    cfg = load_config(conf)
    universe = load_universe(resolve_path(cfg.symbols.universe_file, conf))
    assert len(universe) > 100
    rt = EngineRuntime(cfg, universe, RunOptions(backend="sim", speed=20.0, run_dir=str(tmp_path / "run"),
                                                 config_path=str(conf)))
    try:
        rt.start()
        yield rt, conf
    finally:
        rt.shutdown()


def health_json(conf: Path) -> tuple[int, dict]:
    r = arbctl("health", "--config", str(conf), "--json")
    return r.returncode, json.loads(r.stdout)


def test_health_status_scale_against_a_running_engine(engine) -> None:
    rt, conf = engine

    # health: wait for the first heartbeats (every telemetry.heartbeat_interval_ms)
    def healthy():
        r = arbctl("health", "--config", str(conf))
        return r if r.returncode == 0 else None

    r = poll(healthy, "arbctl health to exit 0")
    names = [line.split()[0] for line in r.stdout.splitlines()[1:-1]]
    for actor in CORE_ACTORS:
        assert actor in names, r.stdout
    assert [n for n in names if n.startswith("MarketData")] == ["MarketData[0]@0"], r.stdout
    assert r.stdout.splitlines()[0].split()[:3] == ["name", "pid", "alive"]
    assert r.stdout.splitlines()[-1].startswith(f"healthy: all {len(names)} actors alive")

    code, h = health_json(conf)
    assert code == 0 and h["healthy"] is True
    assert all(a["alive"] and a["pid"] > 0 for a in h["actors"])

    st = arbctl("status", "--config", str(conf))
    assert st.returncode == 0, st.stderr
    lines = st.stdout.splitlines()
    heads = [ln.split()[0] for ln in lines]
    assert heads[:7] == ["clock", "session", "ticks", "tokens", "pairs", "PnL", "paused"]
    assert "account" in heads, "the account's state (reported, cash, untradeable codes) is shown"
    assert "KST" in lines[0] or "not started" in lines[0]
    assert lines[-1].split() == ["finished", "no"]
    sj = json.loads(arbctl("status", "--config", str(conf), "--json").stdout)
    assert sj["reachable"] is True and sj["finished"] is False and "armed" in sj
    # a paced run's latencies: the bridge probed its clock against the engine's and found the one machine's
    assert sj["detail"]["bridge.latency_clock"] == "the engine's (same machine, by probe)", sj["detail"]
    assert "latency   stamped on the engine's (same machine, by probe)" in st.stdout

    sc = arbctl("scale", "--shards", "2", "--config", str(conf))
    assert sc.returncode == 0, sc.stdout + sc.stderr
    assert "2 shard" in sc.stdout

    def two_shards():
        code, rep = health_json(conf)
        shards = sorted(a["name"] for a in rep.get("actors", []) if a["name"].startswith("MarketData"))
        return rep if code == 0 and shards == ["MarketData[0]@1", "MarketData[1]@1"] else None

    rep = poll(two_shards, "health to show exactly the two new MarketData shards, all alive")
    assert {a["name"] for a in rep["actors"]} >= set(CORE_ACTORS)

    # the engine keeps stepping on the new shards: ticks and the engine clock move on
    before = json.loads(arbctl("status", "--config", str(conf), "--json").stdout)
    poll(lambda: (lambda s: s if s["ticks"] > before["ticks"] and s["step"] > before["step"] else None)(
        json.loads(arbctl("status", "--config", str(conf), "--json").stdout)), "ticks to keep flowing after scale")

    # and back down to one shard
    sc = arbctl("scale", "--shards", "1", "--config", str(conf))
    assert sc.returncode == 0, sc.stdout + sc.stderr

    def one_shard():
        code, rep = health_json(conf)
        shards = sorted(a["name"] for a in rep.get("actors", []) if a["name"].startswith("MarketData"))
        return rep if code == 0 and shards == ["MarketData[0]@2"] else None

    poll(one_shard, "health to show the single generation-2 shard")
    before = json.loads(arbctl("status", "--config", str(conf), "--json").stdout)
    poll(lambda: (lambda s: s if s["ticks"] > before["ticks"] and s["step"] > before["step"] else None)(
        json.loads(arbctl("status", "--config", str(conf), "--json").stdout)), "ticks to keep flowing after scale down")

    rt.stop("test over")
    final = rt.wait_finished(60)
    assert final is not None and final.finished
    report = rt.report()
    assert report is not None
    assert report.report["ticks"] > 0
    assert all(q == 0 for q in report.report["net_position"].values()), (
        {k: v for k, v in report.report["net_position"].items() if v}, report.report["errors"],
        report.report.get("extra"), report.report["pairs"])
    assert not [e for e in report.report["errors"] if "does not own" in e["message"]], report.report["errors"]
    # re-sharding and a loaded machine lose no order: acks that came 15 ms after their send are
    # never taken for silence (regression: the bridge once handed out a step's events out of order)
    assert not [e for e in report.report["errors"] if "order_lost" in e["message"]], report.report["errors"]
    assert not [e for e in report.report["errors"] if "did not flush" in e["message"]], report.report["errors"]


def test_health_exits_1_when_an_actor_dies(engine) -> None:
    """Kill the engine's SpreadEngine (an actor with no restart path): health must say so, and the run
    stops by itself with its open pairs finished (the PairManager steps on without signals)."""
    rt, conf = engine
    def healthy():
        # every actor has answered a heartbeat (a pid): a just-started actor counts as healthy before that,
        # and os.kill(0, ...) would kill this test's own process group
        code, rep = health_json(conf)
        return rep if code == 0 and all(a["pid"] for a in rep["actors"]) else None

    rep = poll(healthy, "a healthy engine")
    spread = next(a for a in rep["actors"] if a["name"] == "SpreadEngine")
    os.kill(spread["pid"], signal.SIGKILL)

    def unhealthy():
        r = arbctl("health", "--config", str(conf))
        return r if r.returncode == 1 and "UNHEALTHY: SpreadEngine" in r.stdout else None

    r = poll(unhealthy, "arbctl health to report the dead SpreadEngine")
    row = next(line for line in r.stdout.splitlines() if line.startswith("SpreadEngine"))
    assert row.split()[2] == "NO"

    final = rt.wait_finished(90)
    assert final is not None and final.finished, final
    report = rt.report(60)
    assert report is not None
    messages = [e["message"] for e in report.report["errors"]]
    assert any("SpreadEngine" in m and "the run stops" in m for m in messages), messages
    assert not [c for c, q in report.report["net_position"].items() if q], report.report["net_position"]


def test_a_killed_throttler_is_restarted_and_trading_goes_on(engine) -> None:
    """SIGKILL the Throttler: a new one (its token window rebuilt from the bridge's order log) takes over,
    health shows the restart, orders keep flowing within the cap, and the stop ends flat."""
    rt, conf = engine

    def trading():
        code, rep = health_json(conf)
        st = json.loads(arbctl("status", "--config", str(conf), "--json").stdout)
        return rep if (code == 0 and all(a["pid"] for a in rep["actors"]) and st.get("armed")
                       and st.get("pairs_done", 0) > 0) else None

    rep = poll(trading, "an armed engine that has done a pair")
    throttler = next(a for a in rep["actors"] if a["name"] == "Throttler")
    os.kill(throttler["pid"], signal.SIGKILL)
    done_before = json.loads(arbctl("status", "--config", str(conf), "--json").stdout)["pairs_done"]

    def restarted():
        code, rep = health_json(conf)
        new = [a for a in rep.get("actors", []) if a["name"].startswith("Throttler")]
        return rep if code == 0 and new and new[0]["restarts"] == 1 and new[0]["pid"] != throttler["pid"] else None

    poll(restarted, "health to show the restarted Throttler")
    poll(lambda: (lambda s: s if s["pairs_done"] > done_before else None)(
        json.loads(arbctl("status", "--config", str(conf), "--json").stdout)), "pairs to complete after the restart")

    rt.stop("test over")
    final = rt.wait_finished(90)
    assert final is not None and final.finished
    report = rt.report(60).report
    assert not [c for c, q in report["net_position"].items() if q], report["net_position"]
    assert report["orders"]["max_in_any_1s"] <= 5
    messages = [e["message"] for e in report["errors"]]
    assert any("Throttler exited; restarting it" in m for m in messages), messages


def test_health_and_status_exit_1_when_nothing_runs(tmp_path: Path) -> None:
    port = port_pair()
    conf = write_config(tmp_path, port)
    for cmd in ("health", "status"):
        r = arbctl(cmd, "--config", str(conf))
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert r.stderr.strip() == (f"no engine is running on admin port {port} (start python launch.py, or pass "
                                    f"--config with the right actor_system.admin_port)")
        assert r.stdout == ""
    assert not listening(port)          # arbctl never started a system of its own there
    r = arbctl("health", "--config", str(conf), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["reachable"] is False


def test_health_after_the_engine_stopped_starts_no_stray_system(tmp_path: Path) -> None:
    """Just after an engine shut down its admin port cannot be bound (TIME_WAIT) but nobody listens:
    arbctl must say nothing runs, not start an admin daemon of its own that outlives it."""
    port = port_pair()
    conf = write_config(tmp_path, port)
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        held.bind(("", port))           # bound, never listening: like a socket in TIME_WAIT
        r = arbctl("health", "--config", str(conf))
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert r.stderr.strip().startswith(f"no engine is running on admin port {port}"), r.stderr
    finally:
        held.close()
    assert not listening(port)


def replay_rows(codes: tuple[str, ...] = CODES) -> list[dict[str, object]]:
    """20 s of three symbols on both venues (quotes every 200 ms, a few trades); from 8 s to 9 s the
    NXT bid of the first code (005930) is 5 ticks above the KRX ask, an edge well above fees and tax."""
    t0 = ns_from_kst(dt.date(2025, 9, 8), dt.time(10, 0, 0))
    rows: list[dict[str, object]] = []
    cum: dict[str, int] = {}
    for k in range(100):
        t = t0 + k * 200_000_000
        for j, code in enumerate(codes):
            base = 70_000 + 10_000 * j
            for v, venue in enumerate(("KRX", "NXT")):
                bid = base + (600 if (j == 0 and venue == "NXT" and 40 <= k < 45) else 0)
                rows.append({"timestamp": format_timestamp(t + j * 1_000_000 + v * 500_000), "symbol": code,
                             "venue": venue, "real_type": "주식호가잔량", "fid_41": bid + 100, "fid_51": bid,
                             "fid_61": 300, "fid_71": 300, "raw_code": code + ("_NX" if v else "")})
            if k % 10 == 5:
                cum[code] = cum.get(code, 0) + 10
                rows.append({"timestamp": format_timestamp(t + 100_000_000 + j * 1_000_000), "symbol": code,
                             "venue": "KRX", "real_type": "주식체결", "fid_10": base, "fid_13": cum[code],
                             "raw_code": code})
    rows.sort(key=lambda r: str(r["timestamp"]))
    return rows


def test_arbctl_replay_of_a_small_recording(tmp_path: Path) -> None:
    port = port_pair()
    conf = write_config(tmp_path, port, write_universe(tmp_path))
    rec = write_recording(tmp_path / "market_data_20250908.parquet", replay_rows(), "fastparquet")
    report_path = tmp_path / "out" / "report.json"
    r = arbctl("replay", str(rec), "--config", str(conf), "--speed", "max", "--report", str(report_path),
               "--run-dir", str(tmp_path / "run"), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Run report: backend replay, 3 symbols" in r.stdout and "Position: flat" in r.stdout
    rep = json.loads(report_path.read_text(encoding="utf-8"))
    for key in ("backend", "symbols", "ticks", "signals", "pairs", "orders", "net_position", "pnl_krw",
                "latency_ms", "kill_switch_events", "errors"):
        assert key in rep, key
    assert rep["backend"] == "replay" and rep["symbols"] == 3
    assert rep["ticks"] == len(replay_rows())
    assert rep["signals"] >= 1
    assert rep["orders"]["sent"] >= 2                       # a take and its hedge at least
    assert rep["pairs"]["done"] + rep["pairs"]["failed"] + rep["pairs"]["escalated"] >= 1
    assert "005930" in rep["net_position"]
    assert all(q == 0 for q in rep["net_position"].values())
    # the SpreadEngine's book ends with the bridge's last quote of every symbol (SPEC §8: no tick lost)
    check = rep["extra"]["shards"]["book_check"]
    assert (check["symbols"], check["mismatched"]) == (3, 0), rep["extra"]["shards"]
    # the report's period is the recording's (20 s from 10:00), not a leap to the 15:20 session timer
    period = rep["extra"]["period"]
    assert period["last_ts"] < "2025-09-08T10:00:25", period
    assert not listening(port)                              # the replay's actor system was shut down
    # what the file holds is said once and kept in the report
    src = rep["extra"]["replay"]
    assert src["fid41_meaning"] == "price+sizes" and src["size_check_applied"] is True
    assert src["files"] == [str(rec)] and src["rows_replayed"] == len(replay_rows())
    assert "Replay: fid_61/fid_71 present" in r.stdout and "size check applied" in r.stdout


#: Codes of the user's own recording that config/universe_demo.csv does not list.
OWN_CODES = ("900010", "900020", "900030")


def trading_figures(rep: dict) -> tuple:
    return (rep["symbols"], rep["ticks"], rep["signals"], rep["pairs"], rep["orders"], rep["net_position"],
            rep["pnl_krw"], rep["kill_switch_events"], rep["extra"]["replay"]["symbols_notes"])


def test_a_users_recording_replays_its_own_codes_with_the_default_config(tmp_path: Path) -> None:
    """SPEC §6: codes outside the demo universe replay with no set-up, the account holds them as it holds demo
    codes (so the engine trades them), it says once which codes and from where, and two runs agree."""
    demo = {s.code for s in load_universe(REPO / "config" / "universe_demo.csv")}
    assert not demo & set(OWN_CODES)
    port = port_pair()
    conf = write_config(tmp_path, port)                         # the default (demo) universe file
    rec = write_recording(tmp_path / "market_data_20250908.parquet", replay_rows(OWN_CODES), "fastparquet")
    reports = []
    for k in range(2):
        report_path = tmp_path / f"report{k}.json"
        r = arbctl("replay", str(rec), "--config", str(conf), "--speed", "max", "--report", str(report_path),
                   "--run-dir", str(tmp_path / f"run{k}"), timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        said = [line for line in r.stdout.splitlines() if "codes (taken from the recording" in line]
        assert len(said) == 1 and "replaying the recording's 3 codes" in said[0], r.stdout
        assert "900010, 900020, 900030" in said[0] and "3 not in it (named by their code" in said[0]
        reports.append(json.loads(report_path.read_text(encoding="utf-8")))
    rep = reports[0]
    assert rep["symbols"] == 3 and rep["ticks"] == len(replay_rows(OWN_CODES))
    assert rep["extra"]["replay"]["symbols_source"] == "recording"
    assert rep["extra"]["replay"]["symbols_notes"] == [said[0]]
    assert rep["pairs"]["done"] >= 1 and "900010" in rep["net_position"], rep["pairs"]
    assert all(q == 0 for q in rep["net_position"].values())
    assert trading_figures(reports[0]) == trading_figures(reports[1])


def test_universe_option_restricts_a_replay_and_names_the_codes_the_recording_lacks(tmp_path: Path) -> None:
    port = port_pair()
    conf = write_config(tmp_path, port)
    rec = write_recording(tmp_path / "market_data_20250908.parquet", replay_rows(OWN_CODES), "fastparquet")
    only = tmp_path / "only.csv"
    only.write_text("code,name,market,nxt\n900010,Mine,KOSDAQ,true\n123456,Absent,KOSPI,true\n", encoding="utf-8")
    report_path = tmp_path / "report.json"
    r = subprocess.run([PYTHON, "launch.py", "--headless", "--replay", str(rec), "--universe", str(only),
                        "--config", str(conf), "--speed", "max", "--report", str(report_path),
                        "--run-dir", str(tmp_path / "run")], cwd=str(REPO), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(report_path.read_text(encoding="utf-8"))
    assert rep["symbols"] == 1 and set(rep["net_position"]) <= {"900010"}
    assert rep["ticks"] == sum(1 for row in replay_rows(OWN_CODES) if row["symbol"] == "900010")
    assert rep["pairs"]["done"] >= 1
    notes = rep["extra"]["replay"]["symbols_notes"]
    assert notes == [f"replaying 1 codes of --universe {only} that the recording holds (of the recording's 3): "
                     f"900010", f"1 codes of --universe {only} are not in the recording: 123456"]
    assert sum(r.stdout.count(n) for n in notes) == 2, r.stdout


def test_a_universe_without_the_recordings_codes_exits_2(tmp_path: Path) -> None:
    port = port_pair()
    conf = write_config(tmp_path, port)
    rec = write_recording(tmp_path / "market_data_20250908.parquet", replay_rows(OWN_CODES), "fastparquet")
    other = tmp_path / "other.csv"
    other.write_text("code,name\n123456,Absent\n", encoding="utf-8")
    r = arbctl("replay", str(rec), "--universe", str(other), "--config", str(conf), "--run-dir", str(tmp_path / "run"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip() == (f"--universe {other}: none of its 1 codes is in the recording (which holds 3: "
                                f"900010, 900020, 900030)")
    assert not (tmp_path / "run").exists() and not listening(port)


def test_arbctl_replay_of_a_file_without_sizes_says_the_size_check_was_not_applied(tmp_path: Path) -> None:
    """A seed 004 file as the user's recorder wrote it: fid_41/fid_51 hold prices, no fid_61/fid_71."""
    port = port_pair()
    conf = write_config(tmp_path, port, write_universe(tmp_path))
    rows = [{k: v for k, v in row.items() if k not in ("fid_61", "fid_71")} for row in replay_rows()]
    rec = write_recording(tmp_path / "market_data_20250908.parquet", rows, "fastparquet")
    report_path = tmp_path / "report.json"
    r = arbctl("replay", str(rec), "--config", str(conf), "--speed", "max", "--report", str(report_path),
               "--run-dir", str(tmp_path / "run"), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    src = json.loads(report_path.read_text(encoding="utf-8"))["extra"]["replay"]
    assert src["fid41_meaning"] == "price" and src["size_check_applied"] is False
    assert src["assumed_visible_qty"] == 100
    assert "size check NOT applied" in src["description"]
    said = [line for line in r.stdout.splitlines() if line.startswith("replay: ")]
    assert len(said) == 1 and "size check NOT applied" in said[0], r.stdout
    assert "Replay: " in r.stdout and "size check NOT applied" in r.stdout.split("Run report")[1]


def test_arbctl_replay_of_a_missing_file_is_invalid(tmp_path: Path) -> None:
    port = port_pair()
    conf = write_config(tmp_path, port, write_universe(tmp_path))
    r = arbctl("replay", str(tmp_path / "nope.parquet"), "--config", str(conf), "--run-dir", str(tmp_path / "run"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"recording {tmp_path / 'nope.parquet'}: file not found"
    assert not (tmp_path / "run").exists()


def test_arbctl_replay_of_an_unreadable_row_is_invalid_input(tmp_path: Path) -> None:
    """A recording with the right columns but a bad row: found by reading it whole before anything starts,
    so exit 2 with the row and column named, no actor system, no run folder."""
    port = port_pair()
    conf = write_config(tmp_path, port, write_universe(tmp_path))
    good = write_recording(tmp_path / "good.parquet", replay_rows()[:30], "pyarrow")
    df = pd.read_parquet(good)
    df.loc[3, "timestamp"] = "yesterday"
    rec = write_recording(tmp_path / "bad.parquet", df, "fastparquet", coerce=False)
    r = arbctl("replay", str(rec), "--config", str(conf), "--run-dir", str(tmp_path / "run"), timeout=300)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "row 3 (0-based), column 'timestamp'" in r.stderr and "yesterday" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "run").exists()
    assert not listening(port)          # its actor system was shut down
