"""How the bridge orders the broker events of one step (pure; no Kiwoom, no actors)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def step_events(carried: Iterable[Any], collected: Iterable[Any], step_t_ns: int) -> list[Any]:
    """The events of one step in time order.

    ``carried`` are the bridge's own results (send results of ``SendOrder``, throttler denials),
    each stamped when it happened; ``collected`` are what the OCX or emulator reported, stamped the
    same way. In a paced or live run the clock moves on between two placements, so the lists
    interleave in time: order A placed at 42.300 s, order B at 46.240 s, A's TR ack at 42.315 s.
    Handed out as ``carried + collected`` the PairManager would fire its timers up to 46.240 s
    (B's send) before it saw A's ack, and declare A unacknowledged although the ack came 15 ms
    after the send. Sorting is stable and the carried events go first, so a send result precedes
    the ack of the same instant. An event without ``t_ns`` counts as the step's own time.
    """
    return sorted([*carried, *collected], key=lambda e: getattr(e, "t_ns", step_t_ns))
