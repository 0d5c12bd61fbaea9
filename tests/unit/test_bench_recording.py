"""The replay benchmark's generated day is a valid recorder file that the replay reads as-is."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.replay import build_recording
from core.ticks import is_on_tick
from kiwoom_bridge.emulator.replay import ReplaySource


def test_generated_day_replays_with_true_sizes_on_the_tick_grid(tmp_path: Path) -> None:
    codes = ["100000", "100007", "100014"]
    path = tmp_path / "market_data_20261120.parquet"
    n = build_recording(path, codes, rate=300.0, seconds=2.0)
    assert n == 600
    src = ReplaySource(path, universe_codes=codes)
    assert src.rows_read == n and src.fid41_meaning == "price+sizes" and src.sizes_known
    events = src.pop_until(src.end_ns + 1)
    assert len(events) == n
    assert {e.venue for e in events} == {"KRX", "NXT"} and {e.code for e in events} == set(codes)
    t = np.array([e.t_ns for e in events])
    assert (np.diff(t) >= 0).all()
    for e in events:
        assert 0 < e.bid < e.ask and e.ask_qty > 0 and e.bid_qty > 0
        assert is_on_tick(e.bid) and is_on_tick(e.ask)
