"""The whole engine on a real multiprocess actor system (TCP base, free ports, always shut down)."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from config.universe_file import load_universe
from tests.integration.engine_helpers import (
    ROOT,
    build_recording,
    dump,
    engine_config,
    read_audit,
    run_engine,
    two_symbol_universe,
)

pytestmark = pytest.mark.integration
NS = 1_000_000
DAY = dt.date(2026, 11, 20)          # a Friday, a KRX trading day


@pytest.fixture(scope="module")
def sim_session(tmp_path_factory):
    """One simulated session at --speed max: 40 s of simulated time on the demo universe."""
    run_dir = tmp_path_factory.mktemp("sim")
    cfg = engine_config({"sim": {"date": str(DAY)}})
    uni = load_universe(ROOT / "config" / "universe_demo.csv")
    report, _ = run_engine(cfg, uni, run_dir, speed=None, duration_s=40, seed=7)
    return cfg, report, run_dir


def test_simulated_session_trades_and_ends_flat(sim_session):
    cfg, report, _ = sim_session
    assert report["backend"] == "sim" and report["symbols"] == 212
    assert report["ticks"] > 10_000 and report["signals"] > 0
    assert report["pairs"]["done"] > 0, dump(report)
    assert report["net_position"], "no symbol traded"
    assert all(q == 0 for q in report["net_position"].values()), dump(report)
    assert report["orders"]["max_in_any_1s"] <= cfg.kiwoom.rate_limits.orders_per_sec
    for name in ("tick_to_signal", "signal_to_send", "send_to_ack", "unhedged"):
        assert report["latency_ms"][name]["n"] > 0, name
    pnl = report["pnl_krw"]
    assert pnl["net"] == pytest.approx(pnl["gross"] - pnl["fees"] - pnl["tax"])
    assert pnl["tax"] > 0          # every pair sells once: the 0.20% tax is paid
    # a clean run reports no error: no lost order, every actor flushed its telemetry in time
    assert report["errors"] == [], report["errors"]


def test_hedge_timeout_escalates_exactly_at_t_hedge(sim_session):
    cfg, report, run_dir = sim_session
    rows = read_audit(run_dir)
    by_pair: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["pair_id"]:
            by_pair[r["pair_id"]].append(r)
    t_hedge_ns = cfg.execution.t_hedge_ms * NS
    escalated = 0
    for pid, evs in by_pair.items():
        take_fills = [int(r["t_ns"]) for r in evs if r["event_type"] == "fill" and r["leg"] == "take"]
        cancels = [int(r["t_ns"]) for r in evs if r["event_type"] == "cancel_send"]
        if not take_fills:
            continue
        deadline = min(take_fills) + t_hedge_ns
        hedge_fills = [int(r["t_ns"]) for r in evs if r["event_type"] == "fill" and r["leg"] == "hedge_post"]
        if not cancels:
            # no escalation: the post must have completed before the deadline
            assert hedge_fills and max(hedge_fills) <= deadline, pid
            continue
        escalated += 1
        assert min(cancels) == deadline, f"{pid}: cancel at {min(cancels)}, deadline {deadline}"
        iocs = [r for r in evs if r["event_type"] == "send" and r["leg"] == "hedge_ioc"]
        confirms = [int(r["t_ns"]) for r in evs if r["event_type"] == "cancel_confirmed"]
        hedged = sum(int(r["fill_qty"]) for r in evs if r["event_type"] == "fill" and r["leg"] in
                     ("hedge_post", "hedge_ioc"))
        taken = sum(int(r["fill_qty"]) for r in evs if r["event_type"] == "fill" and r["leg"] == "take")
        if hedged < taken or iocs:
            assert iocs, f"{pid}: cancelled post but no IOC hedge"
            assert min(int(r["t_ns"]) for r in iocs) >= min(confirms), f"{pid}: IOC before the cancel confirm"
    assert escalated == report["pairs"]["escalated"]
    assert escalated > 0, "the session produced no hedge timeout to check"


def test_308_storm_never_pushes_more_than_5_orders_into_a_second(tmp_path):
    cfg = engine_config({
        "sim": {"date": str(DAY), "faults": {"storm_308_window": {"start": "09:00:40", "end": "09:00:50"}},
                "market": {"dislocation_rate_per_min": 6.0}},
        "execution": {"max_concurrent_symbols": 4},
        "spread_engine": {"cooldown_ms": 0},
    })
    uni = load_universe(ROOT / "config" / "universe_demo.csv")
    report, _ = run_engine(cfg, uni, tmp_path, speed=None, duration_s=40, seed=11)
    assert report["extra"]["orders"]["refused"] > 0, "the storm refused nothing: " + dump(report)
    assert report["orders"]["max_in_any_1s"] <= 5, dump(report)
    assert report["pairs"]["done"] > 0
    assert all(q == 0 for q in report["net_position"].values()), dump(report)
    # every SendOrder that Kiwoom accepted, cancels included, in any 1-second window
    sent = sorted(int(r["t_ns"]) for r in read_audit(tmp_path)
                  if r["event_type"] in ("send", "cancel_send") and r["rc"] in ("0", "0.0"))
    j = 0
    for i in range(len(sent)):
        while sent[i] - sent[j] >= 1_000_000_000:
            j += 1
        assert i - j + 1 <= 5


def test_disarm_at_guard_end_lets_the_inflight_pair_finish(tmp_path):
    rec = build_recording(tmp_path / "market_data_20261120.parquet", DAY, dt.time(15, 19, 40), 20.0,
                          dislocations=[(9.5, 6.0, "005930", "NXT", 10)],
                          hedge_jumps=[(9.52, "005930", "KRX", 1)], step_ms=10)
    cfg = engine_config({"sessions": {"fid_215_unknown": "closed"}})
    report, _ = run_engine(cfg, two_symbol_universe(), tmp_path / "run", backend="replay", speed=None,
                           replay_file=str(rec))
    rows = read_audit(tmp_path / "run")
    guard_end = dt.datetime.combine(DAY, dt.time(15, 19, 50)).isoformat()
    takes = [r for r in rows if r["event_type"] == "send" and r["leg"] == "take"]
    assert len(takes) == 1, dump(report)
    assert takes[0]["ts"][:19] < guard_end
    last_fill = max(r["ts"] for r in rows if r["event_type"] == "fill")
    assert last_fill[:19] >= guard_end, "the pair should complete after the guard end"
    assert report["pairs"]["done"] == 1 and report["pairs"]["escalated"] == 1, dump(report)
    assert all(q == 0 for q in report["net_position"].values())


def test_a_stop_with_a_pair_in_flight_waits_until_the_pair_is_flat(tmp_path):
    # the recording ends 100 ms after the take: the run is stopped ("end of the recording") while
    # the hedge rests unfilled; it must go on until the hedge escalates and the book is flat
    rec = build_recording(tmp_path / "market_data_20261120.parquet", DAY, dt.time(10, 0, 0), 9.6,
                          dislocations=[(9.5, 6.0, "005930", "NXT", 10)],
                          hedge_jumps=[(9.52, "005930", "KRX", 1)], step_ms=10)
    cfg = engine_config({})
    report, _ = run_engine(cfg, two_symbol_universe(), tmp_path / "run", backend="replay", speed=None,
                           replay_file=str(rec))
    rows = read_audit(tmp_path / "run")
    assert [r["leg"] for r in rows if r["event_type"] == "send"][:1] == ["take"], dump(report)
    assert report["extra"]["finished"]["reason"] == "end of the recording", dump(report)
    assert report["extra"]["finished"]["flat"] is True, dump(report)
    assert report["pairs"]["done"] == 1 and report["pairs"]["escalated"] == 1, dump(report)
    assert all(q == 0 for q in report["net_position"].values()), dump(report)
    # winding down never leaps to the emulator's 15:20 session timer: the period ends with the pair
    last = dt.datetime.fromisoformat(report["extra"]["period"]["last_ts"])
    assert last < dt.datetime.combine(DAY, dt.time(10, 0, 15), tzinfo=last.tzinfo), report["extra"]["period"]


def test_replay_is_deterministic_at_max_speed(tmp_path):
    rec = build_recording(tmp_path / "market_data_20261120.parquet", DAY, dt.time(9, 0, 28), 40.0,
                          dislocations=[(8.0, 2.0, "005930", "NXT", 8), (15.0, 1.5, "000660", "KRX", 6),
                                        (22.0, 3.0, "005930", "KRX", 9), (30.0, 1.0, "000660", "NXT", 12)])
    outputs = []
    for k in range(2):
        cfg = engine_config()
        run_dir = tmp_path / f"run{k}"
        report, _ = run_engine(cfg, two_symbol_universe(), run_dir, backend="replay", speed=None,
                               replay_file=str(rec))
        audit = [{c: r[c] for c in ("ts", "event_type", "pair_id", "leg", "venue", "symbol", "order_no", "side",
                                    "qty", "hoga_code", "price", "fill_qty", "fill_px", "leaves_qty")}
                 for r in read_audit(run_dir)]
        outputs.append((report["signals"], report["pairs"], report["orders"], report["pnl_krw"],
                        report["net_position"], audit))
    assert outputs[0][1]["done"] >= 3, outputs[0][:5]
    assert outputs[0] == outputs[1]


def test_killed_shard_is_restarted_and_the_session_ends_flat(tmp_path):
    import os
    import signal
    import time

    cfg = engine_config({"sim": {"date": str(DAY)}, "telemetry": {"heartbeat_interval_ms": 300}})
    uni = load_universe(ROOT / "config" / "universe_demo.csv")
    seen: dict = {}

    def kill_a_shard(rt):
        deadline = time.monotonic() + 30
        shard = None
        while time.monotonic() < deadline:
            h = rt.health()
            shard = next((a for a in (h.actors if h else ()) if a.name.startswith("MarketData") and a.pid), None)
            st = rt.status()
            if shard is not None and st is not None and st.armed:
                break
            time.sleep(0.3)
        assert shard is not None, "no shard reported a pid"
        seen["ticks_before"] = rt.status().ticks
        os.kill(shard.pid, signal.SIGKILL)
        seen["killed"] = shard.pid
        while time.monotonic() < deadline + 30:
            h = rt.health()
            new = [a for a in h.actors if a.name.startswith("MarketData")]
            if new and all(a.alive for a in new) and any(a.restarts >= 1 and a.pid != shard.pid for a in new):
                seen["restarted"] = new
                break
            time.sleep(0.3)
        time.sleep(2)
        seen["ticks_after"] = rt.status().ticks

    report, _ = run_engine(cfg, uni, tmp_path, speed=4.0, duration_s=50, seed=5, during=kill_a_shard)
    assert "restarted" in seen, f"the killed shard {seen.get('killed')} was not replaced"
    assert seen["ticks_after"] > seen["ticks_before"], "ticks stopped after the restart"
    assert all(q == 0 for q in report["net_position"].values()), dump(report)
    assert any("MarketData" in e["message"] and "restart" in e["message"] for e in report["errors"]), report["errors"]



def test_killed_pair_manager_is_rebuilt_from_the_bridge_log_and_the_session_ends_flat(tmp_path):
    """SIGKILL the PairManager, preferably while a pair is open: a new one rebuilds the pairs from
    the bridge's order log and broker events, no order is sent twice, trading goes on, flat at the end."""
    import os
    import signal
    import time

    cfg = engine_config({"sim": {"date": str(DAY)}, "telemetry": {"heartbeat_interval_ms": 200}})
    uni = load_universe(ROOT / "config" / "universe_demo.csv")
    seen: dict = {}

    def kill_the_pair_manager(rt):
        deadline = time.monotonic() + 40
        pm = None
        while time.monotonic() < deadline:
            h = rt.health()
            pm = next((a for a in (h.actors if h else ()) if a.name == "PairManager" and a.pid), None)
            st = rt.status()
            if pm is not None and st is not None and st.armed and st.pairs_done > 0 and st.active_pairs > 0:
                break
            time.sleep(0.02)
        assert pm is not None, "the PairManager never reported a pid"
        st = rt.status()
        seen["active_at_kill"] = st.active_pairs
        seen["done_before"] = st.pairs_done
        os.kill(pm.pid, signal.SIGKILL)
        while time.monotonic() < deadline + 30:
            h = rt.health()
            new = [a for a in h.actors if a.name.startswith("PairManager")]
            if new and all(a.alive for a in new) and any(a.restarts >= 1 and a.pid != pm.pid for a in new):
                seen["restarted"] = new
                break
            time.sleep(0.2)
        time.sleep(3)
        seen["status_after"] = rt.status()

    report, _ = run_engine(cfg, uni, tmp_path, speed=3.0, duration_s=60, seed=11, during=kill_the_pair_manager)
    assert "restarted" in seen, "the killed PairManager was not replaced"
    assert seen["status_after"].step > 0 and not seen["status_after"].finished
    messages = [e["message"] for e in report["errors"]]
    assert any("PairManager" in m and "restarting" in m for m in messages), messages
    assert any("recovered after a restart" in m for m in messages), messages
    assert all(q == 0 for q in report["net_position"].values()), dump(report)
    assert report["extra"]["finished"]["flat"] is True, dump(report)
    rows = read_audit(tmp_path)
    sends = [r["rq_name"] for r in rows if r["event_type"] in ("send", "cancel_send", "send_refused")
             and r["rq_name"]]
    dup = [r for r in set(sends) if sends.count(r) > 1 and
           not any(x["event_type"] == "send_refused" and x["rq_name"] == r for x in rows)]
    assert not dup, f"orders sent twice: {dup[:5]}"
    assert report["pairs"]["done"] > seen["done_before"], "no pair completed after the restart"
