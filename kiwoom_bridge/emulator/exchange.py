"""An L1 exchange simulator for one venue: best bid/ask books, take orders, resting orders, a queue model.

Honest rather than flattering (SPEC §7). Everything happens at *exchange time*: the emulated control
applies latencies before calling in (order arrival, cancel arrival) and after (notices to the client).

Book: one :class:`L1Book` per code, updated by market events; a field that is ``0`` in an event is
absent (unchanged). The simulator knows only the best level, so:

* **Take orders** fill only against the *visible* opposite size at the moment they arrive, at the touch
  price, and deplete that visible size (a second take before the next quote update sees what is left):

  - ``"10"`` limit IOC: fills ``min(qty, visible)`` if the touch is within its limit; rest cancelled.
  - ``"13"`` market IOC: fills ``min(qty, visible)`` at the touch; rest cancelled.
  - ``"20"``/``"23"`` limit/market FOK: fills the whole quantity if the visible size covers it (and the
    touch is within the limit), otherwise cancels it all.
  - ``"03"`` market: fills up to the visible size at the touch and **the rest one tick worse** (the
    depth assumption of an L1 simulator: the next level is one tick away and deep enough). With no
    opposite quote at all the order is cancelled.

* **Posted orders**: ``"00"`` limit orders that are marketable on arrival (buy ≥ ask, sell ≤ bid) take
  the visible size like a limit IOC and the remainder rests at the limit price. ``"29"`` mid orders are
  priced at the mid of this venue's book at arrival (buy rounded down, sell rounded up to whole KRW;
  the mid may lie between ticks) and rest; a one-sided or locked/crossed book rejects them.

* **Queue model** for resting orders (never an instant fill at the touch):

  - joining at the best price on our side: ``queue_ahead = visible size × queue_ahead_fraction``;
    improving the best price: ``queue_ahead = 0``; behind the best: unknown until the best price comes
    to our level, then initialised from the size visible there;
  - a trade printed at our price first reduces ``queue_ahead`` and the rest of its volume fills us
    (several of our orders at one price share a print in time priority);
  - a print while our queue position is still unknown only sets ``queue_ahead = 0`` (the print is
    assumed to have consumed exactly the orders ahead of us);
  - the visible size at our level shrinking below ``queue_ahead`` (cancels ahead) lowers it;
  - with ``trade_through_fills``: a print through our price (sell print below our buy, buy print above
    our sell) or the opposite best crossing our price with visible size (ask ≤ our buy) fills the whole
    remainder **at our price**.

Trade quantity of a print: ``last_qty`` of the event, or, when absent (old recordings carry no FID 15),
the increase of the cumulative volume (FID 13).

Empty sides: a price of :data:`~kiwoom_bridge.types.EMPTY_SIDE` in an event empties that side of the book (price
and size 0): a take against it finds nothing, and the real data says so (a zero price) instead of the last one.

**Phases** (SPEC §11; the control sets :attr:`ExchangeSimulator.phase` from :mod:`core.phases` and each code's
volatility interruptions with :meth:`ExchangeSimulator.set_vi`). An order that *arrives* (``ack_to_fill`` after its
ack, so the phase may have changed since the broker checked it) is treated by the phase of its code:

* **continuous**: everything above.
* **limit only** (NXT pre- and after-market): continuous matching, but only ``"00"`` limit orders; anything else
  is refused on arrival.
* **call** (a scheduled call, or a code in a VI): nothing matches continuously — no take, no queue model, no
  trade-through. ``"00"`` limits rest (``"03"`` market orders rest too, on KRX only); IOC, FOK and mid orders
  are refused. At the call's end one **uncross** at price ``P`` fills every resting order *strictly better*
  than ``P`` (buy above, sell below; market orders always) in full at ``P`` — in a single-price auction every
  order better than the clearing price executes — and leaves orders *at* ``P`` resting with their queue position
  unknown (how much of the clearing price's volume they would get is not known). ``P`` is the price the call's
  end carries (the synthetic market's uncross print, a replayed 해제 row's price), else the last trade printed
  during the call, else the book's mid rounded down to the tick grid; with none of these no uncross happens.
* **pause**: nothing matches; every new order is refused; resting orders wait.
* **closed**: every new order is refused; orders still resting when the venue closes are cancelled by the
  exchange (remainder cancelled, reason ``장마감``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

from core.phases import VenuePhase
from core.ticks import round_to_tick
from core.ticks import tick_size as _default_tick_size
from kiwoom_bridge.types import EMPTY_SIDE, QuoteEvent

__all__ = [
    "BUY", "SELL", "HOGA_LIMIT", "HOGA_MARKET", "HOGA_LIMIT_IOC", "HOGA_MARKET_IOC", "HOGA_LIMIT_FOK",
    "HOGA_MARKET_FOK", "HOGA_MID", "SUPPORTED_HOGA", "PRICED_HOGA", "ARRIVAL_REFUSAL", "L1Book", "SimOrder",
    "ExchangeListener", "ExchangeSimulator",
]

BUY = 1
SELL = -1

HOGA_LIMIT = "00"
HOGA_MARKET = "03"
HOGA_LIMIT_IOC = "10"
HOGA_MARKET_IOC = "13"
HOGA_LIMIT_FOK = "20"
HOGA_MARKET_FOK = "23"
HOGA_MID = "29"
#: Hoga (거래구분) codes the simulator executes.
SUPPORTED_HOGA = frozenset({HOGA_LIMIT, HOGA_MARKET, HOGA_LIMIT_IOC, HOGA_MARKET_IOC, HOGA_LIMIT_FOK,
                            HOGA_MARKET_FOK, HOGA_MID})
#: Hoga codes that need a price > 0; all others must be sent with price 0.
PRICED_HOGA = frozenset({HOGA_LIMIT, HOGA_LIMIT_IOC, HOGA_LIMIT_FOK})

_IOC = frozenset({HOGA_LIMIT_IOC, HOGA_MARKET_IOC})
_FOK = frozenset({HOGA_LIMIT_FOK, HOGA_MARKET_FOK})

#: Why the matching engine refused an order that arrived in a phase that does not take it (a '거부' Chejan 919).
ARRIVAL_REFUSAL = {
    "closed": "[emulator] 장종료: 주문 도착 시 매매거래 시간이 아닙니다",
    "pause": "[emulator] 휴장: 주문 도착 시 매매거래가 중단되어 있습니다",
    "call": "[emulator] 단일가매매 중에는 IOC/FOK/중간가 주문을 할 수 없습니다",
    "limit_only": "[emulator] 지정가 주문만 가능한 시간입니다",
}

PENDING = "pending"   # sent, not yet at the exchange
OPEN = "open"         # resting on the book
DONE = "done"         # filled, cancelled or rejected


class L1Book:
    """Best level of one code on one venue. Prices in KRW, sizes in shares, ``0`` = unknown/absent.

    ``ref_price`` is the previous close used for the sign prefixes of real data (set from the first
    event: ``last - change`` when the event carries a change, otherwise its first price).
    """

    __slots__ = ("code", "bid", "ask", "bid_qty", "ask_qty", "last", "last_qty", "cum_volume",
                 "ref_price", "t_ns")

    def __init__(self, code: str) -> None:
        self.code = code
        self.bid = 0
        self.ask = 0
        self.bid_qty = 0
        self.ask_qty = 0
        self.last = 0
        self.last_qty = 0
        self.cum_volume = 0
        self.ref_price = 0
        self.t_ns = 0

    @property
    def mid(self) -> float:
        """Mid price in KRW (may be fractional); 0.0 when either side is missing."""
        return (self.bid + self.ask) / 2 if self.bid and self.ask else 0.0

    def __repr__(self) -> str:
        return (f"L1Book({self.code} bid {self.bid}x{self.bid_qty} ask {self.ask}x{self.ask_qty} "
                f"last {self.last}x{self.last_qty})")


class SimOrder:
    """One order inside the simulator (mutable state). Prices in KRW, quantities in shares.

    ``side`` is :data:`BUY` (+1) or :data:`SELL` (-1). ``price`` is the limit (0 for market types until a
    mid order is priced at arrival). ``leaves`` is the open quantity; ``meta`` is free for the caller
    (the emulated control keeps its Kiwoom bookkeeping there).
    """

    __slots__ = ("order_no", "code", "venue", "side", "qty", "price", "hoga", "leaves", "filled",
                 "cum_amount", "state", "queue_ahead", "queue_known", "seq", "meta")

    def __init__(self, order_no: str, code: str, venue: str, side: int, qty: int, price: int, hoga: str,
                 meta: object = None) -> None:
        if side not in (BUY, SELL):
            raise ValueError(f"side must be BUY (+1) or SELL (-1), got {side!r}")
        if qty <= 0:
            raise ValueError(f"order quantity must be > 0, got {qty!r}")
        self.order_no = order_no
        self.code = code
        self.venue = venue
        self.side = side
        self.qty = qty
        self.price = price
        self.hoga = hoga
        self.leaves = qty
        self.filled = 0
        self.cum_amount = 0
        self.state = PENDING
        self.queue_ahead = 0.0
        self.queue_known = False
        self.seq = 0
        self.meta = meta

    def __repr__(self) -> str:
        side = "BUY" if self.side == BUY else "SELL"
        return (f"SimOrder({self.order_no} {side} {self.code}/{self.venue} {self.qty}@{self.price} "
                f"hoga {self.hoga} leaves {self.leaves} {self.state} qa {self.queue_ahead:g})")


class ExchangeListener(Protocol):
    """Receives what the exchange did, at exchange time ``t_ns``."""

    def on_fill(self, order: SimOrder, qty: int, price: int, exec_id: str, t_ns: int) -> None:
        """``order`` traded ``qty`` at ``price`` (its ``leaves``/``filled`` are already updated)."""

    def on_cancelled(self, order: SimOrder, qty: int, reason: str, t_ns: int) -> None:
        """The exchange cancelled ``qty`` of ``order`` by itself (IOC/FOK/market remainder)."""

    def on_rejected(self, order: SimOrder, reason: str, t_ns: int) -> None:
        """The exchange refused ``order`` on arrival."""


class ExchangeSimulator:
    """L1 matching for one venue (see the module docstring for the rules).

    Args:
      venue: ``'KRX'`` or ``'NXT'``.
      listener: Receives fills, exchange cancels and rejects (see :class:`ExchangeListener`).
      queue_ahead_fraction: Share of the visible size at our price assumed ahead of us when we join
        (``sim.fill_model.queue_ahead_fraction``; 1.0 = all of it).
      trade_through_fills: Whether prints through our price and a crossing opposite best fill us
        (``sim.fill_model.trade_through_fills``).
      tick_size: Tick size function (KRW → KRW), used for the market-order depth assumption.
    """

    def __init__(self, venue: str, listener: ExchangeListener, *, queue_ahead_fraction: float = 1.0,
                 trade_through_fills: bool = True,
                 tick_size: Callable[[int], int] = _default_tick_size) -> None:
        if queue_ahead_fraction < 0 or not math.isfinite(queue_ahead_fraction):
            raise ValueError(f"queue_ahead_fraction must be a finite number ≥ 0, got {queue_ahead_fraction!r}")
        self.venue = venue
        self.listener = listener
        self.queue_ahead_fraction = float(queue_ahead_fraction)
        self.trade_through_fills = bool(trade_through_fills)
        self._tick_size = tick_size
        self._books: dict[str, L1Book] = {}
        self._resting: dict[str, list[SimOrder]] = {}
        self._orders: dict[str, SimOrder] = {}
        self._seq = 0
        self._exec_seq = 0
        self.phase = VenuePhase.CONTINUOUS
        self._vi: set[str] = set()
        self._call_print: dict[str, int] = {}     # code -> the last trade printed during its call

    # -- phases ---------------------------------------------------------------------------------------

    def in_call(self, code: str) -> bool:
        """Whether ``code`` trades in a call now (a scheduled call, or its VI)."""
        return self.phase is VenuePhase.CALL or code in self._vi

    def in_vi(self, code: str) -> bool:
        """Whether ``code`` is in a volatility interruption on this venue."""
        return code in self._vi

    def matching(self, code: str) -> bool:
        """Whether ``code`` matches continuously now."""
        return self.phase in (VenuePhase.CONTINUOUS, VenuePhase.LIMIT_ONLY) and code not in self._vi

    def refusal(self, code: str, hoga: str) -> str:
        """Why a new order of ``hoga`` on ``code`` cannot be taken now ('' = it can): the phase rules above."""
        if not self.phase.takes_orders:
            return "closed" if self.phase is VenuePhase.CLOSED else "pause"
        if self.in_call(code):
            if hoga == HOGA_LIMIT or (hoga == HOGA_MARKET and self.venue == "KRX"):
                return ""
            return "call"
        if self.phase is VenuePhase.LIMIT_ONLY and hoga != HOGA_LIMIT:
            return "limit_only"
        return ""

    def set_phase(self, phase: VenuePhase, t_ns: int, uncross_px: dict[str, int] | None = None) -> None:
        """The venue enters ``phase`` at ``t_ns``: a call that ends uncrosses every code not in a VI; a venue that
        closes cancels what still rests."""
        old, self.phase = self.phase, phase
        if old is VenuePhase.CALL and phase is not VenuePhase.CALL:
            for code in sorted(self._resting):
                if code not in self._vi:
                    self.uncross(code, t_ns, (uncross_px or {}).get(code, 0))
        if phase is VenuePhase.CALL and old is not VenuePhase.CALL:
            self._call_print.clear()
        if phase is VenuePhase.CLOSED:
            for code in sorted(self._resting):
                for o in tuple(self._resting.get(code, ())):
                    self._exchange_cancel(o, "장마감", t_ns)

    def set_vi(self, code: str, active: bool, t_ns: int, price: int = 0) -> None:
        """``code`` enters (``active``) or leaves a volatility interruption at ``t_ns``; leaving uncrosses it at
        ``price`` (0 = from the book), unless the venue itself is in a call."""
        if active:
            if code not in self._vi:
                self._vi.add(code)
                self._call_print.pop(code, None)
            return
        if code in self._vi:
            self._vi.discard(code)
            if self.phase is not VenuePhase.CALL:
                self.uncross(code, t_ns, price)

    def uncross(self, code: str, t_ns: int, price: int = 0) -> int:
        """The call of ``code`` ends at ``t_ns``: fill the resting orders strictly better than the uncross price
        at that price (module docstring). Returns the price used (0 = no uncross)."""
        b = self._books.get(code)
        px = price or self._call_print.pop(code, 0)
        if not px and b is not None and b.bid and b.ask:
            px = int(round_to_tick((b.bid + b.ask) // 2, "down"))
        self._call_print.pop(code, None)
        if not px:
            return 0
        for o in tuple(self._resting.get(code, ())):
            if o.leaves <= 0:
                continue
            market = o.hoga == HOGA_MARKET
            better = (o.price > px) if o.side == BUY else (o.price < px)
            if market or better:
                self._fill(o, o.leaves, px, t_ns)
            else:
                o.queue_ahead, o.queue_known = 0.0, False
        return px

    # -- inspection ---------------------------------------------------------------------------------

    def book(self, code: str) -> L1Book | None:
        """The L1 book of ``code`` (None before its first market event)."""
        return self._books.get(code)

    def order(self, order_no: str) -> SimOrder | None:
        """An order this exchange has seen (any state)."""
        return self._orders.get(order_no)

    def resting(self, code: str) -> list[SimOrder]:
        """Open resting orders on ``code`` in time priority (a copy)."""
        return list(self._resting.get(code, ()))

    # -- market data ----------------------------------------------------------------------------------

    def on_market(self, ev: QuoteEvent) -> L1Book:
        """Apply one market event (at exchange time ``ev.t_ns``) and run the queue model. Returns the book."""
        code = ev.code
        b = self._books.get(code)
        if b is None:
            b = self._books[code] = L1Book(code)
        if ev.ask:
            b.ask = max(ev.ask, 0)
        if ev.bid:
            b.bid = max(ev.bid, 0)
        if ev.ask == EMPTY_SIDE:
            b.ask_qty = 0
        elif ev.ask_qty:
            b.ask_qty = ev.ask_qty
        if ev.bid == EMPTY_SIDE:
            b.bid_qty = 0
        elif ev.bid_qty:
            b.bid_qty = ev.bid_qty
        b.t_ns = ev.t_ns
        trade_px = 0
        trade_qty = 0
        if ev.last:
            trade_px = ev.last
            trade_qty = ev.last_qty
            if ev.cum_volume:
                if not trade_qty and b.cum_volume and ev.cum_volume > b.cum_volume:
                    trade_qty = ev.cum_volume - b.cum_volume
                b.cum_volume = ev.cum_volume
            else:
                b.cum_volume += trade_qty
            b.last = trade_px
            b.last_qty = trade_qty
        if not b.ref_price:
            if ev.last and ev.change:
                b.ref_price = ev.last - ev.change
            else:
                b.ref_price = ev.last or max(ev.bid, 0) or max(ev.ask, 0)
        if not self.matching(code):
            if trade_px and self.in_call(code):
                self._call_print[code] = trade_px
            return b
        resting = self._resting.get(code)
        if resting:
            self._run_queue_model(b, resting, trade_px, trade_qty, ev.t_ns)
        return b

    # -- orders ---------------------------------------------------------------------------------------

    def register(self, order: SimOrder) -> None:
        """Make ``order`` known before it arrives (so a cancel racing ahead of it can find it)."""
        self._orders[order.order_no] = order

    def submit(self, order: SimOrder, t_ns: int) -> None:
        """``order`` arrives at the exchange at ``t_ns``: match it and/or rest it.

        An order whose open quantity was already cancelled while in flight does nothing.
        """
        self._orders[order.order_no] = order
        if order.state == DONE or order.leaves <= 0:
            order.state = DONE
            return
        b = self._books.get(order.code)
        if b is None:
            b = self._books[order.code] = L1Book(order.code)
        hoga = order.hoga
        why = self.refusal(order.code, hoga)
        if why:
            order.state = DONE
            order.leaves = 0
            self.listener.on_rejected(order, ARRIVAL_REFUSAL[why], t_ns)
            return
        if self.in_call(order.code):
            self._rest(order, b)                       # a limit (or KRX market) order waits for the uncross
            return
        if hoga == HOGA_MID:
            if not (b.bid and b.ask and b.bid < b.ask):
                order.state = DONE
                order.leaves = 0
                reason = f"중간가 산출 불가: {self.venue} book bid {b.bid} ask {b.ask}"
                self.listener.on_rejected(order, reason, t_ns)
                return
            twice = b.bid + b.ask
            order.price = twice // 2 if order.side == BUY else -((-twice) // 2)
            self._rest(order, b)
            return
        if hoga in _IOC:
            self._take(order, b, order.price if hoga == HOGA_LIMIT_IOC else 0, t_ns)
            if order.leaves:
                self._exchange_cancel(order, "IOC 잔량취소", t_ns)
            return
        if hoga in _FOK:
            limit = order.price if hoga == HOGA_LIMIT_FOK else 0
            px, avail = (b.ask, b.ask_qty) if order.side == BUY else (b.bid, b.bid_qty)
            ok = px > 0 and avail >= order.leaves and (
                not limit or (px <= limit if order.side == BUY else px >= limit))
            if ok:
                self._take(order, b, limit, t_ns)
            else:
                self._exchange_cancel(order, "FOK 전량취소", t_ns)
            return
        if hoga == HOGA_MARKET:
            touch = b.ask if order.side == BUY else b.bid
            if not touch:
                self._exchange_cancel(order, "시장가: 상대호가 없음", t_ns)
                return
            self._take(order, b, 0, t_ns)
            if order.leaves:
                if order.side == BUY:
                    worse = touch + self._tick_size(touch)
                else:
                    worse = touch - self._tick_size(touch - 1) if touch > 1 else touch
                self._fill(order, order.leaves, worse, t_ns)
            return
        if hoga == HOGA_LIMIT:
            marketable = (b.ask and order.price >= b.ask) if order.side == BUY else (b.bid and order.price <= b.bid)
            if marketable:
                self._take(order, b, order.price, t_ns)
            if order.leaves:
                self._rest(order, b)
            return
        order.state = DONE
        order.leaves = 0
        self.listener.on_rejected(order, f"unsupported hoga {hoga!r}", t_ns)

    def cancel(self, order_no: str, qty: int, t_ns: int) -> int:
        """A cancel (or the cancel half of a modify) arrives at ``t_ns``: take up to ``qty`` (0 = all) off.

        Returns the quantity actually removed: 0 when the order is unknown or has nothing open (e.g. a
        fill that happened before the cancel arrived won the race). Cancelling an order still in flight
        removes the quantity before it can trade.
        """
        o = self._orders.get(order_no)
        if o is None or o.state == DONE or o.leaves <= 0:
            return 0
        n = o.leaves if qty <= 0 or qty >= o.leaves else qty
        o.leaves -= n
        if o.leaves == 0:
            self._finish(o)
        return n

    # -- internals ------------------------------------------------------------------------------------

    def _take(self, o: SimOrder, b: L1Book, limit: int, t_ns: int) -> None:
        if o.side == BUY:
            px, avail = b.ask, b.ask_qty
            if px <= 0 or avail <= 0 or (limit and px > limit):
                return
            q = o.leaves if o.leaves < avail else avail
            b.ask_qty = avail - q
        else:
            px, avail = b.bid, b.bid_qty
            if px <= 0 or avail <= 0 or (limit and px < limit):
                return
            q = o.leaves if o.leaves < avail else avail
            b.bid_qty = avail - q
        self._fill(o, q, px, t_ns)

    def _rest(self, o: SimOrder, b: L1Book) -> None:
        o.state = OPEN
        self._seq += 1
        o.seq = self._seq
        same = b.bid if o.side == BUY else b.ask
        same_qty = b.bid_qty if o.side == BUY else b.ask_qty
        if not same or (o.price > same if o.side == BUY else o.price < same):
            o.queue_ahead, o.queue_known = 0.0, True          # improving the best: nobody ahead
        elif o.price == same:
            o.queue_ahead, o.queue_known = same_qty * self.queue_ahead_fraction, True
        else:
            o.queue_ahead, o.queue_known = 0.0, False          # behind the best: learn it later
        self._resting.setdefault(o.code, []).append(o)

    def _fill(self, o: SimOrder, qty: int, price: int, t_ns: int) -> None:
        o.leaves -= qty
        o.filled += qty
        o.cum_amount += qty * price
        self._exec_seq += 1
        if o.leaves == 0:
            self._finish(o)
        self.listener.on_fill(o, qty, price, f"{self._exec_seq:08d}", t_ns)

    def _exchange_cancel(self, o: SimOrder, reason: str, t_ns: int) -> None:
        n = o.leaves
        o.leaves = 0
        self._finish(o)
        self.listener.on_cancelled(o, n, reason, t_ns)

    def _finish(self, o: SimOrder) -> None:
        was_open = o.state == OPEN
        o.state = DONE
        if was_open:
            lst = self._resting.get(o.code)
            if lst is not None:
                try:
                    lst.remove(o)
                except ValueError:
                    pass
                if not lst:
                    del self._resting[o.code]

    def _run_queue_model(self, b: L1Book, resting: list[SimOrder], trade_px: int, trade_qty: int,
                         t_ns: int) -> None:
        through = self.trade_through_fills
        frac = self.queue_ahead_fraction
        print_left = trade_qty          # print volume not yet used by our earlier orders at that price
        for o in tuple(resting):        # fills remove orders from the list
            if o.leaves <= 0:
                continue
            p = o.price
            buy = o.side == BUY
            if trade_px:
                if through and (trade_px < p if buy else trade_px > p):
                    self._fill(o, o.leaves, p, t_ns)
                    continue
                if trade_px == p:
                    if not o.queue_known:
                        o.queue_ahead, o.queue_known = 0.0, True
                    elif print_left > 0:
                        ahead = o.queue_ahead
                        used = ahead if ahead < print_left else print_left
                        o.queue_ahead = ahead - used
                        avail = int(print_left - used)
                        if avail > 0:
                            q = o.leaves if o.leaves < avail else avail
                            print_left -= q
                            self._fill(o, q, p, t_ns)
                            if o.leaves <= 0:
                                continue
            if through:
                if buy:
                    if b.ask and b.ask_qty > 0 and b.ask <= p:
                        b.ask_qty = max(0, b.ask_qty - o.leaves)
                        self._fill(o, o.leaves, p, t_ns)
                        continue
                elif b.bid and b.bid_qty > 0 and b.bid >= p:
                    b.bid_qty = max(0, b.bid_qty - o.leaves)
                    self._fill(o, o.leaves, p, t_ns)
                    continue
            same, same_qty = (b.bid, b.bid_qty) if buy else (b.ask, b.ask_qty)
            if same == p and same_qty:
                if not o.queue_known:
                    o.queue_ahead, o.queue_known = same_qty * frac, True
                elif same_qty < o.queue_ahead:
                    o.queue_ahead = float(same_qty)
