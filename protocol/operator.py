"""The operator's interface: the coalesced snapshot the window reads and the commands it sends.

A client (the operator window, arbctl) joins the engine's actor system and talks only to the Supervisor:

* :class:`OperatorSnapshotRequest` → :class:`OperatorSnapshot`. The Supervisor answers from a cache no
  older than :data:`SNAPSHOT_MIN_INTERVAL_S`; when it is older it gathers fresh details once for every
  asker (:class:`OperatorDetailRequest` to the PairManager, SpreadEngine, Telemetry and bridge, each
  answering one :class:`OperatorDetail`), so any number of windows costs the tick path at most a few
  answers a second and nothing at all when no window is attached. Cursors make the answers deltas: the
  Symbols rows changed since ``symbols_since``, the feed lines after ``feed_since``.
* :class:`OperatorCommand` (arm/disarm, arm/mute/unmute a code) → :class:`OperatorCommandResult`. The
  Supervisor checks it and hands it to the bridge, which carries it in the next step's ``ExecBatch``
  (:class:`core.desk_events.OperatorRequested`): the PairManager applies it inside a step, like every
  other event, so replays and a recovered PairManager see it at the same place.
* :class:`ConfigChangeRequest` → :class:`ConfigChangeResult`: keys of :data:`config.live.LIVE_CONFIG_KEYS` validated
  with the loader's own validation, then applied live (SpreadEngine directly, PairManager inside a step).
* Scaling and stopping use :class:`protocol.control.ScaleShards` and :class:`protocol.control.StopEngine`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from config.schema import EngineConfig
from core.enums import OperatorAction
from core.operator_view import DeskView, FeedEntry, SymbolInfo
from protocol.compact_repr import compact_repr
from protocol.control import DetailValue, HealthReport, StatusReport

__all__ = ["SNAPSHOT_MIN_INTERVAL_S", "BridgeView", "ConfigChangeRequest", "ConfigChangeResult",
           "LiveConfig", "OperatorCommand", "OperatorCommandResult", "OperatorDetail", "OperatorDetailRequest",
           "OperatorSnapshot", "OperatorSnapshotRequest", "SymbolsDelta", "TelemetryView"]

#: The Supervisor gathers fresh details at most this often (wall seconds); askers in between get the cache.
SNAPSHOT_MIN_INTERVAL_S = 0.2



# ------------------------------------------------------------------------------------------------ the snapshot

@dataclass(frozen=True, slots=True)
class OperatorSnapshotRequest:
    """Window → Supervisor: a snapshot. ``epoch`` is the engine run the cursors belong to (0 = none yet: send
    everything); ``symbols_since`` the Symbols version the asker holds; ``feed_since`` its newest feed line;
    ``include_report`` asks for the live run report (the Reports view; costlier, so only when shown);
    ``include_symbols`` for fresh Symbols rows (the Symbols view: at 20,000 updates/s nearly every row changes
    between two snapshots, so a window asks for them often only while it shows them); ``config_version`` the
    configuration version it holds (the configuration is sent only when that differs)."""

    request_id: int = 0
    epoch: str = ""
    symbols_since: int = 0
    feed_since: int = 0
    include_report: bool = False
    include_symbols: bool = True
    config_version: int = -1


@dataclass(frozen=True, slots=True)
class OperatorDetailRequest:
    """Supervisor → PairManager / SpreadEngine / Telemetry / bridge: answer one :class:`OperatorDetail`.

    ``include_symbols``: the SpreadEngine answers too (with at most a bounded number of changed rows, the rest
    in later answers). ``feed_since``: Telemetry sends the feed lines after it.
    """

    gather_id: int
    feed_since: int = 0
    include_report: bool = False
    include_symbols: bool = True


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class SymbolsDelta:
    """SpreadEngine → Supervisor → window: Symbols rows (:data:`core.operator_view.SYMBOL_ROW_DTYPE`) that
    changed; ``full`` when ``rows`` is the whole universe. ``version``: the Supervisor's table version."""

    t_ns: int
    rows: np.ndarray
    full: bool = False
    version: int = 0


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class TelemetryView:
    """Telemetry → Supervisor: the live figures (:meth:`outputs.telemetry_book.TelemetryBook.snapshot`), the
    feed lines after the asked cursor and, when asked, the live run report."""

    figures: dict[str, Any]
    feed: tuple[FeedEntry, ...] = ()
    report: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class BridgeView:
    """The bridge's state for the status bar and the launch strip.

    ``connected``: logged in to the broker (CommConnect → OnEventConnect(0)); ``server`` ``mock`` (모의투자) or
    ``real`` (실서버); ``account`` masked; ``screens_registered`` of ``screens_needed`` market-data screens
    have a shard; ``started``: stepping.
    """

    backend: str
    connected: bool
    server: str
    account: str
    speed: float | None
    screens_registered: int
    screens_needed: int
    shards: int
    started: bool
    step: int
    t_ns: int
    stop_reason: str = ""
    error: str = ""
    replay: str = ""


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class OperatorDetail:
    """Child → Supervisor: its part of gather ``gather_id`` (a :class:`~core.operator_view.DeskView`,
    :class:`SymbolsDelta`, :class:`TelemetryView` or :class:`BridgeView`; None when it has nothing yet)."""

    gather_id: int
    part: str
    data: DeskView | SymbolsDelta | TelemetryView | BridgeView | None


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class OperatorSnapshot:
    """Supervisor → window: everything the window shows, as of wall time ``wall_ns``.

    ``epoch`` identifies the engine run (a new run → the window drops what it holds). ``symbols`` holds the
    rows changed since the asker's ``symbols_since`` (all rows when ``symbols.full``); ``universe`` the static
    symbol facts (sent with full tables only); ``feed`` the lines after ``feed_since``. ``stale`` names the
    parts that did not answer in time (their previous value is repeated). ``config`` is the configuration the
    engine runs with now (``config_version`` counts live changes), sent only when the asker's version differs.
    ``final_report`` is the run report once the run has finished. ``throttle`` is the Throttler's last
    heartbeat detail (tokens, orders and queries in the current window).
    """

    request_id: int
    epoch: str
    wall_ns: int
    started: bool
    status: StatusReport | None
    health: HealthReport | None
    bridge: BridgeView | None = None
    desk: DeskView | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    symbols: SymbolsDelta | None = None
    universe: tuple[SymbolInfo, ...] = ()
    feed: tuple[FeedEntry, ...] = ()
    feed_seq: int = 0
    report: dict[str, Any] | None = None
    config: EngineConfig | None = None
    config_version: int = 0
    shard_plan: tuple[tuple[int, str, int], ...] = ()
    throttle: tuple[tuple[str, DetailValue], ...] = ()
    stale: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    finished: bool = False
    final_report: dict[str, Any] | None = None


