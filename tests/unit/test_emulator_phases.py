"""Market phases, VIs and empty sides through the emulated OpenAPI+ control as the engine sees it (the facade):
what an order sent in a call, a pause, a limit-only session or a VI gets back, and when the uncross fills it.
Constant latencies (send→ack 15 ms, ack→exchange 5 ms) on the simulated clock."""
from __future__ import annotations

import datetime as dt

from config.schema import LatencyDist
from core.clock import NS_PER_MS, ns_from_kst
from core.phases import VenuePhase
from kiwoom_bridge import fids
from kiwoom_bridge.types import EMPTY_SIDE, KRX, NXT, REAL_TYPE_QUOTE, REAL_TYPE_VI, QuoteEvent
from tests.unit.test_openapi_contract import CFG, DAY, HYNIX, SAMSUNG, T0, Harness, q

MS = NS_PER_MS

# What order_desk.py / exchange.py source for each refusal (an OnReceiveMsg with an empty 주문번호 at ack time;
# a '거부' Chejan 919 for an order the phase changed under while it was in flight).
RC4058 = "[RC4058] 모의투자 장종료"
ACK_CALL = "[emulator] 단일가매매 시간에는 IOC/FOK/중간가 주문을 할 수 없습니다"
ACK_LIMIT_ONLY = "[emulator] 프리/애프터마켓에는 지정가 주문만 가능합니다"
ARRIVAL_PAUSE = "[emulator] 휴장: 주문 도착 시 매매거래가 중단되어 있습니다"


def kst(h: int, m: int, s: int = 0, ms: int = 0) -> int:
    return ns_from_kst(DAY, dt.time(h, m, s)) + ms * MS


def book(t_ns: int, venue: str = KRX, code: str = SAMSUNG, ask: int = 84600, bid: int = 84500) -> QuoteEvent:
    return QuoteEvent(t_ns, code, venue, REAL_TYPE_QUOTE, ask=ask, bid=bid, ask_qty=10, bid_qty=20)


def vi(t_ns: int, active: bool, last: int = 0, venue: str = KRX, code: str = SAMSUNG) -> QuoteEvent:
    return QuoteEvent(t_ns, code, venue, REAL_TYPE_VI, last=last, vi_active=active, vi_kind="dynamic")


def h_phase(t_ns: int, venue: str) -> VenuePhase:
    """The phase core.phases gives ``venue`` at ``t_ns`` (the control applies the same)."""
    h = Harness([], start=t_ns, login=False, account_window=False)
    return h.ctl.exchange(venue).phase


def refused(h: Harness, rq: str, text: str) -> None:
    """``rq`` was refused at ack time: empty 주문번호, ``text`` in OnReceiveMsg and the ack, no Chejan at all."""
    ack = h.ack(rq)
    assert not ack.accepted and ack.message == text
    assert [m.text for m in h.of("on_message") if m.rq_name == rq] == [text]


def test_an_order_in_the_nxt_pause_gets_rc4058_and_no_chejan() -> None:
    start = kst(8, 55)
    assert h_phase(start, NXT) is VenuePhase.PAUSE
    h = Harness([book(start + 10 * MS, NXT)], start=start)
    assert h.send("limit", 21, SAMSUNG, 1, 84500, "00") == 0        # SendOrder itself succeeds...
    assert h.send("ioc", 21, SAMSUNG, 1, 0, "13") == 0
    h.run(14)
    assert h.of("on_ack") == []
    h.run(1)                                                        # ...the refusal is the ack, 15 ms later
    refused(h, "limit", RC4058)
    refused(h, "ioc", RC4058)
    h.run(1000)
    assert h.execs() == [] and h.ctl.exchange(NXT).resting(SAMSUNG) == []


