"""The emulated account behind the emulated control: holdings, cash, what open orders lock, and the
broker's refusals of a sell above the sellable quantity or a buy above the orderable cash (SPEC §10).

Rules (the emulator's, chosen to be Kiwoom-plausible; sources in ``kiwoom_bridge/README.md``):

* It starts with ``sim.account``: ``cash_krw`` of cash and ``holdings`` shares per code
  (``holdings_default`` for every code not listed). Average prices start unknown (0).
* **Server receipt of a new order** (its TR ack time): a sell of more than the code's sellable quantity
  (held − the open remainder of the sells already received) is refused with Kiwoom's message
  ``[800033] 모의투자 매도가능수량이 부족합니다.`` (the order gets an empty 주문번호); a buy whose cost
  (quantity × its price, plus the fee) exceeds the orderable cash (cash − what the open buys already
  received lock) is refused with ``[855056] 매수증거금이 부족합니다. 매수가능(N)주``. A received order locks
  its open remainder until it is filled, cancelled or refused: a priced buy at its limit, a mid (29) buy at
  the ask of its venue when received, a market buy at 130 % of the previous close (the upper price limit);
  every buy lock includes the fee.
* **A fill** moves the holding and the cash at once: a sale's proceeds (less fee and tax) can be spent the
  same day, before the T+2 settlement (Kiwoom's 주문가능금액 counts them). Fee and tax per fill are the
  rise of the order's truncated cumulative figures (what Chejan 938/939 report).
* **Another terminal's trade** (``sim.faults.external_fill``) changes the holding (and the cash at the last
  price) with no order of this session: no Chejan row is sent for it (whether the OCX notifies a session of
  another terminal's fills is unverified; the reconciliation query finds it either way).
* Positions are never negative: a sell is refused before it could oversell.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from kiwoom_bridge.emulator.exchange import BUY, DONE, PRICED_HOGA, SELL, SimOrder

__all__ = ["BUY_REFUSAL", "SELL_REFUSAL", "EmulatedAccount"]

#: Kiwoom's message for a sell above 주문가능수량 on the mock server (third-party public code, see README).
SELL_REFUSAL = "[800033] 모의투자 매도가능수량이 부족합니다."
#: Kiwoom's message for a buy above the orderable cash ({n}: shares the cash would buy; see README).
BUY_REFUSAL = "[855056] 매수증거금이 부족합니다. 매수가능({n})주"
#: A market buy locks cash at the upper price limit: the previous close + 30 %.
MARKET_BUY_LOCK = 1.30


class EmulatedAccount:
    """Holdings (shares per code), cash (KRW) and the locks of the open orders the server has received.

    Args:
      cash_krw: starting cash.
      shares: code → starting shares (every code asked about; 0 when not held).
      fee_bps: venue → fee in bps of the notional (the lock of a buy includes it).
      order_of: order number → the exchange's :class:`SimOrder` (its live open quantity), or None.
    """

    def __init__(self, cash_krw: int, shares: Callable[[str], int], fee_bps: Mapping[str, float],
                 order_of: Callable[[str, str], SimOrder | None]) -> None:
        self.cash_krw = float(cash_krw)
        self._shares = shares
        self._fee_bps = fee_bps
        self._order_of = order_of
        self._held: dict[str, int] = {}
        self._avg: dict[str, int] = {}
        self._locks: dict[str, tuple[str, str, int, float]] = {}   # order no -> (venue, code, side, lock px)
        self.refused_sells = 0
        self.refused_buys = 0

    # -- holdings and cash --------------------------------------------------------------------------
    def held(self, code: str) -> int:
        """Shares of ``code`` held now."""
        if code not in self._held:
            self._held[code] = int(self._shares(code))
        return self._held[code]

    def avg_price(self, code: str) -> int:
        """Average purchase price of ``code`` (0 = unknown: held since before the session)."""
        return self._avg.get(code, 0)

    def codes_held(self) -> list[str]:
        """Every code with shares held, sorted (the order of ``opw00018``'s rows)."""
        return sorted(c for c, q in self._held.items() if q > 0)

    def touch_codes(self, codes: list[str] | tuple[str, ...]) -> None:
        """Make sure the starting holdings of ``codes`` are known (they are listed by holdings queries)."""
        for c in codes:
            self.held(c)

    def _open_orders(self) -> list[tuple[SimOrder, str, float]]:
        out = []
        for no, (venue, _code, _side, px) in list(self._locks.items()):
            o = self._order_of(venue, no)
            if o is None or o.state == DONE or o.leaves <= 0:
                del self._locks[no]
                continue
            out.append((o, venue, px))
        return out

    def sellable(self, code: str) -> int:
        """Held − the open remainder of received sells of ``code`` (Kiwoom's 주문가능수량)."""
        locked = sum(o.leaves for o, _, _ in self._open_orders() if o.side == SELL and o.code == code)
        return max(0, self.held(code) - locked)

    def orderable_krw(self) -> int:
        """Cash − what the received open buys lock, fees included (Kiwoom's 주문가능금액), whole KRW."""
        locked = sum(o.leaves * px * (1 + self._fee_bps[v] / 10_000) for o, v, px in self._open_orders()
                     if o.side == BUY)
        return math.floor(self.cash_krw - locked)

    # -- orders ------------------------------------------------------------------------------------
    def receive(self, order_no: str, venue: str, code: str, side: int, qty: int, price: int, hoga: str,
                ask: int, ref_price: int) -> str:
        """Server receipt of a new order: '' and its lock, or Kiwoom's refusal message.

        ``ask`` is the order's venue's best ask now and ``ref_price`` the previous close (buy locks of
        unpriced orders).
        """
        if side == SELL:
            if qty > self.sellable(code):
                self.refused_sells += 1
                return SELL_REFUSAL
            self._locks[order_no] = (venue, code, SELL, 0.0)
            return ""
        if hoga in PRICED_HOGA:
            px = float(price)
        elif hoga == "29":
            px = float(ask or ref_price)
        else:
            px = float(ref_price or ask) * MARKET_BUY_LOCK
        per_share = px * (1 + self._fee_bps[venue] / 10_000)
        free = self.orderable_krw()
        if px <= 0 or qty * per_share > free:
            self.refused_buys += 1
            return BUY_REFUSAL.format(n=max(0, int(free // per_share)) if per_share > 0 else 0)
        self._locks[order_no] = (venue, code, BUY, px)
        return ""

    def on_fill(self, code: str, side: int, qty: int, price: int, fee_krw: int, tax_krw: int) -> int:
        """Book a fill; returns the holding after it."""
        pos = self.held(code)
        if side == BUY:
            new = pos + qty
            avg = self._avg.get(code, 0)
            self._avg[code] = (pos * avg + qty * price) // new if avg and pos else price
            self.cash_krw -= qty * price + fee_krw
        else:
            new = pos - qty
            if new <= 0:
                self._avg.pop(code, None)
            self.cash_krw += qty * price - fee_krw - tax_krw
        self._held[code] = new
        return new

    def external_trade(self, code: str, qty: int, price: int) -> int:
        """Another terminal bought (``qty`` > 0) or sold (< 0) ``code`` at ``price``; returns the holding."""
        new = max(0, self.held(code) + qty)
        self.cash_krw -= (new - self.held(code)) * price
        self._held[code] = new
        return new
