"""The file side of the market-data recorder: seed 004's daily Parquet files, plus true sizes.

One received real-data event (``OnReceiveRealData``) becomes one row. Rows are buffered and flushed as
Parquet row groups into one file per Asia/Seoul calendar day, ``market_data_YYYYMMDD.parquet``, in exactly
the column names and types of the user's existing recorder (seed 004), followed by ``fid_61``/``fid_71``:

==============  ==========  ================================================================================
column          type        meaning
==============  ==========  ================================================================================
``timestamp``   string      receive time, naive Asia/Seoul ISO 8601 with 6 fractional digits
``symbol``      string      6-character base code (``"005930"``)
``venue``       string      ``"KRX"`` or ``"NXT"``
``real_type``   string      Kiwoom real type (``"주식호가잔량"``, ``"주식체결"``, ...)
``fid_10``      int64       현재가 (last price, KRW; absolute value)
``fid_11``      int64       전일대비 (change from the previous close, KRW; signed)
``fid_12``      double      등락율 (change rate, %; signed)
``fid_13``      int64       누적거래량 (cumulative volume, shares)
``fid_27``      int64       (최우선)매도호가 (best ask price of 주식체결, KRW)
``fid_28``      int64       (최우선)매수호가 (best bid price of 주식체결, KRW)
``fid_41``      int64       매도호가1 (best ask PRICE of 주식호가잔량, KRW; seed 004 mislabels it a size)
``fid_51``      int64       매수호가1 (best bid PRICE of 주식호가잔량, KRW; seed 004 mislabels it a size)
``raw_code``    string      the code as Kiwoom sent it (``"005930"`` or ``"005930_NX"``)
``fid_61``      int64       매도호가수량1 (best ask size, shares)
``fid_71``      int64       매수호가수량1 (best bid size, shares)
==============  ==========  ================================================================================

``0`` in a FID column means "not carried by this event". Old readers that know only seed 004's columns
keep working (they ignore ``fid_61``/``fid_71``); the recording reader
(:mod:`kiwoom_bridge.recording_reader`) sees ``fid_61``/``fid_71`` and knows that ``fid_41``/``fid_51`` are
prices.

Crash behaviour: each daily file is written by one :class:`pyarrow.parquet.ParquetWriter` kept open while
the day is being recorded; every flush adds a row group. The Parquet footer is written by
:meth:`RecordingWriter.close`, so ``close()`` must run on every exit path: use the writer as a context
manager (``with RecordingWriter(...) as w:``), which also closes it when an exception unwinds, and install
a SIGINT/SIGTERM handler that raises or calls ``close()``. A process killed without unwinding (SIGKILL,
power loss) leaves a file without a footer, which no Parquet reader can open. A daily file that already
exists when the recorder starts (an earlier run the same day) is never modified: the new rows go to
``market_data_YYYYMMDD_1.parquet`` (``_2``, ...), which the replay reader orders after it.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.clock import KST, NS_PER_S
from kiwoom_bridge.wire_codes import AL, parse_code, wire_code

__all__ = [
    "FID_COLUMNS",
    "INT_FID_COLUMNS",
    "RECORDING_SCHEMA",
    "SEED_COLUMNS",
    "SIGNED_COLUMNS",
    "SIZE_COLUMNS",
    "VI_COLUMNS",
    "RecordValueError",
    "RecordingError",
    "RecordingWriter",
    "daily_file_name",
    "format_timestamp",
    "format_timestamps",
    "parse_timestamp",
    "parse_timestamps",
    "write_recording",
]

#: Seed 004's columns, in its order. A recording must have all of them.
SEED_COLUMNS: tuple[str, ...] = (
    "timestamp", "symbol", "venue", "real_type",
    "fid_10", "fid_11", "fid_12", "fid_13", "fid_27", "fid_28", "fid_41", "fid_51",
    "raw_code",
)
#: The true best ask/bid sizes our recorder adds after seed 004's columns.
SIZE_COLUMNS: tuple[str, ...] = ("fid_61", "fid_71")
#: What our recorder adds for ``VI발동/해제`` rows (SPEC §11): FID 9068 VI발동구분, 1 start / 2 end (0 on other
#: rows). Optional: files without it replay their VI rows as alternating starts and ends.
VI_COLUMNS: tuple[str, ...] = ("fid_9068",)
#: Every FID column our recorder writes.
FID_COLUMNS: tuple[str, ...] = ("fid_10", "fid_11", "fid_12", "fid_13", "fid_27", "fid_28", "fid_41", "fid_51",
                                "fid_61", "fid_71", "fid_9068")
#: FID columns stored as int64 (all but the change rate ``fid_12``, a float).
INT_FID_COLUMNS: tuple[str, ...] = tuple(c for c in FID_COLUMNS if c != "fid_12")
#: FID columns whose sign is data (전일대비, 등락율): kept signed. Every other FID is an absolute value.
SIGNED_COLUMNS: frozenset[str] = frozenset({"fid_11", "fid_12"})
_STRING_COLUMNS: tuple[str, ...] = ("timestamp", "symbol", "venue", "real_type", "raw_code")

#: The Arrow schema of a file written by :class:`RecordingWriter`.
RECORDING_SCHEMA: pa.Schema = pa.schema(
    [(c, pa.string()) for c in SEED_COLUMNS[:4]]
    + [(c, pa.float64() if c == "fid_12" else pa.int64()) for c in SEED_COLUMNS[4:12]]
    + [("raw_code", pa.string())]
    + [(c, pa.int64()) for c in SIZE_COLUMNS]
    + [(c, pa.int64()) for c in VI_COLUMNS]
)

_VENUES = ("KRX", "NXT")
_KST_OFFSET_NS = 9 * 3600 * NS_PER_S          # Asia/Seoul has had no daylight saving since 1988
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?$")


class RecordingError(ValueError):
    """A recording file that cannot be used as it is, located precisely.

    Attributes:
      path: The file (as given).
      row: 0-based row index in that file of the first offending row, or None for a file-level problem.
      column: The offending column, or None when the problem is not about one column.
      problem: What is wrong, in words.
    """

    def __init__(self, path: str | Path, problem: str, *, row: int | None = None, column: str | None = None) -> None:
        self.path = str(path)
        self.row = row
        self.column = column
        self.problem = problem
        where = [self.path]
        if row is not None:
            where.append(f"row {row} (0-based)")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {problem}")


class RecordValueError(ValueError):
    """A value handed to :meth:`RecordingWriter.append` that cannot be recorded (names the field)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


