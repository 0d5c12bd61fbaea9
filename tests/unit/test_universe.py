"""Universe files (CSV/XLSX), screens and shards."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.universe_file import UniverseError, check_universe, load_universe
from core.universe import MAX_SCREENS, Screen, ScreenAllocationError, Symbol, Universe, assign_shards

REPO = Path(__file__).resolve().parents[2]


def write_csv(tmp_path: Path, text: str, name: str = "u.csv", encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def write_xlsx(tmp_path: Path, rows: list[list[object]], name: str = "u.xlsx") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Symbols"
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                ws.cell(row=r, column=c, value=value)
    p = tmp_path / name
    wb.save(p)
    return p


def problems_of(path: Path) -> list[str]:
    with pytest.raises(UniverseError) as info:
        load_universe(path)
    return info.value.problems


def test_symbol_is_frozen_and_validated() -> None:
    s = Symbol("005930", "Samsung Electronics", "KOSPI")
    assert s.nxt is True and not Symbol("005930", nxt=False).nxt
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.code = "000660"  # type: ignore[misc]
    with pytest.raises(ValueError):
        Symbol("5930")
    with pytest.raises(ValueError):
        Symbol("005930", market="NYSE")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ CSV

def test_csv_full_columns_keeps_zeros_and_order(tmp_path: Path) -> None:
    p = write_csv(tmp_path, "code,name,market,nxt\n005930,Samsung Electronics,KOSPI,true\n"
                            "000660,SK hynix,kospi,1\n247540,EcoPro BM,코스닥,no\n086520,EcoPro,KOSDAQ,\n")
    u = load_universe(p)
    assert u.codes == ("005930", "000660", "247540", "086520")
    assert [s.market for s in u] == ["KOSPI", "KOSPI", "KOSDAQ", "KOSDAQ"]
    assert [s.nxt for s in u] == [True, True, False, True]
    assert u["000660"].name == "SK hynix"
    assert u.index_of("247540") == 2
    assert len(u) == 4 and "086520" in u and "999999" not in u
    assert u.markets.tolist() == ["KOSPI", "KOSPI", "KOSDAQ", "KOSDAQ"]
    assert isinstance(u.markets, np.ndarray)
    assert u.nxt_mask.tolist() == [True, True, False, True]
    assert u.count_by_market() == {"KOSPI": 2, "KOSDAQ": 2}
    assert any("nxt=false" in n for n in u.notes)
    with pytest.raises(KeyError, match="not in the universe"):
        u.index_of("999999")


def test_seed_004_symbol_header_case_insensitive_defaults_kospi(tmp_path: Path) -> None:
    p = write_csv(tmp_path, "SYMBOL\n005930\n000660\n")
    u = load_universe(p)
    assert u.codes == ("005930", "000660")
    assert all(s.market == "KOSPI" and s.nxt and s.name == "" for s in u)
    assert any("no market column" in n and "KOSPI" in n for n in u.notes)


def test_csv_utf8_bom_and_cp949(tmp_path: Path) -> None:
    text = "종목코드,종목명,시장\n005930,삼성전자,코스피\n035720,카카오,유가증권\n"
    for enc, name in (("utf-8-sig", "bom.csv"), ("cp949", "kr.csv")):
        u = load_universe(write_csv(tmp_path, text, name, enc))
        assert u.codes == ("005930", "035720")
        assert u["005930"].name == "삼성전자"
        assert u.count_by_market() == {"KOSPI": 2, "KOSDAQ": 0}


def test_csv_codes_that_lost_zeros_are_padded_with_a_note(tmp_path: Path) -> None:
    p = write_csv(tmp_path, "code\n5930\n660.0\n035420\n")
    u = load_universe(p)
    assert u.codes == ("005930", "000660", "035420")
    note = next(n for n in u.notes if "padded" in n)
    assert note.startswith("2 codes") and "line 2: 5930 → 005930" in note and "line 3: 660.0 → 000660" in note


def test_bad_rows_reported_with_editor_line_numbers(tmp_path: Path) -> None:
    text = ("code,name,market\n"         # line 1
            "005930,Samsung,KOSPI\n"     # 2
            "000660,SK hynix,KOSPI\n"    # 3
            "1234567,Too long,KOSPI\n"   # 4
            "035420,NAVER,NYSE\n"        # 5
            "\n"                         # 6 blank: skipped silently
            "SAMSUNG,Letters,KOSPI\n"    # 7
            ",No code,KOSPI\n"           # 8 not blank: has a name
            "005930,Again,KOSPI\n"       # 9
            "035720,Kakao,KOSPI\n")      # 10
    probs = problems_of(write_csv(tmp_path, text))
    assert probs == [
        "line 4: '1234567' is not a 6-digit code",
        "line 5: market 'NYSE' is not KOSPI or KOSDAQ",
        "line 7: 'SAMSUNG' is not a 6-digit code",
        "line 8: code is empty",
        "line 9: duplicate code '005930' (first on line 2)",
    ]


def test_universe_error_message_lists_every_problem(tmp_path: Path) -> None:
    p = write_csv(tmp_path, "code,nxt\n12345678,true\n005930,maybe\n")
    with pytest.raises(UniverseError) as info:
        load_universe(p)
    lines = str(info.value).splitlines()
    assert lines[0] == f"2 problems in {p}:"
    assert lines[1].strip() == "line 2: '12345678' is not a 6-digit code"
    assert lines[2].strip().startswith("line 3: nxt 'maybe' is not true/false")
    assert info.value.path == str(p)
    assert isinstance(info.value, ValueError)


def test_duplicate_after_padding_is_an_error(tmp_path: Path) -> None:
    probs = problems_of(write_csv(tmp_path, "code\n005930\n000660\n5930\n"))
    assert len(probs) == 1
    assert probs[0].startswith("line 4: duplicate code '005930' (first on line 2")
    assert "'5930'" in probs[0]


def test_quoted_multiline_field_keeps_line_numbers(tmp_path: Path) -> None:
    text = 'code,name\n005930,"Samsung\nElectronics"\n99,ok\nXYZ,bad\n'
    probs = problems_of(write_csv(tmp_path, text))
    assert probs == ["line 5: 'XYZ' is not a 6-digit code"]


def test_venue_code_in_file_gets_specific_message(tmp_path: Path) -> None:
    probs = problems_of(write_csv(tmp_path, "code\n005930_NX\n"))
    assert probs == ["line 2: '005930_NX' is a venue code; write the 6-digit KRX code '005930'"]


def test_excel_text_formula_and_a_prefix_are_accepted(tmp_path: Path) -> None:
    u = load_universe(write_csv(tmp_path, 'code\n"=""005930"""\nA000660\n'))
    assert u.codes == ("005930", "000660")
    assert any("'A' prefix" in n for n in u.notes)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    assert problems_of(write_csv(tmp_path, "")) == ["the file is empty"]
    assert problems_of(write_csv(tmp_path, "\n \n,,\n", "blank.csv")) == ["the file is empty"]


