"""The symbol universe: which stocks the engine watches, and how they map onto market-data screens.

A :class:`Universe` is the symbols in file order (:class:`Symbol`: 6-digit code, name, market, NXT
eligibility), built from the operator's universe file by :mod:`config.universe_file`.

Screens: Kiwoom registers real-time data per screen number with at most 100 codes per screen and at
most 200 screens per program; a symbol that trades on NXT is two codes on its screen, ``005930`` and
``005930_NX`` (SPEC §11: the ``_NX`` codes count towards the 100 — unverified, the strict reading). So
:meth:`Universe.screens` fills screens in file order with up to 100 *codes* each: 50 NXT symbols (or 100 KRX-only
ones) per screen, 800 NXT symbols → 16 screens, a 200-symbol universe → 4. :func:`assign_shards` deals those
screens round-robin to MarketData actors.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Market = Literal["KOSPI", "KOSDAQ"]
MARKETS: tuple[str, ...] = ("KOSPI", "KOSDAQ")
MAX_CODES_PER_SCREEN = 100
MAX_SCREENS = 200


def is_code(code: object) -> bool:
    """Whether ``code`` is a 6-digit stock code string."""
    return isinstance(code, str) and len(code) == 6 and code.isascii() and code.isdigit()


# ---------------------------------------------------------------------------------- value objects

@dataclass(frozen=True, slots=True)
class Symbol:
    """One stock of the universe: its 6-digit KRX ``code``, ``name``, ``market`` and NXT eligibility."""

    code: str
    name: str = ""
    market: Market = "KOSPI"
    nxt: bool = True

    def __post_init__(self) -> None:
        if not is_code(self.code):
            raise ValueError(f"{self.code!r} is not a 6-digit code")
        if self.market not in MARKETS:
            raise ValueError(f"market {self.market!r} is not KOSPI or KOSDAQ")
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {self.name!r}")
        if not isinstance(self.nxt, bool):
            raise ValueError(f"nxt must be a bool, got {self.nxt!r}")


@dataclass(frozen=True, slots=True)
class Screen:
    """One Kiwoom screen: a 4-digit ``screen_no``, the symbols (KRX codes) registered on it in file order, and
    how many of them are also registered as ``_NX`` codes (``nx_codes``)."""

    screen_no: str
    codes: tuple[str, ...]
    nx_codes: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.screen_no, str) and len(self.screen_no) == 4 and self.screen_no.isdigit()):
            raise ValueError(f"screen number {self.screen_no!r} is not a 4-digit string")
        if not 0 <= self.nx_codes <= len(self.codes):
            raise ValueError(f"screen {self.screen_no}: {self.nx_codes} _NX codes for {len(self.codes)} symbols")
        if not 0 < len(self.codes) or self.wire_codes > MAX_CODES_PER_SCREEN:
            raise ValueError(f"screen {self.screen_no} holds {self.wire_codes} codes; "
                             f"Kiwoom allows 1 to {MAX_CODES_PER_SCREEN} (_NX codes count)")

    @property
    def wire_codes(self) -> int:
        """The codes registered on the screen: every symbol's KRX code and the ``_NX`` codes."""
        return len(self.codes) + self.nx_codes

    def __len__(self) -> int:
        return len(self.codes)


class ScreenAllocationError(ValueError):
    """The universe cannot be laid out on Kiwoom screens (too many screens, too few explicit numbers)."""