def test_an_ioc_in_the_krx_opening_call_is_refused_and_a_limit_fills_at_the_uncross() -> None:
    start = kst(8, 59, 50)
    h = Harness([book(start + 10 * MS)], start=start)
    assert h.ctl.exchange(KRX).phase is VenuePhase.CALL
    h.send("ioc", 1, SAMSUNG, 5, 0, "13")
    h.send("fok", 1, SAMSUNG, 5, 84600, "20")
    h.send("better", 1, SAMSUNG, 5, 84600, "00")                    # crosses the 84600 ask: rests in the call
    h.send("at_p", 1, SAMSUNG, 3, 84500, "00")
    h.run(100)
    refused(h, "ioc", ACK_CALL)
    refused(h, "fok", ACK_CALL)
    better, at_p = h.ack("better").order_no, h.ack("at_p").order_no
    assert [e.status for e in h.execs(better)] == ["접수"] and [e.status for e in h.execs(at_p)] == ["접수"]
    h.ctl.advance_to(kst(9, 0) - 1)
    assert [e.status for e in h.execs(better)] == ["접수"]             # nothing matches before the call ends
    h.ctl.advance_to(kst(9, 0, 1))
    (fill,) = [e for e in h.execs(better) if e.status == "체결"]      # P = mid 84550 rounded down = 84500
    assert (fill.fill_qty, fill.fill_price, fill.leaves_qty, fill.t_ns) == (5, 84500, 0, kst(9, 0))
    assert [e.status for e in h.execs(at_p)] == ["접수"]               # at P: still resting
    assert [o.order_no for o in h.ctl.exchange(KRX).resting(SAMSUNG)] == [at_p]


def test_a_non_limit_order_in_the_nxt_pre_market_is_refused_and_a_limit_trades() -> None:
    start = kst(8, 10)
    h = Harness([book(start + 10 * MS, NXT)], start=start)
    assert h.ctl.exchange(NXT).phase is VenuePhase.LIMIT_ONLY
    h.send("ioc", 21, SAMSUNG, 1, 0, "13")
    h.send("mid", 21, SAMSUNG, 1, 0, "29")
    h.send("limit", 21, SAMSUNG, 4, 84600, "00")
    h.run(100)
    refused(h, "ioc", ACK_LIMIT_ONLY)
    refused(h, "mid", ACK_LIMIT_ONLY)
    fills = [e for e in h.execs(h.ack("limit").order_no) if e.status == "체결"]
    assert [(f.fill_qty, f.fill_price, f.venue) for f in fills] == [(4, 84600, NXT)]


def test_an_order_accepted_just_before_the_pause_is_refused_on_arrival_with_a_chejan() -> None:
    start = kst(8, 49, 59)
    h = Harness([book(start + 10 * MS, NXT)], start=start)
    h.ctl.advance_to(kst(8, 49, 59, 982))      # ack at .997 (limit only: accepted), at the exchange at 08:50:00.002
    h.send("late", 21, SAMSUNG, 2, 84400, "00")
    h.run(100)
    ack = h.ack("late")
    assert ack.accepted
    reps = h.execs(ack.order_no)
    assert [e.status for e in reps] == ["접수", "거부"]
    assert reps[1].reject_reason == ARRIVAL_PAUSE and reps[1].leaves_qty == 0
    assert reps[1].t_ns == kst(8, 50, 0, 2)
    assert h.ctl.exchange(NXT).resting(SAMSUNG) == []


def test_cancels_are_taken_in_a_pause_and_resting_orders_wait_through_it() -> None:
    start = kst(8, 49, 50)
    events = [book(start + 10 * MS, NXT),
              QuoteEvent(kst(8, 55), SAMSUNG, NXT, "주식체결", last=84300, last_qty=50),     # through both, paused
              QuoteEvent(kst(9, 0, 31), SAMSUNG, NXT, "주식체결", last=84300, last_qty=1)]   # continuous again
    h = Harness(events, start=start)
    h.send("a", 21, SAMSUNG, 2, 84400, "00")
    h.send("b", 21, SAMSUNG, 3, 84400, "00")
    h.run(100)
    a, b = h.ack("a").order_no, h.ack("b").order_no
    h.ctl.advance_to(kst(8, 51))
    assert h.ctl.exchange(NXT).phase is VenuePhase.PAUSE
    h.send("cancel-a", 23, SAMSUNG, 0, 0, "00", orig=a)
    h.ctl.advance_to(kst(8, 56))
    assert h.ack("cancel-a").accepted
    conf = [e for e in h.execs() if e.status == "확인" and e.orig_order_no == a]
    assert [c.cancelled_qty for c in conf] == [2]
    assert [e.status for e in h.execs(b)] == ["접수"]                 # the 08:55 print did not trade it
    h.ctl.advance_to(kst(9, 0, 32))
    fills = [e for e in h.execs(b) if e.status == "체결"]
    assert [(f.fill_qty, f.fill_price, f.t_ns) for f in fills] == [(3, 84400, kst(9, 0, 31))]


