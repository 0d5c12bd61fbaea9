"""Kiwoom's order encodings: the hoga (거래구분) codes and ``nOrderType`` values, and their mapping
to and from the engine's :class:`~core.enums.OrderStyle`, :class:`~core.enums.Venue` and
:class:`~core.enums.Side`.

Sources (``reference/market_and_kiwoom_facts.md`` §4): ``sHogaGb`` 00 limit, 03 market, 10 limit IOC,
13 market IOC, 20 limit FOK, 23 market FOK (KOA Studio, SendOrder); 29 NXT mid-price (the user's
guideline, seed 003; **unverified** in the OCX). ``nOrderType`` 1/2 new buy/sell, 3/4 cancel, 5/6 modify
on KRX (KOA Studio); 21/22/23/25 NXT buy/sell/cancel/modify (seed 003; **unverified** in the OCX).
"""
from __future__ import annotations

from enum import IntEnum, unique

from core.enums import LiteralEnum, OrderStyle, Side, Venue

__all__ = ["HogaCode", "OrderType", "cancel_order_type", "hoga_for", "new_order_type", "style_for"]


@unique
class HogaCode(LiteralEnum):
    """Kiwoom's ``sHogaGb`` literal codes (the one parser: :meth:`~core.enums.LiteralEnum.parse`)."""

    LIMIT = "00"
    MARKET = "03"
    LIMIT_IOC = "10"
    MARKET_IOC = "13"
    LIMIT_FOK = "20"
    MARKET_FOK = "23"
    NXT_MID = "29"


@unique
class OrderType(IntEnum):
    """Kiwoom's ``nOrderType`` values."""

    KRX_BUY = 1
    KRX_SELL = 2
    KRX_BUY_CANCEL = 3
    KRX_SELL_CANCEL = 4
    KRX_BUY_MODIFY = 5
    KRX_SELL_MODIFY = 6
    NXT_BUY = 21
    NXT_SELL = 22
    NXT_CANCEL = 23
    NXT_MODIFY = 25


_STYLE_TO_HOGA: dict[OrderStyle, HogaCode] = {
    OrderStyle.LIMIT: HogaCode.LIMIT, OrderStyle.MARKET: HogaCode.MARKET,
    OrderStyle.LIMIT_IOC: HogaCode.LIMIT_IOC, OrderStyle.MARKET_IOC: HogaCode.MARKET_IOC,
    OrderStyle.LIMIT_FOK: HogaCode.LIMIT_FOK, OrderStyle.MARKET_FOK: HogaCode.MARKET_FOK,
    OrderStyle.MID: HogaCode.NXT_MID,
}
_HOGA_TO_STYLE: dict[HogaCode, OrderStyle] = {h: s for s, h in _STYLE_TO_HOGA.items()}


def hoga_for(style: OrderStyle) -> HogaCode:
    """The ``sHogaGb`` code that sends an order of ``style``."""
    return _STYLE_TO_HOGA[OrderStyle.parse(style)]


def style_for(hoga: HogaCode | str) -> OrderStyle:
    """The order style a hoga code sends (raises ValueError for an unknown code)."""
    return _HOGA_TO_STYLE[HogaCode.parse(hoga)]


def new_order_type(venue: Venue, side: Side) -> OrderType:
    """``nOrderType`` of a new order: 1/2 on KRX, 21/22 on NXT."""
    v, s = Venue.parse(venue), Side.parse(side)
    if v is Venue.NXT:
        return OrderType.NXT_BUY if s is Side.BUY else OrderType.NXT_SELL
    return OrderType.KRX_BUY if s is Side.BUY else OrderType.KRX_SELL


def cancel_order_type(venue: Venue, side: Side) -> OrderType:
    """``nOrderType`` of a cancel of an order of ``side`` on ``venue``: 3/4 on KRX, 23 on NXT (either side)."""
    v, s = Venue.parse(venue), Side.parse(side)
    if v is Venue.NXT:
        return OrderType.NXT_CANCEL
    return OrderType.KRX_BUY_CANCEL if s is Side.BUY else OrderType.KRX_SELL_CANCEL


def modify_order_type(venue: Venue, side: Side) -> OrderType:
    """``nOrderType`` of a modify (정정): 5/6 on KRX, 25 on NXT."""
    v, s = Venue.parse(venue), Side.parse(side)
    if v is Venue.NXT:
        return OrderType.NXT_MODIFY
    return OrderType.KRX_BUY_MODIFY if s is Side.BUY else OrderType.KRX_SELL_MODIFY
