"""Everything a run needs, checked before anything starts (``launch.py``, ``arbctl replay``, ``check-config``).

Invalid input is found here, before an actor system, a process or a run folder exists: the config file, the
universe file, the screens the universe needs (the same allocation the Supervisor makes), and a replay's
recording (read and decoded whole, as the replay will read it). Each problem is one :class:`InputError` whose
message is one line naming the input and the problem; the caller prints it and exits 2.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from config.loader import ConfigError, load_config, resolve_path
from config.schema import EngineConfig
from config.universe_file import UniverseError, load_universe
from core.universe import MAX_CODES_PER_SCREEN, MAX_SCREENS, Screen, ScreenAllocationError, Universe

__all__ = ["ACCOUNT_DIGITS", "InputError", "Preflight", "check_account_env", "check_recording", "check_screens",
           "load_checked_config", "load_checked_universe", "preflight"]


class InputError(ValueError):
    """An input that cannot be used; ``str()`` is one line naming the input and the problem."""


@dataclass(frozen=True)
class Preflight:
    """The checked inputs of a run."""

    config: EngineConfig
    universe: Universe
    screens: tuple[Screen, ...]
    recording_rows: int = 0


def load_checked_config(config_path: str | None, overrides: dict[str, object] | None = None) -> EngineConfig:
    """The config (defaults when ``config_path`` is None) or :class:`InputError`."""
    try:
        return load_config(config_path, overrides)
    except ConfigError as exc:
        raise InputError(str(exc)) from None


def load_checked_universe(cfg: EngineConfig, config_path: str | None) -> Universe:
    """The config's universe file, or :class:`InputError` with its first problem (and how many more)."""
    value = cfg.symbols.universe_file
    path = resolve_path(value, config_path)
    try:
        return load_universe(path)
    except UniverseError as exc:
        problems = exc.problems or ["unreadable"]
        more = f" (+{len(problems) - 1} more; run: arbctl symbols {value})" if len(problems) > 1 else ""
        where = f"{config_path}: " if config_path else ""
        raise InputError(f"{where}symbols.universe_file: {path}: {problems[0]}{more}") from None
    except OSError as exc:
        raise InputError(f"symbols.universe_file: {path}: {exc.strerror or exc}") from None


def check_screens(cfg: EngineConfig, universe: Universe, config_path: str | None = None) -> tuple[Screen, ...]:
    """The market-data screens of ``universe`` as the engine will register them, or :class:`InputError`
    naming the config key when they cannot be laid out (too many screens, too few explicit numbers)."""
    sn = cfg.kiwoom.screen_numbers
    needed = universe.screens_needed(MAX_CODES_PER_SCREEN)
    if needed > MAX_SCREENS:                   # the universe is too big, whatever the screen numbers
        where = f"{config_path}: " if config_path else ""
        raise InputError(f"{where}symbols.universe_file: {len(universe):,} symbols need {needed} screens of "
                         f"{MAX_CODES_PER_SCREEN} codes (_NX codes count); Kiwoom allows at most {MAX_SCREENS}")
    try:
        return tuple(universe.screens(per_screen=MAX_CODES_PER_SCREEN, base=sn.marketdata_base,
                                      explicit=sn.marketdata, reserved=(sn.orders, sn.session, sn.account)))
    except ScreenAllocationError as exc:
        key = "kiwoom.screen_numbers.marketdata" if sn.marketdata else "kiwoom.screen_numbers.marketdata_base"
        where = f"{config_path}: " if config_path else ""
        raise InputError(f"{where}{key}: {exc}") from None


def check_recording(path: str, cfg: EngineConfig, universe: Universe) -> int:
    """Read and decode the recording at ``path`` whole, as the replay will; return its rows for the universe.

    Raises:
      InputError: the file is missing, not Parquet, corrupt, of the wrong schema or types, empty, or holds no
        row of the universe's symbols.
    """
    import pyarrow as pa

    from kiwoom_bridge.recording import RecordingError
    from kiwoom_bridge.recording_reader import DecodedRecording

    if not Path(path).exists():
        raise InputError(f"recording {path}: file not found")
    try:
        rec = DecodedRecording(path, universe_codes=universe.codes,
                               assumed_visible_qty=cfg.replay.assumed_visible_qty)
    except RecordingError as exc:
        raise InputError(f"recording: {' '.join(str(exc).split())}") from None
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise InputError(f"recording {path}: not a readable Parquet recording ({' '.join(str(exc).split())[:200]})") \
            from None
    if rec.rows_replayed == 0:
        raise InputError(f"recording {path}: nothing to replay: none of its {rec.rows_read:,} rows is a quote or "
                         f"trade of a symbol in the universe")
    return int(rec.rows_replayed)


#: ``SendOrder``'s sAccNo is 10 digits (KOA Studio; ../shared/reference/market_and_kiwoom_facts.md).
ACCOUNT_DIGITS = 10


def check_account_env(environ: Mapping[str, str] | None = None) -> str:
    """``KIWOOM_ACCOUNT`` when set: 10 digits, or :class:`InputError` (which never repeats the value)."""
    value = (os.environ if environ is None else environ).get("KIWOOM_ACCOUNT", "").strip()
    if value and not (len(value) == ACCOUNT_DIGITS and value.isascii() and value.isdigit()):
        raise InputError(f"KIWOOM_ACCOUNT: must be the {ACCOUNT_DIGITS}-digit account number "
                         f"(got {len(value)} characters)")
    return value


def preflight(config_path: str | None, *, backend: str, replay_file: str | None = None,
              overrides: dict[str, object] | None = None) -> Preflight:
    """Check every input of a run (see the module docstring); raise :class:`InputError` on the first problem."""
    cfg = load_checked_config(config_path, overrides)
    check_account_env()
    if backend == "replay" and not replay_file:
        raise InputError("--backend replay needs --replay FILE.parquet")
    universe = load_checked_universe(cfg, config_path)
    screens = check_screens(cfg, universe, config_path)
    rows = check_recording(replay_file, cfg, universe) if replay_file else 0
    return Preflight(cfg, universe, screens, rows)
