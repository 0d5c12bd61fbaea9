"""Qt table models of the window. Every model changes only the rows that changed (``dataChanged`` per run
of rows); a reset happens only when the set of rows itself changes (a new engine run, a new universe).

* :class:`SymbolsModel` — the universe (800 symbols and more): both books, the edge now, eligibility,
  cooldown, screen and shard from the snapshot's Symbols rows, plus the desk's overlays (muted, frozen,
  positions, inventory, VI, pairs today). Cells are formatted when Qt asks for them (visible rows only).
* :class:`RecordsModel` — a keyed list of rows (active symbols, pairs, orders, timelines, league, health).
* :class:`FeedModel` — the event feed, appended to as lines arrive, bounded.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PyQt5.QtCore import QAbstractTableModel, QModelIndex, Qt
from PyQt5.QtGui import QBrush, QColor

from core.operator_view import SYMBOL_ROW_DTYPE, DeskView, FeedEntry, SymbolInfo
from gui.fmt import fmt_int, fmt_time

__all__ = ["Column", "FeedModel", "RecordsModel", "SymbolsModel", "changed_runs"]

GREEN = QColor("#1b7f3b")
RED = QColor("#b3261e")
AMBER = QColor("#9a6700")
GREY = QColor("#6e6e6e")
ELIGIBLE_BG = QColor("#e3f4e6")
MUTED_BG = QColor("#eeeeee")
FROZEN_BG = QColor("#fde7e4")
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_CENTER = int(Qt.AlignmentFlag.AlignCenter)


def changed_runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted row indices grouped into ``(first, last)`` runs of consecutive rows."""
    runs: list[tuple[int, int]] = []
    for i in sorted(set(int(x) for x in indices)):
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


@dataclass(frozen=True)
class Column:
    """A column of a :class:`RecordsModel`: header, how to get the cell text from a row, alignment."""

    header: str
    text: Callable[[Any], str]
    align: int = _LEFT
    color: Callable[[Any], QColor | None] | None = None
    sort_key: Callable[[Any], Any] | None = None


class RecordsModel(QAbstractTableModel):
    """A keyed list of rows shown through :class:`Column` getters; :meth:`set_rows` diffs by key."""

    def __init__(self, columns: Sequence[Column], key: Callable[[Any], Any]) -> None:
        super().__init__()
        self.columns = list(columns)
        self.key = key
        self.rows: list[Any] = []
        self._keys: list[Any] = []
        self.last_changed_rows = 0

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        horizontal = orientation == Qt.Orientation.Horizontal
        if role == Qt.ItemDataRole.DisplayRole and horizontal and 0 <= section < len(self.columns):
            return self.columns[section].header
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        col = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.text(row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return col.align
        if role == Qt.ItemDataRole.ForegroundRole and col.color is not None:
            c = col.color(row)
            return QBrush(c) if c is not None else None
        if role == Qt.ItemDataRole.UserRole:
            return col.sort_key(row) if col.sort_key is not None else col.text(row)
        return None

    def row_of(self, key: Any) -> int:
        """The row index of ``key`` (-1 if absent)."""
        try:
            return self._keys.index(key)
        except ValueError:
            return -1

    def set_rows(self, rows: Sequence[Any]) -> None:
        """Show ``rows``: same keys in the same order → only changed rows are signalled; else a reset."""
        rows = list(rows)
        keys = [self.key(r) for r in rows]
        if keys != self._keys:
            self.beginResetModel()
            self.rows, self._keys = rows, keys
            self.endResetModel()
            self.last_changed_rows = len(rows)
            return
        changed = [i for i, (a, b) in enumerate(zip(self.rows, rows, strict=True)) if a != b]
        self.rows = rows
        self.last_changed_rows = len(changed)
        last_col = len(self.columns) - 1
        for first, last in changed_runs(changed):
            self.dataChanged.emit(self.index(first, 0), self.index(last, last_col))


class FeedModel(QAbstractTableModel):
    """The event feed (time, kind, code, text), newest at the bottom, at most ``capacity`` lines."""

    HEADERS = ("time", "event", "code", "what")

    def __init__(self, capacity: int = 5_000) -> None:
        super().__init__()
        self.capacity = capacity
        self.entries: list[FeedEntry] = []

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.entries):
            return None
        e = self.entries[index.row()]
        c = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (fmt_time(e.t_ns, ms=True), e.kind, e.code, e.text)[c]
        if role == Qt.ItemDataRole.ForegroundRole:
            col = {"error": RED, "warn": AMBER}.get(e.level)
            if e.kind in ("BUY_FILL", "SELL_FILL", "PAIR_DONE"):
                col = GREEN
            return QBrush(col) if col is not None else None
        if role == Qt.ItemDataRole.UserRole:
            return e
        return None

    def clear(self) -> None:
        self.beginResetModel()
        self.entries = []
        self.endResetModel()

    def append(self, entries: Sequence[FeedEntry]) -> None:
        """Add new lines (already ordered); drop the oldest beyond ``capacity``."""
        if not entries:
            return
        n = len(self.entries)
        self.beginInsertRows(QModelIndex(), n, n + len(entries) - 1)
        self.entries.extend(entries)
        self.endInsertRows()
        over = len(self.entries) - self.capacity
        if over > 0:
            self.beginRemoveRows(QModelIndex(), 0, over - 1)
            del self.entries[:over]
            self.endRemoveRows()


