"""Reading recordings (seed 004's daily Parquet files): discovery, validation, decoding into numpy columns.

Both the replay (:class:`kiwoom_bridge.emulator.replay.ReplaySource`) and the opportunity scan
(:func:`tools.scan_recording.scan_recording`) read recordings through :class:`DecodedRecording`; the writer side is
:mod:`kiwoom_bridge.recording`.

A recording is one file, several files, or a directory of ``market_data_YYYYMMDD.parquet`` files (and the
``market_data_YYYYMMDD_N.parquet`` parts our recorder writes when a day's file already existed), read in
date order. Files written by fastparquet (the user's recorder) or pyarrow are read as they are, with
pyarrow, into numpy columns.

**Validation.** A file that cannot be used raises one :class:`~kiwoom_bridge.recording.RecordingError`
naming the file, the 0-based row and the column: a missing column, an unparsable timestamp, a venue other
than KRX/NXT, a symbol that is not a 6-character code, a ``raw_code`` that contradicts ``symbol``/``venue``,
a non-numeric FID value, an unknown ``real_type``. Nothing is dropped silently: rows of symbols outside
the universe and rows of real types that are not the book (e.g. 주식예상체결 auction indications) are
counted and reported in :attr:`DecodedRecording.notes`.

**The fid_41/fid_51 ambiguity.** Seed 004 labels ``fid_41``/``fid_51`` best ask/bid *sizes*; in Kiwoom's
FID table they are the best ask/bid *prices* of 주식호가잔량 (sizes are 61/71). Each file is classified
(:func:`detect_fid41_meaning`):

1. ``fid_61`` and ``fid_71`` columns present → ``'price+sizes'``: 41/51 are prices, 61/71 true sizes.
2. Else, on the values where both ``fid_41`` and ``fid_27`` (and ``fid_51`` and ``fid_28``) are non-zero —
   if there are at least :data:`MIN_COMPARED` of them — ``fid_41 == fid_27`` / ``fid_51 == fid_28`` on
   ≥ 90 % → ``'price'`` (no sizes in the file), otherwise ``'size'``.
3. Else (too few rows carry both, which is normal when 주식호가잔량 rows carry only 41/51 and 주식체결 rows
   only 27/28): ``fid_41``/``fid_51`` values within ±30 % of the symbol's median traded/quoted price
   (fid_10/27/28) on ≥ 90 % → ``'price'``; without any such reference, best ask above best bid on ≥ 95 % of
   the rows carrying both, all on the tick grid → ``'price'``; otherwise ``'size'``. Empty 41/51 columns
   count as ``'price'`` without sizes.

In ``'price'`` files there are no sizes: every row carrying a best price gets ``assumed_visible_qty`` shares
on that side, :attr:`DecodedRecording.sizes_known` is False and :meth:`DecodedRecording.describe` says the size
check was not applied.

**Row semantics.** A row updates only the fields it carries (0, empty or NaN = absent). 주식체결 rows give
``last`` (fid_10), ``cum_volume`` (fid_13), ``change``/``change_rate`` (fid_11/12, signed) and best ask/bid
(fid_27/28); 주식호가잔량 rows give best ask/bid (fid_27/28, or fid_41/51 when those are prices) and
sizes (fid_61/71, or fid_41/51 in ``'size'`` files). 주식우선호가 and 주식시세 rows give best ask/bid
prices (fid_27/28) only. Prices, sizes and volume are absolute values (Kiwoom's sign prefixes and negative
numbers are direction marks). The trade quantity ``last_qty`` is not in seed 004's schema: it is derived as
the increase of ``cum_volume`` since the previous trade row of the same symbol and venue (0 when unknown).
Rows are decoded in time order; a file out of order is stable-sorted by timestamp (and a note says so).

**Volatility interruptions.** ``VI발동/해제`` rows are replayed as a VI of their code on their venue (SPEC §11):
with our recorder's ``fid_9068`` column, 1 starts and 2 ends it (other values are counted and skipped); a file
without the column (seed 004's recorder did not keep FID 9068) gives no way to tell a start from an end, so the
rows of one code and venue are taken to alternate, start first (a note says so). A VI row carries no price.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.ticks import is_on_tick
from kiwoom_bridge.event_batch import RT_QUOTE, RT_TRADE, RT_VI_END, RT_VI_START, VENUE_CODES, EventBatch
from kiwoom_bridge.recording import (
    SEED_COLUMNS,
    SIGNED_COLUMNS,
    SIZE_COLUMNS,
    VI_COLUMNS,
    RecordingError,
    format_timestamp,
    parse_timestamps,
)
from kiwoom_bridge.types import NXT, REAL_TYPE_QUOTE, REAL_TYPE_TRADE, REAL_TYPE_VI
from kiwoom_bridge.wire_codes import AL, parse_code

__all__ = [
    "EQUAL_FRACTION_FOR_PRICE",
    "MIN_COMPARED",
    "PRICE_ONLY_REAL_TYPES",
    "SKIPPED_REAL_TYPES",
    "DecodedRecording",
    "Fid41Detection",
    "RecordingColumns",
    "RecordingError",
    "detect_fid41_meaning",
    "recording_files",
]

#: Share of compared values on which fid_41 == fid_27 (fid_51 == fid_28) that means "41/51 are prices".
EQUAL_FRACTION_FOR_PRICE = 0.90
#: Fewest compared values for rule 2 of the detection; below it rule 3 decides.
MIN_COMPARED = 20
_PRICE_LIKE_BAND = 0.30          # daily price limit: a price is within ±30 % of the day's prices
_ASK_ABOVE_BID_FOR_PRICE = 0.95

#: Real types whose rows carry only best ask/bid prices (fid_27/28): replayed as price-only book updates.
PRICE_ONLY_REAL_TYPES: frozenset[str] = frozenset({"주식우선호가", "주식시세"})
#: Kiwoom stock real types that are not the continuous book: counted, reported and not replayed.
SKIPPED_REAL_TYPES: frozenset[str] = frozenset({
    "주식예상체결", "주식시간외호가", "주식당일거래원", "장시작시간", "주식종목정보", "종목프로그램매매",
    "ETF NAV", "ELW 지표", "ELW 이론가", "주식거래원", "주문체결", "잔고", "현물잔고",
})
_RT_PRICE_ONLY = 10              # internal code of PRICE_ONLY_REAL_TYPES rows before mapping to RT_QUOTE
_RT_SKIP = 11
_RT_VI = 12                      # internal code of VI발동/해제 rows before mapping to RT_VI_START / RT_VI_END

_DAILY_RE = re.compile(r"^market_data_(\d{8})(?:_(\d+))?\.parquet$")
_SYMBOL_RE = r"^[0-9A-Za-z]{6}$"
_NUMBER_RE = r"^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


# ------------------------------------------------------------------------------------------ public values

@dataclass(frozen=True, slots=True)
class Fid41Detection:
    """What ``fid_41``/``fid_51`` mean in one file, and the evidence.

    Attributes:
      meaning: ``'price+sizes'``, ``'price'`` or ``'size'``.
      rule: ``'fid_61/fid_71 present'``, ``'equal to fid_27/fid_28'``, ``'near traded prices'``,
        ``'ask above bid'``, ``'empty'`` or ``'default'``.
      fraction: The fraction the rule measured (NaN when it measured none).
      compared: How many values the rule compared.
    """

    meaning: str
    rule: str
    fraction: float
    compared: int

    @property
    def sizes_known(self) -> bool:
        """True unless the file holds no sizes (``'price'`` meaning)."""
        return self.meaning != "price"

    def text(self, assumed_visible_qty: int) -> str:
        """One line: what was detected and what replay does about it."""
        no_sizes = (f"no sizes in file: assumed {assumed_visible_qty} shares, size check NOT applied")
        if self.meaning == "price+sizes":
            return ("fid_61/fid_71 present: fid_41/fid_51 hold best ask/bid PRICES and fid_61/fid_71 the true "
                    "sizes; size check applied")
        if self.rule == "empty":
            return f"fid_41/fid_51 are empty; {no_sizes}"
        if self.rule == "equal to fid_27/fid_28":
            evidence = f"equal to fid_27/fid_28 on {self.fraction:.1%} of rows"
        elif self.rule == "near traded prices":
            evidence = (f"no row carries both fid_41 and fid_27; within ±30% of the symbol's traded price on "
                        f"{self.fraction:.1%} of rows")
        elif self.rule == "ask above bid":
            evidence = f"no reference price; fid_41 > fid_51 on {self.fraction:.1%} of rows"
        else:
            evidence = "no evidence either way; seed 004's labels assumed"
        if self.meaning == "price":
            return f"fid_41/fid_51 hold best ask/bid PRICES ({evidence}); {no_sizes}"
        return f"fid_41/fid_51 hold best ask/bid SIZES as seed 004 labels them ({evidence}); size check applied"


@dataclass(frozen=True, slots=True)
class RecordingColumns:
    """A whole decoded recording as numpy arrays (for the vectorised opportunity scanner).

    Every array has one entry per kept row (:attr:`DecodedRecording.rows_replayed`), in time order. Prices
    KRW, sizes shares, ``0`` = not carried by the row (the book keeps its previous value).

    Attributes:
      codes: Symbol codes; ``code_idx`` indexes them.
      t_ns: int64 ns since the epoch; timestamp: object array of the original timestamp text (None if not
        requested).
      code_idx: int32; venue: uint8 0 = KRX, 1 = NXT; real_type: uint8 0 = book update, 1 = trade print.
      ask, bid, ask_qty, bid_qty, last, last_qty, cum_volume, change: int64; change_rate: float64.
      has_ask, has_bid, has_ask_qty, has_bid_qty, has_last: bool, which fields the row carries.
      sizes_known: bool per row (False for rows of files without sizes, whose sizes are assumed).
      file_idx: int16 index into ``files``; source_row: int64 0-based row in that file.
      files: The files read, in order.
    """

    codes: tuple[str, ...]
    t_ns: np.ndarray
    timestamp: np.ndarray | None
    code_idx: np.ndarray
    venue: np.ndarray
    real_type: np.ndarray
    ask: np.ndarray
    bid: np.ndarray
    ask_qty: np.ndarray
    bid_qty: np.ndarray
    last: np.ndarray
    last_qty: np.ndarray
    cum_volume: np.ndarray
    change: np.ndarray
    change_rate: np.ndarray
    has_ask: np.ndarray
    has_bid: np.ndarray
    has_ask_qty: np.ndarray
    has_bid_qty: np.ndarray
    has_last: np.ndarray
    sizes_known: np.ndarray
    file_idx: np.ndarray
    source_row: np.ndarray
    files: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])


# ------------------------------------------------------------------------------------------ detection

def detect_fid41_meaning(fid_27: np.ndarray, fid_28: np.ndarray, fid_41: np.ndarray, fid_51: np.ndarray,
                         ref_price: np.ndarray | None = None, has_size_columns: bool = False) -> Fid41Detection:
    """Classify one file's ``fid_41``/``fid_51`` (see the module docstring for the rule).

    Args:
      fid_27, fid_28, fid_41, fid_51: int64 absolute values per row, 0 = absent.
      ref_price: Optional float per row: a typical price of the row's symbol in KRW (0/NaN = unknown).
      has_size_columns: Whether the file has ``fid_61`` and ``fid_71``.
    """
    if has_size_columns:
        return Fid41Detection("price+sizes", "fid_61/fid_71 present", float("nan"), 0)
    both_a = (fid_41 > 0) & (fid_27 > 0)
    both_b = (fid_51 > 0) & (fid_28 > 0)
    compared = int(both_a.sum() + both_b.sum())
    if compared >= MIN_COMPARED:
        equal = int((fid_41[both_a] == fid_27[both_a]).sum() + (fid_51[both_b] == fid_28[both_b]).sum())
        frac = equal / compared
        return Fid41Detection("price" if frac >= EQUAL_FRACTION_FOR_PRICE else "size", "equal to fid_27/fid_28",
                              frac, compared)
    set41, set51 = fid_41 > 0, fid_51 > 0
    if not set41.any() and not set51.any():
        return Fid41Detection("price", "empty", float("nan"), 0)
    if ref_price is not None:
        ref = np.nan_to_num(np.asarray(ref_price, dtype=np.float64), nan=0.0)
        vals = np.concatenate([fid_41[set41 & (ref > 0)], fid_51[set51 & (ref > 0)]]).astype(np.float64)
        refs = np.concatenate([ref[set41 & (ref > 0)], ref[set51 & (ref > 0)]])
        if vals.size >= MIN_COMPARED or (vals.size and vals.size == int(set41.sum() + set51.sum())):
            frac = float(np.mean(np.abs(vals / refs - 1.0) <= _PRICE_LIKE_BAND))
            return Fid41Detection("price" if frac >= EQUAL_FRACTION_FOR_PRICE else "size", "near traded prices",
                                  frac, int(vals.size))
    pair = set41 & set51
    if pair.any():
        frac = float(np.mean(fid_41[pair] > fid_51[pair]))
        on_grid = bool(np.all(is_on_tick(fid_41[pair])) and np.all(is_on_tick(fid_51[pair])))
        meaning = "price" if frac >= _ASK_ABOVE_BID_FOR_PRICE and on_grid else "size"
        return Fid41Detection(meaning, "ask above bid", frac, int(pair.sum()))
    return Fid41Detection("size", "default", float("nan"), 0)


# ------------------------------------------------------------------------------------------ file discovery

def recording_files(path: str | Path | Iterable[str | Path]) -> list[Path]:
    """The files of a recording, in replay order.

    A directory gives its ``market_data_YYYYMMDD[_N].parquet`` files ordered by (date, part); a list of
    files is ordered the same way when every name has that form, otherwise kept as given.

    Raises:
      RecordingError: A path does not exist, or a directory holds no recording files.
    """
    items = [path] if isinstance(path, (str, Path)) else list(path)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = [f for f in p.iterdir() if f.is_file() and _DAILY_RE.match(f.name)]
            if not found:
                raise RecordingError(p, "directory holds no market_data_YYYYMMDD.parquet files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise RecordingError(p, "no such file or directory")
    if not files:
        raise RecordingError(str(path), "no recording files given")
    keys = [_DAILY_RE.match(f.name) for f in files]
    if all(keys):
        dated = [(m.group(1), int(m.group(2) or 0), i) for i, m in enumerate(keys) if m is not None]
        files = [files[i] for _, _, i in sorted(dated)]
    seen: set[Path] = set()
    unique = []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique


# ------------------------------------------------------------------------------------------ column decoding

def _combined(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if isinstance(arr, pa.ChunkedArray):  # pragma: no cover - combine_chunks of a nested type
        arr = pa.concat_arrays(arr.chunks)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def _first_true(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _value_at(arr: pa.Array, row: int) -> object:
    return arr[row].as_py()


@dataclass(frozen=True, slots=True)
class _Text:
    """A text column as distinct values and per-row indices (the fast form of low-cardinality columns).

    ``values`` are whitespace-trimmed and unique; ``index`` is int64 per row, -1 for a null or empty value.
    ``column`` keeps the original column for quoting offending values.
    """

    values: list[str]
    index: np.ndarray
    column: pa.ChunkedArray

    def raw(self, row: int) -> object:
        """The value of ``row`` as stored in the file."""
        return self.column[row].as_py()


def _encode_text(path: Path, name: str, col: pa.ChunkedArray, *, allow_empty: bool) -> _Text:
    """A string column (plain or dictionary; integers are zero-padded to 6 digits) → :class:`_Text`.

    Only the distinct values are handled in Python, so a 20-million-row column costs one pass of numpy.
    """
    canon: dict[str, int] = {}
    pieces: list[np.ndarray] = []
    for chunk in col.chunks:
        if pa.types.is_dictionary(chunk.type):
            values, indices = chunk.dictionary, chunk.indices
        else:
            if pa.types.is_integer(chunk.type):
                chunk = pc.utf8_lpad(pc.cast(chunk, pa.string()), 6, "0")
            elif pa.types.is_null(chunk.type):
                chunk = pa.nulls(len(chunk), pa.string())
            elif not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
                raise RecordingError(path, f"expected text, found a column of type {chunk.type}", column=name)
            enc = pc.dictionary_encode(chunk)
            values, indices = enc.dictionary, enc.indices
        if pa.types.is_integer(values.type):
            values = pc.utf8_lpad(pc.cast(values, pa.string()), 6, "0")
        elif not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            raise RecordingError(path, f"expected text, found a column of type {values.type}", column=name)
        local = np.array([-1 if v is None or not v.strip() else canon.setdefault(v.strip(), len(canon))
                          for v in values.to_pylist()] + [-1], dtype=np.int64)
        idx = np.asarray(indices.fill_null(len(values)).to_numpy(zero_copy_only=False), dtype=np.int64)
        pieces.append(local[idx])
    index = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    text = _Text(list(canon), index, col)
    if not allow_empty and (index < 0).any():
        row = _first_true(index < 0)
        raise RecordingError(path, f"empty value {text.raw(row)!r}", row=row, column=name)
    return text


def _decode_number(path: Path, name: str, col: pa.ChunkedArray) -> np.ndarray:
    """A FID column → int64 (float64 for fid_12); absent (null, NaN, empty) → 0; absolute unless signed."""
    is_float = name == "fid_12"
    arr = _combined(col)
    n = len(arr)
    t = arr.type
    if pa.types.is_null(t):
        return np.zeros(n, dtype=np.float64 if is_float else np.int64)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        s = pc.replace_substring(pc.utf8_trim_whitespace(arr), ",", "")
        s = pc.replace_substring_regex(s, r"^\+", "")
        s = pc.if_else(pc.equal(s, ""), pa.scalar(None, s.type), s)
        bad = np.asarray(pc.invert(pc.fill_null(pc.match_substring_regex(s, _NUMBER_RE), True))
                         .to_numpy(zero_copy_only=False), dtype=bool)
        if bad.any():
            row = _first_true(bad)
            raise RecordingError(path, f"{_value_at(arr, row)!r} is not a number", row=row, column=name)
        arr = pc.cast(s, pa.float64()) if is_float else _cast_int_text(s)
        t = arr.type
    if pa.types.is_boolean(t) or not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        raise RecordingError(path, f"expected numbers, found a column of type {t}", column=name)
    if pa.types.is_integer(t):
        values = np.asarray(pc.fill_null(arr, 0).cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        if is_float:
            values = values.astype(np.float64)
    else:
        values = np.asarray(pc.fill_null(arr, np.nan).cast(pa.float64()).to_numpy(zero_copy_only=False),
                            dtype=np.float64)
        values = np.where(np.isnan(values), 0.0, values)
        if not np.all(np.isfinite(values)):
            row = _first_true(~np.isfinite(values))
            raise RecordingError(path, f"{values[row]!r} is not a finite number", row=row, column=name)
        if not is_float:
            frac = values != np.floor(values)
            if frac.any():
                row = _first_true(frac)
                raise RecordingError(path, f"{values[row]!r} is not a whole number", row=row, column=name)
            values = values.astype(np.int64)
    return values if name in SIGNED_COLUMNS else np.abs(values)


def _cast_int_text(s: pa.Array) -> pa.Array:
    try:
        return pc.cast(s, pa.int64())
    except pa.ArrowInvalid:          # "84500.0" and the like: parse as float, whole-number check follows
        return pc.cast(s, pa.float64())


def _codes_of(path: Path, name: str, text: _Text, allowed: Sequence[str]) -> np.ndarray:
    """Index in ``allowed`` of each row's value; the first value outside it raises."""
    lookup = np.array([allowed.index(v) if v in allowed else -1 for v in text.values] + [-1], dtype=np.int64)
    out: np.ndarray = lookup[text.index]          # index -1 (null/empty) picks the trailing -1
    if (out < 0).any():
        row = _first_true(out < 0)
        raise RecordingError(path, f"unknown value {text.raw(row)!r} (expected one of {', '.join(allowed)})",
                             row=row, column=name)
    return out


