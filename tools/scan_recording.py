"""``arbctl scan``: read a recording, run the scan kernel (:mod:`core.scan`) over it, tabulate the windows.

The rule and the windows are :mod:`core.scan`'s; this module does the I/O around them: the recording (through
:class:`kiwoom_bridge.recording_reader.DecodedRecording`), the config and universe file, the window table
(pandas) with the recording's own timestamp text, the summary and the CSV.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from config.schema import EngineConfig
from core.clock import kst_date
from core.costs import CostModel, settlement_date
from core.scan import (
    DIRECTIONS,
    W_BPS,
    W_DIR,
    W_END,
    W_KRW,
    W_QTY,
    W_START,
    W_SYM,
    W_UPDATES,
    ScanParams,
    scan_arrays,
    warm_up,
)

__all__ = ["CSV_COLUMNS", "ScanError", "ScanResult", "scan_command", "scan_recording"]

#: The CSV header, in order.
CSV_COLUMNS: tuple[str, ...] = ("symbol", "direction", "start", "end", "best_net_krw", "best_net_bps",
                                "max_qty", "updates")
_DIRECTION_TEXT: tuple[str, ...] = tuple(d.label for d in DIRECTIONS)


class ScanError(ValueError):
    """The scan cannot run (a bad recording, config or universe file); ``str()`` is one line."""


def _params_from_config(cfg: EngineConfig, trade_date: Any, markets: Mapping[str, str]) -> ScanParams:
    try:
        costs = CostModel.for_date(cfg.fees, trade_date, extra_holidays=cfg.sessions.extra_holidays)
    except KeyError as exc:  # fees.tax has no rate for the year
        raise ScanError(f"fees.tax: {exc.args[0]}") from None
    except ValueError as exc:
        raise ScanError(f"recording date {trade_date}: {exc}") from None
    overrides = {code: float(ov.edge_buffer_ticks) for code, ov in cfg.symbols.per_symbol_overrides.items()
                 if ov.edge_buffer_ticks is not None}
    rule = cfg.spread_engine.edge_rule
    return ScanParams(costs=costs, min_net_ticks_default=float(rule.min_net_ticks_after_fees),
                      min_net_ticks_override=overrides,
                      min_qty=int(max(cfg.execution.slice_qty, rule.also_require_min_visible_qty)),
                      markets=dict(markets))


# ------------------------------------------------------------------------------------------ the result

@dataclass(slots=True)
class ScanResult:
    """The windows of one recording and what the scan knew when it found them.

    Attributes:
      windows: DataFrame with exactly :data:`CSV_COLUMNS`, in order of start (replay order), then direction.
        ``start``/``end`` are the input's timestamp text (``end`` ``""`` = still open at the end);
        ``best_net_krw`` KRW per share, ``best_net_bps`` bps of the buy price, ``max_qty`` shares.
      start_row, end_row: int64 replay-row index of each window's start/end (-1 = open).
      rows: Rows replayed (the rows of the book's real types); rows_read: rows in the files.
      evaluations: Rows that were quote updates (each one evaluation of its symbol).
      symbols: Symbols in the recording.
      fid41_meaning: ``'price'``, ``'size'``, ``'price+sizes'`` or ``'mixed'``; describe: the replay's line.
      size_check: ``'applied'``, ``'not applied'`` (no sizes in the file) or ``'partly applied'``.
      min_qty: The size threshold, shares; assumed_visible_qty: shares assumed where sizes are unknown.
      defaulted_markets: Symbols not in the universe, taken as KOSPI; kosdaq_symbols: symbols taxed as KOSDAQ.
      trade_date, tax_year, costs: The recording's date and the cost model used.
      load_s: Seconds reading and decoding the files (and loading the compiled kernel); scan_s: seconds in the
        kernel (the rate basis);
      finish_s: seconds building the window table (incl. reading the timestamps' text back).
      notes: The replay's notes (skipped real types, ordering, ...).
    """

    windows: pd.DataFrame
    start_row: np.ndarray
    end_row: np.ndarray
    rows: int
    rows_read: int
    evaluations: int
    symbols: int
    fid41_meaning: str
    describe: str
    size_check: str
    min_qty: int
    assumed_visible_qty: int
    defaulted_markets: int
    kosdaq_symbols: int
    trade_date: Any
    tax_year: int | None
    costs: CostModel | None
    load_s: float
    scan_s: float
    finish_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        """Replayed rows per second of kernel time (``inf`` when too fast to measure)."""
        return self.rows / self.scan_s if self.scan_s > 0 else math.inf

    def count_by_direction(self) -> dict[str, int]:
        """Number of windows per direction text (both keys always present)."""
        counts = self.windows["direction"].value_counts()
        return {d: int(counts.get(d, 0)) for d in _DIRECTION_TEXT}

    def size_check_text(self) -> str:
        """One line on whether the visible-size rule was applied."""
        if self.size_check == "applied":
            return f"size check applied: both visible sizes ≥ {self.min_qty} shares"
        if self.size_check == "partly applied":
            return (f"size check applied only to rows of files with sizes (≥ {self.min_qty} shares); NOT applied "
                    f"to the others (assumed {self.assumed_visible_qty} shares)")
        return (f"size check NOT applied: the file has no sizes (assumed {self.assumed_visible_qty} shares; "
                f"the rule would require ≥ {self.min_qty})")

    def to_csv(self, path: str | Path) -> Path:
        """Write :attr:`windows` as CSV with header :data:`CSV_COLUMNS`; floats with 6 decimals. Returns path."""
        path = Path(path)
        self.windows.to_csv(path, index=False, float_format="%.6f")
        return path

    def summary_lines(self, top: int = 10) -> list[str]:
        """Human summary: rows, symbols, windows by direction, the ``top`` windows by best_net_bps."""
        by_dir = self.count_by_direction()
        lines = [
            f"rows: {self.rows:,} replayed of {self.rows_read:,} read, {self.evaluations:,} quote updates "
            f"evaluated; symbols: {self.symbols:,}",
            f"costs: {self.trade_date} (tax year {self.tax_year}), KRX {self.costs.krx_fee_bps:g} bps, "
            f"NXT {self.costs.nxt_fee_bps:g} bps per leg, sell tax KOSPI {self.costs.tax_bps('KOSPI'):g} / "
            f"KOSDAQ {self.costs.tax_bps('KOSDAQ'):g} bps" if self.costs is not None else "costs: (no rows)",
            f"markets: {_plural(self.symbols - self.defaulted_markets, 'symbol')} from the universe file "
            f"({self.kosdaq_symbols:,} KOSDAQ), {self.defaulted_markets:,} not in it taken as KOSPI",
            f"windows: {len(self.windows):,} ({', '.join(f'{d} {k:,}' for d, k in by_dir.items())})",
            f"timing: load {self.load_s:.2f} s, scan {self.scan_s:.3f} s "
            f"({_rate(self.rows_per_s)} rows/s), table {self.finish_s:.2f} s",
        ]
        if len(self.windows):
            best = self.windows.sort_values("best_net_bps", ascending=False, kind="stable").head(top)
            lines.append(f"top {len(best)} windows by best_net_bps:")
            lines.extend("  " + ln for ln in _table(best).splitlines())
        return lines


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _rate(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:,.0f}"


def _table(df: pd.DataFrame) -> str:
    shown = df.copy()
    shown["best_net_krw"] = shown["best_net_krw"].map(lambda v: f"{v:.2f}")
    shown["best_net_bps"] = shown["best_net_bps"].map(lambda v: f"{v:.2f}")
    shown["end"] = shown["end"].map(lambda v: v if v else "(open)")
    text: str = shown.to_string(index=False)
    return text


def _timestamp_text(files: tuple[str, ...], file_idx: np.ndarray, source_row: np.ndarray,
                    rows: np.ndarray) -> np.ndarray:
    """The original timestamp text of replay rows ``rows`` (object array), read back from the files.

    Only the ``timestamp`` column of the files that hold some of the rows is read; values that are not text
    are cast to text as replay does.
    """
    out = np.empty(rows.shape[0], dtype=object)
    if not rows.shape[0]:
        return out
    fi = file_idx[rows]
    for f in np.unique(fi).tolist():
        sel = np.nonzero(fi == f)[0]
        col = pq.read_table(files[f], columns=["timestamp"]).column("timestamp")
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            col = col.cast(pa.large_string())
        out[sel] = col.take(pa.array(source_row[rows[sel]])).to_numpy(zero_copy_only=False)
    return out


def _load_markets(cfg: Any, config_path: str | Path | None) -> dict[str, str]:
    from config.loader import resolve_path
    from config.universe_file import UniverseError, load_universe

    value = cfg.symbols.universe_file
    path = resolve_path(value, config_path)
    try:
        universe = load_universe(path)
    except UniverseError as exc:
        more = f" (+{len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        first = exc.problems[0] if exc.problems else "unreadable"
        raise ScanError(f"symbols.universe_file: {path}: {first}{more}") from None
    return {s.code: str(s.market) for s in universe.symbols}


def scan_recording(path: str | Path | Iterable[str | Path], cfg: Any,
                   universe_markets: Mapping[str, str] | None = None) -> ScanResult:
    """Scan a recording (file, directory of daily files, or list of files) for eligibility windows.

    Args:
      path: The recording (see :func:`kiwoom_bridge.emulator.replay.recording_files`).
      cfg: An :class:`config.schema.EngineConfig` (:func:`config.loader.load_config`).
      universe_markets: Code → ``'KOSPI'``/``'KOSDAQ'``. None: read ``cfg.symbols.universe_file``. Symbols
        of the recording not in it are taken as KOSPI.

    Raises:
      RecordingError: The recording cannot be used (names file, row, column).
      ScanError: The universe file or the fee/tax configuration cannot serve this recording.
    """
    from kiwoom_bridge.recording_reader import DecodedRecording

    markets = dict(universe_markets) if universe_markets is not None else _load_markets(cfg, None)
    t0 = time.perf_counter()
    src = DecodedRecording(path, universe_codes=None, assumed_visible_qty=cfg.replay.assumed_visible_qty)
    cols = src.columns(with_text=False)
    warm_up()                         # numba's compile or on-disk cache load belongs to start-up, not the scan
    load_s = time.perf_counter() - t0

    codes = cols.codes
    rows = len(cols)
    if rows:
        trade_date = kst_date(int(src.start_ns))
        params = _params_from_config(cfg, trade_date, markets)
        tax, mnt, defaulted = params.per_symbol(codes)
        costs: CostModel | None = params.costs
        min_qty = params.min_qty
    else:
        trade_date, costs = None, None
        tax = mnt = np.zeros(len(codes), dtype=np.float64)
        defaulted = sum(1 for c in codes if c not in markets)
        rule = cfg.spread_engine.edge_rule
        min_qty = int(max(cfg.execution.slice_qty, rule.also_require_min_visible_qty))
    kosdaq = sum(1 for c in codes if markets.get(c) == "KOSDAQ")

    check_size = np.ascontiguousarray(cols.sizes_known, dtype=np.bool_)
    if src.fid41_meaning == "mixed":
        size_check = "partly applied"
    else:
        size_check = "applied" if src.sizes_known else "not applied"

    t1 = time.perf_counter()
    wi, wf, n_eval = scan_arrays(
        cols.code_idx, cols.venue, cols.ask, cols.bid, cols.ask_qty, cols.bid_qty,
        np.ascontiguousarray(cols.has_ask), np.ascontiguousarray(cols.has_bid),
        np.ascontiguousarray(cols.has_ask_qty), np.ascontiguousarray(cols.has_bid_qty), check_size,
        tax, mnt, costs.krx_fee_bps if costs else 0.0, costs.nxt_fee_bps if costs else 0.0, min_qty)
    scan_s = time.perf_counter() - t1

    t2 = time.perf_counter()
    start_row = wi[:, W_START].copy()
    end_row = wi[:, W_END].copy()
    is_open = end_row < 0
    needed = np.unique(np.concatenate([start_row, end_row[~is_open]]))
    text = _timestamp_text(cols.files, cols.file_idx, cols.source_row, needed)
    start_text = text[np.searchsorted(needed, start_row)]
    end_text = np.full(len(wi), "", dtype=object)
    end_text[~is_open] = text[np.searchsorted(needed, end_row[~is_open])]
    windows = pd.DataFrame({
        "symbol": np.asarray(codes, dtype=object)[wi[:, W_SYM]],
        "direction": np.asarray(_DIRECTION_TEXT, dtype=object)[wi[:, W_DIR]],
        "start": start_text,
        "end": end_text,
        "best_net_krw": wf[:, W_KRW],
        "best_net_bps": wf[:, W_BPS],
        "max_qty": wi[:, W_QTY],
        "updates": wi[:, W_UPDATES],
    }, columns=list(CSV_COLUMNS))
    finish_s = time.perf_counter() - t2

    tax_year = None
    if trade_date is not None:
        tax_year = settlement_date(trade_date, cfg.sessions.extra_holidays).year
    return ScanResult(
        windows=windows, start_row=start_row, end_row=end_row, rows=rows, rows_read=int(src.rows_read),
        evaluations=n_eval, symbols=len(codes), fid41_meaning=src.fid41_meaning, describe=src.describe(),
        size_check=size_check, min_qty=min_qty, assumed_visible_qty=src.assumed_visible_qty,
        defaulted_markets=defaulted, kosdaq_symbols=kosdaq, trade_date=trade_date, tax_year=tax_year,
        costs=costs, load_s=load_s, scan_s=scan_s, finish_s=finish_s, notes=list(src.notes[1:]))


# ------------------------------------------------------------------------------------------ the command

def scan_command(file: str | Path, config_path: str | Path | None = None, out_csv: str | Path | None = None,
                 *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """``arbctl scan FILE [--config PATH] [--out CSV]``: scan, print a summary, write or show the windows.

    Prints the detected fid_41 meaning, whether the size check was applied, the summary (rows, symbols,
    windows by direction, top 10 by best_net_bps), then the CSV path (with ``out_csv``) or the first 20
    windows. Returns 0 on success (also with no window), 2 after one ``error: ...`` line on stderr when the
    recording, the config or the universe file cannot be used or the CSV cannot be written.
    """
    from config.loader import ConfigError, load_config
    from kiwoom_bridge.recording import RecordingError

    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr

    def fail(message: str) -> int:
        print(f"error: {' '.join(message.split())}", file=err)
        return 2

    try:
        cfg = load_config(config_path)
        markets = _load_markets(cfg, config_path)
        result = scan_recording(file, cfg, universe_markets=markets)
    except (ConfigError, ScanError, RecordingError) as exc:
        return fail(str(exc))
    except (OSError, pa.ArrowException) as exc:
        return fail(f"{file}: {exc}")
    print(f"detected: {result.describe}", file=out)
    print(result.size_check_text(), file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)
    for line in result.summary_lines(top=10):
        print(line, file=out)
    if out_csv is not None:
        try:
            path = result.to_csv(out_csv)
        except OSError as exc:
            return fail(f"cannot write {out_csv}: {exc.strerror or exc}")
        print(f"wrote {len(result.windows):,} windows to {path}", file=out)
    elif len(result.windows):
        first = result.windows.head(20)
        print(f"first {len(first)} of {len(result.windows):,} windows (use --out CSV for all):", file=out)
        for line in _table(first).splitlines():
            print("  " + line, file=out)
    else:
        print("no eligible window in this recording", file=out)
    return 0
