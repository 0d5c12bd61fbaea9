"""Costs of one leg (broker/venue fees, sell tax) and the fee- and tax-aware edge rule (SPEC §3).

Two kinds of arithmetic, on purpose:

* **Decisions** (is this spread worth taking?) use unrounded float arithmetic, per share:
  ``net = sell_px − buy_px − fee(buy_px, buy_venue) − fee(sell_px, sell_venue) − tax(sell_px, market)``
  where ``fee(px, venue) = px × fee_bps(venue) / 10,000`` and ``tax(px, market) = px × tax_bps(market) / 10,000``.
  :func:`net_edge_per_share_krw` is that formula; the numba kernel in :mod:`core.edge` evaluates the same
  operations in the same order, so both give bit-identical results.
* **Realised PnL** uses the broker's rounding per fill (``fees.rounding``): ``truncate`` floors fees and tax to
  whole won (Kiwoom's 원 미만 절사), ``round`` rounds half up, ``none`` keeps the float. These use exact
  decimal arithmetic so a fee of exactly 15 won is never floored to 14 by binary rounding.

The sell tax is keyed by the year of the **settlement** date (T+2 XKRX trading days): trades from
2025-12-29 settle on 2026-01-02 and pay the 2026 rate (reference §2.1). :func:`settlement_date` computes it.
"""
from __future__ import annotations

import datetime as dt
import math
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from core.enums import Market, Side, Venue
from core.ticks import tick_size

if TYPE_CHECKING:  # pragma: no cover
    from config.schema import FeesConfig

__all__ = [
    "BPS_PER_UNIT",
    "SETTLEMENT_LAG_SESSIONS",
    "CostModel",
    "Rounding",
    "fee_per_share_krw",
    "net_edge_per_share_krw",
    "settlement_date",
    "tax_per_share_krw",
]

#: Basis points per unit (1 bp = 1/10,000). Every bps → fraction conversion divides by this.
BPS_PER_UNIT = 10_000.0
#: Settlement lag of Korean equities in XKRX trading days (T+2).
SETTLEMENT_LAG_SESSIONS = 2

Rounding = Literal["truncate", "round", "none"]
_ROUNDINGS = ("truncate", "round", "none")


# --------------------------------------------------------------------------------------------------------------
# Per-share decision arithmetic (unrounded). The kernel in core.edge mirrors these operations exactly.


def fee_per_share_krw(price_krw: float, fee_bps: float) -> float:
    """Unrounded fee in KRW on one share traded at ``price_krw`` with an all-in fee of ``fee_bps``."""
    return float(price_krw) * fee_bps / BPS_PER_UNIT


def tax_per_share_krw(price_krw: float, tax_bps: float) -> float:
    """Unrounded sell tax in KRW on one share sold at ``price_krw`` at ``tax_bps``."""
    return float(price_krw) * tax_bps / BPS_PER_UNIT


def net_edge_per_share_krw(buy_px_krw: float, sell_px_krw: float, buy_fee_bps: float, sell_fee_bps: float,
                           tax_bps: float) -> float:
    """Unrounded net edge in KRW per share: sell − buy − fee(buy) − fee(sell) − tax(sell)."""
    buy = float(buy_px_krw)
    sell = float(sell_px_krw)
    return ((sell - buy)
            - buy * buy_fee_bps / BPS_PER_UNIT
            - sell * sell_fee_bps / BPS_PER_UNIT
            - sell * tax_bps / BPS_PER_UNIT)


# --------------------------------------------------------------------------------------------------------------
# Settlement date (T+2 XKRX sessions) for the tax year.

_CAL_START = "2020-01-01"   # the session clock's calendar range: one XKRX build per process
_CAL_END = "2050-12-31"
_sessions_cache: np.ndarray | None = None  # datetime64[D], ascending


def _xkrx_sessions() -> np.ndarray:
    """All XKRX sessions 2020–2050 as ``datetime64[D]``, from the process-wide calendar of
    :mod:`core.session` (building XKRX costs seconds of CPU: do it once per process)."""
    global _sessions_cache
    if _sessions_cache is None:
        from core.session import _calendar
        days = sorted(_calendar("XKRX").sessions)
        _sessions_cache = np.array(days, dtype="datetime64[D]")
    return _sessions_cache


def marked_net_krw(cash_net_krw: float, position: Mapping[str, int],
                   last_fill_px: Mapping[str, float]) -> float:
    """Net PnL with every open position valued at its code's last fill price (KRW).

    While a slice is half done the cash flows alone show the take's proceeds as profit (sold 1
    share at 80,000, the hedge not bought yet: +80,000). Valuing what is still open at the last
    price it traded at leaves what the pairs really made so far; equal to ``cash_net_krw`` when
    every position is 0.
    """
    return cash_net_krw + sum(q * last_fill_px.get(c, 0) for c, q in position.items() if q)


