"""The account on the real engine (multiprocess actors, sim backend, --speed max), one run per fault:
holdings on a few codes, too little cash, another terminal's trade, and a session that reaches its end.

Every run must end flat with a report that explains itself, and no order in its audit log may lack a price
bound (no market hoga code, no IOC without a price).
"""
from __future__ import annotations

import datetime as dt

import pytest

from config.universe_file import load_universe
from core.universe import Universe
from tests.integration.engine_helpers import ROOT, dump, engine_config, read_audit, run_engine

pytestmark = pytest.mark.integration
DAY = dt.date(2026, 11, 20)                  # a Friday, a KRX trading day
#: 40 codes of the demo universe with lively dislocations: enough pairs in a short run
BUSY_MARKET = {"market": {"dislocation_rate_per_min": 6.0}}
MARKET_HOGA = {"03", "13", "23"}


def universe(n: int = 40) -> Universe:
    full = load_universe(ROOT / "config" / "universe_demo.csv")
    return Universe(tuple(full.symbols[:n]))


def assert_price_bounded(rows: list[dict]) -> None:
    sends = [r for r in rows if r["event_type"] == "send"]
    assert sends, "no order was sent"
    for r in sends:
        assert r["hoga_code"] not in MARKET_HOGA, f"a market order without a price bound: {r}"
        if r["hoga_code"] == "10":
            assert int(r["price"]) > 0, f"an IOC without a price: {r}"


def assert_flat(report: dict) -> None:
    assert all(q == 0 for q in report["net_position"].values()), dump(report)
    assert report["extra"]["finished"]["flat"] is True, dump(report)


def test_only_the_codes_the_account_holds_are_sold_and_no_order_is_refused(tmp_path) -> None:
    uni = universe()
    held = {s.code: 20 for s in uni.symbols[:3]}
    cfg = engine_config({"sim": {"date": str(DAY), "account": {"holdings_default": 0, "holdings": held},
                                 **BUSY_MARKET}})
    report, _ = run_engine(cfg, uni, tmp_path, speed=None, duration_s=60, seed=3)
    rows = read_audit(tmp_path)
    assert_price_bounded(rows)
    sold = {r["symbol"] for r in rows if r["event_type"] == "send" and r["side"] == "SELL"}
    assert sold and sold <= set(held), f"sold codes without holdings: {sold - set(held)}"
    assert report["orders"]["rejects"] == 0, dump(report)
    acct = report["extra"]["account"]
    assert acct["untradeable_count"] == len(uni) - 3 and acct["refused_signals"].get("not enough sellable shares")
    assert {c: (r["start"], r["end"]) for c, r in report["inventory"].items()} == {c: (20, 20) for c in held}
    assert_flat(report)


def test_an_account_short_of_cash_never_sends_a_buy_it_cannot_pay(tmp_path) -> None:
    cfg = engine_config({"sim": {"date": str(DAY), "account": {"cash_krw": 30_000}, **BUSY_MARKET}})
    report, _ = run_engine(cfg, universe(), tmp_path, speed=None, duration_s=60, seed=3)
    rows = read_audit(tmp_path)
    assert_price_bounded(rows)
    assert report["orders"]["rejects"] == 0, dump(report)
    assert report["extra"]["account"]["refused_signals"].get("not enough orderable cash"), dump(report)
    takes = [r for r in rows if r["event_type"] == "send" and r["leg"] == "take"]
    assert takes and all(int(r["price"]) < 30_000 for r in takes), "only codes the cash can buy back are taken"
    assert report["extra"]["account"]["cash_end_krw"] >= 30_000 + report["pnl_krw"]["net"] - 1
    assert_flat(report)


def test_another_terminals_trade_is_found_and_its_code_frozen(tmp_path) -> None:
    uni = universe()
    code = uni.symbols[0].code
    cfg = engine_config({"sim": {"date": str(DAY), **BUSY_MARKET,
                                 "faults": {"external_fill": {"at": "09:00:45", "code": code, "qty": 5}}},
                         "risk": {"reconcile_interval_s": 10}})
    report, _ = run_engine(cfg, uni, tmp_path, speed=None, duration_s=60, seed=3)
    (mm,) = report["extra"]["reconcile"]["mismatches"]
    assert (mm["code"], mm["delta"]) == (code, 5), dump(report)
    found = dt.datetime.fromisoformat(mm["ts"])
    assert found.time() <= dt.time(9, 1, 0), "found by the next reconciliation (every 10 s)"
    assert any(k["kind"] == "reconcile_mismatch" and k["code"] == code for k in report["kill_switch_events"])
    rows = read_audit(tmp_path)
    assert_price_bounded(rows)
    later = [r for r in rows if r["symbol"] == code and r["event_type"] == "send" and r["leg"] == "take"
             and dt.datetime.fromisoformat(r["ts"]) >= found]
    assert later == [], "a frozen code gets no new pair"
    assert report["inventory"][code]["unexplained"] == 5 and report["inventory"][code]["net"] == 0
    assert_flat(report)


def test_a_session_started_near_the_close_ends_by_itself_with_its_report(tmp_path) -> None:
    cfg = engine_config({"sim": {"date": str(DAY), "start_time": "15:19:30", **BUSY_MARKET}})
    report, _ = run_engine(cfg, universe(), tmp_path, speed=None, duration_s=None, seed=3, timeout_s=300)
    fin = report["extra"]["finished"]
    assert fin["reason"].startswith("end of the session"), dump(report)
    last = dt.datetime.fromisoformat(report["extra"]["period"]["last_ts"])
    assert last.time() >= dt.time(15, 19, 50) and last.time() < dt.time(15, 21)
    assert report["extra"]["account"]["reports"].get("final") == 1, "the final reconciliation is in the report"
    takes = [r for r in read_audit(tmp_path) if r["event_type"] == "send" and r["leg"] == "take"]
    assert all(r["ts"][11:19] < "15:19:50" for r in takes), "no new pair after the guard end"
    assert_flat(report)
