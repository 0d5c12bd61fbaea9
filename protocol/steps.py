"""The tick path, in steps: market rows to the shards, book deltas to the SpreadEngine, signals and
broker events to the PairManager, and the credit back to the bridge (see :mod:`protocol`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.desk_events import StepEvent
from core.signal import L1Touches, Signal
from protocol.compact_repr import compact_repr

__all__ = ["BookCheck", "BookChecked", "BookDelta", "ExecBatch", "MarketBatch", "SignalBatch", "StepDone",
           "ThrottlerQueue"]


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class MarketBatch:
    """Bridge → shard: the real-data rows (:data:`core.l1.L1_ROW_DTYPE`) of this step for the shard's codes.

    ``shard_ids`` lists every shard that gets a batch in this step (the SpreadEngine waits for a delta
    from each). ``snapshot`` marks a full-state batch (first registration or restart). ``quanta``: when
    lockstep merged quiet quanta into this step, ``(end_row, t_ns)`` of each quantum that brought rows, in
    order (rows ``[previous end, end_row)`` arrived by ``t_ns``); the shard applies them quantum by quantum so
    every row's quality is judged at its own quantum's time, as if each had been a step. Empty: one quantum.
    """

    step: int
    t_ns: int
    shard_ids: tuple[int, ...]
    rows: np.ndarray
    snapshot: bool = False
    quanta: tuple[tuple[int, int], ...] = ()


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class BookDelta:
    """Shard → SpreadEngine: full L1 state of the rows that changed in this step.

    Arrays are aligned; ``sym`` are universe indices; ``krx``/``nxt`` are int64 ``[n, 4]`` (bid, ask,
    bid_qty, ask_qty). ``tick_arrival_ns`` is the arrival time of the newest update that changed the
    row (the Tick→Signal latency origin); ``quality`` holds :mod:`core.book` flags per row.
    """

    step: int
    t_ns: int
    shard_id: int
    shard_ids: tuple[int, ...]
    sym: np.ndarray
    krx: np.ndarray
    nxt: np.ndarray
    tick_arrival_ns: np.ndarray
    tick_t_ns: np.ndarray
    quality: np.ndarray
    updates: int = 0


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class SignalBatch:
    """SpreadEngine → PairManager: the step's signals (``evaluated`` symbols, ``eligible`` of them) and the
    current touch of every code whose book changed in the step (``touches``: the desk prices escalation and
    unwind orders from it); ``eligible_syms``: the universe indices eligible after this evaluation (the
    lockstep bridge may merge quanta that leave exactly these eligible and untouched)."""

    step: int
    t_ns: int
    signals: tuple[Signal, ...]
    evaluated: int = 0
    eligible: int = 0
    updates: int = 0
    touches: L1Touches | None = None
    eligible_syms: tuple[int, ...] = ()


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class ExecBatch:
    """Bridge → PairManager: everything the broker said in this step, in time order.

    ``events`` are :mod:`core.desk_events` values sorted by ``t_ns`` (stable: a send result precedes the
    ack of the same instant); every ``t_ns`` is at most the step's. The desk fires its timers up to each
    event's time before handling it, so an ack must never follow a later event.
    """

    step: int
    t_ns: int
    events: tuple[StepEvent, ...]
    source_exhausted: bool = False
    #: only once the SpreadEngine is gone (SignalsLost): the bridge's own last touch of every code
    touches: L1Touches | None = None


@dataclass(frozen=True, slots=True)
class StepDone:
    """PairManager → Throttler → Bridge: step ``step`` is fully handled (the credit for the next).

    ``next_deadline_ns`` tells the bridge when the engine next needs to run even without market data
    (hedge timers, queued orders waiting for a token); ``flat``: no open pair, no exposure;
    ``session_over``: the trading day's guard window has closed (the bridge winds the run down);
    ``idle_until_ns``: before this engine time a step with no broker event, no possible signal and no real
    data of the ``watched_syms`` (open pairs' codes) changes nothing downstream but the books
    (:meth:`core.pair_desk.PairDesk.idle_until_ns`; None = any step may matter), so lockstep may merge such
    quanta into one step (see :class:`MarketBatch` ``quanta``); ``eligible_syms``: the step's
    :attr:`SignalBatch.eligible_syms`, passed on for that test.
    """

    step: int
    t_ns: int
    next_deadline_ns: int | None = None
    flat: bool = True
    armed: bool = False
    session_over: bool = False
    idle_until_ns: int | None = None
    eligible_syms: tuple[int, ...] = ()
    watched_syms: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ThrottlerQueue:
    """Throttler → PairManager: how many urgent requests wait for a token (sent when it changes between
    empty and not). While any wait, the PairManager's credits go through the Throttler, which releases
    them and narrows the step deadline to the next free token."""

    queued: int
    t_ns: int


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class BookCheck:
    """Bridge → SpreadEngine when the run finishes: the bridge's last touch of every code as of the last step
    it handed out (``step``). The SpreadEngine's book must hold exactly these: no tick lost, also across
    shards that died or moved."""

    step: int
    t_ns: int
    touches: L1Touches


@dataclass(frozen=True, slots=True)
class BookChecked:
    """SpreadEngine → Supervisor: the end-of-run book check (for the report).

    ``mismatched`` counts the symbols whose book differs from the bridge's last touch (``codes``: the first
    of them); ``gap_steps`` counts the steps evaluated while a shard of the step was down (its symbols'
    quotes were stale for those steps; its replacement's snapshot brought the latest back).
    """

    step: int
    symbols: int
    mismatched: int
    codes: tuple[str, ...] = ()
    gap_steps: int = 0
