"""Actors and messages for ``bench/bases.py`` (Thespian system-base comparison).

They live in an importable module, never ``__main__``: the multiprocess bases start each actor in a
child process that must import its class (and unpickle every message) by dotted name.

Three patterns, all timed *inside* the actors with :func:`time.perf_counter_ns`, so the numbers are
actor-to-actor costs, not the external ``ask`` path:

* **round trip** — :class:`RttDriver` sends a :class:`Probe` to a target and waits for it to come
  back before sending the next one. With an :class:`Echo` target that is one request/response (two
  hops); with a ring of :class:`Relay` actors whose last member points back at the driver it is an
  N-hop chain (the engine's bridge → shard → engine → manager → throttler step).
* **one-way throughput** — :class:`ThroughputSender` streams :class:`Data` to a :class:`Sink` under
  windowed flow control: at most ``window`` messages un-acknowledged, the sink acknowledges every
  ``ack_every`` with a cumulative :class:`Ack`.

Probe payloads: ``small`` (none), ``numpy200`` (a :class:`Batch` holding 200 rows, with a cheap
``__repr__``) and ``numpy200_default_repr`` (the bare array, so ``repr(probe)`` formats every row, as
the default dataclass repr of a message such as ``protocol.steps.MarketBatch`` does). The difference
matters: Thespian 4.0.1 formats ``str(message)`` eagerly for its debug log on every send and receive
(``thesplog('ACTOR got %s', envelope.identify(), level=DEBUG)`` and ``intent.identify()`` in
systemCommon/asyncTransportBase), whatever the log level, so an expensive repr is paid several
times per hop on every multiprocess base.

Every run has a stall guard (a ``wakeupAfter`` tick): if nothing comes back for ``stall_s`` the driver
answers with an error instead of hanging, which is what a lost message looks like on multiprocUDPBase.
Wakeups cannot be cancelled, so each run carries a generation number and stale ticks are ignored.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from thespian.actors import ActorTypeDispatcher

# A market batch row: like core.l1.L1_ROW_DTYPE (int32 symbol, int8 venue, 7 x int64 columns).
BATCH_DTYPE = np.dtype([
    ("sym", "<i4"), ("venue", "i1"),
    ("ask", "<i8"), ("bid", "<i8"), ("ask_qty", "<i8"), ("bid_qty", "<i8"),
    ("last", "<i8"), ("t_ns", "<i8"), ("arrival_ns", "<i8"),
])
STALL_TICK = timedelta(milliseconds=250)


def make_batch(rows: int = 200, seed: int = 1) -> np.ndarray:
    """A deterministic structured array of ``rows`` market events (``BATCH_DTYPE``)."""
    rng = np.random.default_rng(seed)
    batch = np.zeros(rows, dtype=BATCH_DTYPE)
    batch["sym"] = rng.integers(0, 800, rows, dtype=np.int32)
    batch["venue"] = rng.integers(0, 2, rows, dtype=np.int8)
    mid = rng.integers(10_000, 500_000, rows, dtype=np.int64)
    batch["ask"], batch["bid"] = mid + 50, mid - 50
    batch["ask_qty"] = rng.integers(1, 10_000, rows, dtype=np.int64)
    batch["bid_qty"] = rng.integers(1, 10_000, rows, dtype=np.int64)
    batch["last"] = mid
    batch["t_ns"] = np.arange(rows, dtype=np.int64) * 1_000_000
    batch["arrival_ns"] = batch["t_ns"] + 150_000
    return batch


# ----------------------------------------------------------------------------------------------
# Messages
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, repr=False)
class Batch:
    """A market batch payload whose repr is O(1) (Thespian stringifies every message it moves)."""

    rows: np.ndarray

    def __repr__(self) -> str:
        return f"Batch(rows={len(self.rows)})"


def make_payload(kind: str) -> Any:
    """The probe payload for ``kind``: 'small' | 'numpy200' | 'numpy200_default_repr'."""
    if kind == "small":
        return None
    if kind == "numpy200":
        return Batch(make_batch(200))
    if kind == "numpy200_default_repr":
        return make_batch(200)
    raise ValueError(f"unknown payload kind {kind!r}")


@dataclass(frozen=True, slots=True)
class Probe:
    """The round-trip token: an echo returns it, a relay forwards it."""

    run: int
    seq: int
    t0_ns: int
    payload: Any = None


@dataclass(frozen=True, slots=True)
class RunRtt:
    """External → RttDriver: send ``warmup + n`` probes to ``target`` one at a time."""

    target: Any
    n: int
    warmup: int
    payload: str = "small"          # see make_payload
    stall_s: float = 2.0


@dataclass(frozen=True, slots=True)
class RttResult:
    """RttDriver → external: round-trip times (ns) of the ``n`` measured probes, or an error."""

    rtt_ns: list[int] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True, slots=True)
class SetNext:
    """External → Relay: where to forward probes (answered with :class:`Ready`)."""

    next_hop: Any


@dataclass(frozen=True, slots=True)
class Ready:
    pass


@dataclass(frozen=True, slots=True)
class Data:
    seq: int


@dataclass(frozen=True, slots=True)
class Ack:
    """Sink → sender: cumulative count of :class:`Data` received so far."""

    received: int


@dataclass(frozen=True, slots=True)
class RunThroughput:
    """External → ThroughputSender: stream ``m`` :class:`Data` messages to ``sink``."""

    sink: Any
    m: int
    window: int = 50
    ack_every: int = 10
    stall_s: float = 2.0


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """External → Sink: acknowledge every ``ack_every`` messages (answered with :class:`Ready`)."""

    ack_every: int


@dataclass(frozen=True, slots=True)
class ThroughputResult:
    """ThroughputSender → external: ``m`` messages acknowledged in ``elapsed_ns`` (first send → last ack)."""

    m: int = 0
    elapsed_ns: int = 0
    error: str = ""


# ----------------------------------------------------------------------------------------------
# Actors
# ----------------------------------------------------------------------------------------------
class Echo(ActorTypeDispatcher):
    """Returns every :class:`Probe` to its sender."""

    def receiveMsg_Probe(self, msg: Probe, sender: Any) -> None:  # noqa: N802 (Thespian API)
        self.send(sender, msg)


class Relay(ActorTypeDispatcher):
    """Forwards every :class:`Probe` to the next hop of a ring."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.next_hop: Any = None

    def receiveMsg_SetNext(self, msg: SetNext, sender: Any) -> None:  # noqa: N802
        self.next_hop = msg.next_hop
        self.send(sender, Ready())

    def receiveMsg_Probe(self, msg: Probe, sender: Any) -> None:  # noqa: N802
        if self.next_hop is not None:
            self.send(self.next_hop, msg)


