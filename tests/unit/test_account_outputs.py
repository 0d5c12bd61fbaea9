"""The account in the run's outputs: report sections (inventory, account, reconciliation, FLATTEN FAILED,
broker fee and tax against ours), the summary and HTML text, Slack alerts, and the config keys of §10."""
from __future__ import annotations

import dataclasses

import pytest

from config.loader import ConfigError, load_config
from core.enums import Side, Venue
from core.ledger import CashTotals
from core.observations import (
    AccountReported,
    FillBooked,
    FlattenFailed,
    LatencyObserved,
    LatencyStage,
    ReconcileMismatch,
)
from outputs.alerts import SlackAlerter, format_alert
from outputs.report import render_html, summarise
from outputs.telemetry_book import TelemetryBook

T0 = 1_796_169_600_000_000_000
A, B, C = "005930", "000660", "035420"


def _account(t: int, purpose: str, inventory: tuple, untradeable: tuple = (), cash: float = 1e6,
             refused: tuple = ()) -> AccountReported:
    holdings = tuple((code, end, end) for code, _, end, _ in inventory if end)
    return AccountReported(t, purpose, holdings, inventory, untradeable, cash, int(cash), 0, refused)


def _fill(t: int, side: Side, fee: int, tax: int, broker: tuple[int, int] | None, year: int = 2026) -> FillBooked:
    bf, bt = broker if broker is not None else (None, None)
    return FillBooked(t, "P1", A, Venue.KRX, side, 1, 70_000, fee, tax, 0, CashTotals(), CashTotals(), 0.0,
                      order_no="0000001", broker_fee_krw=bf, broker_tax_krw=bt, tax_year=year)


@pytest.fixture()
def report() -> dict:
    book = TelemetryBook(load_config(), "sim", 3)
    book.consume(_account(T0, "login", ((A, 10, 10, 0), (B, 5, 5, 0)), untradeable=(C,)))
    book.consume(_fill(T0 + 1, Side.SELL, 10, 140, (10, 140)))
    book.consume(_fill(T0 + 2, Side.BUY, 10, 0, (11, 0)))               # the broker charged one won more
    book.consume(_fill(T0 + 3, Side.BUY, 10, 0, None))                  # a notice without 938/939
    book.consume(ReconcileMismatch(T0 + 4, B, 5, 8, "holdings report"))
    book.consume(FlattenFailed(T0 + 5, "P9", A, Venue.KRX, -1, "FLATTEN FAILED: -1 shares of 005930 open"))
    for ms in (20.0, 40.0, 1000.0):
        book.consume(LatencyObserved(T0 + 6, LatencyStage.UNHEDGED, ms, A))
    book.consume(_account(T0 + 7, "final", ((A, 10, 10, 0), (B, 5, 8, 0)), untradeable=(C,), cash=1_000_500,
                          refused=(("not enough sellable shares", 7),)))
    return book.report()


def test_the_report_has_the_inventory_and_explains_what_the_fills_do_not(report: dict) -> None:
    assert report["inventory"] == {A: {"start": 10, "end": 10, "net": 0, "unexplained": 0},
                                   B: {"start": 5, "end": 8, "net": 0, "unexplained": 3}}
    acct = report["extra"]["account"]
    assert acct["untradeable"] == [C] and acct["refused_signals"] == {"not enough sellable shares": 7}
    assert (acct["cash_start_krw"], acct["cash_end_krw"]) == (1e6, 1_000_500)
    assert acct["reports"] == {"final": 1, "login": 1}
    (mm,) = report["extra"]["reconcile"]["mismatches"]
    assert (mm["code"], mm["expected"], mm["broker"], mm["delta"]) == (B, 5, 8, 3)
    (ff,) = report["extra"]["flatten_failed"]
    assert (ff["code"], ff["open_shares"], ff["pair_id"]) == (A, -1, "P9")


def test_the_broker_fee_and_tax_are_compared_with_ours_fill_by_fill(report: dict) -> None:
    bc = report["extra"]["broker_costs"]
    assert (bc["fills_compared"], bc["fills_not_reported"]) == (2, 1)
    assert bc["ours"] == {"fees": 20, "tax": 140} and bc["broker"] == {"fees": 21, "tax": 140}
    (diff,) = bc["differences"]
    assert (diff["fee_ours"], diff["fee_broker"], diff["side"]) == (10, 11, "BUY")
    assert bc["fills_by_tax_year"] == {"2026": 3}


