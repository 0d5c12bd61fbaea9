"""Risk admission and kill switches (SPEC §4), pure and clock-injected.

:class:`RiskGate` decides whether a signal may start a pair and keeps the kill-switch state:

* engine armed (session clock) and not disarmed by a kill switch or the operator;
* per symbol at most ``max_outstanding_pairs_per_symbol`` (overrides allowed) active slices, at
  most ``max_concurrent_symbols`` symbols active, at most ``max_trips_per_symbol_per_day`` pairs
  per symbol per day;
* symbol cooldown (after a miss, reject or back-off) and freezes:
  3 rejects in 60 s on a symbol → frozen 60 s; exposure older than ``t_hedge_ms + grace`` →
  forced flat and frozen; session loss beyond ``max_session_loss_krw`` → disarm; bridge
  disconnect or FID 215 mismatch → disarm.
Every freeze/disarm returns a :class:`KillSwitchEvent` with a reason, for the audit and alerts.

:class:`RefusalStormDetector` watches the broker's order-rate refusals (-308 and the bridge's own guard):
many in a short time mean something else spends the account's order budget or the clocks disagree, and the
operator must hear of it even though each refusal is retried.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.clock import kst_date

if TYPE_CHECKING:
    from config.schema import EngineConfig


@dataclass(frozen=True, slots=True)
class KillSwitchEvent:
    """A freeze or disarm: ``kind`` in {'reject_freeze','unhedged_freeze','session_loss','disconnect',
    'market_operation_mismatch','operator','flatten_failed','reconcile_mismatch'}; ``code`` empty for
    engine-wide events; ``until_ns`` None for a disarm and for a freeze that lasts until the operator
    re-arms the code."""

    kind: str
    code: str
    reason: str
    t_ns: int
    until_ns: int | None = None


@dataclass(frozen=True, slots=True)
class RejectSpikeEvent:
    """``rejects`` entry rejects on ``code`` within ``window_s``; ``freeze`` is the freeze it caused
    (None with kill switches off), ``freeze_s`` how long a freeze lasts."""

    code: str
    rejects: int
    window_s: int
    frozen: bool
    freeze_s: int
    t_ns: int
    freeze: KillSwitchEvent | None = None


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits from config (``execution``, ``risk``) in engine units."""

    max_concurrent_symbols: int
    max_outstanding_per_symbol: int
    max_trips_per_symbol_per_day: int
    reject_count: int
    reject_window_ns: int
    reject_freeze_ns: int
    unhedged_freeze_ns: int
    max_session_loss_krw: float
    enabled: bool = True

    @classmethod
    def from_config(cls, cfg: EngineConfig) -> RiskLimits:
        r, e = cfg.risk, cfg.execution
        return cls(max_concurrent_symbols=e.max_concurrent_symbols,
                   max_outstanding_per_symbol=e.max_outstanding_pairs_per_symbol,
                   max_trips_per_symbol_per_day=r.max_trips_per_symbol_per_day,
                   reject_count=r.reject_freeze.rejects, reject_window_ns=r.reject_freeze.window_s * 10**9,
                   reject_freeze_ns=r.reject_freeze.freeze_s * 10**9, unhedged_freeze_ns=r.unhedged_freeze_s * 10**9,
                   max_session_loss_krw=float(r.max_session_loss_krw), enabled=r.kill_switches_enabled)


@dataclass(frozen=True, slots=True)
class Decision:
    ok: bool
    reason: str


