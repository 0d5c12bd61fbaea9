"""The append-only audit log of every order event (seed 003 §8 "Minimal log schema").

One row per event: send, send_refused, ack, reject, accepted, fill, cancel_send, cancel_confirmed, timeout,
denied. Columns are :data:`AUDIT_COLUMNS` in that order; a key the caller did not give is written empty.

* **CSV** (``persistence.exec_log_format: csv``, the default): each row is written and flushed as it
  comes, the header once. Reopening an existing file appends after its last row, never rewriting what is
  there; a file whose header differs from :data:`AUDIT_COLUMNS` is refused (:class:`AuditSchemaError`)
  rather than mixed. Crash-safe up to the last flushed row.
* **Parquet**: rows are buffered and written in row groups (``row_group_size`` rows) by one
  ``pyarrow.parquet.ParquetWriter``; :meth:`AuditLog.close` writes the rest and the footer. A Parquet
  file cannot be appended to, so when the target already exists the log writes the next free part file
  (``audit.part1.parquet``, ``audit.part2.parquet`` …) beside it; :func:`read_audit` reads them all.
  A process killed before ``close`` loses the unflushed rows and leaves a file without a footer: prefer
  CSV where crash safety matters more than size.

Columns ``t_ns`` (engine clock, ns since the epoch) and, in Parquet, ``qty``, ``price``, ``leaves_qty``,
``fill_qty``, ``fill_px`` and ``rc`` are integers; everything else is text as the broker gave it.
"""
from __future__ import annotations

import csv
import glob
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from core.clock import kst_datetime
from core.observations import AuditEvent, OrderAudited

__all__ = ["AUDIT_COLUMNS", "AuditLog", "AuditSchemaError", "INT_COLUMNS", "audit_path", "audit_row", "read_audit"]

log = logging.getLogger("arb.audit")

#: The audit columns, in file order (seed 003 minimal log schema + SendOrder's return code + engine ns).
AUDIT_COLUMNS: tuple[str, ...] = (
    "ts", "event_type", "pair_id", "leg", "venue", "symbol",
    "order_no", "orig_order_no",
    "side", "qty", "hoga_code", "price",
    "leaves_qty", "fill_qty", "fill_px", "exec_id",
    "screen_no", "rq_name", "tr_code",
    "sGubun", "fid_9203", "fid_904", "fid_913", "fid_902", "fid_910", "fid_911", "fid_909", "fid_919", "fid_908",
    "message_text", "rc", "t_ns",
)
#: Columns stored as integers in Parquet (the CSV is text throughout).
INT_COLUMNS: frozenset[str] = frozenset({"qty", "price", "leaves_qty", "fill_qty", "fill_px", "rc", "t_ns"})

_SCHEMA = pa.schema([(c, pa.int64() if c in INT_COLUMNS else pa.string()) for c in AUDIT_COLUMNS])
_FORMATS = ("csv", "parquet")


class AuditSchemaError(ValueError):
    """An existing audit file has other columns than :data:`AUDIT_COLUMNS`; it is not appended to."""


def audit_path(run_dir: str | os.PathLike[str], fmt: str) -> Path:
    """The audit log's path in a run directory: ``run_dir/audit.csv`` or ``run_dir/audit.parquet``."""
    if fmt not in _FORMATS:
        raise ValueError(f"audit format must be one of {_FORMATS}, got {fmt!r}")
    return Path(run_dir) / f"audit.{fmt}"


