"""Message reprs stay cheap: Thespian formats every message twice per hop whatever the log level, so a repr
that formats an array (even one nested in a field) costs milliseconds on the tick path."""
from __future__ import annotations

import numpy as np

from core.l1 import empty_rows
from core.signal import L1Touches
from protocol.steps import MarketBatch, SignalBatch


def _touches(n: int) -> L1Touches:
    sym = np.arange(n, dtype=np.int64)
    return L1Touches(sym, sym * 10 + 70_000, sym * 10 + 70_100, sym * 10 + 70_000, sym * 10 + 70_100)


def test_a_signal_batch_names_its_nested_touch_arrays_by_length_only() -> None:
    text = repr(SignalBatch(step=42, t_ns=7, signals=(), touches=_touches(800), eligible_syms=tuple(range(300))))
    assert text.startswith("SignalBatch(step=42, t_ns=7")
    assert "touches=L1Touches(sym=<800 rows>, krx_bid=<800 rows>" in text
    assert "eligible_syms=<300 items>" in text
    assert "70010" not in text and len(text) < 400


def test_a_market_batch_repr_does_not_grow_with_its_rows() -> None:
    small = repr(MarketBatch(step=1, t_ns=0, shard_ids=(0,), rows=empty_rows()))
    big = repr(MarketBatch(step=1, t_ns=0, shard_ids=(0,), rows=np.zeros(20_000, dtype=empty_rows().dtype)))
    assert "rows=<20000 rows>" in big and len(big) - len(small) <= 5


def test_nesting_deeper_than_two_levels_is_named_by_type() -> None:
    nested = SignalBatch(step=1, t_ns=0, signals=(), touches=None, eligible_syms=((((1,),),),))
    assert "<tuple>" in repr(nested)
