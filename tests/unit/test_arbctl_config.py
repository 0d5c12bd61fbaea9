"""``arbctl check-config`` and ``arbctl symbols``: in-process (CliRunner) and as a real subprocess."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from tools.arbctl import cli

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/work/venv/bin/python" if Path("/work/venv/bin/python").exists() else sys.executable


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


# ---------------------------------------------------------------------------------- check-config

def test_check_config_good_file_prints_one_summary_line(runner: CliRunner, tmp_path: Path) -> None:
    p = write(tmp_path, "ok.yaml", "execution: {t_hedge_ms: 800}\nmarket_data: {shards: 3}\n")
    result = runner.invoke(cli, ["check-config", str(p)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith(f"ok: {p} — universe config/universe_demo.csv (")
    assert "shards 3," in line and "t_hedge 800 ms" in line
    assert "orders 5/s (2 reserved, pair needs 4)" in line and "edge ≥ 1 tick net" in line
    assert "tax KOSPI" in line and "bps" in line
    assert result.stderr == ""


def test_check_config_auto_shards_shows_resolved_count(runner: CliRunner, tmp_path: Path) -> None:
    p = write(tmp_path, "auto.yaml", "spread_engine: {edge_rule: {min_net_ticks_after_fees: 2}}\n")
    result = runner.invoke(cli, ["check-config", str(p)])
    assert result.exit_code == 0, result.output
    assert "shards auto(" in result.stdout and "edge ≥ 2 ticks net" in result.stdout


@pytest.mark.parametrize("yaml_text, key", [
    ("throttling: {min_tokens_free_to_start_new_pair: 9}\n", "throttling.min_tokens_free_to_start_new_pair"),
    ("fees: {krx: {broker_bps: -1}}\n", "fees.krx.broker_bps"),
    ("execution: {t_hedge_msec: 5}\n", "execution.t_hedge_msec"),
    ("kiwoom: {rate_limits: {reserve_order_tokens: 5}}\n", "kiwoom.rate_limits.reserve_order_tokens"),
])
def test_check_config_bad_file_one_line_naming_the_key(runner: CliRunner, tmp_path: Path,
                                                       yaml_text: str, key: str) -> None:
    p = write(tmp_path, "bad.yaml", yaml_text)
    result = runner.invoke(cli, ["check-config", str(p)])
    assert result.exit_code == 2
    assert result.stdout == ""
    err = result.stderr.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"{p}: {key}: ")
    assert "Traceback" not in result.output


def test_check_config_missing_file_is_one_line_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["check-config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{tmp_path / 'nope.yaml'}: file not found"


def test_check_config_reports_a_bad_universe_under_its_key(runner: CliRunner, tmp_path: Path) -> None:
    write(tmp_path, "u.csv", "code\n005930\n1234567\nXYZ\n")
    p = write(tmp_path, "cfg.yaml", "symbols: {universe_file: u.csv}\n")
    result = runner.invoke(cli, ["check-config", str(p)])
    assert result.exit_code == 2
    err = result.stderr.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"{p}: symbols.universe_file: ")
    assert "line 3: '1234567' is not a 6-digit code" in err[0] and "+1 more" in err[0]


def test_check_config_reports_too_few_explicit_screens(runner: CliRunner, tmp_path: Path) -> None:
    p = write(tmp_path, "cfg.yaml", "kiwoom: {screen_numbers: {marketdata: ['2000']}}\n")
    result = runner.invoke(cli, ["check-config", str(p)])
    assert result.exit_code == 2
    # the demo universe's 212 NXT symbols are 424 codes: 5 screens of ≤100 (_NX codes count)
    assert result.stderr.strip().startswith(f"{p}: kiwoom.screen_numbers.marketdata: 5 screens are needed")


# --------------------------------------------------------------------------------------- symbols

def make_codes_csv(tmp_path: Path, n: int) -> Path:
    lines = ["code,market"] + [f"{i:06d},{'KOSDAQ' if i % 4 == 0 else 'KOSPI'}" for i in range(1, n + 1)]
    return write(tmp_path, "big.csv", "\n".join(lines) + "\n")


def test_symbols_shows_counts_screens_and_shards(runner: CliRunner, tmp_path: Path) -> None:
    u = make_codes_csv(tmp_path, 713)
    cfg = write(tmp_path, "cfg.yaml", "market_data: {shards: 3}\n")
    result = runner.invoke(cli, ["symbols", str(u), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{u}: 713 symbols (KOSPI 535, KOSDAQ 178; NXT 713)" in out
    assert "screens: 15 " in out                       # 713 NXT symbols = 1,426 codes, ≤100 per screen
    assert "  1000: 100 codes (50 symbols, 50 _NX)  000001 … 000050" in out
    assert "  1014:  26 codes (13 symbols, 13 _NX)  000701 … 000713" in out
    assert "shards: 3 " in out
    assert "  shard 0: screens 1000, 1003, 1006, 1009, 1012 (250 symbols, 500 codes)" in out
    assert "  shard 2: screens 1002, 1005, 1008, 1011, 1014 (213 symbols, 426 codes)" in out
    assert out.rstrip().endswith("problems: none")


def test_symbols_more_shards_than_screens_says_so(runner: CliRunner, tmp_path: Path) -> None:
    u = make_codes_csv(tmp_path, 100)
    cfg = write(tmp_path, "cfg.yaml", "market_data: {shards: 5}\n")
    result = runner.invoke(cli, ["symbols", str(u), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "shards: 2 " in result.stdout and "3 shards would get no screen" in result.stdout


def test_symbols_uses_configured_screen_numbers(runner: CliRunner, tmp_path: Path) -> None:
    u = make_codes_csv(tmp_path, 75)
    cfg = write(tmp_path, "cfg.yaml", "kiwoom: {screen_numbers: {marketdata: ['3100', '3200']}}\n")
    result = runner.invoke(cli, ["symbols", str(u), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "  3100: 100 codes" in result.stdout and "  3200:  50 codes (25 symbols, 25 _NX)" in result.stdout


def test_symbols_notes_padded_xlsx_codes(runner: CliRunner, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["Symbol"], [5930], [660], ["035420"]):
        ws.append(row)
    p = tmp_path / "symbol_universe.xlsx"
    wb.save(p)
    result = runner.invoke(cli, ["symbols", str(p)])
    assert result.exit_code == 0, result.output
    assert f"{p}: 3 symbols (KOSPI 3, KOSDAQ 0; NXT 3)" in result.stdout
    assert "note: 2 codes had lost their leading zeros" in result.stdout
    assert "line 2: 5930 → 005930" in result.stdout


def test_symbols_lists_every_problem_and_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    p = write(tmp_path, "bad.csv", "code,market\n005930,KOSPI\n1234567,KOSPI\n000660,NYSE\n005930,KOSPI\n")
    result = runner.invoke(cli, ["symbols", str(p)])
    assert result.exit_code == 2
    err = result.stderr.splitlines()
    assert err[0] == f"3 problems in {p}:"
    assert [e.strip() for e in err[1:]] == [
        "line 3: '1234567' is not a 6-digit code",
        "line 4: market 'NYSE' is not KOSPI or KOSDAQ",
        "line 5: duplicate code '005930' (first on line 2)",
    ]
    assert "problems: none" not in result.output


def test_symbols_bad_config_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    cfg = write(tmp_path, "cfg.yaml", "market_data: {shards: 0}\n")
    result = runner.invoke(cli, ["symbols", str(REPO / "config" / "universe_demo.csv"), "--config", str(cfg)])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"{cfg}: market_data.shards: ")
    assert len(result.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------ real subprocesses

def run_arbctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "tools.arbctl", *args], cwd=REPO, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


def test_subprocess_check_config_exit_codes(tmp_path: Path) -> None:
    good = run_arbctl("check-config", "config/default.yaml")
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("ok: config/default.yaml — universe config/universe_demo.csv")
    assert len(good.stdout.splitlines()) == 1 and good.stderr == ""

    bad = write(tmp_path, "bad.yaml", "throttling: {orders_bucket_per_sec: 3, min_tokens_free_to_start_new_pair: 4}\n")
    proc = run_arbctl("check-config", str(bad))
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0] == (f"{bad}: throttling.min_tokens_free_to_start_new_pair: 4 is more than the orders cap "
                        f"(3/s): no pair could ever start")

    bad_fee = write(tmp_path, "fee.yaml", "fees: {krx: {broker_bps: -1}}\n")
    proc = run_arbctl("check-config", str(bad_fee))
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"{bad_fee}: fees.krx.broker_bps: ")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_subprocess_symbols_demo_universe() -> None:
    proc = run_arbctl("symbols", "config/universe_demo.csv")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("config/universe_demo.csv: ") and " symbols (KOSPI " in first
    count = int(first.split(": ", 1)[1].split(" ", 1)[0])
    assert 180 <= count <= 230
    assert f"screens: {-(-count // 50)} " in proc.stdout and "problems: none" in proc.stdout
