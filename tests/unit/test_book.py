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


# -------------------------------------------------------------------- merged lockstep quanta (apply_quanta)
quantum_row = st.tuples(st.integers(0, 3), st.integers(0, 1), st.sampled_from([0, -1, 1000, 1010, 1020]),
                        st.sampled_from([0, -1, 1010, 1020, 1030]), st.integers(0, 2), st.integers(0, 2))


def _rows(spec, t0):
    rows = np.zeros(len(spec), dtype=L1_ROW_DTYPE)
    for k, (sym, venue, bid, ask, bq, aq) in enumerate(spec):
        rows[k]["sym"], rows[k]["venue"], rows[k]["bid"], rows[k]["ask"] = sym, venue, bid, ask
        rows[k]["bid_qty"], rows[k]["ask_qty"] = bq, aq
        rows[k]["t_ns"], rows[k]["arrival_ns"] = t0 + k, 7_000 + t0 + k
    return rows


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(quantum_row, max_size=8), min_size=1, max_size=6), st.integers(0, 3))
def test_merged_quanta_leave_what_a_step_per_quantum_leaves(quanta_rows, gap):
    """Books, update and tick times, the rows reported changed and each one's quality (stale judged at the time of
    the quantum that last changed it) equal those of applying each quantum as its own batch."""
    syms = np.array([3, 5, 8, 9])
    stale = 2_500
    t_of = [(k + 1) * 1_000 * (1 + gap) for k in range(len(quanta_rows))]
    seq, merged = ShardBook(syms, stale_after_ns=stale), ShardBook(syms, stale_after_ns=stale)
    warm = _rows([(3, 0, 1000, 1010, 1, 1), (5, 1, 1000, 1010, 1, 1)], 0)
    seq.apply(warm)
    merged.apply(warm)
    expected_q: dict[int, int] = {}
    parts, quanta, end = [], [], 0
    for rows_spec, t in zip(quanta_rows, t_of, strict=True):
        rows = _rows([(int(syms[s]), v, b, a, bq, aq) for s, v, b, a, bq, aq in rows_spec], t - 500)
        changed = seq.apply(rows)
        for r, q in zip(changed.tolist(), seq.quality(changed, t).tolist(), strict=True):
            expected_q[r] = q
        parts.append(rows)
        end += len(rows)
        quanta.append((end, t))
    changed, quality = merged.apply_quanta(np.concatenate(parts), tuple(quanta))
    assert dict(zip(changed.tolist(), quality.tolist(), strict=True)) == expected_q
    np.testing.assert_array_equal(merged.books, seq.books)
    np.testing.assert_array_equal(merged.last_t_ns, seq.last_t_ns)
    np.testing.assert_array_equal(merged.tick_arrival_ns, seq.tick_arrival_ns)
    np.testing.assert_array_equal(merged.tick_t_ns, seq.tick_t_ns)
    assert merged.updates == seq.updates


def test_a_row_stale_when_its_quantum_ended_stays_stale_though_the_step_ends_later():
    """A symbol changed early in a merged step is judged at its quantum's time: not stale then, though the other
    venue's update would be older than stale_after_ns by the end of the step."""
    book = ShardBook(np.array([1]), stale_after_ns=1_000)
    book.apply(_rows([(1, 1, 1000, 1010, 5, 5)], 0))                       # NXT at t=0
    rows = _rows([(1, 0, 1000, 1010, 5, 5)], 500)                           # KRX changes at t=500
    changed, quality = book.apply_quanta(rows, ((1, 900), (1, 5_000)))   # the step ends at t=5,000
    assert changed.tolist() == [0] and quality.tolist() == [0]
    assert book.quality(changed, 5_000).tolist() == [1]                   # judged at the step's end: stale


def test_quality_flags_name_a_crossed_an_off_grid_and_a_stale_venue_row_by_row() -> None:
    from core.book import ASK, BID, Q_CROSSED, Q_OFF_GRID, Q_STALE
    book = ShardBook(np.arange(5), stale_after_ns=1_000)
    book.books[:, :, BID] = 70_000
    book.books[:, :, ASK] = 70_100
    book.last_t_ns[:] = 5_000
    book.books[1, 1, BID] = 70_100                 # row 1: NXT locked (bid = ask)
    book.books[0, 2, ASK] = 70_150                 # row 2: KRX ask between two 100-KRW ticks
    book.last_t_ns[1, 3] = 3_000                   # row 3: NXT quiet for 2,000 ns > 1,000
    book.last_t_ns[0, 4] = 0                       # row 4: KRX never quoted: not stale
    book.books[0, 4] = 0
    flags = book.quality(np.arange(5), 5_000)
    assert flags.tolist() == [0, Q_CROSSED, Q_OFF_GRID, Q_STALE, 0]
    # per-row times: row 0 judged late enough to be stale on both venues
    per_row = book._flags(np.array([0, 1]), np.array([9_000, 5_000]), book.last_t_ns[:, [0, 1]])
    assert per_row.tolist() == [Q_STALE, Q_CROSSED]
    assert book.quality(np.zeros(0, dtype=np.int64), 5_000).dtype == np.uint8
