"""RiskGate: admission and kill switches (SPEC §4) on a fake engine clock."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from config.loader import load_config
from core.clock import ns_from_kst
from core.risk import RiskGate, RiskLimits

S = 10**9
MS = 10**6
T0 = ns_from_kst(dt.date(2026, 11, 20), dt.time(10, 0, 0))


@pytest.fixture(scope="module")
def limits() -> RiskLimits:
    return RiskLimits.from_config(load_config())


def gate(limits: RiskLimits, **changes) -> RiskGate:
    return RiskGate(dataclasses.replace(limits, **changes) if changes else limits)


def test_defaults_come_from_the_config(limits: RiskLimits) -> None:
    assert (limits.max_concurrent_symbols, limits.max_outstanding_per_symbol) == (2, 1)
    assert (limits.reject_count, limits.reject_window_ns, limits.reject_freeze_ns) == (3, 60 * S, 60 * S)
    assert limits.max_trips_per_symbol_per_day == 20 and limits.max_session_loss_krw == 100_000
    assert limits.enabled is True


def test_nothing_starts_while_not_armed_and_the_reason_is_given(limits: RiskLimits) -> None:
    g = gate(limits)
    d = g.admit("005930", T0, armed=False, arm_reason="before the guard window")
    assert not d.ok and d.reason == "not armed: before the guard window"
    assert g.admit("005930", T0, armed=True).ok


def test_one_slice_per_symbol_and_at_most_two_symbols(limits: RiskLimits) -> None:
    g = gate(limits)
    g.started("005930")
    d = g.admit("005930", T0, True)
    assert not d.ok and "1 slice(s) outstanding (max 1)" in d.reason
    g.started("000660")
    d = g.admit("035420", T0, True)
    assert not d.ok and d.reason == "2 symbols active (max 2)"
    g.finished("000660", T0 + 1, "done", 0)
    assert g.admit("035420", T0 + 1, True).ok
    assert g.active_pairs == 1


def test_a_per_symbol_override_allows_more_slices(limits: RiskLimits) -> None:
    g = RiskGate(limits, per_symbol_max={"005930": 2})
    g.started("005930")
    assert g.admit("005930", T0, True).ok
    g.started("005930")
    assert not g.admit("005930", T0, True).ok


def test_a_miss_cools_the_symbol_down_until_exactly_the_end_of_the_cooldown(limits: RiskLimits) -> None:
    g = gate(limits)
    g.started("005930")
    g.finished("005930", T0, "missed", 100 * MS)
    assert not g.admit("005930", T0 + 100 * MS - 1, True).ok
    assert g.admit("005930", T0 + 100 * MS, True).ok
    g.started("005930")
    g.finished("005930", T0 + 200 * MS, "done", 100 * MS)      # a done pair does not cool down
    assert g.admit("005930", T0 + 200 * MS, True).ok


def test_three_rejects_in_60_s_freeze_the_symbol_for_60_s(limits: RiskLimits) -> None:
    g = gate(limits)
    assert g.on_reject("005930", T0) is None
    assert g.on_reject("005930", T0 + 30 * S) is None
    spike = g.on_reject("005930", T0 + 59 * S)
    assert spike is not None and (spike.code, spike.rejects, spike.window_s, spike.frozen) == ("005930", 3, 60, True)
    ev = spike.freeze
    assert ev is not None and ev.kind == "reject_freeze" and ev.code == "005930"
    assert ev.until_ns == T0 + 119 * S and ev.reason == "3 rejects in 60 s"
    assert not g.admit("005930", T0 + 119 * S - 1, True).ok
    assert g.admit("005930", T0 + 119 * S, True).ok
    assert g.admit("000660", T0 + 60 * S, True).ok              # only that symbol
    assert g.events == [ev]


def test_rejects_further_apart_than_the_window_never_freeze(limits: RiskLimits) -> None:
    g = gate(limits)
    for k in range(10):
        assert g.on_reject("005930", T0 + k * 30 * S) is None   # at most 2 inside any 60 s window


def test_unhedged_exposure_freezes_the_symbol(limits: RiskLimits) -> None:
    g = gate(limits)
    ev = g.on_unhedged_timeout("005930", T0, 2_150.4)
    assert ev is not None and ev.kind == "unhedged_freeze" and ev.until_ns == T0 + 60 * S
    assert ev.reason == "exposure unhedged for 2150 ms: forced flat"
    assert not g.admit("005930", T0 + 59 * S, True).ok


def test_session_loss_beyond_the_limit_disarms_once(limits: RiskLimits) -> None:
    g = gate(limits)
    assert g.on_pnl(-100_000, T0) is None                      # at the limit: still trading
    ev = g.on_pnl(-100_001, T0 + 1)
    assert ev is not None and ev.kind == "session_loss" and ev.code == ""
    assert g.on_pnl(-200_000, T0 + 2) is None                  # already disarmed: one event
    d = g.admit("000660", T0 + 3, True)
    assert not d.ok and d.reason.startswith("disarmed: session loss -100,001 KRW")


def test_disarm_is_engine_wide_and_idempotent(limits: RiskLimits) -> None:
    g = gate(limits)
    ev = g.disarm("disconnect", T0, "bridge disconnected (-106)")
    assert ev is not None and ev.kind == "disconnect"
    assert g.disarm("operator", T0 + 1, "Ctrl-C") is None
    assert g.admit("005930", T0 + 2, True).reason == "disarmed: bridge disconnected (-106)"


def test_disabled_kill_switches_do_not_freeze_or_disarm(limits: RiskLimits) -> None:
    g = gate(limits, enabled=False)
    spikes = [g.on_reject("005930", T0 + k) for k in range(5)]
    # the spike is still detected (it is alerted) but nothing is frozen
    assert [s is not None for s in spikes] == [False, False, True, False, False]
    assert spikes[2] is not None and not spikes[2].frozen and spikes[2].freeze is None
    assert g.on_unhedged_timeout("005930", T0, 5_000) is None
    assert g.on_pnl(-10**9, T0) is None
    assert g.admit("005930", T0 + 10, True).ok


def test_at_most_20_trips_per_symbol_per_day_and_a_new_day_starts_afresh(limits: RiskLimits) -> None:
    g = gate(limits)
    t = T0
    for _ in range(20):
        assert g.admit("005930", t, True).ok
        g.started("005930")
        g.finished("005930", t, "done", 0)
        t += S
    d = g.admit("005930", t, True)
    assert not d.ok and d.reason == "005930 reached 20 pairs today (max 20)"
    # a denied pair never reached the broker: it does not count
    g2 = gate(limits, max_trips_per_symbol_per_day=1)
    g2.admit("005930", T0, True)
    g2.started("005930")
    g2.finished("005930", T0, "denied", 0)
    assert g2.admit("005930", T0, True).ok
    # the next KST trading day (a replay of several daily files) starts with no trips
    next_day = ns_from_kst(dt.date(2026, 11, 23), dt.time(9, 0, 40))
    assert g.admit("005930", next_day, True).ok
