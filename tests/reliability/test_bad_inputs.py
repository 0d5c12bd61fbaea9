"""Every bad input an operator can give exits 2 with one short line naming it, before anything starts.

Each case runs ``launch.py`` (and, for recordings, ``arbctl replay``) as the operator would, in a subprocess,
and checks: exit code 2, exactly one line on stderr containing the expected words, no run folder, and no
actor system left listening on the admin port.
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from actors.runtime import port_listening
from kiwoom_bridge.recording import write_recording
from tests.integration.engine_helpers import build_recording

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]
ADMIN_PORT = 19711                          # the default config's: nothing may start listening there

#: name -> (config text, expected words in the one stderr line)
CONFIGS: dict[str, tuple[str, str]] = {
    "orders above Kiwoom's cap": ("kiwoom:\n  rate_limits:\n    orders_per_sec: 1000\n",
                                  "kiwoom.rate_limits.orders_per_sec: Input should be less than or equal to 5"),
    "a hedge timer of 1e18 ms": ("execution:\n  t_hedge_ms: 1e18\n", "execution.t_hedge_ms"),
    "a huge hedge timer": ("execution:\n  t_hedge_ms: 100000000\n",
                           "execution.t_hedge_ms: Input should be less than or equal to 60000"),
    "an infinite latency": ("sim:\n  latency:\n    send_to_ack_ms: .inf\n",
                            "sim.latency.send_to_ack_ms.median: Input should be a finite number"),
    "NaN": ("execution:\n  t_hedge_ms: .nan\n", "execution.t_hedge_ms"),
    "a duplicate key": ("execution:\n  t_hedge_ms: 500\n  t_hedge_ms: 600\n",
                        "line 3, column 3: key 't_hedge_ms' is given twice in one mapping"),
    "an alias bomb": ("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b]\n",
                      "YAML aliases (*name) are not allowed in a config"),
    "a misspelt key": ("execution:\n  t_hedge: 500\n", "execution.t_hedge: unknown key"),
    "a negative timer": ("execution:\n  t_hedge_ms: -5\n", "execution.t_hedge_ms: Input should be greater than 0"),
    "a list at the top": ("- 1\n- 2\n", "the top level must be a mapping of sections"),
    "broken YAML": ("execution: [\n", "not valid YAML"),
    "deep nesting": ("a:\n" + "".join("  " * i + f"b{i}:\n" for i in range(1, 80)), "nested more than 32 levels"),
    "a missing universe file": ("symbols:\n  universe_file: /nonexistent/u.csv\n",
                                "symbols.universe_file: /nonexistent/u.csv: file not found"),
    "an account number in the file": ("kiwoom:\n  account: '8012345611'\n",
                                      "account numbers must come from the KIWOOM_ACCOUNT environment variable"),
    "two screens with one number": ("kiwoom:\n  screen_numbers:\n    marketdata: ['2000', '2000', '2001']\n",
                                    "kiwoom.screen_numbers.marketdata"),
}


def run(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, *args, "--run-dir", str(tmp_path / "run")], cwd=str(REPO),
                          capture_output=True, text=True, timeout=180, env=full_env)


def assert_refused(r: subprocess.CompletedProcess[str], expected: str, tmp_path: Path) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert len(lines) == 1 and expected in lines[0], lines
    assert len(lines[0]) < 400, lines[0]                    # short: never the input's repr
    assert not (tmp_path / "run").exists(), "a run folder was left behind"
    assert not port_listening(ADMIN_PORT), "an actor system was started"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_bad_config_exits_2_before_anything_starts(name: str, tmp_path: Path) -> None:
    text, expected = CONFIGS[name]
    conf = tmp_path / "bad.yaml"
    conf.write_text(text, encoding="utf-8")
    assert_refused(run(["launch.py", "--headless", "--config", str(conf)], tmp_path), expected, tmp_path)


def test_binary_and_oversized_configs_exit_2(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes(b"execution:\n  t_hedge_ms: 500 # caf\xe9\n")
    assert_refused(run(["launch.py", "--headless", "--config", str(latin)], tmp_path),
                   "line 2: not UTF-8 text (byte 0xe9", tmp_path)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1 << 20) + "\n", encoding="utf-8")
    assert_refused(run(["launch.py", "--headless", "--config", str(big)], tmp_path),
                   "a config file is at most 1,048,576 bytes", tmp_path)


def test_a_universe_needing_201_screens_exits_2(tmp_path: Path) -> None:
    # 10,001 symbols trading on NXT are 20,002 codes (005930 and 005930_NX): 201 screens of 100 codes
    uni = tmp_path / "big.csv"
    uni.write_text("code,name,market,nxt\n" + "".join(f"{c:06d},S{c},KOSPI,true\n" for c in range(1, 10_002)),
                   encoding="utf-8")
    conf = tmp_path / "c.yaml"
    conf.write_text(f"symbols:\n  universe_file: {uni}\n", encoding="utf-8")
    assert_refused(run(["launch.py", "--headless", "--config", str(conf)], tmp_path),
                   "symbols.universe_file: 10,001 symbols need 201 screens of 100 codes (_NX codes count); "
                   "Kiwoom allows at most 200", tmp_path)


def test_a_malformed_account_number_exits_2_without_showing_it(tmp_path: Path) -> None:
    r = run(["launch.py", "--headless"], tmp_path, env={"KIWOOM_ACCOUNT": "12-3456-secret"})
    assert_refused(r, "KIWOOM_ACCOUNT: must be the 10-digit account number (got 14 characters)", tmp_path)
    assert "secret" not in r.stderr


# ---------------------------------------------------------------------------------------------- recordings
@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, str]]:
    """name -> (recording, config, expected words); the config's universe holds 005930 and 000660."""
    d = tmp_path_factory.mktemp("recordings")
    (d / "u.csv").write_text("code,name,market,nxt\n005930,Samsung,KOSPI,true\n000660,SK hynix,KOSPI,true\n",
                             encoding="utf-8")
    conf = d / "c.yaml"
    conf.write_text(f"symbols:\n  universe_file: {d / 'u.csv'}\n", encoding="utf-8")
    df = pd.read_parquet(build_recording(d / "calm.parquet", dt.date(2025, 9, 8), dt.time(10, 0), 5, []))
    out: dict[str, tuple[Path, Path, str]] = {}

    def case(name: str, path: Path, expected: str) -> None:
        out[name] = (path, conf, expected)

    (d / "text.parquet").write_text("timestamp,symbol\n1,2\n", encoding="utf-8")
    case("not Parquet", d / "text.parquet", "not a readable Parquet file (Parquet magic bytes not found")
    (d / "empty.parquet").write_bytes(b"")
    case("an empty file", d / "empty.parquet", "not a readable Parquet file (Parquet file size is 0 bytes)")
    good = write_recording(d / "good.parquet", df, "pyarrow")          # written with page checksums
    group = pq.ParquetFile(good).metadata.row_group(0)
    chunk = next(group.column(i) for i in range(group.num_columns) if group.column(i).path_in_schema == "fid_41")
    data = bytearray(good.read_bytes())
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data[start + chunk.total_compressed_size - 1] ^= 0xFF        # the last byte of the page's values
    (d / "corrupt.parquet").write_bytes(bytes(data))
    case("a corrupt page", d / "corrupt.parquet", "cannot read the data (could not verify page integrity")
    bad_type = df.copy()
    bad_type["fid_41"] = bad_type["fid_41"].astype(str)
    bad_type.loc[2, "fid_41"] = "abc"
    case("a wrong dtype", write_recording(d / "dtype.parquet", bad_type, "pyarrow", coerce=False),
         "row 2 (0-based), column 'fid_41': 'abc' is not a number")
    df.drop(columns=["venue"]).to_parquet(d / "nocol.parquet")
    case("a missing column", d / "nocol.parquet", "column 'venue': missing column venue")
    other = df.copy()
    other["symbol"] = "035420"
    other["raw_code"] = other["raw_code"].str.replace("005930", "035420").str.replace("000660", "035420")
    # a replay trades the recording's codes (SPEC §6) unless restricted to the universe file, which has none
    restricted = d / "restricted.yaml"
    restricted.write_text(f"symbols:\n  universe_file: {d / 'u.csv'}\nreplay:\n  universe: config\n", encoding="utf-8")
    out["no row of the universe"] = (
        write_recording(d / "other.parquet", other, "pyarrow"), restricted,
        f"symbols.universe_file {d / 'u.csv'} (replay.universe: config): none of its 2 codes is in the recording "
        f"(which holds 1: 035420)")
    bad_row = df.copy()
    bad_row["timestamp"] = bad_row["timestamp"].astype(str)
    bad_row.loc[3, "timestamp"] = "yesterday"
    case("an unreadable row", write_recording(d / "badrow.parquet", bad_row, "fastparquet", coerce=False),
         "row 3 (0-based), column 'timestamp': cannot parse 'yesterday'")
    case("no rows", write_recording(d / "zero.parquet", df.iloc[0:0], "pyarrow"), "the recording holds no rows")
    (d / "emptydir").mkdir()
    case("an empty directory", d / "emptydir", "directory holds no market_data_YYYYMMDD.parquet files")
    case("a missing file", d / "nope.parquet", "nope.parquet: file not found")
    return out


RECORDING_CASES = ["not Parquet", "an empty file", "a corrupt page", "a wrong dtype", "a missing column",
                   "no row of the universe", "an unreadable row", "no rows", "an empty directory", "a missing file"]


@pytest.mark.parametrize("name", RECORDING_CASES)
def test_a_bad_recording_exits_2_from_launch_and_from_arbctl_replay(name: str, recordings, tmp_path: Path) -> None:
    path, conf, expected = recordings[name]
    assert_refused(run(["launch.py", "--headless", "--replay", str(path), "--config", str(conf)], tmp_path),
                   expected, tmp_path)
    assert_refused(run(["-m", "tools.arbctl", "replay", str(path), "--config", str(conf)], tmp_path),
                   expected, tmp_path)
