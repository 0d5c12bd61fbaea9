"""The order flow between the pair desk, the Throttler and the bridge, as frozen values.

The desk asks (:class:`OrderRequest`, :class:`CancelRequest`, :class:`TokenRefund`); the Throttler
spends a token and releases (:class:`PlacedOrder`, :class:`PlacedCancel`) to the bridge, which sends
and answers in the next step (:class:`~core.desk_events.OrderSendResult`). Times are engine-clock ns
except ``signal_ns`` (monotonic wall time of the signal behind a take, the Signal→Send origin).
"""
from __future__ import annotations

from dataclasses import dataclass

from core.enums import Direction
from core.pair_events import CancelIntent, OrderIntent

__all__ = ["CancelRequest", "OrderRequest", "PlacedCancel", "PlacedOrder", "TakeContext", "TokenRefund"]


@dataclass(frozen=True, slots=True)
class TakeContext:
    """What a take carries so a restarted desk can rebuild its pair from the bridge's order log."""

    direction: Direction
    qty: int
    rich_bid: int
    cheap_ask: int
    cheap_bid: int = 0


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """Desk → Throttler: send ``intent`` when a token allows.

    ``new_pair`` marks the take of a new pair: admitted only with enough free tokens and no auto-pause,
    otherwise denied. Urgent intents (hedges, unwinds) may use the reserve and wait in the queue.
    """

    intent: OrderIntent
    t_ns: int
    new_pair: bool = False
    signal_ns: int = 0
    context: TakeContext | None = None


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Desk → Throttler: send the cancel ``intent`` (always urgent; a cancel costs a token)."""

    intent: CancelIntent
    t_ns: int


@dataclass(frozen=True, slots=True)
class TokenRefund:
    """Desk → Throttler: the broker's rate limit refused ``ref``; the call did not count."""

    ref: str
    t_ns: int


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """Throttler → bridge: a token was spent at ``token_ns``; send ``intent`` now."""

    intent: OrderIntent
    token_ns: int
    signal_ns: int = 0
    context: TakeContext | None = None


@dataclass(frozen=True, slots=True)
class PlacedCancel:
    """Throttler → bridge: a token was spent at ``token_ns``; send the cancel ``intent`` now."""

    intent: CancelIntent
    token_ns: int