#: Symbols table columns: (header, key).
SYMBOL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("code", "code"), ("name", "name"), ("mkt", "market"),
    ("KRX bid", "krx_bid"), ("KRX ask", "krx_ask"), ("KRX size b/a", "krx_size"),
    ("NXT bid", "nxt_bid"), ("NXT ask", "nxt_ask"), ("NXT size b/a", "nxt_size"),
    ("dir", "direction"), ("edge bps", "net_bps"), ("edge KRW", "net_krw"), ("size ok", "size_ok"),
    ("eligible", "eligible"), ("cooldown ms", "cooldown"), ("screen", "screen"), ("shard", "shard"),
    ("position", "position"), ("held", "held"), ("sellable", "sellable"), ("VI", "vi"),
    ("control", "control"), ("pairs today", "trips"), ("data", "quality"),
)
_DIRS = {0: "", 1: "A", 2: "B"}


@dataclass(frozen=True)
class _Overlay:
    muted: str | None = None
    frozen_until_ns: int | None = None
    position: int = 0
    held: int | None = None
    sellable: int | None = None
    vi: str = ""
    trips: int = 0
    active: bool = False


class SymbolsModel(QAbstractTableModel):
    """The universe with both books and the edge now (see the module docstring).

    :meth:`apply` takes a snapshot: its Symbols rows (only the changed ones, or all) and the desk's overlays;
    ``last_changed_rows`` says how many rows the last call signalled (an operator's 800-symbol table must
    not repaint rows that did not change).
    """

    def __init__(self) -> None:
        super().__init__()
        self.infos: tuple[SymbolInfo, ...] = ()
        self.index_of: dict[str, int] = {}
        self.table = np.zeros(0, dtype=SYMBOL_ROW_DTYPE)
        self.overlay: dict[int, _Overlay] = {}
        self.now_ns = 0
        self.last_changed_rows = 0
        self.keys = [k for _, k in SYMBOL_COLUMNS]

    # -- Qt ------------------------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.infos)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(SYMBOL_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return SYMBOL_COLUMNS[section][0]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        r = index.row()
        if not index.isValid() or r >= len(self.infos):
            return None
        key = self.keys[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(r, key)
        if role == Qt.ItemDataRole.UserRole:
            return self.sort_value(r, key)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _LEFT if key in ("code", "name", "market", "control", "quality", "vi") else _RIGHT
        ov = self.overlay.get(r)
        if role == Qt.ItemDataRole.BackgroundRole:
            if ov is not None and ov.frozen_until_ns:
                return QBrush(FROZEN_BG)
            if ov is not None and ov.muted is not None:
                return QBrush(MUTED_BG)
            if len(self.table) > r and self.table[r]["eligible"]:
                return QBrush(ELIGIBLE_BG)
        if role == Qt.ItemDataRole.ForegroundRole and key in ("net_bps", "net_krw") and len(self.table) > r:
            return QBrush(GREEN if self.table[r]["eligible"] else GREY)
        return None

    # -- values ----------------------------------------------------------------------------------------------
    def text(self, r: int, key: str) -> str:
        info = self.infos[r]
        ov = self.overlay.get(r, _Overlay())
        if key == "code":
            return info.code
        if key == "name":
            return info.name
        if key == "market":
            return info.market + ("" if info.nxt else " (no NXT)")
        if key == "screen":
            return info.screen_no
        if key == "shard":
            return str(info.shard) if info.shard >= 0 else "-"
        if key == "position":
            return f"{ov.position:+d}" if ov.position else "0"
        if key == "held":
            return fmt_int(ov.held)
        if key == "sellable":
            return fmt_int(ov.sellable)
        if key == "vi":
            return ov.vi
        if key == "trips":
            return str(ov.trips) if ov.trips else ""
        if key == "control":
            parts = []
            if ov.frozen_until_ns:
                parts.append(f"FROZEN until {fmt_time(ov.frozen_until_ns)}")
            if ov.muted is not None:
                parts.append(f"MUTED ({ov.muted})")
            if ov.active:
                parts.append("pair active")
            return "; ".join(parts)
        if r >= len(self.table):
            return ""
        row = self.table[r]
        if key in ("krx_bid", "krx_ask", "nxt_bid", "nxt_ask"):
            v = int(row[key])
            return f"{v:,}" if v else ""
        if key in ("krx_size", "nxt_size"):
            venue = key[:3]
            b, a = int(row[f"{venue}_bid_qty"]), int(row[f"{venue}_ask_qty"])
            return f"{b:,}/{a:,}" if b or a else ""
        if key == "direction":
            return _DIRS.get(int(row["direction"]), "")
        if key == "net_bps":
            return f"{float(row['net_bps']):+.1f}" if row["direction"] else ""
        if key == "net_krw":
            return f"{float(row['net_krw']):+,.0f}" if row["direction"] else ""
        if key in ("size_ok", "eligible"):
            return "yes" if row[key] else ""
        if key == "cooldown":
            until = int(row["cooldown_until_ns"])
            return f"{(until - self.now_ns) / 1e6:,.0f}" if until > self.now_ns else ""
        if key == "quality":
            q = int(row["quality"])
            return ", ".join(n for bit, n in ((1, "stale"), (2, "crossed"), (4, "off-grid")) if q & bit)
        return ""

    def sort_value(self, r: int, key: str) -> Any:
        if r < len(self.table):
            row = self.table[r]
            if key in ("krx_bid", "krx_ask", "nxt_bid", "nxt_ask", "cooldown_until_ns"):
                return int(row[key])
            if key in ("net_bps", "net_krw"):
                return float(row[key]) if row["direction"] else float("-inf")
            if key in ("size_ok", "eligible"):
                return int(bool(row[key]))
        ov = self.overlay.get(r, _Overlay())
        if key == "position":
            return ov.position
        if key == "trips":
            return ov.trips
        if key in ("held", "sellable"):
            v = getattr(ov, key)
            return -1 if v is None else v
        return self.text(r, key)

    def row_for(self, code: str) -> int:
        return self.index_of.get(code, -1)

    # -- updates -----------------------------------------------------------------------------------------
    def reset(self) -> None:
        self.beginResetModel()
        self.infos, self.index_of = (), {}
        self.table = np.zeros(0, dtype=SYMBOL_ROW_DTYPE)
        self.overlay = {}
        self.endResetModel()

    def apply(self, universe: Sequence[SymbolInfo], rows: np.ndarray | None, full: bool,
              desk: DeskView | None, now_ns: int) -> None:
        """Take the snapshot's universe (when sent), rows and the desk's overlays; signal the changed rows."""
        self.now_ns = now_ns
        changed: set[int] = set()
        if universe and tuple(universe) != self.infos:
            self.beginResetModel()
            self.infos = tuple(universe)
            self.index_of = {s.code: i for i, s in enumerate(self.infos)}
            self.table = np.zeros(len(self.infos), dtype=SYMBOL_ROW_DTYPE)
            self.table["sym"] = np.arange(len(self.infos), dtype=np.int32)
            self.overlay = {}
            self.endResetModel()
        n = len(self.infos)
        if rows is not None and len(rows) and n:
            idx = rows["sym"].astype(np.int64)
            ok = (idx >= 0) & (idx < n)
            rows, idx = rows[ok], idx[ok]
            old = self.table[idx]
            diff = np.zeros(len(idx), dtype=np.bool_)
            for name in SYMBOL_ROW_DTYPE.names or ():
                diff |= old[name] != rows[name]
            self.table[idx] = rows
            changed.update(int(i) for i in idx[diff])
        if n:       # a cooldown counts down between snapshots: its rows repaint
            changed.update(int(i) for i in np.flatnonzero(self.table["cooldown_until_ns"] > now_ns))
        changed |= self._apply_overlay(desk)
        self.last_changed_rows = len(changed)
        last_col = len(SYMBOL_COLUMNS) - 1
        for first, last in changed_runs(sorted(changed)):
            self.dataChanged.emit(self.index(first, 0), self.index(last, last_col))

    def _apply_overlay(self, desk: DeskView | None) -> set[int]:
        if desk is None or not self.infos:
            return set()
        new: dict[int, dict[str, Any]] = {}

        def put(code: str, **kw: Any) -> None:
            i = self.index_of.get(code)
            if i is not None:
                new.setdefault(i, {}).update(kw)

        for code, reason in desk.muted:
            put(code, muted=reason)
        for code, until in desk.frozen:
            put(code, frozen_until_ns=until)
        for code, qty in desk.positions:
            if qty:
                put(code, position=qty)
        for inv in desk.inventory:
            put(inv.code, held=inv.held, sellable=inv.sellable)
        for code, venue in desk.vi:
            put(code, vi=venue)
        for code, n in desk.trips:
            put(code, trips=n)
        for p in desk.active:
            put(p.code, active=True)
        overlay = {i: _Overlay(**kw) for i, kw in new.items()}
        changed = {i for i in set(overlay) | set(self.overlay) if overlay.get(i) != self.overlay.get(i)}
        self.overlay = overlay
        return changed
