"""The OpenApi facade against the emulated OpenAPI+ control: every call and event of the contract.

The facade is production code; the emulator stands in for ``QAxWidget("KHOPENAPI.KHOpenAPICtrl.1")``.
Everything runs on the simulated clock (no sleeps, no wall timing).
"""
from __future__ import annotations

import datetime as dt
import itertools
import sys
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.loader import load_config
from core.clock import NS_PER_MS, ns_from_kst
from kiwoom_bridge import fids
from kiwoom_bridge.emulator.control import (
    SIGNATURES,
    EmulatedControl,
    EmulatorCallError,
    UnknownSignatureError,
)
from kiwoom_bridge.emulator.scheduler import SimScheduler
from kiwoom_bridge.emulator.source import ListSource
from kiwoom_bridge.errors import KiwoomError
from kiwoom_bridge.openapi import CALLBACK_NAMES, OpenApi, PlatformNotSupportedError
from kiwoom_bridge.types import (
    KRX,
    NXT,
    REAL_TYPE_QUOTE,
    REAL_TYPE_TRADE,
    BalanceReport,
    ExecutionReport,
    L1Update,
    OrderAck,
    QuoteEvent,
)
from tests.unit.sim_timing import with_constant_latency

CFG = with_constant_latency(load_config())   # exact event times below
DAY = dt.date(2026, 3, 16)                      # a Monday, a KRX trading day
T0 = ns_from_kst(DAY, dt.time(9, 0, 40))           # both venues continuous (NXT main from 09:00:30)
MS = NS_PER_MS
ACC = "8012345611"
SAMSUNG, HYNIX = "005930", "000660"


def q(t_ms: float, code: str = SAMSUNG, venue: str = KRX, ask: int = 84600, bid: int = 84500, ask_qty: int = 10,
      bid_qty: int = 20) -> QuoteEvent:
    """A 주식호가잔량 event ``t_ms`` after T0."""
    return QuoteEvent(T0 + round(t_ms * MS), code, venue, REAL_TYPE_QUOTE, ask=ask, bid=bid, ask_qty=ask_qty,
                      bid_qty=bid_qty)


def tr(t_ms: float, last: int, qty: int, code: str = SAMSUNG, venue: str = KRX, **kw: int) -> QuoteEvent:
    """A 주식체결 print ``t_ms`` after T0."""
    return QuoteEvent(T0 + round(t_ms * MS), code, venue, REAL_TYPE_TRADE, last=last, last_qty=qty, **kw)


class Harness:
    """Scheduler + list source + emulated control + facade, with every callback recorded in order."""

    def __init__(self, events: Iterable[QuoteEvent] = (), *, start: int = T0, login: bool = True,
                 account_window: bool = True, seed: int = 7, adds_latency: bool = False, config: Any = CFG,
                 codes: tuple[str, ...] = (SAMSUNG, HYNIX), strict: bool = True, constant_timing: bool = True) -> None:
        if constant_timing and hasattr(config, "sim"):
            config = with_constant_latency(config)        # the exact event times these tests check
        self.sched = SimScheduler(start)
        self.src = ListSource(events, start_ns=start, adds_latency=adds_latency)
        self.ctl = EmulatedControl(self.sched, self.src, config, codes, seed)
        mono = itertools.count(1)
        self.api = OpenApi(self.ctl, clock_ns=self.ctl.clock_ns, monotonic_ns=lambda: next(mono), strict=strict)
        self.log: list[tuple[str, Any]] = []
        for name in CALLBACK_NAMES:
            if name not in ("on_tr_data", "on_error"):
                setattr(self.api, name, self._recorder(name))
        if login:
            assert self.api.comm_connect() == 0
            self.run(200)
        if account_window:
            self.api.show_account_window()

    def _recorder(self, name: str) -> Any:
        return lambda value: self.log.append((name, value))

    def run(self, ms: float) -> None:
        """Advance the simulated clock by ``ms``."""
        self.ctl.advance_to(self.sched.now_ns + round(ms * MS))

    def run_to(self, t_ms: float) -> None:
        """Advance the simulated clock to T0 + ``t_ms``."""
        self.ctl.advance_to(T0 + round(t_ms * MS))

    def of(self, name: str) -> list[Any]:
        return [v for n, v in self.log if n == name]

    def clear(self) -> None:
        self.log.clear()

    def send(self, rq: str, order_type: int, code: str, qty: int, price: int, hoga: str, orig: str = "",
             screen: str = "9000") -> int:
        return self.api.send_order(rq, screen, ACC, order_type, code, qty, price, hoga, orig)

    def register(self, codes: list[str], screen: str = "1000", opt: str = "0") -> int:
        return self.api.set_real_reg(screen, codes, fids.REAL_FIDS_L1, opt)

    def execs(self, order_no: str | None = None) -> list[ExecutionReport]:
        return [e for e in self.of("on_execution") if order_no is None or e.order_no == order_no]

    def ack(self, rq: str) -> OrderAck:
        acks = [a for a in self.of("on_ack") if a.rq_name == rq]
        assert len(acks) == 1, acks
        return acks[0]


