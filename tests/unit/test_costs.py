"""Costs of one leg and the edge rule (SPEC §3), with worked examples computed by hand.

Default config fees: KRX 1.5 bps (broker 1.5 + regulatory 0), NXT 1.76833 bps (broker 1.45 + 0.31833),
sell tax 20 bps in 2026 and 15 bps in 2025 for both KOSPI and KOSDAQ.
"""
from __future__ import annotations

import datetime as dt
import pickle

import pytest

from config.loader import load_config
from core.costs import (
    CostModel,
    Market,
    Side,
    Venue,
    fee_per_share_krw,
    net_edge_per_share_krw,
    settlement_date,
    tax_per_share_krw,
)
from core.ticks import shift_ticks, tick_size


@pytest.fixture(scope="module")
def fees_cfg():
    return load_config().fees


@pytest.fixture(scope="module")
def m2026(fees_cfg):
    return CostModel.from_config(fees_cfg, 2026)


@pytest.fixture(scope="module")
def m2025(fees_cfg):
    return CostModel.from_config(fees_cfg, 2025)


# ---------------------------------------------------------------------------------------------------- enums

@pytest.mark.parametrize("enum,text,member", [
    (Venue, "KRX", Venue.KRX), (Venue, " nxt ", Venue.NXT), (Market, "kospi", Market.KOSPI),
    (Market, "KOSDAQ", Market.KOSDAQ), (Side, "Buy", Side.BUY), (Side, "SELL", Side.SELL),
    (Venue, Venue.NXT, Venue.NXT),
])
def test_enum_parse(enum, text, member):
    assert enum.parse(text) is member


def test_enums_carry_the_literal_strings():
    assert [v.value for v in Venue] == ["KRX", "NXT"]
    assert [m.value for m in Market] == ["KOSPI", "KOSDAQ"]
    assert [s.value for s in Side] == ["BUY", "SELL"]
    assert Venue.KRX == "KRX" and str(Market.KOSDAQ) == "KOSDAQ" and f"{Side.SELL}" == "SELL"


@pytest.mark.parametrize("enum,bad", [(Venue, "KRXX"), (Venue, "SOR"), (Market, "KONEX"), (Side, "매수"),
                                      (Side, None), (Market, "")])
def test_enum_parse_names_the_bad_text(enum, bad):
    with pytest.raises(ValueError) as exc:
        enum.parse(bad)
    assert repr(bad) in str(exc.value)


# ---------------------------------------------------------------------------------------------------- model

def test_from_config_sums_broker_and_regulatory_and_picks_the_year(m2026, m2025, fees_cfg):
    assert m2026.krx_fee_bps == 1.5
    assert m2026.nxt_fee_bps == pytest.approx(1.76833, abs=1e-12)
    assert m2026.fee_bps(Venue.KRX) == 1.5 and m2026.fee_bps("NXT") == m2026.nxt_fee_bps
    assert m2026.tax_bps(Market.KOSPI) == 20.0 and m2026.tax_bps("KOSDAQ") == 20.0
    assert m2025.tax_bps("KOSPI") == 15.0 and m2025.tax_bps(Market.KOSDAQ) == 15.0
    # a later year without its own entry keeps the latest configured rate
    assert CostModel.from_config(fees_cfg, 2030).tax_bps("KOSPI") == 20.0
    assert m2026.rounding == "truncate"
    with pytest.raises(KeyError):
        CostModel.from_config(fees_cfg, 2024)


def test_cost_model_is_frozen_hashable_and_validated():
    m = CostModel(1.5, 1.76833, {"KOSPI": 20, "KOSDAQ": 20})
    assert m == CostModel(1.5, 1.76833, {Market.KOSPI: 20.0, Market.KOSDAQ: 20.0})
    assert hash(m) == hash(CostModel(1.5, 1.76833, {Market.KOSPI: 20.0, Market.KOSDAQ: 20.0}))
    assert pickle.loads(pickle.dumps(m)) == m  # actors exchange it between processes
    with pytest.raises(AttributeError):
        m.krx_fee_bps = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.tax_bps_by_market[Market.KOSPI] = 0.0  # type: ignore[index]
    with pytest.raises(ValueError, match="krx_fee_bps"):
        CostModel(-0.1, 1.0, {"KOSPI": 20, "KOSDAQ": 20})
    with pytest.raises(ValueError, match="KOSDAQ"):
        CostModel(1.5, 1.5, {"KOSPI": 20})
    with pytest.raises(ValueError, match="KONEX"):
        CostModel(1.5, 1.5, {"KOSPI": 20, "KOSDAQ": 20, "KONEX": 10})
    with pytest.raises(ValueError, match="'ceil'"):
        CostModel(1.5, 1.5, {"KOSPI": 20, "KOSDAQ": 20}, rounding="ceil")  # type: ignore[arg-type]