def settlement_date(trade_date: dt.date, extra_holidays: Iterable[dt.date] = ()) -> dt.date:
    """Settlement date of a trade on ``trade_date``: T+2 XKRX trading days.

    ``extra_holidays`` (config ``sessions.extra_holidays``) are removed from the calendar's sessions, since
    the calendar release misses some (e.g. 2026-06-03). A ``trade_date`` that is not a session rolls forward
    to the next session first. Raises ``ValueError`` outside the calendar's 2000–2050 range.
    """
    if isinstance(trade_date, dt.datetime):
        trade_date = trade_date.date()
    sessions = _xkrx_sessions()
    extra = {np.datetime64(d, "D") for d in extra_holidays}
    day = np.datetime64(trade_date, "D")
    if day < sessions[0] or day > sessions[-1]:
        raise ValueError(f"trade date {trade_date} is outside the XKRX calendar range {_CAL_START}..{_CAL_END}")
    i = int(np.searchsorted(sessions, day, side="left"))  # first session on or after the trade date
    counted = -1  # the trade's own session is T+0
    while i < len(sessions):
        if sessions[i] not in extra:
            counted += 1
            if counted == SETTLEMENT_LAG_SESSIONS:
                settles: dt.date = sessions[i].astype(dt.date)
                return settles
        i += 1
    raise ValueError(f"trade date {trade_date} settles beyond the XKRX calendar range ending {_CAL_END}")


# --------------------------------------------------------------------------------------------------------------


def _round_krw(amount: Decimal, rounding: str) -> int | float:
    if rounding == "truncate":
        return int(amount.to_integral_value(rounding=ROUND_FLOOR))
    if rounding == "round":
        return int(amount.to_integral_value(rounding=ROUND_HALF_UP))
    return float(amount)


def _dec(x: float | int) -> Decimal:
    # repr gives the shortest decimal that round-trips, so 1.76833 is 1.76833, not its binary expansion
    return Decimal(x) if isinstance(x, int) else Decimal(repr(float(x)))


