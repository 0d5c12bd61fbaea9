"""The pair desk: everything the PairManager decides, as pure code driven by events and a clock.

One :class:`PairDesk` runs a session's pairs. Per step it takes the broker's events (in time order,
:mod:`core.desk_events`) and the SpreadEngine's signals, and returns what must happen:
order and cancel requests and token refunds for the Throttler (:mod:`core.order_flow`) and
observations for Telemetry (:mod:`core.observations`). It owns:

* the **pair state machines** (:class:`core.pair_fsm.PairStateMachine`), one per slice, and the
  **matching** of our request refs to the broker's order numbers (a notice whose number is not bound
  yet — it overtook the ack — waits until the ack binds it);
* the **timer heap**: before each event, every machine timer due by the event's ``t_ns`` fires (so an
  ack is never taken for silence because a later event came first), then the step-end checks;
* **admission** with :class:`core.risk.RiskGate` and the session clock (:class:`core.session.SessionClock`),
  the **kill switches** (reject spike, unhedged exposure, session loss, disconnect, market-operation
  mismatch, a slice left with shares) and the one **reject-spike rule**;
* the one **position and PnL ledger** (:class:`core.ledger.Ledger`): fills are booked once and the
  observations carry the totals;
* **recovery by replay**: a desk that replaces a dead one rebuilds every pair from the bridge's order
  log and the credited steps that carried events; orders already placed are not requested again and
  observations already reported are not repeated;
* **the account** (:class:`core.account.AccountModel`, SPEC §10): the broker's holdings and cash reports
  and position notices, the engine's fills between them; a pair is admitted only when the sell venue's code
  has sellable shares for the slice and the cash covers the buy at its flatten bound (after what unresolved
  pairs claim); a holdings mismatch freezes its code until the operator re-arms it (too many disarm);
* **the current touch** of every code, from the SpreadEngine's step (:class:`core.signal.L1Touches`): escalation
  and unwind orders are priced from the cheap venue's latest bid/ask;
* **the session end**: past the guard end the step summary says so (the bridge then stops the run once the
  open pairs are flat and the final reconciliation is in);
* **market phases and volatility interruptions** (SPEC §11, :mod:`core.phases`): a signal starts a pair only
  when neither venue has the code in a VI and both stay continuous for the code's ``t_hedge_ms`` plus
  ``sessions.phase_margin_ms`` (otherwise it is held, counted by reason); every open pair is told what each venue
  allows for its code (:class:`~core.pair_events.VenueChanged`: open, call, shut) whenever that changes, so it
  never sends an IOC into a call and flattens on the other venue when its hedge venue stops; the desk wakes at
  every phase boundary while pairs are open.

Nothing here reads a clock, sends a message or knows the broker's codes: the actor around it is a shell.
"""
from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from core.account import AccountModel, Claim, Holding, Mismatch, pair_claim
from core.clock import kst_date, kst_datetime
from core.costs import CostModel, settlement_date
from core.desk_events import (
    ArmRequested,
    BrokerNotice,
    CashReported,
    ConfigReplaced,
    ConnectionChanged,
    DisarmRequested,
    HoldingsReported,
    HoldingUpdated,
    MarketOperationNotice,
    OperatorRequested,
    OrderAccepted,
    OrderAcknowledged,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderRefused,
    OrderSendResult,
    SendOutcome,
    StepEvent,
    VolatilityInterruption,
)
from core.enums import Direction, MarketOperation, OperatorAction, OrderRole, Side, Venue
from core.ledger import Ledger
from core.observations import (
    AccountReported,
    AuditEvent,
    CodeRearmed,
    ConnectionObserved,
    ErrorRaised,
    FillBooked,
    FlattenFailed,
    HedgeTimedOut,
    KillSwitchTripped,
    LatencyObserved,
    LatencyStage,
    Observation,
    OperatorActed,
    OrderAudited,
    PairClosed,
    ReconcileMismatch,
    RefusalStorm,
    RejectSpike,
    SessionChanged,
    SignalsHeld,
    VolatilityObserved,
)
from core.order_flow import CancelRequest, OrderRequest, PlacedCancel, PlacedOrder, TakeContext, TokenRefund
from core.pair_events import (
    Accepted,
    BookTouch,
    CancelConfirmed,
    EmitEvent,
    Filled,
    Finished,
    ForceFlatten,
    OrderStatus,
    PairParams,
    Rejected,
    SendCancel,
    SendOrder,
    SendRateLimited,
    Sent,
    Start,
    StartTimer,
    TimerFired,
    TrAck,
    VenueChanged,
)
from core.pair_fsm import PairStateMachine, buy_bound_px
from core.pair_journal import PairJournal
from core.phases import MarketPhases, VenueAccess, venue_access
from core.risk import KillSwitchEvent, RefusalStormDetector, RiskGate, RiskLimits
from core.session import SessionClock
from core.signal import L1Touches, Signal

if TYPE_CHECKING:
    from config.schema import EngineConfig
    from core.universe import Universe

__all__ = ["AccountRow", "DeskOutput", "PairDesk", "RecoveredStep", "StepSummary", "pair_params"]

NS_PER_MS = 1_000_000

DeskOutput = OrderRequest | CancelRequest | TokenRefund | Observation
"""What the desk asks its actor to do: send a request to the Throttler, or report an observation."""

#: Machine events worth an operator-visible error.
_ERROR_KINDS = frozenset({"protocol_violation", "order_lost", "order_given_up", "flatten_exhausted", "unknown_order"})


def pair_params(cfg: EngineConfig, code: str) -> PairParams:
    """The state-machine parameters of a slice on ``code`` (per-symbol t_hedge override honoured).

    Market styles only with ``router.allow_market_orders``: the entry as a market IOC when the operator
    prefers it, and then the flatten orders too; otherwise every order is price-bounded.
    """
    allow = cfg.router.allow_market_orders
    entry: Literal["ioc", "market"] = "market" if (allow and cfg.router.entry_leg.prefer == "market") else "ioc"
    pref = cfg.router.hedge_leg.prefer
    mid = pref == "mid" or (pref == "limit_or_mid" and cfg.router.hedge_leg.allow_nxt_mid_price)
    hedge: Literal["limit", "mid"] = "mid" if mid else "limit"
    flatten: Literal["limit_ioc", "market_ioc"] = "market_ioc" if entry == "market" else "limit_ioc"
    ex, risk = cfg.execution, cfg.risk
    return PairParams(t_hedge_ms=cfg.hedge_fallback_ms(code), tr_ack_timeout_ms=ex.tr_ack_timeout_ms,
                      cancel_timeout_ms=ex.cancel_timeout_ms, cooldown_ms=cfg.spread_engine.cooldown_ms,
                      retry_after_308_ms=ex.retry_after_308_ms, entry_style=entry, hedge_style=hedge,
                      max_cancel_attempts=ex.max_cancel_attempts, ack_grace_ms=ex.ack_grace_ms,
                      ioc_settle_ms=ex.ioc_settle_ms, max_flatten_orders=risk.max_flatten_orders,
                      flatten_style=flatten, flatten_slippage_ticks=risk.max_flatten_slippage_ticks,
                      allow_market_orders=allow)


