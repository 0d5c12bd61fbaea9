"""The engine's typed messages: what its actors say to each other.

Every message is a frozen dataclass with typed fields and is self-contained (Thespian pickles it between
processes and, for the Kiwoom host, between machines): no callables, no open files; numpy arrays only
with explicit little-endian dtypes. A message's class is its version: a change of meaning gets a new
class. Domain values (signals, order intents, broker events, observations) are :mod:`core` classes and
travel inside these messages unchanged.

* :mod:`protocol.wiring` — start-up: run options, the config and universe, actor addresses, shards.
* :mod:`protocol.steps` — the tick path, in steps driven by the bridge (the engine's one clock).
* :mod:`protocol.control` — heartbeats, health, status, scaling, stopping, recovery, the report.
* :mod:`protocol.telemetry` — observations to Telemetry and the live snapshot.
* :mod:`protocol.system` — names and capabilities of the actor system.

The step protocol::

    Bridge --MarketBatch(step)--> MarketData shard(s) --BookDelta(step)--> SpreadEngine
    Bridge --ExecBatch(step)----------------------------------------------> PairManager
    SpreadEngine --SignalBatch(step)--> PairManager --OrderRequest*/CancelRequest*/StepDone(step)--> Throttler
    Throttler --PlacedOrder*/PlacedCancel*/OrderDenied*/StepDone(step)--> Bridge

The bridge starts step k+1 only when ``StepDone(k)`` came back (credit-based flow control: a slow
engine gets bigger batches, never a backlog). Every step carries ``t_ns``, the engine clock at the end
of the step (simulated time in sim/replay, wall time with the real OCX); actors read time only from
these messages, so a ``--speed max`` run is deterministic.
"""