@dataclass(frozen=True)
class Universe:
    """The symbols in file order. Lookup by code is O(1) (:meth:`index_of`).

    ``notes`` are informational remarks from loading (padded codes, defaulted markets); they do not
    take part in equality.
    """

    symbols: tuple[Symbol, ...]
    notes: list[str] = field(default_factory=list, compare=False, hash=False)
    source: str = field(default="", compare=False, hash=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        symbols = tuple(self.symbols)
        index: dict[str, int] = {}
        for i, s in enumerate(symbols):
            if not isinstance(s, Symbol):
                raise TypeError(f"Universe holds Symbol objects, got {s!r}")
            if s.code in index:
                raise ValueError(f"duplicate code {s.code!r} (positions {index[s.code]} and {i})")
            index[s.code] = i
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "notes", list(self.notes))
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_codes(cls, codes: Iterable[str], market: Market = "KOSPI", nxt: bool = True) -> Universe:
        """Build a universe from bare codes, all in one ``market`` (handy for tests and tools)."""
        return cls(tuple(Symbol(c, "", market, nxt) for c in codes))

    @property
    def codes(self) -> tuple[str, ...]:
        """The KRX codes in file order."""
        return tuple(s.code for s in self.symbols)

    @property
    def markets(self) -> np.ndarray:
        """The market of every symbol, in file order, as a numpy string array (``'KOSPI'``/``'KOSDAQ'``)."""
        return np.array([s.market for s in self.symbols], dtype="<U6")

    @property
    def nxt_mask(self) -> np.ndarray:
        """A boolean array, in file order: True where the symbol trades on NXT."""
        return np.array([s.nxt for s in self.symbols], dtype=bool)

    def count_by_market(self) -> dict[str, int]:
        """How many symbols each market has (both markets always present, possibly 0)."""
        counts = dict.fromkeys(MARKETS, 0)
        for s in self.symbols:
            counts[s.market] += 1
        return counts

    def index_of(self, code: str) -> int:
        """The position of ``code`` in file order. Raises KeyError for a code not in the universe."""
        try:
            return self._index[code]
        except KeyError:
            raise KeyError(f"{code!r} is not in the universe") from None

    def __contains__(self, code: object) -> bool:
        return code in self._index

    def __len__(self) -> int:
        return len(self.symbols)

    def __iter__(self) -> Iterator[Symbol]:
        return iter(self.symbols)

    def __getitem__(self, key: int | str) -> Symbol:
        """``u[i]`` is the i-th symbol; ``u['005930']`` the symbol with that code."""
        if isinstance(key, str):
            return self.symbols[self.index_of(key)]
        return self.symbols[key]

    def screens(self, per_screen: int = MAX_CODES_PER_SCREEN, base: int = 1000,
                explicit: Sequence[str] = (), reserved: Iterable[str] = ()) -> list[Screen]:
        """Lay the universe out on Kiwoom screens of at most ``per_screen`` *codes* each, in file order.

        A symbol that trades on NXT takes two codes (``005930`` and ``005930_NX``), a KRX-only symbol one; each
        screen takes symbols in file order while they fit (800 NXT symbols at 100 → 16 screens of 50). Adding
        symbols at the end of the file therefore never moves an existing symbol to another screen.

        Screen numbers come from ``explicit`` in order when it is given (extra numbers are unused;
        too few raise :class:`ScreenAllocationError`); otherwise they count up from ``base``, skipping
        any number in ``reserved`` (e.g. the order and session screens). More than 200 screens, a
        number beyond 9999, or an explicit number that is reserved, repeated or not 4 digits raise
        :class:`ScreenAllocationError`.
        """
        groups = self._screen_groups(per_screen)
        needed = len(groups)
        if needed > MAX_SCREENS:
            raise ScreenAllocationError(
                f"{len(self.symbols)} symbols at {per_screen} codes per screen (_NX codes count) need {needed} "
                f"screens; Kiwoom allows at most {MAX_SCREENS}")
        reserved_set = {str(r) for r in reserved}
        numbers = (_explicit_screen_numbers(explicit, needed, reserved_set) if explicit
                   else _auto_screen_numbers(base, needed, reserved_set))
        return [Screen(numbers[i], tuple(group), nx) for i, (group, nx) in enumerate(groups)]

    def screens_needed(self, per_screen: int = MAX_CODES_PER_SCREEN) -> int:
        """How many screens :meth:`screens` lays the universe out on (``_NX`` codes count), whatever the limit."""
        return len(self._screen_groups(per_screen))

    def _screen_groups(self, per_screen: int) -> list[tuple[list[str], int]]:
        """The codes of each screen in file order and how many of them trade on NXT."""
        if not isinstance(per_screen, int) or not 2 <= per_screen <= MAX_CODES_PER_SCREEN:
            raise ScreenAllocationError(f"per_screen must be 2..{MAX_CODES_PER_SCREEN} codes, got {per_screen!r}")
        groups: list[tuple[list[str], int]] = []
        used = per_screen
        for sym in self.symbols:
            cost = 2 if sym.nxt else 1
            if used + cost > per_screen:
                groups.append(([], 0))
                used = 0
            group, nx = groups[-1]
            group.append(sym.code)
            groups[-1] = (group, nx + (1 if sym.nxt else 0))
            used += cost
        return groups


def _explicit_screen_numbers(explicit: Sequence[str], needed: int, reserved: set[str]) -> list[str]:
    numbers = [str(x) for x in explicit]
    seen: set[str] = set()
    for n in numbers:
        if not (len(n) == 4 and n.isdigit()):
            raise ScreenAllocationError(f"screen number {n!r} is not a 4-digit string")
        if n in seen:
            raise ScreenAllocationError(f"screen number {n} is listed twice")
        if n in reserved:
            raise ScreenAllocationError(f"screen number {n} is reserved for another use")
        seen.add(n)
    if len(numbers) < needed:
        raise ScreenAllocationError(
            f"{needed} screens are needed but only {len(numbers)} screen numbers are configured")
    return numbers[:needed]