# ------------------------------------------------------------------------------------------ timestamps

def format_timestamp(t_ns: int) -> str:
    """Nanoseconds since the Unix epoch (UTC) → naive Asia/Seoul ISO text with exactly 6 fractional digits.

    Sub-microsecond digits are truncated (toward the past). ``format_timestamp(1757116830123456000)`` →
    ``"2025-09-06T09:00:30.123456"``.
    """
    if isinstance(t_ns, bool) or not isinstance(t_ns, (int, np.integer)):
        raise TypeError(f"t_ns must be an int of nanoseconds, got {type(t_ns).__name__}")
    local_us = (int(t_ns) + _KST_OFFSET_NS) // 1000
    seconds, micros = divmod(local_us, 1_000_000)
    return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}"


def format_timestamps(t_ns: np.ndarray | Sequence[int]) -> np.ndarray:
    """Vectorised :func:`format_timestamp`: an array of epoch ns → an object array of ISO strings."""
    arr = np.asarray(t_ns, dtype=np.int64)
    local = (arr + _KST_OFFSET_NS) // 1000 * 1000
    text = np.datetime_as_string(local.astype("datetime64[ns]"), unit="us")
    return text.astype(object)


def parse_timestamp(text: str) -> int:
    """Inverse of :func:`format_timestamp`: naive Asia/Seoul ISO text → nanoseconds since the epoch (UTC).

    Accepts any fractional precision (``datetime.isoformat()`` omits ``.000000``) and a ``T`` or a space.

    Raises:
      ValueError: If ``text`` is not such a timestamp.
    """
    if not isinstance(text, str) or not _TS_RE.match(text.strip()):
        raise ValueError(f"{text!r} is not a naive ISO timestamp like '2025-09-06T09:00:30.123456'")
    s = text.strip()
    head, _, frac = s.partition(".")
    base = dt.datetime.fromisoformat(head.replace(" ", "T")).replace(tzinfo=KST)
    whole = int(base.timestamp()) * NS_PER_S
    return whole + (int(frac.ljust(9, "0")) if frac else 0)


