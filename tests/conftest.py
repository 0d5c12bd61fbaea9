"""Shared fixtures: free admin ports, real multiprocess actor systems that always shut down."""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

LOG_DEFS = {"version": 1, "disable_existing_loggers": False,
            "root": {"level": "WARNING", "handlers": []}}


def free_port() -> int:
    """A TCP+UDP port free right now on loopback (Thespian's admin needs both on some bases)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port found")


@pytest.fixture
def admin_port() -> int:
    return free_port()


@pytest.fixture
def tcp_asys(admin_port):
    """A multiprocTCPBase ActorSystem on a free admin port, shut down after the test."""
    from thespian.actors import ActorSystem
    asys = ActorSystem("multiprocTCPBase", {"Admin Port": admin_port}, logDefs=LOG_DEFS, transientUnique=True)
    try:
        yield asys
    finally:
        asys.shutdown()