def _auto_screen_numbers(base: int, needed: int, reserved: set[str]) -> list[str]:
    if not isinstance(base, int) or isinstance(base, bool) or base < 1:
        raise ScreenAllocationError(f"screen base must be an integer ≥ 1, got {base!r}")
    out: list[str] = []
    n = base
    while len(out) < needed:
        if n > 9999:
            raise ScreenAllocationError(
                f"{needed} screens starting at {base} run past 9999; choose a lower base")
        s = f"{n:04d}"
        if s not in reserved:
            out.append(s)
        n += 1
    return out


def assign_shards(screens: Sequence[Screen], n_shards: int) -> list[list[Screen]]:
    """Deal ``screens`` to ``n_shards`` MarketData actors round-robin, keeping their order.

    Shard ``i`` gets screens ``i, i + n, i + 2n, ...``. Only non-empty shards are returned, so with
    more shards than screens the result has ``len(screens)`` shards of one screen each (and no
    screens → ``[]``). Raises ValueError when ``n_shards`` < 1.
    """
    if not isinstance(n_shards, int) or isinstance(n_shards, bool) or n_shards < 1:
        raise ValueError(f"n_shards must be an integer ≥ 1, got {n_shards!r}")
    shards: list[list[Screen]] = [[] for _ in range(min(n_shards, len(screens)))]
    for i, screen in enumerate(screens):
        shards[i % n_shards].append(screen)
    return shards




# ---------------------------------------------------------------------------------- the universe of a replay

#: Codes named in full in a replay's one-line universe note (the rest are counted).
NOTE_CODES_SHOWN = 10


class NoOverlapError(ValueError):
    """A replay restricted to a universe that has none of the recording's codes."""


@dataclass(frozen=True, slots=True)
class ReplayUniverse:
    """The symbols a replay trades (SPEC §6) and why: ``source`` is ``'recording'`` (the recording's own codes,
    the default) or the universe file that restricted it; ``note`` says it in one line (console, log, report);
    ``absent`` are codes of the restricting universe the recording does not hold, ``absent_note`` says so."""

    universe: Universe
    source: str
    note: str
    absent: tuple[str, ...] = ()
    absent_note: str = ""


def _shown(codes: Sequence[str]) -> str:
    more = f" and {len(codes) - NOTE_CODES_SHOWN} more" if len(codes) > NOTE_CODES_SHOWN else ""
    return ", ".join(codes[:NOTE_CODES_SHOWN]) + more


def replay_universe(recorded: Sequence[str], nxt_recorded: Iterable[str], known: Universe | None = None,
                    restrict: Universe | None = None, restrict_name: str = "") -> ReplayUniverse:
    """The universe of a replay of a recording that holds the codes ``recorded``.

    Args:
      recorded: The recording's codes (any order; the replay trades them sorted by code).
      nxt_recorded: The codes the recording has NXT rows of (a code not in ``known`` trades on NXT only then).
      known: The config's universe: names, markets and NXT flags of the codes it lists. A code it does not
        list is named by its code, taken as KOSPI (the sell tax is per market) and as trading on NXT when
        the recording has NXT rows of it.
      restrict: A universe file that restricts the replay to its codes (``--universe FILE``), in its order.
      restrict_name: How ``restrict`` is named in the notes and the error (``--universe FILE``).

    Raises:
      NoOverlapError: ``restrict`` holds none of the recording's codes (the message names both).
    """
    rec = sorted(set(recorded))
    if restrict is not None:
        have = set(rec)
        symbols = tuple(s for s in restrict.symbols if s.code in have)
        absent = tuple(s.code for s in restrict.symbols if s.code not in have)
        if not symbols:
            raise NoOverlapError(f"{restrict_name}: none of its {len(restrict)} codes is in the recording "
                                 f"(which holds {len(rec)}: {_shown(rec)})")
        note = (f"replaying {len(symbols)} codes of {restrict_name} that the recording holds "
                f"(of the recording's {len(rec)}): {_shown([s.code for s in symbols])}")
        absent_note = (f"{len(absent)} codes of {restrict_name} are not in the recording: {_shown(absent)}"
                       if absent else "")
        return ReplayUniverse(Universe(symbols, source=restrict_name), restrict_name, note, absent, absent_note)
    nxt = set(nxt_recorded)
    out = []
    unnamed = 0
    for code in rec:
        if known is not None and code in known:
            out.append(known[code])
        else:
            unnamed += 1
            out.append(Symbol(code, code, "KOSPI", code in nxt))
    where = known.source if known is not None and known.source else "the config's universe file"
    how = (f"{len(rec) - unnamed} named by {where}, {unnamed} not in it (named by their code, market KOSPI assumed)"
           if unnamed else f"all named by {where}")
    note = f"replaying the recording's {len(rec)} codes (taken from the recording; {how}): {_shown(rec)}"
    return ReplayUniverse(Universe(tuple(out), source="recording"), "recording", note)
