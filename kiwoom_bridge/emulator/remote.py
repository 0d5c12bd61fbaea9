"""The emulated control's stand-in in the bridge's process, the control itself in a process of its own.

In production the OCX is native code beside the bridge: the bridge's process only receives its events and
parses them. In a paced sim the emulated control (the synthetic market, both exchanges, the encoding into
Kiwoom's strings) ran in the bridge's process and took most of its core; :class:`RemoteControl` offers the bridge
the same surface — ``dynamicCall`` with Kiwoom's signatures, the five Qt-style signals — while the control runs
in the feeder process (:mod:`kiwoom_bridge.emulator.feeder`).

What is answered where:

* ``GetCommRealData``, ``GetChejanData``, ``GetCommData`` and ``GetRepeatCnt`` are answered here, from the values
  the feeder handed over with the event, by the emulator's own channels
  (:class:`~kiwoom_bridge.emulator.realtime.RealDataChannel`, :class:`~kiwoom_bridge.emulator.chejan.ChejanChannel`,
  :class:`~kiwoom_bridge.emulator.tr_queries.TrReplyChannel`): the same rules, the same emitted arguments.
* Every other call (``SendOrder``, ``SetRealReg``, ``CommRqData``, log-in…) goes to the control and waits for its
  return value: the events the call emitted come back with it and are emitted before the call returns, as the
  control in the same process would emit them.
* Before :meth:`RemoteControl.pace` the bridge drives the simulated clock (:meth:`RemoteControl.advance_to`);
  after it the feeder follows the wall by itself, in batches, and :meth:`RemoteControl.advance_to` still asks for
  what became due since the last batch (without it a tick would wait for the feeder's next batch and then for the
  bridge's next look: measured, +1.5 ms on tick→signal p50).

Events are emitted one at a time, never inside another event's handler: a call made from a handler that brings
events back leaves them queued until the handler returns. :attr:`RemoteControl.clock` reads the simulated time of
the event being emitted (its delivery time, as the control's own clock reads during an emission), else the latest
time the feeder reported.
"""
from __future__ import annotations

import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from kiwoom_bridge.emulator.chejan import ChejanChannel
from kiwoom_bridge.emulator.control import (
    ARITY,
    SIG_GET_CHEJAN_DATA,
    SIG_GET_COMM_DATA,
    SIG_GET_COMM_REAL_DATA,
    SIG_GET_REPEAT_CNT,
    call_arguments,
    unknown_signature,
)
from kiwoom_bridge.emulator.qt_signal import QtSignal
from kiwoom_bridge.emulator.realtime import RealDataChannel
from kiwoom_bridge.emulator.tr_queries import TrReplyChannel

__all__ = ["EmulatorProcessError", "FeederClock", "RemoteControl", "START_TIMEOUT_S"]

#: How long the feeder may take to start (a fresh interpreter importing numpy, pydantic and the emulator).
START_TIMEOUT_S = 120.0
_ROOT = Path(__file__).resolve().parents[2]


class EmulatorProcessError(RuntimeError):
    """The emulator's process failed to start, failed, or went away."""


class FeederClock:
    """The simulated time as the bridge's process knows it (``now_ns``, ns since the epoch)."""

    __slots__ = ("now_ns",)

    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns


