"""Where shards run (core.placement), the hosted shard's placement check, the end-of-run book check and the
report's shards line: pure rules, no actor system."""
from __future__ import annotations

import numpy as np
import pytest

from actors.market_data import HostedMarketData
from actors.shard_host import shard_host_capabilities
from core.placement import PlacementError, ShardHost, fall_back, parse_host_port, place_shards, resolve_host
from core.signal import L1Touches, touch_mismatches
from outputs.report import _shard_lines
from protocol.system import SHARD_HOST_CAPABILITY, SHARD_HOST_ID, SHARD_HOST_NAMES

A = ShardHost("a-id", "10.0.0.5:19920", 19920, ("alpha", "alpha.lan", "10.0.0.5"))
B = ShardHost("b-id", "10.0.0.6:19920", 19920, ("beta", "10.0.0.6"))
C = ShardHost("c-id", "10.0.0.5:19921", 19921, ("alpha", "10.0.0.5"))


@pytest.mark.parametrize("text,expected", [("10.0.0.5:19920", ("10.0.0.5", 19920)), (" alpha:1 ", ("alpha", 1)),
                                           ("::1:19920", ("::1", 19920))])
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["alpha", "alpha:", ":19920", "alpha:port", "alpha:0", "alpha:65536", ""])
def test_parse_host_port_names_the_option_and_the_text(text: str) -> None:
    with pytest.raises(PlacementError, match=r"^--leader: expected HOST:PORT \(e\.g\. 10\.0\.0\.5:19920\), got "):
        parse_host_port(text, "--leader")


def test_resolve_host_by_name_or_address_and_port() -> None:
    hosts = [A, B, C]
    assert resolve_host("alpha:19920", hosts) is A
    assert resolve_host("alpha.lan:19920", hosts) is A
    assert resolve_host("10.0.0.5:19921", hosts) is C
    assert resolve_host("beta:19920", hosts) is B


def test_resolve_host_says_which_joined_when_none_matches() -> None:
    with pytest.raises(PlacementError) as err:
        resolve_host("gamma:19920", [A, B])
    assert str(err.value).startswith("--host gamma:19920: no shard host with that address has joined the engine "
                                     "(joined: 10.0.0.5:19920, 10.0.0.6:19920); start one with: python -m "
                                     "actors.shard_host --leader LEADER:PORT --admin-port 19920")
    with pytest.raises(PlacementError, match=r"\(joined: none\)"):
        resolve_host("alpha:19920", [])


def test_resolve_host_refuses_an_ambiguous_name() -> None:
    twin = ShardHost("a2-id", "10.0.0.7:19920", 19920, ("alpha",))
    with pytest.raises(PlacementError, match=r"names 2 shard hosts \(10\.0\.0\.5:19920, 10\.0\.0\.7:19920\)"):
        resolve_host("alpha:19920", [A, twin])
    assert resolve_host("10.0.0.7:19920", [A, twin]) is twin


def test_place_shards_keeps_where_slots_run_and_puts_added_ones_on_the_host() -> None:
    assert place_shards([None], 2, "a-id") == (None, "a-id")
    assert place_shards([None, "a-id"], 4, "b-id") == (None, "a-id", "b-id", "b-id")
    assert place_shards([None, "a-id"], 3) == (None, "a-id", None)
    assert place_shards([None, "a-id", "b-id"], 2) == (None, "a-id")       # scaling down keeps the first slots
    assert place_shards([], 2) == (None, None)


def test_place_shards_refuses_a_host_that_gets_no_new_shard_and_bad_counts() -> None:
    with pytest.raises(PlacementError, match=r"^--host places new shards: the engine has 2 shard\(s\) now, so "
                                             r"--shards must be more than 2 to add one there$"):
        place_shards([None, None], 2, "a-id")
    for n in (0, -1, True, 1.5):
        with pytest.raises(PlacementError, match=r"^--shards must be an integer ≥ 1"):
            place_shards([None], n)  # type: ignore[arg-type]


def test_fall_back_moves_only_the_gone_hosts_slots_to_the_leader() -> None:
    assert fall_back((None, "a-id", "b-id", "a-id"), "a-id") == ((None, None, "b-id", None), (1, 3))
    assert fall_back((None, "b-id"), "a-id") == ((None, "b-id"), ())


def test_a_hosted_shard_lands_only_on_the_named_shard_host() -> None:
    check = HostedMarketData.actorSystemCapabilityCheck
    leader = {"Admin Port": 19711, "Kiwoom Bridge": True}
    host = shard_host_capabilities(("127.0.0.1", 19711), 19920)
    assert host[SHARD_HOST_CAPABILITY] is True and host["Convention Address.IPv4"] == ("127.0.0.1", 19711)
    assert {"localhost", "127.0.0.1"} <= set(host[SHARD_HOST_NAMES])
    assert not check(leader, {})
    assert not check(leader, {SHARD_HOST_ID: host[SHARD_HOST_ID]})
    assert check(host, {})
    assert check(host, {SHARD_HOST_ID: host[SHARD_HOST_ID]})
    assert not check(host, {SHARD_HOST_ID: "another host"})
    assert not check({**host, SHARD_HOST_CAPABILITY: False}, {SHARD_HOST_ID: host[SHARD_HOST_ID]})


def _touches(sym: list[int], rows: list[tuple[int, int, int, int]]) -> L1Touches:
    a = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return L1Touches(np.array(sym, dtype=np.int64), a[:, 0], a[:, 1], a[:, 2], a[:, 3])


