"""The window's panels, laid out as the user's wireframe (seed 003): the status bar and launch strip on
top; the Live view (Active symbols left, Pair monitor right, Event feed below); Symbols; Config; Reports;
Shards. Each panel has ``apply(snapshot)``; controls send the engine's own messages through the link.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QModelIndex, QSortFilterProxyModel, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFont
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from config.live import LIVE_CONFIG_KEYS, apply_live_changes
from core.enums import OperatorAction
from core.operator_view import DeskView, PairView
from gui.fmt import (
    fmt_int,
    fmt_krw,
    fmt_ms,
    fmt_time,
    latency_tiles,
    launch_steps,
    server_label,
    throttle_of,
)
from gui.models import AMBER, GREEN, GREY, RED, Column, FeedModel, RecordsModel, SymbolsModel
from gui.widgets import STAGES, Gauge, StageBar, stages_of
from protocol.control import ScaleShards, StopEngine
from protocol.operator import ConfigChangeRequest, OperatorCommand, OperatorSnapshot

__all__ = ["ConfigPanel", "LaunchStrip", "LivePanel", "ReportsPanel", "ShardsPanel", "StatusPanel", "SymbolsPanel"]

Send = Callable[[object, str], None]
_R = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def _table(model: Any, stretch_last: bool = True) -> QTableView:
    v = QTableView()
    v.setModel(model)
    v.setSelectionBehavior(QAbstractItemView.SelectRows)
    v.setSelectionMode(QAbstractItemView.SingleSelection)
    v.setEditTriggers(QAbstractItemView.NoEditTriggers)
    vh, hh = v.verticalHeader(), v.horizontalHeader()
    assert vh is not None and hh is not None
    vh.setVisible(False)
    vh.setDefaultSectionSize(20)
    hh.setStretchLastSection(stretch_last)
    v.setAlternatingRowColors(True)
    v.setWordWrap(False)
    return v


def _tile(text: str = "") -> QLabel:
    lab = QLabel(text)
    lab.setFrameShape(QFrame.StyledPanel)
    lab.setMargin(4)
    lab.setTextFormat(Qt.TextFormat.RichText)
    return lab


def _colored(text: str, color: QColor | None, bold: bool = False) -> str:
    style = f"color:{color.name()};" if color is not None else ""
    if bold:
        style += "font-weight:bold;"
    return f"<span style='{style}'>{text}</span>"


# ------------------------------------------------------------------------------------------- status bar

class StatusPanel(QWidget):
    """The top status bar: Kiwoom and server, session with FID 215 and clock, armed/disarmed/auto-pause,
    the orders/s gauge (red from 80 %), the queries/s gauge, tokens free, latency p95 tiles, PnL."""

    def __init__(self) -> None:
        super().__init__()
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(2)
        self.kiwoom = _tile("Kiwoom: -")
        self.session = _tile("Session: -")
        self.armed = _tile("-")
        self.orders = Gauge("orders/s")
        self.queries = Gauge("queries/s")
        self.tokens = _tile("tokens -")
        self.latency = [_tile("-") for _ in range(3)]
        self.pnl = _tile("PnL -")
        # two rows: who/when/whether on top, the rates, tokens, latencies and money below
        for col, w in enumerate((self.kiwoom, self.session, self.armed, self.pnl)):
            grid.addWidget(w, 0, col * 2, 1, 2 if col < 3 else 3)
        for col, w in enumerate((self.orders, self.queries, self.tokens, *self.latency)):
            grid.addWidget(w, 1, col)

    def apply(self, snap: OperatorSnapshot) -> None:
        br, desk, fig = snap.bridge, snap.desk, snap.figures or {}
        if br is not None:
            link = _colored("Connected" if br.connected else "DISCONNECTED", GREEN if br.connected else RED, True)
            self.kiwoom.setText(f"Kiwoom: {link}"
                                f" · {server_label(br.server)} · {br.backend}"
                                + (f" ×{br.speed:g}" if br.speed else " max" if br.backend != "kiwoom" else ""))
        if desk is not None:
            fid = ("NXT main open" if desk.nxt_main_open else "NXT main closed" if desk.nxt_main_open is False
                   else "no FID 215 yet")
            self.session.setText(f"Session: <b>{desk.phase}</b> · {fid} · {fmt_time(desk.t_ns, ms=True)} KST")
            self.session.setToolTip(f"last market operation: {desk.market_operation or '-'} at "
                                    f"{fmt_time(desk.market_operation_ns)}; guard window "
                                    f"{fmt_time(desk.guard_start_ns)}–{fmt_time(desk.guard_end_ns)}")
        th = throttle_of(snap)
        paused = bool(th.get("paused")) or bool(fig.get("paused"))
        if snap.finished:
            self.armed.setText(_colored("FINISHED", GREY, True))
        elif desk is not None and desk.armed and not paused:
            self.armed.setText(_colored("ARMED", GREEN, True))
        elif paused:
            self.armed.setText(_colored("AUTO-PAUSE", RED, True) + " (orders/s ≥ 80 % for 5 s)")
        elif desk is not None:
            self.armed.setText(_colored("DISARMED", AMBER, True) + f": {desk.disarmed_reason or desk.arm_reason}")
        cap = float(th.get("orders_capacity") or fig.get("orders_cap_per_s") or 5)
        self.orders.set(float(fig.get("orders_last_1s") or 0), cap)
        self.queries.set(float(th.get("queries_in_window") or 0), float(th.get("queries_capacity") or 5))
        free, reserved = th.get("tokens_free"), th.get("orders_reserved")
        self.tokens.setText(f"tokens <b>{free if free is not None else '-'}</b> free"
                            f" ({reserved if reserved is not None else 2} reserved)")
        for lab, tile in zip(self.latency, latency_tiles(snap), strict=True):
            color = None if tile.ok is None else GREEN if tile.ok else RED
            lab.setText(_colored(tile.text, color, tile.ok is False))
        net = desk.pnl_marked_krw if desk is not None else fig.get("pnl_marked_net_krw")
        if net is not None:
            self.pnl.setText("PnL " + _colored(f"{fmt_krw(net)} KRW", GREEN if net >= 0 else RED, True))


# ------------------------------------------------------------------------------------------- launch strip

class LaunchStrip(QWidget):
    """Connect → Register feeds → Arm, in that order; Arm disabled outside the guard window. Disarm and
    Stop are here too (Stop asks for confirmation)."""

    def __init__(self, send: Send, reconnect: Callable[[], None]) -> None:
        super().__init__()
        self.send = send
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        self.connect_btn = QPushButton("1 Connect")
        self.connect_btn.clicked.connect(reconnect)
        self.connect_lab = QLabel("-")
        self.feeds_btn = QPushButton("2 Register feeds")
        self.feeds_btn.setToolTip("the engine registers its screens itself when it starts; this step shows them")
        self.feeds_lab = QLabel("-")
        self.arm_btn = QPushButton("3 Arm")
        self.arm_btn.clicked.connect(lambda: self.send(OperatorCommand(OperatorAction.ARM, reason="operator"), "arm"))
        self.arm_lab = QLabel("-")
        self.disarm_btn = QPushButton("Disarm")
        self.disarm_btn.clicked.connect(
            lambda: self.send(OperatorCommand(OperatorAction.DISARM, reason="operator"), "disarm"))
        self.stop_btn = QPushButton("Stop engine…")
        self.stop_btn.clicked.connect(self._stop)
        self.arrows = []
        for w in (self.connect_btn, self.connect_lab, None, self.feeds_btn, self.feeds_lab, None, self.arm_btn,
                  self.arm_lab):
            if w is None:
                arrow = QLabel("→")
                self.arrows.append(arrow)
                lay.addWidget(arrow)
            else:
                lay.addWidget(w)
        lay.addStretch(1)
        lay.addWidget(self.disarm_btn)
        lay.addWidget(self.stop_btn)
        self.confirm_stop: Callable[[], bool] = self._ask_stop
        self.steps: tuple[Any, ...] = ()

    def _ask_stop(self) -> bool:
        return bool(QMessageBox.question(self, "Stop the engine",
                                    "Disarm, let in-flight pairs finish, write the report and stop the run?",
                                    QMessageBox.Yes | QMessageBox.No, QMessageBox.No) == QMessageBox.Yes)

    def _stop(self) -> None:
        if self.confirm_stop():
            self.send(StopEngine("stopped from the operator window"), "stop")

    def apply(self, snap: OperatorSnapshot | None, attached: bool) -> None:
        c, f, a = launch_steps(snap, attached)
        self.steps = (c, f, a)
        for btn, lab, step in ((self.connect_btn, self.connect_lab, c), (self.feeds_btn, self.feeds_lab, f),
                               (self.arm_btn, self.arm_lab, a)):
            lab.setText(step.text)
            mark = "✓ " if step.done else ""
            btn.setText(mark + btn.text().lstrip("✓ "))
            btn.setStyleSheet("QPushButton{color:#1b7f3b;font-weight:bold}" if step.done else "")
        self.connect_btn.setEnabled(c.enabled)
        self.feeds_btn.setEnabled(False)
        self.arm_btn.setEnabled(a.enabled)
        live = attached and snap is not None and snap.started and not snap.finished
        self.disarm_btn.setEnabled(bool(live and snap is not None and snap.desk is not None
                                        and snap.desk.disarmed_reason is None))
        self.stop_btn.setEnabled(bool(live))


# ------------------------------------------------------------------------------------------- live view

def _age_ms(since: int | None, now: int) -> str:
    return fmt_ms((now - since) / 1e6) if since else ""


class LivePanel(QWidget):
    """Active symbols (left) and the Pair monitor (right), the Event feed below; a click in the feed selects
    its pair in the monitor."""

    pair_selected = pyqtSignal(str)

    def __init__(self) -> None:
        super().__init__()
        self.now_ns = 0
        self.edges: dict[str, tuple[float, float, str]] = {}
        self.sizes: dict[str, str] = {}
        self.pairs: dict[str, PairView] = {}
        self.selected = ""
        self.active = RecordsModel([
            Column("code", lambda r: r[0]), Column("name", lambda r: r[1]), Column("state", lambda r: r[2]),
            Column("edge now bps", lambda r: r[3], _R), Column("edge now KRW", lambda r: r[4], _R),
            Column("entry spread", lambda r: r[5], _R), Column("unhedged ms", lambda r: r[6], _R,
                                                               color=lambda r: RED if r[6] else None),
            Column("visible KRX/NXT", lambda r: r[7], _R), Column("last action", lambda r: r[8]),
        ], key=lambda r: r[9])
        self.pair_list = RecordsModel([
            Column("pair", lambda p: p.pair_id), Column("state", lambda p: p.state),
            Column("dir", lambda p: p.direction), Column("qty", lambda p: str(p.qty), _R),
            Column("started", lambda p: fmt_time(p.started_ns)),
            Column("outcome", lambda p: p.outcome or ("in flight" if p.active else ""),
                   color=lambda p: GREEN if p.outcome == "done" else RED if p.outcome == "error" else None),
        ], key=lambda p: p.pair_id)
        self.orders = RecordsModel([
            Column("role", lambda o: o[0].role), Column("venue", lambda o: o[0].venue),
            Column("side", lambda o: o[0].side), Column("qty", lambda o: str(o[0].qty), _R),
            Column("style", lambda o: o[0].style),
            Column("px", lambda o: fmt_int(o[0].price) if o[0].price else "0", _R),
            Column("status", lambda o: o[0].status + (" (given up)" if o[0].given_up else ""),
                   color=lambda o: RED if o[0].status in ("REJECTED", "LOST") else None),
            Column("filled", lambda o: str(o[0].filled), _R),
            Column("avg px", lambda o: fmt_int(o[0].avg_fill_price) if o[0].avg_fill_price else "", _R),
            Column("order no", lambda o: o[0].order_no), Column("sent +ms", lambda o: o[1], _R),
            Column("reject", lambda o: o[0].reject_reason),
        ], key=lambda o: o[0].ref)
        self.timeline = RecordsModel([
            Column("time", lambda e: fmt_time(e[0].t_ns, ms=True)), Column("+ms", lambda e: e[1], _R),
            Column("event", lambda e: e[0].kind), Column("state", lambda e: e[0].state),
            Column("reason", lambda e: e[0].reason), Column("detail", lambda e: e[0].detail),
        ], key=lambda e: e[2])
        self.feed = FeedModel()

        self.active_view = _table(self.active)
        self.active_view.clicked.connect(self._active_clicked)
        self.pair_view = _table(self.pair_list)
        self.pair_view.clicked.connect(lambda ix: self.select_pair(self.pair_list.rows[ix.row()].pair_id))
        self.orders_view = _table(self.orders)
        self.timeline_view = _table(self.timeline)
        self.feed_view = _table(self.feed)
        self.feed_view.clicked.connect(self._feed_clicked)
        self.follow = QCheckBox("follow newest (feed and pair monitor)")
        self.follow.setChecked(True)

        self.pair_head = QLabel("no pair selected")
        self.pair_head.setTextFormat(Qt.TextFormat.RichText)
        self.pair_head.setWordWrap(True)
        self.stages = StageBar()

        left = QGroupBox("Active symbols")
        QVBoxLayout(left).addWidget(self.active_view)
        right = QGroupBox("Pair monitor")
        rl = QVBoxLayout(right)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.pair_view)
        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.pair_head)
        dl.addWidget(self.stages)
        dl.addWidget(self.orders_view, 2)
        dl.addWidget(self.timeline_view, 3)
        top.addWidget(detail)
        top.setSizes([330, 700])
        rl.addWidget(top)
        feed_box = QGroupBox("Event feed (click a line: its pair)")
        fl = QVBoxLayout(feed_box)
        fl.addWidget(self.feed_view)
        fl.addWidget(self.follow)
        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.addWidget(left)
        upper.addWidget(right)
        upper.setSizes([520, 1000])
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(upper)
        main.addWidget(feed_box)
        main.setSizes([520, 280])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(main)
        for v, widths in ((self.feed_view, (95, 110, 60)), (self.pair_view, (190, 120, 30, 35, 65)),
                          (self.active_view, (55, 110, 120, 80, 85, 80, 80, 100))):
            for i, w in enumerate(widths):
                v.setColumnWidth(i, w)

    # -- updates -----------------------------------------------------------------------------------------
    def reset(self) -> None:
        self.feed.clear()
        self.pairs = {}
        self.selected = ""
        self.pair_list.set_rows([])
        self.orders.set_rows([])
        self.timeline.set_rows([])
        self.active.set_rows([])
        self.pair_head.setText("no pair selected")

    def apply(self, snap: OperatorSnapshot, names: dict[str, str], symbols: SymbolsModel) -> None:
        desk: DeskView | None = snap.desk
        self.feed.append(snap.feed)
        if snap.feed and self.follow.isChecked():
            self.feed_view.scrollToBottom()
        if desk is None:
            return
        self.now_ns = desk.t_ns
        views = list(desk.active) + list(desk.recent)
        self.pairs = {p.pair_id: p for p in views}
        self.pair_list.set_rows(views)
        rows = []
        for p in desk.active:
            r = symbols.row_for(p.code)
            bps = symbols.text(r, "net_bps") if r >= 0 else ""
            krw = symbols.text(r, "net_krw") if r >= 0 else ""
            sizes = f"{symbols.text(r, 'krx_size')} | {symbols.text(r, 'nxt_size')}" if r >= 0 else ""
            rows.append((p.code, names.get(p.code, ""), p.state, bps, krw, f"{p.entry_spread_krw:+,}",
                         _age_ms(p.exposure_since_ns, desk.t_ns), sizes, p.last_action, p.pair_id))
        self.active.set_rows(rows)
        following = self.follow.isChecked()
        current = self.pairs.get(self.selected)
        if desk.active and following and (current is None or not current.active):
            self.select_pair(desk.active[-1].pair_id)     # following: a pair in flight is what matters
        elif views and (not self.selected or (current is None and following)):
            self.select_pair(views[0].pair_id)            # the newest pair replaces one that aged out
        elif self.selected:
            self._show_pair(self.selected)

    def _active_clicked(self, ix: QModelIndex) -> None:
        self.select_pair(self.active.rows[ix.row()][9])

    def _feed_clicked(self, ix: QModelIndex) -> None:
        e = self.feed.entries[ix.row()]
        pid = e.pair_id
        if not pid and e.code:
            pid = next((p.pair_id for p in self.pairs.values() if p.code == e.code), "")
        if pid:
            self.follow.setChecked(False)
            self.select_pair(pid)

    def select_pair(self, pair_id: str) -> None:
        """Show ``pair_id`` in the Pair monitor (and select it in the list)."""
        self.selected = pair_id
        row = self.pair_list.row_of(pair_id)
        if row >= 0:
            self.pair_view.selectRow(row)
        self._show_pair(pair_id)
        self.pair_selected.emit(pair_id)

    def _show_pair(self, pair_id: str) -> None:
        p = self.pairs.get(pair_id)
        if p is None:
            self.pair_head.setText(f"<b>{pair_id}</b>: no longer among the engine's recent pairs "
                                   f"(the audit log of the run has every order of it)")
            self.orders.set_rows([])
            self.timeline.set_rows([])
            self.stages.set([""] * len(STAGES), [""] * len(STAGES))
            return
        now = self.now_ns
        t0 = p.started_ns or 0
        timers = []
        if p.active and t0:
            timers.append(f"elapsed {fmt_ms((now - t0) / 1e6)} ms")
        if p.exposure_since_ns:
            timers.append(_colored(f"unhedged {fmt_ms((now - p.exposure_since_ns) / 1e6)} ms", RED, True))
        if p.hedge_deadline_ns and p.active:
            left = (p.hedge_deadline_ns - now) / 1e6
            timers.append(f"t_hedge {p.t_hedge_ms} ms: {fmt_ms(left)} ms left" if left > 0 else
                          _colored(f"t_hedge {p.t_hedge_ms} ms passed", RED))
        self.pair_head.setText(
            f"<b>{p.pair_id}</b> · {p.code} · dir {p.direction} (sell rich {p.rich_bid:,}, buy cheap "
            f"{p.cheap_ask:,}) · qty {p.qty} · <b>{p.state}</b>"
            + (f" · outcome <b>{p.outcome}</b>" if p.outcome else "") + (" · escalated" if p.escalated else "")
            + f" · take filled {p.filled_take}, hedged {p.filled_hedge}, net {p.net_position:+d}"
            + ("<br>" + " · ".join(timers) if timers else ""))
        self.orders.set_rows([(o, f"{(o.sent_ns - t0) / 1e6:,.1f}" if o.sent_ns and t0 else "") for o in p.orders])
        self.timeline.set_rows([(e, f"{(e.t_ns - t0) / 1e6:,.1f}" if t0 else "", i) for i, e in enumerate(p.timeline)])
        marks = stages_of([(o.role, o.status) for o in p.orders], p.state, p.outcome)
        caps = []
        for name in STAGES:
            role = {"take": "take", "post": "hedge_post", "cancel": "cancel", "IOC": "hedge_ioc"}.get(name)
            o = next((o for o in p.orders if o.role == role), None)
            if o is not None and o.sent_ns and t0:
                caps.append(f"+{(o.sent_ns - t0) / 1e6:,.0f} ms {o.style}")
            elif name == "flat" and p.outcome and p.timeline:
                caps.append(f"+{(p.timeline[-1].t_ns - t0) / 1e6:,.0f} ms" if t0 else "")
            else:
                caps.append("")
        self.stages.set(marks, caps)


# ------------------------------------------------------------------------------------------- symbols

class _SymbolsProxy(QSortFilterProxyModel):
    """Filter by code/name text and 'eligible only'; sort by the model's raw values."""

    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.eligible_only = False
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802 (Qt API)
        m = self.sourceModel()
        assert isinstance(m, SymbolsModel)
        if self.eligible_only and not (row < len(m.table) and m.table[row]["eligible"]):
            return False
        if self.text:
            info = m.infos[row]
            return self.text in info.code or self.text.lower() in info.name.lower()
        return True