@dataclass(frozen=True, slots=True)
class StepSummary:
    """What the desk tells the bridge when a step is done (its credit).

    ``next_deadline_ns``: when the desk next needs a step even without market data (a timer, an
    exposure deadline), or None. ``flat``: no open pair and no open position. ``requests``: orders and
    cancels requested in this step. ``session_over``: the guard window of the trading day has closed
    (no pair will start again today). ``idle_until_ns``, ``watched_syms``: see :meth:`PairDesk.idle_until_ns`.
    """

    next_deadline_ns: int | None
    flat: bool
    armed: bool
    requests: int
    session_over: bool = False
    idle_until_ns: int | None = None
    watched_syms: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One code of the account as the desk sees it (``arbctl symbols --account``): shares held, sellable
    after what open orders claim, expected by the engine's fills, whether it can be traded and why not."""

    code: str
    held: int
    sellable: int
    expected: int
    tradeable: bool
    why_not: str


@dataclass(frozen=True, slots=True)
class RecoveredStep:
    """A credited step of the dead desk, as the bridge logged it: its end time and its events."""

    step: int
    t_ns: int
    events: tuple[StepEvent, ...]


_Notice = OrderAccepted | OrderFilled | OrderCancelled | OrderRefused
#: Order statuses that mean the order reached the broker (a take the Throttler denied never did).
_AT_BROKER = frozenset({OrderStatus.PENDING_ACK, OrderStatus.UNCONFIRMED, OrderStatus.WORKING, OrderStatus.FILLED,
                        OrderStatus.CANCELLED, OrderStatus.LOST})


def _reached_broker(m: PairStateMachine) -> bool:
    """Whether an order of the pair reached the broker (only then can it change the account)."""
    return any(o.status in _AT_BROKER or o.filled for o in m.orders.values())
_Held = OrderSendResult | OrderAcknowledged


