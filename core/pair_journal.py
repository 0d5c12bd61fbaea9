"""The timeline of every recent pair, for the operator's pair monitor (pure, bounded).

The pair desk hands each :class:`~core.pair_events.EmitEvent` of a machine (state changes with their
reason, acks, fills, rejects, cancels, timeouts) to :meth:`PairJournal.record`; the operator's snapshot
reads :meth:`PairJournal.timeline`. Only the newest ``max_pairs`` pairs are kept, each with at most
``max_entries`` entries (the first ones and the newest ones: a pair that keeps flattening shows how it
began and where it is now).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from core.pair_events import EmitEvent

__all__ = ["JournalEntry", "PairJournal"]

#: Detail keys worth showing in a timeline row (the rest stays in the audit log).
_SHOWN_DETAIL = ("from", "to", "order_ref", "role", "qty", "price", "filled", "remaining", "leaves_qty",
                 "cancelled_qty", "gap", "unhedged", "net_position", "attempts", "why")


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One step of a pair's life at engine time ``t_ns``: ``kind`` (``state``, ``fill``, ``reject``, …), the
    machine's ``state`` after it, its ``reason`` and a short ``detail`` text."""

    t_ns: int
    kind: str
    state: str
    reason: str
    detail: str = ""


class PairJournal:
    """Per-pair timelines of the newest pairs (see the module docstring)."""

    def __init__(self, max_pairs: int = 200, max_entries: int = 64) -> None:
        self.max_pairs = max_pairs
        self.max_entries = max_entries
        self._pairs: OrderedDict[str, list[JournalEntry]] = OrderedDict()
        self._dropped: dict[str, int] = {}

    def record(self, ev: EmitEvent) -> None:
        """Add one machine event to its pair's timeline."""
        rows = self._pairs.get(ev.pair_id)
        if rows is None:
            rows = self._pairs[ev.pair_id] = []
            while len(self._pairs) > self.max_pairs:
                old, _ = self._pairs.popitem(last=False)
                self._dropped.pop(old, None)
        detail = " ".join(f"{k}={v}" for k, v in ev.detail if k in _SHOWN_DETAIL and v not in (None, ""))
        entry = JournalEntry(ev.now_ns, ev.kind, ev.state, ev.reason, detail)
        if len(rows) >= self.max_entries:
            # keep the beginning; the newest entry replaces the previous newest beyond the cap
            del rows[self.max_entries // 2]
            self._dropped[ev.pair_id] = self._dropped.get(ev.pair_id, 0) + 1
        rows.append(entry)

    def timeline(self, pair_id: str) -> tuple[JournalEntry, ...]:
        """The kept entries of ``pair_id`` in time order (empty if unknown or forgotten)."""
        return tuple(self._pairs.get(pair_id, ()))

    def dropped(self, pair_id: str) -> int:
        """How many entries of ``pair_id`` were left out to keep the timeline bounded."""
        return self._dropped.get(pair_id, 0)

    def __contains__(self, pair_id: object) -> bool:
        return pair_id in self._pairs