def test_header_only_is_an_empty_universe_error(tmp_path: Path) -> None:
    probs = problems_of(write_csv(tmp_path, "code,name\n\n,\n"))
    assert probs == ["no symbols: the file has a header but no codes"]


def test_missing_code_column_names_the_columns_found(tmp_path: Path) -> None:
    probs = problems_of(write_csv(tmp_path, "ticker,name\n005930,Samsung\n"))
    assert len(probs) == 1
    assert "no code column" in probs[0] and "'ticker'" in probs[0] and "'name'" in probs[0]


def test_headerless_file_says_the_first_row_looks_like_data(tmp_path: Path) -> None:
    probs = problems_of(write_csv(tmp_path, "005930\n000660\n"))
    assert "no code column" in probs[0] and "looks like data" in probs[0]


def test_unused_columns_are_noted(tmp_path: Path) -> None:
    u = load_universe(write_csv(tmp_path, "code,markt\n005930,KOSDAQ\n"))
    assert any("ignored columns: 'markt'" in n for n in u.notes)


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope.csv") == ["file not found"]
    txt = tmp_path / "u.txt"
    txt.write_text("code\n005930\n")
    assert "unsupported file type" in problems_of(txt)[0]
    xls = tmp_path / "u.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0")
    assert ".xlsx" in problems_of(xls)[0]
    fake = tmp_path / "fake.xlsx"
    fake.write_text("not a zip")
    assert "not a readable .xlsx" in problems_of(fake)[0]


def test_check_universe_never_raises_for_content(tmp_path: Path) -> None:
    good = write_csv(tmp_path, "code\n005930\n", "good.csv")
    u, probs = check_universe(good)
    assert probs == [] and u is not None and u.codes == ("005930",)
    u, probs = check_universe(write_csv(tmp_path, "code\n5930x\n005930\n005930\n", "bad.csv"))
    assert u is None
    assert probs == ["line 2: '5930x' is not a 6-digit code", "line 4: duplicate code '005930' (first on line 3)"]
    assert check_universe(tmp_path / "missing.xlsx") == (None, ["file not found"])


# ----------------------------------------------------------------------------------------- XLSX

