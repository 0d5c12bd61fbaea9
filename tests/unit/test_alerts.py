"""outputs.alerts: secret masking, scope flags, message texts, and delivery that never blocks trading."""
from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

import pytest

from config.loader import load_config
from core.enums import Direction, Side, Venue
from core.ledger import CashTotals
from core.observations import (
    AutoPauseChanged,
    ErrorRaised,
    FillBooked,
    HedgeTimedOut,
    KillSwitchTripped,
    LatencyObserved,
    LatencyStage,
    PairClosed,
    RefusalStorm,
    RejectSpike,
    SessionChanged,
    SignalObserved,
    TicksCounted,
    TokensObserved,
)
from outputs.alerts import AlertContext, SlackAlerter, alert_for_event, mask_secret

URL = "https://hooks.slack.com/services/T000/B000/abcdefghSECRETwxyz"
ENV = {"SLACK_WEBHOOK_URL": URL}
T = 1_780_000_000_000_000_000


def fill(side: str, venue: str = "KRX", price: int = 72_300, pair_id: str = "P7") -> FillBooked:
    s = Side.parse(side)
    cash = CashTotals().plus(s, 1, price, 0, 0)
    return FillBooked(T, pair_id, "005930", Venue.parse(venue), s, 1, price, 0, 0, s.sign, cash, cash, 0.0)


def pair_done(net_krw: int, bought_krw: int, escalated: bool = False) -> PairClosed:
    cash = CashTotals(buy_cash_krw=bought_krw, sell_cash_krw=bought_krw + net_krw, buy_qty=1, sell_qty=1, fills=2)
    return PairClosed(T, "P7", "005930", True, escalated, "flat", cash)


class FakeClient:
    """Records texts; optionally raises or blocks until released."""

    def __init__(self, *, raises: Exception | None = None, block: threading.Event | None = None,
                 status: int = 200) -> None:
        self.texts: list[str] = []
        self.raises = raises
        self.block = block
        self.status = status
        self.entered = threading.Event()

    def send(self, *, text: str) -> SimpleNamespace:
        self.entered.set()
        if self.block is not None:
            self.block.wait()
        if self.raises is not None:
            raise self.raises
        self.texts.append(text)
        return SimpleNamespace(status_code=self.status, body="ok", headers={})


# ------------------------------------------------------------------------------------------------
# masking
# ------------------------------------------------------------------------------------------------
def test_mask_secret_keeps_host_and_last_four() -> None:
    assert mask_secret(URL) == "https://hooks.slack.com/…/wxyz"
    assert mask_secret("https://user:pw@example.org:8443/x/y/123456789") == "https://example.org:8443/…/6789"
    assert mask_secret("short") == "…"
    assert mask_secret("") == "<unset>" and mask_secret(None) == "<unset>"


def test_url_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="arb.alerts")
    alerter = SlackAlerter(None, env=ENV, client=FakeClient(raises=OSError(f"cannot reach {URL}")))
    assert URL not in repr(alerter) and "…/wxyz" in repr(alerter)
    alerter.send("BUY_FILL 005930@KRX qty 1 px 72,300")
    alerter.close(timeout_s=5)
    assert alerter.failures == 1 and alerter.undelivered == 1
    assert URL not in caplog.text and "SECRET" not in caplog.text
    assert "…/wxyz" in caplog.text


# ------------------------------------------------------------------------------------------------
# disabled / scope
# ------------------------------------------------------------------------------------------------
def test_no_url_means_disabled_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="arb.alerts")
    alerter = SlackAlerter(load_config().alerts.slack, env={})
    assert not alerter.enabled
    assert alerter.send("x") is False and alerter.send("y") is False
    assert alerter.alert(fill("BUY")) is not None
    assert caplog.text.count("Slack alerts disabled") == 1
    assert alerter.stats()["suppressed"] == 3
    alerter.close()


def test_url_only_from_the_named_env_variable() -> None:
    slack = SimpleNamespace(webhook_env="MY_HOOK", send_on=None)
    assert not SlackAlerter(slack, env=ENV).enabled
    assert SlackAlerter(slack, env={"MY_HOOK": URL}).enabled


def test_scope_flags_gate_each_category() -> None:
    send_on = SimpleNamespace(buy_fill=False, sell_fill=True, pair_done=True, auto_pause_on=False,
                              hedge_timeout=True, reject_spike=False)
    alerter = SlackAlerter(SimpleNamespace(webhook_env="SLACK_WEBHOOK_URL", send_on=send_on), env={},
                           client=FakeClient())
    assert alerter.alert_for_event(fill("BUY")) is None
    assert alerter.alert_for_event(fill("SELL", "NXT"))
    assert alerter.alert_for_event(AutoPauseChanged(T, True, 0.8)) is None
    assert alerter.alert_for_event(AutoPauseChanged(T, False, 0.2)) is None
    assert alerter.alert_for_event(RejectSpike(T, "035420", 3, 60, True, 60)) is None
    assert alerter.alert_for_event(HedgeTimedOut(T, "P1", "005930", 1000))
    # informational observations are never alerts
    for obs in (TicksCounted(T, 1), SignalObserved(T, "005930", Direction.A, 10.0, 2.0, 1),
                SessionChanged(T, True, "armed"), TokensObserved(T, 3, 0.4, False), ErrorRaised(T, "x", "y"),
                LatencyObserved(T, LatencyStage.SEND_TO_ACK, 15.0)):
        assert alerter.alert_for_event(obs) is None
    alerter.close()


