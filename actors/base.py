"""Common shell of every engine actor: message counters, heartbeat answers, batched telemetry."""
from __future__ import annotations

import logging
import os
import time
from typing import Any

from thespian.actors import ActorTypeDispatcher

from actors.messages import Ping, Pong, TelemetryBatch, TelemetryEvent, Wiring

log = logging.getLogger("arb")


class EngineActor(ActorTypeDispatcher):
    """Base of the engine's actors.

    Counts messages in and out, answers the Supervisor's :class:`Ping` with a :class:`Pong`, keeps
    the :class:`Wiring` it was given, and buffers :class:`TelemetryEvent` values so each actor sends
    Telemetry at most one message per step (``flush_telemetry``) instead of one per observation.
    """

    actor_name = "actor"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.msgs_in = 0
        self.msgs_out = 0
        self.wiring = Wiring()
        self._telemetry: list[TelemetryEvent] = []

    # -- plumbing ---------------------------------------------------------------------------
    def receiveMessage(self, message: Any, sender: Any) -> Any:  # noqa: N802 (Thespian API)
        self.msgs_in += 1
        return super().receiveMessage(message, sender)

    def send(self, targetAddr: Any, msg: Any) -> None:  # noqa: N803 (Thespian API)
        self.msgs_out += 1
        super().send(targetAddr, msg)

    def receiveMsg_Wiring(self, msg: Wiring, sender: Any) -> None:  # noqa: N802
        self.wiring = msg

    def receiveMsg_Ping(self, msg: Ping, sender: Any) -> None:  # noqa: N802
        self.send(sender, Pong(nonce=msg.nonce, name=self.actor_name, pid=os.getpid(), msgs_in=self.msgs_in,
                               msgs_out=self.msgs_out, pending=self.pending(), detail=tuple(self.detail())))

    def pending(self) -> int:
        """Work this actor holds that is not finished (queued orders, unanswered steps...)."""
        return 0

    def detail(self) -> list[tuple[str, Any]]:
        return []

    # -- telemetry --------------------------------------------------------------------------
    def emit(self, event_kind: str, t_ns: int, /, **data: Any) -> None:
        """Queue one telemetry observation (sent with the next :meth:`flush_telemetry`)."""
        self._telemetry.append(TelemetryEvent(event_kind, t_ns, data))

    def flush_telemetry(self) -> None:
        if self._telemetry and self.wiring.telemetry is not None:
            self.send(self.wiring.telemetry, TelemetryBatch(tuple(self._telemetry)))
        self._telemetry = []


def wall_ns() -> int:
    """Monotonic wall clock in ns: the latency clock (system-wide on Linux and Windows)."""
    return time.monotonic_ns()
