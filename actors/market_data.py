"""MarketData shard actor: owns ≤100-code screens, keeps their L1 snapshot, forwards changed rows."""
from __future__ import annotations

from typing import Any

import numpy as np
from thespian.actors import ActorAddress

from actors.base import EngineActor
from core.book import ShardBook
from core.observations import ErrorRaised
from protocol.control import Detail
from protocol.steps import BookDelta, MarketBatch
from protocol.system import SHARD_HOST_CAPABILITY, SHARD_HOST_ID
from protocol.wiring import RegisterScreens, ShardAssignment, Wiring


class MarketData(EngineActor):
    """One shard: registers its screens with the bridge, applies each step's rows to its
    :class:`~core.book.ShardBook` in place and sends the SpreadEngine one :class:`BookDelta` per
    step with the full state of the rows that changed (an empty delta still completes the step).
    """

    actor_name = "MarketData"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.shard_id = -1
        self.book: ShardBook | None = None
        self.assignment: ShardAssignment | None = None
        self.steps = 0
        self.foreign_rows = 0

    def receiveMsg_ShardAssignment(self, msg: ShardAssignment, sender: ActorAddress) -> None:
        self.assignment = msg
        self.shard_id = msg.shard_id
        self.actor_name = f"MarketData[{msg.shard_id}]"
        codes = [c for _, cs in msg.screens for c in cs]
        syms = np.array([msg.universe.index_of(c) for c in codes], dtype=np.int64)
        stale_ns = msg.config.market_data.stale_after_ms * 1_000_000
        self.book = ShardBook(syms, stale_after_ns=stale_ns)
        if self.wiring.bridge is not None:
            self._register()

    def receiveMsg_Wiring(self, msg: Wiring, sender: ActorAddress) -> None:
        had_bridge = self.wiring.bridge is not None
        super().receiveMsg_Wiring(msg, sender)
        if self.assignment is not None and not had_bridge and msg.bridge is not None:
            self._register()

    def _register(self) -> None:
        assert self.assignment is not None and self.wiring.bridge is not None
        self.send(self.wiring.bridge, RegisterScreens(self.shard_id, self.assignment.screens,
                                                      self.assignment.generation))

    def receiveMsg_MarketBatch(self, msg: MarketBatch, sender: ActorAddress) -> None:
        if self.book is None:
            return
        rows = msg.rows
        quanta = msg.quanta
        mine = self.book.owns(rows["sym"])
        if not mine.all():
            # the bridge routes by screen, so this is a routing fault: count it, say it, keep going
            bad = int((~mine).sum())
            self.foreign_rows += bad
            self.observe(ErrorRaised(msg.t_ns, self.actor_name,
                                     f"{bad} row(s) for symbols this shard does not own were dropped "
                                     f"(step {msg.step})"))
            rows = rows[mine]
            if quanta:     # the same quanta, over the rows kept
                kept = np.cumsum(mine)
                quanta = tuple((int(kept[end - 1]) if end else 0, t) for end, t in quanta)
        if quanta:
            changed, quality = self.book.apply_quanta(rows, quanta)
            d = self.book.delta(changed, msg.t_ns, quality)
        else:
            changed = self.book.apply(rows)
            d = self.book.delta(changed, msg.t_ns)
        self.steps += 1
        if self.wiring.spread_engine is not None:
            self.send(self.wiring.spread_engine, BookDelta(step=msg.step, t_ns=msg.t_ns, shard_id=self.shard_id,
                                                           shard_ids=msg.shard_ids, updates=len(rows), **d))
        self.flush_telemetry()

    def detail(self) -> Detail:
        n = len(self.book) if self.book is not None else 0
        return (("shard_id", self.shard_id), ("symbols", n), ("steps", self.steps),
                ("updates", self.book.updates if self.book is not None else 0), ("foreign_rows", self.foreign_rows))


class HostedMarketData(MarketData):
    """A shard placed on a shard host (``python -m actors.shard_host``): the same actor, created only in a
    system with the ``MarketData host`` capability whose id is the ``MarketData host id`` the Supervisor
    asks for (``arbctl scale --host``). The leader never offers that capability, so it never lands there."""

    @staticmethod
    def actorSystemCapabilityCheck(capabilities: dict[str, Any], requirements: dict[str, Any]) -> bool:  # noqa: N802
        """Thespian's placement check: a shard host, and the one the requirements name (any when none)."""
        if not capabilities.get(SHARD_HOST_CAPABILITY):
            return False
        wanted = (requirements or {}).get(SHARD_HOST_ID)
        return wanted is None or capabilities.get(SHARD_HOST_ID) == wanted
