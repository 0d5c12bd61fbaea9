"""The one position and PnL ledger of a session: every fill booked once, with its fee and tax.

The pair desk books each fill here (:meth:`Ledger.book`); what it returns (the fill's charges and the
running totals of the session, the symbol and the pair) travels to Telemetry, which keeps no ledger of
its own. Money is KRW: fees and tax are the realised (broker-rounded) charges of
:class:`~core.costs.CostModel`, cash is price × shares; ``gross = sell − buy``, ``net = gross − fees −
tax``. Positions are shares, + long, − short, per 6-digit code.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.costs import CostModel, marked_net_krw
from core.enums import Market, Side, Venue

__all__ = ["BookedFill", "CashTotals", "Ledger"]


@dataclass(frozen=True, slots=True)
class CashTotals:
    """Cash flows of a set of fills (KRW) and their share counts."""

    buy_cash_krw: int | float = 0
    sell_cash_krw: int | float = 0
    buy_qty: int = 0
    sell_qty: int = 0
    fees_krw: int | float = 0
    tax_krw: int | float = 0
    fills: int = 0

    @property
    def gross_krw(self) -> int | float:
        """Sell cash − buy cash."""
        return self.sell_cash_krw - self.buy_cash_krw

    @property
    def net_krw(self) -> int | float:
        """Gross − fees − tax."""
        return self.gross_krw - self.fees_krw - self.tax_krw

    @property
    def net_bps(self) -> float | None:
        """Net in bps of the bought notional (None without buys)."""
        return self.net_krw / self.buy_cash_krw * 1e4 if self.buy_cash_krw else None

    def plus(self, side: Side, qty: int, price: int | float, fee: int | float, tax: int | float) -> CashTotals:
        """These totals with one more fill."""
        if side is Side.BUY:
            return CashTotals(self.buy_cash_krw + qty * price, self.sell_cash_krw, self.buy_qty + qty,
                              self.sell_qty, self.fees_krw + fee, self.tax_krw + tax, self.fills + 1)
        return CashTotals(self.buy_cash_krw, self.sell_cash_krw + qty * price, self.buy_qty, self.sell_qty + qty,
                          self.fees_krw + fee, self.tax_krw + tax, self.fills + 1)


@dataclass(frozen=True, slots=True)
class BookedFill:
    """One fill as the ledger booked it: its realised ``fee_krw``/``tax_krw``, the code's position after
    it, and the running totals of the session, the code and the pair (each including this fill)."""

    fee_krw: int | float
    tax_krw: int | float
    position_after: int
    session: CashTotals
    symbol: CashTotals
    pair: CashTotals


class Ledger:
    """Positions and cash of the session, per code and per pair (see the module docstring).

    Args:
      costs: the fee and tax model used when a fill carries no trade date.
      markets: code → listing market (the sell tax); codes not listed are taxed as KOSPI.
      costs_for_date: trade date → the cost model of that date (the sell tax of the year its T+2
        settlement falls in): a session replayed across New Year pays each trade's own year's rate.
    """

    def __init__(self, costs: CostModel, markets: Mapping[str, Market | str],
                 costs_for_date: Callable[[dt.date], CostModel] | None = None) -> None:
        self.costs = costs
        self._costs_for_date = costs_for_date
        self._markets = {c: Market.parse(m) for c, m in markets.items()}
        self._position: dict[str, int] = {}
        self._last_fill_px: dict[str, int | float] = {}
        self._session = CashTotals()
        self._symbol: dict[str, CashTotals] = {}
        self._pair: dict[str, CashTotals] = {}

    def book(self, pair_id: str, code: str, venue: Venue, side: Side, qty: int, price: int | float,
             trade_date: dt.date | None = None) -> BookedFill:
        """Book one fill of ``qty`` shares at ``price`` on ``venue`` (traded on ``trade_date``, whose cost
        model applies when the ledger has ``costs_for_date``) and return what it did."""
        s = Side.parse(side)
        costs = self.costs
        if trade_date is not None and self._costs_for_date is not None:
            costs = self._costs_for_date(trade_date)
        _, fee, tax = costs.leg_cash_krw(s, price, qty, venue, self._markets.get(code, Market.KOSPI))
        pos = self._position.get(code, 0) + s.sign * qty
        self._position[code] = pos
        self._last_fill_px[code] = price
        self._session = self._session.plus(s, qty, price, fee, tax)
        sym = self._symbol[code] = self._symbol.get(code, CashTotals()).plus(s, qty, price, fee, tax)
        pair = self._pair[pair_id] = self._pair.get(pair_id, CashTotals()).plus(s, qty, price, fee, tax)
        return BookedFill(fee, tax, pos, self._session, sym, pair)

    def position(self, code: str) -> int:
        """Shares held by the engine's fills in ``code`` (+ long, − short)."""
        return self._position.get(code, 0)

    @property
    def positions(self) -> dict[str, int]:
        """Every code that traded → its position (a copy)."""
        return dict(self._position)

    def open_positions(self) -> dict[str, int]:
        """Codes whose position is not zero."""
        return {c: q for c, q in self._position.items() if q}

    @property
    def flat(self) -> bool:
        """No open position in any code."""
        return not any(self._position.values())

    @property
    def session(self) -> CashTotals:
        """Totals of every fill so far."""
        return self._session

    def pair(self, pair_id: str) -> CashTotals:
        """Totals of the fills of ``pair_id`` so far."""
        return self._pair.get(pair_id, CashTotals())

    def marked_net_krw(self) -> float:
        """Session net PnL with open shares valued at their last fill: a half-done slice's take proceeds
        are not profit (:func:`core.costs.marked_net_krw`)."""
        return float(marked_net_krw(self._session.net_krw, self._position, self._last_fill_px))
