"""Kiwoom FID numbers, the FID lists we register, and the parsers for Kiwoom's string values.

Kiwoom delivers every value as a string. Prices in real data and Chejan carry a sign prefix that
encodes the direction versus the previous close (``'+84500'``, ``'-84490'``), trade quantities (FID 15)
carry the aggressor side (``+`` buy, ``-`` sell); an empty string means "not carried". The parsers here
take the absolute value and map empty to ``0`` (= absent). Sources: koapy ``fid.csv`` and
``realtype_by_desc.json``; see ``reference/market_and_kiwoom_facts.md`` §4c/§4d.
"""
from __future__ import annotations

from core.enums import MarketOperation
from kiwoom_bridge.wire_codes import parse_code

__all__ = [
    "FID_LAST", "FID_CHANGE", "FID_CHANGE_RATE", "FID_CUM_VOLUME", "FID_TRADE_QTY", "FID_TIME",
    "FID_BEST_ASK", "FID_BEST_BID", "FID_ASK1", "FID_BID1", "FID_ASK1_QTY", "FID_BID1_QTY",
    "FID_MARKET_OP", "FID_MARKET_OP_REMAIN", "FID_VI_FLAG", "FID_VI_KIND", "FID_VI_PRICE", "FID_VI_TIME",
    "FID_VI_RELEASE", "FID_VI_DIRECTION", "VI_REAL_FIDS", "VI_FLAG_START", "VI_FLAG_END", "VI_KIND_TEXT",
    "CJ_ACCOUNT", "CJ_ORDER_NO", "CJ_MGMT_NO", "CJ_CODE", "CJ_BUSINESS", "CJ_STATUS", "CJ_NAME",
    "CJ_ORDER_QTY", "CJ_ORDER_PRICE", "CJ_LEAVES", "CJ_CUM_AMOUNT", "CJ_ORIG_ORDER_NO", "CJ_ORDER_KIND",
    "CJ_TRADE_KIND", "CJ_SIDE", "CJ_TIME", "CJ_EXEC_ID", "CJ_FILL_PRICE", "CJ_FILL_QTY",
    "CJ_UNIT_FILL_PRICE", "CJ_UNIT_FILL_QTY", "CJ_FEE", "CJ_TAX", "CJ_REJECT_REASON", "CJ_SCREEN",
    "CJ_VENUE", "BAL_HOLDING_QTY", "BAL_AVG_PRICE", "BAL_TOTAL_COST", "BAL_ORDERABLE_QTY",
    "CHEJAN_ORDER_FIDS", "CHEJAN_BALANCE_FIDS", "TRADE_REAL_FIDS", "QUOTE_REAL_FIDS", "SESSION_REAL_FIDS",
    "REAL_FIDS_L1", "REAL_FIDS_SESSION", "FID_215_MEANINGS", "FID_215_OPERATIONS", "FID_215_NXT_MAIN_START",
    "FID_215_NXT_MAIN_END",
    "parse_signed", "parse_float", "split_code", "fid_list",
]

# -- real-time FIDs (OnReceiveRealData / GetCommRealData) -------------------------------------------
FID_LAST = 10             # 현재가 (signed vs previous close)
FID_CHANGE = 11           # 전일대비
FID_CHANGE_RATE = 12      # 등락율
FID_CUM_VOLUME = 13       # 누적거래량
FID_TRADE_QTY = 15        # 거래량: + buy aggressor, - sell aggressor
FID_TIME = 20             # 체결시간 HHMMSS
FID_BEST_ASK = 27         # (최우선)매도호가 (주식체결)
FID_BEST_BID = 28         # (최우선)매수호가 (주식체결)
FID_ASK1 = 41             # 매도호가1 (주식호가잔량): a PRICE
FID_BID1 = 51             # 매수호가1 (주식호가잔량): a PRICE
FID_ASK1_QTY = 61         # 매도호가수량1
FID_BID1_QTY = 71         # 매수호가수량1
FID_MARKET_OP = 215       # 장운영구분 (장시작시간)
FID_MARKET_OP_REMAIN = 214  # 장시작예상잔여시간
# VI발동/해제 (gidc 1h; koapy realtype_by_desc.json: 9001, 302, 13, 14, 9068, 9008, 9075, 1221, 1223, 1224,
# 1225, 1236, 1237, 1238, 1239, 1489, 1490, 9069, 1279)
FID_VI_FLAG = 9068        # VI발동구분: '1' 발동, '2' 해제 (public OCX and REST code; no official value table)
FID_VI_KIND = 1225        # VI적용구분: 정적 / 동적 / 동적+정적
FID_VI_PRICE = 1221       # VI발동가격 (signed like every price)
FID_VI_TIME = 1223        # 매매체결처리시각 HHMMSS
FID_VI_RELEASE = 1224     # VI해제시각 HHMMSS
FID_VI_DIRECTION = 9069   # 발동방향구분: '1' up, '2' down (public code; unverified)