def test_unrounded_leg_amounts(m2026):
    # 10 × 75,000 on KRX: 750,000 × 1.5 / 10,000 = 112.5
    assert m2026.fee_krw(75_000, 10, "KRX") == pytest.approx(112.5, abs=1e-9)
    # 10 × 75,300 on NXT: 753,000 × 1.76833 / 10,000 = 133.155249
    assert m2026.fee_krw(75_300, 10, Venue.NXT) == pytest.approx(133.155249, abs=1e-9)
    # tax: 753,000 × 20 / 10,000 = 1,506
    assert m2026.tax_krw(75_300, 10, "KOSPI") == pytest.approx(1_506.0, abs=1e-9)
    assert fee_per_share_krw(75_000, 1.5) == 11.25
    assert tax_per_share_krw(75_300, 20.0) == pytest.approx(150.6, abs=1e-12)


# ------------------------------------------------------------------------------------- worked edge examples

def test_worked_example_2026_kospi_buy_krx_75000(m2026):
    """Buy KRX 75,000, sell NXT at 75,200 / 75,300 / 75,400; 2026 KOSPI; tick(75,000) = 100.

    fee(buy)  = 75,000 × 1.5 / 10,000                 = 11.25
    75,200:  fee(sell) = 75,200 × 1.76833 / 10,000 = 13.2978416, tax = 75,200 × 0.0020 = 150.4
             net = 200 − 11.25 − 13.2978416 − 150.4  =  25.0521584   < 100  → NOT eligible at 1 tick
    75,300:  fee(sell) = 75,300 × 1.76833 / 10,000 = 13.3155249, tax = 150.6
             net = 300 − 11.25 − 13.3155249 − 150.6  = 124.8344751   ≥ 100  → eligible at 1 tick
                                                                     < 200  → NOT eligible at 2 ticks
    75,400:  fee(sell) = 13.3332082, tax = 150.8
             net = 400 − 11.25 − 13.3332082 − 150.8  = 224.6167918   ≥ 200  → eligible at 2 ticks

    NB: the brief claimed "75,000 / 75,300 must NOT be eligible at 1 tick net, while 75,000 / 75,400 is".
    SPEC §3's rule gives net 124.83 KRW ≥ 1 tick (100), so 75,300 IS eligible at 1 tick; that statement holds at
    2 ticks (or any threshold in (1.2483, 2.2461] ticks). The tests assert the rule's arithmetic.
    """
    assert tick_size(75_000) == 100
    net_200 = m2026.net_edge_krw(75_000, "KRX", 75_200, "NXT", "KOSPI")
    net_300 = m2026.net_edge_krw(75_000, Venue.KRX, 75_300, Venue.NXT, Market.KOSPI)
    net_400 = m2026.net_edge_krw(75_000, "KRX", 75_400, "NXT", "KOSPI")
    assert net_200 == pytest.approx(25.0521584, abs=1e-9)
    assert net_300 == pytest.approx(124.8344751, abs=1e-9)
    assert net_400 == pytest.approx(224.6167918, abs=1e-9)
    assert not m2026.is_eligible(75_000, "KRX", 75_200, "NXT", "KOSPI", min_net_ticks=1)
    assert m2026.is_eligible(75_000, "KRX", 75_300, "NXT", "KOSPI", min_net_ticks=1)
    assert m2026.is_eligible(75_000, "KRX", 75_400, "NXT", "KOSPI", min_net_ticks=1)
    assert not m2026.is_eligible(75_000, "KRX", 75_300, "NXT", "KOSPI", min_net_ticks=2)
    assert m2026.is_eligible(75_000, "KRX", 75_400, "NXT", "KOSPI", min_net_ticks=2)
    # bps of the buy price: 124.8344751 / 75,000 × 10,000 = 16.64459668
    assert m2026.net_edge_bps(75_000, "KRX", 75_300, "NXT", "KOSPI") == pytest.approx(16.64459668, abs=1e-8)
    # qty scales linearly: 10 shares
    assert m2026.net_edge_krw(75_000, "KRX", 75_300, "NXT", "KOSPI", qty=10) == pytest.approx(1_248.344751)


