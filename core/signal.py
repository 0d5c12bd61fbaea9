"""The SpreadEngine's output: an eligible cross-venue edge, ready for the pair desk."""
from __future__ import annotations

from dataclasses import dataclass

from core.enums import Direction

__all__ = ["Signal"]


@dataclass(frozen=True, slots=True)
class Signal:
    """An eligible edge on ``code`` at the tick's time: buy ``qty`` at ``buy_px`` on
    ``direction.buy_venue`` and sell at ``sell_px`` on ``direction.sell_venue``.

    Prices KRW, sizes shares; ``net_krw`` per share, unrounded, after fees and tax; ``net_bps`` of the
    buy price. ``t_tick_ns`` is the engine clock of the newest tick behind it; ``tick_arrival_ns`` and
    ``signal_ns`` are monotonic wall times (the Tick→Signal and Signal→Send latency origins).
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
