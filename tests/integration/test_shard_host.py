"""Shard hosts (SPEC §8) with two actor systems on one machine: the engine (``launch.py``, the convention
leader) and a ``python -m actors.shard_host`` process on another free admin port.

"No tick lost" when a shard host dies, as tested here: the run goes on (ticks and pairs continue once the
shard is replaced on the leader), the steps the SpreadEngine evaluated without the dead shard are counted
(``extra.shards.gap_steps``), and at the end the SpreadEngine's book holds exactly the bridge's last quote of
every symbol (``extra.shards.book_check.mismatched == 0``): the replacement's snapshot brought back every
quote the dead shard never passed on.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from actors.runtime import port_listening
from tests.conftest import free_port
from tests.integration.engine_helpers import poll
from tests.integration.test_arbctl_ops import PYTHON, REPO, arbctl, port_pair, write_config

pytestmark = pytest.mark.integration


class ShardHostProcess:
    """``python -m actors.shard_host`` in a session of its own, its output in a file; :meth:`kill` takes its
    whole actor system down hard (the launcher and the daemonised admin's process group), as a dead machine."""

    def __init__(self, leader_port: int, admin_port: int, log: Path) -> None:
        self.admin_port = admin_port
        self.log = log
        with open(log, "w") as fh:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "actors.shard_host", "--leader", f"127.0.0.1:{leader_port}", "--admin-port",
                 str(admin_port)], cwd=str(REPO), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, text=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def system_pids(self) -> set[int]:
        """The launcher and every process of its actor system (the admin listening on its port and its
        process group: the admin's logger and the actors)."""
        pids = {self.proc.pid}
        for c in psutil.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.admin_port and c.pid:
                pgid = os.getpgid(c.pid)
                pids |= {p.pid for p in psutil.process_iter() if _pgid(p.pid) == pgid}
        return pids

    def kill(self) -> set[int]:
        pids = self.system_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        if port_listening(self.admin_port):
            self.kill()


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


@dataclass
class Leader:
    """``launch.py`` (sim, speed 4, one shard, the demo universe: 3 screens) on free ports, output in a file."""

    proc: subprocess.Popen[str]
    conf: Path
    admin_port: int
    log: Path


@pytest.fixture
def leader(tmp_path: Path) -> Iterator[Leader]:
    port = port_pair()
    conf = write_config(tmp_path, port)
    log = tmp_path / "launch.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([PYTHON, "launch.py", "--headless", "--config", str(conf), "--speed", "4",
                                 "--run-dir", str(tmp_path / "run")], cwd=str(REPO), stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        poll(lambda: proc.poll() is not None or arbctl("status", "--config", str(conf)).returncode == 0,
             "the engine to start")
        assert proc.poll() is None, log.read_text(errors="replace")
        yield Leader(proc, conf, port, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)        # the orderly stop
            try:
                proc.wait(180)
            except subprocess.TimeoutExpired:
                proc.kill()


def status(conf: Path) -> dict:
    return json.loads(arbctl("status", "--config", str(conf), "--json").stdout)


def shards(conf: Path) -> list[dict] | None:
    r = arbctl("health", "--config", str(conf), "--json")
    rep = json.loads(r.stdout)
    return [a for a in rep.get("actors", []) if a["name"].startswith("MarketData")] if r.returncode == 0 else None


def flowing(conf: Path, what: str) -> None:
    """Ticks, steps and finished pairs all move on from now."""
    before = status(conf)
    poll(lambda: (lambda s: s if (s["ticks"] > before["ticks"] and s["step"] > before["step"]
                                  and s["pairs_done"] > before["pairs_done"]) else None)(status(conf)), what)


