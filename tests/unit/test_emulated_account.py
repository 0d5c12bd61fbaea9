"""The emulated account behind the facade (sim clock only): Kiwoom's refusals of a sell above 주문가능수량
and a buy above the orderable cash, the holdings (opw00018, paged) and cash (opw00001) TRs read by the
bridge's account queries through the queries bucket, the 잔고 rows, and another terminal's trade."""
from __future__ import annotations

import datetime as dt

from config.loader import load_config
from core.clock import NS_PER_S, ns_from_kst
from core.desk_events import BrokerNotice, CashReported, HoldingsReported
from core.throttle import TokenBucket
from kiwoom_bridge.account_tr import AccountQueries, parse_tr_int
from kiwoom_bridge.emulator.account import BUY_REFUSAL, SELL_REFUSAL
from kiwoom_bridge.emulator.tr_queries import HOLDINGS_PAGE_ROWS
from tests.unit.test_openapi_contract import ACC, DAY, HYNIX, SAMSUNG, Harness, q

CODES = tuple(f"{i:06d}" for i in range(100, 145))           # 45 codes: three opw00018 pages


def harness(holdings: dict[str, int] | None = None, default: int = 0, cash: int = 1_000_000, events=(),
            codes: tuple[str, ...] = (SAMSUNG, HYNIX), external: dict | None = None) -> Harness:
    sim: dict = {"account": {"cash_krw": cash, "holdings_default": default, "holdings": holdings or {}}}
    if external is not None:
        sim["faults"] = {"external_fill": external}
    return Harness(list(events), config=load_config(overrides={"sim": sim}), codes=codes)


def test_a_sell_above_the_sellable_quantity_is_refused_with_kiwooms_message() -> None:
    h = harness({SAMSUNG: 2}, events=[q(10)])
    h.run_to(300)
    assert h.send("big", 2, SAMSUNG, 3, 84500, "10") == 0          # SendOrder itself returns 0
    assert h.send("ok", 2, SAMSUNG, 2, 84500, "10") == 0
    assert h.send("more", 2, SAMSUNG, 1, 84500, "10") == 0        # the 2 of 'ok' are locked
    h.run(100)
    big, ok, more = h.ack("big"), h.ack("ok"), h.ack("more")
    assert big.order_no == "" and big.message == SELL_REFUSAL
    assert ok.order_no and more.order_no == "" and more.message == SELL_REFUSAL
    assert h.ctl.holding(SAMSUNG) == 0 and h.ctl.account.refused_sells == 2
    assert h.execs(big.order_no or "none") == []


def test_a_buy_above_the_orderable_cash_is_refused_and_names_what_it_could_buy() -> None:
    fee_bps = 1.5                                                  # KRX broker fee of the default config
    cash = int(2 * 84_600 * (1 + fee_bps / 10_000)) + 10            # two shares and their fee, not three
    h = harness(cash=cash, events=[q(10)])
    h.run_to(300)
    h.send("three", 1, SAMSUNG, 3, 84600, "10")
    h.send("two", 1, SAMSUNG, 2, 84600, "10")
    h.run(100)
    three, two = h.ack("three"), h.ack("two")
    assert three.order_no == "" and three.message == BUY_REFUSAL.format(n=2)
    assert two.order_no != ""
    assert h.ctl.account.cash_krw < cash and h.ctl.holding(SAMSUNG) == 2


def test_the_balance_row_after_a_fill_carries_held_sellable_and_deposit() -> None:
    h = harness({SAMSUNG: 10}, cash=5_000_000, events=[q(10, bid_qty=3)])
    h.run_to(300)
    h.send("s", 2, SAMSUNG, 3, 84500, "00")           # a marketable limit: 3 trade at once, nothing rests
    h.run(100)
    (bal,) = h.of("on_balance")
    assert (bal.holding_qty, bal.sellable_qty) == (7, 7)
    fill = [e for e in h.execs() if e.status == "체결"][0]
    assert bal.deposit_krw == 5_000_000 + 3 * 84500 - fill.fee_krw - fill.tax_krw


def _queries(h: Harness, emitted: list) -> AccountQueries:
    bucket = TokenBucket(5, NS_PER_S + 20_000_000)
    aq = AccountQueries(h.api, ACC, "9200", bucket, h.ctl.clock_ns, emitted.append)
    h.api.on_tr_data = aq.on_tr_data
    return aq


