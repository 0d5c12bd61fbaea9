"""Start, drive and stop the actor system from ordinary Python (launch.py, arbctl, tests, benches).

:class:`EngineRuntime` owns the external side of the Thespian system: it creates the ActorSystem
(base and admin port from ``actor_system``), optionally a separate Kiwoom host system (the
production layout, bridge over TCP), the Supervisor, and always shuts everything down.

A lockstep backtest (``--speed max``, ``sim`` or ``replay``, bridge local, ``actor_system.lockstep_in_process``)
runs every actor in this process on Thespian's ``simpleSystemBase``: the same actors exchanging the same
messages, each hop a function call instead of a TCP round trip. Its actors run only inside this object's calls,
so callers wait with :meth:`EngineRuntime.idle` (which drives it) instead of sleeping.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from config.schema import EngineConfig
from core.universe import Universe
from protocol.control import (
    HealthReport,
    HealthRequest,
    ReportRequest,
    RunReport,
    ScaleResult,
    ScaleShards,
    StatusReport,
    StatusRequest,
    StopEngine,
)
from protocol.system import BRIDGE_CAPABILITY, LOG_DEFS, SUPERVISOR_NAME
from protocol.wiring import EngineStarted, RunOptions, StartEngine

ROOT = Path(__file__).resolve().parents[1]
#: The Thespian base of an in-process lockstep run: every actor in the caller's process and thread.
IN_PROCESS_BASE = "simpleSystemBase"


class EngineStartError(RuntimeError):
    """A start-up failure with what the operator should do about it."""


def system_capabilities(cfg: EngineConfig, admin_port: int, bridge_here: bool,
                        leader: str | None = None) -> dict[str, Any]:
    caps: dict[str, Any] = {"Admin Port": admin_port}
    if cfg.actor_system.base != "multiprocQueueBase":
        caps["Process Startup Method"] = cfg.actor_system.process_startup_method
    if bridge_here:
        caps[BRIDGE_CAPABILITY] = True
    if leader:
        host, _, port = leader.rpartition(":")
        caps["Convention Address.IPv4"] = (host, int(port))
    return caps


class EngineRuntime:
    """The engine seen from outside the actor system.

    ``bridge_layout``: 'local' puts the KiwoomBridge in this system (sim/replay default); 'host'
    starts ``python -m kiwoom_bridge.host`` as a separate ActorSystem joined over TCP (the production
    layout, used by benchmarks); the kiwoom backend always expects an external host to join.
    """

    def __init__(self, cfg: EngineConfig, universe: Universe, options: RunOptions, admin_port: int | None = None,
                 bridge_layout: str = "local", host_admin_port: int | None = None,
                 in_process: bool | None = None) -> None:
        self.cfg = cfg
        self.universe = universe
        self.options = options
        self.admin_port = admin_port or cfg.actor_system.admin_port
        self.host_admin_port = host_admin_port or cfg.actor_system.kiwoom_host_admin_port
        self.bridge_layout = "external" if options.backend == "kiwoom" else bridge_layout
        #: every actor in this process (see the module docstring); a window passes ``in_process=False``
        self.in_process = (cfg.actor_system.lockstep_in_process and options.speed is None
                           and options.backend in ("sim", "replay") and self.bridge_layout == "local"
                           if in_process is None else in_process)
        self.base = IN_PROCESS_BASE if self.in_process else cfg.actor_system.base
        self.asys: Any = None
        self.supervisor: Any = None
        self.host_proc: subprocess.Popen[str] | None = None
        self.host_log: Path | None = None
        self.timeout = cfg.actor_system.ask_timeout_s

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> EngineStarted:
        warm_process_caches()
        from thespian.actors import ActorSystem
        base = self.base
        if not self.in_process and port_in_use(self.admin_port):
            raise EngineStartError(
                f"admin port {self.admin_port} is already in use: another engine (or a stale actor system) is "
                f"running there. Stop it, or set actor_system.admin_port in your config.")
        caps = system_capabilities(self.cfg, self.admin_port, bridge_here=self.bridge_layout == "local")
        try:
            self.asys = ActorSystem(base, caps, logDefs=LOG_DEFS, transientUnique=True)
        except Exception as exc:  # noqa: BLE001
            raise EngineStartError(f"cannot start the actor system ({base}, admin port {self.admin_port}): "
                                       f"{exc}. Is another engine running on that port? "
                                       f"Set actor_system.admin_port.") from exc
        if self.bridge_layout == "host":
            self._start_host()
        elif self.bridge_layout == "external":
            self._wait_for_host()
        self.supervisor = self.asys.createActor("actors.supervisor.Supervisor", globalName=SUPERVISOR_NAME)
        start = StartEngine(self.cfg, self.universe, self.options, launcher_pid=os.getpid(),
                            admin_port=self.admin_port, base=base)
        started = self.asys.ask(self.supervisor, start, max(30.0, self.timeout))
        if not isinstance(started, EngineStarted):
            raise EngineStartError(f"the Supervisor did not answer StartEngine (got {started!r})")
        if not started.ok:
            raise EngineStartError(started.error)
        return started

    def _start_host(self) -> None:
        cmd = [sys.executable, "-m", "kiwoom_bridge.host", "--leader", f"127.0.0.1:{self.admin_port}",
               "--admin-port", str(self.host_admin_port), "--base", self.cfg.actor_system.base]
        log_dir = Path(self.options.run_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.host_log = log_dir / "kiwoom_host.log"
        # a file, never a pipe: the host's detached admin inherits it and would block on a full pipe
        with open(self.host_log, "w") as fh:
            self.host_proc = subprocess.Popen(cmd, cwd=str(ROOT), stdout=fh, stderr=subprocess.STDOUT, text=True)
        self._wait_for_host()

    def _wait_for_host(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._host_joined():
                return
            if self.host_proc is not None and self.host_proc.poll() is not None:
                out = self.host_log.read_text(errors="replace") if self.host_log else ""
                raise EngineStartError(f"the Kiwoom host process exited: {out.strip()[-500:]}")
            time.sleep(0.2)
        raise EngineStartError(
            "no Kiwoom host joined this system: start `python -m kiwoom_bridge.host --leader "
            f"THIS_HOST:{self.admin_port}` (on Windows with the 32-bit Python that has the OpenAPI+)")

    def _host_joined(self) -> bool:
        """Probe: can an actor that needs the bridge capability be created in this convention?"""
        from thespian.actors import ActorExitRequest
        try:
            probe = self.asys.createActor("actors.bridge.BridgeProbe")
        except Exception:  # noqa: BLE001 - NoCompatibleSystemForActor (or not yet registered)
            return False
        self.asys.tell(probe, ActorExitRequest())
        return True

    def status(self) -> StatusReport | None:
        r = self.asys.ask(self.supervisor, StatusRequest(), 5)
        return r if isinstance(r, StatusReport) else None

    def health(self) -> HealthReport | None:
        r = self.asys.ask(self.supervisor, HealthRequest(), 5)
        return r if isinstance(r, HealthReport) else None

    def scale(self, shards: int, timeout_s: float = 30) -> ScaleResult | None:
        r = self.asys.ask(self.supervisor, ScaleShards(shards), timeout_s)
        return r if isinstance(r, ScaleResult) else None

    def stop(self, reason: str) -> None:
        self.asys.tell(self.supervisor, StopEngine(reason))

    def idle(self, seconds: float) -> None:
        """Let the engine run for about ``seconds`` of wall time. A multi-process engine runs by itself (this
        sleeps); an in-process one runs only inside calls into its system, so this asks the Supervisor for a status
        answered ``seconds`` later (or as soon as the run finished) and the engine runs until the answer comes."""
        if not self.in_process:
            time.sleep(seconds)
            return
        self.asys.ask(self.supervisor, StatusRequest(after_ms=max(1, int(seconds * 1000))), seconds + self.timeout)

    def wait_finished(self, timeout_s: float, poll_s: float = 0.2) -> StatusReport | None:
        deadline = time.monotonic() + timeout_s
        st = None
        while time.monotonic() < deadline:
            st = self.status()
            if st is not None and st.finished:
                return st
            self.idle(poll_s)
        return st

    def report(self, timeout_s: float = 60, partial: bool = False) -> RunReport | None:
        """The run report (``partial``: now, marked partial, whether or not the run has finished)."""
        r = self.asys.ask(self.supervisor, ReportRequest(partial=partial), timeout_s)
        return r if isinstance(r, RunReport) else None

    def shutdown(self) -> None:
        """Stop everything: the Kiwoom host (a convention member) first, then the leader."""
        if self.host_proc is not None:
            try:
                self.host_proc.terminate()
                self.host_proc.wait(15)
            except Exception:  # noqa: BLE001
                self.host_proc.kill()
            self.host_proc = None
        if self.asys is not None:
            try:
                self.asys.shutdown()
            finally:
                self.asys = None

    def __enter__(self) -> EngineRuntime:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


def warm_process_caches() -> None:
    """Build the XKRX calendar and compile the edge kernel once, before the actor system forks.

    Actor processes are forked (``process_startup_method: fork``) and inherit these caches, so no
    actor spends seconds of CPU on them at the start of a session.
    """
    import datetime as dt
    import importlib

    from core.costs import settlement_date
    from core.edge import warm_up
    settlement_date(dt.date.today())
    warm_up()
    # every module an actor imports on first use (the first order would otherwise pay for it:
    # measured 40-90 ms on the first SendOrder of a session)
    for mod in ("actors.pair_manager", "actors.throttler", "actors.spread_engine", "actors.market_data",
                "actors.telemetry", "actors.bridge", "kiwoom_bridge.bridge_core", "kiwoom_bridge.openapi",
                "kiwoom_bridge.translate", "kiwoom_bridge.errors", "kiwoom_bridge.emulator.control",
                "kiwoom_bridge.emulator.scheduler", "kiwoom_bridge.emulator.exchange",
                "kiwoom_bridge.emulator.synthetic", "kiwoom_bridge.emulator.replay", "core.pair_desk",
                "core.pair_fsm", "core.risk", "core.throttle", "core.spread", "core.book",
                "outputs.telemetry_book", "outputs.report", "outputs.audit", "outputs.alerts"):
        importlib.import_module(mod)
    import gc
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 50)


def replay_notice(status: Any) -> str | None:
    """``replay: <what the recording holds>`` once the bridge has said it (from a StatusReport), else None."""
    text = dict(status.detail).get("bridge.replay") if status is not None else None
    return f"replay: {text}" if text else None


def free_port() -> int:
    """A TCP+UDP port free right now on loopback (Thespian's admin needs both on some bases)."""
    import socket
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port found on 127.0.0.1")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on, or holds, TCP ``port`` on this machine.

    Connections of a system that just exited linger in TIME_WAIT; they do not hold the port for a new
    listener (Thespian's admin binds with SO_REUSEADDR), so this probe binds with it too and an engine can
    start again at once after an unclean kill. (On Windows SO_REUSEADDR would let two listeners share a
    port, so there the probe binds exclusively.)
    """
    import socket
    if port_listening(port, host):
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if sys.platform == "win32":
            s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_EXCLUSIVEADDRUSE", socket.SO_REUSEADDR), 1)
        else:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return True
    return False


def port_listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a process accepts TCP connections on ``port`` (an actor system's admin does)."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def connect(admin_port: int, base: str = "multiprocTCPBase", *, transient: bool = False) -> Any:
    """Join the running engine's actor system as a client (arbctl), or raise if nothing runs there.

    Never starts a new system: joining a port where no admin listens would start a stray admin
    daemon that outlives the caller. Only a listening socket counts: the port of an engine that
    has just shut down stays unbindable for a while (TIME_WAIT), yet nothing answers there.
    ``transient``: a client of its own rather than the process-wide one (a long-lived client such as
    the operator window, which re-attaches to engines coming and going); let it go with :func:`detach`.
    """
    no_engine = (f"no engine is running on admin port {admin_port} (start python launch.py, or pass --config "
                 f"with the right actor_system.admin_port)")
    if not port_listening(admin_port):
        raise EngineStartError(no_engine)
    from thespian.actors import ActorSystem
    before = _listeners(admin_port)
    asys = ActorSystem(base, {"Admin Port": admin_port}, logDefs=LOG_DEFS, transientUnique=transient)
    # the engine may have shut down between the probe and the join: then Thespian has just started an admin
    # of its own there, which would outlive this command and capture the next launch. That admin is none of
    # the processes that listened there before (an engine's actors all hold its inherited listening socket):
    # shut it down again and say that nothing runs there.
    after = _listeners(admin_port)
    if before is not None and after is not None and after and not (after & before):
        asys.shutdown()
        raise EngineStartError(no_engine)
    return asys


def _listeners(port: int) -> set[int] | None:
    """Pids of the processes listening on TCP ``port`` (None when that cannot be read on this machine)."""
    import psutil
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    return {c.pid for c in conns if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid}


def detach(asys: Any) -> None:
    """Let go of a client made by :func:`connect` without stopping the engine.

    ``ActorSystem.shutdown()`` on a client would ask the engine's admin to shut the whole system down;
    this only closes the client's own endpoint.
    """
    base = getattr(asys, "_systemBase", None)
    transport = getattr(base, "transport", None)
    if transport is not None:
        try:
            transport.close()
        except Exception:  # noqa: BLE001 - a client whose engine is gone may fail to close; nothing to keep
            pass
    if base is not None:
        asys._systemBase = None


def find_supervisor(asys: Any) -> Any:
    """The running engine's Supervisor (a global name in the engine's actor system)."""
    return asys.createActor("actors.supervisor.Supervisor", globalName=SUPERVISOR_NAME)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie does not count: it has exited)."""
    import psutil
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def shutdown_detached(base: str, admin_port: int) -> None:
    """Shut the actor system on ``admin_port`` down from a detached process: an actor cannot shut its own
    system down, and nobody else is left to (the process that started it is gone)."""
    code = ("from thespian.actors import ActorSystem\n"
            f"ActorSystem({base!r}, {{'Admin Port': {admin_port}}}, "
            f"logDefs={{'version': 1, 'root': {{'level': 'WARNING', 'handlers': []}}}}).shutdown()\n")
    flags = (subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
             if sys.platform == "win32" else 0)
    subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True, creationflags=flags)
