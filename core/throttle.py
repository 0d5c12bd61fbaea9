"""Kiwoom rate limits as sliding-window token buckets, pair admission and orders/s auto-pause.

Kiwoom refuses a ``SendOrder`` (cancels included) with ``-308`` when more than 5 were sent in *any*
one-second window. A classic refill bucket (burst of 5 + 5/s refill) lets 10 through in one second, so
:class:`TokenBucket` is a sliding window instead: a token spent at ``t`` comes back exactly ``window_ns``
later (1 s plus a safety margin). Any interval of length ``window_ns`` therefore contains at most
``capacity`` spends, and so does any 1-second interval.

:class:`OrderThrottle` combines the orders bucket (with tokens reserved for cancels and hedges), the
queries bucket, the "≥ N tokens free" rule for starting a pair, and the auto-pause of new entries when
orders/s utilisation stays at or above a threshold.

All times are ``now_ns`` values (int nanoseconds since the Unix epoch, see :mod:`core.clock`) and must
never decrease from one call to the next on the same object.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.clock import NS_PER_MS, NS_PER_S, s_to_ns

if TYPE_CHECKING:
    from config.schema import EngineConfig

__all__ = [
    "Admission",
    "AutoPauseEvent",
    "OrderThrottle",
    "ThrottleConfigError",
    "ThrottleSnapshot",
    "TimeWentBackwardsError",
    "TokenBucket",
]


class ThrottleConfigError(ValueError):
    """Impossible bucket parameters (non-positive capacity or window, reserve ≥ capacity, …)."""


class TimeWentBackwardsError(ValueError):
    """A call carried a ``now_ns`` earlier than one already seen by the same object."""


class TokenBucket:
    """A sliding-window token bucket: at most ``capacity`` spends in any window of ``window_ns``.

    Each spent token returns exactly ``window_ns`` after it was spent, so ``free(now)`` is
    ``capacity`` minus the spends ``t`` with ``now - window_ns < t <= now``.

    Non-urgent requests may not use the last ``reserve`` tokens; urgent ones (cancels, hedges) may
    use all of them.

    Args:
      capacity: Tokens per window (Kiwoom: 5).
      window_ns: Window length in nanoseconds (1 s plus a margin; default exactly 1 s).
      reserve: Tokens only urgent requests may take, ``0 <= reserve < capacity``.

    Raises:
      ThrottleConfigError: On impossible parameters.
    """

    __slots__ = ("capacity", "window_ns", "reserve", "_spends", "_last_now_ns")

    def __init__(self, capacity: int, window_ns: int = NS_PER_S, reserve: int = 0) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ThrottleConfigError(f"capacity must be an int ≥ 1, got {capacity!r}")
        if isinstance(window_ns, bool) or not isinstance(window_ns, int) or window_ns < 1:
            raise ThrottleConfigError(f"window_ns must be an int ≥ 1, got {window_ns!r}")
        if isinstance(reserve, bool) or not isinstance(reserve, int) or not 0 <= reserve < capacity:
            raise ThrottleConfigError(f"reserve must be an int with 0 ≤ reserve < capacity ({capacity}), "
                                      f"got {reserve!r}")
        self.capacity = capacity
        self.window_ns = window_ns
        self.reserve = reserve
        self._spends: deque[int] = deque()  # spend times still inside the window, oldest first
        self._last_now_ns: int | None = None

    def _observe(self, now_ns: int) -> None:
        """Check monotonic time and drop spends whose token has come back by ``now_ns``."""
        if self._last_now_ns is not None and now_ns < self._last_now_ns:
            raise TimeWentBackwardsError(f"now_ns {now_ns} is earlier than {self._last_now_ns} already seen "
                                    f"({self._last_now_ns - now_ns} ns back)")
        self._last_now_ns = now_ns
        cutoff = now_ns - self.window_ns
        spends = self._spends
        while spends and spends[0] <= cutoff:
            spends.popleft()

    def spent_in_window(self, now_ns: int) -> int:
        """Tokens spent in ``(now_ns - window_ns, now_ns]``."""
        self._observe(now_ns)
        return len(self._spends)

    def free(self, now_ns: int) -> int:
        """Tokens free for an urgent request at ``now_ns`` (reserve included)."""
        return self.capacity - self.spent_in_window(now_ns)

    def free_for(self, now_ns: int, urgent: bool) -> int:
        """Tokens a request of this class may take at ``now_ns``: non-urgent ones can't touch the reserve."""
        free = self.free(now_ns)
        return free if urgent else max(0, free - self.reserve)

    def try_acquire(self, now_ns: int, urgent: bool = False) -> bool:
        """Spend one token at ``now_ns`` if the request's class has one free; return whether it did."""
        if self.free_for(now_ns, urgent) < 1:
            return False
        self._spends.append(now_ns)
        return True

    def release_last(self, now_ns: int) -> bool:
        """Give back the most recently spent token (Kiwoom answered ``-308``: the call did not count).

        Returns:
          True if a token was returned; False if no spend is left in the window (it has come back
          on its own already).
        """
        self._observe(now_ns)
        if not self._spends:
            return False
        self._spends.pop()
        return True

    def release_at(self, spent_ns: int, now_ns: int) -> bool:
        """Give back the token spent at ``spent_ns`` (the -308 reply may arrive after later spends).

        Removing exactly that spend keeps the record equal to the calls Kiwoom counted; releasing
        a later one instead could let a real send fall out of our window too early.

        Returns:
          True if a token was returned; False if that spend already left the window.
        """
        self._observe(now_ns)
        for i in range(len(self._spends) - 1, -1, -1):
            if self._spends[i] == spent_ns:
                del self._spends[i]
                return True
        return False

    def record_spend(self, spent_ns: int, now_ns: int) -> None:
        """Count a spend made at ``spent_ns`` by someone else (a Throttler that died): the window is rebuilt
        from the orders the bridge placed. It counts even when the window is already full (it happened);
        ``spent_ns`` may lie before ``now_ns`` and before later spends.
        """
        self._observe(now_ns)
        if spent_ns <= now_ns - self.window_ns or spent_ns > now_ns:
            return          # already back (or not yet spent: the caller's clock is behind the log's)
        spends = self._spends
        i = len(spends)
        while i > 0 and spends[i - 1] > spent_ns:
            i -= 1
        spends.insert(i, spent_ns)

    def last_spend_ns(self) -> int | None:
        """Time of the most recent spend still inside the window (as of the last call), or None."""
        return self._spends[-1] if self._spends else None

    def next_free_ns(self, now_ns: int, tokens: int) -> int:
        """Earliest time ``>= now_ns`` at which ``tokens`` tokens are free, if nothing else is spent.

        Raises:
          ThrottleConfigError: If ``tokens`` is not in ``1..capacity`` (it could never be satisfied).
        """
        if not 1 <= tokens <= self.capacity:
            raise ThrottleConfigError(f"tokens must be in 1..{self.capacity}, got {tokens}")
        self._observe(now_ns)
        allowed = self.capacity - tokens  # spends that may still be in the window
        excess = len(self._spends) - allowed
        if excess <= 0:
            return now_ns
        # The oldest `excess` spends must leave the window; a spend at s is gone at s + window_ns.
        return self._spends[excess - 1] + self.window_ns

    def next_available_ns(self, now_ns: int, urgent: bool = False) -> int:
        """Earliest time ``>= now_ns`` at which a request of this class could succeed (no further spends)."""
        return self.next_free_ns(now_ns, 1 if urgent else 1 + self.reserve)

    def __repr__(self) -> str:
        return (f"TokenBucket(capacity={self.capacity}, window_ns={self.window_ns}, reserve={self.reserve}, "
                f"spent={len(self._spends)})")


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a new pair may start now, and why (a short log-ready reason)."""

    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class AutoPauseEvent:
    """Auto-pause of new entries switched ``on`` or off at ``at_ns`` (the exact crossing time).

    ``utilisation`` is orders spent in the window / capacity at that instant (0..1).
    """

    on: bool
    at_ns: int
    utilisation: float

    @property
    def name(self) -> str:
        """``'AUTO-PAUSE ON'`` or ``'AUTO-PAUSE OFF'`` (the Slack/event-feed label)."""
        return "AUTO-PAUSE ON" if self.on else "AUTO-PAUSE OFF"


@dataclass(frozen=True, slots=True)
class ThrottleSnapshot:
    """Throttle state at ``at_ns`` for the GUI, ``arbctl status`` and telemetry.

    Attributes:
      orders_free: Order tokens free now, reserve included (what an urgent cancel/hedge could take).
      orders_free_for_entries: Order tokens a non-urgent order could take (``orders_free - reserve``, ≥ 0).
      orders_reserved: Tokens kept for cancels and hedges.
      utilisation: Orders spent in the window / capacity (0..1).
      paused: Auto-pause of new entries is on.
      pause_condition_since_ns: Since when utilisation has been ≥ threshold without a break (None if not).
      paused_since_ns: When the current auto-pause began (None if not paused).
    """

    at_ns: int
    orders_capacity: int
    orders_free: int
    orders_free_for_entries: int
    orders_reserved: int
    orders_spent: int
    queries_capacity: int
    queries_free: int
    utilisation: float
    paused: bool
    pause_condition_since_ns: int | None
    paused_since_ns: int | None
    autopause_enabled: bool
    window_ns: int


class _UtilisationTracker:
    """Exact "utilisation ≥ threshold held for ``sustain_ns``" detector over a sliding window.

    Utilisation is a step function of time: it rises at spends and falls when a spend leaves the
    window (``t + window_ns``). The tracker keeps its own copy of the spends and replays every expiry in
    time order, so the result does not depend on how often it is polled: a dip between two polls is
    seen, and the pause switches on exactly at ``start + sustain_ns``. A dip of zero length (a spend
    leaving the window at the same nanosecond another is made) counts as a break.
    """

    __slots__ = ("capacity", "window_ns", "threshold", "sustain_ns", "enabled", "_spends", "_since",
                 "_paused_since", "_events")

    def __init__(self, capacity: int, window_ns: int, threshold: float, sustain_ns: int, enabled: bool) -> None:
        if not 0 < threshold <= 1:
            raise ThrottleConfigError(f"auto-pause threshold must be in (0, 1], got {threshold!r}")
        if sustain_ns < 1:
            raise ThrottleConfigError(f"auto-pause sustain must be > 0 ns, got {sustain_ns!r}")
        self.capacity = capacity
        self.window_ns = window_ns
        self.threshold = threshold
        self.sustain_ns = sustain_ns
        self.enabled = enabled
        self._spends: deque[int] = deque()
        self._since: int | None = None          # start of the current run at/above threshold
        self._paused_since: int | None = None
        self._events: list[AutoPauseEvent] = []

    def _util(self) -> float:
        return len(self._spends) / self.capacity

    def _above(self) -> bool:
        return self._util() >= self.threshold

    def advance(self, now_ns: int) -> None:
        """Replay every expiry up to ``now_ns`` (inclusive), recording ON/OFF transitions."""
        spends = self._spends
        while True:
            next_exp = spends[0] + self.window_ns if spends else None
            if self.enabled and self._since is not None and self._paused_since is None:
                on_at = self._since + self.sustain_ns
                # ON only if the condition still holds at the instant on_at (no expiry at or before it).
                if on_at <= now_ns and (next_exp is None or on_at < next_exp):
                    self._paused_since = on_at
                    self._events.append(AutoPauseEvent(True, on_at, self._util()))
            if next_exp is None or next_exp > now_ns:
                return
            while spends and spends[0] + self.window_ns == next_exp:
                spends.popleft()
            self._fall(next_exp)

    def _fall(self, at_ns: int) -> None:
        if not self._above():
            self._since = None
            if self._paused_since is not None:
                self._paused_since = None
                self._events.append(AutoPauseEvent(False, at_ns, self._util()))

    def on_spend(self, now_ns: int) -> None:
        self.advance(now_ns)
        self._spends.append(now_ns)
        if self._since is None and self._above():
            self._since = now_ns

    def record(self, spent_ns: int) -> None:
        """A spend someone else made at ``spent_ns`` (already advanced past it); ignored when older than
        the last spend known (the exact expiry replay needs spends in time order)."""
        if self._spends and spent_ns < self._spends[-1]:
            return
        self._spends.append(spent_ns)
        if self._since is None and self._above():
            self._since = spent_ns

    def on_release(self, now_ns: int) -> None:
        self.advance(now_ns)
        if self._spends:
            self._spends.pop()
            self._fall(now_ns)

    @property
    def paused(self) -> bool:
        return self._paused_since is not None

    @property
    def since_ns(self) -> int | None:
        return self._since

    @property
    def paused_since_ns(self) -> int | None:
        return self._paused_since

    def drain(self) -> list[AutoPauseEvent]:
        events, self._events = self._events, []
        return events


class OrderThrottle:
    """Orders and queries buckets, pair admission and orders/s auto-pause, on one ``now_ns`` timeline.

    * Orders: ``orders_per_window`` tokens per ``window_ns`` (cancels count), ``reserve`` of them only
      for urgent requests (cancels, hedges).
    * Queries: ``queries_per_window`` tokens per ``window_ns``, no reserve.
    * A new pair starts only with ≥ ``min_free_to_start`` order tokens free and auto-pause off.
    * Auto-pause: ON when orders utilisation ≥ ``autopause_threshold`` has held continuously for
      ``autopause_sustain_ns``; OFF as soon as it falls below the threshold. It only stops *new pairs*
      (:meth:`can_start_pair`); :meth:`acquire_order` is not gated by it, so hedges and cancels always
      proceed. Transitions are collected exactly (see :meth:`update`) whichever method observes them.

    Build it from the configuration with :meth:`from_config`.
    """

    def __init__(
        self,
        *,
        orders_per_window: int = 5,
        queries_per_window: int = 5,
        reserve: int = 2,
        min_free_to_start: int = 4,
        window_ns: int = NS_PER_S + 20 * NS_PER_MS,
        autopause_threshold: float = 0.8,
        autopause_sustain_ns: int = 5 * NS_PER_S,
        autopause_enabled: bool = True,
    ) -> None:
        if not reserve < min_free_to_start <= orders_per_window:
            raise ThrottleConfigError(
                f"need reserve ({reserve}) < min_free_to_start ({min_free_to_start}) ≤ orders_per_window "
                f"({orders_per_window})")
        self._orders = TokenBucket(orders_per_window, window_ns, reserve)
        self._queries = TokenBucket(queries_per_window, window_ns, 0)
        self.min_free_to_start = min_free_to_start
        self._pause = _UtilisationTracker(orders_per_window, window_ns, autopause_threshold,
                                          autopause_sustain_ns, autopause_enabled)
        self._pause_reason = (f"auto-pause: orders at {_fmt_pct(autopause_threshold)} of cap for "
                              f"{_fmt_seconds(autopause_sustain_ns)} s")

    @classmethod
    def from_config(cls, cfg: EngineConfig) -> OrderThrottle:
        """Build from ``throttling``, ``kiwoom.rate_limits`` and ``telemetry.orders_utilization_autopause``."""
        th = cfg.throttling
        ap = cfg.telemetry.orders_utilization_autopause
        return cls(
            orders_per_window=th.orders_bucket_per_sec,
            queries_per_window=th.queries_bucket_per_sec,
            reserve=cfg.kiwoom.rate_limits.reserve_order_tokens,
            min_free_to_start=th.min_tokens_free_to_start_new_pair,
            window_ns=NS_PER_S + th.window_margin_ms * NS_PER_MS,
            autopause_threshold=ap.threshold,
            autopause_sustain_ns=s_to_ns(ap.sustain_seconds),
            autopause_enabled=ap.enabled,
        )

    # -- observation -------------------------------------------------------------------------------

    def _observe(self, now_ns: int) -> None:
        self._orders.spent_in_window(now_ns)   # raises TimeWentBackwardsError before any state changes
        self._pause.advance(now_ns)

    def update(self, now_ns: int) -> list[AutoPauseEvent]:
        """Bring auto-pause up to ``now_ns`` and return every transition since the last call, in order.

        Each event's ``at_ns`` is the exact crossing time, which may be earlier than ``now_ns`` when
        nothing observed the throttle in between. Call it on every timer tick and after orders.
        """
        self._observe(now_ns)
        return self._pause.drain()

    def utilisation(self, now_ns: int) -> float:
        """Orders spent in the last window / orders capacity (0..1)."""
        self._observe(now_ns)
        return self._orders.spent_in_window(now_ns) / self._orders.capacity

    def paused(self, now_ns: int) -> bool:
        """Whether auto-pause of new entries is on at ``now_ns``."""
        self._observe(now_ns)
        return self._pause.paused

    # -- decisions ---------------------------------------------------------------------------------

    def can_start_pair(self, now_ns: int) -> Admission:
        """May a new pair start at ``now_ns``? Needs auto-pause off and ≥ ``min_free_to_start`` tokens free.

        This only checks; the pair then takes its tokens with :meth:`acquire_order`.
        """
        self._observe(now_ns)
        if self._pause.paused:
            return Admission(False, self._pause_reason)
        free = self._orders.free(now_ns)
        if free < self.min_free_to_start:
            return Admission(False, f"tokens {free} free < {self.min_free_to_start} needed")
        return Admission(True, f"tokens {free} free ≥ {self.min_free_to_start} needed")

    def acquire_order(self, now_ns: int, urgent: bool) -> bool:
        """Take one order token (SendOrder, cancels included). Urgent = cancel or hedge (may use the reserve)."""
        self._observe(now_ns)
        if not self._orders.try_acquire(now_ns, urgent):
            return False
        self._pause.on_spend(now_ns)
        return True

    def release_order(self, now_ns: int) -> bool:
        """Return the last order token: Kiwoom answered ``-308``, so that call did not count.

        Returns:
          True if a token was returned (False if it had already left the window).
        """
        self._observe(now_ns)
        if not self._orders.release_last(now_ns):
            return False
        self._pause.on_release(now_ns)
        return True

    def refund_order(self, spent_ns: int, now_ns: int) -> bool:
        """Return the order token spent at ``spent_ns``: Kiwoom answered ``-308`` for that call."""
        self._observe(now_ns)
        if not self._orders.release_at(spent_ns, now_ns):
            return False
        self._pause.on_release(now_ns)
        return True

    def record_spend(self, spent_ns: int, now_ns: int) -> None:
        """Count an order token another Throttler spent at ``spent_ns`` (rebuilding after a restart; see
        :meth:`TokenBucket.record_spend`). Auto-pause hears of it when it is not older than the last spend."""
        self._observe(now_ns)
        self._orders.record_spend(spent_ns, now_ns)
        if spent_ns > now_ns - self._orders.window_ns:
            self._pause.record(spent_ns)

    def acquire_query(self, now_ns: int) -> bool:
        """Take one TR query token (CommRqData, condition searches)."""
        self._observe(now_ns)
        return self._queries.try_acquire(now_ns)

    def release_query(self, now_ns: int) -> bool:
        """Return the last query token (the TR was refused before it counted, e.g. ``-200``)."""
        self._observe(now_ns)
        return self._queries.release_last(now_ns)

    # -- planning ----------------------------------------------------------------------------------

    def next_order_ns(self, now_ns: int, urgent: bool = False) -> int:
        """Earliest time ≥ ``now_ns`` at which :meth:`acquire_order` would succeed, if nothing else is spent."""
        self._observe(now_ns)
        return self._orders.next_available_ns(now_ns, urgent)

    def next_query_ns(self, now_ns: int) -> int:
        """Earliest time ≥ ``now_ns`` at which :meth:`acquire_query` would succeed, if nothing else is spent."""
        self._observe(now_ns)
        return self._queries.next_available_ns(now_ns)

    def next_admission_ns(self, now_ns: int) -> int:
        """Earliest time ≥ ``now_ns`` with ``min_free_to_start`` tokens free (ignores auto-pause)."""
        self._observe(now_ns)
        return self._orders.next_free_ns(now_ns, self.min_free_to_start)

    def snapshot(self, now_ns: int) -> ThrottleSnapshot:
        """Everything the GUI/status line shows about throttling, at ``now_ns``."""
        self._observe(now_ns)
        orders = self._orders
        spent = orders.spent_in_window(now_ns)
        return ThrottleSnapshot(
            at_ns=now_ns,
            orders_capacity=orders.capacity,
            orders_free=orders.capacity - spent,
            orders_free_for_entries=orders.free_for(now_ns, urgent=False),
            orders_reserved=orders.reserve,
            orders_spent=spent,
            queries_capacity=self._queries.capacity,
            queries_free=self._queries.free(now_ns),
            utilisation=spent / orders.capacity,
            paused=self._pause.paused,
            pause_condition_since_ns=self._pause.since_ns,
            paused_since_ns=self._pause.paused_since_ns,
            autopause_enabled=self._pause.enabled,
            window_ns=orders.window_ns,
        )


def _fmt_pct(fraction: float) -> str:
    pct = fraction * 100
    return f"{pct:.0f}%" if math.isclose(pct, round(pct)) else f"{pct:.1f}%"


def _fmt_seconds(ns: int) -> str:
    s = ns / NS_PER_S
    return f"{s:.0f}" if math.isclose(s, round(s)) else f"{s:g}"