def test_xlsx_numeric_symbols_are_padded(tmp_path: Path) -> None:
    p = write_xlsx(tmp_path, [["Symbol"], [5930], [660], ["035420"], [5380.0]])
    u = load_universe(p)
    assert u.codes == ("005930", "000660", "035420", "005380")
    note = next(n for n in u.notes if "padded" in n)
    assert note.startswith("3 codes") and "line 2: 5930 → 005930" in note


def test_xlsx_written_by_pandas_with_int_column(tmp_path: Path) -> None:
    p = tmp_path / "pd.xlsx"
    pd.DataFrame({"Symbol": [5930, 660, 35420], "Market": ["KOSPI", "KOSPI", "KOSPI"]}).to_excel(p, index=False)
    u = load_universe(p)
    assert u.codes == ("005930", "000660", "035420")


def test_xlsx_line_numbers_match_excel_rows(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["Symbol", "Market", "NXT"],   # 1
        [5930, "KOSPI", True],         # 2
        [None, None, None],            # 3 blank
        [1234567, "KOSPI", None],      # 4
        ["005930", "KOSPI", False],    # 5 duplicate of line 2 (written 5930 there)
        [660, "kosdaq", 0],            # 6
        [28300.5, "KOSDAQ", 1],        # 7
        ["035720", "Nasdaq", "y"],     # 8
    ]
    probs = problems_of(write_xlsx(tmp_path, rows))
    assert probs[0] == "line 4: '1234567' is not a 6-digit code"
    assert probs[1].startswith("line 5: duplicate code '005930' (first on line 2")
    assert probs[2] == "line 7: '28300.5' is not a 6-digit code"
    assert probs[3] == "line 8: market 'Nasdaq' is not KOSPI or KOSDAQ"
    assert len(probs) == 4


