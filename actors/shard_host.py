"""A MarketData shard host: an ActorSystem that joins the engine's convention and hosts shards (SPEC §8).

    python -m actors.shard_host --leader HOST:PORT [--admin-port 19713] [--base multiprocTCPBase]

The leader is the engine's actor system (``launch.py``'s admin port). This system offers the capability
``MarketData host`` with an id of its own, so ``arbctl scale --shards N --host THIS_HOST:ADMIN_PORT`` places
the engine's new shards here. It stops cleanly — its system shut down, nothing left running — on Ctrl-C or
SIGTERM, and when the leader goes away; it prints one line of what it did. The engine replaces the shards of
a host that stops or dies on the leader (the bridge hands the replacements the latest quote of every code).
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

import click
from thespian.actors import ActorAddress, ActorTypeDispatcher, WakeupMessage

from protocol.system import LOG_DEFS, SHARD_HOST_CAPABILITY, SHARD_HOST_ID, SHARD_HOST_NAMES

#: The leader counts as gone after its admin port refused this many polls in a row (one every POLL_S).
LEADER_MISSES = 3
POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class WatchHost:
    """Shard host process → its ShardHostWatch: shut this system down when process ``pid`` is gone."""

    pid: int
    base: str
    admin_port: int


class ShardHostWatch(ActorTypeDispatcher):  # type: ignore[misc]  # thespian ships no type hints
    """Lives in the shard host's own system: if the ``python -m actors.shard_host`` process dies without
    shutting its system down (SIGKILL), nothing else would — the admin is a daemon — so this does it."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.watch: WatchHost | None = None

    def receiveMsg_WatchHost(self, msg: WatchHost, sender: ActorAddress) -> None:
        self.watch = msg
        self.wakeupAfter(dt.timedelta(seconds=POLL_S))

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender: ActorAddress) -> None:
        from actors.runtime import process_alive, shutdown_detached
        if self.watch is None:
            return
        if process_alive(self.watch.pid):
            self.wakeupAfter(dt.timedelta(seconds=POLL_S))
            return
        shutdown_detached(self.watch.base, self.watch.admin_port)


def host_names() -> tuple[str, ...]:
    """The names and IPv4 addresses this machine answers to (``--host NAME:PORT`` may use any of them)."""
    names = {"localhost", "127.0.0.1", socket.gethostname(), socket.getfqdn()}
    try:
        names.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass                                    # no resolvable host name: the loopback names still work
    return tuple(sorted(n for n in names if n))


def shard_host_capabilities(leader: tuple[str, int], admin_port: int) -> dict[str, Any]:
    """The capabilities this system joins the convention with (the id is unique to this process)."""
    return {"Admin Port": admin_port, "Convention Address.IPv4": leader, SHARD_HOST_CAPABILITY: True,
            SHARD_HOST_ID: f"{socket.gethostname()}:{admin_port}:{os.getpid()}", SHARD_HOST_NAMES: host_names()}


def warm_shard_caches() -> None:
    """Import what a shard uses before the system forks its actor processes (they inherit the imports)."""
    import gc
    import importlib
    for mod in ("actors.market_data", "core.book", "core.universe", "protocol.steps", "protocol.wiring",
                "config.schema"):
        importlib.import_module(mod)
    gc.collect()
    gc.freeze()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--leader", required=True, metavar="HOST:PORT",
              help="The engine's actor system (launch.py's actor_system.admin_port).")
@click.option("--admin-port", type=click.IntRange(1024, 65535), default=19713, show_default=True,
              help="Admin port of this shard host system.")
@click.option("--base", type=click.Choice(["multiprocTCPBase", "multiprocUDPBase"]), default="multiprocTCPBase",
              show_default=True)
def main(leader: str, admin_port: int, base: str) -> None:
    """A MarketData shard host: joins the engine's convention; the engine places shards here."""
    from thespian.actors import ActorSystem

    from actors.runtime import port_in_use, port_listening
    from core.placement import PlacementError, parse_host_port

    try:
        lhost, lport = parse_host_port(leader, "--leader")
    except PlacementError as exc:
        click.echo(f"shard host: {exc}", err=True)
        sys.exit(2)
    if lport == admin_port:
        click.echo(f"shard host: --admin-port {admin_port} is the leader's port: choose another", err=True)
        sys.exit(2)
    if port_in_use(admin_port):
        click.echo(f"shard host: admin port {admin_port} is already in use: choose another --admin-port", err=True)
        sys.exit(2)
    if not port_listening(lport, lhost):
        click.echo(f"shard host: no engine listens at {leader} (start launch.py first, or check --leader)",
                   err=True)
        sys.exit(1)
    warm_shard_caches()
    caps = shard_host_capabilities((lhost, lport), admin_port)
    asys = ActorSystem(base, caps, logDefs=LOG_DEFS, transientUnique=True)
    watch = asys.createActor("actors.shard_host.ShardHostWatch")
    asys.tell(watch, WatchHost(os.getpid(), base, admin_port))     # shuts the system down if this process dies
    click.echo(f"shard host up: admin port {admin_port}, joined the engine at {leader} as "
               f"{caps[SHARD_HOST_ID]} (capability {SHARD_HOST_CAPABILITY!r})")
    sys.stdout.flush()
    why: dict[str, str] = {}

    def on_signal(signum: int, frame: object) -> None:  # noqa: ARG001
        why.setdefault("reason", signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    misses = 0
    try:
        while "reason" not in why:
            time.sleep(POLL_S)
            misses = 0 if port_listening(lport, lhost) else misses + 1
            if misses >= LEADER_MISSES:
                why["reason"] = f"the leader at {leader} went away"
    finally:
        asys.shutdown()
    leader_gone = misses >= LEADER_MISSES
    click.echo(f"shard host stopped ({why.get('reason', 'stopped')}): admin port {admin_port} shut down after "
               f"{time.monotonic() - started:.0f} s; "
               + ("its shards went with the engine" if leader_gone else "the engine replaces its shards on the leader"))


if __name__ == "__main__":
    main()
