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
from typing import TYPE_CHECKING

import numpy as np

from config.loader import ConfigError, load_config, resolve_path
from config.schema import EngineConfig
from config.universe_file import UniverseError, load_universe
from core.universe import (
    MAX_CODES_PER_SCREEN,
    MAX_SCREENS,
    NoOverlapError,
    ReplayUniverse,
    Screen,
    ScreenAllocationError,
    Universe,
    replay_universe,
)

if TYPE_CHECKING:
    from kiwoom_bridge.recording_reader import DecodedRecording

__all__ = ["ACCOUNT_DIGITS", "InputError", "Preflight", "check_account_env", "check_recording", "check_screens",
           "load_checked_config", "load_checked_universe", "preflight", "replay_symbols",
           "replay_symbols_notes"]


class InputError(ValueError):
    """An input that cannot be used; ``str()`` is one line naming the input and the problem."""


@dataclass(frozen=True)
class Preflight:
    """The checked inputs of a run. A replay's ``universe`` is the symbols it trades and ``replay`` says which
    and why (SPEC §6); ``recording_rows`` are the recording's rows of those symbols."""

    config: EngineConfig
    universe: Universe
    screens: tuple[Screen, ...]
    recording_rows: int = 0
    replay: ReplayUniverse | None = None


def load_checked_config(config_path: str | None, overrides: dict[str, object] | None = None) -> EngineConfig:
    """The config (defaults when ``config_path`` is None) or :class:`InputError`."""
    try:
        return load_config(config_path, overrides)
    except ConfigError as exc:
        raise InputError(str(exc)) from None


def load_checked_universe(cfg: EngineConfig, config_path: str | None, universe_file: str | None = None) -> Universe:
    """The config's universe file (or ``universe_file``, the ``--universe`` option), or :class:`InputError` with
    its first problem (and how many more)."""
    value = universe_file if universe_file is not None else cfg.symbols.universe_file
    path = Path(universe_file) if universe_file is not None else resolve_path(value, config_path)
    key = "--universe" if universe_file is not None else (
        f"{config_path}: symbols.universe_file" if config_path else "symbols.universe_file")
    try:
        return load_universe(path)
    except UniverseError as exc:
        problems = exc.problems or ["unreadable"]
        more = f" (+{len(problems) - 1} more; run: arbctl symbols {value})" if len(problems) > 1 else ""
        raise InputError(f"{key}: {path}: {problems[0]}{more}") from None
    except OSError as exc:
        raise InputError(f"{key}: {path}: {exc.strerror or exc}") from None


def check_screens(cfg: EngineConfig, universe: Universe, config_path: str | None = None) -> tuple[Screen, ...]:
    """The market-data screens of ``universe`` as the engine will register them, or :class:`InputError`
    naming the config key when they cannot be laid out (too many screens, too few explicit numbers)."""
    sn = cfg.kiwoom.screen_numbers
    needed = universe.screens_needed(MAX_CODES_PER_SCREEN)      # _NX codes count towards a screen's 100
    if needed > MAX_SCREENS:                   # the universe is too big, whatever the screen numbers
        where = f"{config_path}: " if config_path else ""
        what = "the recording" if universe.source == "recording" else "symbols.universe_file"
        raise InputError(f"{where}{what}: {len(universe):,} symbols need {needed} screens of "
                         f"{MAX_CODES_PER_SCREEN} codes (_NX codes count); Kiwoom allows at most {MAX_SCREENS}")
    try:
        return tuple(universe.screens(per_screen=MAX_CODES_PER_SCREEN, base=sn.marketdata_base,
                                      explicit=sn.marketdata, reserved=(sn.orders, sn.session, sn.account)))
    except ScreenAllocationError as exc:
        key = "kiwoom.screen_numbers.marketdata" if sn.marketdata else "kiwoom.screen_numbers.marketdata_base"
        where = f"{config_path}: " if config_path else ""
        raise InputError(f"{where}{key}: {exc}") from None