def test_touch_mismatches_finds_every_differing_or_missing_row() -> None:
    bridge = _touches([0, 1, 2, 3], [(100, 101, 100, 101), (50, 51, 0, 0), (7, 8, 7, 8), (0, 0, 0, 0)])
    book = _touches([0, 1, 2, 3], [(100, 101, 100, 101), (50, 52, 0, 0), (7, 8, 6, 8), (0, 0, 0, 0)])
    assert touch_mismatches(bridge, book).tolist() == [1, 2]
    assert touch_mismatches(bridge, bridge).tolist() == []
    emptied = _touches([0], [(-1, 101, 100, -1)])           # the bridge keeps EMPTY (-1), the book 0
    assert touch_mismatches(emptied, _touches([0], [(0, 101, 100, 0)])).tolist() == []
    assert touch_mismatches(emptied, _touches([0], [(99, 101, 100, 0)])).tolist() == [0]
    assert touch_mismatches(bridge, _touches([0, 1, 2], [(100, 101, 100, 101), (50, 51, 0, 0), (7, 8, 7, 8)])
                            ).tolist() == [3]


def test_the_report_shows_the_shards_only_when_one_ran_elsewhere_moved_or_the_book_differs() -> None:
    clean = {"systems": {"MarketData[0]@0": "local"}, "moves": [], "moved": 0, "gap_steps": 0,
             "book_check": {"step": 9, "symbols": 212, "mismatched": 0, "codes": []}}
    assert _shard_lines(clean) == []
    assert _shard_lines({}) == []
    moved = {**clean, "systems": {"MarketData[0]@1": "local", "MarketData[1]@1r1": "local"}, "gap_steps": 3,
             "moves": [{"shard": "MarketData[1]@1", "from": "10.0.0.5:19920", "why": "no heartbeat for 4.0 s"}]}
    assert _shard_lines(moved) == [
        "  Shards: 2 at the end; 1 moved to the leader (MarketData[1]@1 from 10.0.0.5:19920: no heartbeat for 4.0 s), "
        "3 step(s) evaluated without a shard; book check: 0 of 212 symbols differ from the bridge's last quote"]
    hosted = {**clean, "systems": {"MarketData[0]@1": "local", "MarketData[1]@1": "10.0.0.5:19920"},
              "book_check": {"step": 9, "symbols": 212, "mismatched": 2, "codes": ["005930", "000660"]}}
    assert _shard_lines(hosted) == [
        "  Shards: 2 at the end (10.0.0.5:19920 hosting some); book check: 2 of 212 symbols differ from the "
        "bridge's last quote"]


def test_the_telemetry_book_reports_moves_where_shards_ran_and_the_book_check() -> None:
    from core.observations import ShardMoved, ShardsChecked
    from outputs.report import summarise
    from outputs.telemetry_book import TelemetryBook

    book = TelemetryBook(None, "sim", 212)
    assert book.report()["extra"]["shards"] == {"systems": {}, "moves": [], "moved": 0, "gap_steps": None,
                                                "book_check": None}
    t = 1_796_169_673_704_331_780
    book.consume(ShardMoved(t, "MarketData[1]@1", 1, "10.0.0.5:19920", "no heartbeat for 4.1 s"))
    book.consume(ShardsChecked(t + 5, (("MarketData[0]@1", "local"), ("MarketData[1]@1r1", "local")), True, 212, 0,
                               (), 3))
    rep = book.report()
    sh = rep["extra"]["shards"]
    assert sh["moved"] == 1 and sh["moves"][0]["shard"] == "MarketData[1]@1" and sh["moves"][0]["to"] == "local"
    assert sh["moves"][0]["from"] == "10.0.0.5:19920" and sh["moves"][0]["t_ns"] == t
    assert sh["systems"] == {"MarketData[0]@1": "local", "MarketData[1]@1r1": "local"}
    assert sh["gap_steps"] == 3 and sh["book_check"] == {"symbols": 212, "mismatched": 0, "codes": []}
    assert rep["extra"]["events_by_kind"]["shard_moved"] == 1
    assert ("  Shards: 2 at the end; 1 moved to the leader (MarketData[1]@1 from 10.0.0.5:19920: no heartbeat for "
            "4.1 s), 3 step(s) evaluated without a shard; book check: 0 of 212 symbols differ from the bridge's last "
            "quote") in summarise(rep).splitlines()
    # a check that never came back is reported missing (None), never as a clean one
    book.consume(ShardsChecked(t + 6, (("MarketData[0]@1", "local"),), False))
    assert book.report()["extra"]["shards"]["book_check"] is None


def test_bad_host_addresses_exit_2_with_one_line_before_anything_starts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from actors.shard_host import main as shard_host_main
    from tools.arbctl import cli

    runner = CliRunner()
    r = runner.invoke(cli, ["scale", "--shards", "2", "--host", "nohost"])
    assert r.exit_code == 2
    assert r.output.strip() == "arbctl scale: --host: expected HOST:PORT (e.g. 10.0.0.5:19920), got 'nohost'"
    r = runner.invoke(shard_host_main, ["--leader", "localhost"])
    assert r.exit_code == 2
    assert r.output.strip() == "shard host: --leader: expected HOST:PORT (e.g. 10.0.0.5:19920), got 'localhost'"
    r = runner.invoke(shard_host_main, ["--leader", "127.0.0.1:19713", "--admin-port", "19713"])
    assert r.exit_code == 2
    assert r.output.strip() == "shard host: --admin-port 19713 is the leader's port: choose another"