@dataclass(slots=True)
class _FileData:
    path: Path
    rows: int
    t_ns: np.ndarray
    timestamp: pa.Array
    symbol_dict: list[str]
    symbol_idx: np.ndarray
    venue: np.ndarray
    rt: np.ndarray
    ask: np.ndarray
    bid: np.ndarray
    ask_qty: np.ndarray
    bid_qty: np.ndarray
    last: np.ndarray
    cum_volume: np.ndarray
    change: np.ndarray
    change_rate: np.ndarray
    detection: Fid41Detection
    source_rows: np.ndarray
    skipped_types: dict[str, int] = field(default_factory=dict)
    price_only_rows: int = 0
    vi_rows: int = 0
    vi_flagged: bool = False


def _vi_alternating(symbol_idx: np.ndarray, venue: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """For VI rows without FID 9068: True where a row starts a VI (the 1st, 3rd, ... row of its code and venue)."""
    out = np.zeros(vi.size, dtype=bool)
    idx = np.flatnonzero(vi)
    if idx.size == 0:
        return out
    stream = symbol_idx[idx].astype(np.int64) * 2 + venue[idx]
    o = idx[np.argsort(stream, kind="stable")]
    st = symbol_idx[o].astype(np.int64) * 2 + venue[o]
    first = np.ones(o.size, dtype=bool)
    first[1:] = st[1:] != st[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(o.size), 0))
    out[o] = (np.arange(o.size) - group_start) % 2 == 0
    return out


