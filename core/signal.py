"""The SpreadEngine's output: an eligible cross-venue edge, ready for the pair desk."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.enums import Direction

__all__ = ["L1Touches", "Signal"]


@dataclass(frozen=True, slots=True)
class Signal:
    """An eligible edge on ``code`` at the tick's time: buy ``qty`` at ``buy_px`` on
    ``direction.buy_venue`` and sell at ``sell_px`` on ``direction.sell_venue``.

    Prices KRW, sizes shares; ``net_krw`` per share, unrounded, after fees and tax; ``net_bps`` of the
    buy price. ``t_tick_ns`` is the engine clock of the newest tick behind it; ``tick_arrival_ns`` and
    ``signal_ns`` are monotonic wall times (the Tick→Signal and Signal→Send latency origins). ``by_tick``: a tick
    of this code arrived since the previous evaluation (the signal is that tick's); False when the book is unchanged
    and the code became eligible by time alone (its flicker cooldown ended): ``tick_arrival_ns`` is then the last
    tick's, older by the wait, and is no Tick→Signal latency.
    """

    code: str
    sym: int
    direction: Direction
    qty: int
    buy_px: int
    sell_px: int
    buy_qty_visible: int
    sell_qty_visible: int
    net_krw: float
    net_bps: float
    t_tick_ns: int
    tick_arrival_ns: int
    signal_ns: int
    by_tick: bool = True


@dataclass(frozen=True, slots=True)
class L1Touches:
    """The best bid and ask (KRW; 0 = empty) of both venues for the universe rows ``sym`` whose book changed
    in a step, as the SpreadEngine saw them after the step: what the pair desk prices escalation and
    unwind orders from. Aligned ``int64`` arrays."""

    sym: np.ndarray
    krx_bid: np.ndarray
    krx_ask: np.ndarray
    nxt_bid: np.ndarray
    nxt_ask: np.ndarray

    def __len__(self) -> int:
        return len(self.sym)


def touch_mismatches(expected: L1Touches, seen: L1Touches) -> np.ndarray:
    """Universe rows whose best bid or ask on either venue differs between ``expected`` (the bridge's last
    touch of every code) and ``seen`` (the SpreadEngine's book): the book-check at the end of a run.

    A row present in only one of them counts as a mismatch; an emptied side (the bridge keeps
    :data:`core.l1.EMPTY`, the book 0) is the same empty side.
    """
    def table(t: L1Touches) -> dict[int, tuple[int, int, int, int]]:
        return {int(s): (max(int(a), 0), max(int(b), 0), max(int(c), 0), max(int(d), 0))
                for s, a, b, c, d in zip(t.sym, t.krx_bid, t.krx_ask, t.nxt_bid, t.nxt_ask, strict=True)}
    e, g = table(expected), table(seen)
    bad = sorted(s for s in e.keys() | g.keys() if e.get(s) != g.get(s))
    return np.array(bad, dtype=np.int64)