class RttDriver(ActorTypeDispatcher):
    """Sends probes one at a time and times each until it comes back (from an echo or around a ring)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.run = 0
        self.active = False
        self.requester: Any = None
        self.spec: RunRtt | None = None
        self.payload: Any = None
        self.seq = 0
        self.samples: list[int] = []
        self.last_progress = 0.0

    def receiveMsg_RunRtt(self, msg: RunRtt, sender: Any) -> None:  # noqa: N802
        self.run += 1
        self.active = True
        self.requester, self.spec = sender, msg
        self.payload = make_payload(msg.payload)
        self.seq = 0
        self.samples = []
        self.last_progress = time.monotonic()
        self.wakeupAfter(STALL_TICK, payload=self.run)
        self._send_probe()

    def _send_probe(self) -> None:
        self.send(self.spec.target, Probe(self.run, self.seq, time.perf_counter_ns(), self.payload))

    def receiveMsg_Probe(self, msg: Probe, sender: Any) -> None:  # noqa: N802
        t1 = time.perf_counter_ns()
        if not self.active or msg.run != self.run or msg.seq != self.seq:
            return  # a late probe from an earlier (stalled) run
        if self.seq >= self.spec.warmup:
            self.samples.append(t1 - msg.t0_ns)
        self.seq += 1
        self.last_progress = time.monotonic()
        if self.seq >= self.spec.warmup + self.spec.n:
            self.active = False
            self.send(self.requester, RttResult(self.samples))
        else:
            self._send_probe()

    def receiveMsg_WakeupMessage(self, msg: Any, sender: Any) -> None:  # noqa: N802
        if not self.active or msg.payload != self.run:
            return
        if time.monotonic() - self.last_progress > self.spec.stall_s:
            self.active = False
            self.send(self.requester, RttResult(
                error=f"stalled: probe {self.seq} of {self.spec.warmup + self.spec.n} did not come back "
                      f"within {self.spec.stall_s:g} s (lost message?)"))
        else:
            self.wakeupAfter(STALL_TICK, payload=self.run)


class Sink(ActorTypeDispatcher):
    """Counts :class:`Data` and acknowledges every ``ack_every`` with the cumulative count."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.ack_every = 10
        self.received = 0

    def receiveMsg_SinkConfig(self, msg: SinkConfig, sender: Any) -> None:  # noqa: N802
        self.ack_every, self.received = msg.ack_every, 0
        self.send(sender, Ready())

    def receiveMsg_Data(self, msg: Data, sender: Any) -> None:  # noqa: N802
        self.received += 1
        if self.received % self.ack_every == 0:
            self.send(sender, Ack(self.received))


class ThroughputSender(ActorTypeDispatcher):
    """Streams :class:`Data` to a sink, keeping at most ``window`` messages un-acknowledged."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.run = 0
        self.active = False
        self.requester: Any = None
        self.spec: RunThroughput | None = None
        self.sent = 0
        self.acked = 0
        self.t_start = 0
        self.last_progress = 0.0

    def receiveMsg_RunThroughput(self, msg: RunThroughput, sender: Any) -> None:  # noqa: N802
        self.run += 1
        self.active = True
        self.requester, self.spec = sender, msg
        self.sent = self.acked = 0
        self.last_progress = time.monotonic()
        self.wakeupAfter(STALL_TICK, payload=self.run)
        self.t_start = time.perf_counter_ns()
        self._pump()

    def _pump(self) -> None:
        spec = self.spec
        while self.sent < spec.m and self.sent - self.acked < spec.window:
            self.send(spec.sink, Data(self.sent))
            self.sent += 1

    def receiveMsg_Ack(self, msg: Ack, sender: Any) -> None:  # noqa: N802
        if not self.active or msg.received <= self.acked:
            return
        self.acked = msg.received
        self.last_progress = time.monotonic()
        if self.acked >= self.spec.m:
            self.active = False
            self.send(self.requester, ThroughputResult(self.spec.m, time.perf_counter_ns() - self.t_start))
        else:
            self._pump()

    def receiveMsg_WakeupMessage(self, msg: Any, sender: Any) -> None:  # noqa: N802
        if not self.active or msg.payload != self.run:
            return
        if time.monotonic() - self.last_progress > self.spec.stall_s:
            self.active = False
            self.send(self.requester, ThroughputResult(
                self.spec.m, time.perf_counter_ns() - self.t_start,
                error=f"stalled: {self.acked} of {self.spec.m} acknowledged ({self.sent} sent), no progress for "
                      f"{self.spec.stall_s:g} s (lost messages?)"))
        else:
            self.wakeupAfter(STALL_TICK, payload=self.run)