def _ts_from_ns(t_ns: Any) -> str:
    try:
        return kst_datetime(int(t_ns)).isoformat(timespec="microseconds")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def _as_int(value: Any) -> int | None:
    """An integer column value, or None when empty or not a whole number (the raw text is then lost)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        number = float(str(value).strip().replace(",", ""))
    except ValueError:
        return None
    if not math.isfinite(number) or not number.is_integer():
        return None
    return int(number)


def audit_row(obs: OrderAudited) -> dict[str, Any]:
    """The audit-log row of one :class:`~core.observations.OrderAudited` (columns :data:`AUDIT_COLUMNS`).

    The seed's ``fid_*`` and ``sGubun`` columns hold the broker's values of an execution notice (a row
    with a ``broker_status``): 9203 order number, 904 original order, 913 the broker's status word,
    902 leaves, 910/911 this fill's price and quantity, 909 execution number, 919 the refusal reason.
    """
    notice = bool(obs.broker_status)
    leg = obs.role.value if obs.role is not None else ("cancel" if obs.is_cancel else "")
    row: dict[str, Any] = {
        "ts": _ts_from_ns(obs.t_ns), "event_type": obs.event.value, "pair_id": obs.pair_id, "leg": leg,
        "venue": obs.venue.value if obs.venue is not None else None, "symbol": obs.code or None,
        "order_no": obs.order_no, "orig_order_no": obs.orig_order_no or None,
        "side": obs.side.value if obs.side is not None else None, "qty": obs.qty,
        "hoga_code": obs.wire_style or None, "price": obs.price, "leaves_qty": obs.leaves_qty,
        "fill_qty": obs.fill_qty, "fill_px": obs.fill_px, "exec_id": obs.exec_id or None,
        "screen_no": obs.screen_no or None, "rq_name": obs.request_name, "tr_code": obs.request_code or None,
        "message_text": obs.message or None, "rc": obs.wire_code, "t_ns": obs.t_ns,
    }
    if notice:
        row.update({"sGubun": "0", "fid_9203": obs.order_no, "fid_904": obs.orig_order_no, "fid_913": obs.broker_status,
                    "fid_902": obs.leaves_qty})
        if obs.event is AuditEvent.FILL:
            row.update({"fid_910": obs.fill_px, "fid_911": obs.fill_qty, "fid_909": obs.exec_id})
        elif obs.event is AuditEvent.REJECT:
            row["fid_919"] = obs.message
    return row


class AuditLog:
    """Append-only audit log writer (CSV or Parquet), one row per order event.

    Use as a context manager or call :meth:`close`. Not thread-safe (one actor owns it).

    Args:
      path: File to write (``.csv`` or ``.parquet``; parent directories are created).
      fmt: ``"csv"`` or ``"parquet"``.
      row_group_size: Parquet only: rows per row group (also the buffer size), > 0.
      fsync: CSV only: also ``os.fsync`` after every row (slower; survives a machine crash, not just ours).
    """

    def __init__(self, path: str | os.PathLike[str], fmt: str = "csv", *, row_group_size: int = 1000,
                 fsync: bool = False) -> None:
        if fmt not in _FORMATS:
            raise ValueError(f"audit format must be one of {_FORMATS}, got {fmt!r}")
        if row_group_size <= 0:
            raise ValueError(f"row_group_size must be > 0, got {row_group_size}")
        self.fmt = fmt
        self.requested_path = Path(path)
        self.requested_path.parent.mkdir(parents=True, exist_ok=True)
        self.row_group_size = int(row_group_size)
        self.fsync = fsync
        self.rows = 0
        """Rows accepted by this writer (written or buffered)."""
        self.coerce_failures = 0
        """Parquet only: non-numeric values in integer columns, stored as null."""
        self.closed = False
        self._buffer: list[dict[str, Any]] = []
        self._writer: pq.ParquetWriter | None = None
        self._file: Any = None
        self._csv: Any = None
        if fmt == "csv":
            self.path = self.requested_path
            self._open_csv()
        else:
            self.path = self._free_parquet_path(self.requested_path)

    # -- opening -----------------------------------------------------------------------------
    def _open_csv(self) -> None:
        exists = self.path.exists() and self.path.stat().st_size > 0
        ends_with_newline = True
        if exists:
            with open(self.path, encoding="utf-8", newline="") as fh:
                header = next(csv.reader(fh), [])
            if tuple(header) != AUDIT_COLUMNS:
                raise AuditSchemaError(f"{self.path}: existing header {header[:4]}… differs from the audit "
                                       f"columns; refusing to append (move the file away)")
            with open(self.path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                ends_with_newline = fh.read(1) in (b"\n", b"\r")
        self._file = open(self.path, "a", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file)
        if not exists:
            self._csv.writerow(AUDIT_COLUMNS)
            self._file.flush()
        elif not ends_with_newline:
            self._file.write("\r\n")        # a torn last line stays torn but the next row starts clean
            self._file.flush()

    @staticmethod
    def _free_parquet_path(path: Path) -> Path:
        if not path.exists():
            return path
        stem = path.name[: -len(".parquet")] if path.name.endswith(".parquet") else path.name
        n = 1
        while True:
            candidate = path.with_name(f"{stem}.part{n}.parquet")
            if not candidate.exists():
                return candidate
            n += 1

    # -- writing -----------------------------------------------------------------------------
    def write(self, row: Mapping[str, Any]) -> None:
        """Append one event row. Missing keys are written empty; unknown keys are ignored.

        ``ts`` defaults to ``t_ns`` as Asia/Seoul ISO time when absent.

        Raises:
          ValueError: If the log is closed.
          OSError: If the file cannot be written (disk full, ...).
        """
        if self.closed:
            raise ValueError(f"audit log {self.path} is closed")
        record = {c: row.get(c) for c in AUDIT_COLUMNS}
        if record["ts"] in (None, "") and record["t_ns"] not in (None, ""):
            record["ts"] = _ts_from_ns(record["t_ns"])
        if self.fmt == "csv":
            self._csv.writerow([_text(record[c]) for c in AUDIT_COLUMNS])
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        else:
            self._buffer.append(record)
            if len(self._buffer) >= self.row_group_size:
                self._flush_parquet()
        self.rows += 1

    def flush(self) -> None:
        """CSV: flush to the OS. Parquet: write the buffered rows as a row group (readable after close)."""
        if self.closed:
            return
        if self.fmt == "csv":
            self._file.flush()
        else:
            self._flush_parquet()

    def _flush_parquet(self) -> None:
        if not self._buffer:
            return
        columns: dict[str, list[Any]] = {c: [] for c in AUDIT_COLUMNS}
        for record in self._buffer:
            for c in AUDIT_COLUMNS:
                value = record[c]
                if c in INT_COLUMNS:
                    number = _as_int(value)
                    if number is None and value not in (None, ""):
                        self.coerce_failures += 1
                        if self.coerce_failures == 1:
                            log.warning("audit: non-integer %s=%r stored as null (further ones counted)", c, value)
                    columns[c].append(number)
                else:
                    columns[c].append(None if value is None else _text(value))
        table = pa.Table.from_pydict(columns, schema=_SCHEMA)
        if self._writer is None:
            self._writer = pq.ParquetWriter(str(self.path), _SCHEMA)
        self._writer.write_table(table, row_group_size=self.row_group_size)
        self._buffer = []

    def close(self) -> None:
        """Write what is buffered and close the file. Idempotent."""
        if self.closed:
            return
        try:
            if self.fmt == "csv":
                if self._file is not None:
                    self._file.close()
            else:
                self._flush_parquet()
                if self._writer is None:          # no rows at all: still leave a valid, empty file
                    self._writer = pq.ParquetWriter(str(self.path), _SCHEMA)
                self._writer.close()
        finally:
            self.closed = True

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, fmt={self.fmt!r}, rows={self.rows}, closed={self.closed})"


def read_audit(path: str | os.PathLike[str]) -> Any:
    """Read an audit log (CSV, or Parquet with its part files) into a pandas DataFrame, in file order.

    CSV columns are read as text (leading zeros of codes and order numbers survive); ``t_ns`` and the
    integer columns are converted to nullable integers.

    Raises:
      FileNotFoundError: If ``path`` does not exist.
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no audit log at {p}")
    if p.suffix == ".parquet":
        stem = p.name[: -len(".parquet")]
        parts = sorted(glob.glob(str(p.with_name(f"{glob.escape(stem)}.part*.parquet"))),
                       key=lambda s: int(s.rsplit(".part", 1)[1].split(".")[0]))
        int_mapper = {pa.int64(): pd.Int64Dtype()}.get
        frames = [pq.read_table(str(f)).to_pandas(types_mapper=int_mapper) for f in [str(p), *parts]]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(AUDIT_COLUMNS))
    df = pd.read_csv(p, dtype=str, keep_default_na=False, on_bad_lines="warn")
    for c in INT_COLUMNS & set(df.columns):
        df[c] = pd.to_numeric(df[c].replace("", None), errors="coerce").astype("Int64")
    return df