# ------------------------------------------------------------------------------------------------ commands

@dataclass(frozen=True, slots=True)
class OperatorCommand:
    """Window/arbctl → Supervisor: ``action`` on ``code`` (empty = the engine). ``source`` names the client."""

    action: OperatorAction
    code: str = ""
    reason: str = ""
    source: str = "gui"
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class OperatorCommandResult:
    """Supervisor → asker: accepted (carried into the next step) or refused, and why."""

    request_id: int
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class ConfigChangeRequest:
    """Window → Supervisor: set these keys (dotted paths of :data:`config.live.LIVE_CONFIG_KEYS`) on the running
    engine."""

    changes: tuple[tuple[str, DetailValue], ...]
    source: str = "gui"
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class ConfigChangeResult:
    """Supervisor → asker: applied (``changes`` as ``"key: old -> new"``) or refused with the loader's
    one-line reason (``FILE: key.path: problem``)."""

    request_id: int
    ok: bool
    message: str
    changes: tuple[str, ...] = ()
    config_version: int = 0


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class LiveConfig:
    """Supervisor → SpreadEngine and bridge (which carries it to the PairManager inside a step): run with
    ``config`` from now on; ``changes`` describe what changed."""

    config: EngineConfig
    changes: tuple[str, ...]
    source: str = "gui"