# -- login and account --------------------------------------------------------------------------------

def test_login_is_asynchronous() -> None:
    h = Harness(login=False, account_window=False)
    assert h.api.connect_state() == 0
    assert h.api.comm_connect() == 0
    assert h.api.connect_state() == 0 and h.of("on_connection") == []      # nothing until the clock moves
    h.run(99)
    assert h.of("on_connection") == []
    h.run(1)
    (ev,) = h.of("on_connection")
    assert ev.code == 0 and ev.connected and ev.t_ns == T0 + 100 * MS
    assert h.api.connect_state() == 1


def test_login_failure_reports_the_code_and_stays_disconnected() -> None:
    h = Harness(login=False, account_window=False)
    h.ctl.login_result = -101
    h.api.comm_connect()
    h.run(200)
    (ev,) = h.of("on_connection")
    assert ev.code == -101 and not ev.connected
    assert "OP_ERR_CONNECT" in ev.message and "서버접속 실패" in ev.message
    assert h.api.connect_state() == 0


def test_login_info_account_and_server() -> None:
    h = Harness(login=False, account_window=False)
    assert h.api.login_info("ACCNO") == ""                  # nothing before login
    h.api.comm_connect()
    h.run(200)
    assert h.api.login_info("ACCNO") == f"{ACC};"
    assert h.api.accounts() == [ACC]
    assert h.api.login_info("USER_ID")
    assert h.api.login_info("ACCOUNT_CNT") == "1"
    assert h.api.server_gubun() == "1"


def test_send_order_before_the_account_window_returns_301() -> None:
    h = Harness([q(10)], account_window=False)
    assert h.send("o1", 1, SAMSUNG, 1, 84500, "00") == -301
    h.api.show_account_window()
    assert h.send("o1", 1, SAMSUNG, 1, 84500, "00") == 0


def test_send_order_input_errors() -> None:
    h = Harness([q(10)])
    assert h.api.send_order("o", "9000", "", 1, SAMSUNG, 1, 84500, "00") == -340
    assert h.api.send_order("o", "9000", "1111111111", 1, SAMSUNG, 1, 84500, "00") == -302
    assert h.send("o", 1, "", 1, 84500, "00") == -500
    assert h.send("o", 1, "999999", 1, 84500, "00") == -500          # not in the universe
    assert h.send("o", 1, SAMSUNG, 0, 84500, "00") == -300           # quantity
    assert h.send("o", 1, SAMSUNG, 1, 0, "00") == -300               # limit without a price
    assert h.send("o", 1, SAMSUNG, 1, 84550, "00") == -300           # off the tick grid
    assert h.send("o", 1, SAMSUNG, 1, 84500, "13") == -300           # market IOC must have price 0
    assert h.send("o", 1, SAMSUNG, 1, 84500, "99") == -300           # unknown hoga
    assert h.send("o", 7, SAMSUNG, 1, 84500, "00") == -300           # unknown order type
    assert h.send("o", 11, SAMSUNG, 1, 84500, "00") == -300          # SOR is not emulated
    assert h.send("o", 3, SAMSUNG, 0, 0, "00", orig="") == -300      # cancel without an original
    assert h.send("o", 1, SAMSUNG, 30_000, 84500, "00") == -303      # over 2 billion KRW
    h.run(1000)
    assert h.of("on_ack") == []                                      # refused calls never ack


