"""The window's link to the engine: a worker thread that attaches, polls snapshots and sends commands.

:class:`EngineLink` lives on its own ``QThread`` (Thespian's client calls block; the UI thread never makes
one). It joins the engine's actor system as a client through :func:`actors.runtime.connect` (the admin
interface arbctl uses), finds the Supervisor, then every ``interval_ms`` *tells* it an
:class:`~protocol.operator.OperatorSnapshotRequest` carrying the cursors of what the window already holds
and *listens* for the answer. Everything that arrives meanwhile (command results, a re-sharding's answer)
is dispatched by type, so a slow command never stalls the snapshots.

When the engine stops answering or its admin port closes, the link lets go of the client (never shutting
the engine's system down), says so (:attr:`LinkState.GONE`) and tries to attach again every second; a new
engine run (a new epoch) makes the window start afresh.
"""
from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from PyQt5.QtCore import QObject, Qt, QThread, QTimer, pyqtSignal, pyqtSlot

from actors.runtime import EngineStartError, connect, detach, find_supervisor, port_listening
from protocol.control import ScaleResult
from protocol.operator import (
    ConfigChangeRequest,
    ConfigChangeResult,
    OperatorCommand,
    OperatorCommandResult,
    OperatorSnapshot,
    OperatorSnapshotRequest,
)

__all__ = ["EngineLink", "LinkState"]

#: Retry period while no engine answers (seconds).
RETRY_S = 1.0
#: Symbols rows are asked for at least every this many polls while the Symbols view is hidden (the Live
#: view's edge-now column reads them too).
SYMBOLS_EVERY = 4
#: The live report is asked for at least every this many polls while the Reports view is hidden.
REPORT_EVERY = 20


class LinkState(StrEnum):
    """Where the link stands: looking for an engine, attached to one, or lost the one it had."""

    SEARCHING = "searching"
    ATTACHED = "attached"
    GONE = "gone"


