"""Replay of a recording (seed 004's daily Parquet files) as a market source of the emulator.

Reading, validating and decoding the files — which rows are kept, what ``fid_41``/``fid_51`` mean, how
sizes are assumed when a file has none, how the trade quantity is derived — is
:mod:`kiwoom_bridge.recording_reader`'s job (:class:`~kiwoom_bridge.recording_reader.DecodedRecording`);
this module only hands the decoded rows to the emulator in time order, as
:class:`~kiwoom_bridge.event_batch.EventBatch` slices or :class:`~kiwoom_bridge.types.QuoteEvent` objects.
Recorded times are receive times, so the emulator adds no market-data latency (``adds_latency`` False).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from kiwoom_bridge.event_batch import EventBatch
from kiwoom_bridge.recording_reader import (
    DecodedRecording,
    Fid41Detection,
    RecordingColumns,
    recording_files,
)
from kiwoom_bridge.types import QuoteEvent

# recording_files is re-exported for tools.arbctl, which still imports it from here.
__all__ = ["ReplaySource", "recording_files"]


class ReplaySource:
    """A recorded day (or days) as a market source (satisfies ``kiwoom_bridge.emulator.source.MarketSource``).

    Args:
      path: A file, a directory of daily files, or a list of files
        (see :func:`kiwoom_bridge.recording_reader.recording_files`).
      universe_codes: Codes to replay, in the order of ``code_idx``; rows of other symbols are counted in
        :attr:`skipped_symbols` and reported in :attr:`notes`. None = every symbol in the recording (sorted).
      assumed_visible_qty: Shares assumed visible on each side when the recording has no sizes
        (``cfg.replay.assumed_visible_qty``).

    Attributes:
      recording: The :class:`~kiwoom_bridge.recording_reader.DecodedRecording` replayed. Its attributes are
      also this source's: ``codes``; ``start_ns``: time of the first replayed row (ns since the epoch);
      ``end_ns``: of the last; ``adds_latency`` False (recorded times are receive times); ``sizes_known``;
      ``fid41_meaning`` (``'price'``, ``'size'``, ``'price+sizes'``, or ``'mixed'`` when the files differ);
      ``detections`` per file; ``files``; ``rows_read`` (all rows of all files); ``rows_replayed``;
      ``skipped_symbols`` code → rows; ``skipped_real_types`` real type → rows; ``notes`` (things an operator
      should know, one line each); ``description`` (one paragraph); ``assumed_visible_qty``.

    Raises:
      RecordingError: A file cannot be used (names the file, row and column), or the recording holds no rows.
        (A recording with no row of the universe is not an error: it replays nothing and a note says so.)
    """

    adds_latency: bool = False

    def __init__(self, path: str | Path | Iterable[str | Path], universe_codes: Sequence[str] | None = None,
                 assumed_visible_qty: int = 100) -> None:
        rec = DecodedRecording(path, universe_codes, assumed_visible_qty)
        self.recording = rec
        self.assumed_visible_qty: int = rec.assumed_visible_qty
        self.files: tuple[Path, ...] = rec.files
        self.notes: list[str] = rec.notes
        self.detections: dict[str, Fid41Detection] = rec.detections
        self.rows_read: int = rec.rows_read
        self.rows_replayed: int = rec.rows_replayed
        self.codes: tuple[str, ...] = rec.codes
        self.skipped_symbols: dict[str, int] = rec.skipped_symbols
        self.skipped_real_types: dict[str, int] = rec.skipped_real_types
        self.fid41_meaning: str = rec.fid41_meaning
        self.sizes_known: bool = rec.sizes_known
        self.start_ns: int = rec.start_ns
        self.end_ns: int = rec.end_ns
        self.description: str = rec.description
        self._batch = rec.events
        self._sizes_known_rows: np.ndarray = rec.row_sizes_known
        self._cursor = 0

    # ---------------------------------------------------------------------------------- reporting
    def describe(self) -> str:
        """One line: what ``fid_41``/``fid_51`` were found to hold and whether sizes are known."""
        return self.recording.describe()

    # ---------------------------------------------------------------------------------- the protocol
    def peek_time_ns(self) -> int | None:
        """Time of the next row (ns since the epoch), or None when the recording is exhausted."""
        if self._cursor >= len(self._batch):
            return None
        return int(self._batch.t_ns[self._cursor])

    def pop_arrays_until(self, t_ns: int) -> EventBatch:
        """Every remaining row with time ≤ ``t_ns``, as columns (views), in time order."""
        stop = int(np.searchsorted(self._batch.t_ns, t_ns, side="right"))
        if stop <= self._cursor:
            return EventBatch.empty()
        out = self._batch.slice(self._cursor, stop)
        self._cursor = stop
        return out

    def pop_until(self, t_ns: int) -> list[QuoteEvent]:
        """Every remaining row with time ≤ ``t_ns`` as :class:`QuoteEvent` objects, in time order."""
        start = self._cursor
        batch = self.pop_arrays_until(t_ns)
        if not len(batch):
            return []
        if self.sizes_known:
            return batch.to_events(self.codes, True)
        if not self._sizes_known_rows[start:self._cursor].any():
            return batch.to_events(self.codes, False)
        flags = self._sizes_known_rows[start:self._cursor].tolist()
        return [QuoteEvent(e.t_ns, e.code, e.venue, e.real_type, e.ask, e.bid, e.ask_qty, e.bid_qty, e.last,
                           e.last_qty, e.cum_volume, e.change, e.change_rate, known)
                for e, known in zip(batch.to_events(self.codes, True), flags, strict=True)]

    def rewind(self) -> None:
        """Start again from the first row."""
        self._cursor = 0

    @property
    def remaining(self) -> int:
        """Rows not yet popped."""
        return len(self._batch) - self._cursor

    def columns(self, with_text: bool = True) -> RecordingColumns:
        """The whole decoded recording as numpy arrays (independent of the pop cursor).

        Args:
          with_text: Include the original timestamp strings (an object array; costs memory on big days).
        """
        return self.recording.columns(with_text)