def test_the_summary_and_the_html_say_it_in_words(report: dict) -> None:
    text = summarise(report)
    assert "1 untradeable" in text and "untradeable: 035420" in text
    assert "RECONCILE MISMATCH" in text and "000660: broker 8, expected 5 (+3" in text
    assert "FLATTEN FAILED" in text and "-1 shares open" in text
    assert "not explained by the engine's fills: 000660 +3" in text
    assert "1 fill(s) differ" in text and "1 without the broker's figures" in text
    page = render_html(report)
    for heading in ("Account", "Inventory (codes that moved)", "RECONCILE MISMATCH", "FLATTEN FAILED",
                    "Broker fee and tax vs ours"):
        assert f"<h2>{heading}</h2>" in page
    row = next(r for r in report["extra"]["symbols_table"] if r["code"] == A)
    assert row["unhedged_p50_ms"] == pytest.approx(40.0) and row["unhedged_p95_ms"] == pytest.approx(904.0)
    assert "<td>904</td>" in page, "the per-symbol unhedged p95 column is filled"


def test_reconcile_mismatch_and_flatten_failed_are_slack_alerts_behind_their_flags() -> None:
    mm = ReconcileMismatch(T0, B, 5, 8, "holdings report")
    ff = FlattenFailed(T0, "P9", A, Venue.KRX, -1, "x")
    assert format_alert(mm) == ("reconcile_mismatch",
                                "RECONCILE MISMATCH 000660: broker 8, expected 5 (+3) → frozen until re-armed")
    assert format_alert(ff) == ("flatten_failed",
                                "FLATTEN FAILED 005930: -1 shares open on KRX (P9) → frozen, engine disarmed")
    cfg = load_config(overrides={"alerts": {"slack": {"send_on": {"reconcile_mismatch": False}}}})
    alerter = SlackAlerter(cfg.alerts.slack, env={})
    assert alerter.alert_for_event(mm) is None and alerter.alert_for_event(ff) is not None


@pytest.mark.parametrize(("overrides", "key"), [
    ({"risk": {"max_flatten_slippage_ticks": -1}}, "risk.max_flatten_slippage_ticks"),
    ({"risk": {"max_flatten_orders": 0}}, "risk.max_flatten_orders"),
    ({"risk": {"reconcile_interval_s": 1}}, "risk.reconcile_interval_s"),
    ({"execution": {"ioc_settle_ms": 0}}, "execution.ioc_settle_ms"),
    ({"execution": {"max_cancel_attempts": 0}}, "execution.max_cancel_attempts"),
    ({"router": {"entry_leg": {"prefer": "market"}}}, "router.entry_leg.prefer"),
    ({"sim": {"account": {"holdings": {"59300": 3}}}}, "sim.account.holdings"),
    ({"sim": {"account": {"cash_krw": -1}}}, "sim.account.cash_krw"),
    ({"sim": {"faults": {"external_fill": {"at": "09:01:00", "code": "005930", "qty": 0}}}},
     "sim.faults.external_fill.qty"),
])
def test_bad_account_settings_stop_start_up_naming_the_key(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(overrides=overrides)
    assert err.value.key == key and "\n" not in str(err.value)


def test_market_entries_need_the_operator_to_allow_market_orders() -> None:
    cfg = load_config(overrides={"router": {"entry_leg": {"prefer": "market"}, "allow_market_orders": True}})
    from core.pair_desk import pair_params
    p = pair_params(cfg, A)
    assert (p.entry_style, p.flatten_style, p.allow_market_orders) == ("market", "market_ioc", True)
    default = pair_params(load_config(), A)
    assert (default.entry_style, default.flatten_style) == ("ioc", "limit_ioc")
    assert dataclasses.asdict(default)["flatten_slippage_ticks"] == 3


def test_arbctl_arm_and_symbols_refuse_bad_arguments_in_one_line() -> None:
    from click.testing import CliRunner

    from tools.arbctl import cli
    runner = CliRunner()
    bad = runner.invoke(cli, ["arm", "59x30"])
    assert bad.exit_code == 2 and "'59x30' is not a 6-digit code" in bad.output
    neither = runner.invoke(cli, ["symbols"])
    assert neither.exit_code == 2 and "--account" in neither.output


def test_arbctl_arm_says_when_no_engine_runs(tmp_path) -> None:
    from click.testing import CliRunner

    from actors.runtime import free_port
    from tools.arbctl import cli
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"actor_system: {{admin_port: {free_port()}, kiwoom_host_admin_port: {free_port()}}}\n")
    res = CliRunner().invoke(cli, ["arm", "5930", "--config", str(cfg)])
    assert res.exit_code == 1 and "no engine is running" in res.output