def parse_timestamps(values: pa.Array | pa.ChunkedArray | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`parse_timestamp`.

    Returns:
      ``(t_ns, ok)``: int64 epoch nanoseconds and a bool mask of the entries that parsed (``t_ns`` is 0 where
      ``ok`` is False). Null, empty and unparsable entries are not ok.
    """
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(list(values), type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=pa.string())
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    n = len(arr)
    if pa.types.is_timestamp(arr.type):
        # A file whose timestamp column is a real timestamp: naive = Asia/Seoul wall time, aware = an instant.
        ts = arr.cast(pa.timestamp("ns", tz=arr.type.tz))
        ok = ~np.asarray(ts.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        raw = np.asarray(ts.fill_null(0).cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        out = raw if arr.type.tz else raw - _KST_OFFSET_NS
        return np.where(ok, out, 0), ok
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    stripped = pc.utf8_trim_whitespace(arr)
    shape_ok = pc.fill_null(pc.match_substring_regex(stripped, _TS_RE.pattern), False)
    # Entries of the wrong shape are replaced by a valid dummy so that one fast cast parses the rest.
    candidate = pc.if_else(shape_ok, stripped, pa.scalar("1970-01-01T00:00:00", pa.string()))
    ok = np.asarray(shape_ok.to_numpy(zero_copy_only=False), dtype=bool)
    try:
        local_ns = np.asarray(pc.cast(candidate, pa.timestamp("ns")).cast(pa.int64()).to_numpy(zero_copy_only=False),
                              dtype=np.int64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Right shape, impossible value (month 13, second 61, ...): slower, element-tolerant parse.
        parsed = pd.to_datetime(pd.Series(candidate.to_numpy(zero_copy_only=False), dtype=object),
                                format="ISO8601", errors="coerce")
        ok &= parsed.notna().to_numpy(dtype=bool)
        local_ns = np.where(ok, parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64), 0)
    t_ns = np.where(ok, local_ns - _KST_OFFSET_NS, 0)
    return t_ns.astype(np.int64), ok


def daily_file_name(date: dt.date, part: int = 0) -> str:
    """``market_data_YYYYMMDD.parquet`` (part 0) or ``market_data_YYYYMMDD_<part>.parquet``."""
    return f"market_data_{date:%Y%m%d}.parquet" if part == 0 else f"market_data_{date:%Y%m%d}_{part}.parquet"


# ------------------------------------------------------------------------------------------ value coercion

def _to_int(field: str, value: Any) -> int:
    """One FID value (int, float, sign-prefixed string, None/empty) → int; absolute unless signed."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise RecordValueError(field, f"expected a number, got {value!r}")
    if isinstance(value, (int, np.integer)):
        v = int(value)
    elif isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return 0
        if not float(value).is_integer():
            raise RecordValueError(field, f"expected a whole number, got {value!r}")
        v = int(value)
    elif isinstance(value, str):
        s = value.strip().replace(",", "")
        if not s:
            return 0
        try:
            v = int(s)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                raise RecordValueError(field, f"expected a number, got {value!r}") from None
            if not f.is_integer():
                raise RecordValueError(field, f"expected a whole number, got {value!r}") from None
            v = int(f)
    else:
        raise RecordValueError(field, f"expected a number, got {type(value).__name__} {value!r}")
    return v if field in SIGNED_COLUMNS else abs(v)


def _to_float(field: str, value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return 0.0
        try:
            return float(s)
        except ValueError:
            raise RecordValueError(field, f"expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise RecordValueError(field, f"expected a number, got {type(value).__name__} {value!r}")
    f = float(value)
    return 0.0 if math.isnan(f) else f


def _normalise_row(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A row mapping → a tuple in :data:`RECORDING_SCHEMA` order, validated."""
    unknown = set(row) - set(RECORDING_SCHEMA.names)
    if unknown:
        raise RecordValueError(sorted(unknown)[0], f"unknown column (known: {', '.join(RECORDING_SCHEMA.names)})")
    ts = row.get("timestamp")
    if isinstance(ts, (int, np.integer)) and not isinstance(ts, bool):
        ts = format_timestamp(int(ts))
    if not isinstance(ts, str) or not _TS_RE.match(ts):
        raise RecordValueError("timestamp", f"expected naive ISO text like '2025-09-06T09:00:30.123456' or epoch ns, "
                                            f"got {ts!r}")
    raw_code = row.get("raw_code") or ""
    if not isinstance(raw_code, str):
        raise RecordValueError("raw_code", f"expected a string, got {raw_code!r}")
    raw_code = raw_code.strip()
    raw_symbol, raw_venue = parse_code(raw_code)
    if raw_venue == AL:
        raise RecordValueError("raw_code", f"{raw_code!r} is an integrated (_AL) code; a recording holds the KRX "
                                           f"and NXT streams only")
    symbol = row.get("symbol") or raw_symbol
    if not isinstance(symbol, str) or len(symbol.strip()) != 6 or not symbol.strip().isalnum():
        raise RecordValueError("symbol", f"expected a 6-character code, got {symbol!r}")
    symbol = symbol.strip()
    venue = row.get("venue") or raw_venue
    if venue not in _VENUES:
        raise RecordValueError("venue", f"expected 'KRX' or 'NXT', got {venue!r}")
    if raw_code and raw_venue != venue:
        raise RecordValueError("raw_code", f"{raw_code!r} contradicts venue {venue!r}")
    real_type = row.get("real_type")
    if not isinstance(real_type, str) or not real_type.strip():
        raise RecordValueError("real_type", f"expected a Kiwoom real type name, got {real_type!r}")
    out: list[Any] = [ts, symbol, venue, real_type.strip()]
    for c in SEED_COLUMNS[4:12]:
        out.append(_to_float(c, row.get(c)) if c == "fid_12" else _to_int(c, row.get(c)))
    out.append(raw_code or wire_code(symbol, venue))
    out.extend(_to_int(c, row.get(c)) for c in SIZE_COLUMNS)
    out.extend(_to_int(c, row.get(c)) for c in VI_COLUMNS)
    return tuple(out)


def _table_from_tuples(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in RECORDING_SCHEMA.names]
    return pa.Table.from_arrays(
        [pa.array(list(col), type=f.type) for col, f in zip(cols, RECORDING_SCHEMA, strict=True)],
        schema=RECORDING_SCHEMA)


# ------------------------------------------------------------------------------------------ the writer

class RecordingWriter:
    """Buffered writer of received real-data rows into daily Parquet files (seed 004 schema + sizes).

    Args:
      out_dir: Directory of the daily files (created if missing).
      flush_rows: Flush when this many rows are buffered (seed 004: 5,000).
      flush_interval_s: Flush when this many seconds (of ``clock``) have passed since the last flush and a
        row arrives, or when :meth:`maybe_flush` is called (seed 004: 30 s).
      clock: Seconds as a float, for flush timing only (default :func:`time.monotonic`); inject a fake in tests.
      compression: Parquet codec for the row groups (``"snappy"`` default).

    Use as a context manager so that :meth:`close` (which writes each file's footer) runs on every exit::

        with RecordingWriter("data") as rec:
            rec.append(timestamp=..., symbol="005930", venue="KRX", real_type="주식호가잔량", fid_41=84500, ...)

    Attributes:
      rows_received: Rows accepted by :meth:`append`.
      rows_written: Rows written to files so far (the rest are buffered).
      files: Paths of the files opened so far, in opening order.
    """

    def __init__(self, out_dir: str | Path, flush_rows: int = 5000, flush_interval_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, compression: str = "snappy") -> None:
        if flush_rows < 1:
            raise ValueError(f"flush_rows must be ≥ 1, got {flush_rows}")
        if not flush_interval_s > 0:
            raise ValueError(f"flush_interval_s must be > 0 seconds, got {flush_interval_s}")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.flush_rows = int(flush_rows)
        self.flush_interval_s = float(flush_interval_s)
        self._clock = clock
        self._compression = compression
        self._buffer: list[tuple[Any, ...]] = []
        self._writers: dict[str, pq.ParquetWriter] = {}     # "YYYYMMDD" → open writer
        self._last_flush = clock()
        self._closed = False
        self.rows_received = 0
        self.rows_written = 0
        self.files: list[Path] = []

    # -------------------------------------------------------------------------------- context manager
    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    @property
    def buffered_rows(self) -> int:
        """Rows accepted but not yet written."""
        return len(self._buffer)

    def append(self, row: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        """Record one received real-data event.

        Pass a mapping and/or keyword fields (keywords win): ``timestamp`` (naive Asia/Seoul ISO text, or an
        int of epoch ns which is formatted with :func:`format_timestamp`), ``symbol``, ``venue``,
        ``real_type``, ``raw_code``, and any of ``fid_10 fid_11 fid_12 fid_13 fid_27 fid_28 fid_41 fid_51
        fid_61 fid_71``. FID values may be Kiwoom's sign-prefixed strings (``"+84500"``); prices, sizes and
        volume are stored as absolute values, ``fid_11``/``fid_12`` keep their sign; a missing or empty FID
        is stored as 0 (absent). ``symbol``/``venue`` default from ``raw_code`` (``_NX`` suffix = NXT).

        Raises:
          RecordValueError: A field is unknown or its value cannot be recorded (nothing is buffered).
          ValueError: The writer is closed.
        """
        if self._closed:
            raise ValueError("RecordingWriter is closed")
        merged = dict(row or {})
        merged.update(fields)
        self._buffer.append(_normalise_row(merged))
        self.rows_received += 1
        if len(self._buffer) >= self.flush_rows or self._clock() - self._last_flush >= self.flush_interval_s:
            self.flush()

    def maybe_flush(self) -> bool:
        """Flush if ``flush_interval_s`` has passed since the last flush (call it from a timer).

        Returns:
          Whether it flushed.
        """
        if self._buffer and self._clock() - self._last_flush >= self.flush_interval_s:
            self.flush()
            return True
        return False

    def flush(self) -> int:
        """Write every buffered row as one row group per day file. Returns the number of rows written.

        A day's file is opened at its first flush; it stays open (and readable only after :meth:`close`).
        """
        self._last_flush = self._clock()
        if not self._buffer:
            return 0
        rows, self._buffer = self._buffer, []
        by_day: dict[str, list[tuple[Any, ...]]] = {}
        for r in rows:
            by_day.setdefault(r[0][:10].replace("-", ""), []).append(r)
        written = 0
        for day in sorted(by_day):
            try:
                writer = self._writer_for(day)
                writer.write_table(_table_from_tuples(by_day[day]))
            except BaseException:
                # Put the rows of this and the later days back so that close() can retry them.
                rest = [r for d in sorted(by_day) if d >= day for r in by_day[d]]
                self._buffer[:0] = rest
                raise
            written += len(by_day[day])
            self.rows_written += len(by_day[day])
        return written

    def _writer_for(self, day: str) -> pq.ParquetWriter:
        writer = self._writers.get(day)
        if writer is not None:
            return writer
        date = dt.date(int(day[:4]), int(day[4:6]), int(day[6:]))
        part = 0
        while (self.out_dir / daily_file_name(date, part)).exists():
            part += 1
        path = self.out_dir / daily_file_name(date, part)
        # page CRCs: the replay then refuses a corrupt page instead of reading other numbers
        writer = pq.ParquetWriter(path, RECORDING_SCHEMA, compression=self._compression, write_page_checksum=True)
        self._writers[day] = writer
        self.files.append(path)
        return writer

    def close(self) -> None:
        """Flush the buffer and close every day file (writing its footer). Idempotent.

        Every file is closed even if one flush or close fails; the first failure is re-raised afterwards.
        """
        if self._closed:
            return
        error: BaseException | None = None
        try:
            self.flush()
        except BaseException as e:  # noqa: BLE001 - closing the files matters more; re-raised below
            error = e
        for writer in self._writers.values():
            try:
                writer.close()
            except BaseException as e:  # noqa: BLE001
                error = error or e
        self._writers.clear()
        self._closed = True
        if error is not None:
            raise error


# ------------------------------------------------------------------------------------------ fixtures helper

def write_recording(path: str | Path, rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
                    engine: Literal["pyarrow", "fastparquet"] = "pyarrow", *, coerce: bool = True) -> Path:
    """Write ``rows`` to one Parquet file with ``engine`` (for tests, fixtures and conversions).

    Args:
      path: Output file.
      rows: Row mappings or a DataFrame.
      engine: ``"pyarrow"`` or ``"fastparquet"`` (the user's recorder used fastparquet).
      coerce: True: normalise each row like :meth:`RecordingWriter.append` and write the recorder's schema
        (seed 004's columns; ``fid_61``/``fid_71`` only if some row carries them). False: write the columns
        exactly as given (to imitate other writers' files: strings with signs, missing columns, ...).

    Returns:
      ``Path(path)``.
    """
    path = Path(path)
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if coerce:
        with_sizes = any(c in df.columns for c in SIZE_COLUMNS)
        with_vi = any(c in df.columns for c in VI_COLUMNS)
        records = df.to_dict("records")
        table = _table_from_tuples([
            _normalise_row({k: (None if isinstance(v, float) and math.isnan(v) and k in _STRING_COLUMNS else v)
                            for k, v in r.items()})
            for r in records])
        if not with_sizes:
            table = table.drop_columns(list(SIZE_COLUMNS))
        if not with_vi:
            table = table.drop_columns(list(VI_COLUMNS))
        df = table.to_pandas()
        for c in table.column_names:
            if c in _STRING_COLUMNS:
                df[c] = df[c].astype(object)
    if engine == "pyarrow":
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, write_page_checksum=True)
    elif engine == "fastparquet":
        import fastparquet

        fastparquet.write(str(path), df.reset_index(drop=True), write_index=False)
    else:
        raise ValueError(f"engine must be 'pyarrow' or 'fastparquet', got {engine!r}")
    return path
