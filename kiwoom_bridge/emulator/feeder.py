"""The emulated control in a process of its own: what the OCX is in production, a component beside the bridge.

    python -m kiwoom_bridge.emulator.feeder FD

started by :class:`kiwoom_bridge.emulator.remote.RemoteControl` with one end of a socket pair as ``FD``. The
process builds the run's emulated backend (:func:`~kiwoom_bridge.emulator.backend.build_emulated_backend`: the
synthetic market, both exchanges, the order desk, the account), so the market's generation, the matching and the
encoding into Kiwoom's strings cost the bridge's process nothing, as the native OCX costs it nothing live.

Every signal the control emits is handed to the bridge with its simulated time and what the getters answer
during it (``GetCommRealData``'s values, ``GetChejanData``'s row, ``GetCommData``'s reply): the bridge's stand-in
emits the same signal with the same arguments and answers the getters from them.

The pipe's messages, each a tuple (pickled by :class:`multiprocessing.connection.Connection`):

* bridge → feeder: ``("init", config, universe, options)``, then ``("call", signature, args)``,
  ``("advance", t_ns)`` (run the simulated clock to ``t_ns``: log-in and set-up before the run is paced),
  ``("pace", sim_start_ns, wall_start_ns, speed)`` (from now on follow the wall: engine time
  ``sim_start_ns + (monotonic − wall_start_ns) × speed``), ``("close",)``.
* feeder → bridge: ``("ready", start_ns, now_ns, next_ns)``; ``("ret", value, events, now_ns, next_ns)`` after a
  call or an advance (``events``: what it emitted meanwhile, in order); ``("raise", exception, events, now_ns,
  next_ns)`` for a call the control refused (a wrong signature or argument: the bridge raises it);
  ``("events", events, now_ns, next_ns)`` while paced; ``("failed", traceback)`` before it exits on an error.
* An event is ``(t_ns, kind, args)``: ``"R"`` real data ``(code, real type, values)``, ``"C"`` Chejan ``(gubun,
  row)``, ``"T"`` TR data ``(screen, rq name, tr code, prev_next, single values, rows)``, ``"M"`` a message
  ``(screen, rq name, tr code, text)``, ``"E"`` ``OnEventConnect`` ``(code,)``.

Paced, the feeder advances the control to the wall's engine time, hands over what it emitted, and sleeps until the
next event is due, at least :data:`MIN_WAIT_S` (the batches' pace) and at most :data:`MAX_WAIT_S`; a request
wakes it at once. It exits when the bridge closes the pipe or goes away (end of file), so it never outlives the
bridge's process.
"""
from __future__ import annotations

import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from kiwoom_bridge.emulator.backend import build_emulated_backend, storm_308_in_force
from kiwoom_bridge.emulator.call_errors import EmulatorCallError, ReentrancyError, UnknownSignatureError

__all__ = ["MAX_WAIT_S", "MIN_WAIT_S", "Feeder", "main"]

#: The shortest sleep between two paced advances: events due within it travel in one batch.
MIN_WAIT_S = 0.0005
#: The longest sleep while paced (the wall is looked at again after it).
MAX_WAIT_S = 0.02
_REFUSALS = (EmulatorCallError, UnknownSignatureError, ReentrancyError)

Event = tuple[int, str, tuple[Any, ...]]