def test_xlsx_header_may_sit_below_title_rows_and_extra_sheets_are_noted(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["B3"] = "code"
    ws["C3"] = "name"
    ws["B4"] = "005930"
    ws["C4"] = "Samsung Electronics"
    ws["B5"] = "XX"
    wb.create_sheet("Other")["A1"] = "ignored"
    p = tmp_path / "t.xlsx"
    wb.save(p)
    with pytest.raises(UniverseError) as info:
        load_universe(p)
    assert info.value.problems == ["line 5: 'XX' is not a 6-digit code"]
    assert any("first sheet" in n for n in info.value.notes)


def test_demo_universe_is_valid_and_realistic() -> None:
    u = load_universe(REPO / "config" / "universe_demo.csv")
    assert 180 <= len(u) <= 230
    counts = u.count_by_market()
    assert counts["KOSPI"] >= 130 and counts["KOSDAQ"] >= 40
    for code in ("005930", "000660", "035420", "005380", "035720", "051910", "006400", "068270",
                 "207940", "105560"):
        assert u[code].market == "KOSPI"
    for code in ("247540", "086520", "196170", "028300"):
        assert u[code].market == "KOSDAQ"
    assert all(s.name for s in u) and all(s.nxt for s in u)
    assert u.notes == []


# -------------------------------------------------------------------------------- screens/shards

def make_universe(n: int) -> Universe:
    return Universe.from_codes(f"{i:06d}" for i in range(1, n + 1))


def test_800_nxt_symbols_make_16_screens_of_100_codes_in_stable_order() -> None:
    """SPEC §11: a symbol that trades on NXT is two codes on its screen (``_NX`` counts towards the 100)."""
    u = make_universe(800)
    screens = u.screens()
    assert len(screens) == 16
    assert [(len(s), s.nx_codes, s.wire_codes) for s in screens] == [(50, 50, 100)] * 16
    assert [s.screen_no for s in screens] == [str(n) for n in range(1000, 1016)]
    assert tuple(c for s in screens for c in s.codes) == u.codes
    assert screens[0].codes[0] == "000001" and screens[-1].codes[-1] == "000800"
    # adding symbols at the end never moves existing ones
    grown = make_universe(850).screens()
    assert [s.codes for s in grown[:16]] == [s.codes for s in screens]


def test_krx_only_symbols_take_one_code_each() -> None:
    mixed = Universe(tuple(Symbol(f"{i:06d}", nxt=i % 2 == 0) for i in range(1, 201)))   # 100 NXT, 100 KRX only
    screens = mixed.screens()
    assert sum(s.wire_codes for s in screens) == 300 and all(s.wire_codes <= 100 for s in screens)
    assert [s.wire_codes for s in screens] == [100, 99, 99, 2]        # packed in file order, never reordered
    assert len(Universe.from_codes([f"{i:06d}" for i in range(1, 201)], nxt=False).screens()) == 2


def test_screen_edges() -> None:
    assert make_universe(0).screens() == []
    assert [len(s) for s in make_universe(50).screens()] == [50]
    assert [len(s) for s in make_universe(51).screens()] == [50, 1]
    assert [len(s) for s in make_universe(200).screens()] == [50] * 4      # SPEC §11: 200 symbols, 4 screens
    assert [len(s) for s in make_universe(5).screens(per_screen=4)] == [2, 2, 1]
    with pytest.raises(ScreenAllocationError):
        make_universe(5).screens(per_screen=101)
    with pytest.raises(ScreenAllocationError):
        make_universe(5).screens(per_screen=1)


def test_explicit_screen_numbers_used_in_order_and_must_suffice() -> None:
    u = make_universe(125)
    screens = u.screens(explicit=("2001", "2005", "2003", "2999"))
    assert [s.screen_no for s in screens] == ["2001", "2005", "2003"]
    with pytest.raises(ScreenAllocationError, match="3 screens are needed but only 2"):
        u.screens(explicit=("2001", "2002"))
    with pytest.raises(ScreenAllocationError, match="4-digit"):
        u.screens(explicit=("201", "2002", "2003"))
    with pytest.raises(ScreenAllocationError, match="twice"):
        u.screens(explicit=("2001", "2001", "2003"))
    with pytest.raises(ScreenAllocationError, match="reserved"):
        u.screens(explicit=("2001", "9000", "2003"), reserved=("9000",))


def test_auto_screens_skip_reserved_and_stop_at_9999() -> None:
    u = make_universe(150)
    assert [s.screen_no for s in u.screens(base=8999, reserved=("9000",))] == ["8999", "9001", "9002"]
    assert [s.screen_no for s in u.screens(base=7)] == ["0007", "0008", "0009"]
    with pytest.raises(ScreenAllocationError, match="9999"):
        u.screens(base=9998)


def test_more_than_200_screens_is_an_error() -> None:
    u = make_universe(MAX_SCREENS * 50 + 1)
    with pytest.raises(ScreenAllocationError, match="at most 200"):
        u.screens()
    assert len(make_universe(MAX_SCREENS * 50).screens()) == MAX_SCREENS
    with pytest.raises(ScreenAllocationError, match="at most 200"):
        make_universe(201).screens(per_screen=2)


def test_screen_is_frozen_and_validated() -> None:
    s = Screen("1000", ("005930",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.screen_no = "1001"  # type: ignore[misc]
    with pytest.raises(ValueError):
        Screen("100", ("005930",))
    with pytest.raises(ValueError):
        Screen("1000", tuple(f"{i:06d}" for i in range(1, 102)))
    with pytest.raises(ValueError, match="_NX codes count"):
        Screen("1000", tuple(f"{i:06d}" for i in range(1, 52)), nx_codes=51)
    assert Screen("1000", tuple(f"{i:06d}" for i in range(1, 51)), nx_codes=50).wire_codes == 100


def test_assign_shards_round_robin() -> None:
    screens = make_universe(357).screens()
    shards = assign_shards(screens, 3)
    assert [[s.screen_no for s in shard] for shard in shards] == [
        ["1000", "1003", "1006"], ["1001", "1004", "1007"], ["1002", "1005"]]
    assert assign_shards(screens, 1) == [screens]
    wide = assign_shards(screens, 20)
    assert len(wide) == 8 and all(len(shard) == 1 for shard in wide)
    assert assign_shards([], 4) == []
    for bad in (0, -1, True):
        with pytest.raises(ValueError):
            assign_shards(screens, bad)


@given(st.integers(min_value=0, max_value=2500), st.integers(min_value=1, max_value=30))
def test_shards_cover_every_screen_exactly_once(n: int, k: int) -> None:
    screens = make_universe(n).screens()
    shards = assign_shards(screens, k)
    flat = [s for shard in shards for s in shard]
    assert sorted(flat, key=lambda s: s.screen_no) == screens
    assert all(shards) and len(shards) == min(k, len(screens))
    sizes = [len(shard) for shard in shards]
    assert not sizes or max(sizes) - min(sizes) <= 1


def test_universe_rejects_duplicates_and_hashes_without_notes() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Universe((Symbol("005930"), Symbol("005930")))
    a = Universe((Symbol("005930"),), notes=["x"])
    b = Universe((Symbol("005930"),))
    assert a == b and hash(a) == hash(b)


def test_crlf_and_tab_separated_csv(tmp_path: Path) -> None:
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(b'code,name\r\n005930,"Samsung\r\nElectronics"\r\n\r\nXX,bad\r\n')
    assert problems_of(crlf) == ["line 5: 'XX' is not a 6-digit code"]
    tab = write_csv(tmp_path, "code\tname\n005930\tSamsung Electronics\n000660\tSK hynix\n", "tab.csv")
    assert load_universe(tab)["000660"].name == "SK hynix"
