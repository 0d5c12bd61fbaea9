"""The emulated backend of a ``sim`` or ``replay`` run: the control, its clock and its market source.

:func:`build_emulated_backend` is the one place that builds it from a run's configuration, universe and options
(the bridge's process builds it for a backtest; the feeder process of :mod:`kiwoom_bridge.emulator.feeder` builds
the same one for a paced sim). :func:`storm_308_in_force` is the ``sim.faults.storm_308_window`` rule, applied
by whoever advances the control.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.clock import kst_datetime

if TYPE_CHECKING:
    from config.schema import EngineConfig
    from core.universe import Universe
    from kiwoom_bridge.emulator.control import EmulatedControl
    from kiwoom_bridge.emulator.scheduler import SimScheduler
    from kiwoom_bridge.emulator.source import MarketSource
    from protocol.wiring import RunOptions

__all__ = ["EMULATOR_ACCOUNT", "REPLAY_LEAD_NS", "EmulatedBackend", "EmulatedBackendError", "build_emulated_backend",
           "storm_308_in_force"]

#: A replay's clock starts this long before the first recorded row. Login (CommConnect →
#: OnEventConnect, 100 ms in the emulator) and the screen registrations run on that clock; rows it
#: passed before the screens existed would reach the exchange books but never the engine.
REPLAY_LEAD_NS = 1_000_000_000
#: The account the emulated user holds when KIWOOM_ACCOUNT is not set.
EMULATOR_ACCOUNT = "8012345611"


class EmulatedBackendError(RuntimeError):
    """The emulated backend cannot be built (unknown backend, a replay without a file)."""


@dataclass(frozen=True)
class EmulatedBackend:
    """A built emulated backend: ``control`` on ``scheduler``'s clock, fed by ``source``, from ``start_ns``."""

    control: EmulatedControl
    scheduler: SimScheduler
    source: MarketSource
    start_ns: int


def build_emulated_backend(cfg: EngineConfig, universe: Universe, options: RunOptions) -> EmulatedBackend:
    """The emulated control of a ``sim`` (synthetic market) or ``replay`` (recording) run.

    Raises:
      EmulatedBackendError: For another backend, or a replay without a recording file.
    """
    from core.session import SessionClock
    from kiwoom_bridge.emulator.control import EmulatedControl
    from kiwoom_bridge.emulator.scheduler import SimScheduler
    codes = tuple(s.code for s in universe.symbols)
    seed = options.seed if options.seed is not None else cfg.sim.seed
    source: MarketSource
    if options.backend == "sim":
        from kiwoom_bridge.bridge_core import session_start_ns
        from kiwoom_bridge.emulator.synthetic import SyntheticMarket
        _, start = session_start_ns(cfg)
        markets = {s.code: str(s.market) for s in universe.symbols}
        source = SyntheticMarket(codes, markets=markets, start_ns=start, params=cfg.sim.market, seed=seed)
    elif options.backend == "replay":
        from kiwoom_bridge.emulator.replay import ReplaySource
        if not options.replay_file:
            raise EmulatedBackendError("the replay backend needs a recording file")
        source = ReplaySource(options.replay_file, universe_codes=codes,
                              assumed_visible_qty=cfg.replay.assumed_visible_qty)
        start = source.start_ns - REPLAY_LEAD_NS
    else:
        raise EmulatedBackendError(f"unknown backend {options.backend!r} (sim | replay | kiwoom)")
    scheduler = SimScheduler(start)
    # the emulated user holds the account the operator names (any number works in sim and replay)
    account = os.environ.get("KIWOOM_ACCOUNT", "").strip() or EMULATOR_ACCOUNT
    control = EmulatedControl(scheduler, source, cfg, codes, seed,
                              markets={s.code: str(s.market) for s in universe.symbols},
                              names={s.code: s.name for s in universe.symbols},
                              is_trading_day=SessionClock(cfg.sessions).is_trading_day, account=account)
    return EmulatedBackend(control, scheduler, source, start)


def storm_308_in_force(cfg: EngineConfig, now_ns: int) -> bool | None:
    """Whether ``sim.faults`` has the -308 storm on at ``now_ns`` by its window; None = no window (leave it)."""
    win = cfg.sim.faults.storm_308_window
    if win is None:
        return None
    tod = kst_datetime(now_ns).time()
    return cfg.sim.faults.storm_308 or win.start <= tod < win.end