def _load_file(path: Path, assumed_qty: int) -> _FileData:
    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
    except (OSError, pa.ArrowException) as e:
        raise RecordingError(path, f"not a readable Parquet file ({e}); a file the recorder was writing when it "
                                   f"was killed has no footer and cannot be read") from None
    missing = [c for c in SEED_COLUMNS if c not in names]
    if missing:
        raise RecordingError(path, f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                   f"(seed 004 schema: {', '.join(SEED_COLUMNS)})", column=missing[0])
    size_cols = [c for c in SIZE_COLUMNS if c in names]
    if len(size_cols) == 1:
        other = next(c for c in SIZE_COLUMNS if c not in size_cols)
        raise RecordingError(path, f"has {size_cols[0]} but not {other}", column=other)
    has_sizes = len(size_cols) == 2
    vi_cols = [c for c in VI_COLUMNS if c in names]
    try:
        # Low-cardinality text columns come back as dictionaries: 5-10x faster than materialising strings.
        # page CRCs (the recorder writes them) are verified: a corrupt page is an error, never other numbers
        table = pq.read_table(path, columns=list(SEED_COLUMNS) + size_cols + vi_cols,
                              read_dictionary=["symbol", "venue", "real_type", "raw_code"],
                              page_checksum_verification=True)
    except (OSError, pa.ArrowException) as e:
        raise RecordingError(path, f"cannot read the data ({e})") from None
    n = table.num_rows

    t_ns, ok = parse_timestamps(table.column("timestamp"))
    if not ok.all():
        row = _first_true(~ok)
        raise RecordingError(path, f"cannot parse {_value_at(_combined(table.column('timestamp')), row)!r} as a naive "
                                   f"ISO timestamp like '2025-09-06T09:00:30.123456'", row=row, column="timestamp")
    ts_text = _combined(table.column("timestamp"))

    # Text columns are validated on their distinct values (a few hundred), then mapped to rows.
    symbol = _encode_text(path, "symbol", table.column("symbol"), allow_empty=False)
    symbol_dict = symbol.values
    symbol_idx = symbol.index
    bad_dict = np.array([re.match(_SYMBOL_RE, c) is None for c in symbol_dict] + [False])
    if bad_dict.any():
        row = _first_true(bad_dict[symbol_idx])
        raise RecordingError(path, f"{symbol.raw(row)!r} is not a 6-character stock code", row=row,
                             column="symbol")
    venue = _codes_of(path, "venue", _encode_text(path, "venue", table.column("venue"), allow_empty=False),
                      list(VENUE_CODES)).astype(np.uint8)

    rt_txt = _encode_text(path, "real_type", table.column("real_type"), allow_empty=False)
    rt_dict, rt_idx = rt_txt.values, rt_txt.index
    rt_lookup = np.empty(len(rt_dict), dtype=np.int64)
    for i, name in enumerate(rt_dict):
        if name == REAL_TYPE_QUOTE:
            rt_lookup[i] = RT_QUOTE
        elif name == REAL_TYPE_TRADE:
            rt_lookup[i] = RT_TRADE
        elif name in PRICE_ONLY_REAL_TYPES:
            rt_lookup[i] = _RT_PRICE_ONLY
        elif name == REAL_TYPE_VI:
            rt_lookup[i] = _RT_VI
        elif name in SKIPPED_REAL_TYPES:
            rt_lookup[i] = _RT_SKIP
        else:
            row = _first_true(rt_idx == i)
            raise RecordingError(path, f"unknown real type {rt_txt.raw(row)!r} (known: {REAL_TYPE_QUOTE}, "
                                       f"{REAL_TYPE_TRADE}, "
                                       f"{', '.join(sorted(PRICE_ONLY_REAL_TYPES | SKIPPED_REAL_TYPES))}, "
                                       f"{REAL_TYPE_VI})",
                                 row=row, column="real_type")
    rt = rt_lookup[rt_idx] if n else np.zeros(0, dtype=np.int64)
    counts = np.bincount(rt_idx, minlength=len(rt_dict)) if n else np.zeros(len(rt_dict), dtype=np.int64)
    skipped_types = {rt_dict[i]: int(counts[i]) for i in range(len(rt_dict)) if rt_lookup[i] == _RT_SKIP}

    raw = _encode_text(path, "raw_code", table.column("raw_code"), allow_empty=True)
    sym_pos = {c: i for i, c in enumerate(symbol_dict)}
    # Per distinct raw code: is it empty (no check), the symbol it names (-1: none of ours), its venue.
    raw_empty = np.array([False] * len(raw.values) + [True])
    parsed = [parse_code(r) for r in raw.values]     # an '_AL' code names none of our symbols
    raw_sym = np.array([sym_pos.get(c, -1) if v != AL else -1 for c, v in parsed] + [-1])
    raw_ven = np.array([1 if v == NXT else 0 for _, v in parsed] + [0])
    mismatch = ~raw_empty[raw.index] & ((raw_sym[raw.index] != symbol_idx) | (raw_ven[raw.index] != venue))
    if mismatch.any():
        row = _first_true(mismatch)
        raise RecordingError(path, f"raw_code {raw.raw(row)!r} contradicts symbol {symbol.raw(row)!r} "
                                   f"and venue {VENUE_CODES[int(venue[row])]!r}", row=row, column="raw_code")

    f = {c: _decode_number(path, c, table.column(c)) for c in ("fid_10", "fid_11", "fid_12", "fid_13", "fid_27",
                                                              "fid_28", "fid_41", "fid_51", *size_cols, *vi_cols)}
    # A typical price per symbol (median of its traded and quoted prices) for detection rule 3.
    ref = None
    if not has_sizes:
        px = np.concatenate([f["fid_10"], f["fid_27"], f["fid_28"]]).astype(np.float64)
        sy = np.tile(symbol_idx, 3)
        keep = px > 0
        if keep.any():
            med = pd.Series(px[keep]).groupby(sy[keep]).median()
            per_sym = np.zeros(len(symbol_dict))
            per_sym[med.index.to_numpy()] = med.to_numpy()
            ref = per_sym[symbol_idx]
    det = detect_fid41_meaning(f["fid_27"], f["fid_28"], f["fid_41"], f["fid_51"], ref, has_sizes)

    quote, trade, price_only = rt == RT_QUOTE, rt == RT_TRADE, rt == _RT_PRICE_ONLY
    f27, f28, f41, f51 = f["fid_27"], f["fid_28"], f["fid_41"], f["fid_51"]
    if det.meaning == "size":
        ask, bid = f27.copy(), f28.copy()
        ask_qty, bid_qty = np.where(price_only, 0, f41), np.where(price_only, 0, f51)
    else:
        # 41/51 are the book's prices: authoritative on 주식호가잔량 rows, a fallback elsewhere.
        ask = np.where(quote, np.where(f41 > 0, f41, f27), np.where(f27 > 0, f27, f41))
        bid = np.where(quote, np.where(f51 > 0, f51, f28), np.where(f28 > 0, f28, f51))
        ask = np.where(price_only, f27, ask)
        bid = np.where(price_only, f28, bid)
        if det.meaning == "price+sizes":
            ask_qty, bid_qty = np.where(price_only, 0, f["fid_61"]), np.where(price_only, 0, f["fid_71"])
        else:
            ask_qty = np.where(ask > 0, assumed_qty, 0)
            bid_qty = np.where(bid > 0, assumed_qty, 0)
    last = np.where(trade, f["fid_10"], 0)
    cum = np.where(trade, f["fid_13"], 0)
    change = np.where(trade, f["fid_11"], 0)
    change_rate = np.where(trade, f["fid_12"], 0.0)
    vi = rt == _RT_VI
    if vi_cols:
        flag = f["fid_9068"]
        vi_start, vi_end = vi & (flag == 1), vi & (flag == 2)
        unreadable = int((vi & ~vi_start & ~vi_end).sum())
        if unreadable:
            skipped_types = {**skipped_types, f"{REAL_TYPE_VI} (fid_9068 neither 1 nor 2)": unreadable}
            rt = np.where(vi & ~vi_start & ~vi_end, _RT_SKIP, rt)
    else:
        vi_start = _vi_alternating(symbol_idx, venue, vi)
        vi_end = vi & ~vi_start
    if vi.any():                  # a VI row carries no book, print or price
        for a in (ask, bid, ask_qty, bid_qty, last, cum, change):
            a[vi] = 0
        change_rate = np.where(vi, 0.0, change_rate)
    keep_rows = rt != _RT_SKIP
    rt_out = np.where(trade, RT_TRADE, np.where(vi_start, RT_VI_START, np.where(vi_end, RT_VI_END, RT_QUOTE)))
    rt_out = rt_out.astype(np.uint8)
    keep_all = bool(keep_rows.all())

    def k(a: np.ndarray) -> np.ndarray:
        return a if keep_all else a[keep_rows]

    return _FileData(
        path=path, rows=n, t_ns=k(t_ns),
        timestamp=ts_text if keep_all else ts_text.filter(pa.array(keep_rows, type=pa.bool_())),
        symbol_dict=symbol_dict, symbol_idx=k(symbol_idx), venue=k(venue), rt=k(rt_out), ask=k(ask), bid=k(bid),
        ask_qty=k(ask_qty), bid_qty=k(bid_qty), last=k(last), cum_volume=k(cum), change=k(change),
        change_rate=k(change_rate), detection=det, source_rows=np.nonzero(keep_rows)[0], skipped_types=skipped_types,
        price_only_rows=int(price_only.sum()), vi_rows=int((vi_start | vi_end).sum()), vi_flagged=bool(vi_cols))