# -- Chejan FIDs (OnReceiveChejanData / GetChejanData) ----------------------------------------------
CJ_ACCOUNT = 9201         # 계좌번호
CJ_ORDER_NO = 9203        # 주문번호 (7 digits)
CJ_MGMT_NO = 9205         # 관리사번
CJ_CODE = 9001            # 종목코드: 'A005930' (prefixed)
CJ_BUSINESS = 912         # 주문업무분류 e.g. 'JJ'
CJ_STATUS = 913           # 주문상태: 접수 / 체결 / 확인 / 거부
CJ_NAME = 302             # 종목명
CJ_ORDER_QTY = 900        # 주문수량
CJ_ORDER_PRICE = 901      # 주문가격
CJ_LEAVES = 902           # 미체결수량
CJ_CUM_AMOUNT = 903       # 체결누계금액
CJ_ORIG_ORDER_NO = 904    # 원주문번호 ('0000000' for new orders)
CJ_ORDER_KIND = 905       # 주문구분: '+매수', '-매도', '매수취소', '매도정정', ...
CJ_TRADE_KIND = 906       # 매매구분: '보통', '시장가', ...
CJ_SIDE = 907             # 매도수구분: '1' sell, '2' buy
CJ_TIME = 908             # 주문/체결시간 HHMMSS
CJ_EXEC_ID = 909          # 체결번호
CJ_FILL_PRICE = 910       # 체결가
CJ_FILL_QTY = 911         # 체결량 (cumulative for the order in the emulator, see kiwoom_bridge.openapi)
CJ_UNIT_FILL_PRICE = 914  # 단위체결가 (this fill)
CJ_UNIT_FILL_QTY = 915    # 단위체결량 (this fill)
CJ_FEE = 938              # 당일매매수수료
CJ_TAX = 939              # 당일매매세금
CJ_REJECT_REASON = 919    # 거부사유
CJ_SCREEN = 920           # 화면번호
CJ_VENUE = 2134           # 거래소구분 (REST-era: 0 통합, 1 KRX, 2 NXT; unverified for the OCX)
BAL_HOLDING_QTY = 930     # 보유수량 (gubun '1')
BAL_AVG_PRICE = 931       # 매입단가
BAL_TOTAL_COST = 932      # 총매입가
BAL_ORDERABLE_QTY = 933   # 주문가능수량

#: FIDs of a gubun '0' Chejan (주문체결), in Kiwoom's order (the emulator sends these).
CHEJAN_ORDER_FIDS: tuple[int, ...] = (
    9201, 9203, 9205, 9001, 912, 913, 302, 900, 901, 902, 903, 904, 905, 906, 907, 908, 909, 910, 911,
    10, 27, 28, 914, 915, 938, 939, 919, 920, 2134,
)
#: FIDs of a gubun '1' Chejan (잔고).
CHEJAN_BALANCE_FIDS: tuple[int, ...] = (9201, 9001, 302, 10, 930, 931, 932, 933, 27, 28)