def test_worked_example_2025_kospi_lower_tax(m2025, m2026):
    """Same trades with the 2025 tax of 15 bps.

    75,200: net = 200 − 11.25 − 13.2978416 − 112.8  (75,200 × 0.0015)  =  62.6521584 < 100 → not eligible
    75,300: net = 300 − 11.25 − 13.3155249 − 112.95 (75,300 × 0.0015)  = 162.4844751 ≥ 150 → eligible at 1.5
            ticks in 2025, while 2026's 124.8344751 < 150 is not: the tax year decides.
    """
    assert m2025.net_edge_krw(75_000, "KRX", 75_200, "NXT", "KOSPI") == pytest.approx(62.6521584, abs=1e-9)
    assert m2025.net_edge_krw(75_000, "KRX", 75_300, "NXT", "KOSPI") == pytest.approx(162.4844751, abs=1e-9)
    assert not m2025.is_eligible(75_000, "KRX", 75_200, "NXT", "KOSPI", 1)
    assert m2025.is_eligible(75_000, "KRX", 75_300, "NXT", "KOSPI", 1.5)
    assert not m2026.is_eligible(75_000, "KRX", 75_300, "NXT", "KOSPI", 1.5)


def test_worked_example_2026_kosdaq_buy_nxt_sell_krx(m2026):
    """Direction B on a KOSDAQ stock: buy NXT 30,000, sell KRX 30,100 / 30,150; tick(30,000) = 50.

    fee(buy NXT)  = 30,000 × 1.76833 / 10,000 = 5.30499
    30,150: fee(sell KRX) = 30,150 × 1.5 / 10,000 = 4.5225, tax = 30,150 × 0.0020 = 60.3
            net = 150 − 5.30499 − 4.5225 − 60.3 = 79.87251 ≥ 50 → eligible at 1 tick
    30,100: fee(sell KRX) = 4.515, tax = 60.2
            net = 100 − 5.30499 − 4.515 − 60.2 = 29.98001 < 50 → not eligible
    """
    assert tick_size(30_000) == 50
    assert m2026.net_edge_krw(30_000, "NXT", 30_150, "KRX", "KOSDAQ") == pytest.approx(79.87251, abs=1e-9)
    assert m2026.net_edge_krw(30_000, "NXT", 30_100, "KRX", "KOSDAQ") == pytest.approx(29.98001, abs=1e-9)
    assert m2026.is_eligible(30_000, "NXT", 30_150, "KRX", "KOSDAQ", 1)
    assert not m2026.is_eligible(30_000, "NXT", 30_100, "KRX", "KOSDAQ", 1)


def test_tax_is_looked_up_by_market():
    # A KOSDAQ rate of 25 bps costs 30,150 × 5 / 10,000 = 15.075 KRW more per share than KOSPI's 20 bps.
    m = CostModel(1.5, 1.76833, {"KOSPI": 20.0, "KOSDAQ": 25.0})
    kospi = m.net_edge_krw(30_000, "NXT", 30_150, "KRX", "KOSPI")
    kosdaq = m.net_edge_krw(30_000, "NXT", 30_150, "KRX", "KOSDAQ")
    assert kospi - kosdaq == pytest.approx(15.075, abs=1e-9)


