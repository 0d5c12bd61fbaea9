"""What the operator's window sees of the engine's core objects: frozen, picklable views and their builders.

The actors answer the Supervisor's operator-detail requests with these (a few times a second at most, and
only while a window is attached): :func:`desk_view` reads a :class:`~core.pair_desk.PairDesk` (pairs with
their orders and timelines, arming, mutes, freezes, positions), :class:`SymbolRowTracker` turns a
:class:`~core.spread.SpreadState` into rows of :data:`SYMBOL_ROW_DTYPE` (both books, the edge now,
eligibility, cooldown) and hands out only the rows that changed since its last answer.

Nothing here runs on the tick path: the builders read state the step has already left behind.
Units: ``*_ns`` engine-clock nanoseconds since the epoch, prices KRW, quantities shares.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING

import numpy as np

from core.clock import kst_date
from core.edge import evaluate_edges
from core.pair_journal import JournalEntry

if TYPE_CHECKING:
    from core.pair_desk import PairDesk
    from core.pair_fsm import PairStateMachine
    from core.spread import SpreadState

__all__ = ["SYMBOL_ROW_DTYPE", "DeskView", "FeedEntry", "InventoryRow", "OrderRow", "PairView", "SymbolInfo",
           "SymbolRowTracker", "desk_view", "pair_view"]

#: One row of the Symbols table: universe index, both L1 books, the edge now and whether it is eligible.
SYMBOL_ROW_DTYPE = np.dtype([
    ("sym", np.int32),
    ("krx_bid", np.int64), ("krx_ask", np.int64), ("krx_bid_qty", np.int64), ("krx_ask_qty", np.int64),
    ("nxt_bid", np.int64), ("nxt_ask", np.int64), ("nxt_bid_qty", np.int64), ("nxt_ask_qty", np.int64),
    ("direction", np.int8),          # 0 none, 1 A (buy KRX, sell NXT), 2 B (buy NXT, sell KRX)
    ("net_krw", np.float64), ("net_bps", np.float64),
    ("eligible", np.bool_),          # the signal rule's verdict now (data quality included)
    ("size_ok", np.bool_),           # both visible sizes of the best direction ≥ the slice
    ("cooldown_until_ns", np.int64),  # flicker cooldown of the SpreadEngine (0 = none)
    ("quality", np.uint8),           # core.book Q_* flags (stale, crossed, off-grid)
    ("tick_t_ns", np.int64),         # engine time of the newest update of the row
])

#: Recently finished pairs carried in every desk view (the pair monitor and the event feed's click target).
RECENT_PAIRS = 40


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """The static facts of one universe symbol: name, market, NXT listing, its screen and shard."""

    code: str
    name: str
    market: str
    nxt: bool
    screen_no: str
    shard: int


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One order (or cancel) of a pair as the machine knows it; ``sent_ns`` when it reached the broker."""

    ref: str
    role: str
    venue: str
    side: str
    qty: int
    style: str
    price: int
    status: str
    filled: int
    cancelled: int
    avg_fill_price: float | None
    order_no: str
    sent_ns: int | None
    reject_reason: str = ""
    given_up: bool = False


@dataclass(frozen=True, slots=True)
class PairView:
    """One pair (slice): its state, timers, orders and timeline.

    ``hedge_deadline_ns`` is when the post must have hedged (first take fill + t_hedge); ``exposure_since_ns``
    when the net position last left 0 (None when flat). ``entry_spread_krw`` is the signal's rich bid minus
    cheap ask per share (before costs).
    """

    pair_id: str
    code: str
    direction: str
    qty: int
    state: str
    outcome: str | None
    active: bool
    escalated: bool
    started_ns: int | None
    first_take_fill_ns: int | None
    hedge_deadline_ns: int | None
    exposure_since_ns: int | None
    net_position: int
    filled_take: int
    filled_hedge: int
    rich_bid: int
    cheap_ask: int
    t_hedge_ms: int
    orders: tuple[OrderRow, ...]
    timeline: tuple[JournalEntry, ...]

    @property
    def entry_spread_krw(self) -> int:
        return self.rich_bid - self.cheap_ask

    @property
    def last_action(self) -> str:
        """The newest timeline entry as a short text (``state HEDGE_POST_SENT take_complete``)."""
        if not self.timeline:
            return self.state
        e = self.timeline[-1]
        return f"{e.kind} {e.reason}".strip() if e.kind != "state" else f"→ {e.state} ({e.reason})"