@dataclass(frozen=True)
class CostModel:
    """Fees (bps on notional, per leg) and sell tax (bps on sell notional) for one tax year.

    ``krx_fee_bps`` and ``nxt_fee_bps`` are all-in (broker + regulatory/venue); ``tax_bps_by_market`` maps
    each :class:`Market` to its sell-tax bps; ``rounding`` applies to realised amounts only.
    Build it with :meth:`from_config` (a tax year) or :meth:`for_date` (a trade date).
    In every method prices (``price``, ``buy_px``, ``sell_px``) are KRW per share and ``qty`` is shares.
    """

    krx_fee_bps: float
    nxt_fee_bps: float
    tax_bps_by_market: Mapping[Market, float]
    rounding: Rounding = "truncate"

    def __post_init__(self) -> None:
        for name in ("krx_fee_bps", "nxt_fee_bps"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        taxes: dict[Market, float] = {}
        for market, bps in dict(self.tax_bps_by_market).items():
            m = Market.parse(market)
            if not math.isfinite(bps) or bps < 0:
                raise ValueError(f"tax bps for {m.value} must be a finite number ≥ 0, got {bps!r}")
            taxes[m] = float(bps)
        missing = [m.value for m in Market if m not in taxes]
        if missing:
            raise ValueError(f"tax_bps_by_market has no rate for {', '.join(missing)}")
        object.__setattr__(self, "tax_bps_by_market", types.MappingProxyType(taxes))
        if self.rounding not in _ROUNDINGS:
            raise ValueError(f"rounding must be 'truncate', 'round' or 'none', got {self.rounding!r}")

    def __hash__(self) -> int:
        return hash((self.krx_fee_bps, self.nxt_fee_bps, tuple(sorted(self.tax_bps_by_market.items())),
                     self.rounding))

    def __reduce__(self) -> tuple[Any, ...]:
        # picklable (actors exchange it) although the read-only mapping proxy itself is not
        return (type(self), (self.krx_fee_bps, self.nxt_fee_bps, dict(self.tax_bps_by_market), self.rounding))

    # -- construction ---------------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, fees_cfg: FeesConfig, year: int) -> CostModel:
        """The cost model of ``fees_cfg`` (config ``fees``) for sells settling in tax ``year``."""
        return cls(
            krx_fee_bps=fees_cfg.krx.broker_bps + fees_cfg.krx.regulatory_bps,
            nxt_fee_bps=fees_cfg.nxt.broker_bps + fees_cfg.nxt.regulatory_bps,
            tax_bps_by_market={m: fees_cfg.tax_bps(m.value, year) for m in Market},
            rounding=fees_cfg.rounding,
        )

    @classmethod
    def for_date(cls, fees_cfg: FeesConfig, trade_date: dt.date,
                 extra_holidays: Iterable[dt.date] = ()) -> CostModel:
        """The cost model for trades on ``trade_date``: tax year = year of the T+2 XKRX settlement date.

        Pass config ``sessions.extra_holidays`` as ``extra_holidays`` for days the calendar misses.
        """
        return cls.from_config(fees_cfg, settlement_date(trade_date, extra_holidays).year)

    # -- rates ----------------------------------------------------------------------------------------------

    def fee_bps(self, venue: Venue | str) -> float:
        """All-in fee in bps on notional for one leg on ``venue``."""
        return self.krx_fee_bps if Venue.parse(venue) is Venue.KRX else self.nxt_fee_bps

    def tax_bps(self, market: Market | str) -> float:
        """Sell tax in bps on sell notional for a stock listed on ``market``."""
        return self.tax_bps_by_market[Market.parse(market)]

    # -- unrounded amounts (decisions) ---------------------------------------------------------------------

    def fee_krw(self, price: float, qty: int, venue: Venue | str) -> float:
        """Unrounded fee in KRW for ``qty`` shares at ``price`` on ``venue``."""
        return fee_per_share_krw(price, self.fee_bps(venue)) * qty

    def tax_krw(self, price: float, qty: int, market: Market | str) -> float:
        """Unrounded sell tax in KRW for selling ``qty`` shares at ``price`` (buys pay no tax)."""
        return tax_per_share_krw(price, self.tax_bps(market)) * qty

    def net_edge_krw(self, buy_px: float, buy_venue: Venue | str, sell_px: float,
                     sell_venue: Venue | str, market: Market | str, qty: int = 1) -> float:
        """Unrounded net edge in KRW of buying at ``buy_px`` and selling at ``sell_px``, × ``qty``."""
        per_share = net_edge_per_share_krw(buy_px, sell_px, self.fee_bps(buy_venue),
                                           self.fee_bps(sell_venue), self.tax_bps(market))
        return per_share * qty

    def net_edge_bps(self, buy_px: float, buy_venue: Venue | str, sell_px: float,
                     sell_venue: Venue | str, market: Market | str) -> float:
        """Net edge per share in bps of the buy price (net / buy_px × 10,000)."""
        net = self.net_edge_krw(buy_px, buy_venue, sell_px, sell_venue, market)
        return net / float(buy_px) * BPS_PER_UNIT

    def is_eligible(self, buy_px: float, buy_venue: Venue | str, sell_px: float,
                    sell_venue: Venue | str, market: Market | str, min_net_ticks: float) -> bool:
        """Price rule only: net edge per share ≥ ``min_net_ticks`` × tick(buy_px).

        (Sizes, crossed books and cooldown are the kernel's business, :mod:`core.edge`.)
        Raises ``ValueError`` for a price ≤ 0.
        """
        if buy_px <= 0 or sell_px <= 0:
            raise ValueError(f"prices must be > 0, got buy {buy_px!r} and sell {sell_px!r}")
        net = self.net_edge_krw(buy_px, buy_venue, sell_px, sell_venue, market)
        return net >= min_net_ticks * tick_size(buy_px)

    # -- realised amounts (PnL) -----------------------------------------------------------------------------

    def realised_fee_krw(self, price: float, qty: int, venue: Venue | str) -> int | float:
        """Fee in KRW charged on one fill of ``qty`` at ``price`` on ``venue``, rounded per ``rounding``."""
        amount = _dec(price) * int(qty) * _dec(self.fee_bps(venue)) / _dec(BPS_PER_UNIT)
        return _round_krw(amount, self.rounding)

    def realised_tax_krw(self, price: float, qty: int, market: Market | str) -> int | float:
        """Sell tax in KRW charged on one sell fill of ``qty`` at ``price``, rounded per ``rounding``."""
        amount = _dec(price) * int(qty) * _dec(self.tax_bps(market)) / _dec(BPS_PER_UNIT)
        return _round_krw(amount, self.rounding)

    def leg_cash_krw(self, side: Side | str, price: float, qty: int, venue: Venue | str,
                     market: Market | str) -> tuple[int | float, int | float, int | float]:
        """Cash of one fill: ``(gross_krw, fee_krw, tax_krw)``.

        ``gross_krw`` is signed (−price×qty for a buy, +price×qty for a sell); ``fee_krw`` and ``tax_krw``
        are the realised (rounded) charges, both ≥ 0, tax 0 on a buy. The fill's net cash is
        ``gross − fee − tax``.
        """
        s = Side.parse(side)
        if qty < 0:
            raise ValueError(f"qty must be ≥ 0, got {qty!r}")
        notional = price * qty
        fee = self.realised_fee_krw(price, qty, venue)
        if s is Side.BUY:
            zero: int | float = 0 if self.rounding != "none" else 0.0
            return -notional, fee, zero
        return notional, fee, self.realised_tax_krw(price, qty, market)