def test_2026_one_tick_spread_at_50000_is_never_eligible(m2026, m2025):
    """A 1-tick spread at 50,000 is 100 KRW = 20 bps; 2026 tax alone is 50,100 × 0.0020 = 100.2 > 100.

    A: 100 − 7.5 − 50,100 × 1.76833 / 10,000 (8.85933330) − 100.2 = −16.5593333
    B: 100 − 50,000 × 1.76833 / 10,000 (8.841650) − 7.515 − 100.2 = −16.556650
    Negative in both directions, so not even a 0-tick threshold admits it; the same holds across the whole
    50,000–199,900 band (the tick is ≤ 20 bps of the price there). In 2025 (15 bps) it nets +8.44 KRW:
    positive, but below one tick.
    """
    for min_ticks in (0, 0.5, 1, 2):
        assert not m2026.is_eligible(50_000, "KRX", 50_100, "NXT", "KOSPI", min_ticks)
        assert not m2026.is_eligible(50_000, "NXT", 50_100, "KRX", "KOSDAQ", min_ticks)
    assert m2026.net_edge_krw(50_000, "KRX", 50_100, "NXT", "KOSPI") == pytest.approx(-16.5593333, abs=1e-7)
    assert m2026.net_edge_krw(50_000, "NXT", 50_100, "KRX", "KOSPI") == pytest.approx(-16.55665, abs=1e-9)
    price = 50_000
    while price < 200_000:
        up = shift_ticks(price, 1)
        for buy_venue, sell_venue in (("KRX", "NXT"), ("NXT", "KRX"), ("KRX", "KRX")):
            assert m2026.net_edge_krw(price, buy_venue, up, sell_venue, "KOSPI") < 0, price
        price = up
    assert 0 < m2025.net_edge_krw(50_000, "KRX", 50_100, "NXT", "KOSPI") < tick_size(50_000)
    assert m2025.is_eligible(50_000, "KRX", 50_100, "NXT", "KOSPI", 0)
    assert not m2025.is_eligible(50_000, "KRX", 50_100, "NXT", "KOSPI", 1)


def test_is_eligible_threshold_is_inclusive():
    # No costs: net equals the spread, so exactly one tick passes at 1 tick and fails at 1.01.
    free = CostModel(0.0, 0.0, {"KOSPI": 0.0, "KOSDAQ": 0.0})
    assert free.is_eligible(2_000, "KRX", 2_005, "NXT", "KOSPI", 1)
    assert not free.is_eligible(2_000, "KRX", 2_005, "NXT", "KOSPI", 1.01)
    with pytest.raises(ValueError):
        free.is_eligible(0, "KRX", 2_005, "NXT", "KOSPI", 1)


def test_net_edge_matches_the_per_share_function(m2026):
    assert m2026.net_edge_krw(75_000, "KRX", 75_300, "NXT", "KOSPI") == net_edge_per_share_krw(
        75_000, 75_300, 1.5, m2026.nxt_fee_bps, 20.0)


# -------------------------------------------------------------------------------------- settlement / tax year

@pytest.mark.parametrize("trade,settles", [
    ("2025-12-24", "2025-12-29"),   # Wed → (Thu 25th Christmas) Fri 26th, Mon 29th
    ("2025-12-26", "2025-12-30"),   # Fri → Mon 29th, Tue 30th
    ("2025-12-29", "2026-01-02"),   # Mon → Tue 30th, (31st and 1st closed) Fri 2nd
    ("2025-12-30", "2026-01-05"),
    ("2025-12-27", "2026-01-02"),   # Saturday rolls to Monday 29th first
    ("2026-06-02", "2026-06-04"),   # the 4.13.2 calendar still counts 2026-06-03 as a session
])
def test_settlement_date_t_plus_2_xkrx(trade, settles):
    assert settlement_date(dt.date.fromisoformat(trade)) == dt.date.fromisoformat(settles)


def test_settlement_date_honours_extra_holidays():
    assert settlement_date(dt.date(2026, 6, 2), extra_holidays=[dt.date(2026, 6, 3)]) == dt.date(2026, 6, 5)
    with pytest.raises(ValueError, match="1990"):
        settlement_date(dt.date(1990, 1, 3))


