"""The Kiwoom host ActorSystem: the only system with the ``Kiwoom Bridge`` capability.

    python -m kiwoom_bridge.host --leader HOST:PORT [--admin-port 19712] [--base multiprocTCPBase]

On the Windows machine that has the OpenAPI+ installed, run it with the 32-bit Python (the OCX is
32-bit). It joins the engine's convention (the leader is the system ``launch.py`` started) and
waits; the Supervisor's ``createActor`` of the KiwoomBridge lands here because only this system
offers the capability. Stop it with Ctrl-C (it shuts its system down; members go before the leader).
"""
from __future__ import annotations

import platform
import signal
import struct
import time

import click

from protocol.system import BRIDGE_CAPABILITY, LOG_DEFS


def host_capabilities(leader: str, admin_port: int) -> dict[str, object]:
    host, sep, port = leader.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise click.BadParameter(f"must be HOST:PORT, got {leader!r}", param_hint="--leader")
    return {"Admin Port": admin_port, "Convention Address.IPv4": (host, int(port)), BRIDGE_CAPABILITY: True,
            "Python Bits": struct.calcsize("P") * 8, "Platform": platform.system()}


def warm_bridge_caches() -> None:
    """Import what the bridge uses on first use before the host system starts its actor processes, so the
    session's first order does not pay for it (forked actors inherit the imports).

    The emulator's modules (sim and replay backends, used when a benchmark puts the bridge in a host
    system) are warmed only where their libraries exist: the 32-bit Windows host has no pandas or pyarrow
    and never runs them (requirements-kiwoom-host.txt).
    """
    import gc
    import importlib

    for mod in ("kiwoom_bridge.bridge_core", "kiwoom_bridge.translate", "kiwoom_bridge.openapi",
                "kiwoom_bridge.errors", "core.pair_fsm", "core.pair_desk", "protocol.steps", "protocol.control"):
        importlib.import_module(mod)
    for mod in ("kiwoom_bridge.emulator.control", "kiwoom_bridge.emulator.synthetic",
                "kiwoom_bridge.emulator.replay"):
        try:
            importlib.import_module(mod)
        except ImportError:
            break                   # the emulator's libraries are not installed here: nothing to warm
    gc.collect()
    gc.freeze()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--leader", required=True, help="HOST:PORT of the engine's ActorSystem (launch.py).")
@click.option("--admin-port", type=click.IntRange(1024, 65535), default=19712, show_default=True,
              help="Admin port of this host system.")
@click.option("--base", type=click.Choice(["multiprocTCPBase", "multiprocUDPBase"]), default="multiprocTCPBase",
              show_default=True)
def main(leader: str, admin_port: int, base: str) -> None:
    """The Kiwoom host ActorSystem: joins the engine's convention and hosts the KiwoomBridge."""
    from thespian.actors import ActorSystem
    warm_bridge_caches()
    caps = host_capabilities(leader, admin_port)
    asys = ActorSystem(base, caps, logDefs=LOG_DEFS, transientUnique=True)
    print(f"Kiwoom host up: admin port {admin_port}, joined {leader}, "
          f"{caps['Python Bits']}-bit Python on {caps['Platform']}", flush=True)
    stop = {"flag": False}

    def on_signal(signum: int, frame: object) -> None:  # noqa: ARG001
        stop["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop["flag"]:
            time.sleep(0.2)
    finally:
        asys.shutdown()


if __name__ == "__main__":
    main()