class SymbolsPanel(QWidget):
    """The universe: both books, edge now, eligible, cooldown, screen, shard, position and inventory, with
    Mute / Unmute / Re-arm of the selected code."""

    def __init__(self, model: SymbolsModel, send: Send) -> None:
        super().__init__()
        self.model = model
        self.send = send
        self.proxy = _SymbolsProxy()
        self.proxy.setSourceModel(model)
        self.proxy.setDynamicSortFilter(True)
        self.view = _table(self.proxy, stretch_last=False)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("filter: code or name")
        self.filter.textChanged.connect(self._filter)
        self.only = QCheckBox("eligible now only")
        self.only.toggled.connect(self._filter)
        self.mute_btn = QPushButton("Mute")
        self.unmute_btn = QPushButton("Unmute")
        self.rearm_btn = QPushButton("Re-arm code")
        self.mute_btn.clicked.connect(lambda: self._act(OperatorAction.MUTE))
        self.unmute_btn.clicked.connect(lambda: self._act(OperatorAction.UNMUTE))
        self.rearm_btn.clicked.connect(lambda: self._act(OperatorAction.ARM))
        self.summary = QLabel("")
        bar = QHBoxLayout()
        for control in (self.filter, self.only, self.mute_btn, self.unmute_btn, self.rearm_btn):
            bar.addWidget(control)
        bar.addWidget(self.summary, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.view)
        widths = (55, 130, 60, 70, 70, 95, 70, 70, 95, 30, 65, 70, 50, 55, 75, 50, 40, 60, 60, 60, 40, 170, 70, 70)
        for i, w in enumerate(widths):
            self.view.setColumnWidth(i, w)

    def _filter(self) -> None:
        self.proxy.text = self.filter.text().strip()
        self.proxy.eligible_only = self.only.isChecked()
        self.proxy.invalidateFilter()

    def selected_code(self) -> str:
        sel = self.view.selectionModel()
        rows = sel.selectedRows() if sel is not None else []
        if not rows:
            return ""
        src = self.proxy.mapToSource(rows[0])
        return self.model.infos[src.row()].code

    def select_code(self, code: str) -> None:
        r = self.model.row_for(code)
        if r >= 0:
            ix = self.proxy.mapFromSource(self.model.index(r, 0))
            if ix.isValid():
                self.view.selectRow(ix.row())
                self.view.scrollTo(ix)

    def _act(self, action: OperatorAction) -> None:
        code = self.selected_code()
        if code:
            self.send(OperatorCommand(action, code, reason="operator window"), f"{action.value.lower()} {code}")

    def apply(self, snap: OperatorSnapshot) -> None:
        m = self.model
        n = len(m.infos)
        elig = int(m.table["eligible"].sum()) if len(m.table) else 0
        muted = len(snap.desk.muted) if snap.desk else 0
        frozen = len(snap.desk.frozen) if snap.desk else 0
        self.summary.setText(f"{n} symbols · {elig} eligible now · {muted} muted · {frozen} frozen · "
                             f"rows repainted last update: {m.last_changed_rows}")