def test_dynamic_call_refuses_unknown_signatures_and_bad_arguments() -> None:
    h = Harness(login=False, account_window=False)
    with pytest.raises(UnknownSignatureError, match=r"SendOrder\(QString\)"):
        h.ctl.dynamicCall("SendOrder(QString)", ["x"])
    with pytest.raises(UnknownSignatureError, match="GetMasterCodeName"):
        h.ctl.dynamicCall("GetMasterCodeName(QString)", [SAMSUNG])
    with pytest.raises(EmulatorCallError, match="takes 1 arguments"):
        h.ctl.dynamicCall("GetLoginInfo(QString)", [])
    with pytest.raises(EmulatorCallError, match="nQty"):
        h.ctl.dynamicCall(SIGNATURES[7], ["o", "9000", ACC, 1, SAMSUNG, "1", 0, "03", ""])
    # both call styles PyQt5 offers are accepted
    assert h.ctl.dynamicCall("GetConnectState()") == 0
    assert h.ctl.dynamicCall("GetLoginInfo(QString)", "ACCNO") == ""


def test_create_control_off_windows_tells_to_use_the_emulator() -> None:
    if sys.platform == "win32":
        pytest.skip("the real control may exist here")
    with pytest.raises(PlatformNotSupportedError, match="emulator|sim"):
        OpenApi.create_control("kiwoom")
    with pytest.raises(PlatformNotSupportedError, match="EmulatedControl"):
        OpenApi.create_control("sim")


def test_code_list_by_market() -> None:
    h = Harness(login=True, account_window=False)
    assert h.api.code_list_by_market("NXT") == [SAMSUNG, HYNIX]
    assert h.api.code_list_by_market("0") == [SAMSUNG, HYNIX]
    assert h.api.code_list_by_market("10") == []


# -- real-time registration -----------------------------------------------------------------------------

def test_more_than_100_codes_are_refused() -> None:
    h = Harness()
    codes = [f"{i:06d}" for i in range(101)]
    with pytest.raises(KiwoomError, match=r"-204 OP_ERR_OVER_MAX_DATA.*조회 가능한 종목수 초과") as ei:
        h.api.set_real_reg("1000", codes, fids.REAL_FIDS_L1, "0")
    assert ei.value.code == -204
    # the control itself refuses it too (for callers that bypass the facade)
    assert h.ctl.dynamicCall("SetRealReg(QString, QString, QString, QString)",
                             ["1000", ";".join(codes), fids.REAL_FIDS_L1, "0"]) == -204
    assert h.api.set_real_reg("1000", codes[:100], fids.REAL_FIDS_L1, "0") == 0


def test_nx_codes_count_towards_the_100_codes_of_a_screen() -> None:
    """SPEC §11: a screen holds at most 100 codes, its ``_NX`` codes included; the emulator refuses the call that
    would pass that with Kiwoom's -204, so a layout that loses NXT feeds live fails here first."""
    h = Harness()
    krx = [f"{i:06d}" for i in range(100)]
    nx = [c + "_NX" for c in krx]
    assert h.api.set_real_reg("1000", krx[:50], fids.REAL_FIDS_L1, "0") == 0
    assert h.api.set_real_reg("1000", nx[:50], fids.REAL_FIDS_L1, "1") == 0      # 100 codes: the limit
    assert h.api.set_real_reg("1000", nx[50:51], fids.REAL_FIDS_L1, "1") == -204   # the 101st code
    assert h.api.set_real_reg("1001", krx, fids.REAL_FIDS_L1, "0") == 0
    assert h.ctl.dynamicCall("SetRealReg(QString, QString, QString, QString)",
                             ["1001", nx[0], fids.REAL_FIDS_L1, "1"]) == -204
    h.ctl.max_codes_per_screen = None                      # only the documented per-call limit
    assert h.api.set_real_reg("1001", nx, fids.REAL_FIDS_L1, "1") == 0


