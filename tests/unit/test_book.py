"""ShardBook: the vectorised batch apply equals applying the rows one by one."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.book import ShardBook
from core.l1 import L1_ROW_DTYPE


def _one_by_one(syms, rows):
    """Reference: apply rows in order, a row changing only the fields it carries."""
    idx = {int(s): i for i, s in enumerate(syms)}
    books = np.zeros((2, len(syms), 4), dtype=np.int64)
    for r in rows:
        b = books[int(r["venue"]), idx[int(r["sym"])]]
        for col, name in enumerate(("bid", "ask", "bid_qty", "ask_qty")):
            if r[name] > 0:
                b[col] = r[name]
    return books


row = st.tuples(st.integers(0, 4), st.integers(0, 1), st.integers(0, 3), st.integers(0, 3), st.integers(0, 2),
                st.integers(0, 2))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(row, max_size=30), min_size=1, max_size=4))
def test_batches_equal_row_by_row_application(batches):
    syms = np.array([3, 7, 11, 20, 42])
    book = ShardBook(syms)
    everything = []
    t = 0
    for batch in batches:
        rows = np.zeros(len(batch), dtype=L1_ROW_DTYPE)
        for k, (s, v, b, a, bq, aq) in enumerate(batch):
            t += 1
            rows[k] = (syms[s], v, 0, 100 * a, 100 * b, bq * 10, aq * 10, 0, t, 1000 + t)
        before = book.books.copy()
        changed = book.apply(rows)
        everything.extend(rows)
        expect = _one_by_one(syms, everything)
        assert np.array_equal(book.books, expect)
        moved = np.flatnonzero((before != expect).any(axis=(0, 2)))
        assert np.array_equal(np.sort(changed), moved)
        for i in changed:   # tick time = newest update of that symbol in the batch
            mine = [r for r in rows if r["sym"] == syms[i]]
            assert book.tick_t_ns[i] == max(int(r["t_ns"]) for r in mine)
            assert book.tick_arrival_ns[i] == max(int(r["arrival_ns"]) for r in mine)


def test_rows_for_foreign_symbols_are_an_error():
    book = ShardBook(np.array([1, 2]))
    rows = np.zeros(1, dtype=L1_ROW_DTYPE)
    rows[0]["sym"] = 5
    try:
        book.apply(rows)
    except ValueError as exc:
        assert "not owned" in str(exc)
    else:
        raise AssertionError("a row for a foreign symbol was accepted")


def test_owns_tells_which_rows_belong_to_the_shard():
    book = ShardBook(np.array([3, 7, 1]))
    mask = book.owns(np.array([7, 2, 1, 100, -1, 3]))
    assert mask.tolist() == [True, False, True, False, False, True]


def test_quality_flags_crossed_and_off_grid():
    book = ShardBook(np.array([0, 1]))
    rows = np.zeros(2, dtype=L1_ROW_DTYPE)
    rows[0] = (0, 0, 0, 70_000, 70_100, 5, 5, 0, 1, 1)      # KRX crossed: bid 70,100 ≥ ask 70,000
    rows[1] = (1, 1, 0, 70_150, 70_050, 5, 5, 0, 1, 1)      # NXT off the 100-won grid
    book.apply(rows)
    q = book.quality(np.array([0, 1]), now_ns=2)
    assert q[0] & 2 and q[1] & 4