# ------------------------------------------------------------------------------------------- config

class ConfigPanel(QWidget):
    """The live-safe keys (edge buffer, t_hedge, cooldown, concurrency, fees) with the loader's validation,
    applied live; the rest of the running configuration read-only (session guard, Slack scope, limits)."""

    def __init__(self, send: Send) -> None:
        super().__init__()
        self.send = send
        self.version = -1
        self.editors: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self.current: dict[str, Any] = {}
        form = QFormLayout()
        for key, label in LIVE_CONFIG_KEYS.items():
            ed: QSpinBox | QDoubleSpinBox
            if key.startswith("fees.") or key.endswith("min_net_ticks_after_fees"):
                ed = QDoubleSpinBox()
                ed.setDecimals(5 if key.startswith("fees.") else 2)
                ed.setRange(-1000.0, 1000.0)
                ed.setSingleStep(0.5 if not key.startswith("fees.") else 0.01)
            else:
                ed = QSpinBox()
                ed.setRange(-1_000_000, 1_000_000)
            ed.setToolTip(key)
            self.editors[key] = ed
            form.addRow(f"{label}  [{key}]", ed)
        self.apply_btn = QPushButton("Validate and apply live")
        self.apply_btn.clicked.connect(self._apply)
        self.revert_btn = QPushButton("Revert to the engine's values")
        self.revert_btn.clicked.connect(lambda: self._load(force=True))
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readonly = QPlainTextEdit()
        self.readonly.setReadOnly(True)
        self.readonly.setFont(QFont("DejaVu Sans Mono", 8))
        left = QGroupBox("Applied live (new pairs; pairs in flight keep their timers)")
        ll = QVBoxLayout(left)
        ll.addLayout(form)
        btns = QHBoxLayout()
        btns.addWidget(self.apply_btn)
        btns.addWidget(self.revert_btn)
        ll.addLayout(btns)
        ll.addWidget(self.message)
        ll.addStretch(1)
        right = QGroupBox("Running configuration (restart with --config to change the rest)")
        QVBoxLayout(right).addWidget(self.readonly)
        lay = QHBoxLayout(self)
        lay.addWidget(left, 1)
        lay.addWidget(right, 1)
        self.cfg: Any = None

    def _value(self, cfg: Any, key: str) -> Any:
        node = cfg
        for part in key.split("."):
            node = getattr(node, part)
        return node

    def apply(self, snap: OperatorSnapshot) -> None:
        if snap.config is None or snap.config_version == self.version and self.cfg is not None:
            return
        self.cfg = snap.config
        self.version = snap.config_version
        self._load(force=False)
        c = snap.config
        s, al, slo = c.sessions, c.alerts.slack.send_on, c.telemetry.slo_targets_ms
        lines = [
            f"session guard       {s.overlap_window.start}–{s.overlap_window.end} Asia/Seoul "
            f"(arm only in overlap: {'ON' if s.arm_only_in_overlap else 'off'}; FID 215: "
            f"{'used' if s.use_fid_215_signals else 'off'})",
            f"NXT main            {s.nxt_main.start}–{s.nxt_main.end}; KRX day {s.krx_day.start}–{s.krx_day.end}",
            f"orders              {c.kiwoom.rate_limits.orders_per_sec}/s, {c.kiwoom.rate_limits.reserve_order_tokens}"
            f" reserved; a pair needs {c.throttling.min_tokens_free_to_start_new_pair} free",
            f"auto-pause          ≥{c.telemetry.orders_utilization_autopause.threshold:.0%} for "
            f"{c.telemetry.orders_utilization_autopause.sustain_seconds} s",
            "slack alerts        " + ", ".join(k for k, v in al.model_dump().items() if v),
            f"SLO p95 targets     tick→signal {slo.tick_to_signal_p95} ms, signal→send "
            f"{slo.signal_to_send_p95} ms, send→ack {slo.send_to_ack_p95} ms",
            f"tax (bps by year)   {dict(c.fees.tax)}",
            f"kill switches       {'on' if c.risk.kill_switches_enabled else 'OFF'}; session loss limit "
            f"{c.risk.max_session_loss_krw:,} KRW; {c.risk.max_trips_per_symbol_per_day} pairs/symbol/day",
            f"config version      {snap.config_version} live change(s)", "",
        ]
        import yaml
        dump = yaml.safe_dump(c.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=110)
        self.readonly.setPlainText("\n".join(lines) + dump)

    def _load(self, force: bool) -> None:
        if self.cfg is None:
            return
        for key, ed in self.editors.items():
            v = self._value(self.cfg, key)
            if force or not ed.hasFocus():
                ed.blockSignals(True)
                if isinstance(ed, QDoubleSpinBox):
                    ed.setValue(float(v))
                else:
                    ed.setValue(int(v))
                ed.blockSignals(False)
            self.current[key] = v

    def edits(self) -> tuple[tuple[str, Any], ...]:
        """The keys whose editor differs from the engine's value."""
        out = []
        for key, ed in self.editors.items():
            v = ed.value()
            if v != self.current.get(key):
                out.append((key, v))
        return tuple(out)

    def _apply(self) -> None:
        changes = self.edits()
        if not changes:
            self.message.setText("nothing to change")
            return
        if self.cfg is None:
            self.message.setText("no configuration from the engine yet")
            return
        try:
            _, described = apply_live_changes(self.cfg, changes)     # the loader's validation, before sending
        except ValueError as exc:
            self.show_result(False, str(exc))
            return
        self.message.setText("sending: " + "; ".join(described))
        self.send(ConfigChangeRequest(changes), "config")

    def show_result(self, ok: bool, message: str) -> None:
        self.message.setText(_colored(message, GREEN if ok else RED))


