"""The operator window: status bar and launch strip on top, then the Live, Symbols, Config, Reports and Shards
views (seed 003's wireframe), a banner that says loudly when the engine is gone.

:class:`MainWindow` owns an :class:`~gui.link.EngineLink` (or none, for tests that feed snapshots) and applies
every snapshot to every panel on the UI thread. It never sits on the tick path: the engine pushes nothing
to it; it reads coalesced snapshots a few times a second.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QApplication, QLabel, QMainWindow, QTabWidget, QVBoxLayout, QWidget

from gui.fmt import fmt_time
from gui.link import EngineLink, LinkState
from gui.models import SymbolsModel
from gui.panels import ConfigPanel, LaunchStrip, LivePanel, ReportsPanel, ShardsPanel, StatusPanel, SymbolsPanel
from protocol.operator import OperatorSnapshot

__all__ = ["VIEWS", "MainWindow", "make_app"]

#: The views (tabs) in order, as the screenshots name them.
VIEWS = ("live", "symbols", "config", "reports", "shards")


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once) with the Hangul-capable font installed."""
    from gui.fonts import install_fonts
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(argv or ["krx-nxt-arb"])
    install_fonts(app)
    return app


class MainWindow(QMainWindow):
    """The operator window (see the module docstring). ``link`` None: snapshots come from :meth:`apply`."""

    def __init__(self, link: EngineLink | None = None, title: str = "KRX↔NXT arbitrage — operator") -> None:
        super().__init__()
        self.link = link
        self.setWindowTitle(title)
        self.attached = False
        self.link_text = ""
        self.snap: OperatorSnapshot | None = None
        self.epoch = ""
        self.names: dict[str, str] = {}
        self.results: list[tuple[str, bool, str]] = []
        self.snapshots = 0
        self.engine_config: Any = None

        self.banner = QLabel("")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.status = StatusPanel()
        self.launch = LaunchStrip(self.send, self.reconnect)
        self.symbols_model = SymbolsModel()
        self.live = LivePanel()
        self.symbols = SymbolsPanel(self.symbols_model, self.send)
        self.config = ConfigPanel(self.send)
        self.reports = ReportsPanel()
        self.shards = ShardsPanel(self.send)
        self.tabs = QTabWidget()
        for name, w in zip(VIEWS, (self.live, self.symbols, self.config, self.reports, self.shards), strict=True):
            self.tabs.addTab(w, name.capitalize())
        self.tabs.currentChanged.connect(self._tab_changed)
        self.last_result = QLabel("")
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(3)
        for w in (self.banner, self.status, self.launch, self.tabs, self.last_result):
            lay.addWidget(w)
        self.setCentralWidget(central)
        self.resize(1600, 940)
        self._show_link(LinkState.SEARCHING.value, "looking for the engine…")
        if link is not None:
            self._tab_changed(self.tabs.currentIndex())
            link.snapshot.connect(self.apply)
            link.state_changed.connect(self._show_link)
            link.result.connect(self.show_result)

    # -- the link ----------------------------------------------------------------------------------------
    def send(self, message: object, what: str) -> None:
        """Send an operator command through the link (its outcome comes back in :meth:`show_result`)."""
        if self.link is None:
            self.show_result(what, False, "not attached to an engine")
            return
        self.link.send(message, what)

    def reconnect(self) -> None:
        """The launch strip's Connect: try to attach now (the link also retries every second by itself)."""
        if self.link is not None:
            self.link.attach_now()
        self.last_result.setText("attaching: the window retries every second until an engine answers")

    def _show_link(self, state: str, text: str) -> None:
        self.attached = state == LinkState.ATTACHED.value
        self.link_text = text
        if state == LinkState.GONE.value:
            seen = fmt_time(self.snap.desk.t_ns if self.snap and self.snap.desk else None)
            finished = " (its run had finished)" if self.snap is not None and self.snap.finished else ""
            self.banner.setText(f"<b>ENGINE GONE</b>{finished} — last engine time {seen} KST · {text}")
            self.banner.setStyleSheet("background:#b3261e;color:white;padding:6px;font-size:13pt")
            self.banner.show()
        elif state == LinkState.SEARCHING.value:
            self.banner.setText(f"<b>NOT ATTACHED</b> — {text}")
            self.banner.setStyleSheet("background:#9a6700;color:white;padding:6px;font-size:12pt")
            self.banner.show()
        else:
            self.banner.hide()
        self.launch.apply(self.snap, self.attached)

    def _tab_changed(self, index: int) -> None:
        if self.link is not None:
            self.link.include_report = VIEWS[index] == "reports"
            self.link.include_symbols = VIEWS[index] == "symbols"

    def show_result(self, what: str, ok: bool, message: str) -> None:
        """A command's outcome: in the window's last line, and in the Config/Shards views for theirs."""
        self.results.append((what, ok, message))
        color = "#1b7f3b" if ok else "#b3261e"
        self.last_result.setText(f"<span style='color:{color}'><b>{what}</b>: {message}</span>")
        if what == "config":
            self.config.show_result(ok, message)
        elif what.startswith("scale"):
            self.shards.show_result(ok, message)

    # -- snapshots ---------------------------------------------------------------------------------------
    def apply(self, snap: OperatorSnapshot) -> None:
        """Show one snapshot in every panel (changed rows only in the tables)."""
        if snap.epoch != self.epoch:
            self.epoch = snap.epoch
            self.engine_config = None
            self.symbols_model.reset()
            self.live.reset()
        if snap.config is not None:
            self.engine_config = snap.config
        elif self.engine_config is not None:          # sent only when it changed: the panels read the last one
            snap = dataclasses.replace(snap, config=self.engine_config)
        self.snap = snap
        self.snapshots += 1
        if snap.universe:
            self.names = {s.code: s.name for s in snap.universe}
        if not self.attached and self.link is None:
            self.attached = True
            self.banner.hide()
        now = snap.desk.t_ns if snap.desk is not None else (snap.symbols.t_ns if snap.symbols else 0)
        rows = snap.symbols.rows if snap.symbols is not None else None
        self.symbols_model.apply(snap.universe, rows, bool(snap.symbols and snap.symbols.full), snap.desk, now)
        self.status.apply(snap)
        self.launch.apply(snap, self.attached)
        self.live.apply(snap, self.names, self.symbols_model)
        self.symbols.apply(snap)
        self.config.apply(snap)
        self.reports.apply(snap, self.names)
        self.shards.apply(snap)
        if not snap.started:
            self.banner.setText("<b>ENGINE NOT STARTED</b> — an actor system answers on this port, but no engine "
                                "runs in it")
            self.banner.setStyleSheet("background:#9a6700;color:white;padding:6px")
            self.banner.show()

    def grab_views(self, out_dir: str | Path, prefix: str = "gui-") -> list[Path]:
        """Render every view (the whole window, each tab shown in turn) to PNG files in ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        current = self.tabs.currentIndex()
        for i, name in enumerate(VIEWS):
            self.tabs.setCurrentIndex(i)
            QApplication.processEvents()
            path = out / f"{prefix}{name}.png"
            self.grab().save(str(path))
            paths.append(path)
        self.tabs.setCurrentIndex(current)
        return paths

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        if self.link is not None:
            self.link.stop()
        super().closeEvent(event)
