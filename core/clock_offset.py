"""The bridge's latency clock against the engine's: tick→signal and signal→send across machines (SPEC §5, §8).

Latency stamps are monotonic wall times (``time.monotonic_ns``): one clock for every process of one machine, but
the Kiwoom host may run on another machine than the engine (``python -m kiwoom_bridge.host --leader
ENGINE_HOST:PORT``), and two machines' monotonic clocks start at their own boots — hours or days apart. A tick's
arrival stamped by the bridge and its signal stamped by the SpreadEngine then differ by that, not by a latency.

:class:`ClockOffset` estimates ``engine − bridge`` from probe round trips, NTP's way: the bridge stamps a probe
when it leaves (``sent``), the engine answers with its own clock (``remote``), the bridge stamps the answer
(``received``); the offset is ``remote − (sent + received) / 2``, wrong by at most half the round trip. Of the
last :data:`WINDOW` probes the one with the shortest round trip is used (a queued probe only widens its own
bound). An estimate within its bound of zero is zero: one machine's single clock, where any other figure would be
the probe's own noise added to every latency (two machines whose clocks happen to lie within a round trip of each
other, well under a millisecond after boots at different times, would be wrong by less than that round trip).

Pure: the bridge actor sends the probes and feeds the answers in; tests feed fake clocks.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

#: Probes whose best round trip sets the estimate (at one probe a second: the last 16 s).
WINDOW = 16


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One probe: bridge clock when it left and when the answer came (``sent_ns``, ``received_ns``), engine clock
    when the engine answered (``remote_ns``). All monotonic nanoseconds."""

    sent_ns: int
    remote_ns: int
    received_ns: int

    @property
    def rtt_ns(self) -> int:
        """The probe's round trip on the bridge's clock: twice the bound of its offset's error."""
        return self.received_ns - self.sent_ns

    @property
    def offset_ns(self) -> int:
        """``engine − bridge`` by this probe (the engine answered, at the latest, halfway through)."""
        return self.remote_ns - (self.sent_ns + self.received_ns) // 2


class ClockOffset:
    """``engine − bridge`` of two monotonic clocks from probe round trips (see the module docstring).

    ``offset_ns`` is None until the first answer; :meth:`to_engine` converts a bridge stamp (None while unknown).
    """

    def __init__(self, window: int = WINDOW) -> None:
        if window < 1:
            raise ValueError(f"a clock-offset window needs at least one probe, got {window}")
        self._samples: deque[ClockSample] = deque(maxlen=window)
        self._best: ClockSample | None = None

    def observe(self, sent_ns: int, remote_ns: int, received_ns: int) -> None:
        """Take one probe's answer.

        Raises:
          ValueError: If the answer came back before the probe left (the stamps are not one clock's).
        """
        if received_ns < sent_ns:
            raise ValueError(f"a clock probe came back at {received_ns} ns, before it left at {sent_ns} ns")
        self._samples.append(ClockSample(sent_ns, remote_ns, received_ns))
        self._best = min(self._samples, key=lambda s: s.rtt_ns)

    @property
    def known(self) -> bool:
        return self._best is not None

    @property
    def offset_ns(self) -> int | None:
        """``engine − bridge`` in ns (0 for one machine's clock); None before the first answer."""
        b = self._best
        if b is None:
            return None
        off = b.offset_ns
        return 0 if abs(off) <= (b.rtt_ns + 1) // 2 else off

    @property
    def uncertainty_ns(self) -> int | None:
        """The bound of the estimate's error: half the best round trip (0 once it is one machine's clock)."""
        b = self._best
        if b is None:
            return None
        return 0 if self.offset_ns == 0 else (b.rtt_ns + 1) // 2

    @property
    def same_clock(self) -> bool:
        """Whether the probes say the two are one clock (the same machine)."""
        return self.offset_ns == 0

    def to_engine(self, bridge_ns: int) -> int | None:
        """A bridge stamp on the engine's clock; None while the offset is unknown."""
        off = self.offset_ns
        return None if off is None else bridge_ns + off