def test_the_201st_screen_is_refused() -> None:
    h = Harness()
    for i in range(200):
        assert h.api.set_real_reg(f"{1000 + i}", [SAMSUNG], fids.REAL_FIDS_L1, "0") == 0
    assert h.api.set_real_reg("1200", [SAMSUNG], fids.REAL_FIDS_L1, "0") == -10
    assert h.api.set_real_reg("1199", [HYNIX], fids.REAL_FIDS_L1, "1") == 0     # an existing screen is fine
    assert h.send("o", 1, SAMSUNG, 1, 84500, "00", screen="9000") == -10        # orders' screens count too
    h.api.disconnect_real_data("1000")
    assert h.api.set_real_reg("1200", [SAMSUNG], fids.REAL_FIDS_L1, "0") == 0


def test_register_replace_versus_add() -> None:
    events = [q(1000 + 10 * i, code=c) for i in range(3) for c in (SAMSUNG, HYNIX)]
    h = Harness(events)
    assert h.register([SAMSUNG]) == 0
    assert h.register([HYNIX], opt="1") == 0              # '1' adds: both flow
    h.run_to(1005)
    assert {u.code for u in h.of("on_l1")} == {SAMSUNG, HYNIX}
    h.clear()
    assert h.register([HYNIX], opt="0") == 0              # '0' replaces: only HYNIX
    h.run_to(1025)
    assert {u.code for u in h.of("on_l1")} == {HYNIX}
    h.clear()
    h.api.set_real_remove("1000", HYNIX)
    h.run_to(2000)
    assert h.of("on_l1") == []


def test_real_data_only_for_registered_codes_and_fids() -> None:
    h = Harness([q(1000), tr(1001, 84600, 3), q(1002, venue=NXT)])
    h.api.set_real_reg("1000", [SAMSUNG], "41;51;61;71", "0")          # quote FIDs only
    h.run_to(1500)
    ups = h.of("on_l1")
    assert [(u.code, u.venue, u.real_type) for u in ups] == [(SAMSUNG, KRX, REAL_TYPE_QUOTE)]


def test_values_arrive_sign_prefixed_and_are_parsed_absolute() -> None:
    events = [tr(1000, 84500, 5, change=0), q(1001, ask=84600, bid=84400, ask_qty=11, bid_qty=22),
              tr(1002, 84400, 7), tr(1003, 84600, 2)]
    h = Harness(events)
    h.register([SAMSUNG])
    raw: list[dict[int, str]] = []

    def sniff(code: str, real_type: str, data: str) -> None:
        fl = (41, 51, 61, 71) if real_type == REAL_TYPE_QUOTE else (10, 15, 13, 27, 28)
        raw.append({f: h.ctl.dynamicCall("GetCommRealData(QString, int)", [code, f]) for f in fl})

    h.ctl.OnReceiveRealData.connect(sniff)
    h.run_to(1500)
    # reference (previous close) = the first print, 84,500: higher '+', lower '-', equal unsigned
    assert raw[1] == {41: "+84600", 51: "-84400", 61: "11", 71: "22"}
    assert raw[2][10] == "-84400" and raw[2][15] == "-7"       # a print at the bid: seller-initiated
    assert raw[3][10] == "+84600" and raw[3][15] == "+2"       # at the ask: buyer-initiated
    ups = h.of("on_l1")
    assert (ups[1].ask, ups[1].bid, ups[1].ask_qty, ups[1].bid_qty) == (84600, 84400, 11, 22)
    assert (ups[2].last, ups[2].last_qty) == (84400, 7)
    assert (ups[3].last, ups[3].last_qty, ups[3].cum_volume) == (84600, 2, 14)
    # FID 11/12 keep their sign: change from the reference (84,500) and its rate in %
    assert (ups[2].change_krw, ups[2].change_rate_pct) == (-100, -0.12)
    assert (ups[3].change_krw, ups[3].change_rate_pct) == (100, 0.12)
    assert (ups[1].change_krw, ups[1].change_rate_pct) == (0, 0.0)          # a quote carries neither
    assert all(u.t_ns >= T0 for u in ups) and ups[0].arrival_ns < ups[1].arrival_ns


def test_get_comm_real_data_is_empty_outside_the_callback() -> None:
    h = Harness([q(1000)])
    h.register([SAMSUNG])
    h.run_to(1500)
    assert h.ctl.dynamicCall("GetCommRealData(QString, int)", [SAMSUNG, 41]) == ""


