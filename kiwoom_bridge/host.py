"""The Kiwoom host ActorSystem: the only system with the ``Kiwoom Bridge`` capability.

    python -m kiwoom_bridge.host --leader HOST:PORT [--admin-port 19712] [--base multiprocTCPBase]

On the Windows machine that has the OpenAPI+ installed, run it with the 32-bit Python (the OCX is
32-bit). It joins the engine's convention (the leader is the system ``launch.py`` started) and
waits; the Supervisor's ``createActor`` of the KiwoomBridge lands here because only this system
offers the capability. Stop it with Ctrl-C (it shuts its system down; members go before the leader).
"""
from __future__ import annotations

import argparse
import platform
import signal
import struct
import sys
import time
from pathlib import Path


from protocol.system import BRIDGE_CAPABILITY, LOG_DEFS


def host_capabilities(leader: str, admin_port: int) -> dict:
    host, sep, port = leader.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SystemExit(f"--leader must be HOST:PORT, got {leader!r}")
    return {"Admin Port": admin_port, "Convention Address.IPv4": (host, int(port)), BRIDGE_CAPABILITY: True,
            "Python Bits": struct.calcsize("P") * 8, "Platform": platform.system()}


def warm_bridge_caches() -> None:
    """Import what the bridge uses on first use (and build the XKRX calendar) before the host
    system starts its actor processes, so the session's first order does not pay for it."""
    import datetime as dt
    import gc
    import importlib

    from core.costs import settlement_date
    settlement_date(dt.date.today())
    for mod in ("kiwoom_bridge.bridge_core", "kiwoom_bridge.translate", "kiwoom_bridge.openapi", "kiwoom_bridge.errors",
                "kiwoom_bridge.emulator.control", "kiwoom_bridge.emulator.scheduler",
                "kiwoom_bridge.emulator.exchange", "kiwoom_bridge.emulator.synthetic",
                "kiwoom_bridge.emulator.replay", "core.pair_fsm", "core.session"):
        importlib.import_module(mod)
    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kiwoom_bridge.host", description=__doc__.splitlines()[0])
    p.add_argument("--leader", required=True, help="HOST:PORT of the engine's ActorSystem (launch.py)")
    p.add_argument("--admin-port", type=int, default=19712, help="admin port of this host system")
    p.add_argument("--base", default="multiprocTCPBase", choices=("multiprocTCPBase", "multiprocUDPBase"))
    args = p.parse_args(argv)
    from thespian.actors import ActorSystem
    warm_bridge_caches()
    caps = host_capabilities(args.leader, args.admin_port)
    asys = ActorSystem(args.base, caps, logDefs=LOG_DEFS, transientUnique=True)
    print(f"Kiwoom host up: admin port {args.admin_port}, joined {args.leader}, "
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
