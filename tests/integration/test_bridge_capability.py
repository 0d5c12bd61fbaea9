"""The ``Kiwoom Bridge`` capability pins the KiwoomBridge actor to the Kiwoom host ActorSystem.

The production layout (SPEC §8): the engine's ActorSystem (the convention leader) has no bridge
capability; ``python -m kiwoom_bridge.host --leader HOST:PORT`` starts a second multiprocTCPBase system
that offers it and joins the leader's convention. The leader's ``createActor`` of the bridge must then
land in the host system, and nowhere else.

How "lives in the host" is proven. Thespian's ``startAdmin`` daemonizes every admin (``setsid`` and a
double fork), so a system's admin and actors are re-parented to PID 1 and are *not* descendants of the
process that started the system: a parent-chain check cannot work. Instead:

* the host subprocess gets a unique environment marker that the test process and the leader lack;
  forked admins and actors inherit the environment (and the command line), so the marker in the
  bridge's ``/proc/PID/environ`` proves the bridge descends from the host subprocess;
* a control actor created in the leader (no capability needed) lacks the marker and runs in another
  session than the bridge (each admin calls ``setsid``; its actors share that session);
* ``Thespian_StatusReq`` on the bridge reports the host's admin port as its ``adminAddress``.

Leftovers: after the host (first) and the leader are shut down, no live process may remain in either
system's session, and the test process may have no new live child processes.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from thespian.actors import ActorExitRequest, ActorSystem, NoCompatibleSystemForActor
from thespian.system.messages.status import Thespian_ActorStatus, Thespian_StatusReq

from protocol.control import Ping, Pong
from tests.conftest import LOG_DEFS, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = "actors.bridge.KiwoomBridge"
PROBE = "actors.bridge.BridgeProbe"
CONTROL = "actors.base.EngineActor"          # any importable actor without a capability requirement
MARKER_ENV = "ARB_TEST_KIWOOM_HOST_MARKER"
HOST_UP_TIMEOUT_S = 60.0
JOIN_TIMEOUT_S = 60.0
ASK_TIMEOUT_S = 30.0
HOST_EXIT_TIMEOUT_S = 30.0
GONE_TIMEOUT_S = 20.0


# --------------------------------------------------------------------------------------- helpers

class HostProcess:
    """``python -m kiwoom_bridge.host`` in a subprocess, its output collected by a reader thread.

    The reader is a daemon thread: the host's daemonized admin inherits the pipe, so end-of-file comes
    only when every process of the host system has exited.
    """

    def __init__(self, leader_port: int, admin_port: int, marker: str) -> None:
        env = dict(os.environ, **{MARKER_ENV: marker})
        env["PYTHONUNBUFFERED"] = "1"
        self.admin_port = admin_port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiwoom_bridge.host", "--leader", f"127.0.0.1:{leader_port}",
             "--admin-port", str(admin_port)],
            cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, name="host-stdout", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))

    def output(self) -> str:
        while True:
            try:
                self.lines.append(self._q.get_nowait())
            except queue.Empty:
                return "\n".join(self.lines)

    def wait_for_line(self, prefix: str, timeout_s: float) -> str:
        """The first output line starting with ``prefix``; fails if the host exits or times out first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    pytest.fail(f"the host exited with {self.proc.returncode} before printing "
                                f"{prefix!r}:\n{self.output()}")
                continue
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        pytest.fail(f"no {prefix!r} line from the host within {timeout_s:g} s:\n{self.output()}")

    def stop(self) -> int | None:
        """SIGTERM (the host then shuts its ActorSystem down) and wait; kill only as a last resort."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(HOST_EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return None
        return self.proc.returncode


def wait_until_joined(leader: ActorSystem, host: HostProcess, timeout_s: float) -> None:
    """Poll until an actor requiring the bridge capability can be created from the leader."""
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if host.proc.poll() is not None:
            pytest.fail(f"the host exited with {host.proc.returncode} before joining:\n{host.output()}")
        try:
            probe = leader.createActor(PROBE)
        except NoCompatibleSystemForActor as exc:   # not registered with the leader yet
            last = exc
            time.sleep(0.1)
            continue
        leader.tell(probe, ActorExitRequest())
        return
    pytest.fail(f"the host did not join the leader within {timeout_s:g} s (last error: {last!r}):\n"
                f"{host.output()}")


def ping(asys: ActorSystem, addr: object, nonce: int) -> Pong:
    reply = asys.ask(addr, Ping(nonce), ASK_TIMEOUT_S)
    assert isinstance(reply, Pong), f"expected a Pong, got {reply!r}"
    assert reply.nonce == nonce
    return reply


def running(pid: int) -> bool:
    """Alive and not a zombie (this container's PID 1 does not reap re-parented processes)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def session_members(sids: set[int]) -> list[tuple[int, int, str]]:
    """Live processes in any of the sessions ``sids``: (pid, sid, command line)."""
    out = []
    for p in psutil.process_iter(["pid", "status", "cmdline"]):
        if p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            sid = os.getsid(p.info["pid"])
        except OSError:
            continue
        if sid in sids:
            out.append((p.info["pid"], sid, " ".join(p.info["cmdline"] or ())))
    return out


def live_python_children(exclude: set[int]) -> list[tuple[int, str]]:
    """Live python children of the test process not in ``exclude`` (exited ones reaped first)."""
    multiprocessing.active_children()           # reaps the admins' exited daemonizing parents
    out = []
    for p in psutil.Process().children(recursive=True):
        if p.pid in exclude:
            continue
        try:
            if p.status() == psutil.STATUS_ZOMBIE or "python" not in p.name().lower():
                continue
            out.append((p.pid, " ".join(p.cmdline())))
        except psutil.NoSuchProcess:
            continue
    return out


def wait_for(predicate, timeout_s: float, poll_s: float = 0.2) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


@pytest.fixture
def children_before() -> Iterator[set[int]]:
    """The test process's children before the test; after it, no new live python child may remain."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield before
    ok = wait_for(lambda: not live_python_children(before), GONE_TIMEOUT_S)
    assert ok, f"python child processes left behind: {live_python_children(before)}"


# ----------------------------------------------------------------------------------------- tests

def test_bridge_created_from_the_leader_lands_in_the_host_system(children_before: set[int]) -> None:
    # Prepare: a leader without the capability, and the real host entry point joined to it
    leader_port, host_port = free_port(), free_port()
    while host_port == leader_port:
        host_port = free_port()
    marker = uuid.uuid4().hex
    assert os.environ.get(MARKER_ENV) != marker
    sessions: set[int] = set()
    watched: dict[str, int] = {}
    leader = ActorSystem("multiprocTCPBase", {"Admin Port": leader_port}, logDefs=LOG_DEFS,
                         transientUnique=True)
    host: HostProcess | None = None
    try:
        with pytest.raises(NoCompatibleSystemForActor):
            leader.createActor(BRIDGE)                  # nothing offers the capability yet
        host = HostProcess(leader_port, host_port, marker)
        up = host.wait_for_line("Kiwoom host up", HOST_UP_TIMEOUT_S)
        assert f"admin port {host_port}" in up and f"joined 127.0.0.1:{leader_port}" in up, up
        wait_until_joined(leader, host, JOIN_TIMEOUT_S)

        # Act
        bridge = leader.createActor(BRIDGE)
        pong = ping(leader, bridge, 1)
        control = leader.createActor(CONTROL)
        control_pong = ping(leader, control, 2)
        status = leader.ask(bridge, Thespian_StatusReq(), ASK_TIMEOUT_S)

        # Assert: the bridge runs in a process descended from the host subprocess ...
        assert pong.name == "KiwoomBridge"
        watched = {"bridge": pong.pid, "control": control_pong.pid}
        bridge_proc = psutil.Process(pong.pid)
        assert bridge_proc.environ().get(MARKER_ENV) == marker, \
            "the bridge did not inherit the host subprocess's environment"
        cmd = bridge_proc.cmdline()
        assert "kiwoom_bridge.host" in cmd and str(host_port) in cmd, cmd
        # ... and not in the leader's system, nor under the test process
        assert pong.pid not in (os.getpid(), host.proc.pid)
        assert os.getpid() not in {p.pid for p in bridge_proc.parents()}
        assert pong.pid not in {p.pid for p in psutil.Process().children(recursive=True)}
        control_proc = psutil.Process(control_pong.pid)
        assert MARKER_ENV not in control_proc.environ() or control_proc.environ()[MARKER_ENV] != marker
        sessions = {os.getsid(pong.pid), os.getsid(control_pong.pid)}
        assert len(sessions) == 2, "the bridge runs in the leader's actor session"
        assert os.getsid(0) not in sessions
        # ... whose admin is the host's admin port
        assert isinstance(status, Thespian_ActorStatus), f"expected Thespian_ActorStatus, got {status!r}"
        assert status.actorClass.endswith("KiwoomBridge"), status.actorClass
        assert status.adminAddress.addressDetails.sockname[1] == host_port, str(status.adminAddress)

        # Shutdown, members first: the host's own shutdown takes the bridge with it
        rc = host.stop()
        assert rc == 0, f"the host exited with {rc}:\n{host.output()}"
        assert wait_for(lambda: not running(pong.pid), GONE_TIMEOUT_S), \
            f"the bridge (pid {pong.pid}) outlived the host system"
        assert running(control_pong.pid), "stopping the host took down the leader's actors"
    finally:
        if host is not None:
            host.stop()
        leader.shutdown()

    # Assert: nothing of either system is left running
    if sessions:
        assert wait_for(lambda: not session_members(sessions), GONE_TIMEOUT_S), \
            f"actor-system processes left behind: {session_members(sessions)}"
    for name, pid in watched.items():
        assert not running(pid), f"{name} (pid {pid}) still running after shutdown"


def test_lone_system_without_the_capability_refuses_the_bridge(children_before: set[int]) -> None:
    # Prepare
    sid: int | None = None
    asys = ActorSystem("multiprocTCPBase", {"Admin Port": free_port()}, logDefs=LOG_DEFS, transientUnique=True)
    try:
        control_pid = ping(asys, asys.createActor(CONTROL), 1).pid
        sid = os.getsid(control_pid)

        # Act / Assert: the refusal names the problem and the actor
        with pytest.raises(NoCompatibleSystemForActor,
                           match=r"^No compatible ActorSystem could be found for Actor "
                                 r"actors\.bridge\.KiwoomBridge$"):
            asys.createActor(BRIDGE)
        with pytest.raises(NoCompatibleSystemForActor, match=r"BridgeProbe"):
            asys.createActor(PROBE)
        # the system itself is unharmed
        assert ping(asys, asys.createActor(CONTROL), 2).pid > 0
    finally:
        asys.shutdown()
    if sid is not None and sid != os.getsid(0):
        assert wait_for(lambda: not session_members({sid}), GONE_TIMEOUT_S), \
            f"actor-system processes left behind: {session_members({sid})}"