def test_nx_suffix_gives_the_nxt_venue() -> None:
    h = Harness([q(1000, venue=NXT, ask=84700, bid=84600)])
    h.register([SAMSUNG, SAMSUNG + "_NX"])
    h.run_to(1500)
    (u,) = h.of("on_l1")
    assert isinstance(u, L1Update)
    assert (u.code, u.venue, u.ask, u.bid) == (SAMSUNG, NXT, 84700, 84600)


class GarblingControl:
    """Wraps a control and answers FID 41 with garbage: the facade cannot tell it from a real control."""

    def __init__(self, ctl: EmulatedControl) -> None:
        self.ctl = ctl
        for name in ("OnEventConnect", "OnReceiveRealData", "OnReceiveTrData", "OnReceiveChejanData",
                     "OnReceiveMsg"):
            setattr(self, name, getattr(ctl, name))

    def dynamicCall(self, signature: str, args: list[Any]) -> Any:  # noqa: N802
        if signature == "GetCommRealData(QString, int)" and args[1] == 41:
            return "12a"
        return self.ctl.dynamicCall(signature, args)


def test_garbage_values_go_to_on_error_when_not_strict() -> None:
    h = Harness([q(1000)])
    h.register([SAMSUNG])
    api = OpenApi(GarblingControl(h.ctl), clock_ns=h.ctl.clock_ns, strict=False)
    errors: list[tuple[BaseException, str]] = []
    updates: list[L1Update] = []
    api.on_error = lambda exc, where: errors.append((exc, where))
    api.on_l1 = updates.append
    h.run_to(1500)
    assert updates == [] and len(h.of("on_l1")) == 1            # the other facade was unaffected
    (exc, where), = errors
    assert isinstance(exc, ValueError) and "'12a'" in str(exc) and "OnReceiveRealData" in where
    strict = OpenApi(GarblingControl(h.ctl), clock_ns=h.ctl.clock_ns, strict=True)
    strict.on_l1 = updates.append
    with pytest.raises(ValueError, match="12a"):
        h.ctl.OnReceiveRealData.emit(SAMSUNG, REAL_TYPE_QUOTE, "")


def test_listener_object_binds_its_methods() -> None:
    class Listener:
        def __init__(self) -> None:
            self.l1: list[L1Update] = []
            self.conn: list[Any] = []

        def on_l1(self, u: L1Update) -> None:
            self.l1.append(u)

        def on_connection(self, ev: Any) -> None:
            self.conn.append(ev)

    sched = SimScheduler(T0)
    ctl = EmulatedControl(sched, ListSource([q(1000)], start_ns=T0), CFG, [SAMSUNG], 1)
    lis = Listener()
    api = OpenApi(ctl, clock_ns=ctl.clock_ns, listener=lis, strict=True)
    api.comm_connect()
    ctl.advance_to(T0 + 200 * MS)
    api.set_real_reg("1000", [SAMSUNG], fids.REAL_FIDS_L1, "0")
    ctl.advance_to(T0 + 2000 * MS)
    assert len(lis.conn) == 1 and len(lis.l1) == 1 and api.on_ack is None


# -- orders: acks ------------------------------------------------------------------------------------------

def test_successful_send_gives_a_seven_digit_order_number_after_the_ack_latency() -> None:
    h = Harness([q(10)])
    h.run_to(300)
    assert h.send("buy-1", 1, SAMSUNG, 1, 84400, "00") == 0
    h.run(CFG.sim.latency.send_to_ack_ms.median - 1)
    assert h.of("on_ack") == []
    h.run(1)
    ack = h.ack("buy-1")
    assert ack.accepted and len(ack.order_no) == 7 and ack.order_no.isdigit()
    assert ack.screen_no == "9000" and ack.t_ns == T0 + 300 * MS + round(CFG.sim.latency.send_to_ack_ms.median * MS)
    assert "주문" in ack.message