# -- which FIDs belong to which real type (to decide what a registration receives) -------------------
#: 주식체결 (0B).
TRADE_REAL_FIDS: frozenset[int] = frozenset(
    {20, 10, 11, 12, 27, 28, 15, 13, 14, 16, 17, 18, 25, 26, 29, 30, 31, 32, 228, 311, 290, 691, 567, 568,
     851, 1890, 1891, 1892, 1030, 1031, 1032, 1071, 1072, 1313, 1315, 1316, 1314, 1497, 1498, 620, 732, 852})
#: 주식호가잔량 (0D).
QUOTE_REAL_FIDS: frozenset[int] = frozenset(
    {21, *range(41, 101), 121, 122, 125, 126, 23, 24, 128, 129, 138, 139, 200, 201, 238,
     291, 292, 293, 294, 295, *range(621, 641), 13, 299, 215, 216})
#: 장시작시간 (0s).
SESSION_REAL_FIDS: frozenset[int] = frozenset({215, 20, 214})
#: VI발동/해제 (1h), without the FIDs it shares with other real types (9001, 302, 13, 14): registering any of
#: these makes a code's VI notices flow (the emulator's rule; the OCX's exact rule is unverified).
VI_REAL_FIDS: frozenset[int] = frozenset(
    {9068, 9008, 9075, 1221, 1223, 1224, 1225, 1236, 1237, 1238, 1239, 1489, 1490, 9069, 1279})
#: FID 9068 values.
VI_FLAG_START = "1"
VI_FLAG_END = "2"
#: FID 1225 text → :class:`core.enums.ViKind` value.
VI_KIND_TEXT: dict[str, str] = {"정적": "static", "동적": "dynamic", "동적+정적": "static+dynamic",
                                "정적+동적": "static+dynamic"}

#: FID list registered for the L1 screens: trade prints and the best level of the book.
REAL_FIDS_L1 = "10;15;13;20;27;28;41;51;61;71"
#: FID list registered (with an empty code list) for the market-operation screen.
REAL_FIDS_SESSION = "215;20;214"

# -- FID 215 (장운영구분) ------------------------------------------------------------------------------
FID_215_NXT_MAIN_START = "R"
FID_215_NXT_MAIN_END = "S"

#: FID 215 code → meaning. REST/NXT-era codes (0, 3, P–W; dongbin300/KiwoomRestApi.Net) and the OCX-era
#: codes koapy lists (2, 4, 8, 9 documented; a–e, s marked "estimated"). Case matters: 'S' ≠ 's'.
#: Codes not in this table are kept raw and reported as unknown.
FID_215_MEANINGS: dict[str, str] = {
    "0": "KRX pre-open (KRX장전 / 장시작전 동시호가)",
    "3": "KRX open (KRX장시작 / 동시호가종료)",
    "P": "NXT pre-market start (NXT프리마켓개시)",
    "Q": "NXT pre-market end (NXT프리마켓종료)",
    "R": "NXT main market start (NXT메인마켓개시)",
    "S": "NXT main market end (NXT메인마켓종료)",
    "T": "NXT after-market single-price start (NXT애프터마켓단일가개시)",
    "U": "NXT after-market start (NXT애프터마켓개시)",
    "V": "NXT closing-price trading end (NXT종가매매종료)",
    "W": "NXT after-market end (NXT애프터마켓종료)",
    "2": "KRX closing call start (장종료전 동시호가)",
    "4": "KRX closing call end (장종료)",
    "8": "KRX close, no time (장종료)",
    "9": "KRX market close (장마감)",
    "a": "after-hours closing-price start (koapy, estimated)",
    "b": "after-hours closing-price end (koapy, estimated; another source: market-wide holiday)",
    "c": "after-hours single-price start (koapy, estimated)",
    "d": "after-hours single-price end (koapy, estimated)",
    "e": "futures/options close (koapy, estimated)",
    "s": "futures/options pre-close (koapy, estimated)",
}


