"""The SpreadEngine's step bookkeeping, driven through the real actor on Thespian's in-process base."""
from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from thespian.actors import ActorSystem, ActorTypeDispatcher

from actors.spread_engine import SpreadEngine
from config.loader import load_config
from core.clock import ns_from_kst
from core.universe import Universe
from protocol.steps import BookDelta, SignalBatch
from protocol.wiring import Configure, RunOptions, Wiring

T0 = ns_from_kst(dt.date(2026, 11, 20), dt.time(9, 1))


class Collector(ActorTypeDispatcher):  # type: ignore[misc]
    """Stands in for the PairManager: keeps the steps of the SignalBatches it gets; answers them to 'steps?'."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.steps: list[int] = []

    def receiveMsg_SignalBatch(self, msg: SignalBatch, sender: Any) -> None:  # noqa: N802
        self.steps.append(msg.step)

    def receiveMsg_str(self, msg: str, sender: Any) -> None:  # noqa: N802
        self.send(sender, list(self.steps))


def delta(step: int, shard: int, sym: int, bid: int) -> BookDelta:
    book = np.array([[bid, bid + 100, 500, 500]], dtype=np.int64)
    one = np.array([T0 + step], dtype=np.int64)
    return BookDelta(step=step, t_ns=T0 + step * 10_000_000, shard_id=shard, shard_ids=(0, 1),
                     sym=np.array([sym], dtype=np.int32), krx=book, nxt=book.copy(), tick_arrival_ns=one,
                     tick_t_ns=one, quality=np.zeros(1, dtype=np.uint8), updates=1)


@pytest.fixture
def engine() -> Any:
    asys = ActorSystem("simpleSystemBase", transientUnique=True)
    try:
        pm = asys.createActor(Collector)
        se = asys.createActor(SpreadEngine)
        asys.tell(se, Configure(load_config(), Universe.from_codes(["005930", "000660"], market="KOSPI", nxt=True),
                                RunOptions(backend="sim", speed=None)))
        asys.tell(se, Wiring(pair_manager=pm, spread_engine=se))
        yield asys, se, pm
    finally:
        asys.shutdown()


def test_a_late_answer_to_an_evaluated_step_does_not_stall_the_next(engine: Any) -> None:
    """A replacement shard answers the in-flight step its dead predecessor had already answered: the answer
    arrives after the next step began. The next step still completes once both shards answered it."""
    asys, se, pm = engine
    asys.tell(se, delta(1, 0, 0, 70_000))
    asys.tell(se, delta(1, 1, 1, 120_000))          # step 1 evaluated
    asys.tell(se, delta(2, 0, 0, 70_100))           # step 2: shard 0 answered
    asys.tell(se, delta(1, 1, 1, 120_000))          # the replacement's late answer to step 1
    asys.tell(se, delta(2, 1, 1, 120_100))          # step 2: shard 1 answered
    assert asys.ask(pm, "steps?", 5) == [1, 2]


def test_a_step_waits_for_every_shard_of_the_step(engine: Any) -> None:
    asys, se, pm = engine
    asys.tell(se, delta(1, 0, 0, 70_000))
    assert asys.ask(pm, "steps?", 5) == []
    asys.tell(se, delta(1, 1, 1, 120_000))
    assert asys.ask(pm, "steps?", 5) == [1]