def test_empty_order_number_is_a_reject() -> None:
    h = Harness([q(10)])
    h.ctl.faults.reject_rate = 1.0
    h.ctl.faults.reject_mode = "tr"
    assert h.send("o1", 1, SAMSUNG, 1, 84400, "00") == 0     # SendOrder itself succeeded
    h.run(100)
    ack = h.ack("o1")
    assert ack.order_no == "" and not ack.accepted and ack.message
    assert h.execs() == []


def test_reject_by_chejan_gives_a_refused_execution_report() -> None:
    h = Harness([q(10)])
    h.ctl.faults.reject_rate = 1.0
    h.ctl.faults.reject_mode = "chejan"
    h.send("o1", 1, SAMSUNG, 2, 84400, "00")
    h.run(100)
    ack = h.ack("o1")
    assert ack.accepted
    (rep,) = h.execs()
    assert rep.status == "거부" and rep.order_no == ack.order_no and rep.reject_reason and rep.leaves_qty == 0


def test_sixth_send_order_within_one_second_returns_308() -> None:
    h = Harness([q(10)])
    h.run_to(300)
    t_first = h.sched.now_ns
    for i in range(5):
        assert h.send(f"o{i}", 1, SAMSUNG, 1, 84000, "00") == 0
        h.run(100)
    assert h.send("o5", 1, SAMSUNG, 1, 84000, "00") == -308            # 6th inside 1 s
    assert h.send("bad", 1, SAMSUNG, 0, 84000, "00") == -300            # refused calls don't count...
    h.ctl.advance_to(t_first + 1001 * MS)
    assert h.send("o6", 1, SAMSUNG, 1, 84000, "00") == 0                # ...and 1.001 s later it's fine
    assert h.send("o7", 1, SAMSUNG, 1, 84000, "00") == -308             # the 4 others are still in the window
    h.run(200)
    assert {a.rq_name for a in h.of("on_ack")} == {f"o{i}" for i in range(5)} | {"o6"}


def test_storm_308_refuses_every_send() -> None:
    h = Harness([q(10)])
    h.ctl.faults.storm_308 = True
    assert [h.send(f"o{i}", 1, SAMSUNG, 1, 84000, "00") for i in range(3)] == [-308] * 3
    h.ctl.faults.storm_308 = False
    assert h.send("o", 1, SAMSUNG, 1, 84000, "00") == 0


# -- orders: Chejan ---------------------------------------------------------------------------------------

def test_partial_ioc_sequence_accept_fill_balance_then_remainder_confirm() -> None:
    h = Harness([q(10, ask=84600, ask_qty=10)])
    h.run_to(300)
    h.send("ioc", 1, SAMSUNG, 15, 0, "13")
    h.run(100)
    names = [n for n, _ in h.log if n in ("on_ack", "on_execution", "on_balance")]
    assert names == ["on_ack", "on_execution", "on_execution", "on_balance", "on_execution"]
    no = h.ack("ioc").order_no
    acc, fill, conf = h.execs(no)
    assert (acc.status, acc.order_qty, acc.leaves_qty, acc.side, acc.order_kind) == ("접수", 15, 15, "BUY", "+매수")
    assert acc.orig_order_no == ""
    assert (fill.status, fill.fill_qty, fill.fill_price, fill.leaves_qty) == ("체결", 10, 84600, 5)
    assert fill.exec_id and fill.fee_krw == int(10 * 84600 * 1.5 / 10_000)
    (bal,) = h.of("on_balance")
    held = CFG.sim.account.holdings_default
    assert isinstance(bal, BalanceReport) and (bal.code, bal.holding_qty, bal.avg_price) == (SAMSUNG, held + 10, 84600)
    assert (bal.sellable_qty, bal.deposit_krw) == (held + 10, CFG.sim.account.cash_krw - 10 * 84600 - fill.fee_krw)
    assert (conf.status, conf.cancelled_qty, conf.orig_order_no, conf.leaves_qty) == ("확인", 5, no, 0)
    assert "취소" in conf.order_kind
    lat = CFG.sim.latency
    assert fill.t_ns - acc.t_ns == lat.ack_to_fill_ms.median * MS