def _decoded(path: str, cfg: EngineConfig, codes: tuple[str, ...] | None) -> DecodedRecording:
    """The recording at ``path`` read and decoded whole, as the replay will (``codes``: None = all of them).

    Raises:
      InputError: the file is missing, not Parquet, corrupt, of the wrong schema or types, or empty.
    """
    import pyarrow as pa

    from kiwoom_bridge.recording import RecordingError
    from kiwoom_bridge.recording_reader import DecodedRecording

    if not Path(path).exists():
        raise InputError(f"recording {path}: file not found")
    try:
        return DecodedRecording(path, universe_codes=codes, assumed_visible_qty=cfg.replay.assumed_visible_qty)
    except RecordingError as exc:
        raise InputError(f"recording: {' '.join(str(exc).split())}") from None
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise InputError(f"recording {path}: not a readable Parquet recording ({' '.join(str(exc).split())[:200]})") \
            from None


def check_recording(path: str, cfg: EngineConfig, universe: Universe) -> int:
    """Read and decode the recording at ``path`` whole, as the replay will; return its rows for the universe.

    Raises:
      InputError: the file is missing, not Parquet, corrupt, of the wrong schema or types, empty, or holds no
        row of the universe's symbols.
    """
    rec = _decoded(path, cfg, universe.codes)
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


def replay_symbols(path: str, cfg: EngineConfig, known: Universe, restrict: Universe | None = None,
                   restrict_name: str = "") -> tuple[ReplayUniverse, int]:
    """The symbols a replay of ``path`` trades (:func:`core.universe.replay_universe`: the recording's own codes,
    or those of ``restrict``) and the recording's rows of them.

    Raises:
      InputError: the recording cannot be used (see :func:`check_recording`), holds no quote or trade at all, or
        ``restrict`` has none of its codes.
    """
    rec = _decoded(path, cfg, None)
    ev = rec.events
    rows_of = np.bincount(ev.code_idx, minlength=len(rec.codes))
    nxt_rows_of = np.bincount(ev.code_idx[ev.venue == 1], minlength=len(rec.codes))
    recorded = [c for c, n in zip(rec.codes, rows_of.tolist(), strict=True) if n]
    if not recorded:
        raise InputError(f"recording {path}: nothing to replay: none of its {rec.rows_read:,} rows is a quote or "
                         f"trade")
    nxt = [c for c, n in zip(rec.codes, nxt_rows_of.tolist(), strict=True) if n]
    try:
        chosen = replay_universe(recorded, nxt, known, restrict, restrict_name)
    except NoOverlapError as exc:
        raise InputError(str(exc)) from None
    index = {c: i for i, c in enumerate(rec.codes)}
    return chosen, int(sum(int(rows_of[index[c]]) for c in chosen.universe.codes))


def replay_symbols_notes(checked: Preflight) -> tuple[str, ...]:
    """What a replay says once about its symbols (console, log, report): which, how many, from where; and the
    codes of a restricting universe that the recording lacks. Empty for other runs."""
    r = checked.replay
    if r is None:
        return ()
    return (r.note,) + ((r.absent_note,) if r.absent_note else ())


def preflight(config_path: str | None, *, backend: str, replay_file: str | None = None,
              overrides: dict[str, object] | None = None, universe_file: str | None = None) -> Preflight:
    """Check every input of a run (see the module docstring); raise :class:`InputError` on the first problem.

    A replay trades the recording's codes (SPEC §6), restricted to ``universe_file`` (``--universe FILE``) or,
    with ``replay.universe: config``, to the config's universe file; the config's universe file names them.
    """
    cfg = load_checked_config(config_path, overrides)
    check_account_env()
    if backend == "replay" and not replay_file:
        raise InputError("--backend replay needs --replay FILE.parquet")
    if universe_file is not None and not replay_file:
        raise InputError(f"--universe {universe_file}: restricts a replay (--replay FILE); the other backends "
                         f"trade symbols.universe_file")
    universe = load_checked_universe(cfg, config_path)
    if not replay_file:
        return Preflight(cfg, universe, check_screens(cfg, universe, config_path), 0)
    restrict, name = None, ""
    if universe_file is not None:
        restrict, name = load_checked_universe(cfg, config_path, universe_file), f"--universe {universe_file}"
    elif cfg.replay.universe == "config":
        restrict, name = universe, f"symbols.universe_file {cfg.symbols.universe_file} (replay.universe: config)"
    chosen, rows = replay_symbols(replay_file, cfg, universe, restrict, name)
    screens = check_screens(cfg, chosen.universe, config_path)
    return Preflight(cfg, chosen.universe, screens, rows, chosen)