def test_a_shard_on_a_shard_host_moves_back_to_the_leader_when_the_host_dies(leader: Leader, tmp_path: Path) -> None:
    conf = leader.conf
    host_port = free_port()
    # a host that never joined is refused by name, and nothing changes
    r = arbctl("scale", "--shards", "2", "--host", f"127.0.0.1:{host_port}", "--config", str(conf))
    assert r.returncode == 1 and "no shard host with that address has joined" in r.stdout, r.stdout + r.stderr
    assert [s["name"] for s in poll(lambda: shards(conf), "a healthy engine")] == ["MarketData[0]@0"]

    host = ShardHostProcess(leader.admin_port, host_port, tmp_path / "shard_host.log")
    try:
        poll(lambda: "shard host up" in host.output(), "the shard host to start")
        # the leader learns of the host from the convention: scale is refused (harmlessly) until it has
        scaled = poll(lambda: (lambda r: r if r.returncode == 0 else None)(
            arbctl("scale", "--shards", "2", "--host", f"127.0.0.1:{host_port}", "--config", str(conf))),
            "arbctl scale --host to place a shard on the shard host")
        assert "re-sharded to 2 shard(s) (1 on shard host" in scaled.stdout, scaled.stdout

        def placed() -> list[dict] | None:
            s = shards(conf)
            return s if s and [a["name"] for a in s] == ["MarketData[0]@1", "MarketData[1]@1"] and all(
                a["alive"] and a["pid"] for a in s) else None

        now = placed_shards = poll(placed, "health to show the new generation, every shard answering")
        assert now[0]["system"] == "local"
        assert now[1]["system"].endswith(f":{host_port}"), now
        # it really runs in the shard host's system, not the leader's
        assert now[1]["pid"] in host.system_pids()
        text = arbctl("health", "--config", str(conf)).stdout
        assert text.splitlines()[0].split()[-1] == "system"
        assert next(ln for ln in text.splitlines() if ln.startswith("MarketData[1]@1")).split()[-1] == now[1]["system"]
        flowing(conf, "ticks and pairs to go on with a shard on the shard host")

        killed = host.kill()
        assert placed_shards[1]["pid"] in killed

        def moved() -> list[dict] | None:
            s = shards(conf)
            return s if s and all(a["system"] == "local" and a["alive"] for a in s) and any(
                a["restarts"] == 1 for a in s) else None

        back = poll(moved, "health to show the dead host's shard replaced on the leader")
        assert [a["name"] for a in back] == ["MarketData[0]@1", "MarketData[1]@1r1"]
        flowing(conf, "ticks and pairs to go on after the move")
    finally:
        host.stop()
    assert not port_listening(host_port)

    stop = arbctl("stop", "--config", str(conf), timeout=300)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "Position: flat" in stop.stdout, stop.stdout
    shards_line = next(ln for ln in stop.stdout.splitlines() if ln.strip().startswith("Shards:"))
    assert shards_line.startswith("  Shards: 2 at the end; 1 moved to the leader (MarketData[1]@1 from "), shards_line
    assert shards_line.endswith("book check: 0 of 212 symbols differ from the bridge's last quote"), shards_line
    assert leader.proc.wait(120) == 0, leader.log.read_text(errors="replace")[-3000:]
    report = json.loads((tmp_path / "run" / "report.json").read_text(encoding="utf-8"))
    assert not [c for c, q in report["net_position"].items() if q], report["net_position"]
    sh = report["extra"]["shards"]
    assert sh["moved"] == 1, sh
    assert sh["moves"][0]["shard"] == "MarketData[1]@1" and sh["moves"][0]["from"].endswith(f":{host_port}")
    assert isinstance(sh["gap_steps"], int), sh
    assert sh["book_check"]["symbols"] == 212 and sh["book_check"]["mismatched"] == 0, sh
    assert sh["systems"] == {"MarketData[0]@1": "local", "MarketData[1]@1r1": "local"}
    messages = [e["message"] for e in report["errors"]]
    assert any("MarketData[1]@1 on shard host" in m and "replaced on the leader" in m for m in messages), messages
    assert not [m for m in messages if "does not own" in m or "book check" in m], messages


def test_the_shard_host_stops_on_sigterm_and_when_the_leader_goes(tmp_tcp_leader, tmp_path: Path) -> None:
    """No orphan: SIGTERM shuts the host's system down; so does the leader going away, and so does the host's
    own process dying (SIGKILL: its system's admin is a daemon, the host's watch actor shuts it down). One line
    says what the host did."""
    leader_port, shutdown_leader = tmp_tcp_leader
    first = ShardHostProcess(leader_port, free_port(), tmp_path / "a.log")
    second = ShardHostProcess(leader_port, free_port(), tmp_path / "b.log")
    third = ShardHostProcess(leader_port, free_port(), tmp_path / "c.log")
    try:
        for h in (first, second, third):
            poll(lambda h=h: "shard host up" in h.output(), "a shard host to start")
        assert port_listening(third.admin_port)
        third.proc.kill()
        third.proc.wait(10)
        poll(lambda: not port_listening(third.admin_port), "the killed host's system to shut itself down")

        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(60) == 0
        assert first.output().splitlines()[-1].startswith(
            f"shard host stopped (SIGTERM): admin port {first.admin_port} shut down"), first.output()
        assert not port_listening(first.admin_port)

        shutdown_leader()
        assert second.proc.wait(60) == 0
        assert second.output().splitlines()[-1].startswith(
            f"shard host stopped (the leader at 127.0.0.1:{leader_port} went away): admin port "
            f"{second.admin_port} shut down"), second.output()
        assert not port_listening(second.admin_port)
    finally:
        first.stop()
        second.stop()
        third.stop()


@pytest.fixture
def tmp_tcp_leader(admin_port: int) -> Iterator[tuple[int, object]]:
    """A bare TCP actor system as the convention leader, with a function that shuts it down early."""
    from thespian.actors import ActorSystem

    from tests.conftest import LOG_DEFS
    asys = ActorSystem("multiprocTCPBase", {"Admin Port": admin_port}, logDefs=LOG_DEFS, transientUnique=True)
    done = {"down": False}

    def shutdown() -> None:
        if not done["down"]:
            done["down"] = True
            asys.shutdown()
    try:
        yield admin_port, shutdown
    finally:
        shutdown()
