"""Frozen, typed messages exchanged by the engine's actors.

Every message is self-contained (Thespian pickles it between processes and, for the Kiwoom host,
between machines): no callables, no open files; numpy arrays only with explicit little-endian
dtypes. A message's class is its version: a change of meaning gets a new class.

The tick path runs in *steps* driven by the bridge, which is the engine's one clock::

    Bridge --MarketBatch(step)--> MarketData shard(s) --BookDelta(step)--> SpreadEngine
    Bridge --ExecBatch(step)----------------------------------------------> PairManager
    SpreadEngine --SignalBatch(step)--> PairManager --OrderRequest*/StepDone(step)--> Throttler
    Throttler --PlaceOrder*/CancelRequest*/Denied*/StepDone(step)--> Bridge

The bridge starts step k+1 only when ``StepDone(k)`` came back (credit-based flow control: a slow
engine gets bigger batches, never a backlog). Every step carries ``t_ns``, the engine clock at the
end of the step (simulated time in sim/replay, wall time with the real OCX); actors read time only
from these messages, so a ``--speed max`` run is deterministic. ``StepDone.next_deadline_ns``
tells the bridge when the engine next needs to run even without market data (hedge timers,
queued orders waiting for a token).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------------------------
# Columns of a market batch (numpy, one entry per real-data event, in arrival order)
# ----------------------------------------------------------------------------------------------
MARKET_DTYPE = np.dtype([
    ("sym", "<i4"),          # index in the universe (file order)
    ("venue", "i1"),         # 0 = KRX, 1 = NXT
    ("kind", "i1"),          # 0 = quote (주식호가잔량), 1 = trade (주식체결)
    ("ask", "<i8"), ("bid", "<i8"), ("ask_qty", "<i8"), ("bid_qty", "<i8"),   # 0 = absent
    ("last", "<i8"),
    ("t_ns", "<i8"),         # engine clock of the event
    ("arrival_ns", "<i8"),   # monotonic wall time the bridge received it (latency origin)
])

VENUE_CODES = ("KRX", "NXT")


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"<{len(value)} rows>"
    if isinstance(value, (tuple, list)) and len(value) > 4:
        return f"<{len(value)} items>"
    if isinstance(value, dict):
        return f"<{len(value)} keys>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def short_repr(self: Any) -> str:
    """O(1)-ish repr: Thespian 4.0.1 str()s every message on send and receive whatever the log
    level, and the default dataclass repr of a numpy batch costs ~5 ms per hop (bench/bases.py)."""
    from dataclasses import fields
    inner = ", ".join(f"{f.name}={_short(getattr(self, f.name))}" for f in fields(self))
    return f"{type(self).__name__}({inner})"
DIR_NONE, DIR_A, DIR_B = 0, 1, 2   # A: buy KRX ask / sell NXT bid; B: buy NXT ask / sell KRX bid
DIRECTION_TEXT = {DIR_A: "KRX->NXT", DIR_B: "NXT->KRX"}


# ----------------------------------------------------------------------------------------------
# Start-up and wiring
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunOptions:
    """How this run was launched (launch.py flags / arbctl replay)."""

    backend: str                     # 'sim' | 'replay' | 'kiwoom'
    replay_file: str | None = None
    speed: float | None = 1.0        # None = --speed max (lockstep)
    duration_s: float | None = None  # of engine-clock time
    seed: int | None = None
    run_dir: str = "runs/latest"
    config_path: str | None = None


@dataclass(frozen=True, slots=True, repr=False)
class StartEngine:
    """launch.py → Supervisor: build every actor from ``config`` and start the session."""

    config: Any                      # config.schema.EngineConfig (frozen pydantic model)
    universe: Any                    # core.universe.Universe
    options: RunOptions


@dataclass(frozen=True, slots=True, repr=False)
class EngineStarted:
    ok: bool
    error: str = ""
    actors: tuple[tuple[str, str], ...] = ()   # (name, address text)


@dataclass(frozen=True, slots=True)
class Wiring:
    """Supervisor → every actor: the addresses it talks to (None where not needed)."""

    supervisor: Any = None
    bridge: Any = None
    throttler: Any = None
    pair_manager: Any = None
    spread_engine: Any = None
    telemetry: Any = None
    shards: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True, repr=False)
class ShardAssignment:
    """Supervisor → MarketData shard: its id and screens ((screen_no, codes), ...).

    ``shard_id`` is unique over the whole run (a re-sharded generation gets fresh ids, a restarted
    shard keeps its predecessor's), so the bridge never routes one generation's rows to another.
    """

    shard_id: int
    screens: tuple[tuple[str, tuple[str, ...]], ...]
    config: Any
    universe: Any
    generation: int = 0


@dataclass(frozen=True, slots=True, repr=False)
class RegisterScreens:
    """Shard → Bridge: register these screens (KRX and _NX codes) and route their ticks to me.

    New screens are registered before old ones are removed (re-sharding loses nothing); the
    bridge answers with a full snapshot of the codes so a (re)started shard rebuilds its book.
    """

    shard_id: int
    screens: tuple[tuple[str, tuple[str, ...]], ...]
    generation: int


@dataclass(frozen=True, slots=True)
class ReleaseScreens:
    """Supervisor → Bridge: remove these screens (after their replacement is registered)."""

    screen_nos: tuple[str, ...]
    shard_id: int


@dataclass(frozen=True, slots=True)
class ShardReleased:
    """Bridge → Supervisor: shard ``shard_id`` owns no screen any more and no step in flight
    includes it; it can be retired without a step waiting for it (live re-sharding)."""

    shard_id: int


@dataclass(frozen=True, slots=True)
class ShardDown:
    """Supervisor → SpreadEngine/Bridge: shard ``shard_id`` died; stop waiting for it this step."""

    shard_id: int


# ----------------------------------------------------------------------------------------------
# The step protocol (tick path)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, repr=False)
class MarketBatch:
    """Bridge → shard: the real-data events of this step for the shard's codes.

    ``shard_ids`` lists every shard that gets a batch in this step (the SpreadEngine waits for a
    delta from each). ``snapshot`` marks a full-state batch (first registration or restart).
    """

    step: int
    t_ns: int
    shard_ids: tuple[int, ...]
    rows: np.ndarray                 # MARKET_DTYPE
    snapshot: bool = False


@dataclass(frozen=True, slots=True, repr=False)
class BookDelta:
    """Shard → SpreadEngine: full L1 state of the rows that changed in this step.

    Arrays are aligned; ``sym`` are universe indices. ``tick_arrival_ns`` is the arrival time of
    the newest update that changed the row (the Tick→Signal latency origin).
    """

    step: int
    t_ns: int
    shard_id: int
    shard_ids: tuple[int, ...]
    sym: np.ndarray
    krx: np.ndarray                  # int64 [n, 4]: bid, ask, bid_qty, ask_qty
    nxt: np.ndarray                  # int64 [n, 4]
    tick_arrival_ns: np.ndarray
    tick_t_ns: np.ndarray
    quality: np.ndarray              # uint8 flags per row: 1 stale, 2 crossed, 4 off-grid
    updates: int = 0                 # real-data rows consumed by the shard in this step


@dataclass(frozen=True, slots=True)
class Signal:
    """SpreadEngine → PairManager: an eligible edge on ``code`` at the tick's time."""

    code: str
    sym: int
    direction: int                   # DIR_A | DIR_B
    qty: int
    buy_px: int
    sell_px: int
    buy_qty_visible: int
    sell_qty_visible: int
    net_krw: float                   # per share, unrounded
    net_bps: float
    t_tick_ns: int                   # engine clock of the tick
    tick_arrival_ns: int             # monotonic wall, for Tick→Signal
    signal_ns: int                   # monotonic wall when the signal was made


@dataclass(frozen=True, slots=True, repr=False)
class SignalBatch:
    step: int
    t_ns: int
    signals: tuple[Signal, ...]
    evaluated: int = 0
    eligible: int = 0
    updates: int = 0


@dataclass(frozen=True, slots=True, repr=False)
class ExecBatch:
    """Bridge → PairManager: everything the broker said in this step, in order.

    ``events`` holds kiwoom_bridge.types values (OrderAck, ExecutionReport, BalanceReport,
    SessionEvent, ConnectionEvent, ApiMessage) and :class:`SendResult`/:class:`Denied`, sorted by
    their ``t_ns`` (stable: a send result precedes the ack of the same instant); every ``t_ns`` is
    at most the step's ``t_ns``. The PairManager fires its timers up to each event's time before
    handling it, so an ack must never follow a later event (its ack timer would fire first).
    """

    step: int
    t_ns: int
    events: tuple[Any, ...]
    source_exhausted: bool = False


@dataclass(frozen=True, slots=True)
class StepDone:
    """PairManager → Throttler → Bridge: step ``step`` is fully handled (credit for the next)."""

    step: int
    t_ns: int
    next_deadline_ns: int | None = None
    flat: bool = True                # no open pair, no exposure
    armed: bool = False


# ----------------------------------------------------------------------------------------------
# Orders
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OrderRequest:
    """PairManager → Throttler: send this order intent (core.pair_fsm.OrderIntent) when a token allows.

    ``new_pair`` = the entry of a new pair: admitted only with ≥ min_tokens_free_to_start_new_pair
    free and no auto-pause, otherwise :class:`Denied`. Urgent requests (cancels, hedges) may use
    the reserve and wait in the queue until a token frees.
    """

    intent: Any
    t_ns: int
    new_pair: bool = False
    signal_ns: int = 0
    context: tuple = ()              # the take's (direction, qty, rich_bid, cheap_ask), for recovery


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """PairManager → Throttler: cancel ``order_no`` (always urgent; a cancel costs a token)."""

    ref: str
    pair_id: str
    code: str
    venue: str
    side: str
    order_no: str
    qty: int
    t_ns: int


@dataclass(frozen=True, slots=True)
class ThrottlerQueue:
    """Throttler → PairManager: how many urgent requests wait for a token (sent when it changes
    between empty and not). While any wait, the PairManager's credits go through the Throttler,
    which releases them and narrows the step deadline to the next free token."""

    queued: int
    t_ns: int


@dataclass(frozen=True, slots=True)
class TokenRefund:
    """PairManager → Throttler: Kiwoom refused ``ref`` with -308, the call did not count."""

    ref: str
    t_ns: int


@dataclass(frozen=True, slots=True, repr=False)
class Configure:
    """Supervisor → SpreadEngine/Throttler/PairManager/Bridge: the run's config and universe."""

    config: Any
    universe: Any
    options: RunOptions


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Throttler → Bridge: a token was spent at ``token_ns``; call SendOrder now."""

    intent: Any
    token_ns: int
    signal_ns: int = 0
    context: tuple = ()


@dataclass(frozen=True, slots=True)
class PlaceCancel:
    request: CancelRequest
    token_ns: int


@dataclass(frozen=True, slots=True)
class Denied:
    """Throttler → Bridge → PairManager (in the next ExecBatch): a new pair was not admitted."""

    ref: str
    pair_id: str
    reason: str
    t_ns: int


@dataclass(frozen=True, slots=True)
class SendResult:
    """Bridge → PairManager: what SendOrder returned for ``ref`` (0 = sent; -308 etc. = refused)."""

    ref: str
    rc: int
    t_ns: int
    send_ns: int                     # monotonic wall at the call
    signal_ns: int = 0
    message: str = ""
    order: Any = None                # the PlaceOrder (intent + take context) this answers, if an order


# ----------------------------------------------------------------------------------------------
# Control, health and reporting
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Ping:
    nonce: int


@dataclass(frozen=True, slots=True)
class Pong:
    """Actor → Supervisor: alive, with its counters."""

    nonce: int
    name: str
    pid: int
    msgs_in: int
    msgs_out: int
    pending: int
    detail: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class HealthRequest:
    pass


@dataclass(frozen=True, slots=True)
class ActorHealth:
    name: str
    address: str
    pid: int
    alive: bool
    heartbeat_age_s: float | None
    msgs_in: int
    msgs_out: int
    pending: int
    restarts: int = 0


@dataclass(frozen=True, slots=True, repr=False)
class HealthReport:
    actors: tuple[ActorHealth, ...]
    t_ns: int = 0

    @property
    def healthy(self) -> bool:
        return bool(self.actors) and all(a.alive for a in self.actors)


@dataclass(frozen=True, slots=True)
class StatusRequest:
    pass


@dataclass(frozen=True, slots=True, repr=False)
class StatusReport:
    """Supervisor's one-glance status (arbctl status, headless status line)."""

    t_ns: int
    session: str
    armed: bool
    reason: str
    ticks: int
    ticks_per_s: float
    tokens_free: int
    active_pairs: int
    pnl_net_krw: float
    pairs_done: int
    paused: bool = False
    step: int = 0
    flat: bool = True
    finished: bool = False
    detail: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ScaleShards:
    """arbctl scale → Supervisor: re-shard the running system to ``shards`` MarketData actors."""

    shards: int


@dataclass(frozen=True, slots=True)
class ScaleResult:
    ok: bool
    shards: int
    message: str


@dataclass(frozen=True, slots=True)
class StopEngine:
    """Disarm, let in-flight pairs finish, write the report, stop stepping."""

    reason: str


@dataclass(frozen=True, slots=True)
class Disarm:
    """Carried in an ExecBatch (so it lands at a deterministic step): no new pairs from now on."""

    reason: str


@dataclass(frozen=True, slots=True)
class RecoverPairManager:
    """Supervisor → new PairManager, Bridge and SpreadEngine: a new PairManager replaces a dead one.
    It waits for the bridge's :class:`RecoveryLog` before stepping; the bridge sends that log and
    re-sends the in-flight step, the SpreadEngine its last signals. ``pair_manager`` is the new
    actor's address (the Wiring that also names it may arrive later: Thespian does not order
    messages across sends)."""

    reason: str
    pair_manager: Any = None


@dataclass(frozen=True, slots=True, repr=False)
class RecoveryLog:
    """Bridge → new PairManager: every order placed (with its take context) and the credited steps
    that mattered (broker events, or a deadline falling due), in order. Chejan is authoritative:
    replaying them through fresh state machines rebuilds each open pair; orders already placed are
    not sent again. ``inflight_step`` (-1 if none) is the step the dead PairManager never credited:
    its ExecBatch follows, and its signals are skipped if the log shows it already acted on them.
    ``incarnation`` numbers the PairManager (new pair ids never collide with earlier ones)."""

    orders: tuple                    # PlaceOrder values, in placement order
    cancels: tuple                   # PlaceCancel values
    steps: tuple                     # (step, t_end_ns, events) of credited steps, in order
    t_ns: int
    inflight_step: int = -1
    incarnation: int = 1


@dataclass(frozen=True, slots=True)
class ScreensRegistered:
    """Bridge → Supervisor: shard ``shard_id`` (generation) now receives its screens' ticks."""

    shard_id: int
    generation: int
    screens: tuple[str, ...]
    error: str = ""


@dataclass(frozen=True, slots=True)
class SessionFinished:
    """Bridge → Supervisor: stepping ended (duration reached / replay exhausted / stop) and the
    engine reported flat, or ``error`` says why not."""

    t_ns: int
    step: int
    reason: str
    flat: bool
    error: str = ""
    rows: int = 0                    # market rows the bridge handed to the shards over the run


@dataclass(frozen=True, slots=True)
class ReportRequest:
    pass


@dataclass(frozen=True, slots=True, repr=False)
class RunReport:
    """Telemetry → Supervisor → launcher: the SPEC §5 report as a plain dict."""

    report: dict
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TelemetryEvent:
    """Any actor → Telemetry: one observation. ``kind`` names it; ``data`` is a small dict.

    Kinds used: 'signal', 'order' (audit row), 'latency', 'pair_done', 'pair_failed', 'kill_switch',
    'session', 'auto_pause', 'error', 'ticks', 'tokens', 'position'.
    """

    kind: str
    t_ns: int
    data: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FlushTelemetry:
    """Supervisor → every actor at the end of a run: send Telemetry what you hold, then answer
    :class:`TelemetryFlushed` (the report is requested only after every answer)."""


@dataclass(frozen=True, slots=True)
class TelemetryFlushed:
    name: str = ""


@dataclass(frozen=True, slots=True, repr=False)
class TelemetryBatch:
    events: tuple[TelemetryEvent, ...]


for _cls in (RecoveryLog, StartEngine, EngineStarted, ShardAssignment, RegisterScreens, MarketBatch, BookDelta, SignalBatch, ExecBatch, Configure, HealthReport, StatusReport, RunReport, TelemetryBatch,):
    _cls.__repr__ = short_repr