def test_for_date_uses_the_settlement_year(fees_cfg):
    # 2025-12-26 settles 2025-12-30 (15 bps); from 2025-12-29 trades settle in 2026 (20 bps)
    assert CostModel.for_date(fees_cfg, dt.date(2025, 12, 26)).tax_bps("KOSPI") == 15.0
    assert CostModel.for_date(fees_cfg, dt.date(2025, 12, 29)).tax_bps("KOSPI") == 20.0
    assert CostModel.for_date(fees_cfg, dt.date(2025, 12, 29)).tax_bps("KOSDAQ") == 20.0
    assert CostModel.for_date(fees_cfg, dt.date(2025, 6, 2)).tax_bps("KOSDAQ") == 15.0
    # same trade, same threshold, different day: 162.48 ≥ 150 on the 26th, 124.83 < 150 on the 29th
    assert CostModel.for_date(fees_cfg, dt.date(2025, 12, 26)).is_eligible(75_000, "KRX", 75_300, "NXT", "KOSPI", 1.5)
    assert not CostModel.for_date(fees_cfg, dt.date(2025, 12, 29)).is_eligible(
        75_000, "KRX", 75_300, "NXT", "KOSPI", 1.5)


# --------------------------------------------------------------------------------------------- realised PnL

def test_realised_rounding_per_fill(fees_cfg):
    truncate = CostModel.from_config(fees_cfg, 2026)
    rounding = CostModel(truncate.krx_fee_bps, truncate.nxt_fee_bps, truncate.tax_bps_by_market, "round")
    none = CostModel(truncate.krx_fee_bps, truncate.nxt_fee_bps, truncate.tax_bps_by_market, "none")
    # BUY 10 × 75,000 on KRX: fee 112.5 → truncate 112, half-up 113, none 112.5
    assert truncate.realised_fee_krw(75_000, 10, "KRX") == 112
    assert rounding.realised_fee_krw(75_000, 10, "KRX") == 113
    assert none.realised_fee_krw(75_000, 10, "KRX") == 112.5
    # SELL 10 × 75,300 on NXT: fee 133.155249 → 133 / 133 / 133.155249; tax 1,506 exactly
    assert truncate.realised_fee_krw(75_300, 10, "NXT") == 133
    assert rounding.realised_fee_krw(75_300, 10, "NXT") == 133
    assert none.realised_fee_krw(75_300, 10, "NXT") == pytest.approx(133.155249, abs=1e-9)
    assert truncate.realised_tax_krw(75_300, 10, "KOSPI") == 1_506
    # SELL 3 × 75,300: tax 225,900 × 0.002 = 451.8 → 451 truncated, 452 half-up
    assert truncate.realised_tax_krw(75_300, 3, "KOSPI") == 451
    assert rounding.realised_tax_krw(75_300, 3, "KOSPI") == 452
    assert isinstance(truncate.realised_fee_krw(75_000, 10, "KRX"), int)


def test_realised_rounding_is_exact_where_binary_floats_are_not():
    # 100 × 1,000 × 2.3 / 10,000 is exactly 23 KRW; the float product gives 22.999999999999996.
    assert 1_000 * 100 * 2.3 / 10_000 < 23
    m = CostModel(2.3, 2.3, {"KOSPI": 20, "KOSDAQ": 20}, "truncate")
    assert m.realised_fee_krw(1_000, 100, "KRX") == 23
    # 100 × 500 × 2.3 / 10,000 = 11.5 exactly: half-up gives 12 (float gives 11.499999999999998)
    assert CostModel(2.3, 2.3, {"KOSPI": 20, "KOSDAQ": 20}, "round").realised_fee_krw(500, 100, "NXT") == 12


def test_leg_cash(m2026):
    # SELL 10 × 75,300 on NXT (KOSPI): gross +753,000, fee 133, tax 1,506 → net cash 751,361
    assert m2026.leg_cash_krw("SELL", 75_300, 10, "NXT", "KOSPI") == (753_000, 133, 1_506)
    # BUY 10 × 75,000 on KRX: gross −750,000, fee 112, no tax
    assert m2026.leg_cash_krw(Side.BUY, 75_000, 10, Venue.KRX, Market.KOSPI) == (-750_000, 112, 0)
    # a mid-price fill between ticks is fine: SELL 2 × 2,002.5 on NXT → 4,005; fee 0.708 → 0; tax 8.01 → 8
    assert m2026.leg_cash_krw("SELL", 2_002.5, 2, "NXT", "KOSDAQ") == (4_005.0, 0, 8)
    with pytest.raises(ValueError, match="'HOLD'"):
        m2026.leg_cash_krw("HOLD", 75_000, 1, "KRX", "KOSPI")
    with pytest.raises(ValueError):
        m2026.leg_cash_krw("BUY", 75_000, -1, "KRX", "KOSPI")