class PairDesk:
    """The session's pairs, risk, ledger and timers (see the module docstring).

    Args:
      cfg: the run's configuration.
      universe: the symbols (their markets select the sell tax).
      incarnation: 1 for the first desk of a run; a replacement gets the next number, so its new pair
        ids never collide with the dead desk's.
    """

    def __init__(self, cfg: EngineConfig, universe: Universe, incarnation: int = 1) -> None:
        self.cfg = cfg
        self.session = SessionClock(cfg.sessions)
        per_sym = {c: o.max_outstanding_pairs for c, o in cfg.symbols.per_symbol_overrides.items()
                   if o.max_outstanding_pairs}
        self.risk = RiskGate(RiskLimits.from_config(cfg), per_sym)
        self.refusal_storms = RefusalStormDetector()
        self.markets = {s.code: str(s.market) for s in universe.symbols}
        self.ledger: Ledger | None = None          # built at the first step: the tax year follows its date
        self.incarnation = incarnation
        self.pairs: dict[str, PairStateMachine] = {}
        self.active: set[str] = set()
        self._by_ref: dict[str, str] = {}           # order/cancel ref -> pair_id
        self._by_no: dict[str, str] = {}            # order number -> pair_id
        self._ref_no: dict[str, str] = {}           # ref -> order number
        self._no_ref: dict[str, str] = {}           # order number -> ref
        self._wire: dict[str, tuple[str, str]] = {}  # ref -> (wire style, screen) as the bridge sent it
        self._orphans: dict[str, list[_Notice]] = {}
        self._timers: list[tuple[int, int, str, str, int]] = []   # (deadline, seq, pair_id, kind, token)
        self._timer_seq = 0
        self._signal_ns: dict[str, int] = {}
        self._send_t: dict[str, int] = {}
        self._held: dict[str, list[_Held]] = {}     # results for refs no machine has asked for yet
        self._deferred: list[StepEvent] = []
        self._pair_seq = 0
        self.now_ns = 0
        self.armed = False
        self.arm_reason = "starting"
        self.phase = "starting"
        self.disarm_reason: str | None = None
        self._unhedged_killed: set[str] = set()
        self._mismatch_seen = False
        self._replaying = False
        self._replay_sent: set[str] = set()
        self.recovered_pairs = 0
        self._out: list[DeskOutput] = []
        self._requests = 0
        self._unreleased: dict[str, OrderRequest | CancelRequest] = {}   # ref -> request not yet answered
        # the account, the current touch, session end
        self.codes = tuple(s.code for s in universe.symbols)
        self.account = AccountModel(self.codes)
        self._sym = {c: i for i, c in enumerate(self.codes)}
        n = len(self.codes)
        self._touch = np.zeros((n, 4), dtype=np.int64)    # per code: KRX bid, ask, NXT bid, ask
        self._claimants: set[str] = set()                 # active pairs and finished ones with unresolved orders
        self._busy_ns: dict[str, int] = {}                # code -> last engine time an order of ours lived on it
        self._last_busy_ns = 0
        self.refused: dict[str, int] = {}                 # account refusals of signals, by reason
        self._fee_bps = max(cfg.fees.krx.broker_bps + cfg.fees.krx.regulatory_bps,
                            cfg.fees.nxt.broker_bps + cfg.fees.nxt.regulatory_bps)
        self._costs: dict[dt.date, tuple[CostModel, int]] = {}
        self._broker_cum: dict[str, tuple[int, int]] = {}  # order number -> broker's cumulative (fee, tax)
        self._take_sent_ns: dict[str, int] = {}
        self._flat_seen: set[str] = set()
        self._flatten_failed: set[str] = set()
        self._round_parts: dict[str, set[str]] = {}
        self.session_over = False
        self.journal = PairJournal()                # timelines of the newest pairs (the operator's view)
        # market phases and volatility interruptions (SPEC §11)
        self.phases = MarketPhases(cfg.sessions, self.session.is_trading_day)
        self.vi: dict[tuple[str, Venue], VolatilityInterruption] = {}
        self.vi_events = 0
        self.held: dict[str, int] = {}                    # signals held by the market, by reason
        self._held_reported: tuple[tuple[str, int], ...] = ()
        self._held_reported_ns = 0
        self._access_told: dict[str, dict[Venue, VenueAccess]] = {}   # pair -> what it was last told

    # -- the step ----------------------------------------------------------------------------------------
    def run_step(self, t_end_ns: int, events: Sequence[StepEvent], signals: Sequence[Signal],
                 admit_signals: bool = True, touches: L1Touches | None = None) -> tuple[list[DeskOutput], StepSummary]:
        """Handle one step: the current touch of the codes whose book changed (``touches``), its broker
        events in order (timers due before each fire first), the step-end checks at ``t_end_ns``, then the
        new signals (unless ``admit_signals`` is False: a replacement desk skips the signals its predecessor
        already acted on)."""
        self._out, self._requests = [], 0
        self._ensure_ledger(t_end_ns)
        changed = self._apply_touches(touches)
        for ev in events:
            t = getattr(ev, "t_ns", t_end_ns)
            self._fire_timers(t)
            self.now_ns = max(self.now_ns, t)
            self._on_event(ev)
        self._step_end_checks(t_end_ns)
        self._wake_unpriced(changed, t_end_ns)
        if admit_signals:
            for sig in signals:
                self._on_signal(sig, t_end_ns)
        out, self._out = self._out, []
        return out, StepSummary(self.next_deadline_ns(), self.flat, self.armed, self._requests, self.session_over,
                                self.idle_until_ns(), self.watched_syms())

    # -- the current touch -------------------------------------------------------------------------------
    def _apply_touches(self, touches: L1Touches | None) -> set[str]:
        """Store the step's touches; tell every open pair on a changed code its cheap venue's new touch.
        Returns the codes of open pairs whose book changed."""
        if touches is None or len(touches.sym) == 0:
            return set()
        sym = np.asarray(touches.sym, dtype=np.int64)
        ok = (sym >= 0) & (sym < len(self.codes))
        sym = sym[ok]
        self._touch[sym] = np.column_stack((touches.krx_bid[ok], touches.krx_ask[ok], touches.nxt_bid[ok],
                                            touches.nxt_ask[ok]))
        if not self.active:
            return set()
        moved = set(sym.tolist())
        changed = set()
        for pid in self.active:
            m = self.pairs[pid]
            i = self._sym.get(m.symbol)
            if i is not None and i in moved:
                changed.add(m.symbol)
                for venue in (m.cheap_venue, m.rich_venue):
                    bid, ask = self.touch_of(m.symbol, venue)
                    m.note_touch(bid, ask, venue)
        return changed

    def touch_of(self, code: str, venue: Venue) -> tuple[int, int]:
        """The latest (bid, ask) of ``code`` on ``venue`` the desk has seen (0 = unknown)."""
        i = self._sym.get(code)
        if i is None:
            return 0, 0
        t = self._touch[i]
        return (int(t[0]), int(t[1])) if venue is Venue.KRX else (int(t[2]), int(t[3]))

    def _wake_unpriced(self, changed: set[str], t_ns: int) -> None:
        """Pairs that waited for a price to flatten with get a :class:`BookTouch` once their code moved."""
        for pid in sorted(self.active):
            m = self.pairs[pid]
            if m.unpriced and m.symbol in changed:
                for venue in (m.rich_venue, m.cheap_venue):
                    bid, ask = self.touch_of(m.symbol, venue)
                    self._handle(pid, BookTouch(bid, ask, t_ns, venue))

    @property
    def flat(self) -> bool:
        """No open pair and no open position."""
        return not self.active and (self.ledger is None or self.ledger.flat)

    def next_deadline_ns(self) -> int | None:
        """The earliest engine time the desk must run again: a machine timer or an exposure deadline."""
        cands = [self._timers[0][0]] if self._timers else []
        if self.active:           # an open pair must hear of the next phase change when it happens
            cands.append(self.phases.next_change_ns(self.now_ns))
        grace = self.cfg.risk.unhedged_grace_ms * NS_PER_MS
        for pid in self.active:
            m = self.pairs[pid]
            if m.exposure_since_ns is not None and pid not in self._unhedged_killed:
                cands.append(m.exposure_since_ns + m.params.t_hedge_ms * NS_PER_MS + grace)
        return min(cands) if cands else None

    def idle_until_ns(self) -> int | None:
        """Until when (engine time, exclusive) a step with no broker event, no signal and no real data of a
        :meth:`watched_syms` code would change nothing in the desk but the touches it stores, so lockstep may
        leave such steps out (SPEC §7: the same run, fewer messages); None when any step may matter (an open
        position no pair manages).

        Such a step only runs the step-end checks: timers, phase changes and exposure deadlines of open pairs
        (:meth:`next_deadline_ns` bounds them), the session's arming and the notices' consistency (they change
        only at the session's next edge), and the held-signals report (due one second after the last one when
        the holds changed since).
        """
        if not self.flat and not self.active:
            return None
        cands = [self.session.next_change_ns(self.now_ns)]
        deadline = self.next_deadline_ns()
        if deadline is not None:
            cands.append(deadline)
        if tuple(sorted(self.held.items())) != self._held_reported:
            cands.append(self._held_reported_ns + 1_000_000_000)
        return min(cands)

    def watched_syms(self) -> tuple[int, ...]:
        """Universe indices of the codes of open pairs: their real data reaches the pairs (touches) in a step."""
        return tuple(sorted({i for pid in self.active if (i := self._sym.get(self.pairs[pid].symbol)) is not None}))

    def marked_pnl_krw(self) -> float:
        """Session net PnL with open shares at their last fill (see :meth:`core.ledger.Ledger.marked_net_krw`)."""
        return self.ledger.marked_net_krw() if self.ledger is not None else 0.0

    def open_positions(self) -> dict[str, int]:
        """Codes with a non-zero position from the engine's fills."""
        return self.ledger.open_positions() if self.ledger is not None else {}

    def _ensure_ledger(self, t_ns: int) -> None:
        if self.ledger is None:
            costs, _ = self._costs_of(kst_date(t_ns))
            self.ledger = Ledger(costs, self.markets, costs_for_date=lambda d: self._costs_of(d)[0])

    def _costs_of(self, trade_date: dt.date) -> tuple[CostModel, int]:
        """The cost model of trades on ``trade_date`` and their tax year (the T+2 settlement's year)."""
        found = self._costs.get(trade_date)
        if found is None:
            holidays = self.cfg.sessions.extra_holidays
            year = settlement_date(trade_date, holidays).year
            found = self._costs[trade_date] = (CostModel.from_config(self.cfg.fees, year), year)
        return found

    def _step_end_checks(self, t_ns: int) -> None:
        self._fire_timers(t_ns)
        self.now_ns = max(self.now_ns, t_ns)
        self._check_session(t_ns)
        self._tell_access(t_ns)
        self._check_unhedged(t_ns)
        self._report_held(t_ns)

    # -- market phases and volatility interruptions --------------------------------------------------------
    def access_of(self, code: str, venue: Venue, t_ns: int) -> VenueAccess:
        """What an order on ``code`` can do on ``venue`` at ``t_ns``: the venue's phase and the code's VI there."""
        return venue_access(self.phases.phase(venue, t_ns), (code, venue) in self.vi)

    def market_refusal(self, code: str, t_ns: int) -> tuple[str, str]:
        """Why a pair on ``code`` cannot start at ``t_ns`` because of the market, as (key, words); ('', '') when it
        can: a VI on either venue, or a venue that is not continuous for ``t_hedge_ms`` + ``phase_margin_ms``."""
        for venue in (Venue.KRX, Venue.NXT):
            if (code, venue) in self.vi:
                return "vi", f"{code} is in a volatility interruption on {venue.value}"
        need = t_ns + (self.cfg.t_hedge_ms(code) + self.cfg.sessions.phase_margin_ms) * NS_PER_MS
        for venue in (Venue.KRX, Venue.NXT):
            until = self.phases.continuous_until(venue, t_ns)
            if until is None or until < need:
                return "phase", self.phases.describe(venue, t_ns)
        return "", ""

    def _tell_access(self, t_ns: int) -> None:
        """Tell every open pair what each venue allows for its code now, when that changed."""
        for pid in sorted(self.active):
            m = self.pairs[pid]
            told = self._access_told.setdefault(pid, {})
            for venue in (m.cheap_venue, m.rich_venue):
                access = self.access_of(m.symbol, venue, t_ns)
                if told.get(venue, VenueAccess.OPEN) is not access:
                    told[venue] = access
                    why = (f"volatility interruption on {venue.value}" if (m.symbol, venue) in self.vi
                           else self.phases.describe(venue, t_ns))
                    self._handle(pid, VenueChanged(venue, access, t_ns, why))

    def _on_vi(self, ev: VolatilityInterruption) -> None:
        key = (ev.code, ev.venue)
        start = self.vi.get(key)
        if ev.active:
            if start is not None:
                return                      # a repeat of a start already seen
            self.vi[key] = ev
            self.vi_events += 1
            since = ev.t_ns
            what = f"VI start ({ev.kind.value}{f', trigger {ev.trigger_price:,}' if ev.trigger_price else ''})"
        else:
            self.vi.pop(key, None)
            since = start.t_ns if start is not None else 0
            what = "VI end" + (f" after {(ev.t_ns - since) / 1e9:.1f} s" if since else " (its start was not seen)")
        self._tell_access(ev.t_ns)          # open pairs on the code hear of it before the step's later events
        in_vi = tuple(sorted(f"{c}/{v.value}" for c, v in self.vi))
        self._observe(VolatilityObserved(ev.t_ns, ev.code, ev.venue, ev.active, ev.kind, ev.trigger_price, since,
                                         in_vi))
        self._audit(ev.t_ns, AuditEvent.VI, "", venue=ev.venue, code=ev.code, message=f"{what}; {ev.raw}".strip("; "))

    def _report_held(self, t_ns: int) -> None:
        held = tuple(sorted(self.held.items()))
        if held != self._held_reported and t_ns - self._held_reported_ns >= 1_000_000_000:
            self._held_reported, self._held_reported_ns = held, t_ns
            self._observe(SignalsHeld(t_ns, held))

    # -- recovery after a crash ----------------------------------------------------------------------
    def recover(self, orders: Sequence[PlacedOrder], cancels: Sequence[PlacedCancel],
                steps: Sequence[RecoveredStep], inflight_step: int) -> tuple[list[DeskOutput], bool]:
        """Rebuild every pair by replaying the bridge's log through fresh state machines.

        Credited steps are replayed as the dead desk ran them (events with the timers due between them,
        then the step-end checks); each pair is re-created from its take order (direction, qty and prices
        travel with it) at the moment it was admitted. Orders and cancels the log shows as placed are not
        requested again, observations already reported are not repeated. Returns the outputs (requests the
        dead desk had not made yet) and whether the signals of ``inflight_step`` must be skipped (its takes
        were already placed).
        """
        self._out, self._requests = [], 0
        if orders or steps:
            self._ensure_ledger(orders[0].token_ns if orders else steps[0].t_ns)
        self._replaying = True
        self._replay_sent = {o.intent.ref for o in orders} | {c.intent.ref for c in cancels}
        takes = sorted((po for po in orders if po.intent.role is OrderRole.TAKE and po.context is not None),
                       key=lambda po: po.token_ns)
        ti = 0
        try:
            for st in steps:
                # pairs admitted at the end of steps that left no trace in the log
                while ti < len(takes) and takes[ti].token_ns < st.t_ns:
                    self._step_end_checks(takes[ti].token_ns)
                    self._rebuild_pair(takes[ti])
                    ti += 1
                for ev in st.events:
                    t = getattr(ev, "t_ns", st.t_ns)
                    self._fire_timers(t)
                    self.now_ns = max(self.now_ns, t)
                    self._on_event(ev)
                self._step_end_checks(st.t_ns)
                while ti < len(takes) and takes[ti].token_ns <= st.t_ns:
                    self._rebuild_pair(takes[ti])
                    ti += 1
            # takes of the in-flight step: the dead desk already acted on its signals
            skip_inflight = inflight_step >= 0 and ti < len(takes)
            while ti < len(takes):
                self._rebuild_pair(takes[ti])
                ti += 1
            self.recovered_pairs = len(self.pairs)
        finally:
            self._replaying = False
        self._observe(ErrorRaised(
            self.now_ns, "PairManager",
            f"recovered after a restart (incarnation {self.incarnation}): {len(self.pairs)} pair(s) rebuilt from "
            f"{len(orders)} order(s) and {len(steps)} step(s), {len(self.active)} still open, "
            f"position {self.open_positions()}"))
        out, self._out = self._out, []
        return out, skip_inflight

    def _rebuild_pair(self, po: PlacedOrder) -> None:
        """Re-create the pair of a take from its log entry (its Start re-derives the take, which is not
        requested again: the desk is replaying)."""
        it = po.intent
        if it.pair_id in self.pairs or po.context is None:
            return
        ctx = po.context
        m = PairStateMachine(it.pair_id, it.symbol, ctx.direction, ctx.qty, rich_bid=ctx.rich_bid,
                             cheap_ask=ctx.cheap_ask, params=pair_params(self.cfg, it.symbol), cheap_bid=ctx.cheap_bid)
        self.pairs[it.pair_id] = m
        self.active.add(it.pair_id)
        self._claimants.add(it.pair_id)
        self._signal_ns[it.pair_id] = po.signal_ns
        self.risk.started(it.symbol)
        self.now_ns = max(self.now_ns, po.token_ns)
        self._handle(it.pair_id, Start(now_ns=po.token_ns))

    # -- timers ------------------------------------------------------------------------------------------
    def _fire_timers(self, upto_ns: int) -> None:
        while self._timers and self._timers[0][0] <= upto_ns:
            deadline, _, pid, kind, token = heapq.heappop(self._timers)
            self.now_ns = max(self.now_ns, deadline)
            self._handle(pid, TimerFired(kind=kind, token=token, now_ns=deadline))

    # -- events ------------------------------------------------------------------------------------------
    def _on_event(self, ev: StepEvent) -> None:
        if isinstance(ev, (OrderSendResult, OrderDenied)):
            self._unreleased.pop(ev.ref, None)
        if isinstance(ev, OrderSendResult):
            self._on_send_result(ev)
        elif isinstance(ev, OrderAcknowledged):
            self._on_ack(ev)
        elif isinstance(ev, (OrderAccepted, OrderFilled, OrderCancelled, OrderRefused)):
            self._on_notice(ev)
        elif isinstance(ev, OrderDenied):
            pid = self._by_ref.get(ev.ref)
            self._audit(ev.t_ns, AuditEvent.DENIED, pid or ev.pair_id, ref=ev.ref, message=ev.reason)
            if pid:
                self._handle(pid, Rejected(reason=f"not admitted: {ev.reason}", now_ns=ev.t_ns, order_ref=ev.ref),
                             denied=True)
        elif isinstance(ev, MarketOperationNotice):
            self.session.on_market_operation(ev.operation, ev.raw, ev.t_ns)
            known = ev.operation is not MarketOperation.UNKNOWN
            self._observe(SessionChanged(
                ev.t_ns, self.armed, "market-operation notice" if known
                else f"unknown market-operation code {ev.raw!r} (logged raw)",
                operation=ev.operation, raw=ev.raw, known=known, meaning=ev.meaning))
        elif isinstance(ev, ConnectionChanged):
            self._observe(ConnectionObserved(ev.t_ns, ev.connected, ev.reason))
            if not ev.connected and self.cfg.risk.disarm_on_disconnect:
                self._kill(self.risk.disarm("disconnect", ev.t_ns, f"bridge disconnected ({ev.reason})"))
        elif isinstance(ev, DisarmRequested):
            self._kill(self.risk.disarm("operator", self.now_ns, ev.reason))
        elif isinstance(ev, OperatorRequested):
            self._on_operator(ev)
        elif isinstance(ev, ConfigReplaced):
            self._on_config(ev)
        elif isinstance(ev, BrokerNotice):
            self._audit(ev.t_ns, AuditEvent.MESSAGE, "", screen_no=ev.screen_no, request_name=ev.request_name,
                        request_code=ev.request_code, message=ev.text)
        elif isinstance(ev, HoldingUpdated):
            # a fill of ours whose notice overtook its order's ack is not booked yet: no comparison then
            unbooked = any(isinstance(n, OrderFilled) and n.code == ev.code for ns in self._orphans.values()
                           for n in ns)
            mm = self.account.on_position_notice(ev.code, ev.holding_qty, ev.t_ns, check=not unbooked)
            if mm is not None:
                self._on_mismatch(mm)
                self._check_mismatch_limit(ev.t_ns)
        elif isinstance(ev, HoldingsReported):
            self._on_holdings(ev)
        elif isinstance(ev, CashReported):
            quiet = not self._claimants and self._last_busy_ns < ev.requested_ns
            self.account.on_cash_report(ev.orderable_krw, ev.deposit_krw, quiet)
            self._account_observed(ev.purpose, ev.t_ns, "cash")
        elif isinstance(ev, ArmRequested):
            self.risk.rearm_code(ev.code, self.now_ns)       # a timed freeze or a mute goes too
            self._rearm(ev.code, ev.reason)
        elif isinstance(ev, VolatilityInterruption):
            self._on_vi(ev)
        else:
            raise TypeError(f"not a desk event: {ev!r}")

    def _on_send_result(self, ev: OrderSendResult) -> None:
        pid = self._by_ref.get(ev.ref)
        if pid is None and ev.order is not None and ev.order.intent.role is OrderRole.TAKE \
                and ev.order.context is not None:
            # a take the dead desk requested that reached the bridge after the recovery log
            was, self._replaying = self._replaying, True
            self._replay_sent.add(ev.ref)
            try:
                self._rebuild_pair(ev.order)
            finally:
                self._replaying = was
            pid = self._by_ref.get(ev.ref)
        if pid is None:
            # an order or cancel of a pair whose machine has not asked for it yet (a predecessor's request
            # still travelling): held until the machine derives that ref
            self._held.setdefault(ev.ref, []).append(ev)
            return
        self._send_t[ev.ref] = ev.t_ns
        self._wire[ev.ref] = (ev.wire_style, ev.screen_no)
        is_cancel = self._is_cancel(pid, ev.ref)
        if ev.outcome is SendOutcome.SENT:
            self._audit(ev.t_ns, AuditEvent.CANCEL_SEND if is_cancel else AuditEvent.SEND, pid, ref=ev.ref,
                        wire_code=ev.wire_code)
            m = self.pairs.get(pid)
            view = m.orders.get(ev.ref) if m is not None else None
            if view is not None and view.role is OrderRole.TAKE:
                self._take_sent_ns.setdefault(pid, ev.t_ns)
            if view is not None and view.role is OrderRole.TAKE and ev.signal_ns and ev.send_ns:
                self._observe(LatencyObserved(ev.t_ns, LatencyStage.SIGNAL_TO_SEND, (ev.send_ns - ev.signal_ns) / 1e6))
            self._handle(pid, Sent(order_ref=ev.ref, now_ns=ev.t_ns))
        elif ev.outcome is SendOutcome.RATE_LIMITED:
            if not self._replaying:
                self._out.append(TokenRefund(ev.ref, ev.t_ns))
            self._audit(ev.t_ns, AuditEvent.SEND_REFUSED, pid, ref=ev.ref, wire_code=ev.wire_code, message=ev.reason)
            storm = None if self._replaying else self.refusal_storms.on_refusal(ev.t_ns)
            if storm is not None:
                self._observe(RefusalStorm(storm.t_ns, storm.refusals, storm.window_s, storm.total))
            self._handle(pid, SendRateLimited(order_ref=ev.ref, now_ns=ev.t_ns))
        else:
            self._audit(ev.t_ns, AuditEvent.REJECT, pid, ref=ev.ref, wire_code=ev.wire_code, message=ev.reason)
            self._handle(pid, Rejected(reason=ev.reason, now_ns=ev.t_ns, order_ref=ev.ref))

    def _on_ack(self, ev: OrderAcknowledged) -> None:
        ref = ev.ref
        pid = self._by_ref.get(ref)
        if pid is None:
            if ref and self._looks_like_ours(ref):      # one of ours, not known yet: hold it
                self._held.setdefault(ref, []).append(ev)
            return
        sent = self._send_t.get(ref)
        if sent is not None:
            self._observe(LatencyObserved(ev.t_ns, LatencyStage.SEND_TO_ACK, (ev.t_ns - sent) / 1e6))
        if ev.accepted:
            self._by_no[ev.order_no] = pid
            self._ref_no[ref] = ev.order_no
            self._no_ref[ev.order_no] = ref
            self._audit(ev.t_ns, AuditEvent.ACK, pid, ref=ref, order_no=ev.order_no, screen_no=ev.screen_no)
        else:
            self._audit(ev.t_ns, AuditEvent.REJECT, pid, ref=ref, screen_no=ev.screen_no,
                        message=ev.message or "the broker's ack carried no order number")
        self._handle(pid, TrAck(order_ref=ref, order_no=ev.order_no, now_ns=ev.t_ns))
        if ev.accepted and ev.order_no in self._orphans:
            for notice in self._orphans.pop(ev.order_no):
                self._on_notice(notice)

    def _looks_like_ours(self, ref: str) -> bool:
        """A request name the desk made (``pair_id:role:n``), as opposed to another program's."""
        return ref.count(":") == 2

    def _on_notice(self, ev: _Notice) -> None:
        key = ev.order_no
        if isinstance(ev, OrderCancelled):
            key = ev.order_no or ev.cancel_order_no
        pid = self._by_no.get(key) or (self._by_no.get(ev.cancel_order_no) if isinstance(ev, OrderCancelled) else None)
        if pid is None:
            self._orphans.setdefault(key, []).append(ev)
            return
        own_no = ev.cancel_order_no if isinstance(ev, OrderCancelled) and ev.cancel_order_no else ev.order_no
        ref = self._no_ref.get(own_no, "")
        common: dict[str, object] = dict(order_no=own_no, orig_order_no=ev.orig_order_no, venue=ev.venue,
                                         code=ev.code, side=ev.side, qty=ev.order_qty, price=ev.order_price,
                                         leaves_qty=ev.leaves_qty, broker_status=ev.broker_status)
        if isinstance(ev, OrderAccepted):
            self._audit(ev.t_ns, AuditEvent.ACCEPTED, pid, ref, **common)
            self._handle(pid, Accepted(order_no=ev.order_no, now_ns=ev.t_ns))
        elif isinstance(ev, OrderFilled):
            self._audit(ev.t_ns, AuditEvent.FILL, pid, ref, fill_qty=ev.qty, fill_px=ev.price, exec_id=ev.exec_id,
                        **common)
            self._book_fill(pid, ev)
            self._handle(pid, Filled(order_no=ev.order_no, qty=ev.qty, price=float(ev.price), leaves_qty=ev.leaves_qty,
                                     now_ns=ev.t_ns, exec_id=ev.exec_id or None))
        elif isinstance(ev, OrderCancelled):
            self._audit(ev.t_ns, AuditEvent.CANCEL_CONFIRMED, pid, ref, **common)
            self._handle(pid, CancelConfirmed(order_no=key, cancelled_qty=ev.cancelled_qty, now_ns=ev.t_ns))
        else:
            self._audit(ev.t_ns, AuditEvent.REJECT, pid, ref, message=ev.reason, **common)
            self._handle(pid, Rejected(reason=ev.reason or "refused by the broker", now_ns=ev.t_ns,
                                       order_no=ev.order_no))

    def _book_fill(self, pid: str, ev: OrderFilled) -> None:
        assert self.ledger is not None
        trade_date = kst_date(ev.t_ns)
        booked = self.ledger.book(pid, ev.code, ev.venue, ev.side, ev.qty, ev.price, trade_date)
        notional = ev.qty * ev.price
        cash = (notional - booked.fee_krw - booked.tax_krw) if ev.side is Side.SELL else -(notional + booked.fee_krw)
        self.account.on_fill(ev.code, ev.side, ev.qty, float(cash))
        self._mark_busy(ev.code, ev.t_ns)
        broker_fee, broker_tax = self._broker_charges(ev)
        self._observe(FillBooked(ev.t_ns, pid, ev.code, ev.venue, ev.side, ev.qty, ev.price, booked.fee_krw,
                                 booked.tax_krw, booked.position_after, booked.session, booked.symbol,
                                 self.ledger.marked_net_krw(), order_no=ev.order_no, broker_fee_krw=broker_fee,
                                 broker_tax_krw=broker_tax, tax_year=self._costs_of(trade_date)[1]))
        self._kill(self.risk.on_pnl(self.ledger.marked_net_krw(), ev.t_ns))

    def _broker_charges(self, ev: OrderFilled) -> tuple[int | None, int | None]:
        """The broker's own fee and tax for this fill: the rise of its cumulative figures for the order
        (None when the notice carries none)."""
        if not ev.broker_charges:
            return None, None
        fee0, tax0 = self._broker_cum.get(ev.order_no, (0, 0))
        self._broker_cum[ev.order_no] = (max(fee0, ev.broker_fee_krw), max(tax0, ev.broker_tax_krw))
        return max(ev.broker_fee_krw - fee0, 0), max(ev.broker_tax_krw - tax0, 0)

    # -- signals -----------------------------------------------------------------------------------------
    def _on_signal(self, sig: Signal, t_ns: int) -> None:
        dec = self.risk.admit(sig.code, t_ns, self.armed, self.arm_reason)
        if not dec.ok:
            return
        key, _ = self.market_refusal(sig.code, t_ns)
        if key:
            self.held[key] = self.held.get(key, 0) + 1
            return
        why = self.account_refusal(sig.code, sig.qty, sig.buy_px)
        if why:
            self.refused[why] = self.refused.get(why, 0) + 1
            return
        self._pair_seq += 1
        seq = f"{self._pair_seq}" if self.incarnation == 1 else f"r{self.incarnation}.{self._pair_seq}"
        pid = f"{sig.code}-{kst_datetime(t_ns).strftime('%H%M%S')}-{seq}"
        cheap_bid, _ = self.touch_of(sig.code, sig.direction.buy_venue)
        m = PairStateMachine(pid, sig.code, sig.direction, sig.qty, rich_bid=sig.sell_px, cheap_ask=sig.buy_px,
                             params=pair_params(self.cfg, sig.code), cheap_bid=cheap_bid)
        self.pairs[pid] = m
        self.active.add(pid)
        self._claimants.add(pid)
        self._signal_ns[pid] = sig.signal_ns
        self.risk.started(sig.code)
        rich_bid, rich_ask = self.touch_of(sig.code, sig.direction.sell_venue)
        m.note_touch(rich_bid, rich_ask, sig.direction.sell_venue)
        self._handle(pid, Start(now_ns=t_ns))

    # -- the account -------------------------------------------------------------------------------------
    def claims(self) -> tuple[dict[str, int], float]:
        """What unresolved pairs may still take: sellable shares per code, and cash (KRW)."""
        shares: dict[str, int] = {}
        cash = 0.0
        slip = self.cfg.risk.max_flatten_slippage_ticks
        for pid in self._claimants:
            m = self.pairs[pid]
            ask = m.touch[1]
            c: Claim = pair_claim(m.orders.values(), buy_bound_px(max(ask, m.cheap_ask), slip), self._fee_bps)
            if c.sell_shares:
                shares[m.symbol] = shares.get(m.symbol, 0) + c.sell_shares
            cash += c.cash_krw
        return shares, cash

    def account_refusal(self, code: str, qty: int, buy_px: int) -> str:
        """Why the account cannot take a pair selling ``qty`` of ``code`` and buying it back at about
        ``buy_px`` KRW now ('' = it can): the sell needs that many sellable shares and the buy its notional at
        the flatten bound plus fees, after what unresolved pairs claim."""
        if not self.account.known:
            return "account not reported yet"
        shares, cash = self.claims()
        if self.account.sellable(code, shares.get(code, 0)) < qty:
            return "not enough sellable shares"
        bound = buy_bound_px(buy_px, self.cfg.risk.max_flatten_slippage_ticks)
        need = qty * bound * (1.0 + self._fee_bps / 10_000.0)
        if self.account.cash_available(cash) < need:
            return "not enough orderable cash"
        return ""

    def _mark_busy(self, code: str, t_ns: int) -> None:
        if t_ns > self._busy_ns.get(code, 0):
            self._busy_ns[code] = t_ns
        self._last_busy_ns = max(self._last_busy_ns, t_ns)

    def _quiet(self, code: str, since_ns: int) -> bool:
        """No order of the engine's lived on ``code`` from ``since_ns`` on, and none is unresolved."""
        if any(self.pairs[pid].symbol == code for pid in self._claimants):
            return False
        return self._busy_ns.get(code, 0) < since_ns

    def _on_holdings(self, ev: HoldingsReported) -> None:
        rows = {code: Holding(qty, sellable) for code, qty, sellable in ev.holdings}
        busy = [c for c in self.codes if not self._quiet(c, ev.requested_ns)]
        for mm in self.account.on_holdings_report(rows, ev.t_ns, busy):
            self._on_mismatch(mm)
        self._check_mismatch_limit(ev.t_ns)
        self._account_observed(ev.purpose, ev.t_ns, "holdings")

    def _on_mismatch(self, mm: Mismatch) -> None:
        """RECONCILE MISMATCH: freeze the code until re-armed (:meth:`_check_mismatch_limit`: too many
        mismatched codes disarm)."""
        reason = (f"RECONCILE MISMATCH {mm.code}: the broker holds {mm.broker_qty} shares, the engine's fills "
                  f"explain {mm.expected_qty} ({mm.delta:+d}; {mm.source}); frozen until re-armed")
        self._kill(self.risk.hold("reconcile_mismatch", mm.code, mm.t_ns, reason))
        self._observe(ReconcileMismatch(mm.t_ns, mm.code, mm.expected_qty, mm.broker_qty, mm.source))

    def _check_mismatch_limit(self, t_ns: int) -> None:
        n = len(self.account.mismatches)
        if n > self.cfg.risk.max_reconcile_mismatches:
            self._kill(self.risk.disarm("reconcile_mismatch", t_ns,
                                        f"{n} codes disagree with the broker (max "
                                        f"{self.cfg.risk.max_reconcile_mismatches}): "
                                        f"{', '.join(sorted(self.account.mismatches))}"))

    def _rearm(self, code: str, reason: str) -> None:
        held = self.risk.release(code)
        accepted = self.account.rearm(code)
        if held is None:
            self._observe(CodeRearmed(self.now_ns, code, accepted, f"{reason}: {code} was not frozen"))
            return
        self._observe(CodeRearmed(self.now_ns, code, accepted, f"{reason}: was frozen by {held[0]} ({held[1]})"))
        if (len(self.account.mismatches) <= self.cfg.risk.max_reconcile_mismatches
                and self.risk.rearm_engine("reconcile_mismatch")):
            self.disarm_reason = None

    def _account_observed(self, purpose: str, t_ns: int, kind: str) -> None:
        """One :class:`AccountReported` per query round: once both its holdings and its cash are in."""
        seen = self._round_parts.setdefault(purpose, set())
        seen.add(kind)
        a = self.account
        if len(seen) < 2 or not a.known:
            return
        seen.clear()
        slice_qty = self.cfg.execution.slice_qty
        self._observe(AccountReported(
            t_ns, purpose, tuple((c, h.qty, h.sellable) for c, h in a.holdings_now().items()),
            tuple((r.code, r.start, r.end, r.net) for r in a.inventory()),
            tuple(a.untradeable(slice_qty)), a.cash_krw, a.deposit_krw, a.deferred,
            tuple(sorted(self.refused.items())), tuple(sorted(a.mismatches))))

    def inventory(self) -> list[tuple[str, int, int]]:
        """``(code, held, sellable)`` of every code of the universe, sellable after the open pairs' claims (the
        operator's Symbols view; cheap enough for every snapshot). Meaningful once the holdings are known."""
        return self.account.holdings_of(self.codes, self.claims()[0])

    def account_view(self) -> list[AccountRow]:
        """Every code of the universe as the account sees it now (``arbctl symbols --account``)."""
        rows = []
        slice_qty = self.cfg.execution.slice_qty
        for c, held, sellable in self.inventory():
            frozen = self.risk.held.get(c)
            if not self.account.holdings_known:
                why = "account not reported yet"
            elif frozen is not None:
                why = f"frozen until re-armed: {frozen[1]}"
            elif held < slice_qty:
                why = "no holdings"
            elif sellable < slice_qty:
                why = "shares locked or claimed"
            else:
                why = ""
            rows.append(AccountRow(c, held, sellable, self.account.expected(c), not why, why))
        return rows

    # -- the machines ------------------------------------------------------------------------------------
    def _handle(self, pid: str, event: object, denied: bool = False) -> None:
        m = self.pairs.get(pid)
        if m is None:
            return
        was_terminal = m.is_terminal
        for act in m.handle(event):  # type: ignore[arg-type]
            self._act(pid, m, act, denied)
        if was_terminal and not m.is_terminal:
            self.active.add(pid)     # late evidence reopened the pair
            self._claimants.add(pid)
        if pid in self._claimants and _reached_broker(m):
            self._mark_busy(m.symbol, self.now_ns)
        self._observe_fill_latencies(pid, m)
        while self._deferred:        # held results whose ref the machine just asked for
            self._on_event(self._deferred.pop(0))

    def _act(self, pid: str, m: PairStateMachine, act: object, denied: bool) -> None:
        if isinstance(act, SendOrder):
            it = act.intent
            self._by_ref[it.ref] = pid
            if it.ref in self._held:
                self._deferred.extend(self._held.pop(it.ref))
            if self._replaying and it.ref in self._replay_sent:
                return          # placed before the crash: never send an order twice
            ctx = TakeContext(Direction.parse(m.direction), m.qty, m.rich_bid, m.cheap_ask, m.cheap_bid) \
                if it.role is OrderRole.TAKE else None
            self._request(OrderRequest(intent=it, t_ns=self.now_ns, new_pair=it.role is OrderRole.TAKE,
                                       signal_ns=self._signal_ns.get(pid, 0), context=ctx))
        elif isinstance(act, SendCancel):
            ci = act.intent
            self._by_ref[ci.ref] = pid
            if ci.ref in self._held:
                self._deferred.extend(self._held.pop(ci.ref))
            if self._replaying and ci.ref in self._replay_sent:
                return
            self._request(CancelRequest(intent=ci, t_ns=self.now_ns))
        elif isinstance(act, StartTimer):
            self._timer_seq += 1
            heapq.heappush(self._timers, (act.deadline_ns, self._timer_seq, pid, act.kind, act.token))
        elif isinstance(act, EmitEvent):
            self.journal.record(act)
            if act.kind in ("ack_timeout", "cancel_timeout", "order_lost"):
                # a silent order: counted (timeouts, lost acks) and kept in the audit log
                ref = str(act.detail_dict.get("order_ref", ""))
                self._audit(act.now_ns, AuditEvent.LOST if act.kind == "order_lost" else AuditEvent.TIMEOUT, pid,
                            ref=ref, message=f"{act.kind}: {act.reason}")
            if act.kind == "hedge_timeout":
                self._observe(HedgeTimedOut(act.now_ns, pid, m.symbol, m.params.t_hedge_ms))
            elif act.kind in _ERROR_KINDS:
                self._observe(ErrorRaised(act.now_ns, f"pair {pid}", f"{act.kind}: {act.reason}"))
        elif isinstance(act, Finished):
            self._finished(pid, m, act, denied)

    def _request(self, req: OrderRequest | CancelRequest) -> None:
        self._requests += 1
        self._unreleased[req.intent.ref] = req
        self._out.append(req)

    def unreleased_requests(self) -> list[OrderRequest | CancelRequest]:
        """The orders and cancels requested that no send result or denial has answered yet, oldest first:
        what a Throttler that died may have been holding (:class:`protocol.control.ThrottlerBacklog`)."""
        return list(self._unreleased.values())

    def _observe_fill_latencies(self, pid: str, m: PairStateMachine) -> None:
        """take_fill (the take's send to its first fill) and hedge_complete (the first take fill to flat
        again), engine clock."""
        first = m.first_take_fill_ns
        if first is None:
            return
        sent = self._take_sent_ns.pop(pid, None)
        if sent is not None:
            self._observe(LatencyObserved(first, LatencyStage.TAKE_FILL, (first - sent) / 1e6, m.symbol))
        if m.net_position == 0 and pid not in self._flat_seen:
            self._flat_seen.add(pid)
            self._observe(LatencyObserved(self.now_ns, LatencyStage.HEDGE_COMPLETE, (self.now_ns - first) / 1e6,
                                          m.symbol))

    def _finished(self, pid: str, m: PairStateMachine, fin: Finished, denied: bool) -> None:
        if fin.unresolved_refs:
            self._claimants.add(pid)
        else:
            self._claimants.discard(pid)
        if _reached_broker(m):
            self._mark_busy(m.symbol, fin.now_ns)
        if pid in self.active:
            self.active.discard(pid)
            outcome = "denied" if denied else fin.outcome
            cooldown = (fin.cooldown_until_ns - fin.now_ns) if fin.cooldown_until_ns else 0
            self.risk.finished(m.symbol, fin.now_ns, outcome, max(cooldown, 0))
        if fin.outcome == "rejected" and not denied:
            spike = self.risk.on_reject(m.symbol, fin.now_ns)
            if spike is not None:
                self._observe(RejectSpike(fin.now_ns, m.symbol, spike.rejects, spike.window_s, spike.frozen,
                                          spike.freeze_s))
                self._kill(spike.freeze)
        cash = self.ledger.pair(pid) if self.ledger is not None else None
        if fin.outcome == "done" and cash is not None:
            self._observe(PairClosed(fin.now_ns, pid, m.symbol, True, m.escalated, fin.reason, cash))
        elif (m.filled_take > 0 or fin.outcome == "error") and cash is not None:
            self._observe(PairClosed(fin.now_ns, pid, m.symbol, False, m.escalated, f"{fin.outcome}: {fin.reason}",
                                     cash))
        if m.first_take_fill_ns is not None and fin.outcome in ("done", "error"):
            self._observe(LatencyObserved(fin.now_ns, LatencyStage.UNHEDGED,
                                          (fin.now_ns - m.first_take_fill_ns) / 1e6, m.symbol))
        if fin.net_position != 0 and pid not in self._flatten_failed:
            self._flatten_failed.add(pid)
            what = f"{fin.net_position:+d} shares of {m.symbol} open on {m.cheap_venue.value} after {pid}"
            self._observe(FlattenFailed(fin.now_ns, pid, m.symbol, m.cheap_venue, fin.net_position,
                                        f"FLATTEN FAILED: {what} ({fin.reason}); flatten them by hand"))
            self._kill(self.risk.hold("flatten_failed", m.symbol, fin.now_ns, f"FLATTEN FAILED: {what}"))
            self._kill(self.risk.disarm("flatten_failed", fin.now_ns, f"FLATTEN FAILED: {what}"))

    # -- the operator ------------------------------------------------------------------------------------
    def _on_operator(self, ev: OperatorRequested) -> None:
        """Arm/disarm the engine, re-arm, mute or unmute a code, at this step's time (deterministic)."""
        t, code, act = self.now_ns, ev.code, ev.action
        why = f" ({ev.reason})" if ev.reason else ""
        if act is OperatorAction.DISARM and not code:
            kill = self.risk.disarm("operator", t, ev.reason or "disarmed by the operator")
            self._kill(kill)
            applied, text = kill is not None, ("engine disarmed" + why if kill is not None
                                               else f"already disarmed: {self.risk.disarmed_reason}")
        elif act is OperatorAction.ARM and not code:
            was = self.risk.rearm()
            self.disarm_reason = None
            applied = was is not None
            text = (f"engine re-armed (was disarmed: {was}); the session guard decides: {self.arm_reason}"
                    if was is not None else f"nothing to re-arm; the session guard decides: {self.arm_reason}")
        elif act is OperatorAction.ARM:
            # one re-arm for every way a code stops trading: a timed freeze, a mute, and a freeze until
            # re-armed (a reconciliation mismatch, a failed flatten: the broker's holding accepted as the truth)
            held = code in self.risk.held or code in self.account.mismatches
            applied = self.risk.rearm_code(code, t) or held
            if held:
                self._rearm(code, ev.reason or f"re-armed from the {ev.source or 'operator'}")
            text = f"{code} re-armed" + why if applied else f"{code} was neither frozen nor muted"
        elif act is OperatorAction.MUTE:
            applied = self.risk.mute(code, ev.reason or "muted by the operator")
            text = f"{code} muted" + why if applied else f"{code} already muted"
        elif act is OperatorAction.UNMUTE:
            applied = self.risk.unmute(code)
            text = f"{code} unmuted" if applied else f"{code} was not muted"
        else:
            applied, text = False, f"{act.value} {code}: not an action on one code (use MUTE)"
        self._observe(OperatorActed(t, act, code, ev.reason, applied, text, ev.source))

    def _on_config(self, ev: ConfigReplaced) -> None:
        """Run with the operator's new configuration from now on: risk limits, new pairs' timers, fees."""
        cfg = ev.config
        self.cfg = cfg
        per_sym = {c: o.max_outstanding_pairs for c, o in cfg.symbols.per_symbol_overrides.items()
                   if o.max_outstanding_pairs}
        self.risk.limits = RiskLimits.from_config(cfg)
        self.risk.per_symbol_max = per_sym
        if self.ledger is not None:
            self.ledger.costs = CostModel.for_date(cfg.fees, kst_date(self.now_ns),
                                                   extra_holidays=cfg.sessions.extra_holidays)
        self._observe(OperatorActed(self.now_ns, None, "", "", True,
                                    "config applied live: " + "; ".join(ev.changes), ev.source))

    # -- session and kill switches -----------------------------------------------------------------------
    def _check_session(self, t_ns: int) -> None:
        st = self.session.status(t_ns)
        if st.phase == "post-close" and not self.session_over:
            self.session_over = True
        if st.armed != self.armed or st.reason != self.arm_reason:
            if st.armed != self.armed:
                self._observe(SessionChanged(t_ns, st.armed, st.reason))
            self.armed, self.arm_reason, self.phase = st.armed, st.reason, st.phase
        mm = self.session.mismatch(t_ns)
        if mm and not self._mismatch_seen:
            self._mismatch_seen = True
            if self.cfg.risk.disarm_on_fid_215_mismatch:
                self._kill(self.risk.disarm("market_operation_mismatch", t_ns, mm))
        elif not mm:
            self._mismatch_seen = False

    def _check_unhedged(self, t_ns: int) -> None:
        grace = self.cfg.risk.unhedged_grace_ms * NS_PER_MS
        for pid in sorted(self.active):
            m = self.pairs[pid]
            since = m.exposure_since_ns
            if since is None or pid in self._unhedged_killed:
                continue
            age = t_ns - since
            if age >= m.params.t_hedge_ms * NS_PER_MS + grace:
                self._unhedged_killed.add(pid)
                self._kill(self.risk.on_unhedged_timeout(m.symbol, t_ns, age / NS_PER_MS))
                self._handle(pid, ForceFlatten(reason=f"unhedged for {age / NS_PER_MS:.0f} ms", now_ns=t_ns))

    def _kill(self, ev: KillSwitchEvent | None) -> None:
        if ev is None:
            return
        self._observe(KillSwitchTripped(ev.t_ns, ev.kind, ev.code, ev.reason, ev.until_ns))
        if ev.code == "":
            self.disarm_reason = ev.reason

    # -- observations ------------------------------------------------------------------------------------
    def _observe(self, obs: Observation) -> None:
        if not self._replaying:          # a replay must not count fills or orders twice
            self._out.append(obs)

    def _is_cancel(self, pid: str, ref: str) -> bool:
        m = self.pairs.get(pid)
        return m is not None and ref in m.cancels

    def _audit(self, t_ns: int, event: AuditEvent, pair_id: str, ref: str = "", **fields: object) -> None:
        """One audit row; order fields the notice did not carry come from the pair's intent of ``ref``."""
        if self._replaying:
            return
        m = self.pairs.get(pair_id)
        role = None
        is_cancel = False
        if ref and m is not None:
            view = m.orders.get(ref)
            if view is not None:
                it = view.intent
                role = it.role
                for key, value in (("venue", it.venue), ("code", it.symbol), ("side", it.side), ("qty", it.qty),
                                   ("style", it.style), ("price", it.price)):
                    if fields.get(key) in (None, ""):
                        fields[key] = value
            else:
                is_cancel = ref in m.cancels
            if not fields.get("order_no"):
                fields["order_no"] = self._ref_no.get(ref, "")
            wire_style, screen = self._wire.get(ref, ("", ""))
            fields.setdefault("wire_style", wire_style)
            if not fields.get("screen_no"):
                fields["screen_no"] = screen
        fields = {k: v for k, v in fields.items() if v is not None}
        request_name = fields.pop("request_name", ref)
        self._observe(OrderAudited(t_ns=t_ns, event=event, pair_id=pair_id, request_name=str(request_name),
                                   role=role, is_cancel=is_cancel, **fields))  # type: ignore[arg-type]

    # -- health ------------------------------------------------------------------------------------------
    def detail(self) -> list[tuple[str, str | int | float | bool | None]]:
        """The desk's state for the health and status views."""
        # armed = the session allows trading and no kill switch or operator has disarmed the engine
        return [("session", self.phase), ("armed", self.armed and self.disarm_reason is None),
                ("reason", self.disarm_reason or self.arm_reason),
                ("active_pairs", len(self.active)), ("flat", self.flat), ("pnl_net_krw", self.marked_pnl_krw()),
                ("pairs", len(self.pairs)), ("recovered_pairs", self.recovered_pairs),
                ("incarnation", self.incarnation), ("held", sum(len(v) for v in self._held.values())),
                ("account_known", self.account.known), ("cash_krw", round(self.account.cash_krw)),
                ("untradeable", ",".join(self.account.untradeable(self.cfg.execution.slice_qty))),
                ("frozen", ",".join(sorted(self.risk.held))),
                ("mismatched", ",".join(sorted(self.account.mismatches))),
                ("refused", ", ".join(f"{k}: {v}" for k, v in sorted(self.refused.items()))),
                ("in_vi", ",".join(sorted(f"{c}/{v.value}" for c, v in self.vi))), ("vi_events", self.vi_events),
                ("phase_krx", self.phases.describe(Venue.KRX, self.now_ns) if self.now_ns else ""),
                ("phase_nxt", self.phases.describe(Venue.NXT, self.now_ns) if self.now_ns else ""),
                ("market_held", ", ".join(f"{k}: {v}" for k, v in sorted(self.held.items())))]
