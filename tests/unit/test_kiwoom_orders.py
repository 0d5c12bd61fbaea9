"""Kiwoom's order encodings (kiwoom_bridge/orders.py): hoga codes and nOrderType per venue and side."""
from __future__ import annotations

import pytest

from core.enums import OrderStyle, Side, Venue
from kiwoom_bridge.orders import (
    HogaCode,
    OrderType,
    cancel_order_type,
    hoga_for,
    modify_order_type,
    new_order_type,
    style_for,
)


def test_order_types_per_venue_and_side() -> None:
    assert [new_order_type(Venue.KRX, s) for s in Side] == [1, 2]
    assert [cancel_order_type(Venue.KRX, s) for s in Side] == [3, 4]
    assert [modify_order_type(Venue.KRX, s) for s in Side] == [5, 6]
    assert [new_order_type(Venue.NXT, s) for s in Side] == [21, 22]
    assert [cancel_order_type(Venue.NXT, s) for s in Side] == [23, 23]
    assert modify_order_type("NXT", "SELL") == OrderType.NXT_MODIFY == 25
    with pytest.raises(ValueError, match="SOR"):
        new_order_type("SOR", "BUY")
    with pytest.raises(ValueError, match="HOLD"):
        new_order_type("KRX", "HOLD")


def test_every_style_has_one_hoga_code_and_back() -> None:
    assert {s: hoga_for(s).value for s in OrderStyle} == {
        OrderStyle.LIMIT: "00", OrderStyle.MARKET: "03", OrderStyle.LIMIT_IOC: "10", OrderStyle.MARKET_IOC: "13",
        OrderStyle.LIMIT_FOK: "20", OrderStyle.MARKET_FOK: "23", OrderStyle.MID: "29"}
    for s in OrderStyle:
        assert style_for(hoga_for(s)) is s
    assert style_for(" 10 ") is OrderStyle.LIMIT_IOC
    with pytest.raises(ValueError, match="unknown hogacode '99'"):
        HogaCode.parse("99")
