"""Kiwoom wire codes: one parser (kiwoom_bridge.wire_codes) and its one ``_AL`` rule, wherever codes are split."""
from __future__ import annotations

from pathlib import Path

import pytest

from kiwoom_bridge import fids
from kiwoom_bridge.recording import RecordingError, RecordValueError, write_recording
from kiwoom_bridge.recording_reader import DecodedRecording
from kiwoom_bridge.types import KRX, NXT
from kiwoom_bridge.wire_codes import AL, parse_code, wire_code
from tests.unit.test_openapi_contract import ACC, SAMSUNG, T0, Harness, q

SIG_REG = "SetRealReg(QString, QString, QString, QString)"
SIG_ORDER = "SendOrder(QString, QString, QString, int, QString, int, int, QString, QString)"


@pytest.mark.parametrize(("raw", "expected"), [
    ("005930", (SAMSUNG, KRX)),
    ("005930_NX", (SAMSUNG, NXT)),
    ("005930_AL", (SAMSUNG, AL)),
    (" 005930_NX ", (SAMSUNG, NXT)),
    ("A005930", ("A005930", KRX)),              # the 'A' prefix is Chejan's, removed only on request
    ("", ("", KRX)),
    ("005930_NX_NX", ("005930_NX", NXT)),       # one suffix only: the rest is not a code (callers check)
])
def test_parse_code(raw: str, expected: tuple[str, str]) -> None:
    assert parse_code(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("A005930", (SAMSUNG, KRX)),
    ("A005930_NX", (SAMSUNG, NXT)),
    ("A005930_AL", (SAMSUNG, AL)),
    ("005930", (SAMSUNG, KRX)),
    ("B005930", ("B005930", KRX)),
])
def test_parse_code_of_chejan_9001(raw: str, expected: tuple[str, str]) -> None:
    assert parse_code(raw, chejan=True) == expected
    assert fids.split_code(raw) == expected          # the facade's splitter is the same parser


def test_al_is_its_own_venue_never_krx_or_nxt() -> None:
    code, venue = parse_code("005930_AL")
    assert venue == AL and venue not in (KRX, NXT)
    assert fids.split_code(" 005930_AL ") == (SAMSUNG, AL)


@pytest.mark.parametrize("venue", [KRX, NXT, AL])
def test_wire_code_round_trips(venue: str) -> None:
    assert parse_code(wire_code(SAMSUNG, venue)) == (SAMSUNG, venue)
    assert parse_code("A" + wire_code(SAMSUNG, venue), chejan=True) == (SAMSUNG, venue)


def test_wire_code_refuses_unknown_venues() -> None:
    with pytest.raises(KeyError):
        wire_code(SAMSUNG, "SOR")


# -- the rule where codes are split ---------------------------------------------------------------------

def test_emulator_accepts_al_registrations_but_sends_no_al_data() -> None:
    h = Harness([q(10)])
    seen: list[str] = []
    h.ctl.OnReceiveRealData.connect(lambda code, *_: seen.append(code))
    assert h.ctl.dynamicCall(SIG_REG, ["1000", f"{SAMSUNG}_AL", fids.REAL_FIDS_L1, "0"]) == 0
    assert h.ctl.dynamicCall(SIG_REG, ["1001", f"A{SAMSUNG}", fids.REAL_FIDS_L1, "0"]) == -105    # not a code
    h.run(50)
    assert seen == []
    assert h.ctl.dynamicCall(SIG_REG, ["1000", SAMSUNG, fids.REAL_FIDS_L1, "1"]) == 0
    h.ctl.advance_to(T0 + 10**9)
    assert h.ctl.book(SAMSUNG) is not None


def test_emulator_refuses_al_orders() -> None:
    h = Harness([q(10)])
    h.run(20)
    args = ["o1", "9000", ACC, 1, f"{SAMSUNG}_AL", 1, 84600, "00", ""]
    assert h.ctl.dynamicCall(SIG_ORDER, args) == -500
    args[4] = f"{SAMSUNG}_NX"
    assert h.ctl.dynamicCall(SIG_ORDER, args) == 0


def test_emulator_answers_al_queries_without_prices() -> None:
    h = Harness([q(10)])
    h.run(20)
    got: list[tuple[str, str]] = []

    def on_tr(screen: str, rq: str, trc: str, *rest: object) -> None:
        got.append((h.ctl.dynamicCall("GetCommData(QString, QString, int, QString)", [trc, rq, 0, "종목코드"]),
                    h.ctl.dynamicCall("GetCommData(QString, QString, int, QString)", [trc, rq, 0, "매도호가"])))

    h.ctl.OnReceiveTrData.connect(on_tr)
    for code in (SAMSUNG, f"{SAMSUNG}_AL"):
        h.ctl.dynamicCall("SetInputValue(QString, QString)", ["종목코드", code])
        assert h.ctl.dynamicCall("CommRqData(QString, QString, int, QString)", ["px", "opt10001", 0, "2000"]) == 0
        h.run(100)
    assert got == [(SAMSUNG, "+84600"), (SAMSUNG, "")]


def _row(raw_code: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {"timestamp": "2025-09-06T09:00:00.000000", "real_type": "주식호가잔량",
                              "fid_41": 84600, "fid_51": 84500, "raw_code": raw_code}
    row.update(kw)
    return row


def test_recording_writer_takes_symbol_and_venue_from_the_raw_code(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "d.parquet", [_row(f"{SAMSUNG}_NX"), _row(SAMSUNG)])
    rec = DecodedRecording(path)
    assert rec.codes == (SAMSUNG,) and rec.events.venue.tolist() == [1, 0]


@pytest.mark.parametrize("extra", [{}, {"symbol": SAMSUNG, "venue": "KRX"}])
def test_recording_writer_refuses_al_raw_codes(tmp_path: Path, extra: dict[str, object]) -> None:
    with pytest.raises(RecordValueError, match="_AL"):
        write_recording(tmp_path / "d.parquet", [_row(f"{SAMSUNG}_AL", **extra)])


def test_recording_reader_refuses_al_raw_codes(tmp_path: Path) -> None:
    import pandas as pd
    df = pd.DataFrame([{"timestamp": "2025-09-06T09:00:00.000000", "symbol": SAMSUNG, "venue": "KRX",
                        "real_type": "주식호가잔량", "fid_10": 0, "fid_11": 0, "fid_12": 0.0, "fid_13": 0,
                        "fid_27": 0, "fid_28": 0, "fid_41": 84600, "fid_51": 84500, "raw_code": f"{SAMSUNG}_AL"}])
    path = write_recording(tmp_path / "d.parquet", df, coerce=False)
    with pytest.raises(RecordingError, match="raw_code '005930_AL' contradicts") as info:
        DecodedRecording(path)
    assert info.value.row == 0 and info.value.column == "raw_code"


def test_real_data_times_are_the_kst_second_of_each_event_in_any_order() -> None:
    """FID 20/21 and the VI times: Asia/Seoul HHMMSS of the event's own second (the text of the last second asked
    for is reused, so going back and forth across seconds and midnight must still give each one's own)."""
    import datetime as dt

    from core.clock import ns_from_kst
    from kiwoom_bridge.emulator.wire_format import hhmmss

    day = dt.date(2026, 11, 20)
    t = ns_from_kst(day, dt.time(9, 0, 0))
    eve = ns_from_kst(day, dt.time(23, 59, 59))
    times = (t, t + 999_999_999, t + 1_000_000_000, t - 1, t, eve, eve + 1_000_000_000, eve)
    assert [hhmmss(x) for x in times] == ["090000", "090000", "090001", "085959", "090000", "235959", "000000",
                                          "235959"]
