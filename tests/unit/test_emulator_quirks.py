"""The emulated OpenAPI+ control: Kiwoom quirks, latencies, fills, faults and determinism (sim clock only)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from config.loader import load_config
from core.clock import NS_PER_MS, NS_PER_S, ns_from_kst
from kiwoom_bridge import fids
from kiwoom_bridge.emulator.control import ReentrancyError
from kiwoom_bridge.emulator.scheduler import SchedulerError, SimScheduler
from kiwoom_bridge.emulator.source import ListSource, MarketSource, SourceOrderError
from kiwoom_bridge.types import KRX, NXT, REAL_TYPE_QUOTE, QuoteEvent
from tests.unit.test_openapi_contract import CFG, DAY, SAMSUNG, T0, Harness, q, tr

MS = NS_PER_MS
LAT = CFG.sim.latency
HELD = CFG.sim.account.holdings_default        # shares of every code the emulated account starts with


# -- scheduler and source ------------------------------------------------------------------------------

def test_scheduler_runs_in_time_order_and_breaks_ties_by_insertion() -> None:
    s = SimScheduler(1_000)
    seen: list[tuple[int, str]] = []
    s.at(3_000, lambda: seen.append((s.now_ns, "c")))
    s.at(2_000, lambda: seen.append((s.now_ns, "a")))
    s.at(2_000, lambda: seen.append((s.now_ns, "b")))
    assert s.next_time_ns() == 2_000
    assert s.run_until(2_500) == 2 and s.now_ns == 2_500
    assert seen == [(2_000, "a"), (2_000, "b")]
    s.at(2_500, lambda: s.at(2_500, lambda: seen.append((s.now_ns, "nested"))))
    s.run_until(3_000)
    assert seen[2:] == [(2_500, "nested"), (3_000, "c")] and s.next_time_ns() is None
    with pytest.raises(SchedulerError, match="already at 3000"):
        s.at(2_999, lambda: None)
    with pytest.raises(SchedulerError):
        s.run_until(1)


def test_scheduler_run_before_leaves_same_instant_events_pending() -> None:
    s = SimScheduler(0)
    seen: list[int] = []
    s.at(5, seen.append, 5)
    s.at(4, seen.append, 4)
    s.run_before(5)
    assert seen == [4] and s.now_ns == 5 and s.next_time_ns() == 5
    assert s.run_next() and seen == [4, 5] and not s.run_next()


def test_list_source_implements_the_protocol() -> None:
    src = ListSource([q(1), q(2), q(2), q(5)])
    assert isinstance(src, MarketSource)
    assert src.codes == (SAMSUNG,) and src.start_ns == T0 + MS and not src.adds_latency and src.sizes_known
    assert len(src.pop_until(T0 + 2 * MS)) == 3 and src.peek_time_ns() == T0 + 5 * MS
    assert src.pop_until(T0 + 4 * MS) == [] and len(src.pop_until(T0 + 99 * MS)) == 1
    assert src.peek_time_ns() is None
    with pytest.raises(SourceOrderError, match="before event 0"):
        ListSource([q(2), q(1)])


# -- market data delivery ------------------------------------------------------------------------------

def test_market_data_latency_applies_only_to_sources_that_add_it() -> None:
    ev = [q(1000)]
    synth = Harness(ev, adds_latency=True)
    synth.register([SAMSUNG])
    synth.run_to(2000)
    assert synth.of("on_l1")[0].t_ns == T0 + 1000 * MS + round(LAT.market_data_ms.median * MS)
    replay = Harness(ev, adds_latency=False)
    replay.register([SAMSUNG])
    replay.run_to(2000)
    assert replay.of("on_l1")[0].t_ns == T0 + 1000 * MS


def test_events_before_the_clock_warm_the_book_up_without_going_back_in_time() -> None:
    early = QuoteEvent(T0 - 5 * NS_PER_S, SAMSUNG, KRX, REAL_TYPE_QUOTE, ask=84600, bid=84500, ask_qty=1, bid_qty=1)
    h = Harness([early])
    assert h.sched.now_ns == T0 + 200 * MS
    b = h.ctl.book(SAMSUNG, KRX)
    assert b is not None and (b.bid, b.ask) == (84500, 84600)


def test_advance_to_cannot_be_called_from_a_callback() -> None:
    h = Harness([q(1000)])
    h.register([SAMSUNG])
    h.ctl.OnReceiveRealData.connect(lambda *a: h.ctl.advance_to(h.sched.now_ns + 1))
    with pytest.raises(ReentrancyError):
        h.run_to(2000)


# -- posted orders ---------------------------------------------------------------------------------------

def test_posted_limit_never_fills_at_the_touch_but_after_enough_volume_at_its_price() -> None:
    events = [q(10, bid=84500, bid_qty=20), q(1000, bid=84500, bid_qty=20), q(1500, bid=84500, bid_qty=18),
              tr(2000, 84500, 12), tr(2500, 84500, 10), tr(3000, 84500, 10)]
    h = Harness(events)
    h.run_to(300)
    h.send("post", 1, SAMSUNG, 5, 84500, "00")
    h.run_to(1900)
    no = h.ack("post").order_no
    assert [e.status for e in h.execs(no)] == ["접수"]            # at the touch for 1.6 s: nothing
    h.run_to(2100)
    assert [e.status for e in h.execs(no)] == ["접수"]            # 12 of the 18 ahead traded
    h.run_to(2600)
    fills = [e for e in h.execs(no) if e.status == "체결"]
    assert [(f.fill_qty, f.fill_price, f.leaves_qty) for f in fills] == [(4, 84500, 1)]
    h.run_to(3100)
    fills = [e for e in h.execs(no) if e.status == "체결"]
    assert [(f.fill_qty, f.leaves_qty) for f in fills] == [(4, 1), (1, 0)]
    assert h.of("on_balance")[-1].holding_qty == HELD + 5


def test_posted_limit_fills_when_the_market_trades_through() -> None:
    h = Harness([q(10), tr(2000, 84400, 1)])
    h.run_to(300)
    h.send("post", 1, SAMSUNG, 5, 84500, "00")
    h.run_to(2100)
    no = h.ack("post").order_no
    (fill,) = [e for e in h.execs(no) if e.status == "체결"]
    assert (fill.fill_qty, fill.fill_price, fill.t_ns) == (5, 84500, T0 + 2000 * MS)


def test_a_take_sees_the_book_when_it_arrives_not_when_it_was_sent() -> None:
    arrive_ms = 300 + LAT.send_to_ack_ms.median + LAT.ack_to_fill_ms.median
    h = Harness([q(10, ask=84600, ask_qty=10), q(arrive_ms - 1, ask=84700, ask_qty=3)])
    h.run_to(300)
    h.send("ioc", 1, SAMSUNG, 5, 0, "13")
    h.run_to(arrive_ms + 10)
    no = h.ack("ioc").order_no
    st = [(e.status, e.fill_qty, e.fill_price, e.cancelled_qty) for e in h.execs(no)]
    assert st == [("접수", 0, 0, 0), ("체결", 3, 84700, 0), ("확인", 0, 0, 2)]


def test_nxt_mid_order_rests_between_ticks_and_nxt_cancel_works() -> None:
    h = Harness([q(10, venue=NXT, ask=84700, bid=84500), tr(3000, 84500, 50, venue=NXT)])
    h.run_to(300)
    h.send("mid", 21, SAMSUNG, 2, 0, "29")
    h.send("mid2", 22, SAMSUNG, 2, 0, "29")
    h.run_to(400)
    buy, sell = h.ack("mid").order_no, h.ack("mid2").order_no
    assert h.send("wrong-venue", 3, SAMSUNG, 0, 0, "00", orig=buy) == 0    # a KRX cancel of an NXT order...
    h.send("cx", 23, SAMSUNG, 0, 0, "00", orig=sell)
    h.run_to(3100)
    assert not h.ack("wrong-venue").accepted and "NXT" in h.ack("wrong-venue").message   # ...is refused
    (fill,) = [e for e in h.execs(buy) if e.status == "체결"]
    assert (fill.fill_price, fill.fill_qty, fill.venue) == (84600, 2, NXT)   # the mid, at a trade-through
    conf = [e for e in h.execs(h.ack("cx").order_no) if e.status == "확인"]
    assert [(c.cancelled_qty, c.orig_order_no, c.venue) for c in conf] == [(2, sell, NXT)]


# -- cancels and modifies --------------------------------------------------------------------------------

def test_cancel_fill_race_the_fill_wins_and_the_confirm_shows_zero() -> None:
    # the post is filled by a print 5 ms after the cancel is sent; the cancel arrives 15 ms after sending
    h = Harness([q(10), tr(1005, 84400, 1)])
    h.run_to(300)
    h.send("post", 1, SAMSUNG, 3, 84500, "00")
    h.run_to(1000)
    no = h.ack("post").order_no
    assert h.send("cancel", 3, SAMSUNG, 0, 0, "00", orig=no) == 0
    h.run_to(1100)
    cx = h.ack("cancel").order_no
    assert cx and cx != no
    seq = [(e.order_no, e.status) for e in h.execs() if e.status != "접수"]
    assert seq == [(no, "체결"), (cx, "확인")]                         # the fill is reported first
    conf = h.execs(cx)[-1]
    assert (conf.cancelled_qty, conf.orig_order_no, conf.order_kind) == (0, no, "매수취소")
    assert conf.reject_reason
    assert h.of("on_balance")[-1].holding_qty == HELD + 3 and h.ctl.holding(SAMSUNG) == HELD + 3
    assert h.execs(cx)[0].status == "접수" and h.execs(cx)[0].cancelled_qty == 0


def test_cancel_that_arrives_first_removes_the_order_before_a_later_print() -> None:
    h = Harness([q(10), tr(1100, 84400, 1)])
    h.run_to(300)
    h.send("post", 1, SAMSUNG, 3, 84500, "00")
    h.run_to(1000)
    no = h.ack("post").order_no
    h.send("cancel", 3, SAMSUNG, 0, 0, "00", orig=no)
    h.run_to(1200)
    conf = h.execs(h.ack("cancel").order_no)[-1]
    cancel_ns = round(LAT.cancel_ms.median * MS)
    assert (conf.status, conf.cancelled_qty, conf.t_ns) == ("확인", 3, T0 + 1000 * MS + cancel_ns)
    assert [e for e in h.execs(no) if e.status == "체결"] == [] and h.of("on_balance") == []


def test_cancel_of_an_unknown_order_is_refused_with_a_message() -> None:
    h = Harness([q(10)])
    h.send("cancel", 3, SAMSUNG, 0, 0, "00", orig="0999999")
    h.run(100)
    ack = h.ack("cancel")
    assert not ack.accepted and "0999999" in ack.message


def test_modify_cannot_change_the_order_type() -> None:
    h = Harness([q(10)])
    h.send("post", 1, SAMSUNG, 3, 84400, "00")
    h.run(100)
    no = h.ack("post").order_no
    h.send("mod", 5, SAMSUNG, 0, 0, "03", orig=no)           # limit → market by 정정
    h.run(100)
    ack = h.ack("mod")
    assert not ack.accepted and "거래구분" in ack.message
    assert h.ctl.exchange(KRX).order(no).leaves == 3          # the original keeps working


def test_price_only_modify_moves_the_quantity_to_a_new_order_number() -> None:
    h = Harness([q(10), tr(2000, 84400, 1)])          # a print through the new price, not the old one
    h.send("post", 1, SAMSUNG, 3, 84300, "00")
    h.run(100)
    no = h.ack("post").order_no
    h.send("mod", 5, SAMSUNG, 0, 84500, "00", orig=no)       # qty 0 = all that is open
    h.run(100)
    mod = h.ack("mod").order_no
    conf = h.execs(mod)[-1]
    assert (conf.status, conf.order_price, conf.leaves_qty, conf.cancelled_qty, conf.orig_order_no) == \
        ("확인", 84500, 3, 0, no)
    assert h.ctl.exchange(KRX).order(no).leaves == 0
    h.run_to(2100)
    (fill,) = [e for e in h.execs(mod) if e.status == "체결"]
    assert (fill.fill_qty, fill.fill_price, fill.orig_order_no) == (3, 84500, no)


# -- FID 215 ---------------------------------------------------------------------------------------------

def _session_harness(start: dt.time, day: dt.date = DAY) -> Harness:
    h = Harness(start=ns_from_kst(day, start))
    assert h.api.set_real_reg(CFG.kiwoom.screen_numbers.session, [], fids.REAL_FIDS_SESSION, "0") == 0
    return h


def test_fid_215_follows_the_simulated_clock() -> None:
    h = _session_harness(dt.time(8, 0))
    h.ctl.advance_to(ns_from_kst(DAY, dt.time(16, 0)))
    got = [(e.code, e.t_ns, e.known) for e in h.of("on_session")]
    assert got == [("0", ns_from_kst(DAY, dt.time(8, 30)), True),
                   ("3", ns_from_kst(DAY, dt.time(9, 0)), True),
                   ("R", ns_from_kst(DAY, dt.time(9, 0, 30)), True),
                   ("S", ns_from_kst(DAY, dt.time(15, 20)), True)]
    assert "NXT main market start" in h.of("on_session")[2].meaning


def test_fid_215_current_state_is_sent_on_registration_after_the_open() -> None:
    h = _session_harness(dt.time(10, 0))
    h.run(0)
    (ev,) = h.of("on_session")
    assert ev.code == "R" and ev.t_ns == ns_from_kst(DAY, dt.time(10, 0, 0, 200_000))


def test_fid_215_is_silent_on_a_weekend() -> None:
    h = _session_harness(dt.time(8, 0), day=dt.date(2026, 3, 14))      # Saturday
    h.ctl.advance_to(ns_from_kst(dt.date(2026, 3, 14), dt.time(16, 0)))
    assert h.of("on_session") == []


def test_unknown_fid_215_code_surfaces_raw_as_unknown() -> None:
    h = _session_harness(dt.time(7, 0))
    h.ctl.inject_session_code("Z")
    h.run(0)
    (ev,) = h.of("on_session")
    assert (ev.code, ev.known) == ("Z", False) and "'Z'" in ev.meaning


# -- faults ----------------------------------------------------------------------------------------------

def test_disconnect_fault_reports_106_and_refuses_orders() -> None:
    h = Harness([q(10), q(2000), q(3000)])
    h.register([SAMSUNG])
    h.send("post", 1, SAMSUNG, 1, 84400, "00")
    h.run_to(1000)
    h.ctl.faults.disconnect_at_ns = T0 + 1500 * MS
    h.run_to(1600)
    conn = h.of("on_connection")
    assert [c.code for c in conn] == [0, -106] and conn[-1].t_ns == T0 + 1500 * MS
    assert "OP_ERR_SOCKET_CLOSED" in conn[-1].message
    assert h.api.connect_state() == 0
    assert h.send("after", 1, SAMSUNG, 1, 84400, "00") == -106
    n = len(h.of("on_l1"))
    h.run_to(3500)
    assert len(h.of("on_l1")) == n                            # no real data while disconnected
    h.api.comm_connect()
    h.run(200)
    assert h.api.connect_state() == 1 and h.of("on_connection")[-1].code == 0


def test_disconnect_time_from_the_config() -> None:
    cfg = load_config(overrides={"sim": {"faults": {"disconnect_at": "09:00:41"}}})
    h = Harness(config=cfg)
    h.run_to(2000)
    assert [c.code for c in h.of("on_connection")] == [0, -106]
    assert h.of("on_connection")[-1].t_ns == ns_from_kst(DAY, dt.time(9, 0, 41))


def test_dropped_ack_never_calls_on_receive_tr_data() -> None:
    h = Harness([q(10)])
    trs: list[tuple[Any, ...]] = []
    h.ctl.OnReceiveTrData.connect(lambda *a: trs.append(a))
    h.ctl.faults.drop_ack_rate = 1.0
    assert h.send("lost", 1, SAMSUNG, 1, 0, "13") == 0
    h.run(1000)
    assert trs == [] and h.of("on_ack") == [] and h.execs() == []
    assert h.api.pending_acks() == 1
    h.api.forget_pending("lost")
    assert h.api.pending_acks() == 0


def test_dropped_ack_with_a_live_order_still_reports_chejan() -> None:
    h = Harness([q(10)])
    h.ctl.faults.drop_ack_rate = 1.0
    h.ctl.faults.drop_ack_order_lives = True
    h.send("lost", 1, SAMSUNG, 2, 0, "13")
    h.run(1000)
    assert h.of("on_ack") == []
    assert [(e.status, e.fill_qty) for e in h.execs()] == [("접수", 0), ("체결", 2)]


def test_chejan_delay_fault_delays_every_notice() -> None:
    h = Harness([q(10)])
    h.ctl.faults.chejan_delay_ms = 40
    h.send("o", 1, SAMSUNG, 1, 84400, "00")
    h.run(200)
    ack, rep = h.of("on_ack")[0], h.execs()[0]
    assert rep.t_ns - ack.t_ns == 40 * MS


def test_bare_sim_config_runs_without_fees() -> None:
    h = Harness([q(10)], config=CFG.sim)
    h.send("o", 2, SAMSUNG, 1, 0, "13")
    h.run(100)
    fill = [e for e in h.execs() if e.status == "체결"][0]
    assert fill.fee_krw == 0 and fill.tax_krw == 0
    assert h.of("on_balance")[-1].holding_qty == HELD - 1    # the account's holding less the share sold


def test_sell_tax_and_fees_are_cumulative_per_order() -> None:
    h = Harness([q(10, bid=84500, bid_qty=100)])
    h.send("o", 2, SAMSUNG, 10, 0, "13")
    h.run(100)
    fill = [e for e in h.execs() if e.status == "체결"][0]
    notional = 10 * 84500
    assert fill.fee_krw == int(notional * 1.5 / 10_000)
    assert fill.tax_krw == int(notional * 20 / 10_000)       # KOSPI 2026: 0.20 %


# -- determinism -----------------------------------------------------------------------------------------

def _scenario(seed: int) -> list[tuple[str, Any]]:
    events = []
    for i in range(200):
        px = 84500 + 100 * ((i * 7) % 5 - 2)
        venue = KRX if i % 2 else NXT
        events.append(q(300 + 37 * i, venue=venue, bid=px, ask=px + 100, bid_qty=5 + i % 9, ask_qty=3 + i % 7))
        if i % 3 == 0:
            events.append(tr(300 + 37 * i + 5, px, 1 + i % 4, venue=venue))
    h = Harness(events, seed=seed, adds_latency=True)
    h.ctl.faults.reject_rate = 0.3
    h.ctl.faults.drop_ack_rate = 0.1
    h.register([SAMSUNG, SAMSUNG + "_NX"])
    h.api.set_real_reg("9100", [], fids.REAL_FIDS_SESSION, "0")
    for k in range(25):
        h.run(300)
        otype = (1, 2, 21, 22)[k % 4]
        hoga = ("13", "00", "29", "03")[k % 4]
        price = 84500 if hoga == "00" else 0
        h.send(f"o{k}", otype, SAMSUNG, 1 + k % 3, price, hoga)
    h.run(5000)
    return h.log


def test_same_seed_and_inputs_give_the_identical_event_sequence() -> None:
    a, b = _scenario(11), _scenario(11)
    assert len(a) > 100
    assert a == b
    kinds = {n for n, _ in a}
    assert {"on_l1", "on_ack", "on_execution", "on_balance", "on_session"} <= kinds
    assert _scenario(12) != a        # the fault stream depends on the seed
