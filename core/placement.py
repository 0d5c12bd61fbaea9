"""Where MarketData shards run (SPEC §8): on the leader or on a shard host that joined the convention.

Pure rules, no actors: parse the operator's ``HOST:PORT``, find the shard host it names among the systems
that joined, decide which slot of a new shard generation runs where, and which slots fall back to the
leader when a host goes away. ``None`` always means the leader (the engine's own actor system).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PlacementError", "ShardHost", "fall_back", "parse_host_port", "place_shards", "resolve_host"]

#: A slot's system: a shard host's id, or None for the leader.
Placement = tuple[str | None, ...]


class PlacementError(ValueError):
    """A placement the engine cannot make, with what the operator should do about it."""


@dataclass(frozen=True, slots=True)
class ShardHost:
    """A shard host as the leader knows it from the convention.

    ``host_id`` is the unique id it advertises (the requirement a hosted shard is created with); ``address``
    is its admin address as the leader sees it (``ip:port``, shown by ``arbctl health``); ``names`` are the
    host names and addresses it answers to (``--host NAME:PORT`` matches any of them with its admin port).
    """

    host_id: str
    address: str
    admin_port: int
    names: tuple[str, ...] = ()


def parse_host_port(text: str, what: str = "--host") -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT`` text.

    Raises:
      PlacementError: naming ``what`` and the text when it is not ``HOST:PORT`` with a port in 1..65535.
    """
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PlacementError(f"{what}: expected HOST:PORT (e.g. 10.0.0.5:19920), got {text!r}")
    return host, int(port)


def resolve_host(wanted: str, hosts: Sequence[ShardHost]) -> ShardHost:
    """The one shard host ``wanted`` (``HOST:ADMIN_PORT``) names among ``hosts``.

    It matches a host whose admin port is that port and whose address or one of whose names is that host.

    Raises:
      PlacementError: the text is not ``HOST:PORT``, no joined host matches, or more than one does.
    """
    name, port = parse_host_port(wanted)
    found = [h for h in hosts
             if h.admin_port == port and (name == h.address.rpartition(":")[0] or name in h.names)]
    if not found:
        joined = ", ".join(h.address for h in hosts) or "none"
        raise PlacementError(f"--host {wanted}: no shard host with that address has joined the engine (joined: "
                             f"{joined}); start one with: python -m actors.shard_host --leader LEADER:PORT "
                             f"--admin-port {port}")
    if len(found) > 1:
        raise PlacementError(f"--host {wanted}: names {len(found)} shard hosts "
                             f"({', '.join(h.address for h in found)}); name one by its address")
    return found[0]


def place_shards(current: Sequence[str | None], n: int, host_id: str | None = None) -> Placement:
    """Where each of the ``n`` slots of a new shard generation runs.

    The first ``min(len(current), n)`` slots stay where the current generation's slots run (re-sharding
    never moves a shard by itself); the slots beyond them are new and go to ``host_id`` (None: the leader).

    Raises:
      PlacementError: ``n`` < 1, or a host is named but ``n`` adds no shard to place there.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise PlacementError(f"--shards must be an integer ≥ 1, got {n!r}")
    if host_id is not None and n <= len(current):
        raise PlacementError(f"--host places new shards: the engine has {len(current)} shard(s) now, so --shards "
                             f"must be more than {len(current)} to add one there")
    kept = tuple(current[:n])
    return kept + (host_id,) * (n - len(kept))


def fall_back(placement: Sequence[str | None], gone: str) -> tuple[Placement, tuple[int, ...]]:
    """``placement`` with every slot on the host ``gone`` moved to the leader, and those slots' indexes."""
    moved = tuple(i for i, p in enumerate(placement) if p == gone)
    return tuple(None if p == gone else p for p in placement), moved