def test_a_modify_in_a_pause_is_refused_and_the_original_keeps_resting() -> None:
    """SPEC §11: any order in a pause is refused; a 정정 is one. Before the fix the emulator accepted it, took the
    original off the book and then refused the replacement on arrival: the order silently vanished."""
    start = kst(8, 49, 50)
    h = Harness([book(start + 10 * MS, NXT), QuoteEvent(kst(9, 0, 31), SAMSUNG, NXT, "주식체결", last=84300,
                                                        last_qty=1)], start=start)
    h.send("a", 21, SAMSUNG, 2, 84400, "00")
    h.run(100)
    a = h.ack("a").order_no
    h.ctl.advance_to(kst(8, 51))
    h.send("mod", 25, SAMSUNG, 0, 84300, "00", orig=a)
    h.run(100)
    refused(h, "mod", RC4058)
    assert [e.status for e in h.execs()] == ["접수"]                     # nothing happened to the original
    assert [(o.order_no, o.leaves) for o in h.ctl.exchange(NXT).resting(SAMSUNG)] == [(a, 2)]
    h.ctl.advance_to(kst(9, 0, 32))
    assert [(e.fill_qty, e.fill_price) for e in h.execs(a) if e.status == "체결"] == [(2, 84400)]


def test_a_modify_that_reaches_the_exchange_in_the_pause_is_refused_whole() -> None:
    start = kst(8, 49, 50)
    slow_cancel = CFG.sim.latency.model_copy(update={"cancel_ms": LatencyDist(median=30, p99=30)})
    cfg = CFG.model_copy(update={"sim": CFG.sim.model_copy(update={"latency": slow_cancel})})
    h = Harness([book(start + 10 * MS, NXT)], start=start, config=cfg, constant_timing=False)
    h.send("a", 21, SAMSUNG, 2, 84400, "00")
    h.run(100)
    a = h.ack("a").order_no
    h.ctl.advance_to(kst(8, 49, 59, 980))    # ack at .995 (limit only: taken), at the exchange at 08:50:00.010
    h.send("mod", 25, SAMSUNG, 0, 84300, "00", orig=a)
    h.run(100)
    mod = h.ack("mod")
    assert mod.accepted
    assert [(e.status, e.reject_reason, e.t_ns) for e in h.execs(mod.order_no)] == [
        ("접수", "", kst(8, 49, 59, 995)), ("거부", ARRIVAL_PAUSE, kst(8, 50, 0, 10))]
    assert [e.status for e in h.execs(a)] == ["접수"]
    assert [(o.order_no, o.leaves) for o in h.ctl.exchange(NXT).resting(SAMSUNG)] == [(a, 2)]


def test_a_krx_vi_refuses_takes_on_its_code_while_the_other_code_and_nxt_trade_then_uncrosses() -> None:
    events = [q(10), q(10, venue=NXT), q(10, code=HYNIX), vi(T0 + 500 * MS, True, 84600),
              vi(T0 + 3000 * MS, False, 84500)]
    h = Harness(events)                 # logged in at T0 + 200 ms
    assert h.api.set_real_reg("1000", [SAMSUNG], ";".join(str(f) for f in sorted(fids.VI_REAL_FIDS)), "0") == 0
    h.run_to(600)
    assert h.ctl.exchange(KRX).in_vi(SAMSUNG) and not h.ctl.exchange(NXT).in_vi(SAMSUNG)
    h.send("krx-ioc", 1, SAMSUNG, 2, 0, "13")
    h.send("nxt-ioc", 21, SAMSUNG, 2, 0, "13")
    h.send("other-ioc", 1, HYNIX, 2, 0, "13")
    h.send("krx-post", 1, SAMSUNG, 4, 84600, "00")                   # marketable, but the code is in a call
    h.run(100)
    refused(h, "krx-ioc", ACK_CALL)
    for rq, venue, code in (("nxt-ioc", NXT, SAMSUNG), ("other-ioc", KRX, HYNIX)):
        fills = [e for e in h.execs(h.ack(rq).order_no) if e.status == "체결"]
        assert [(f.fill_qty, f.fill_price, f.venue, f.code) for f in fills] == [(2, 84600, venue, code)]
    post = h.ack("krx-post").order_no
    h.run_to(2999)
    assert [e.status for e in h.execs(post)] == ["접수"]
    h.run_to(3001)
    fills = [e for e in h.execs(post) if e.status == "체결"]
    assert [(f.fill_qty, f.fill_price, f.t_ns) for f in fills] == [(4, 84500, T0 + 3000 * MS)]   # 해제 at 84500
    assert [(v.code, v.venue, v.flag) for v in h.of("on_vi")] == [(SAMSUNG, KRX, "1"), (SAMSUNG, KRX, "2")]
    h.send("krx-ioc-after", 1, SAMSUNG, 1, 0, "13")                   # continuous again
    h.run(100)
    assert h.ack("krx-ioc-after").accepted


