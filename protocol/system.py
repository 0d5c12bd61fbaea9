"""Names and capabilities of the engine's actor system, shared by every system that joins it."""
from __future__ import annotations

from typing import Any

__all__ = ["BRIDGE_CAPABILITY", "LOG_DEFS", "SHARD_HOST_CAPABILITY", "SHARD_HOST_ID", "SHARD_HOST_NAMES",
           "SUPERVISOR_NAME"]

#: The capability only the Kiwoom host system offers: the KiwoomBridge actor is created there.
BRIDGE_CAPABILITY = "Kiwoom Bridge"
#: The capability of a MarketData host system (SPEC §8): new shards may be placed there.
SHARD_HOST_CAPABILITY = "MarketData host"
#: A shard host's unique id (capability value): a hosted shard is created with it as its requirement.
SHARD_HOST_ID = "MarketData host id"
#: The host names and addresses a shard host answers to (capability value, a tuple of str).
SHARD_HOST_NAMES = "MarketData host names"
#: The Supervisor's global name in the leader system (arbctl and the GUI find it by this name).
SUPERVISOR_NAME = "arb-supervisor"
#: Thespian logging: warnings and errors to stderr (never ``logDefs=False`` with a multiprocess base).
LOG_DEFS: dict[str, Any] = {
    "version": 1, "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "level": "WARNING"}},
    "root": {"level": "WARNING", "handlers": ["stderr"]},
}