class EngineLink(QObject):
    """Polls one engine's operator snapshots on a worker thread (see the module docstring).

    Signals (delivered on the UI thread): ``snapshot(OperatorSnapshot)``; ``state_changed(state, text)``;
    ``result(what, ok, message)`` for every command sent with :meth:`send`.
    """

    snapshot = pyqtSignal(object)
    state_changed = pyqtSignal(str, str)
    result = pyqtSignal(str, bool, str)
    _submit = pyqtSignal(object, str)
    _poke = pyqtSignal()
    _begin = pyqtSignal()
    _end = pyqtSignal()

    def __init__(self, admin_port: int, base: str = "multiprocTCPBase", interval_ms: int = 500,
                 answer_timeout_s: float = 3.0) -> None:
        super().__init__()
        self.admin_port = admin_port
        self.base = base
        self.interval_ms = interval_ms
        self.answer_timeout_s = answer_timeout_s
        self.include_report = False         # set by the window while the Reports view is shown
        self.include_symbols = True         # set by the window while the Symbols view is shown
        self.state = LinkState.SEARCHING
        self.epoch = ""
        self.symbols_since = 0
        self.feed_since = 0
        self.config_version = -1
        self._asys: Any = None
        self._sup: Any = None
        self._req = 0
        self._misses = 0
        self._pending: dict[int, str] = {}
        self._scale_pending: list[str] = []
        self._timer: QTimer | None = None
        self._running = False
        self._thread = QThread()
        self._thread.setObjectName("engine-link")
        self.moveToThread(self._thread)
        self._submit.connect(self._on_submit)
        self._begin.connect(self._on_begin)
        self._poke.connect(self._on_poke)
        # stopping waits until the worker has let go (its timer dies on its own thread)
        self._end.connect(self._on_end, Qt.ConnectionType.BlockingQueuedConnection)  # type: ignore[call-arg]

    # -- the UI thread's side ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread and the polling."""
        self._thread.start()
        self._begin.emit()

    def stop(self, wait_ms: int = 5000) -> None:
        """Stop polling, let go of the engine (it keeps running) and end the worker thread."""
        if self._thread.isRunning():
            self._end.emit()
            self._thread.quit()
            self._thread.wait(wait_ms)

    def attach_now(self) -> None:
        """Try to attach at once instead of at the next retry (the launch strip's Connect)."""
        self._poke.emit()

    def send(self, message: object, what: str) -> None:
        """Send a command (OperatorCommand, ConfigChangeRequest, ScaleShards, StopEngine); its outcome comes
        back as ``result(what, ok, message)``."""
        self._submit.emit(message, what)

    # -- the worker thread -------------------------------------------------------------------------------
    @pyqtSlot()
    def _on_begin(self) -> None:
        self._running = True
        self._timer = QTimer()          # no parent: it is dropped on this thread in _on_end
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._tick)
        self._timer.start(0)

    @pyqtSlot()
    def _on_end(self) -> None:
        self._running = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._let_go()

    @pyqtSlot()
    def _on_poke(self) -> None:
        if self._running and self._asys is None and self._timer is not None:
            self._timer.start(0)

    def _again(self, ms: float) -> None:
        if self._running and self._timer is not None:
            self._timer.start(max(int(ms), 0))

    def _set_state(self, state: LinkState, text: str) -> None:
        self.state = state
        self.state_changed.emit(state.value, text)

    @pyqtSlot()
    def _tick(self) -> None:
        started = time.monotonic()
        if self._asys is None:
            self._attach()
            if self._asys is None:
                self._again(RETRY_S * 1000)
                return
        self._poll()
        self._again(self.interval_ms - (time.monotonic() - started) * 1000)

    def _attach(self) -> None:
        port = self.admin_port
        if not port_listening(port):
            text = (f"engine gone: nothing answers on admin port {port}; re-attaching every {RETRY_S:g} s"
                    if self.state is not LinkState.SEARCHING else
                    f"no engine on admin port {port}; trying every {RETRY_S:g} s")
            self._set_state(self.state if self.state is LinkState.GONE else LinkState.SEARCHING, text)
            return
        try:
            self._asys = connect(port, self.base, transient=True)
            self._sup = find_supervisor(self._asys)
        except (EngineStartError, Exception) as exc:  # noqa: BLE001 - Thespian raises several types
            self._let_go()
            self._set_state(self.state if self.state is LinkState.GONE else LinkState.SEARCHING,
                            f"cannot join the actor system on admin port {port}: {exc}")
            return
        self._misses = 0

    def _poll(self) -> None:
        self._req += 1
        want = self._req
        symbols = self.include_symbols or want % SYMBOLS_EVERY == 0 or not self.symbols_since
        report = self.include_report or want % REPORT_EVERY == 0
        req = OperatorSnapshotRequest(want, self.epoch, self.symbols_since, self.feed_since, report, symbols,
                                      self.config_version)
        snap: OperatorSnapshot | None = None
        try:
            self._asys.tell(self._sup, req)
            deadline = time.monotonic() + self.answer_timeout_s
            while snap is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                msg = self._asys.listen(remaining)
                if msg is None:
                    break
                snap = self._dispatch(msg, want)
        except Exception as exc:  # noqa: BLE001 - a vanished engine surfaces as any of Thespian's errors
            self._lost(f"engine gone: {type(exc).__name__}: {exc}")
            return
        if snap is None:
            self._misses += 1
            if self._misses >= 2 or not port_listening(self.admin_port):
                self._lost(f"engine gone: no answer for {self._misses * self.answer_timeout_s:g} s on admin port "
                           f"{self.admin_port}; re-attaching")
            return
        self._misses = 0
        if snap.epoch != self.epoch:
            self.epoch = snap.epoch
        if snap.symbols is not None:
            self.symbols_since = snap.symbols.version
        if snap.config is not None:
            self.config_version = snap.config_version
        self.feed_since = snap.feed_seq
        if self.state is not LinkState.ATTACHED:
            what = "engine attached" if snap.started else "actor system attached; no engine started in it yet"
            self._set_state(LinkState.ATTACHED, f"{what} (admin port {self.admin_port})")
        self.snapshot.emit(snap)

    def _dispatch(self, msg: object, want: int) -> OperatorSnapshot | None:
        if isinstance(msg, OperatorSnapshot):
            return msg if msg.request_id == want else None      # a late answer to an earlier poll
        if isinstance(msg, (OperatorCommandResult, ConfigChangeResult)):
            what = self._pending.pop(msg.request_id, "command")
            self.result.emit(what, msg.ok, msg.message)
        elif isinstance(msg, ScaleResult):
            what = self._scale_pending.pop(0) if self._scale_pending else "scale"
            self.result.emit(what, msg.ok, msg.message)
        return None

    @pyqtSlot(object, str)
    def _on_submit(self, message: object, what: str) -> None:
        if self._asys is None:
            self.result.emit(what, False, "not attached to an engine")
            return
        self._req += 1
        if isinstance(message, OperatorCommand | ConfigChangeRequest):
            import dataclasses
            message = dataclasses.replace(message, request_id=self._req)
            self._pending[self._req] = what
        elif type(message).__name__ == "ScaleShards":
            self._scale_pending.append(what)
        try:
            self._asys.tell(self._sup, message)
        except Exception as exc:  # noqa: BLE001
            self.result.emit(what, False, f"could not send: {exc}")
            return
        if type(message).__name__ == "StopEngine":
            self.result.emit(what, True, "stop sent: the engine disarms, finishes in-flight pairs and reports")

    def _lost(self, text: str) -> None:
        self._let_go()
        self._set_state(LinkState.GONE, text)

    def _let_go(self) -> None:
        if self._asys is not None:
            detach(self._asys)
        self._asys = None
        self._sup = None
        for what in list(self._pending.values()) + self._scale_pending:
            self.result.emit(what, False, "no answer: the link to the engine was lost")
        self._pending.clear()
        self._scale_pending.clear()