def test_holdings_and_cash_queries_are_paged_paced_and_complete() -> None:
    held = {c: 10 + i for i, c in enumerate(CODES)}
    h = harness(held, cash=7_000_000, codes=CODES)
    emitted: list = []
    aq = _queries(h, emitted)
    aq.start_round("login")
    start = h.sched.now_ns
    sends = []
    for _ in range(400):                       # 4 s in 10 ms steps, pumping like the bridge does
        before = aq.requests
        h.run(10)
        aq.pump()
        if aq.requests > before:
            sends.append(h.sched.now_ns)
    pages = -(-len(CODES) // HOLDINGS_PAGE_ROWS)
    assert aq.requests == pages + 1 and aq.completed == ["login"] and not aq.busy
    (hold,) = [e for e in emitted if isinstance(e, HoldingsReported)]
    (cash,) = [e for e in emitted if isinstance(e, CashReported)]
    assert dict((c, (q, s)) for c, q, s in hold.holdings) == {c: (q, q) for c, q in held.items()}
    assert hold.requested_ns == start and hold.purpose == "login"
    assert (cash.orderable_krw, cash.deposit_krw) == (7_000_000, 7_000_000)
    everything = [start, *sends]
    for i in range(len(everything)):           # never more than 5 TR requests within a second
        assert sum(1 for t in everything if everything[i] <= t < everything[i] + NS_PER_S) <= 5


def test_an_open_buy_lowers_the_orderable_cash_and_an_open_sell_the_sellable_shares() -> None:
    h = harness({SAMSUNG: 10}, cash=1_000_000, events=[q(10, ask=84600, bid=84500)])
    h.run_to(300)
    h.send("restbuy", 1, SAMSUNG, 2, 84000, "00")        # rests below the ask
    h.send("restsell", 2, SAMSUNG, 4, 85000, "00")       # rests above the bid
    h.run(100)
    emitted: list = []
    aq = _queries(h, emitted)
    aq.start_round("periodic")
    for _ in range(20):
        h.run(10)
        aq.pump()
    (hold,) = [e for e in emitted if isinstance(e, HoldingsReported)]
    (cash,) = [e for e in emitted if isinstance(e, CashReported)]
    assert hold.holdings == ((SAMSUNG, 10, 6),)
    assert cash.orderable_krw == int(1_000_000 - 2 * 84000 * (1 + 1.5 / 10_000)) and cash.deposit_krw == 1_000_000


def test_another_terminals_trade_changes_the_holding_without_a_chejan_row() -> None:
    at = dt.time(9, 0, 41)
    h = harness({SAMSUNG: 10}, events=[q(10)], external={"at": at.isoformat(), "code": SAMSUNG, "qty": 5})
    h.ctl.advance_to(ns_from_kst(DAY, at) + 1)
    assert h.ctl.holding(SAMSUNG) == 15
    assert h.of("on_balance") == [] and h.of("on_execution") == []


def test_an_unanswered_query_round_is_abandoned_with_a_notice() -> None:
    h = harness({SAMSUNG: 1})
    emitted: list = []
    aq = _queries(h, emitted)
    aq.start_round("periodic")                            # both requests go out at once
    assert aq.requests == 2
    h.ctl.schedule_disconnect(h.sched.now_ns + 1)        # and the connection drops before the replies
    for _ in range(9):
        h.run(1000)
        aq.pump()
    assert aq.busy and aq.failed == [], "still waiting within the 10 s reply timeout"
    for _ in range(2):
        h.run(1000)
        aq.pump()
    assert aq.failed == ["periodic"] and not aq.busy
    (note,) = [e for e in emitted if isinstance(e, BrokerNotice)]
    assert "abandoned" in note.text and "no reply" in note.text


def test_tr_numbers_are_read_with_their_padding_and_sign() -> None:
    assert parse_tr_int("000000000010", "보유수량") == 10
    assert parse_tr_int("-00000001234", "평가손익") == -1234
    assert parse_tr_int("   ", "x") == 0
    try:
        parse_tr_int("12a", "보유수량")
    except ValueError as exc:
        assert "보유수량" in str(exc)
    else:
        raise AssertionError("garbage must not parse")
