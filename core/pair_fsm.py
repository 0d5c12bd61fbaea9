"""The per-slice pair state machine (SPEC §4), as pure code.

One :class:`PairStateMachine` drives one slice of one symbol: sell the rich venue (the *take*), buy the
cheap venue (the *hedge*), end flat. It owns no actor, does no I/O and never reads a clock: the caller
(the ``PairManager`` actor) feeds it events that carry ``now_ns`` from the one engine clock and executes
the actions it returns (send an order through the Throttler and the Bridge, arm a timer, write the audit
log, free the symbol). The same machine therefore runs unchanged under the simulated clock, in replay and
live, and can be tested exhaustively.

Flow (states in capitals)::

    IDLE --Start--> CANDIDATE --> ENTRY_TAKE_SENT        take = sell the rich bid, limit IOC or market IOC
      take done, 0 filled ........................ COOLDOWN  (outcome 'missed')
      take rejected / lost ...... ENTRY_REJECTED -> COOLDOWN  (outcome 'rejected')
      take refused by the rate limit ............. COOLDOWN  (outcome 'backoff', retry_after_308_ms)
      take done, F > 0 filled --> HEDGE_POST_SENT         post = buy F at the cheap ask, limit (or NXT mid)
        post filled before first_take_fill + t_hedge ... PAIRED_DONE (outcome 'done')
        deadline / hedge rejected / post lost ------> CANCEL_POST_SENT (cancel the post, urgent)
          post complete (cancel confirmed + every fill in) --> HEDGE_IOC_SENT  buy filled_take - filled_hedge,
                                                               limit IOC at the cheap ask + N ticks
          over-hedged (a late post fill) -----------------> UNWIND_SENT     sell the excess, limit IOC at the
                                                                            cheap bid - N ticks
          flat and every order resolved ..................  PAIRED_DONE ('done') or ERROR ('error')

Principles and the edge cases they settle:

* **The broker's notices are authoritative.** Quantities come only from fills and cancel confirmations.
  The hedge quantity is always ``filled_take - filled_hedge + filled_unwind`` (= ``-net_position``) at
  the moment the hedge is sent, never an estimate. An order is *complete* only when
  ``filled + cancelled == qty``; a cancel confirmation that leaves a gap means a fill is still in
  flight (the cancel/fill race), and the machine waits for it (bounded by ``cancel_timeout_ms``) before
  hedging the rest. A fill that arrives later still (after the IOC was sent) is counted, and if the
  slice is then over-hedged the excess is sold (``unwind``) so the net position returns to 0.
* **A silent order may still exist.** No broker ack within ``tr_ack_timeout_ms`` makes an order
  ``UNCONFIRMED``, not rejected: a late ack or notice still binds and is reconciled. After a further
  ``ack_grace_ms`` of silence it is ``LOST``; a lost entry counts as a reject (SPEC: "TR ack ≤200 ms else
  reject"), a lost hedge-side order makes the outcome ``'error'`` and is listed in
  ``Finished.unresolved_refs`` so the PairManager reconciles it against the broker. While a hedge-side
  order is unconfirmed no further hedge or unwind is sent (it may still fill): a stalled bridge therefore
  produces at most one order per ``tr_ack_timeout_ms + ack_grace_ms`` instead of a pile of orders that all
  fill later. Notices whose order number is not yet known (a notice overtook the ack) are buffered
  while any of this pair's orders is unbound and replayed when the number binds; the bridge may also
  correlate a notice to our request and pass ``order_ref`` directly.
* **Every leg ends filled, cancelled or rejected.** IOC/market orders that are not complete
  ``ioc_settle_ms`` after their ack are cancelled explicitly; cancels are re-sent up to
  ``max_cancel_attempts`` times (one ``cancel_timeout_ms`` apart) and then the order is *given up*:
  the machine stops waiting for it, hedges by the fills it has seen, and finishes with ``'error'``
  listing it as unresolved. A given-up or lost order never blocks the hedge; if it fills later, the
  over-hedge is unwound.
* **Late evidence reopens a finished pair.** Events keep being accepted after ``Finished``: if a lost or
  given-up order later fills or comes alive, the machine leaves its terminal state (event ``'reopened'``),
  flattens again and emits a second ``Finished`` that supersedes the first.
* **Timers cannot be cancelled** (Thespian ``wakeupAfter``). Every :class:`StartTimer` carries a fresh
  integer token and its deadline; a :class:`TimerFired` whose token is no longer armed is ignored, and one
  that arrives before its deadline (``now_ns < deadline_ns``) is answered with the same
  :class:`StartTimer` again, so the hedge escalation happens exactly at
  ``first_take_fill_ns + t_hedge_ms`` on the engine clock, never one nanosecond early.
* **Rate-limit refusals** (the broker's order-rate overflow). The caller returns the throttle token. For the
  entry the slice ends with
  ``'backoff'`` and a ``retry_after_308_ms`` cooldown (the caller may re-admit the signal if still
  valid). For a hedge, cancel or unwind every further send of this pair is held until a ``'retry'``
  timer fires, then whatever is still needed is re-requested (urgent) with the quantity recomputed.
* **Every order carries a price bound** (SPEC §10). The take is a limit IOC at the signal's rich bid, the
  post a limit at the signal's cheap ask (or an NXT mid order, pegged between the touches). Escalation and
  unwind orders are limit IOCs priced from the cheap venue's latest touch (:class:`BookTouch`, fed by the
  caller) ``flatten_slippage_ticks`` beyond it — buy at ask + N ticks, sell at bid − N ticks — re-priced at
  every attempt. Market styles (no bound) are used only with ``allow_market_orders``.
* **Never an IOC into a call** (SPEC §11). The caller tells the machine what each venue allows for the code
  (:class:`VenueChanged`: ``open`` continuous, ``call`` a call or a volatility interruption, ``shut`` paused or
  closed). The post is sent only while the cheap venue is open; a cheap venue that stops being open while the
  slice is exposed ends the post (it is cancelled, cancels are taken in calls) and the slice flattens.
  Flatten orders go to the first venue that is open — the cheap venue, else the **rich** venue, where the take
  sold (buy back at its ask + N ticks; an unwind sells at its bid − N) — as limit IOCs; when neither is open but
  one is in a call, a *plain limit* at the same bound goes there and rests until the uncross (its settle timer
  waits while the venue is not open); when both are shut the machine waits (``flatten_blocked``) for a venue to
  open. So a hedge venue entering a VI takes the bounded flatten on the other venue.
* **Bounded.** At most ``max_flatten_orders`` IOC hedge + unwind orders are sent; if they are exhausted
  (the bound never met the market, the venue keeps rejecting) the machine stops with ``'error'`` and a
  non-zero ``net_position`` in :class:`Finished`, which the PairManager must treat as FLATTEN FAILED: the
  engine never chases a price without limit.

Audit: every state change is an ``EmitEvent('state', ...)`` with ``from``/``to`` and a reason; facts are
``EmitEvent`` kinds ``ack``, ``late_ack``, ``ack_timeout``, ``order_lost``, ``fill``, ``cancel_confirmed``,
``inflight_fill_wait``, ``reject``, ``cancel_rejected``, ``cancel_timeout``, ``rate_limited``,
``retry_due``, ``hedge_timeout``, ``order_overdue``, ``order_given_up``, ``reopened``,
``flatten_exhausted``, ``force_flatten``, ``overfill_clamped``, ``cancel_qty_corrected``,
``unknown_order``, ``unknown_ref``, ``protocol_violation``, ``venue``, ``hedge_venue_not_open``,
``flatten_blocked``.

Its vocabulary (parameters, intents, events, actions, views) is :mod:`core.pair_events`; venues, sides,
styles and roles are the enums of :mod:`core.enums`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

from core.enums import Direction, OrderRole, OrderStyle, Side, Venue
from core.pair_events import (
    OPEN_STATUSES,
    TERMINAL_STATES,
    Accepted,
    BookTouch,
    CancelConfirmed,
    CancelIntent,
    CancelStatus,
    CancelView,
    EmitEvent,
    Filled,
    Finished,
    ForceFlatten,
    OrderIntent,
    OrderStatus,
    OrderView,
    PairAction,
    PairEvent,
    PairParams,
    PairState,
    Rejected,
    SendCancel,
    SendOrder,
    SendRateLimited,
    Sent,
    Start,
    StartTimer,
    TimerFired,
    TimerKind,
    TrAck,
    VenueAccess,
    VenueChanged,
)
from core.ticks import round_to_tick, shift_ticks

__all__ = ["BookTouch", "PairStateMachine", "buy_bound_px"]

_NS_PER_MS: Final = 1_000_000
_UNBOUND_STATUSES: Final = frozenset(
    {OrderStatus.PENDING_SEND, OrderStatus.PENDING_ACK, OrderStatus.UNCONFIRMED, OrderStatus.LOST}
)
#: Statuses that evidence of life (an ack number, a fill, a confirmation) turns back into WORKING:
#: the broker's notices are authoritative even over our own earlier conclusions (refused, rejected, lost).
_REVIVABLE: Final = _UNBOUND_STATUSES | {OrderStatus.REFUSED, OrderStatus.REJECTED}
_CANCEL_ACTIVE: Final = frozenset({CancelStatus.PENDING_SEND, CancelStatus.PENDING_ACK, CancelStatus.ACKED})


# --------------------------------------------------------------------------------------------------
# Internal mutable records
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Order:
    intent: OrderIntent
    status: OrderStatus = OrderStatus.PENDING_SEND
    order_no: str | None = None
    filled: int = 0
    cancelled: int = 0
    notional: float = 0.0
    exec_ids: set[str] = field(default_factory=set)
    last_leaves: int | None = None
    reject_reason: str = ""
    given_up: bool = False
    cancel_wanted: bool = False
    cancel_attempts: int = 0
    cancel_refs: list[str] = field(default_factory=list)
    ack_timer: int | None = None
    settle_timer: int | None = None
    cancel_timer: int | None = None

    @property
    def remaining(self) -> int:
        return self.intent.qty - self.filled - self.cancelled

    @property
    def complete(self) -> bool:
        return self.remaining <= 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def unresolved(self) -> bool:
        """Fate unknown: lost, or still open (only given-up or unconfirmed orders can be open at a finish)."""
        return self.status is OrderStatus.LOST or self.is_open

    def view(self) -> OrderView:
        return OrderView(
            intent=self.intent, order_no=self.order_no, status=self.status, filled=self.filled,
            cancelled=self.cancelled,
            avg_fill_price=(self.notional / self.filled) if self.filled else None,
            given_up=self.given_up, cancel_attempts=self.cancel_attempts,
            cancel_refs=tuple(self.cancel_refs), reject_reason=self.reject_reason)


@dataclass(slots=True)
class _Cancel:
    intent: CancelIntent
    status: CancelStatus = CancelStatus.PENDING_SEND
    order_no: str | None = None


@dataclass(frozen=True, slots=True)
class _Timer:
    kind: TimerKind
    deadline_ns: int
    ref: str | None


_BrokerNotice = Accepted | Filled | CancelConfirmed | Rejected


def buy_bound_px(ask: int, ticks: int) -> int:
    """The most a flatten buy may pay (KRW) when the ask is ``ask``: ``ticks`` ticks above it on the grid
    (0 without an ask)."""
    return _shifted(ask, ticks, "up")


def _shifted(price: int, n: int, direction: Literal["up", "down"]) -> int:
    """``price`` put on the tick grid (rounded ``direction``) and moved ``n`` ticks; 0 when there is no such
    price (no price, or below 1 KRW)."""
    if price <= 0:
        return 0
    try:
        return int(shift_ticks(round_to_tick(price, direction), n))
    except ValueError:
        return 0
_MAX_BUFFERED: Final = 256
_MAX_DRIVE_STEPS: Final = 32


# --------------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------------


class PairStateMachine:
    """State machine of one slice: ``handle(event) -> list[action]``, nothing else has side effects.

    Args:
        pair_id: unique id of the slice (prefix of every order ref).
        symbol: 6-digit code.
        direction: :class:`~core.enums.Direction` A (buy KRX, sell NXT) or B (buy NXT, sell KRX); its
            literal is accepted too.
        qty: slice quantity (shares, >= 1).
        rich_bid: the rich venue's best bid used by the signal (the take's limit-IOC price).
        cheap_ask: the cheap venue's best ask used by the signal (the hedge post's limit price).
        params: timing and routing parameters.
        cheap_bid: the cheap venue's best bid when the signal was taken (0 = unknown): with ``cheap_ask`` the
            first touch flatten orders are priced from, until a :class:`BookTouch` brings a newer one.

    Raises:
        ValueError: invalid direction, quantity, or a zero price that the chosen styles need.
    """

    def __init__(self, pair_id: str, symbol: str, direction: Direction | str, qty: int, rich_bid: int,
                 cheap_ask: int, params: PairParams | None = None, cheap_bid: int = 0) -> None:
        self._params = params if params is not None else PairParams()
        if not pair_id:
            raise ValueError("pair_id must be non-empty")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
            raise ValueError(f"qty must be an integer >= 1, got {qty!r}")
        self.direction = Direction.parse(direction)
        self._cheap, self._rich = self.direction.buy_venue, self.direction.sell_venue
        self._use_mid = self._params.hedge_style == "mid" and self._cheap is Venue.NXT
        if self._params.entry_style == "ioc" and not rich_bid > 0:
            raise ValueError(f"rich_bid must be > 0 for a limit-IOC entry, got {rich_bid!r}")
        if not self._use_mid and not cheap_ask > 0:
            raise ValueError(f"cheap_ask must be > 0 for a limit hedge post, got {cheap_ask!r}")
        self.pair_id = pair_id
        self.symbol = symbol
        self.qty = qty
        self.rich_bid = rich_bid
        self.cheap_ask = cheap_ask
        self.cheap_bid = cheap_bid
        self._touch_bid = max(int(cheap_bid), 0)
        self._touch_ask = max(int(cheap_ask), 0)
        self._rich_bid = max(int(rich_bid), 0)
        self._rich_ask = 0
        self._unpriced = False
        self._access: dict[Venue, VenueAccess] = {Venue.KRX: VenueAccess.OPEN, Venue.NXT: VenueAccess.OPEN}
        self._blocked = False

        self._state = PairState.IDLE
        self._orders: dict[str, _Order] = {}
        self._cancels: dict[str, _Cancel] = {}
        self._by_no: dict[str, tuple[str, str]] = {}      # order_no -> ("order"|"cancel", ref)
        self._role_counts: dict[str, int] = {}
        self._cancel_count = 0
        self._timers: dict[int, _Timer] = {}
        self._next_token = 1
        self._hedge_timer: int | None = None
        self._retry_timer: int | None = None
        self._buffer: list[_BrokerNotice] = []
        self._escalated = False
        self._first_take_fill_ns: int | None = None
        self._exposure_since_ns: int | None = None
        self._outcome: str | None = None
        self._last_unresolved: tuple[str, ...] = ()
        self._exhausted = False
        self._now = 0
        self._out: list[PairAction] = []

    # ---------------------------------------------------------------- read-only properties

    @property
    def params(self) -> PairParams:
        return self._params

    @property
    def state(self) -> PairState:
        return self._state

    @property
    def is_terminal(self) -> bool:
        """True in ``PAIRED_DONE``, ``COOLDOWN`` or ``ERROR`` (late evidence may still reopen it)."""
        return self._state in TERMINAL_STATES

    @property
    def outcome(self) -> str | None:
        """Outcome of the latest :class:`Finished`, or None if none was emitted."""
        return self._outcome

    @property
    def cheap_venue(self) -> Venue:
        return self._cheap

    @property
    def rich_venue(self) -> Venue:
        return self._rich

    @property
    def filled_take(self) -> int:
        return sum(o.filled for o in self._orders.values() if o.intent.role == OrderRole.TAKE)

    @property
    def filled_hedge(self) -> int:
        """Shares bought by all hedge orders (post and IOC/market), from Chejan fills only."""
        return sum(o.filled for o in self._orders.values()
                   if o.intent.role in (OrderRole.HEDGE_POST, OrderRole.HEDGE_IOC))

    @property
    def filled_unwind(self) -> int:
        return sum(o.filled for o in self._orders.values() if o.intent.role == OrderRole.UNWIND)

    @property
    def net_position(self) -> int:
        """Signed shares bought minus sold by this slice (+ long): ``hedge - take - unwind``."""
        return self.filled_hedge - self.filled_take - self.filled_unwind

    @property
    def exposure_since_ns(self) -> int | None:
        """When the net position last became non-zero (None when flat)."""
        return self._exposure_since_ns

    @property
    def first_take_fill_ns(self) -> int | None:
        return self._first_take_fill_ns

    @property
    def hedge_deadline_ns(self) -> int | None:
        """``first_take_fill_ns + t_hedge_ms`` once the take has filled."""
        if self._first_take_fill_ns is None:
            return None
        return self._first_take_fill_ns + self._params.t_hedge_ms * _NS_PER_MS

    @property
    def escalated(self) -> bool:
        """True once the slice stopped posting and is flattening with IOC/market orders."""
        return self._escalated

    @property
    def retry_pending(self) -> bool:
        """True while sends are held after a -308 on a hedge, cancel or unwind."""
        return self._retry_timer is not None

    @property
    def orders(self) -> Mapping[str, OrderView]:
        """All orders of the slice by ref, in creation order."""
        return MappingProxyType({ref: o.view() for ref, o in self._orders.items()})

    @property
    def cancels(self) -> Mapping[str, CancelView]:
        """All cancel requests by ref, in creation order."""
        return MappingProxyType({ref: CancelView(c.intent, c.status, c.order_no)
                                 for ref, c in self._cancels.items()})

    @property
    def armed_timers(self) -> Mapping[int, tuple[str, int]]:
        """Currently armed timer tokens -> (kind, deadline_ns); fired or superseded ones are absent."""
        return MappingProxyType({t: (r.kind.value, r.deadline_ns) for t, r in self._timers.items()})

    # ---------------------------------------------------------------- the one entry point

    def handle(self, event: PairEvent) -> list[PairAction]:
        """Apply one event and return the actions it causes, in the order they must be executed."""
        self._out = []
        self._now = event.now_ns
        if isinstance(event, Start):
            self._on_start()
        elif isinstance(event, Sent):
            self._on_sent(event.order_ref)
        elif isinstance(event, SendRateLimited):
            self._on_refused(event.order_ref)
        elif isinstance(event, TrAck):
            self._on_tr_ack(event.order_ref, event.order_no.strip())
        elif isinstance(event, (Accepted, Filled, CancelConfirmed, Rejected)):
            self._on_chejan(event)
        elif isinstance(event, TimerFired):
            if not self._on_timer(event):
                return self._out          # stale or early: nothing else changes
        elif isinstance(event, ForceFlatten):
            self._on_force_flatten(event.reason)
        elif isinstance(event, BookTouch):
            self.note_touch(event.bid, event.ask, event.venue)
        elif isinstance(event, VenueChanged):
            was = self._access[event.venue]
            self._access[event.venue] = event.access
            if was is not event.access:
                self._emit("venue", event.reason, venue=event.venue, access=event.access, was=was)
        else:
            raise TypeError(f"not a pair event: {event!r}")
        self._drive()
        return self._out

    # ---------------------------------------------------------------- emit helpers

    def _emit(self, kind: str, reason: str = "", **detail: object) -> None:
        self._out.append(EmitEvent(kind=kind, pair_id=self.pair_id, symbol=self.symbol,
                                   now_ns=self._now, state=self._state.value, reason=reason,
                                   detail=tuple(sorted(detail.items()))))

    def _set_state(self, new: PairState, reason: str) -> bool:
        old = self._state
        if new is old:
            return False
        self._state = new
        self._emit("state", reason, **{"from": old.value, "to": new.value})
        return True

    def _start_timer(self, kind: TimerKind, deadline_ns: int, ref: str | None = None) -> int:
        token = self._next_token
        self._next_token += 1
        self._timers[token] = _Timer(kind, deadline_ns, ref)
        self._out.append(StartTimer(kind.value, deadline_ns, token, self.pair_id))
        return token

    def _kill_timer(self, token: int | None) -> None:
        if token is not None:
            self._timers.pop(token, None)

    def _kill_order_timers(self, o: _Order) -> None:
        self._kill_timer(o.ack_timer)
        self._kill_timer(o.settle_timer)
        self._kill_timer(o.cancel_timer)
        o.ack_timer = o.settle_timer = o.cancel_timer = None

    # ---------------------------------------------------------------- sending

    def _new_ref(self, role: OrderRole) -> str:
        n = self._role_counts.get(role, 0) + 1
        self._role_counts[role] = n
        return f"{self.pair_id}:{role}:{n}"

    def _send_order(self, role: OrderRole, venue: Venue, side: Side, qty: int, style: OrderStyle, price: int,
                    urgent: bool) -> _Order:
        intent = OrderIntent(ref=self._new_ref(role), pair_id=self.pair_id, symbol=self.symbol,
                             venue=venue, side=side, qty=qty, style=style,
                             price=price if style.priced else 0, role=role, urgent=urgent)
        o = _Order(intent)
        self._orders[intent.ref] = o
        self._out.append(SendOrder(intent))
        return o

    def _send_post(self, qty: int) -> None:
        if self._use_mid:
            self._send_order(OrderRole.HEDGE_POST, self._cheap, Side.BUY, qty, OrderStyle.MID, 0, True)
        else:
            self._send_order(OrderRole.HEDGE_POST, self._cheap, Side.BUY, qty, OrderStyle.LIMIT, self.cheap_ask, True)

    def _sent_count(self, role: OrderRole) -> int:
        return sum(1 for o in self._orders.values()
                   if o.intent.role == role and o.status is not OrderStatus.REFUSED)

    def _send_cancel(self, o: _Order) -> None:
        assert o.order_no is not None
        self._cancel_count += 1
        intent = CancelIntent(ref=f"{self.pair_id}:cancel:{self._cancel_count}", pair_id=self.pair_id,
                              symbol=self.symbol, target_ref=o.intent.ref, order_no=o.order_no,
                              venue=o.intent.venue, side=o.intent.side, qty=max(o.remaining, 0))
        self._cancels[intent.ref] = _Cancel(intent)
        o.cancel_refs.append(intent.ref)
        self._out.append(SendCancel(intent))

    # ---------------------------------------------------------------- event handlers

    def _on_start(self) -> None:
        if self._state is not PairState.IDLE:
            self._emit("protocol_violation", "start_when_not_idle")
            return
        self._set_state(PairState.CANDIDATE, "admitted")
        if self._params.entry_style == "ioc":
            self._send_order(OrderRole.TAKE, self._rich, Side.SELL, self.qty, OrderStyle.LIMIT_IOC, self.rich_bid,
                             False)
        else:
            self._send_order(OrderRole.TAKE, self._rich, Side.SELL, self.qty, OrderStyle.MARKET_IOC, 0, False)
        self._set_state(PairState.ENTRY_TAKE_SENT, "take_sent")

    def _on_sent(self, ref: str) -> None:
        o = self._orders.get(ref)
        if o is not None:
            if o.status is OrderStatus.PENDING_SEND:
                o.status = OrderStatus.PENDING_ACK
                o.ack_timer = self._start_timer(
                    TimerKind.ACK, self._now + self._params.tr_ack_timeout_ms * _NS_PER_MS, ref)
            return
        c = self._cancels.get(ref)
        if c is not None:
            if c.status is CancelStatus.PENDING_SEND:
                c.status = CancelStatus.PENDING_ACK
                self._count_cancel_attempt(c)
            return
        self._emit("unknown_ref", "sent", order_ref=ref)

    def _count_cancel_attempt(self, c: _Cancel) -> None:
        """One more cancel of ``c``'s target sent (or tried): the next may go only after cancel_timeout_ms."""
        target = self._orders[c.intent.target_ref]
        target.cancel_attempts += 1
        self._kill_timer(target.cancel_timer)
        target.cancel_timer = self._start_timer(
            TimerKind.CANCEL, self._now + self._params.cancel_timeout_ms * _NS_PER_MS, target.intent.ref)

    def _on_refused(self, ref: str) -> None:
        o = self._orders.get(ref)
        c = self._cancels.get(ref)
        if o is not None and o.status is OrderStatus.PENDING_SEND:
            o.status = OrderStatus.REFUSED
            self._emit("rate_limited", "order_rate_overflow", order_ref=ref, role=o.intent.role)
            if o.intent.role != OrderRole.TAKE:
                self._arm_retry()
        elif c is not None and c.status is CancelStatus.PENDING_SEND:
            c.status = CancelStatus.REFUSED
            self._emit("rate_limited", "order_rate_overflow", order_ref=ref, role="cancel")
            self._arm_retry()
        elif o is None and c is None:
            self._emit("unknown_ref", "rate_limited", order_ref=ref)
        else:
            self._emit("protocol_violation", "refused_after_send", order_ref=ref)

    def _arm_retry(self) -> None:
        if self._retry_timer is None:
            self._retry_timer = self._start_timer(
                TimerKind.RETRY, self._now + self._params.retry_after_308_ms * _NS_PER_MS)

    def _on_tr_ack(self, ref: str, order_no: str) -> None:
        o = self._orders.get(ref)
        if o is not None:
            if o.status is OrderStatus.PENDING_SEND:
                self._on_sent(ref)        # ack overtook the send report: the order was sent
            if o.order_no is not None:
                if o.order_no != order_no:
                    self._emit("protocol_violation", "second_ack_with_other_number", order_ref=ref,
                               order_no=order_no, bound=o.order_no)
                return
            if not order_no:
                if o.status in _UNBOUND_STATUSES:
                    self._reject_order(o, "empty_order_no")
                return
            self._bind_order(o, order_no, "tr_ack")
            return
        c = self._cancels.get(ref)
        if c is not None:
            if c.status is CancelStatus.PENDING_SEND:
                self._on_sent(ref)
            if c.order_no is not None:
                return
            if not order_no:
                if c.status in _CANCEL_ACTIVE or c.status is CancelStatus.TIMED_OUT:
                    c.status = CancelStatus.REJECTED
                    self._emit("cancel_rejected", "empty_order_no", cancel_ref=ref,
                               target_ref=c.intent.target_ref)
                return
            self._bind_cancel(c, order_no)
            return
        self._emit("unknown_ref", "tr_ack", order_ref=ref, order_no=order_no)

    def _bind_order(self, o: _Order, order_no: str, how: str) -> None:
        if order_no in self._by_no:
            self._emit("protocol_violation", "order_no_already_bound", order_ref=o.intent.ref,
                       order_no=order_no)
            return
        was = o.status
        o.order_no = order_no
        self._by_no[order_no] = ("order", o.intent.ref)
        self._kill_timer(o.ack_timer)
        o.ack_timer = None
        if was in (OrderStatus.UNCONFIRMED, OrderStatus.LOST):
            self._emit("late_ack", how, order_ref=o.intent.ref, order_no=order_no, was=was.value)
        else:
            self._emit("ack", how, order_ref=o.intent.ref, order_no=order_no)
        if was in _REVIVABLE:
            self._revive(o)
        self._replay(order_no)

    def _bind_cancel(self, c: _Cancel, order_no: str) -> None:
        if order_no in self._by_no:
            self._emit("protocol_violation", "order_no_already_bound", order_ref=c.intent.ref,
                       order_no=order_no)
            return
        c.order_no = order_no
        self._by_no[order_no] = ("cancel", c.intent.ref)
        if c.status in (CancelStatus.PENDING_ACK, CancelStatus.TIMED_OUT):
            c.status = CancelStatus.ACKED
        self._replay(order_no)

    def _revive(self, o: _Order) -> None:
        """The order is alive at the exchange (ack, 접수, a fill or a confirmation arrived)."""
        o.status = OrderStatus.WORKING
        if o.intent.role != OrderRole.HEDGE_POST and o.settle_timer is None and not o.given_up:
            o.settle_timer = self._start_timer(
                TimerKind.SETTLE, self._now + self._params.ioc_settle_ms * _NS_PER_MS, o.intent.ref)
        self._complete_if_done(o)

    def _complete_if_done(self, o: _Order) -> None:
        if o.complete and o.status not in (OrderStatus.FILLED, OrderStatus.CANCELLED):
            o.status = OrderStatus.FILLED if o.cancelled == 0 else OrderStatus.CANCELLED
            self._kill_order_timers(o)

    def _reject_order(self, o: _Order, reason: str) -> None:
        o.status = OrderStatus.REJECTED
        o.reject_reason = reason
        self._kill_order_timers(o)
        self._emit("reject", reason, order_ref=o.intent.ref, role=o.intent.role, filled=o.filled)

    def _replay(self, order_no: str) -> None:
        matching = [ev for ev in self._buffer if ev.order_no == order_no]
        if not matching:
            return
        self._buffer = [ev for ev in self._buffer if ev.order_no != order_no]
        for ev in matching:
            self._apply_chejan(ev)

    def _on_chejan(self, ev: _BrokerNotice) -> None:
        order_no = ev.order_no
        if order_no is not None and order_no in self._by_no:
            self._apply_chejan(ev)
            return
        if ev.order_ref is not None:
            o = self._orders.get(ev.order_ref)
            c = self._cancels.get(ev.order_ref)
            if order_no is None:
                if o is not None or c is not None:
                    self._apply_chejan(ev)
                    return
            elif o is not None and o.order_no is None:
                self._bind_order(o, order_no, "chejan_ref")
                self._apply_chejan(ev)
                return
            elif c is not None and c.order_no is None:
                self._bind_cancel(c, order_no)
                self._apply_chejan(ev)
                return
        waiting = any(o.order_no is None and o.status in _UNBOUND_STATUSES for o in self._orders.values()) \
            or any(c.order_no is None and c.status in (_CANCEL_ACTIVE | {CancelStatus.TIMED_OUT})
                   for c in self._cancels.values())
        buffered = order_no is not None and waiting and len(self._buffer) < _MAX_BUFFERED
        if buffered:
            self._buffer.append(ev)
        self._emit("unknown_order", type(ev).__name__, order_no=order_no, buffered=buffered)

    def _lookup(self, ev: _BrokerNotice) -> tuple[_Order | None, _Cancel | None]:
        if ev.order_no is not None and ev.order_no in self._by_no:
            kind, ref = self._by_no[ev.order_no]
            if kind == "order":
                return self._orders[ref], None
            return None, self._cancels[ref]
        if ev.order_ref is not None:
            return self._orders.get(ev.order_ref), self._cancels.get(ev.order_ref)
        return None, None

    def _apply_chejan(self, ev: _BrokerNotice) -> None:
        o, c = self._lookup(ev)
        if isinstance(ev, Accepted):
            if o is not None and o.status in _UNBOUND_STATUSES:
                self._revive(o)
            elif c is not None and c.status in (CancelStatus.PENDING_SEND, CancelStatus.PENDING_ACK):
                c.status = CancelStatus.ACKED
        elif isinstance(ev, Filled):
            if o is None:
                self._emit("protocol_violation", "fill_for_cancel_order", order_no=ev.order_no)
                return
            self._apply_fill(o, ev)
        elif isinstance(ev, CancelConfirmed):
            if c is not None:
                c.status = CancelStatus.CONFIRMED
                o = self._orders[c.intent.target_ref]
            if o is not None:
                self._apply_cancel_confirm(o, ev)
        else:  # Rejected
            if c is not None:
                if c.status is CancelStatus.PENDING_SEND:
                    # the send itself failed (e.g. the connection is gone): an attempt all the same, and the
                    # next one waits cancel_timeout_ms, so a dead line never sees a stream of cancels
                    self._count_cancel_attempt(c)
                if c.status is not CancelStatus.CONFIRMED:
                    c.status = CancelStatus.REJECTED
                self._emit("cancel_rejected", ev.reason, cancel_ref=c.intent.ref,
                           target_ref=c.intent.target_ref)
            elif o is not None:
                if o.complete:
                    self._emit("protocol_violation", "reject_of_complete_order", order_ref=o.intent.ref)
                elif o.status is not OrderStatus.REJECTED:
                    self._reject_order(o, ev.reason)

    def _apply_fill(self, o: _Order, ev: Filled) -> None:
        if ev.exec_id is not None:
            if ev.exec_id in o.exec_ids:
                return                                    # replayed Chejan: already counted
            o.exec_ids.add(ev.exec_id)
        qty = ev.qty
        if qty <= 0:
            self._emit("protocol_violation", "non_positive_fill", order_ref=o.intent.ref, qty=qty)
            return
        room_total = o.intent.qty - o.filled
        if qty > room_total:
            self._emit("overfill_clamped", "fill_exceeds_order_qty", order_ref=o.intent.ref,
                       qty=qty, room=room_total)
            qty = room_total
            if qty <= 0:
                return
        if qty > o.remaining:
            # The exchange traded shares we had been told were cancelled: fills win.
            corrected = qty - o.remaining
            o.cancelled -= corrected
            self._emit("cancel_qty_corrected", "fill_after_cancel_count", order_ref=o.intent.ref,
                       corrected=corrected)
        o.filled += qty
        o.notional += qty * ev.price
        o.last_leaves = ev.leaves_qty
        if o.intent.role == OrderRole.TAKE and self._first_take_fill_ns is None:
            # The fill's own arrival time, even when it is replayed from the buffer later: exposure began
            # then, so the deadline (and this timer) may already lie in the past; it then fires at once.
            self._first_take_fill_ns = ev.now_ns
            deadline = ev.now_ns + self._params.t_hedge_ms * _NS_PER_MS
            self._hedge_timer = self._start_timer(TimerKind.HEDGE, deadline)
        self._emit("fill", o.intent.role, order_ref=o.intent.ref, side=o.intent.side,
                   venue=o.intent.venue, qty=qty, price=ev.price, filled=o.filled,
                   leaves=ev.leaves_qty)
        if o.status in _REVIVABLE:
            self._revive(o)
        self._complete_if_done(o)
        self._update_exposure()

    def _apply_cancel_confirm(self, o: _Order, ev: CancelConfirmed) -> None:
        qty = ev.cancelled_qty
        if qty < 0:
            self._emit("protocol_violation", "negative_cancel_qty", order_ref=o.intent.ref)
            return
        if qty > o.remaining:
            self._emit("overfill_clamped", "cancel_exceeds_remaining", order_ref=o.intent.ref,
                       qty=qty, room=o.remaining)
            qty = max(o.remaining, 0)
        o.cancelled += qty
        for cref in o.cancel_refs:
            cc = self._cancels[cref]
            if cc.status in _CANCEL_ACTIVE:
                cc.status = CancelStatus.CONFIRMED
        self._emit("cancel_confirmed", o.intent.role, order_ref=o.intent.ref, cancelled=qty,
                   filled=o.filled, remaining=o.remaining)
        if o.status in _REVIVABLE:
            self._revive(o)
        self._complete_if_done(o)
        if not o.complete:
            # Cancelled, yet filled + cancelled < qty: a fill is in flight. Wait for it, bounded.
            self._kill_timer(o.cancel_timer)
            o.cancel_timer = self._start_timer(
                TimerKind.CANCEL, self._now + self._params.cancel_timeout_ms * _NS_PER_MS, o.intent.ref)
            self._emit("inflight_fill_wait", "confirm_leaves_gap", order_ref=o.intent.ref,
                       gap=o.remaining)

    def _update_exposure(self) -> None:
        if self.net_position == 0:
            self._exposure_since_ns = None
        elif self._exposure_since_ns is None:
            self._exposure_since_ns = self._now

    def _on_force_flatten(self, reason: str) -> None:
        if self._state in (PairState.IDLE, PairState.CANDIDATE) or self.is_terminal:
            self._emit("protocol_violation", "force_flatten_ignored", why=reason)
            return
        if not self._escalated:
            self._escalated = True
            self._emit("force_flatten", reason)

    def _on_timer(self, ev: TimerFired) -> bool:
        """Returns False for a stale or early timer (no state can have changed)."""
        rec = self._timers.get(ev.token)
        if rec is None or rec.kind.value != ev.kind:
            return False
        if ev.now_ns < rec.deadline_ns:
            self._out.append(StartTimer(rec.kind.value, rec.deadline_ns, ev.token, self.pair_id))
            return False
        del self._timers[ev.token]
        kind = rec.kind
        if kind is TimerKind.HEDGE:
            self._hedge_timer = None
            if (self._state in (PairState.ENTRY_TAKE_SENT, PairState.HEDGE_POST_SENT)
                    and not self._escalated
                    and (self.net_position != 0 or not self._all_settled())):
                self._escalated = True
                self._emit("hedge_timeout", "t_hedge_elapsed", deadline_ns=rec.deadline_ns,
                           unhedged=-self.net_position)
            return True
        if kind is TimerKind.RETRY:
            self._retry_timer = None
            self._emit("retry_due", "after_308")
            return True
        assert rec.ref is not None
        o = self._orders[rec.ref]
        if kind is TimerKind.ACK:
            o.ack_timer = None
            if o.status is OrderStatus.PENDING_ACK:
                o.status = OrderStatus.UNCONFIRMED
                o.ack_timer = self._start_timer(
                    TimerKind.GRACE, self._now + self._params.ack_grace_ms * _NS_PER_MS, o.intent.ref)
                self._emit("ack_timeout", "no_tr_ack", order_ref=o.intent.ref, role=o.intent.role)
        elif kind is TimerKind.GRACE:
            o.ack_timer = None
            if o.status is OrderStatus.UNCONFIRMED:
                o.status = OrderStatus.LOST
                self._emit("order_lost", "no_trace_after_grace", order_ref=o.intent.ref,
                           role=o.intent.role)
        elif kind is TimerKind.SETTLE:
            o.settle_timer = None
            if (o.intent.style is OrderStyle.LIMIT and o.intent.role is not OrderRole.HEDGE_POST
                    and self._access[o.intent.venue] is not VenueAccess.OPEN and not o.complete):
                # a flatten limit resting in a call waits for its uncross: settle only once the venue is open
                o.settle_timer = self._start_timer(
                    TimerKind.SETTLE, self._now + self._params.ioc_settle_ms * _NS_PER_MS, o.intent.ref)
                return True
            if o.status is OrderStatus.WORKING and not o.complete and not o.given_up:
                if o.cancelled > 0:
                    self._give_up(o, "inflight_fill_missing")
                else:
                    o.cancel_wanted = True
                    self._emit("order_overdue", "ioc_not_settled", order_ref=o.intent.ref,
                               remaining=o.remaining)
        elif kind is TimerKind.CANCEL:
            o.cancel_timer = None
            if o.is_open and not o.complete and not o.given_up:
                if o.cancelled > 0:
                    self._give_up(o, "inflight_fill_missing")
                else:
                    for cref in o.cancel_refs:
                        c = self._cancels[cref]
                        if c.status in (CancelStatus.PENDING_ACK, CancelStatus.ACKED):
                            c.status = CancelStatus.TIMED_OUT
                    self._emit("cancel_timeout", "no_confirm", order_ref=o.intent.ref,
                               attempts=o.cancel_attempts)
        return True

    def _give_up(self, o: _Order, reason: str) -> None:
        o.given_up = True
        o.cancel_wanted = False
        self._kill_order_timers(o)
        self._emit("order_given_up", reason, order_ref=o.intent.ref, role=o.intent.role,
                   filled=o.filled, remaining=o.remaining)

    # ---------------------------------------------------------------- deciding what to do next

    def _drive(self) -> None:
        for _ in range(_MAX_DRIVE_STEPS):
            self._ensure_cancels()
            if not self._step():
                break
        self._ensure_cancels()

    def _step(self) -> bool:
        """One decision; True if the state changed (then decide again)."""
        s = self._state
        if s in TERMINAL_STATES:
            return self._maybe_reopen()
        if s in (PairState.IDLE, PairState.CANDIDATE, PairState.ENTRY_REJECTED):
            return False
        if s is PairState.ENTRY_TAKE_SENT:
            if self._escalated and self.filled_take > 0:
                return self._set_state(self._flatten_label(), "escalated_during_entry")
            return self._drive_entry()
        if s is PairState.HEDGE_POST_SENT and not self._escalated:
            return self._drive_post()
        return self._drive_flatten()

    def _take(self) -> _Order:
        return next(o for o in self._orders.values() if o.intent.role is OrderRole.TAKE)

    def _drive_entry(self) -> bool:
        take = self._take()
        if take.is_open and not take.given_up:
            return False
        if self.filled_take > 0:
            if self._access[self._cheap] is not VenueAccess.OPEN:
                # the hedge venue cannot take the post now (a call, a VI, a pause): flatten at once
                self._escalated = True
                self._emit("hedge_venue_not_open", self._access[self._cheap].value, venue=self._cheap,
                           unhedged=-self.net_position)
                return self._set_state(self._flatten_label(), "hedge_venue_not_open")
            deadline = self.hedge_deadline_ns
            if deadline is not None and self._now >= deadline:
                # The take's Chejan came so late (e.g. after a late TR ack) that the post would have no
                # time left: hedge at once instead of spending a post and a cancel.
                self._escalated = True
                self._emit("hedge_timeout", "deadline_passed_before_post", deadline_ns=deadline,
                           unhedged=-self.net_position)
                return self._set_state(self._flatten_label(), "deadline_passed_before_post")
            self._send_post(-self.net_position)
            return self._set_state(PairState.HEDGE_POST_SENT, "take_complete")
        return self._finish()

    def _drive_post(self) -> bool:
        net = self.net_position
        posts = [o for o in self._orders.values() if o.intent.role == OrderRole.HEDGE_POST]
        last = posts[-1] if posts else None
        if net > 0:
            self._escalated = True
            return self._set_state(self._flatten_label(), "over_hedged")
        if net == 0:
            if self._all_settled():
                return self._finish()
            return False
        if self._access[self._cheap] is not VenueAccess.OPEN:
            # the hedge venue entered a call, a VI or a pause with the slice exposed: cancel the post, flatten
            self._escalated = True
            self._emit("hedge_venue_not_open", self._access[self._cheap].value, venue=self._cheap, unhedged=-net)
            return self._set_state(self._flatten_label(), "hedge_venue_not_open")
        if last is not None and last.is_open and not last.given_up:
            return False
        if last is None or last.status is OrderStatus.REFUSED:
            if self._retry_timer is None:
                self._send_post(-net)
            return False
        # The post ended (rejected, lost, cancelled by the venue, given up) without hedging everything.
        self._escalated = True
        reason = {OrderStatus.REJECTED: "hedge_rejected", OrderStatus.LOST: "post_lost"}.get(
            last.status, "post_ended_short")
        return self._set_state(self._flatten_label(), reason)

    def _flatten_blockers(self) -> list[_Order]:
        """Hedge-side orders whose outcome must be known before another hedge or unwind is sent."""
        return [o for o in self._orders.values()
                if o.intent.role != OrderRole.TAKE and not o.given_up and o.is_open]

    def _flatten_label(self) -> PairState:
        live = self._flatten_blockers()
        if any(o.intent.role == OrderRole.HEDGE_POST for o in live):
            return PairState.CANCEL_POST_SENT
        if any(o.intent.role == OrderRole.UNWIND for o in live):
            return PairState.UNWIND_SENT
        if any(o.intent.role == OrderRole.HEDGE_IOC for o in live):
            return PairState.HEDGE_IOC_SENT
        net = self.net_position
        if net > 0:
            return PairState.UNWIND_SENT
        if net < 0:
            return PairState.HEDGE_IOC_SENT
        return self._state if self._state not in TERMINAL_STATES else PairState.HEDGE_IOC_SENT

    def _drive_flatten(self) -> bool:
        for o in self._orders.values():
            if o.intent.role == OrderRole.HEDGE_POST and o.is_open and not o.given_up:
                o.cancel_wanted = True
        self._ensure_cancels()
        blockers = self._flatten_blockers()
        if blockers:
            if any(o.intent.role == OrderRole.HEDGE_POST for o in blockers):
                return self._set_state(PairState.CANCEL_POST_SENT, "cancelling_post")
            label = self._flatten_label()
            return self._set_state(label, "waiting_for_ioc")
        net = self.net_position
        if net != 0:
            if self._retry_timer is not None:
                return False
            sent = self._sent_count(OrderRole.HEDGE_IOC) + self._sent_count(OrderRole.UNWIND)
            if sent >= self._params.max_flatten_orders:
                self._exhausted = True
                self._emit("flatten_exhausted", "max_flatten_orders", net_position=net, sent=sent)
                return self._finish(force_error="flatten_exhausted")
            side = Side.BUY if net < 0 else Side.SELL
            venue, in_call = self._flatten_route()
            if venue is None:
                if not self._blocked:
                    self._blocked = True
                    self._emit("flatten_blocked", "no_venue_open", net_position=net,
                               **{v.value: a.value for v, a in self._access.items()})
                return False
            self._blocked = False
            style, price = self._flatten_order(side, venue, in_call)
            if style is None:
                if not self._unpriced:
                    self._unpriced = True
                    bid, ask = self._touch_of(venue)
                    self._emit("flatten_unpriced", "no_touch", side=side, venue=venue, bid=bid, ask=ask)
                return False
            self._unpriced = False
            if net < 0:
                self._send_order(OrderRole.HEDGE_IOC, venue, Side.BUY, -net, style, price, True)
                return self._set_state(PairState.HEDGE_IOC_SENT, "hedge_remaining")
            self._send_order(OrderRole.UNWIND, venue, Side.SELL, net, style, price, True)
            return self._set_state(PairState.UNWIND_SENT, "over_hedged")
        if not self._all_settled():
            return False
        return self._finish()

    def _flatten_route(self) -> tuple[Venue | None, bool]:
        """Where the next flatten order goes and whether it waits in a call: the first open venue (cheap, then
        rich), else the first in a call, else nowhere (both shut)."""
        venues = (self._cheap, self._rich)
        for v in venues:
            if self._access[v] is VenueAccess.OPEN:
                return v, False
        for v in venues:
            if self._access[v] is VenueAccess.CALL:
                return v, True
        return None, False

    def _touch_of(self, venue: Venue) -> tuple[int, int]:
        return (self._touch_bid, self._touch_ask) if venue is self._cheap else (self._rich_bid, self._rich_ask)

    def _flatten_order(self, side: Side, venue: Venue | None = None,
                       in_call: bool = False) -> tuple[OrderStyle | None, int]:
        """Style and limit price (KRW) of the next flatten order on ``venue`` (default the cheap one).

        Limit IOC at the venue's latest touch ``flatten_slippage_ticks`` beyond it: a buy at the ask + N ticks, a
        sell at the bid − N ticks (with no bid, one tick below the ask); in a call a plain limit at that price
        (it rests until the uncross; a market order would carry no bound). ``(None, 0)`` when no touch prices it
        yet.
        """
        p = self._params
        if p.flatten_style == "market_ioc" and not in_call:
            return OrderStyle.MARKET_IOC, 0
        bid, ask = self._touch_of(venue if venue is not None else self._cheap)
        n = p.flatten_slippage_ticks
        if side is Side.BUY:
            price = _shifted(ask, n, "up")
        else:
            ref = bid if bid > 0 else _shifted(ask, -1, "down")
            price = _shifted(ref, -n, "down")
        style = OrderStyle.LIMIT if in_call else OrderStyle.LIMIT_IOC
        return (style, price) if price > 0 else (None, 0)

    @property
    def touch(self) -> tuple[int, int]:
        """The cheap venue's (bid, ask) the next flatten order is priced from (0 = unknown)."""
        return self._touch_bid, self._touch_ask

    @property
    def unpriced(self) -> bool:
        """True while a flatten order is due but no touch prices it (a :class:`BookTouch` wakes it)."""
        return self._unpriced

    def note_touch(self, bid: int, ask: int, venue: Venue | None = None) -> None:
        """Remember a venue's latest touch (KRW; 0 = that side unknown or empty: the last price is kept) for the
        next flatten order there; ``venue`` None = the cheap venue.

        Changes nothing else and returns no action: the caller feeds it before the step's events so that an
        escalation they cause is priced from the freshest book (use :class:`BookTouch` to wake a machine
        that waits for a price).
        """
        if venue is None or venue is self._cheap:
            if bid > 0:
                self._touch_bid = int(bid)
            if ask > 0:
                self._touch_ask = int(ask)
            return
        if bid > 0:
            self._rich_bid = int(bid)
        if ask > 0:
            self._rich_ask = int(ask)

    @property
    def access(self) -> Mapping[Venue, VenueAccess]:
        """What orders of this slice can do on each venue now, as the caller last said (:class:`VenueChanged`)."""
        return MappingProxyType(self._access)

    @property
    def blocked(self) -> bool:
        """True while a flatten order is due but neither venue takes one (both paused or closed)."""
        return self._blocked

    def _all_settled(self) -> bool:
        """No order still open that we are waiting for (given-up and lost ones do not count)."""
        return not any(o.is_open and not o.given_up for o in self._orders.values())

    def _ensure_cancels(self) -> None:
        """Send (or give up) the cancels of orders that must be cancelled."""
        for o in self._orders.values():
            if (not o.cancel_wanted or o.given_up or o.status is not OrderStatus.WORKING or o.complete
                    or o.order_no is None):
                continue
            if o.cancelled > 0:
                if o.cancel_timer is None:       # remainder cancelled already: wait for the fill in flight
                    o.cancel_timer = self._start_timer(
                        TimerKind.CANCEL, self._now + self._params.cancel_timeout_ms * _NS_PER_MS,
                        o.intent.ref)
                continue
            if o.cancel_timer is not None:
                continue
            if o.cancel_refs and self._cancels[o.cancel_refs[-1]].status is CancelStatus.PENDING_SEND:
                continue
            if o.cancel_attempts >= self._params.max_cancel_attempts:
                self._give_up(o, "cancel_attempts_exhausted")
                continue
            if self._retry_timer is not None:
                continue
            self._send_cancel(o)

    def _maybe_reopen(self) -> bool:
        """In a terminal state: flatten again if late evidence says so, or re-report a resolution."""
        if self._exhausted:
            return False                  # stopped for the operator: nothing automatic any more
        live = any(o.status in (OrderStatus.PENDING_SEND, OrderStatus.PENDING_ACK, OrderStatus.WORKING)
                   and not o.given_up for o in self._orders.values())
        if self.net_position == 0 and not live:
            unresolved = tuple(ref for ref, o in self._orders.items() if o.unresolved)
            if unresolved != self._last_unresolved:
                self._emit("resolved_late", "unresolved_orders_changed", unresolved=unresolved)
                return self._finish()
            return False
        self._escalated = True
        self._emit("reopened", "late_evidence", net_position=self.net_position)
        return self._set_state(self._flatten_label(), "reopened_by_late_event")

    def _finish(self, force_error: str | None = None) -> bool:
        unresolved = tuple(ref for ref, o in self._orders.items() if o.unresolved)
        p = self._params
        exposure = any(o.filled > 0 for o in self._orders.values())
        if force_error is not None:
            outcome, state, reason = "error", PairState.ERROR, force_error
        elif exposure:
            if unresolved:
                outcome, state, reason = "error", PairState.ERROR, "unresolved_orders"
            else:
                outcome, state, reason = "done", PairState.PAIRED_DONE, "flat"
        else:
            take = self._take()
            if take.status is OrderStatus.REFUSED:
                outcome, reason = "backoff", "take_rate_limited"
            elif take.status in (OrderStatus.REJECTED, OrderStatus.LOST):
                outcome, reason = "rejected", ("take_lost" if take.status is OrderStatus.LOST
                                               else take.reject_reason or "take_rejected")
            elif take.status is OrderStatus.CANCELLED:
                outcome, reason = "missed", "take_not_filled"
            else:
                outcome, reason = "error", "take_unresolved"
            state = PairState.ERROR if outcome == "error" else PairState.COOLDOWN
            if outcome == "rejected":
                self._set_state(PairState.ENTRY_REJECTED, reason)
        if outcome == "done":
            cooldown_until = None
        elif outcome == "backoff":
            cooldown_until = self._now + p.retry_after_308_ms * _NS_PER_MS
        else:
            cooldown_until = self._now + p.cooldown_ms * _NS_PER_MS
        changed = self._set_state(state, reason)
        # Nothing is awaited any more: forget every timer (late fires are then ignored as stale).
        self._timers.clear()
        self._hedge_timer = self._retry_timer = None
        for o in self._orders.values():
            o.ack_timer = o.settle_timer = o.cancel_timer = None
        self._outcome = outcome
        self._last_unresolved = unresolved
        self._out.append(Finished(
            outcome=outcome, pair_id=self.pair_id, symbol=self.symbol, now_ns=self._now, reason=reason,
            net_position=self.net_position, filled_take=self.filled_take, filled_hedge=self.filled_hedge,
            filled_unwind=self.filled_unwind, cooldown_until_ns=cooldown_until, unresolved_refs=unresolved))
        return changed

