"""Shared fixtures: free admin ports, real multiprocess actor systems that always shut down."""
from __future__ import annotations

import os

import pytest

from actors.runtime import free_port

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

LOG_DEFS = {"version": 1, "disable_existing_loggers": False,
            "root": {"level": "WARNING", "handlers": []}}


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
