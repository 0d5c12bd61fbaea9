"""The seed-004 recorder (tools.recorder / ``arbctl record``) on the emulator: replay round trip and sim."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from config.loader import load_config
from core.clock import NS_PER_S, ns_from_kst
from core.universe import Universe
from kiwoom_bridge.recording import RECORDING_SCHEMA, format_timestamp, parse_timestamp, write_recording
from kiwoom_bridge.types import L1Update
from protocol.wiring import RunOptions
from tools.arbctl import cli
from tools.recorder import RecordSummary, record, row_from_update

DAY = dt.date(2025, 9, 8)
CODES = ("005930", "000660")
QUOTE, TRADE = "주식호가잔량", "주식체결"
MS = 1_000_000


def source_rows() -> list[dict[str, object]]:
    """~6 s of both venues of two symbols: full quotes (41/51 prices, 61/71 sizes) and trade prints.

    In time order; the first row is at the very start of the file (it must be recorded too); every
    timestamp is distinct.
    Some trades carry best ask/bid (27/28), some do not.
    """
    t0 = ns_from_kst(DAY, dt.time(10, 0, 0))
    rows: list[dict[str, object]] = []
    cum = {c: 1_000 for c in CODES}
    for k in range(60):
        t = t0 + k * 100 * MS
        for j, code in enumerate(CODES):
            base = 70_000 + 10_000 * j + 100 * (k % 4)
            for v, venue in enumerate(("KRX", "NXT")):
                rows.append({"timestamp": format_timestamp(t + j * 10 * MS + v * 3 * MS + 123_000), "symbol": code,
                             "venue": venue, "real_type": QUOTE, "fid_41": base + 100, "fid_51": base,
                             "fid_61": 10 + k + j, "fid_71": 500 - k - v, "raw_code": code + ("_NX" if v else "")})
            if k % 7 == 3:
                cum[code] += 5 + k
                close = 70_250 + 10_000 * j                  # previous close: prints above and below it
                chg = base + 100 - close
                trade = {"timestamp": format_timestamp(t + j * 10 * MS + 50 * MS), "symbol": code,
                         "venue": "NXT" if k % 2 else "KRX", "real_type": TRADE, "fid_10": base + 100,
                         "fid_11": chg, "fid_12": round(chg / close * 100, 2),
                         "fid_13": cum[code], "raw_code": code + ("_NX" if k % 2 else "")}
                if k % 3 == 0:
                    trade.update(fid_27=base + 100, fid_28=base)
                rows.append(trade)
    rows.sort(key=lambda r: str(r["timestamp"]))
    return rows


@pytest.fixture(scope="module")
def cfg():
    return load_config(None, {"sim": {"date": DAY.isoformat()}})


def universe() -> Universe:
    return Universe.from_codes(CODES)


def read(path: Path) -> list[dict[str, object]]:
    return pq.read_table(path).to_pylist()


# ---------------------------------------------------------------------------------- row mapping

def test_row_from_update_quote_and_nxt_trade() -> None:
    t = ns_from_kst(DAY, dt.time(9, 30, 0, 123456))
    q = row_from_update(L1Update(t, 0, "005930", "KRX", QUOTE, ask=70100, bid=70000, ask_qty=12, bid_qty=34))
    assert q["timestamp"] == "2025-09-08T09:30:00.123456"
    assert (q["symbol"], q["venue"], q["raw_code"], q["real_type"]) == ("005930", "KRX", "005930", QUOTE)
    assert (q["fid_27"], q["fid_28"], q["fid_41"], q["fid_51"], q["fid_61"], q["fid_71"]) == \
        (70100, 70000, 70100, 70000, 12, 34)
    assert (q["fid_10"], q["fid_11"], q["fid_12"], q["fid_13"]) == (0, 0, 0.0, 0)
    tr = row_from_update(L1Update(t, 0, "005930", "NXT", TRADE, ask=70100, bid=70000, last=70100, last_qty=3,
                                  cum_volume=777, change_krw=-250, change_rate_pct=-0.36))
    assert (tr["fid_11"], tr["fid_12"]) == (-250, -0.36)
    assert (tr["venue"], tr["raw_code"]) == ("NXT", "005930_NX")
    assert (tr["fid_10"], tr["fid_13"], tr["fid_27"], tr["fid_28"]) == (70100, 777, 70100, 70000)
    assert (tr["fid_41"], tr["fid_51"], tr["fid_61"], tr["fid_71"]) == (0, 0, 0, 0)


# ---------------------------------------------------------------------------------- replay round trip

def test_recording_a_replay_reproduces_the_file(tmp_path: Path, cfg) -> None:
    src_rows = source_rows()
    src = write_recording(tmp_path / "market_data_20250908.parquet", src_rows, "fastparquet")
    out_dir = tmp_path / "out"
    summary = record(cfg, universe(), RunOptions(backend="replay", replay_file=str(src), speed=None), out_dir, None)

    assert isinstance(summary, RecordSummary)
    assert summary.stop_reason == "end of the recording"
    assert summary.files == (out_dir / "market_data_20250908.parquet",)
    assert pq.read_schema(summary.files[0]).names == RECORDING_SCHEMA.names
    got = read(summary.files[0])
    assert summary.rows == len(got) == len(src_rows)
    assert summary.by_venue == {"KRX": sum(r["venue"] == "KRX" for r in src_rows),
                                "NXT": sum(r["venue"] == "NXT" for r in src_rows)}
    assert summary.first_t_ns == parse_timestamp(str(src_rows[0]["timestamp"]))
    assert summary.last_t_ns == parse_timestamp(str(src_rows[-1]["timestamp"]))

    book: dict[tuple[str, str], tuple[int, int]] = {}
    for s, g in zip(src_rows, got, strict=True):
        assert (g["timestamp"], g["symbol"], g["venue"], g["real_type"], g["raw_code"]) == \
            (s["timestamp"], s["symbol"], s["venue"], s["real_type"], s["raw_code"])
        key = (str(s["symbol"]), str(s["venue"]))
        if s["real_type"] == QUOTE:
            # best ask/bid prices in 27/28 (and 41/51, Kiwoom's price FIDs), sizes in 61/71
            assert (g["fid_27"], g["fid_28"]) == (s["fid_41"], s["fid_51"])
            assert (g["fid_41"], g["fid_51"]) == (s["fid_41"], s["fid_51"])
            assert (g["fid_61"], g["fid_71"]) == (s["fid_61"], s["fid_71"])
            assert g["fid_10"] == 0
            book[key] = (int(s["fid_41"]), int(s["fid_51"]))
        else:
            assert (g["fid_10"], g["fid_13"]) == (s["fid_10"], s["fid_13"])
            # change from the previous close and change rate, signed as recorded
            assert (g["fid_11"], g["fid_12"]) == (s["fid_11"], s["fid_12"])
            # a trade reports the venue's best ask/bid: its own when it carried them, else the book's
            expected = (s["fid_27"], s["fid_28"]) if s.get("fid_27") else book[key]
            assert (g["fid_27"], g["fid_28"]) == expected
            assert (g["fid_41"], g["fid_51"], g["fid_61"], g["fid_71"]) == (0, 0, 0, 0)


# ---------------------------------------------------------------------------------- simulator

def test_sim_recording_daily_file_both_venues_and_deterministic(tmp_path: Path, cfg) -> None:
    opts = RunOptions(backend="sim", speed=None, seed=11)
    a = record(cfg, universe(), opts, tmp_path / "a", 3.0)
    b = record(cfg, universe(), opts, tmp_path / "b", 3.0)
    c = record(cfg, universe(), RunOptions(backend="sim", speed=None, seed=12), tmp_path / "c", 3.0)

    assert a.files == (tmp_path / "a" / "market_data_20250908.parquet",)
    assert a.stop_reason == "duration 3 s reached"
    assert pq.read_schema(a.files[0]).equals(RECORDING_SCHEMA)
    rows = read(a.files[0])
    assert a.rows == len(rows) > 0
    assert {r["venue"] for r in rows} == {"KRX", "NXT"}
    assert {r["symbol"] for r in rows} == set(CODES)
    assert all(r["raw_code"] == r["symbol"] + ("_NX" if r["venue"] == "NXT" else "") for r in rows)
    quotes = [r for r in rows if r["real_type"] == QUOTE]
    assert quotes and all(r["fid_41"] == r["fid_27"] > r["fid_51"] == r["fid_28"] > 0 for r in quotes)
    assert all(r["fid_61"] > 0 and r["fid_71"] > 0 for r in quotes)
    times = [parse_timestamp(r["timestamp"]) for r in rows]
    assert times == sorted(times)
    assert times[-1] - times[0] <= 3 * NS_PER_S
    assert pq.read_table(a.files[0]).equals(pq.read_table(b.files[0]))          # same seed → same file
    assert not pq.read_table(a.files[0]).equals(pq.read_table(c.files[0]))      # the seed matters


def test_paced_sim_recording_stays_within_its_duration(tmp_path: Path, cfg) -> None:
    s = record(cfg, universe(), RunOptions(backend="sim", speed=20.0, seed=3), tmp_path, 1.0)
    rows = read(s.files[0])
    assert s.rows == len(rows) > 0 and s.stop_reason == "duration 1 s reached"
    assert s.last_t_ns - s.first_t_ns <= NS_PER_S


def test_interrupt_keeps_everything_received(tmp_path: Path, cfg) -> None:
    """A KeyboardInterrupt mid-recording (Ctrl-C) still closes a complete, readable file with every row."""
    calls = {"n": 0}

    def ctrl_c() -> bool:
        calls["n"] += 1
        if calls["n"] > 300:
            raise KeyboardInterrupt
        return False

    s = record(cfg, universe(), RunOptions(backend="sim", speed=None, seed=5), tmp_path, None, should_stop=ctrl_c)
    assert s.stop_reason == "interrupted (Ctrl-C)"
    assert s.rows > 0 and len(read(s.files[0])) == s.rows == sum(s.by_venue.values())


def test_arbctl_record_command(tmp_path: Path) -> None:
    conf = tmp_path / "c.yaml"
    conf.write_text(f"sim: {{date: '{DAY.isoformat()}'}}\n", encoding="utf-8")
    out = tmp_path / "data"
    result = CliRunner().invoke(cli, ["record", "--config", str(conf), "--duration", "2", "--out", str(out),
                                      "--seed", "4"])
    assert result.exit_code == 0, result.output
    assert "recorded " in result.stdout and "stopped: duration 2 s reached" in result.stdout
    assert (out / "market_data_20250908.parquet").exists()


def test_arbctl_record_replay_without_file_is_invalid(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["record", "--backend", "replay", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--backend replay needs --replay FILE" in result.stderr
