"""Start-up messages: how a run was launched, the config and universe, who talks to whom, the shards."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from thespian.actors import ActorAddress

from config.schema import EngineConfig
from core.universe import Universe
from protocol.compact_repr import compact_repr

__all__ = ["BACKENDS", "Backend", "Configure", "EngineStarted", "RegisterScreens", "ReleaseScreens", "RunOptions",
           "ScreenPlan", "ScreensRegistered", "ShardAssignment", "ShardDown", "ShardReleased", "StartEngine", "Wiring",
           "parse_backend"]

Backend = Literal["sim", "replay", "kiwoom"]
#: Every :data:`Backend`, in the order the command lines offer them.
BACKENDS: tuple[Backend, ...] = ("sim", "replay", "kiwoom")
#: A shard's screens: ``((screen_no, (code, ...)), ...)``.
ScreenPlan = tuple[tuple[str, tuple[str, ...]], ...]


def parse_backend(text: str) -> Backend:
    """The :data:`Backend` named ``text`` (exactly ``sim``, ``replay`` or ``kiwoom``, as the ``--backend`` choice).

    Raises:
      ValueError: for any other text, naming it.
    """
    for backend in BACKENDS:
        if text == backend:
            return backend
    raise ValueError(f"unknown backend {text!r}: expected one of {', '.join(BACKENDS)}")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How this run was launched (``launch.py`` flags / ``arbctl replay``).

    ``speed`` is a multiple of real time, None for ``--speed max`` (lockstep); ``duration_s`` counts
    engine-clock seconds; ``run_dir`` holds the audit log and the report files. A replay's
    ``symbols_source`` (``'recording'`` or the universe file that restricted it) and ``symbols_notes`` (what
    :func:`tools.preflight.preflight` found: which codes, how many, from where) go into its report.
    """

    backend: Backend
    replay_file: str | None = None
    speed: float | None = 1.0
    duration_s: float | None = None
    seed: int | None = None
    run_dir: str = "runs/latest"
    config_path: str | None = None
    symbols_source: str = ""
    symbols_notes: tuple[str, ...] = ()


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class StartEngine:
    """Launcher → Supervisor: build every actor from ``config`` and start the session.

    ``launcher_pid`` is the process the Supervisor watches: when it is gone (killed, crashed) the engine
    stops itself in order and shuts its actor system down (``admin_port`` and ``base`` name that system).
    0 = nobody to watch (tests that drive the system themselves).
    """

    config: EngineConfig
    universe: Universe
    options: RunOptions
    launcher_pid: int = 0
    admin_port: int = 0
    base: str = "multiprocTCPBase"


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class EngineStarted:
    """Supervisor → launcher: the engine started (``ok``) or why not; ``actors`` = (name, address text)."""

    ok: bool
    error: str = ""
    actors: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Wiring:
    """Supervisor → every actor: the addresses it talks to (None where not needed)."""

    supervisor: ActorAddress | None = None
    bridge: ActorAddress | None = None
    throttler: ActorAddress | None = None
    pair_manager: ActorAddress | None = None
    spread_engine: ActorAddress | None = None
    telemetry: ActorAddress | None = None
    shards: tuple[ActorAddress, ...] = ()


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class Configure:
    """Supervisor → SpreadEngine/Throttler/PairManager/Bridge/Telemetry: the run's config and universe."""

    config: EngineConfig
    universe: Universe
    options: RunOptions


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class ShardAssignment:
    """Supervisor → MarketData shard: its id and screens.

    ``shard_id`` is unique over the whole run (a re-sharded generation gets fresh ids, a restarted
    shard keeps its predecessor's), so the bridge never routes one generation's rows to another.
    """

    shard_id: int
    screens: ScreenPlan
    config: EngineConfig
    universe: Universe
    generation: int = 0


@compact_repr
@dataclass(frozen=True, slots=True, repr=False)
class RegisterScreens:
    """Shard → Bridge: register these screens (KRX and NXT codes) and route their ticks to me.

    New screens are registered before old ones are removed (re-sharding loses nothing); the bridge
    answers with a full snapshot of the codes so a (re)started shard rebuilds its book.
    """

    shard_id: int
    screens: ScreenPlan
    generation: int


@dataclass(frozen=True, slots=True)
class ReleaseScreens:
    """Supervisor → Bridge: remove these screens (after their replacement is registered)."""

    screen_nos: tuple[str, ...]
    shard_id: int


@dataclass(frozen=True, slots=True)
class ScreensRegistered:
    """Bridge → Supervisor: shard ``shard_id`` (generation) now receives its screens' ticks (or ``error``)."""

    shard_id: int
    generation: int
    screens: tuple[str, ...]
    error: str = ""


@dataclass(frozen=True, slots=True)
class ShardReleased:
    """Bridge → Supervisor: shard ``shard_id`` owns no screen any more and no step in flight includes it;
    it can be retired without a step waiting for it (live re-sharding)."""

    shard_id: int


@dataclass(frozen=True, slots=True)
class ShardDown:
    """Supervisor → SpreadEngine: shard ``shard_id`` died; stop waiting for it this step."""

    shard_id: int