@dataclass(frozen=True, slots=True)
class InventoryRow:
    """The account's shares of one code: ``held`` (보유수량) and ``sellable`` (주문가능수량) from the broker.

    From the desk's account model (SPEC §10): ``sellable`` is what a new pair may still sell after the open
    pairs' claims. Empty until the broker has reported the holdings.
    """

    code: str
    held: int
    sellable: int


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One line of the operator's event feed: ``seq`` numbers lines over the run (the feed's cursor),
    ``kind`` is the operator's word (``BUY_FILL``, ``PAIR_DONE``, ``REJECT``, ``AUTO-PAUSE ON``…),
    ``level`` one of ``info``, ``warn``, ``error``; ``pair_id`` and ``code`` say what it is about."""

    seq: int
    t_ns: int
    kind: str
    code: str
    pair_id: str
    text: str
    level: str = "info"


@dataclass(frozen=True, slots=True)
class DeskView:
    """The PairManager's state for the operator: arming, operator controls, kill-switch state, pairs.

    ``session_armed`` is the session guard's verdict (guard window ``guard_start_ns``–``guard_end_ns`` of
    the engine's day, FID 215: ``nxt_main_open`` and the last ``market_operation``); ``disarmed_reason`` an
    engine-wide disarm (the operator's or a kill switch's; None when none): the engine opens pairs only
    when ``armed``. ``inventory`` comes from the account model once the broker has reported the holdings
    (SPEC §10); ``vi`` the ``(code, venue)`` pairs in a volatility interruption now (SPEC §11).
    """

    t_ns: int
    phase: str
    session_armed: bool
    arm_reason: str
    disarmed_reason: str | None
    nxt_main_open: bool | None
    market_operation: str
    market_operation_ns: int | None
    guard_start_ns: int
    guard_end_ns: int
    muted: tuple[tuple[str, str], ...]
    frozen: tuple[tuple[str, int], ...]
    cooldowns: tuple[tuple[str, int], ...]
    trips: tuple[tuple[str, int], ...]
    active: tuple[PairView, ...]
    recent: tuple[PairView, ...]
    positions: tuple[tuple[str, int], ...]
    pnl_marked_krw: float
    flat: bool
    max_concurrent_symbols: int
    t_hedge_ms: int
    incarnation: int = 1
    recovered_pairs: int = 0
    inventory: tuple[InventoryRow, ...] = ()
    vi: tuple[tuple[str, str], ...] = ()

    @property
    def armed(self) -> bool:
        """Whether a signal may open a pair now (before per-symbol limits)."""
        return self.session_armed and self.disarmed_reason is None


def pair_view(m: PairStateMachine, journal_timeline: tuple[JournalEntry, ...], active: bool,
              send_ns: dict[str, int], started_ns: int | None = None) -> PairView:
    """The view of one machine (``send_ns``: ref → when the bridge sent it)."""
    rows = []
    for ref, o in m.orders.items():
        it = o.intent
        rows.append(OrderRow(ref=ref, role=str(it.role), venue=str(it.venue), side=str(it.side), qty=it.qty,
                             style=str(it.style), price=it.price, status=str(o.status), filled=o.filled,
                             cancelled=o.cancelled, avg_fill_price=o.avg_fill_price, order_no=o.order_no or "",
                             sent_ns=send_ns.get(ref), reject_reason=o.reject_reason, given_up=o.given_up))
    for ref, c in m.cancels.items():
        ci = c.intent
        rows.append(OrderRow(ref=ref, role="cancel", venue=str(ci.venue), side=str(ci.side), qty=ci.qty,
                             style="cancel", price=0, status=str(c.status), filled=0, cancelled=0,
                             avg_fill_price=None, order_no=c.order_no or "", sent_ns=send_ns.get(ref)))
    rows.sort(key=lambda r: (r.sent_ns is None, r.sent_ns or 0, r.ref))
    start = started_ns if started_ns is not None else (journal_timeline[0].t_ns if journal_timeline else None)
    return PairView(
        pair_id=m.pair_id, code=m.symbol, direction=str(m.direction), qty=m.qty, state=str(m.state),
        outcome=m.outcome, active=active, escalated=m.escalated, started_ns=start,
        first_take_fill_ns=m.first_take_fill_ns, hedge_deadline_ns=m.hedge_deadline_ns,
        exposure_since_ns=m.exposure_since_ns, net_position=m.net_position, filled_take=m.filled_take,
        filled_hedge=m.filled_hedge, rich_bid=m.rich_bid, cheap_ask=m.cheap_ask, t_hedge_ms=m.params.t_hedge_ms,
        orders=tuple(rows), timeline=journal_timeline)


@dataclass
class DeskViewCache:
    """What :func:`desk_view` keeps between calls (one per caller): the views of finished pairs by pair id with
    the key they were built for, and the inventory rows with the ``(code, held, sellable)`` they were built from."""

    pairs: dict[str, tuple[tuple[object, ...], PairView]] = field(default_factory=dict)
    inventory: tuple[list[tuple[str, int, int]], tuple[InventoryRow, ...]] | None = None


def desk_view(desk: PairDesk, recent: int = RECENT_PAIRS, cache: DeskViewCache | None = None) -> DeskView:
    """The operator's view of ``desk`` at its current engine time (the ``recent`` newest finished pairs).

    ``cache`` (kept by the caller between calls) holds the views of finished pairs: they are rebuilt only
    when their timeline grew or their state or outcome changed (late evidence reopening a pair does both);
    and the inventory rows, rebuilt only when a holding or a claim changed.
    """
    t = desk.now_ns
    sends = desk._send_t          # ref -> engine time the broker got it (the desk's own record)
    risk = desk.risk

    def view(pid: str, active: bool) -> PairView:
        m = desk.pairs[pid]
        timeline = desk.journal.timeline(pid)
        if active or cache is None:
            return pair_view(m, timeline, active, sends)
        key = (str(m.state), m.outcome, len(timeline), desk.journal.dropped(pid))
        hit = cache.pairs.get(pid)
        if hit is not None and hit[0] == key:
            return hit[1]
        v = pair_view(m, timeline, active, sends)
        cache.pairs[pid] = (key, v)
        return v

    active = tuple(view(pid, True) for pid in sorted(desk.active))
    finished = (pid for pid in reversed(desk.pairs) if pid not in desk.active)
    recent_views = tuple(view(pid, False) for pid in islice(finished, recent))
    if cache is not None and len(cache.pairs) > 4 * recent:
        keep = {v.pair_id for v in recent_views}
        for pid in [p for p in cache.pairs if p not in keep]:
            del cache.pairs[pid]
    positions = desk.ledger.positions if desk.ledger is not None else {}
    notice = desk.session.last_notice
    guard = (0, 0)
    if t:
        try:
            day = kst_date(t)
            guard = (desk.session.guard_start_ns(day), desk.session.guard_end_ns(day))
        except ValueError:          # a date outside the calendar: no guard window to show
            pass
    return DeskView(
        t_ns=t, phase=desk.phase, session_armed=desk.armed, arm_reason=desk.arm_reason,
        disarmed_reason=risk.disarmed_reason, nxt_main_open=notice.nxt_main_open if notice is not None else None,
        market_operation=(f"{notice.operation.value} ({notice.raw!r})" if notice is not None else ""),
        market_operation_ns=notice.at_ns if notice is not None else None,
        guard_start_ns=guard[0], guard_end_ns=guard[1],
        muted=tuple(sorted(risk.muted.items())), frozen=tuple(sorted(risk.frozen(t).items())),
        cooldowns=tuple(sorted((c, u) for c, u in risk.cooldown_until.items() if u > t)),
        trips=tuple(sorted((c, n) for c, n in risk.trips.items() if n)),
        active=active, recent=recent_views, positions=tuple(sorted(positions.items())),
        pnl_marked_krw=float(desk.marked_pnl_krw()), flat=desk.flat,
        max_concurrent_symbols=risk.limits.max_concurrent_symbols, t_hedge_ms=desk.cfg.execution.t_hedge_ms,
        incarnation=desk.incarnation, recovered_pairs=desk.recovered_pairs,
        inventory=_inventory(desk, cache) if desk.account.holdings_known else (),
        vi=tuple(sorted((code, venue.value) for code, venue in desk.vi)))


def _inventory(desk: PairDesk, cache: DeskViewCache | None) -> tuple[InventoryRow, ...]:
    raw = desk.inventory()
    hit = cache.inventory if cache is not None else None
    if hit is not None and hit[0] == raw:
        return hit[1]
    rows = tuple(InventoryRow(c, held, sellable) for c, held, sellable in raw)
    if cache is not None:
        cache.inventory = (raw, rows)
    return rows


class SymbolRowTracker:
    """Rows of :data:`SYMBOL_ROW_DTYPE` for a :class:`~core.spread.SpreadState`, handed out as deltas.

    :meth:`changed_rows` evaluates the edge of every symbol with its own output buffers (the SpreadEngine's
    kernel buffers are never touched) and returns the rows that differ from what it handed out before: at
    most ``limit`` of them, eligible rows and rows whose direction flipped first, the rest in turn from where
    the previous answer stopped (rows left out stay pending). A bounded answer keeps the message small: at
    20,000 updates/s nearly every row changes between two snapshots, and an 800-row message (80 KB) held up
    the SpreadEngine's sends on the tick path.
    """

    def __init__(self) -> None:
        self._last: np.ndarray | None = None
        self._cursor = 0

    def rows(self, state: SpreadState, now_ns: int) -> np.ndarray:
        """Every symbol's row at engine time ``now_ns``."""
        n = state.n
        out = np.zeros(n, dtype=SYMBOL_ROW_DTYPE)
        direction = np.zeros(n, dtype=np.int8)
        net_krw = np.zeros(n, dtype=np.float64)
        net_bps = np.zeros(n, dtype=np.float64)
        eligible = np.zeros(n, dtype=np.bool_)
        if n:
            evaluate_edges(state.krx_bid, state.krx_ask, state.krx_bid_qty, state.krx_ask_qty,
                           state.nxt_bid, state.nxt_ask, state.nxt_bid_qty, state.nxt_ask_qty,
                           float(state.krx_fee_bps), float(state.nxt_fee_bps), state.tax_bps, state.min_net_ticks,
                           int(state.min_qty), state.cooldown_until_ns, int(now_ns),
                           direction, net_krw, net_bps, eligible)
        out["sym"] = np.arange(n, dtype=np.int32)
        for name in ("krx_bid", "krx_ask", "krx_bid_qty", "krx_ask_qty",
                     "nxt_bid", "nxt_ask", "nxt_bid_qty", "nxt_ask_qty"):
            out[name] = getattr(state, name)
        out["direction"] = direction
        out["net_krw"] = net_krw
        out["net_bps"] = net_bps
        out["eligible"] = eligible & (state.quality == 0)
        a_ok = (state.krx_ask_qty >= state.min_qty) & (state.nxt_bid_qty >= state.min_qty)
        b_ok = (state.nxt_ask_qty >= state.min_qty) & (state.krx_bid_qty >= state.min_qty)
        out["size_ok"] = np.where(direction == 2, b_ok, a_ok)
        out["cooldown_until_ns"] = np.where(state.cooldown_until_ns > now_ns, state.cooldown_until_ns, 0)
        out["quality"] = state.quality
        out["tick_t_ns"] = state.tick_t_ns
        return out

    def changed_rows(self, state: SpreadState, now_ns: int, full: bool = False,
                     limit: int | None = None) -> np.ndarray:
        """The rows that changed since they were last handed out (every row if ``full``), at most ``limit``."""
        rows = self.rows(state, now_ns)
        n = len(rows)
        last = self._last
        if last is None or len(last) != n:
            last = self._last = np.zeros(n, dtype=SYMBOL_ROW_DTYPE)
            last["sym"] = -1                       # nothing handed out yet: every row differs
        if full:
            idx = np.arange(n)
        else:
            changed = np.zeros(n, dtype=np.bool_)
            for name in rows.dtype.names or ():
                a, b = rows[name], last[name]
                if a.dtype.kind == "f":
                    changed |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
                else:
                    changed |= a != b
            idx = np.flatnonzero(changed)
        if limit is not None and len(idx) > limit:
            first = rows["eligible"][idx] | (rows["direction"][idx] != last["direction"][idx])
            rest = idx[~first]
            rest = rest[np.argsort((rest - self._cursor) % max(n, 1), kind="stable")]
            idx = np.concatenate([idx[first], rest])[:limit]
            if len(rest):
                self._cursor = int(idx[-1]) + 1
        last[idx] = rows[idx]
        return rows[idx]


def codes_of(views: Iterable[PairView]) -> tuple[str, ...]:
    """The distinct codes of ``views`` in first-seen order."""
    seen: dict[str, None] = {}
    for v in views:
        seen.setdefault(v.code, None)
    return tuple(seen)