class RiskGate:
    """Admission state of the PairManager (see module docstring). Times are engine-clock ns.

    Call :meth:`admit` for a signal, then :meth:`started` when its pair starts and :meth:`finished`
    when it ends; feed rejects, unhedged timeouts and the session PnL to the kill-switch methods,
    which return the :class:`KillSwitchEvent` to publish (None when nothing tripped).
    """

    def __init__(self, limits: RiskLimits, per_symbol_max: dict[str, int] | None = None) -> None:
        self.limits = limits
        self.per_symbol_max = per_symbol_max or {}
        self.active: dict[str, int] = defaultdict(int)
        self.trips: dict[str, int] = defaultdict(int)
        self.cooldown_until: dict[str, int] = {}
        self.frozen_until: dict[str, int] = {}
        self.rejects: dict[str, deque[int]] = defaultdict(deque)
        self.disarmed_reason: str | None = None
        self.disarmed_kind: str | None = None
        self.held: dict[str, tuple[str, str]] = {}      # code -> (kind, reason): frozen until re-armed
        self.events: list[KillSwitchEvent] = []
        self.trips_day: dt.date | None = None   # the Asia/Seoul day the trip counts belong to
        self.muted: dict[str, str] = {}           # code -> the operator's reason: no new pairs until unmuted

    def _roll_day(self, now_ns: int) -> None:
        """Trip counts are per Asia/Seoul trading day: a replay of several daily files starts
        each day with none."""
        day = kst_date(now_ns)
        if day != self.trips_day:
            self.trips_day = day
            self.trips.clear()

    # -- admission --------------------------------------------------------------------------
    def admit(self, code: str, now_ns: int, armed: bool, arm_reason: str = "") -> Decision:
        """May a new pair start on ``code`` now? (``armed`` comes from the session clock.)"""
        self._roll_day(now_ns)
        if self.disarmed_reason is not None:
            return Decision(False, f"disarmed: {self.disarmed_reason}")
        if not armed:
            return Decision(False, f"not armed: {arm_reason}" if arm_reason else "not armed")
        if code in self.held:
            return Decision(False, f"{code} frozen until re-armed ({self.held[code][1]})")
        if code in self.muted:
            return Decision(False, f"{code} muted by the operator")
        if self.frozen_until.get(code, 0) > now_ns:
            return Decision(False, f"{code} frozen until {self.frozen_until[code]}")
        if self.cooldown_until.get(code, 0) > now_ns:
            return Decision(False, f"{code} cooling down")
        cap = self.per_symbol_max.get(code, self.limits.max_outstanding_per_symbol)
        if self.active[code] >= cap:
            return Decision(False, f"{code} has {self.active[code]} slice(s) outstanding (max {cap})")
        busy = sum(1 for c, n in self.active.items() if n > 0)
        if self.active[code] == 0 and busy >= self.limits.max_concurrent_symbols:
            return Decision(False, f"{busy} symbols active (max {self.limits.max_concurrent_symbols})")
        if self.trips[code] >= self.limits.max_trips_per_symbol_per_day:
            return Decision(False, f"{code} reached {self.trips[code]} pairs today "
                                   f"(max {self.limits.max_trips_per_symbol_per_day})")
        return Decision(True, "ok")

    def started(self, code: str) -> None:
        self.active[code] += 1
        self.trips[code] += 1

    def finished(self, code: str, now_ns: int, outcome: str, cooldown_ns: int) -> None:
        """A pair on ``code`` ended; misses, rejects and back-offs cool the symbol down."""
        self.active[code] = max(0, self.active[code] - 1)
        if outcome in ("missed", "rejected", "backoff", "denied"):
            self.cool(code, now_ns + cooldown_ns)
        if outcome == "denied":
            self.trips[code] = max(0, self.trips[code] - 1)   # never reached the broker

    def cool(self, code: str, until_ns: int) -> None:
        self.cooldown_until[code] = max(self.cooldown_until.get(code, 0), until_ns)

    # -- kill switches ----------------------------------------------------------------------
    def on_reject(self, code: str, now_ns: int) -> RejectSpikeEvent | None:
        """A rejected entry on ``code``: the engine's one reject-spike rule.

        ``reject_count`` rejects within ``reject_window_ns`` make a spike (counting starts afresh after
        it); with kill switches on, the spike also freezes the code (``freeze`` is that event).
        """
        q = self.rejects[code]
        q.append(now_ns)
        while q and q[0] <= now_ns - self.limits.reject_window_ns:
            q.popleft()
        if len(q) < self.limits.reject_count:
            return None
        n = len(q)
        q.clear()
        window_s = self.limits.reject_window_ns // 10**9
        freeze = None
        if self.limits.enabled:
            freeze = self._freeze("reject_freeze", code, now_ns, self.limits.reject_freeze_ns,
                                  f"{self.limits.reject_count} rejects in {window_s} s")
        return RejectSpikeEvent(code, n, window_s, freeze is not None, self.limits.reject_freeze_ns // 10**9,
                                now_ns, freeze)

    def on_unhedged_timeout(self, code: str, now_ns: int, age_ms: float) -> KillSwitchEvent | None:
        if not self.limits.enabled:
            return None
        return self._freeze("unhedged_freeze", code, now_ns, self.limits.unhedged_freeze_ns,
                            f"exposure unhedged for {age_ms:.0f} ms: forced flat")

    def on_pnl(self, session_net_krw: float, now_ns: int) -> KillSwitchEvent | None:
        if (self.limits.enabled and self.disarmed_reason is None
                and session_net_krw < -self.limits.max_session_loss_krw):
            return self.disarm("session_loss", now_ns, f"session loss {session_net_krw:,.0f} KRW beyond "
                                                       f"-{self.limits.max_session_loss_krw:,.0f}")
        return None

    def disarm(self, kind: str, now_ns: int, reason: str) -> KillSwitchEvent | None:
        if self.disarmed_reason is not None:
            return None
        self.disarmed_reason = reason
        self.disarmed_kind = kind
        ev = KillSwitchEvent(kind, "", reason, now_ns)
        self.events.append(ev)
        return ev

    def rearm_engine(self, kind: str) -> bool:
        """Lift a disarm of ``kind`` (only that kind: e.g. too many mismatched codes once the operator has
        re-armed enough of them). Returns whether it was lifted."""
        if self.disarmed_kind != kind:
            return False
        self.disarmed_reason = self.disarmed_kind = None
        return True

    def hold(self, kind: str, code: str, now_ns: int, reason: str) -> KillSwitchEvent | None:
        """Freeze ``code`` until the operator re-arms it (:meth:`release`). None if it already was."""
        if code in self.held:
            return None
        self.held[code] = (kind, reason)
        ev = KillSwitchEvent(kind, code, reason, now_ns, None)
        self.events.append(ev)
        return ev

    def release(self, code: str) -> tuple[str, str] | None:
        """Re-arm ``code`` held by :meth:`hold`; returns what held it, or None if it was not held."""
        return self.held.pop(code, None)

    def _freeze(self, kind: str, code: str, now_ns: int, dur_ns: int, reason: str) -> KillSwitchEvent:
        until = now_ns + dur_ns
        self.frozen_until[code] = max(self.frozen_until.get(code, 0), until)
        ev = KillSwitchEvent(kind, code, reason, now_ns, until)
        self.events.append(ev)
        return ev

    # -- the operator ----------------------------------------------------------------------
    def mute(self, code: str, reason: str) -> bool:
        """No new pairs on ``code`` until :meth:`unmute` (pairs in flight finish). False if already muted."""
        if code in self.muted:
            return False
        self.muted[code] = reason
        return True

    def unmute(self, code: str) -> bool:
        """Undo :meth:`mute`; False if ``code`` was not muted."""
        return self.muted.pop(code, None) is not None

    def rearm_code(self, code: str, now_ns: int) -> bool:
        """The operator re-arms ``code``: its freeze and its mute are lifted. False if neither was set."""
        frozen = self.frozen_until.pop(code, 0) > now_ns
        return self.unmute(code) or frozen

    def rearm(self) -> str | None:
        """The operator re-arms the engine: the engine-wide disarm (the operator's own or a kill switch's)
        is lifted; returns the reason it had, None if it was not disarmed. The session guard still decides."""
        reason, self.disarmed_reason = self.disarmed_reason, None
        return reason

    def frozen(self, now_ns: int) -> dict[str, int]:
        """Codes frozen at ``now_ns`` and until when (engine ns)."""
        return {c: u for c, u in self.frozen_until.items() if u > now_ns}

    @property
    def active_pairs(self) -> int:
        return sum(self.active.values())