class Feeder:
    """Owns the emulated control of a run and serves it over ``conn`` (see the module docstring)."""

    def __init__(self, conn: Connection, config: Any, universe: Any, options: Any) -> None:
        self.conn = conn
        self.cfg = config
        backend = build_emulated_backend(config, universe, options)
        self.control = control = backend.control
        self.scheduler = sched = backend.scheduler
        self.start_ns = backend.start_ns
        self.events: list[Event] = []
        self.pace: tuple[int, int, float] | None = None
        out = self.events
        real, chejan, tr = control.real_channel, control.chejan_channel, control.tr_channel

        def on_real(code: str, real_type: str, _joined: str) -> None:
            cur = real.current
            out.append((sched.now_ns, "R", (code, real_type, cur[1] if cur is not None else {})))

        def on_chejan(gubun: str, _n: int, _fids: str) -> None:
            out.append((sched.now_ns, "C", (gubun, dict(chejan.current or {}))))

        def on_tr(screen: str, rq_name: str, tr_code: str, _record: str, prev_next: str, *_rest: Any) -> None:
            cur = tr.current
            out.append((sched.now_ns, "T", (screen, rq_name, tr_code, prev_next, dict(cur[2]) if cur else {},
                                            [dict(r) for r in tr.rows])))

        def on_msg(screen: str, rq_name: str, tr_code: str, text: str) -> None:
            out.append((sched.now_ns, "M", (screen, rq_name, tr_code, text)))

        def on_connect(code: int) -> None:
            out.append((sched.now_ns, "E", (code,)))

        control.OnReceiveRealData.connect(on_real)
        control.OnReceiveChejanData.connect(on_chejan)
        control.OnReceiveTrData.connect(on_tr)
        control.OnReceiveMsg.connect(on_msg)
        control.OnEventConnect.connect(on_connect)

    def _taken(self) -> list[Event]:
        ev = self.events[:]
        self.events.clear()
        return ev

    def _advance(self, t_ns: int) -> None:
        storm = storm_308_in_force(self.cfg, self.scheduler.now_ns)
        if storm is not None:
            self.control.faults.storm_308 = storm
        self.control.advance_to(t_ns)

    def _answer(self, req: tuple[Any, ...]) -> bool:
        """Serve one request; False when the bridge closed the feeder."""
        kind = req[0]
        if kind == "close":
            return False
        if kind == "pace":
            _, sim_start_ns, wall_start_ns, speed = req
            self.pace = (sim_start_ns, wall_start_ns, speed)
            return True
        try:
            if kind == "call":
                value = self.control.dynamicCall(req[1], *req[2])
            elif kind == "advance":
                self._advance(max(req[1], self.scheduler.now_ns))
                value = None
            else:
                raise ValueError(f"the emulator process got an unknown request {kind!r}")
        except _REFUSALS as exc:
            self.conn.send(("raise", exc, self._taken(), self.scheduler.now_ns, self.control.next_event_ns()))
            return True
        self.conn.send(("ret", value, self._taken(), self.scheduler.now_ns, self.control.next_event_ns()))
        return True

    def run(self) -> None:
        """Serve until the bridge closes the pipe or goes away."""
        conn = self.conn
        sched, control = self.scheduler, self.control
        conn.send(("ready", self.start_ns, sched.now_ns, control.next_event_ns()))
        while True:
            timeout: float | None = None
            if self.pace is not None:
                sim_start_ns, wall_start_ns, speed = self.pace
                target = sim_start_ns + int((time.monotonic_ns() - wall_start_ns) * speed)
                if target > sched.now_ns:
                    self._advance(target)
                nxt = control.next_event_ns()
                if self.events:
                    conn.send(("events", self._taken(), sched.now_ns, nxt))
                wait_s = MAX_WAIT_S if nxt is None else (nxt - max(target, sched.now_ns)) / speed / 1e9
                timeout = min(max(wait_s, MIN_WAIT_S), MAX_WAIT_S)
            try:
                if conn.poll(timeout):
                    if not self._answer(conn.recv()):
                        return
            except (EOFError, OSError):
                return                    # the bridge is gone: so is its OCX


def main(argv: list[str] | None = None) -> int:
    """``python -m kiwoom_bridge.emulator.feeder FD``: serve the socket ``FD`` (see the module docstring)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m kiwoom_bridge.emulator.feeder FD  (started by the bridge, with a socket's fd)",
              file=sys.stderr)
        return 2
    conn = Connection(int(args[0]))
    try:
        try:
            init = conn.recv()
        except EOFError:
            return 0
        if init[0] != "init":
            raise ValueError(f"the emulator process expected 'init' first, got {init[0]!r}")
        Feeder(conn, *init[1:]).run()
    except Exception:  # noqa: BLE001 - whatever stops the emulator is told to the bridge, which stops the run
        try:
            conn.send(("failed", traceback.format_exc()))
        except OSError:
            pass
        return 1
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