# ------------------------------------------------------------------------------------------- reports

class ReportsPanel(QWidget):
    """Session totals, the per-symbol league, bottlenecks; export of the live (or final) report as CSV/XLSX."""

    def __init__(self) -> None:
        super().__init__()
        self.report: dict[str, Any] | None = None
        self.totals = QLabel("no report yet")
        self.totals.setTextFormat(Qt.TextFormat.RichText)
        self.totals.setWordWrap(True)
        self.bottlenecks = QLabel("")
        self.bottlenecks.setTextFormat(Qt.TextFormat.RichText)
        self.bottlenecks.setWordWrap(True)
        self.league = RecordsModel([
            Column("code", lambda r: r["code"]), Column("name", lambda r: r.get("_name", "")),
            Column("pairs done", lambda r: str(r["pairs_done"]), _R),
            Column("failed", lambda r: str(r["pairs_failed"]), _R),
            Column("net KRW", lambda r: fmt_krw(r["net_krw"]), _R,
                   color=lambda r: GREEN if r["net_krw"] >= 0 else RED),
            Column("avg net bps", lambda r: "" if r["avg_net_bps"] is None else f"{r['avg_net_bps']:+.1f}", _R),
            Column("unhedged p95 ms", lambda r: fmt_ms(r["unhedged_p95_ms"]), _R),
            Column("orders", lambda r: str(r["orders_sent"]), _R), Column("rejects", lambda r: str(r["rejects"]), _R),
            Column("reject rate", lambda r: "" if r["reject_rate"] is None else f"{r['reject_rate']:.1%}", _R),
            Column("timeouts", lambda r: str(r["timeouts"]), _R), Column("signals", lambda r: str(r["signals"]), _R),
            Column("fees KRW", lambda r: fmt_krw(r["fees_krw"], sign=False), _R),
            Column("tax KRW", lambda r: fmt_krw(r["tax_krw"], sign=False), _R),
        ], key=lambda r: r["code"])
        self.view = _table(self.league, stretch_last=False)
        self.csv_btn = QPushButton("Export CSV…")
        self.xlsx_btn = QPushButton("Export Excel…")
        self.csv_btn.clicked.connect(lambda: self._export(".csv"))
        self.xlsx_btn.clicked.connect(lambda: self._export(".xlsx"))
        self.note = QLabel("")
        top = QHBoxLayout()
        top.addWidget(self.totals, 2)
        top.addWidget(self.bottlenecks, 2)
        btns = QHBoxLayout()
        btns.addWidget(self.csv_btn)
        btns.addWidget(self.xlsx_btn)
        btns.addWidget(self.note, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(QLabel("<b>Per-symbol league</b> (by net PnL)"))
        lay.addWidget(self.view, 1)
        lay.addLayout(btns)
        self.choose_path: Callable[[str], str] = self._ask_path
        for i, w in enumerate((60, 120, 70, 50, 80, 80, 100, 55, 55, 75, 60, 60, 70)):
            self.view.setColumnWidth(i, w)

    def apply(self, snap: OperatorSnapshot, names: dict[str, str]) -> None:
        rep = snap.final_report or snap.report
        if rep is None:
            return
        self.report = rep
        extra = rep.get("extra") or {}
        pairs, pnl, orders = rep.get("pairs") or {}, rep.get("pnl_krw") or {}, rep.get("orders") or {}
        ep = extra.get("pairs") or {}
        hit = ep.get("hit_rate")
        avg = ep.get("avg_net_bps")
        net = float(pnl.get("net") or 0)
        kind = "final report (run finished)" if snap.final_report else "live report"
        self.totals.setText(
            f"<b>Session totals</b> — {kind}<br>"
            f"pairs {pairs.get('done', 0)} done, {pairs.get('failed', 0)} failed, {pairs.get('escalated', 0)} escalated"
            f" · hit rate {'-' if hit is None else f'{hit:.0%}'} · avg edge "
            f"{'-' if avg is None else f'{avg:+.1f}'} bps<br>"
            f"gross {fmt_krw(pnl.get('gross'))} · fees {fmt_krw(pnl.get('fees'), sign=False)} · tax "
            f"{fmt_krw(pnl.get('tax'), sign=False)} · net "
            + _colored(f"{fmt_krw(net)} KRW", GREEN if net >= 0 else RED, True)
            + f"<br>orders {orders.get('sent', 0)} sent, {orders.get('cancels', 0)} cancels, "
            f"{orders.get('rejects', 0)} rejects, {orders.get('timeouts', 0)} timeouts, max "
            f"{orders.get('max_in_any_1s', 0)} in any 1 s · signals {rep.get('signals', 0)} · "
            f"ticks {fmt_int(rep.get('ticks'))}")
        tok = extra.get("tokens") or {}
        ap = extra.get("auto_pause") or {}
        reasons = list((extra.get("reject_reasons") or {}).items())[:5]
        mean_free = tok.get("mean_free")
        self.bottlenecks.setText(
            "<b>Bottlenecks</b><br>"
            f"time at ≥{float(tok.get('threshold') or 0.8):.0%} of orders/s: "
            f"{float(tok.get('time_at_or_above_threshold_s') or 0):,.1f} s"
            f" · auto-pause {ap.get('count', 0)}× ({float(ap.get('total_s') or 0):,.1f} s)<br>"
            f"tokens free: mean {'-' if mean_free is None else f'{mean_free:.2f}'}, min {tok.get('min_free', '-')}"
            f" · max utilisation {float(tok.get('max_utilisation') or 0):.0%}<br>"
            "top reject reasons: " + ("; ".join(f"{r} ×{n}" for r, n in reasons) if reasons else "none"))
        rows = [dict(r, _name=names.get(r["code"], "")) for r in extra.get("symbols_table") or []]
        self.league.set_rows(rows)

    def _ask_path(self, suffix: str) -> str:
        name, _ = QFileDialog.getSaveFileName(self, "Export the report", f"report{suffix}",
                                              "Excel (*.xlsx)" if suffix == ".xlsx" else "CSV (*.csv)")
        return name

    def _export(self, suffix: str) -> None:
        from outputs.report import export_report
        if self.report is None:
            self.note.setText("no report to export yet")
            return
        path = self.choose_path(suffix)
        if not path:
            return
        if not path.lower().endswith(suffix):
            path += suffix
        try:
            written = export_report(self.report, Path(path))
        except (OSError, ValueError) as exc:
            self.note.setText(_colored(f"export failed: {exc}", RED))
            return
        self.note.setText(_colored(f"written: {written}", GREEN))


# ------------------------------------------------------------------------------------------- shards

class ShardsPanel(QWidget):
    """Every actor's health (the Supervisor's heartbeats), the shard plan (screens per shard) and live
    re-sharding."""

    def __init__(self, send: Send) -> None:
        super().__init__()
        self.send = send
        self.health = RecordsModel([
            Column("actor", lambda a: a.name), Column("pid", lambda a: str(a.pid or "-"), _R),
            Column("alive", lambda a: "yes" if a.alive else "NO", color=lambda a: GREEN if a.alive else RED),
            Column("heartbeat s", lambda a: "-" if a.heartbeat_age_s is None else f"{a.heartbeat_age_s:.1f}", _R),
            Column("msgs in", lambda a: fmt_int(a.msgs_in), _R), Column("msgs out", lambda a: fmt_int(a.msgs_out), _R),
            Column("pending", lambda a: fmt_int(a.pending), _R), Column("restarts", lambda a: str(a.restarts), _R),
            Column("system", lambda a: a.system),
        ], key=lambda a: a.name)
        self.plan = RecordsModel([
            Column("shard", lambda p: str(p[0]), _R), Column("screen", lambda p: p[1]),
            Column("codes", lambda p: str(p[2]), _R),
        ], key=lambda p: (p[0], p[1]))
        self.spin = QSpinBox()
        self.spin.setRange(1, 64)
        self.scale_btn = QPushButton("Scale to N shards")
        self.scale_btn.clicked.connect(self._scale)
        self.message = QLabel("")
        self.summary = QLabel("")
        ctl = QHBoxLayout()
        ctl.addWidget(QLabel("MarketData shards:"))
        ctl.addWidget(self.spin)
        ctl.addWidget(self.scale_btn)
        ctl.addWidget(self.message, 1)
        grid = QGridLayout(self)
        grid.addWidget(self.summary, 0, 0, 1, 2)
        grid.addWidget(_table(self.health, stretch_last=False), 1, 0)
        grid.addWidget(_table(self.plan, stretch_last=False), 1, 1)
        grid.addLayout(ctl, 2, 0, 1, 2)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 1)
        self.user_touched = False
        self.spin.valueChanged.connect(lambda _v: setattr(self, "user_touched", True))

    def _scale(self) -> None:
        n = self.spin.value()
        self.message.setText(f"re-sharding to {n}…")
        self.send(ScaleShards(n), f"scale {n}")

    def show_result(self, ok: bool, message: str) -> None:
        self.message.setText(_colored(message, GREEN if ok else RED))

    def apply(self, snap: OperatorSnapshot) -> None:
        if snap.health is not None:
            self.health.set_rows(snap.health.actors)
            alive = sum(a.alive for a in snap.health.actors)
            self.summary.setText(f"{alive} of {len(snap.health.actors)} actors alive"
                                 + (f" · stale parts: {', '.join(snap.stale)}" if snap.stale else ""))
        self.plan.set_rows(snap.shard_plan)
        shards = len({p[0] for p in snap.shard_plan})
        if not self.user_touched and shards:
            self.spin.blockSignals(True)
            self.spin.setValue(shards)
            self.spin.blockSignals(False)