#: A refusal storm: this many order-rate refusals within REFUSAL_STORM_WINDOW_NS.
REFUSAL_STORM_COUNT = 10
REFUSAL_STORM_WINDOW_NS = 10 * 10**9


@dataclass(frozen=True, slots=True)
class RefusalStormEvent:
    """``refusals`` order-rate refusals within ``window_s`` up to ``t_ns`` (``total`` in the session)."""

    refusals: int
    window_s: int
    total: int
    t_ns: int


class RefusalStormDetector:
    """At least ``count`` refusals within ``window_ns`` make a storm; one event per window at most (a storm
    that goes on raises another event every window, with that window's count)."""

    def __init__(self, count: int = REFUSAL_STORM_COUNT, window_ns: int = REFUSAL_STORM_WINDOW_NS) -> None:
        if count < 1 or window_ns < 1:
            raise ValueError(f"refusal storm needs count ≥ 1 and window_ns ≥ 1, got {count}, {window_ns}")
        self.count = count
        self.window_ns = window_ns
        self.total = 0
        self._times: deque[int] = deque()
        self._quiet_until_ns: int | None = None

    def on_refusal(self, now_ns: int) -> RefusalStormEvent | None:
        """One refusal at ``now_ns``; the storm event when this one makes (or continues) a storm."""
        self.total += 1
        q = self._times
        q.append(now_ns)
        while q and q[0] <= now_ns - self.window_ns:
            q.popleft()
        if self._quiet_until_ns is not None and now_ns < self._quiet_until_ns:
            return None
        if len(q) < self.count:
            return None
        self._quiet_until_ns = now_ns + self.window_ns
        return RefusalStormEvent(len(q), self.window_ns // 10**9, self.total, now_ns)