# ------------------------------------------------------------------------------------------------
# texts
# ------------------------------------------------------------------------------------------------
def test_message_texts_match_seed_003() -> None:
    ctx = AlertContext.from_config(load_config())
    assert alert_for_event(fill("BUY", "KRX", 72_300), ctx) == "BUY_FILL 005930@KRX qty 1 px 72,300 (pair P7)"
    assert alert_for_event(fill("SELL", "NXT", 72_400), ctx) == "SELL_FILL 005930@NXT qty 1 px 72,400 (pair P7)"
    assert alert_for_event(pair_done(12, 171_429), ctx) == "PAIR_DONE 005930 net +0.7 bps (+₩12)"
    assert alert_for_event(pair_done(-30, 72_300, escalated=True), ctx) \
        == "PAIR_DONE 005930 net -4.1 bps (-₩30) · escalated"
    failed = PairClosed(T, "P9", "005930", False, True, "error: flatten_exhausted", CashTotals())
    assert alert_for_event(failed, ctx) is None
    assert alert_for_event(AutoPauseChanged(T, True, 0.8), ctx) == "AUTO-PAUSE ON (orders ≥80% for 5 s)"
    assert alert_for_event(AutoPauseChanged(T, False, 0.3), ctx) == "AUTO-PAUSE OFF"
    assert alert_for_event(HedgeTimedOut(T, "P7", "005930", 1000), ctx) == "HEDGE TIMEOUT 005930 1000 ms → cancel→IOC"
    assert alert_for_event(RejectSpike(T, "035420", 3, 60, True, 60), ctx) \
        == "REJECT SPIKE 3 rejects/60 s on 035420 → frozen 60 s"
    assert alert_for_event(RejectSpike(T, "035420", 3, 60, False, 60), ctx) \
        == "REJECT SPIKE 3 rejects/60 s on 035420 → not frozen (kill switches off)"
    assert alert_for_event(KillSwitchTripped(T, "unhedged_freeze", "005930", "exposure 2000 ms"), ctx) \
        == "HEDGE TIMEOUT 005930 unhedged 2000 ms → forced IOC, frozen"
    # engine-wide disarms are major red flags; the operator's own stop is not
    assert alert_for_event(KillSwitchTripped(T, "disconnect", "", "-106"), ctx) \
        == "KILL SWITCH disconnect: -106 → disarmed"
    assert alert_for_event(KillSwitchTripped(T, "operator", "", "operator stop"), ctx) is None
    assert alert_for_event(RefusalStorm(T, 12, 10, 40), ctx) \
        == "REFUSAL STORM 12 order-rate refusals (-308) in 10 s (40 today)"


# ------------------------------------------------------------------------------------------------
# delivery never blocks
# ------------------------------------------------------------------------------------------------
def test_delivery_through_the_worker() -> None:
    client = FakeClient()
    alerter = SlackAlerter(None, env=ENV, client=client)
    assert alerter.send("one") and alerter.send("two")
    alerter.close(timeout_s=5)
    # queued together: one post of two lines (Slack takes about one post per second per webhook)
    assert client.texts == ["one\ntwo"] and alerter.posts == 1 and alerter.delivered == 2
    assert alerter.failures == 0 and alerter.undelivered == 0


def test_raising_client_is_counted_not_raised() -> None:
    alerter = SlackAlerter(None, env=ENV, client=FakeClient(raises=RuntimeError("boom")))
    for i in range(3):
        assert alerter.send(f"m{i}") is True
    alerter.close(timeout_s=5)
    assert alerter.failures >= 1 and alerter.posts == 0 and alerter.undelivered == 3
    assert alerter.stats()["last_error"] == "RuntimeError: boom"


def test_http_error_status_is_counted() -> None:
    alerter = SlackAlerter(None, env=ENV, client=FakeClient(status=500))
    alerter.send("m")
    alerter.close(timeout_s=5)
    assert alerter.failures == 1 and alerter.posts == 0 and alerter.undelivered == 1


def test_hanging_client_never_blocks_send() -> None:
    # Prepare: the client blocks on its first call until released
    release = threading.Event()
    client = FakeClient(block=release)
    alerter = SlackAlerter(None, env=ENV, client=client, queue_size=2)
    try:
        alerter.send("first")
        assert client.entered.wait(5)          # the worker is now stuck inside the client
        # Act: far more alerts than the queue holds; every call returns at once
        results = [alerter.send(f"m{i}") for i in range(50)]
        # Assert
        assert results[:2] == [True, True] and not any(results[2:])
        assert alerter.dropped == 48
        alerter.close(timeout_s=0.05)          # returns although the worker is still stuck
        assert alerter.closed and alerter.send("after close") is False
    finally:
        release.set()