class RemoteControl:
    """The OpenAPI+ surface of an emulated control running in the feeder process (see the module docstring).

    Args:
      config, universe, options: The run's, as :func:`~kiwoom_bridge.emulator.backend.build_emulated_backend`
        takes them (the feeder builds the same backend the bridge would have built).

    Attributes:
      clock: The simulated time (:class:`FeederClock`).
      start_ns: The simulated time the backend started at.
      pid: The feeder's process id.
    """

    def __init__(self, config: Any, universe: Any, options: Any) -> None:
        self.OnEventConnect = QtSignal("OnEventConnect")
        self.OnReceiveRealData = QtSignal("OnReceiveRealData")
        self.OnReceiveTrData = QtSignal("OnReceiveTrData")
        self.OnReceiveChejanData = QtSignal("OnReceiveChejanData")
        self.OnReceiveMsg = QtSignal("OnReceiveMsg")
        self._real = RealDataChannel(self.OnReceiveRealData)
        self._chejan = ChejanChannel(self.OnReceiveChejanData)
        self._tr = TrReplyChannel(self.OnReceiveTrData)
        self._local: dict[str, tuple[Callable[..., Any], int]] = {
            SIG_GET_COMM_REAL_DATA: (self._real.get_comm_real_data, ARITY[SIG_GET_COMM_REAL_DATA]),
            SIG_GET_CHEJAN_DATA: (self._chejan.get_chejan_data, ARITY[SIG_GET_CHEJAN_DATA]),
            SIG_GET_COMM_DATA: (self._tr.get_comm_data, ARITY[SIG_GET_COMM_DATA]),
            SIG_GET_REPEAT_CNT: (self._tr.get_repeat_cnt, ARITY[SIG_GET_REPEAT_CNT]),
        }
        self._pending: deque[tuple[int, str, tuple[Any, ...]]] = deque()
        self._emitting = False
        self._next_ns: int | None = None
        self._reported_ns = 0              # the latest simulated time the feeder reported
        self._closed = False
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "kiwoom_bridge.emulator.feeder", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), cwd=str(_ROOT), stdin=subprocess.DEVNULL)
        theirs.close()
        self.pid = self._proc.pid
        self._conn = Connection(ours.detach())
        self._conn.send(("init", config, universe, options))
        if not self._conn.poll(START_TIMEOUT_S):
            self.close()
            raise EmulatorProcessError(f"the emulator's process did not start within {START_TIMEOUT_S:g} s")
        msg = self._recv()
        if msg[0] != "ready":
            self.close()
            raise EmulatorProcessError(f"the emulator's process answered {msg[0]!r} instead of starting")
        _, self.start_ns, now_ns, self._next_ns = msg
        self._reported_ns = now_ns
        self.clock = FeederClock(now_ns)

    # == the QAxWidget surface =========================================================================

    def dynamicCall(self, signature: str, *args: Any) -> Any:  # noqa: N802 - Qt's name
        """Call an OpenAPI+ function by its exact signature, as on the control (the getters answer here).

        Raises:
          UnknownSignatureError, EmulatorCallError: As the control raises them.
          EmulatorProcessError: The emulator's process failed or is gone.
        """
        local = self._local.get(signature)
        if local is not None:
            fn, arity = local
            return fn(*call_arguments(signature, arity, args))
        n = ARITY.get(signature)
        if n is None:
            raise unknown_signature(signature)
        return self._request(("call", signature, tuple(call_arguments(signature, n, args))))

    # == driving the simulation ========================================================================

    def next_event_ns(self) -> int | None:
        """The simulated time of the control's next event as last reported (exact until :meth:`pace`)."""
        return self._next_ns

    def advance_to(self, t_ns: int) -> None:
        """Run the control's clock to ``t_ns`` (if it is not there yet) and emit what it emitted: after
        :meth:`pace` the feeder is mostly there already (it follows the wall by itself), and the request only
        brings what became due since its last batch."""
        self._request(("advance", t_ns))

    def pace(self, sim_start_ns: int, wall_start_ns: int, speed: float) -> None:
        """From now on the control's clock is ``sim_start_ns + (time.monotonic_ns() − wall_start_ns) × speed``."""
        self._send(("pace", sim_start_ns, wall_start_ns, speed))

    def close(self) -> None:
        """Stop the feeder process and wait for it (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.send(("close",))
        except OSError:
            pass
        self._conn.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    # == the pipe ======================================================================================

    def _send(self, msg: tuple[Any, ...]) -> None:
        if self._closed:
            raise EmulatorProcessError("the emulator's process was closed")
        try:
            self._conn.send(msg)
        except OSError as exc:
            raise EmulatorProcessError(f"the emulator's process is gone ({exc})") from None

    def _recv(self) -> tuple[Any, ...]:
        try:
            msg: tuple[Any, ...] = self._conn.recv()
        except (EOFError, OSError):
            code = self._proc.poll()
            raise EmulatorProcessError(f"the emulator's process is gone (exit code {code})") from None
        if msg[0] == "failed":
            raise EmulatorProcessError(f"the emulator's process failed:\n{msg[1]}")
        return msg

    def _take(self, msg: tuple[Any, ...]) -> None:
        """Queue the events of a feeder message and note its clock."""
        self._pending.extend(msg[-3])
        now_ns = msg[-2]
        if now_ns > self._reported_ns:
            self._reported_ns = now_ns
        if now_ns > self.clock.now_ns and not self._emitting:
            self.clock.now_ns = now_ns
        self._next_ns = msg[-1]

    def _request(self, msg: tuple[Any, ...]) -> Any:
        """Send a request, queue whatever arrives before its answer, emit it all, return the answer's value."""
        self._send(msg)
        while True:
            reply = self._recv()
            self._take(reply)
            if reply[0] == "ret":
                self._drain()
                return reply[1]
            if reply[0] == "raise":
                self._drain()
                raise reply[1]

    def _drain(self) -> None:
        """Emit the queued events in order, each at its simulated time (never nested in another's handler)."""
        if self._emitting:
            return
        self._emitting = True
        clock, pending = self.clock, self._pending
        high = max(clock.now_ns, self._reported_ns)
        try:
            while pending:
                t_ns, kind, args = pending.popleft()
                clock.now_ns = t_ns
                if t_ns > high:
                    high = t_ns
                if kind == "R":
                    self._real.emit(*args)
                elif kind == "C":
                    self._chejan.emit(*args)
                elif kind == "T":
                    self._tr.emit(*args)
                elif kind == "M":
                    self.OnReceiveMsg.emit(*args)
                else:
                    self.OnEventConnect.emit(*args)
        finally:
            self._emitting = False
            clock.now_ns = max(high, self._reported_ns)