def _derived_last_qty(code_idx: np.ndarray, venue: np.ndarray, is_trade: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Trade quantity = increase of cumulative volume since the previous trade row of the same stream."""
    out = np.zeros(code_idx.shape[0], dtype=np.int64)
    ti = np.nonzero(is_trade & (cum > 0))[0]
    if ti.size < 2:
        return out
    stream = code_idx[ti].astype(np.int64) * 2 + venue[ti]
    o = ti[np.argsort(stream, kind="stable")]          # time order kept within a stream
    st = code_idx[o].astype(np.int64) * 2 + venue[o]
    c = cum[o]
    same = np.zeros(o.size, dtype=bool)
    same[1:] = st[1:] == st[:-1]
    d = np.zeros(o.size, dtype=np.int64)
    d[1:] = c[1:] - c[:-1]
    out[o] = np.where(same & (d > 0), d, 0)
    return out


# ------------------------------------------------------------------------------------------ the recording

class DecodedRecording:
    """A recording (one file or several days) read, validated and decoded into columns, in time order.

    Args:
      path: A file, a directory of daily files, or a list of files (see :func:`recording_files`).
      universe_codes: Codes to keep, in the order of ``code_idx``; rows of other symbols are counted in
        :attr:`skipped_symbols` and reported in :attr:`notes`. None = every symbol in the recording (sorted).
      assumed_visible_qty: Shares assumed visible on each side when the recording has no sizes
        (``cfg.replay.assumed_visible_qty``).

    Attributes:
      codes: The symbols; ``start_ns``: time of the first kept row (ns since the epoch; of the first row of
      the recording when none is kept); ``end_ns``: of the last; ``sizes_known``; ``fid41_meaning``
      (``'price'``, ``'size'``, ``'price+sizes'``, or ``'mixed'`` when the files differ); ``detections`` per
      file; ``files``; ``rows_read`` (all rows of all files); ``rows_replayed`` (rows kept: in the universe and
      of a book real type); ``skipped_symbols`` code → rows; ``skipped_real_types`` real type → rows;
      ``notes`` (things an operator should know, one line each; the first is :meth:`describe`);
      ``description`` (one paragraph); ``events`` (the kept rows as an
      :class:`~kiwoom_bridge.event_batch.EventBatch`, ``last_qty`` derived); ``row_sizes_known`` (bool per
      kept row: False for rows of files without sizes).

    Raises:
      RecordingError: A file cannot be used (names the file, row and column), or the recording holds no rows.
        (A recording with no row of the universe is not an error: it keeps nothing and a note says so.)
    """

    def __init__(self, path: str | Path | Iterable[str | Path], universe_codes: Sequence[str] | None = None,
                 assumed_visible_qty: int = 100) -> None:
        if isinstance(assumed_visible_qty, bool) or not isinstance(assumed_visible_qty, (int, np.integer)) \
                or assumed_visible_qty < 1:
            raise ValueError(f"assumed_visible_qty must be a whole number of shares ≥ 1, got {assumed_visible_qty!r}")
        self.assumed_visible_qty = int(assumed_visible_qty)
        self.files: tuple[Path, ...] = tuple(recording_files(path))
        self.notes: list[str] = []
        loaded = [_load_file(p, self.assumed_visible_qty) for p in self.files]
        self.detections: dict[str, Fid41Detection] = {str(d.path): d.detection for d in loaded}
        self.rows_read = sum(d.rows for d in loaded)
        if self.rows_read == 0:
            raise RecordingError(self.files[0] if len(self.files) == 1 else ", ".join(map(str, self.files)),
                                 "the recording holds no rows")

        # Symbols: the universe's order, or every code of the recording.
        if universe_codes is not None:
            codes = tuple(universe_codes)
            if len(set(codes)) != len(codes):
                raise ValueError("universe_codes must be unique")
        else:
            codes = tuple(sorted({c for d in loaded for c in d.symbol_dict}))
        self.codes: tuple[str, ...] = codes
        position = {c: i for i, c in enumerate(codes)}

        parts: dict[str, list[np.ndarray]] = {k: [] for k in (
            "t_ns", "code_idx", "venue", "rt", "ask", "bid", "ask_qty", "bid_qty", "last", "cum_volume", "change",
            "change_rate", "sizes_known", "file_idx", "source_row")}
        texts: list[pa.Array] = []
        skipped_symbols: dict[str, int] = {}
        skipped_types: dict[str, int] = {}
        for fi, d in enumerate(loaded):
            lookup = np.array([position.get(c, -1) for c in d.symbol_dict] or [-1], dtype=np.int64)
            code_idx = lookup[d.symbol_idx] if d.symbol_idx.size else np.zeros(0, dtype=np.int64)
            inside = code_idx >= 0
            if not inside.all():
                out_codes, out_counts = np.unique(d.symbol_idx[~inside], return_counts=True)
                for c, k in zip(out_codes.tolist(), out_counts.tolist(), strict=True):
                    skipped_symbols[d.symbol_dict[c]] = skipped_symbols.get(d.symbol_dict[c], 0) + k
            for name, k in d.skipped_types.items():
                skipped_types[name] = skipped_types.get(name, 0) + k
            sel = slice(None) if inside.all() else np.nonzero(inside)[0]
            n_sel = d.t_ns.size if isinstance(sel, slice) else sel.size
            parts["t_ns"].append(d.t_ns[sel])
            parts["code_idx"].append(code_idx[sel])
            for name in ("venue", "rt", "ask", "bid", "ask_qty", "bid_qty", "last", "cum_volume", "change",
                         "change_rate"):
                parts[name].append(getattr(d, name)[sel])
            parts["sizes_known"].append(np.full(n_sel, d.detection.sizes_known))
            parts["file_idx"].append(np.full(n_sel, fi, dtype=np.int16))
            parts["source_row"].append(d.source_rows[sel])
            texts.append(d.timestamp if isinstance(sel, slice)
                         else d.timestamp.filter(pa.array(inside, type=pa.bool_())))
            if d.price_only_rows:
                self.notes.append(f"{d.path.name}: {d.price_only_rows:,} 주식우선호가/주식시세 rows replayed as "
                                  f"best ask/bid price updates (no sizes)")
            if d.vi_rows:
                how = ("start/end from fid_9068" if d.vi_flagged else
                       "no fid_9068 column: start and end assumed to alternate per code and venue, start first")
                self.notes.append(f"{d.path.name}: {d.vi_rows:,} {REAL_TYPE_VI} rows replayed as volatility "
                                  f"interruptions ({how})")
        col = {k: (v[0] if len(v) == 1 else np.concatenate(v)) for k, v in parts.items()}
        text = pa.concat_arrays([t.cast(pa.large_string()) for t in texts])

        order_note = None
        t_ns = col["t_ns"]
        if t_ns.size > 1 and np.any(np.diff(t_ns) < 0):
            back = int(np.sum(np.diff(t_ns) < 0))
            order = np.argsort(t_ns, kind="stable")
            col = {k: v[order] for k, v in col.items()}
            text = text.take(pa.array(order))
            order_note = (f"rows were not in time order ({back:,} steps back in time): stable-sorted by timestamp")
        self.skipped_symbols = skipped_symbols
        self.skipped_real_types = skipped_types
        self.rows_replayed = int(col["t_ns"].size)

        is_trade = col["rt"] == RT_TRADE
        last_qty = _derived_last_qty(col["code_idx"], col["venue"], is_trade, col["cum_volume"])

        def as_(name: str, dtype: type) -> np.ndarray:
            return np.ascontiguousarray(col[name], dtype=dtype)

        self.events = EventBatch(
            as_("t_ns", np.int64), as_("code_idx", np.int32), as_("venue", np.uint8), as_("rt", np.uint8),
            as_("ask", np.int64), as_("bid", np.int64), as_("ask_qty", np.int64), as_("bid_qty", np.int64),
            as_("last", np.int64), last_qty, as_("cum_volume", np.int64), as_("change", np.int64),
            as_("change_rate", np.float64))
        self.row_sizes_known = col["sizes_known"].astype(bool)
        self._file_idx = col["file_idx"]
        self._source_row = np.ascontiguousarray(col["source_row"], dtype=np.int64)
        self._text = text

        meanings = {d.detection.meaning for d in loaded}
        self.fid41_meaning: str = meanings.pop() if len(meanings) == 1 else "mixed"
        self.sizes_known: bool = all(d.detection.sizes_known for d in loaded)
        if self.rows_replayed:
            first_t = int(self.events.t_ns[0])
        else:   # nothing in the universe: the clock still starts where the recording starts
            first_t = min((int(d.t_ns.min()) for d in loaded if d.t_ns.size), default=0)
        self.start_ns: int = first_t
        self.end_ns: int = int(self.events.t_ns[-1]) if self.rows_replayed else first_t

        # Notes, in the order an operator reads them.
        self.notes.insert(0, self.describe())
        if self.fid41_meaning == "mixed":
            for p, det in self.detections.items():
                self.notes.append(f"{Path(p).name}: {det.text(self.assumed_visible_qty)}")
        if order_note:
            self.notes.append(order_note)
        if skipped_types:
            self.notes.append("not replayed (not the continuous book): " + ", ".join(
                f"{k:,} {name} rows" for name, k in sorted(skipped_types.items())))
        if skipped_symbols:
            total = sum(skipped_symbols.values())
            shown = ", ".join(f"{c} ({k:,})" for c, k in sorted(skipped_symbols.items())[:10])
            more = f" and {len(skipped_symbols) - 10} more" if len(skipped_symbols) > 10 else ""
            self.notes.append(f"{total:,} rows of {len(skipped_symbols)} symbols not in the universe skipped: "
                              f"{shown}{more}")
        if universe_codes is not None:
            present = np.zeros(len(codes), dtype=bool)
            present[np.unique(self.events.code_idx)] = True
            absent = [c for c, p in zip(codes, present, strict=True) if not p]
            if absent:
                self.notes.append(f"{len(absent)} universe symbols have no rows in the recording: "
                                  f"{', '.join(absent[:10])}{' ...' if len(absent) > 10 else ''}")
        if self.rows_replayed == 0:
            self.notes.append("nothing to replay: no row belongs to the universe")
        elif not is_trade.any():
            self.notes.append("no 주식체결 rows: the recording has no trade prints (posted orders cannot fill)")
        elif not (last_qty > 0).any():
            self.notes.append("trade quantities unknown (no fid_13 cumulative volume): last_qty 0")
        else:
            self.notes.append("trade quantity (last_qty) derived from fid_13 cumulative-volume increases")

        span = (f"{format_timestamp(self.start_ns)}–{format_timestamp(self.end_ns)}" if self.rows_replayed
                else "no rows")
        self.description = (
            f"replay of {self.files[0].name if len(self.files) == 1 else f'{len(self.files)} files'}: "
            f"{self.rows_replayed:,} of {self.rows_read:,} rows, {len(self.codes)} symbols, {span}; "
            f"{self.describe()}")

    # ---------------------------------------------------------------------------------- reporting
    def describe(self) -> str:
        """One line: what ``fid_41``/``fid_51`` were found to hold and whether sizes are known."""
        if self.fid41_meaning == "mixed":
            n_price = sum(1 for d in self.detections.values() if d.meaning == "price")
            return (f"files differ: {n_price} of {len(self.detections)} hold PRICES in fid_41/fid_51 without "
                    f"sizes (assumed {self.assumed_visible_qty} shares there, size check NOT applied to them); "
                    f"the others have sizes")
        det = next(iter(self.detections.values()))
        if len(self.detections) > 1:
            comp = sum(d.compared for d in self.detections.values())
            fr = [d.fraction * d.compared for d in self.detections.values() if d.compared]
            if comp and fr and det.rule != "fid_61/fid_71 present":
                det = Fid41Detection(det.meaning, det.rule, sum(fr) / comp, comp)
        return det.text(self.assumed_visible_qty)

    def columns(self, with_text: bool = True) -> RecordingColumns:
        """The whole decoded recording as numpy arrays.

        Args:
          with_text: Include the original timestamp strings (an object array; costs memory on big days).
        """
        b = self.events
        return RecordingColumns(
            codes=self.codes, t_ns=b.t_ns, timestamp=(self._text.to_numpy(zero_copy_only=False) if with_text else None),
            code_idx=b.code_idx, venue=b.venue, real_type=b.real_type, ask=b.ask, bid=b.bid, ask_qty=b.ask_qty,
            bid_qty=b.bid_qty, last=b.last, last_qty=b.last_qty, cum_volume=b.cum_volume, change=b.change,
            change_rate=b.change_rate, has_ask=b.ask > 0, has_bid=b.bid > 0, has_ask_qty=b.ask_qty > 0,
            has_bid_qty=b.bid_qty > 0, has_last=b.last > 0, sizes_known=self.row_sizes_known,
            file_idx=self._file_idx, source_row=self._source_row, files=tuple(str(f) for f in self.files))
