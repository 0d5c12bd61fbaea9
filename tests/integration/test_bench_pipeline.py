"""``bench.pipeline``'s figures are only worth comparing if each layout is the engine's own run: every row the bridge
sent reaches a shard, signals are timed from their ticks, and the book ends flat. The ``inprocess`` layout (every
actor in the benchmark's process, paced at real time) is checked here at a small load; the multi-process layouts run
the same engine as the paced session tests."""
from __future__ import annotations

import psutil

from bench.pipeline import TARGETS, run_layout


def test_the_inprocess_layout_is_a_paced_run_of_the_whole_engine_in_one_process() -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    res = run_layout("inprocess", symbols=40, rate=2_000.0, seconds=4.0)
    assert "error" not in res, res
    assert res["updates_sent"] > 4_000, "the paced market did not run for its seconds"
    assert res["updates_lost"] == 0 and res["updates_consumed"] == res["updates_sent"]
    assert res["tick_to_signal"]["n"] > 0 and res["tick_to_signal"]["p50"] > 0
    assert res["steps"] > 100                       # paced steps, not one lockstep burst
    assert res["flat"] is True
    assert res["processes"] == 1
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before
    assert res["targets"] == TARGETS["local"]       # judged against the local layout's targets