def test_an_emptied_side_reaches_the_engine_as_empty_and_a_take_finds_nothing() -> None:
    events = [q(500), QuoteEvent(T0 + 600 * MS, SAMSUNG, KRX, REAL_TYPE_QUOTE, ask=EMPTY_SIDE, bid=84500,
                                 bid_qty=20)]
    h = Harness(events)                 # logged in at T0 + 200 ms
    h.register([SAMSUNG])
    h.run_to(700)
    b = h.ctl.book(SAMSUNG, KRX)
    assert b is not None and (b.ask, b.ask_qty, b.bid, b.bid_qty) == (0, 0, 84500, 20)
    last = h.of("on_l1")[-1]
    assert (last.ask, last.ask_qty, last.bid, last.bid_qty) == (EMPTY_SIDE, EMPTY_SIDE, 84500, 20)  # size with it
    h.send("take", 1, SAMSUNG, 3, 0, "13")
    h.run(100)
    reps = h.execs(h.ack("take").order_no)
    assert [(e.status, e.fill_qty, e.cancelled_qty) for e in reps] == [("접수", 0, 0), ("확인", 0, 3)]


def test_the_krx_closing_call_uncrosses_then_the_close_cancels_what_is_left() -> None:
    start = kst(15, 25)
    h = Harness([book(start + 10 * MS),
                 QuoteEvent(kst(15, 28), SAMSUNG, KRX, "주식체결", last=84600, last_qty=7)], start=start)
    assert h.ctl.exchange(KRX).phase is VenuePhase.CALL
    h.send("better", 1, SAMSUNG, 5, 84700, "00")
    h.send("worse", 1, SAMSUNG, 3, 84500, "00")
    h.run(100)
    better, worse = h.ack("better").order_no, h.ack("worse").order_no
    h.ctl.advance_to(kst(15, 30, 1))
    fills = [e for e in h.execs(better) if e.status == "체결"]
    assert [(f.fill_qty, f.fill_price, f.t_ns) for f in fills] == [(5, 84600, kst(15, 30))]   # P: the call's print
    (conf,) = [e for e in h.execs(worse) if e.status == "확인"]
    assert (conf.cancelled_qty, conf.reject_reason, conf.t_ns) == (3, "장마감", kst(15, 30))
    h.send("late", 1, SAMSUNG, 1, 84500, "00")
    h.run(100)
    refused(h, "late", RC4058)


def test_a_screen_refuses_its_101st_code_counting_nx_and_keeps_feeding_the_100() -> None:
    """SPEC §11: ≤ 100 codes per screen, ``_NX`` included, enforced by default with Kiwoom's -204."""
    codes = [f"{i:06d}" for i in range(50)] + [SAMSUNG]
    events = [q(500, code=SAMSUNG, venue=NXT), q(500, code=codes[0], venue=NXT), q(500, code=codes[0])]
    h = Harness(events, codes=tuple(codes))
    assert h.api.set_real_reg("1000", codes[:50], fids.REAL_FIDS_L1, "0") == 0
    assert h.api.set_real_reg("1000", [c + "_NX" for c in codes[:50]], fids.REAL_FIDS_L1, "1") == 0
    assert h.api.set_real_reg("1000", [SAMSUNG + "_NX"], fids.REAL_FIDS_L1, "1") == -204      # the 101st
    h.run_to(600)
    assert sorted((u.code, u.venue) for u in h.of("on_l1")) == [(codes[0], KRX), (codes[0], NXT)]