def test_chejan_code_comes_with_an_a_prefix_and_is_stripped() -> None:
    h = Harness([q(10)])
    seen: list[str] = []
    h.ctl.OnReceiveChejanData.connect(
        lambda g, n, fl: seen.append(h.ctl.dynamicCall("GetChejanData(int)", [9001])))
    h.send("o", 1, SAMSUNG, 1, 84400, "00")
    h.run(100)
    assert seen == ["A005930"]
    assert h.execs()[0].code == SAMSUNG
    assert h.ctl.dynamicCall("GetChejanData(int)", [9001]) == ""       # only inside the event


def test_nxt_orders_report_the_nxt_venue_with_and_without_the_suffix() -> None:
    h = Harness([q(10, venue=NXT, ask=84700, bid=84600)])
    h.send("n1", 22, SAMSUNG, 1, 0, "13")        # NXT sell, market IOC
    h.run(100)
    assert {e.venue for e in h.execs()} == {NXT}
    assert [e.status for e in h.execs()] == ["접수", "체결"] and h.execs()[1].fill_price == 84600
    h.ctl.chejan_nx_suffix = False               # 9001 = 'A005930' only: the facade uses its order map
    h.clear()
    h.send("n2", 21, SAMSUNG, 1, 0, "13")
    h.run(100)
    assert h.execs() and {e.venue for e in h.execs()} == {NXT}


def test_execution_report_keeps_the_raw_fids() -> None:
    h = Harness([q(10)])
    h.send("o", 1, SAMSUNG, 1, 84400, "00")
    h.run(100)
    raw = dict(h.execs()[0].raw)
    assert raw[9001] == "A005930" and raw[913] == "접수" and raw[907] == "2"


def test_tr_query_reaches_on_tr_data() -> None:
    h = Harness([tr(10, 84500, 1)])
    got: list[tuple[str, str]] = []

    def on_tr(screen: str, rq: str, trc: str, record: str, prev_next: str) -> None:
        got.append((rq, h.api.get_comm_data(trc, rq, 0, "현재가")))

    h.api.on_tr_data = on_tr
    assert h.api.request_tr("px", "opt10001", {"종목코드": SAMSUNG}, "2000") == 0
    assert h.api.request_tr("px", "opt99999", {"종목코드": SAMSUNG}, "2000") == -201
    h.run(100)
    assert got == [("px", "84500")]


class StrippingControl(GarblingControl):
    """Answers '' for the given Chejan FIDs, as a control that does not send them would."""

    def __init__(self, ctl: EmulatedControl, missing: set[int]) -> None:
        super().__init__(ctl)
        self.missing = missing

    def dynamicCall(self, signature: str, args: list[Any]) -> Any:  # noqa: N802
        if signature == "GetChejanData(int)" and args[0] in self.missing:
            return ""
        return self.ctl.dynamicCall(signature, args)


def test_facade_derives_fills_and_cancels_when_unit_fids_are_absent() -> None:
    h = Harness([q(10, ask=84600, ask_qty=4), q(500, ask=84600, ask_qty=3)])
    api = OpenApi(StrippingControl(h.ctl, {914, 915, 900}), clock_ns=h.ctl.clock_ns, strict=True)
    reports: list[ExecutionReport] = []
    acks: list[OrderAck] = []
    api.on_execution = reports.append
    api.on_ack = acks.append
    assert api.send_order("a", "9000", ACC, 1, SAMSUNG, 10, 84600, "00") == 0
    h.run(100)
    (ack,) = acks
    h.run_to(600)                                       # the rest fills when 3 more show at our price
    h.send("cx", 3, SAMSUNG, 0, 0, "00", orig=ack.order_no)
    h.run(100)
    fills = [(r.fill_qty, r.fill_price) for r in reports if r.status == "체결"]
    assert fills == [(4, 84600), (6, 84600)]            # from the cumulative 911 and 910
    (conf,) = [r for r in reports if r.status == "확인"]
    assert conf.cancelled_qty == 0                      # leaves were 0: nothing to cancel


def test_facade_falls_back_to_known_leaves_when_900_is_absent() -> None:
    h = Harness([q(10)])
    api = OpenApi(StrippingControl(h.ctl, {900}), clock_ns=h.ctl.clock_ns, strict=True)
    reports: list[ExecutionReport] = []
    acks: list[OrderAck] = []
    api.on_execution = reports.append
    api.on_ack = acks.append
    assert api.send_order("p", "9000", ACC, 1, SAMSUNG, 7, 84000, "00") == 0
    h.run(100)
    no = acks[0].order_no
    h.send("cx", 3, SAMSUNG, 0, 0, "00", orig=no)
    h.run(100)
    (conf,) = [r for r in reports if r.status == "확인"]
    assert (conf.cancelled_qty, conf.orig_order_no) == (7, no)