#: FID 215 code → what it means to the engine (:class:`core.enums.MarketOperation`); the lower-case
#: (koapy "estimated") codes mean nothing to it.
FID_215_OPERATIONS: dict[str, MarketOperation] = {
    "0": MarketOperation.KRX_PRE_OPEN, "3": MarketOperation.KRX_OPEN,
    "2": MarketOperation.KRX_CLOSING_CALL, "4": MarketOperation.KRX_CLOSE, "8": MarketOperation.KRX_CLOSE,
    "9": MarketOperation.KRX_CLOSE,
    "P": MarketOperation.NXT_PRE_MARKET_OPEN, "Q": MarketOperation.NXT_PRE_MARKET_CLOSE,
    "R": MarketOperation.NXT_MAIN_OPEN, "S": MarketOperation.NXT_MAIN_CLOSE,
    "T": MarketOperation.NXT_AFTER_CALL_OPEN, "U": MarketOperation.NXT_AFTER_MARKET_OPEN,
    "V": MarketOperation.NXT_CLOSING_PRICE_END, "W": MarketOperation.NXT_AFTER_MARKET_CLOSE,
    **{c: MarketOperation.OTHER for c in ("a", "b", "c", "d", "e", "s")},
}


def parse_signed(s: str) -> int:
    """Absolute integer value of a Kiwoom string: ``'+84500'`` → 84500, ``'-84490'`` → 84490.

    Surrounding whitespace is tolerated; an empty (or blank) string is "absent" and gives ``0``.

    Raises:
      ValueError: If ``s`` is not a (sign-prefixed) integer; the message names the value.
    """
    try:
        v = int(s)
    except ValueError:
        if not s.strip():
            return 0
        raise ValueError(f"not a Kiwoom integer value: {s!r}") from None
    except TypeError:
        raise ValueError(f"not a Kiwoom integer value: {s!r}") from None
    if "_" in s:  # int() accepts '84_500'; Kiwoom never sends it
        raise ValueError(f"not a Kiwoom integer value: {s!r}")
    return v if v >= 0 else -v


def parse_signed_keep(s: str) -> int:
    """Signed integer of a Kiwoom string whose sign is the value's (FID 11 전일대비): ``'-150'`` → -150.

    Empty = absent = ``0``. Raises ValueError naming the value if it is not an integer.
    """
    v = parse_signed(s)
    return -v if str(s).strip().startswith("-") else v


def parse_float_keep(s: str) -> float:
    """Signed float of a Kiwoom string whose sign is the value's (FID 12 등락율): ``'-0.21'`` → -0.21."""
    v = parse_float(s)
    return -v if str(s).strip().startswith("-") else v


def parse_float(s: str) -> float:
    """Absolute float value of a Kiwoom string (``'-1.25'`` → 1.25); empty → ``0.0``.

    Raises:
      ValueError: If ``s`` is not a number; the message names the value.
    """
    try:
        v = float(s)
    except ValueError:
        if not s.strip():
            return 0.0
        raise ValueError(f"not a Kiwoom number: {s!r}") from None
    except TypeError:
        raise ValueError(f"not a Kiwoom number: {s!r}") from None
    if v != v or v in (float("inf"), float("-inf")) or "_" in s:
        raise ValueError(f"not a Kiwoom number: {s!r}")
    return abs(v)


def split_code(raw: str) -> tuple[str, str]:
    """``'005930_NX'`` → ``('005930', 'NXT')``; ``'A005930'`` → ``('005930', 'KRX')``.

    :func:`kiwoom_bridge.wire_codes.parse_code` with the Chejan ``'A'`` prefix removed: blanks are ignored,
    ``_NX`` means NXT, no suffix KRX, and ``_AL`` is reported as venue ``'AL'`` (the integrated stream,
    neither KRX nor NXT; see :mod:`kiwoom_bridge.wire_codes` for the rule).
    """
    return parse_code(raw, chejan=True)


def fid_list(fids: str) -> list[int]:
    """Parse a ``';'``-separated FID list (``"10;15;41"``) into ints; empty items are skipped.

    Raises:
      ValueError: If an item is not an integer.
    """
    out = []
    for item in fids.split(";"):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit():
            raise ValueError(f"bad FID {item!r} in FID list {fids!r}")
        out.append(int(item))
    return out
