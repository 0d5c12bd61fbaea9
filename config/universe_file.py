"""The universe file: the operator's list of stocks, read and validated into a :class:`core.universe.Universe`.

A universe file is a CSV or an XLSX with one row per stock. The code column is ``code`` or seed 004's
``Symbol`` (header match is case-insensitive; the Korean ``종목코드`` is accepted too); optional columns
are ``name`` (``종목명``), ``market`` (KOSPI/KOSDAQ or 코스피/코스닥/유가증권/코스닥시장) and ``nxt``
(true/false/1/0/y/n/yes/no; empty = true). The first non-empty row is the header.

Codes are read as text, so ``005930`` keeps its zeros. Excel often stores codes as numbers (``5930`` or
``5930.0``); such codes are padded back to six digits and a note says so. Every other problem (a code
that is not six digits, a duplicate, an unknown market, a venue code such as ``005930_NX`` where the plain
code belongs) is collected with the line number an editor or Excel shows (header = line 1), and all of
them are raised together in one :class:`UniverseError`.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from core.universe import Symbol, Universe, is_code

__all__ = ["UniverseError", "check_universe", "load_universe"]

#: Venue suffixes of Kiwoom's real-time codes: written where the plain code belongs, they are refused
#: with a message naming the code to write instead.
_VENUE_SUFFIXES = ("_NX", "_AL")
_CODE_HEADERS = ("code", "symbol", "종목코드", "단축코드")
_NAME_HEADERS = ("name", "종목명")
_MARKET_HEADERS = ("market", "시장", "시장구분")
_NXT_HEADERS = ("nxt",)

_MARKET_VALUES = {
    "KOSPI": "KOSPI", "코스피": "KOSPI", "유가증권": "KOSPI", "유가증권시장": "KOSPI",
    "KOSDAQ": "KOSDAQ", "코스닥": "KOSDAQ", "코스닥시장": "KOSDAQ",
}
_TRUE = {"true", "t", "1", "y", "yes"}
_FALSE = {"false", "f", "0", "n", "no"}
_EXAMPLES = 3


class UniverseError(ValueError):
    """A universe file with problems. ``problems`` lists every one ("line N: ..." where it has a line).

    ``str()`` is ``"N problems in PATH:"`` followed by one problem per line.
    """

    def __init__(self, path: str | Path, problems: Sequence[str], notes: Sequence[str] = ()) -> None:
        self.path = str(path)
        self.problems = list(problems)
        self.notes = list(notes)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in {self.path}:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))



# ----------------------------------------------------------------------------------------- loading

def load_universe(path: str | Path) -> Universe:
    """Read a universe file (CSV, XLSX or XLSM). Raises :class:`UniverseError` listing every problem."""
    universe, problems, notes = _load(Path(path))
    if problems or universe is None:
        raise UniverseError(path, problems, notes)
    return universe


def check_universe(path: str | Path) -> tuple[Universe | None, list[str]]:
    """Validate a universe file without raising: ``(universe, [])`` when good, ``(None, problems)``
    otherwise. A missing or unreadable file is reported as a problem too."""
    universe, problems, _notes = _load(Path(path))
    return (None, problems) if problems else (universe, [])


def _load(path: Path) -> tuple[Universe | None, list[str], list[str]]:
    suffix = path.suffix.lower()
    notes: list[str] = []
    try:
        if suffix == ".csv":
            rows = _read_csv_rows(path)
        elif suffix in (".xlsx", ".xlsm"):
            rows = _read_xlsx_rows(path, notes)
        elif suffix == ".xls":
            return None, ["the old .xls format cannot be read; save the file as .xlsx or .csv"], []
        else:
            return None, [f"unsupported file type {path.suffix or '(none)'!r}: use .csv or .xlsx"], []
    except FileNotFoundError:
        return None, ["file not found"], []
    except _ReadError as exc:
        return None, [str(exc)], []
    return _parse_rows(rows, str(path), notes)


class _ReadError(Exception):
    """The file exists but could not be read as a table."""


_Row = tuple[int, list[object]]  # (line number as an editor/Excel shows it, cell values)


def _read_csv_rows(path: Path) -> list[_Row]:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise _ReadError("is a directory, not a file") from None
    except PermissionError:
        raise _ReadError("permission denied") from None
    for encoding in ("utf-8-sig", "cp949"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _ReadError("the file is neither UTF-8 nor CP949 text")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = ","
    if "," not in first:
        delimiter = "\t" if "\t" in first else (";" if ";" in first else ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[_Row] = []
    start = 1
    try:
        for record in reader:
            rows.append((start, list(record)))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _ReadError(f"line {reader.line_num}: not valid CSV ({exc})") from None
    return rows


def _read_xlsx_rows(path: Path, notes: list[str]) -> list[_Row]:
    import zipfile

    import openpyxl  # lazy: only XLSX users pay for it

    if path.is_dir():
        raise _ReadError("is a directory, not a file")
    try:
        wb = openpyxl.load_workbook(path, data_only=True)
    except FileNotFoundError:
        raise
    except PermissionError:
        raise _ReadError("permission denied") from None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise _ReadError(f"not a readable .xlsx workbook ({exc.__class__.__name__}: {exc})") from None
    try:
        ws = wb.worksheets[0]
        if len(wb.worksheets) > 1:
            notes.append(f"read the first sheet {ws.title!r} of {len(wb.worksheets)}")
        # Normal (not read-only) mode: rows are numbered exactly as Excel shows them.
        values = ws.iter_rows(min_row=1, max_row=max(ws.max_row, 1), values_only=True)
        return [(line, list(cells)) for line, cells in enumerate(values, start=1)]
    finally:
        wb.close()


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _find_column(headers: list[str], aliases: tuple[str, ...]) -> int | None:
    """The index of the header matching the earliest alias (then the leftmost); None if none does.
    Other matching columns are left unused and show up in the "ignored columns" note."""
    folded = [h.strip().lstrip("\ufeff").casefold() for h in headers]
    hits = sorted((aliases.index(f), i) for i, f in enumerate(folded) if f in aliases)
    return hits[0][1] if hits else None


def _parse_rows(rows: list[_Row], source: str, notes: list[str]) -> tuple[Universe | None, list[str], list[str]]:
    problems: list[str] = []

    body = [(line, cells) for line, cells in rows if not all(_blank(c) for c in cells)]
    if not body:
        return None, ["the file is empty"], notes
    header_line, header_cells = body[0]
    headers = [_text(c) for c in header_cells]

    code_col = _find_column(headers, _CODE_HEADERS)
    if code_col is None:
        found = ", ".join(repr(h) for h in headers if h) or "none"
        msg = f"line {header_line}: no code column (expected 'code' or 'Symbol'); columns found: {found}"
        if any(_looks_like_code(c) for c in header_cells):
            msg += " — the first row looks like data; add a header row 'code'"
        return None, [msg], notes
    name_col = _find_column(headers, _NAME_HEADERS)
    market_col = _find_column(headers, _MARKET_HEADERS)
    nxt_col = _find_column(headers, _NXT_HEADERS)
    used = {c for c in (code_col, name_col, market_col, nxt_col) if c is not None}
    ignored = [h for i, h in enumerate(headers) if i not in used and h]
    if ignored:
        notes.append("ignored columns: " + ", ".join(repr(h) for h in ignored))

    symbols: list[Symbol] = []
    first_line: dict[str, tuple[int, str | None]] = {}
    padded: list[str] = []
    prefixed: list[str] = []
    defaulted_market: list[int] = []
    not_nxt = 0

    def cell(cells: list[object], col: int | None) -> object:
        return cells[col] if col is not None and col < len(cells) else None

    for line, cells in body[1:]:
        row_ok = True
        code, original, problem, how = _normalize_code(cell(cells, code_col))
        if problem:
            problems.append(f"line {line}: {problem}")
            row_ok = False
        elif how == "padded":
            padded.append(f"line {line}: {original} → {code}")
        elif how == "prefixed":
            prefixed.append(f"line {line}: {original} → {code}")

        raw_market = cell(cells, market_col)
        market = "KOSPI"
        if market_col is not None and not _blank(raw_market):
            m = _MARKET_VALUES.get(_text(raw_market).upper())
            if m is None:
                problems.append(f"line {line}: market {_text(raw_market)!r} is not KOSPI or KOSDAQ")
                row_ok = False
            else:
                market = m
        elif market_col is not None:
            defaulted_market.append(line)

        raw_nxt = cell(cells, nxt_col)
        nxt = True
        if not _blank(raw_nxt):
            parsed = _parse_bool(raw_nxt)
            if parsed is None:
                problems.append(f"line {line}: nxt {_text(raw_nxt)!r} is not true/false (1/0, y/n, yes/no)")
                row_ok = False
            else:
                nxt = parsed

        if code is not None:
            if code in first_line:
                first, first_original = first_line[code]
                extra = ""
                if original != code or (first_original is not None and first_original != code):
                    extra = f"; written {first_original!r} and {original!r}"
                problems.append(f"line {line}: duplicate code {code!r} (first on line {first}{extra})")
                row_ok = False
            else:
                first_line[code] = (line, original)

        if row_ok and code is not None:
            name = _text(cell(cells, name_col))
            symbols.append(Symbol(code, name, market, nxt))  # type: ignore[arg-type]
            not_nxt += not nxt

    if not symbols and not problems:
        problems.append("no symbols: the file has a header but no codes")

    if padded:
        notes.append(_summary(padded, "code had lost its leading zeros and was padded to 6 digits",
                              "codes had lost their leading zeros and were padded to 6 digits"))
    if prefixed:
        notes.append(_summary(prefixed, "code had an 'A' prefix, removed", "codes had an 'A' prefix, removed"))
    if market_col is None:
        notes.append(f"no market column: all {len(symbols)} symbols taken as KOSPI "
                     "(the sell tax is per market; add a market column for KOSDAQ names)")
    elif defaulted_market:
        notes.append(_summary([f"line {n}" for n in defaulted_market], "empty market taken as KOSPI",
                              "empty markets taken as KOSPI"))
    if not_nxt:
        notes.append(f"{not_nxt} symbol{'s are' if not_nxt != 1 else ' is'} marked nxt=false "
                     "(KRX data only, never traded across venues)")

    if problems:
        return None, problems, notes
    return Universe(tuple(symbols), notes=notes, source=source), [], notes


def _summary(items: list[str], one: str, many: str) -> str:
    shown = ", ".join(items[:_EXAMPLES]) + (", …" if len(items) > _EXAMPLES else "")
    return f"{len(items)} {one if len(items) == 1 else many} ({shown})"


def _looks_like_code(value: object) -> bool:
    code, _orig, problem, _how = _normalize_code(value)
    return problem is None and code is not None


def _normalize_code(value: object) -> tuple[str | None, str | None, str | None, str]:
    """``(code, original text, problem, how)``; ``how`` is '', 'padded' or 'prefixed'."""
    if _blank(value):
        return None, None, "code is empty", ""
    if isinstance(value, bool):
        return None, str(value), f"'{value}' is not a 6-digit code", ""
    if isinstance(value, float):
        if not value.is_integer():
            return None, repr(value), f"'{value!r}' is not a 6-digit code", ""
        value = int(value)
    if isinstance(value, int):
        s = str(value)
        numeric = True
    else:
        s = str(value).strip()
        if s.startswith('="') and s.endswith('"') and len(s) > 3:  # Excel's text-keeping ="005930"
            s = s[2:-1].strip()
        numeric = False
    original = s
    if s.endswith(_VENUE_SUFFIXES) and is_code(s[:-3]):
        return None, original, f"{s!r} is a venue code; write the 6-digit KRX code {s[:-3]!r}", ""
    if not numeric and len(s) == 7 and s[0] in "Aa" and is_code(s[1:]):
        return s[1:], original, None, "prefixed"
    if not numeric and s.endswith(".0") and s[:-2].isascii() and s[:-2].isdigit():
        s = s[:-2]  # a CSV written from a float column: 5930.0
    if not (s.isascii() and s.isdigit()) or len(s) > 6:
        return None, original, f"{original!r} is not a 6-digit code", ""
    if int(s) == 0:
        return None, original, f"{original!r} is not a valid code", ""
    if len(s) < 6:
        return s.zfill(6), original, None, "padded"
    return s, original, None, ""


def _parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return {0: False, 1: True}.get(value)  # type: ignore[arg-type]
    s = str(value).strip().casefold()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    return None