# -- fids and errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "value"), [("+84500", 84500), ("-84490", 84490), ("", 0), ("   ", 0),
                                            (" +123 ", 123), ("0", 0), ("-0", 0), ("000123", 123)])
def test_parse_signed(raw: str, value: int) -> None:
    assert fids.parse_signed(raw) == value


@pytest.mark.parametrize("raw", ["12a", "+-1", "84_500", "1.5", "--84500", "+ 845"])
def test_parse_signed_names_garbage(raw: str) -> None:
    with pytest.raises(ValueError, match=repr(raw).replace("+", r"\+").replace(".", r"\.")):
        fids.parse_signed(raw)


@given(st.integers(-10**12, 10**12))
def test_parse_signed_is_the_absolute_value_of_any_signed_integer(n: int) -> None:
    assert fids.parse_signed(f"{n:+d}") == abs(n) == fids.parse_signed(str(n))


@pytest.mark.parametrize(("raw", "value"), [("-150", -150), ("+150", 150), ("150", 150), ("", 0), (" -0 ", 0)])
def test_parse_signed_keep_keeps_the_sign_of_fid_11(raw: str, value: int) -> None:
    assert fids.parse_signed_keep(raw) == value


def test_parse_float_keep_keeps_the_sign_of_fid_12() -> None:
    assert fids.parse_float_keep("-0.21") == -0.21 and fids.parse_float_keep("+1.50") == 1.5
    assert fids.parse_float_keep("") == 0.0
    with pytest.raises(ValueError, match="'x1'"):
        fids.parse_float_keep("x1")


def test_parse_float_and_split_code() -> None:
    assert fids.parse_float("-1.25") == 1.25 and fids.parse_float("") == 0.0 and fids.parse_float("+3") == 3.0
    with pytest.raises(ValueError, match="'nan'"):
        fids.parse_float("nan")
    with pytest.raises(ValueError, match="'x'"):
        fids.parse_float("x")
    assert fids.split_code("005930_NX") == (SAMSUNG, NXT)
    assert fids.split_code("A005930") == (SAMSUNG, KRX)
    assert fids.split_code("A005930_NX") == (SAMSUNG, NXT)
    assert fids.split_code(" 005930_AL ") == (SAMSUNG, "AL")     # the integrated stream: neither venue
    assert fids.fid_list("10;15;;41;") == [10, 15, 41]
    with pytest.raises(ValueError, match="'x'"):
        fids.fid_list("10;x")


def test_fid_215_table() -> None:
    m = fids.FID_215_MEANINGS
    assert set("03PQRSTUVW") | set("2489abcdes") == set(m)
    assert "NXT main market start" in m["R"] and "NXT main market end" in m["S"]
    assert fids.FID_215_NXT_MAIN_START == "R" and fids.FID_215_NXT_MAIN_END == "S"


def test_error_table_and_messages() -> None:
    from kiwoom_bridge.errors import ERROR_TEXT, ErrorCode, describe

    expected = {0, -10, -11, -12, -13, -22, *range(-106, -99), *range(-207, -199), -211, *range(-311, -299),
                -340, -500}
    assert {int(c) for c in ErrorCode} == expected == set(ERROR_TEXT)
    assert describe(-308) == ("-308 OP_ERR_ORD_OVERFLOW 주문전송 과부하 "
                              "(order overload (more than 5 SendOrder per second))")
    assert describe(-9999).startswith("-9999 UNKNOWN")
    err = KiwoomError(-301, "SendOrder o1")
    assert err.code == -301 and err.name == "OP_ERR_ORD_WRONG_ACCTNO"
    assert str(err) == "SendOrder o1: Kiwoom error -301 OP_ERR_ORD_WRONG_ACCTNO 계좌 비밀번호 없음 " \
                       "(account password not registered (use the account window first))"
