"""Common shell of every engine actor: message counters, heartbeat answers, batched telemetry."""
from __future__ import annotations

import logging
import os
import time
from typing import Any

from thespian.actors import ActorAddress, ActorTypeDispatcher

from core.observations import (
    AccountReported,
    AutoPauseChanged,
    CodeRearmed,
    ErrorRaised,
    FillBooked,
    FlattenFailed,
    HedgeTimedOut,
    KillSwitchTripped,
    Observation,
    OperatorActed,
    OrderAudited,
    PairClosed,
    ReconcileMismatch,
    RejectSpike,
    SessionChanged,
    ShardMoved,
)
from protocol.control import Detail, FlushTelemetry, Ping, Pong, TelemetryFlushed
from protocol.operator import OperatorDetail, OperatorDetailRequest
from protocol.telemetry import TelemetryBatch
from protocol.wiring import Wiring

log = logging.getLogger("arb")

#: Observations that leave at once (the audit log and the operator's view must not lag, and a crashed
#: actor must not take them with it); the rest are batched for up to TELEMETRY_FLUSH_NS.
URGENT_OBSERVATIONS: tuple[type, ...] = (OrderAudited, FillBooked, PairClosed, KillSwitchTripped, RejectSpike,
                                         ErrorRaised, HedgeTimedOut, SessionChanged, AutoPauseChanged,
                                         AccountReported, ReconcileMismatch, FlattenFailed, CodeRearmed, OperatorActed,
                                         ShardMoved)
TELEMETRY_FLUSH_NS = 50_000_000


class EngineActor(ActorTypeDispatcher):  # type: ignore[misc]  # thespian ships no type hints: its classes are Any
    """Base of the engine's actors.

    Counts messages in and out, answers the Supervisor's :class:`Ping` with a :class:`Pong`, keeps the
    :class:`Wiring` it was given, and buffers observations: :meth:`flush_telemetry` (called once per step)
    sends them at once when one is urgent (orders, fills, errors...) and otherwise at most every 50 ms, so
    routine counters do not add a message to every step. :class:`FlushTelemetry` sends whatever is held
    (end of run).
    """

    actor_name = "actor"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.msgs_in = 0
        self.msgs_out = 0
        self.wiring = Wiring()
        self._telemetry: list[Observation] = []
        self._telemetry_urgent = False
        self._telemetry_sent_ns = 0

    # -- plumbing ---------------------------------------------------------------------------
    def receiveMessage(self, message: Any, sender: ActorAddress) -> Any:  # noqa: N802 (Thespian API)
        self.msgs_in += 1
        return super().receiveMessage(message, sender)

    def send(self, targetAddr: ActorAddress, msg: Any) -> None:  # noqa: N803 (Thespian API)
        self.msgs_out += 1
        super().send(targetAddr, msg)

    def receiveMsg_Wiring(self, msg: Wiring, sender: ActorAddress) -> None:
        self.wiring = msg
        # Thespian does not order a message to a just-created actor behind the ones sent to it before:
        # Configure can arrive first, and what was observed then waits for Telemetry's address
        self.flush_telemetry(force=True)

    def receiveMsg_Ping(self, msg: Ping, sender: ActorAddress) -> None:
        self.send(sender, Pong(nonce=msg.nonce, name=self.actor_name, pid=os.getpid(), msgs_in=self.msgs_in,
                               msgs_out=self.msgs_out, pending=self.pending(), detail=tuple(self.detail())))

    def receiveMsg_OperatorDetailRequest(self, msg: OperatorDetailRequest, sender: ActorAddress) -> None:
        """The Supervisor gathers an operator snapshot: answer this actor's part (only while a window asks)."""
        part, data = self.operator_detail(msg)
        self.send(sender, OperatorDetail(msg.gather_id, part, data))

    def operator_detail(self, msg: OperatorDetailRequest) -> tuple[str, Any]:
        """``(part name, view)`` of this actor for the operator's window; actors with a view override it."""
        return self.actor_name, None

    def pending(self) -> int:
        """Work this actor holds that is not finished (queued orders, unanswered steps...)."""
        return 0

    def detail(self) -> Detail:
        """This actor's state for the health and status views."""
        return ()

    # -- telemetry --------------------------------------------------------------------------
    def observe(self, obs: Observation) -> None:
        """Queue one observation (sent with the next :meth:`flush_telemetry`)."""
        self._telemetry.append(obs)
        if isinstance(obs, URGENT_OBSERVATIONS):
            self._telemetry_urgent = True

    def flush_telemetry(self, force: bool = False) -> None:
        """Send the queued observations to Telemetry when one is urgent, 50 ms have passed, or ``force``."""
        if not self._telemetry or self.wiring.telemetry is None:
            return
        now = time.monotonic_ns()
        if force or self._telemetry_urgent or now - self._telemetry_sent_ns >= TELEMETRY_FLUSH_NS:
            self.send(self.wiring.telemetry, TelemetryBatch(tuple(self._telemetry)))
            self._telemetry = []
            self._telemetry_urgent = False
            self._telemetry_sent_ns = now

    def receiveMsg_FlushTelemetry(self, msg: FlushTelemetry, sender: ActorAddress) -> None:
        self.flush_telemetry(force=True)
        self.send(sender, TelemetryFlushed(self.actor_name))


def wall_ns() -> int:
    """Monotonic wall clock in ns: the latency clock (system-wide on Linux and Windows)."""
    return time.monotonic_ns()
