"""Kiwoom OpenAPI+ return codes (``OP_ERR_*``) with their Korean and English meanings.

The table follows koapy's ``KiwoomOpenApiPlusError`` (copied from KOA Studio) plus ``-211`` from
breadum/kiwoom (see ``reference/market_and_kiwoom_facts.md`` §4b). Return codes come from function calls
(``SendOrder``, ``SetRealReg``, ``CommRqData``) and from ``OnEventConnect(nErrCode)``. Messages of
``OnReceiveMsg`` carry other, unstable six-digit codes: never classify on those.
"""
from __future__ import annotations

from enum import IntEnum, unique

__all__ = ["ErrorCode", "KiwoomError", "ERROR_TEXT", "describe", "error_name"]


@unique
class ErrorCode(IntEnum):
    """Kiwoom's ``OP_ERR_*`` return codes. ``0`` is success, every other value a failure."""

    OP_ERR_NONE = 0
    OP_ERR_FAIL = -10
    OP_ERR_COND_NOTFOUND = -11
    OP_ERR_COND_MISMATCH = -12
    OP_ERR_COND_OVERFLOW = -13
    OP_ERR_TR_FAIL = -22
    OP_ERR_LOGIN = -100
    OP_ERR_CONNECT = -101
    OP_ERR_VERSION = -102
    OP_ERR_FIREWALL = -103
    OP_ERR_MEMORY = -104
    OP_ERR_INPUT = -105
    OP_ERR_SOCKET_CLOSED = -106
    OP_ERR_SISE_OVERFLOW = -200
    OP_ERR_RQ_STRUCT_FAIL = -201
    OP_ERR_RQ_STRING_FAIL = -202
    OP_ERR_NO_DATA = -203
    OP_ERR_OVER_MAX_DATA = -204
    OP_ERR_DATA_RCV_FAIL = -205
    OP_ERR_OVER_MAX_FID = -206
    OP_ERR_REAL_CANCEL = -207
    OP_ERR_ACC_QUERY_OVERFLOW = -211      # no official name (breadum/kiwoom: 계좌조회과부하)
    OP_ERR_ORD_WRONG_INPUT = -300
    OP_ERR_ORD_WRONG_ACCTNO = -301
    OP_ERR_OTHER_ACC_USE = -302
    OP_ERR_MIS_2BILL_EXC = -303
    OP_ERR_MIS_5BILL_EXC = -304
    OP_ERR_MIS_1PER_EXC = -305
    OP_ERR_MIS_3PER_EXC = -306
    OP_ERR_SEND_FAIL = -307
    OP_ERR_ORD_OVERFLOW = -308
    OP_ERR_MIS_300CNT_EXC = -309
    OP_ERR_MIS_500CNT_EXC = -310
    OP_ERR_ORD_OVERFLOW2 = -311           # koapy only
    OP_ERR_ORD_WRONG_ACCTINFO = -340
    OP_ERR_ORD_SYMCODE_EMPTY = -500


#: code → (Korean text as Kiwoom documents it, English translation).
ERROR_TEXT: dict[int, tuple[str, str]] = {
    0: ("정상처리", "success"),
    -10: ("실패", "failure"),
    -11: ("조건번호 없음", "condition number not found"),
    -12: ("조건번호와 조건식 틀림", "condition number and expression do not match"),
    -13: ("조건검색 조회요청 초과", "too many condition-search requests"),
    -22: ("전문 처리 실패", "message processing failed"),
    -100: ("사용자정보 교환 실패", "user information exchange failed (login)"),
    -101: ("서버접속 실패", "server connection failed"),
    -102: ("버전처리 실패", "version processing failed"),
    -103: ("개인방화벽 실패", "personal firewall failure"),
    -104: ("메모리보호 실패", "memory protection failure"),
    -105: ("함수입력값 오류", "invalid function input"),
    -106: ("통신 연결종료", "connection closed"),
    -200: ("시세조회 과부하", "market-data query overload"),
    -201: ("전문작성 초기화 실패", "request structure initialisation failed"),
    -202: ("전문작성 입력값 오류", "request input value error"),
    -203: ("데이터 없음", "no data"),
    -204: ("조회 가능한 종목수 초과", "too many codes in one request"),
    -205: ("데이터수신 실패", "data receive failed"),
    -206: ("조회 가능한 FID수 초과", "too many FIDs in one request"),
    -207: ("실시간 해제 오류", "real-time unregistration error"),
    -211: ("계좌조회과부하", "account query overload"),
    -300: ("입력값 오류", "order input error"),
    -301: ("계좌 비밀번호 없음", "account password not registered (use the account window first)"),
    -302: ("타인계좌사용 오류", "using another person's account"),
    -303: ("주문가격이 20억원을 초과", "order amount exceeds 2 billion KRW"),
    -304: ("주문가격이 50억원을 초과", "order amount exceeds 5 billion KRW"),
    -305: ("주문수량이 총발행주수의 1%초과오류", "order quantity exceeds 1% of shares outstanding"),
    -306: ("주문수량이 총발행주수의 3%초과오류", "order quantity exceeds 3% of shares outstanding"),
    -307: ("주문전송 실패", "order send failed"),
    -308: ("주문전송 과부하", "order overload (more than 5 SendOrder per second)"),
    -309: ("주문수량 300계약 초과", "order quantity exceeds 300 contracts"),
    -310: ("주문수량 500계약 초과", "order quantity exceeds 500 contracts"),
    -311: ("주문전송 과부하", "order overload (2)"),
    -340: ("계좌정보없음", "no account information"),
    -500: ("종목코드없음", "no such stock code"),
}


def error_name(code: int) -> str:
    """``OP_ERR_*`` name of ``code``, or ``'UNKNOWN'`` for a code Kiwoom does not document."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return "UNKNOWN"


def describe(code: int) -> str:
    """One line naming ``code``: ``"-308 OP_ERR_ORD_OVERFLOW 주문전송 과부하 (order overload ...)"``.

    Unknown codes are described as such (with the raw number) rather than refused: Kiwoom adds codes.
    """
    ko, en = ERROR_TEXT.get(code, ("알 수 없는 오류", "undocumented error code"))
    return f"{code} {error_name(code)} {ko} ({en})"


class KiwoomError(RuntimeError):
    """A Kiwoom call failed with return code ``code``.

    Args:
      code: The Kiwoom return code (e.g. ``-308``).
      context: What was being done, e.g. ``"SetRealReg screen 1000"``.

    The message names the code, its ``OP_ERR_*`` name and the Korean and English texts.
    """

    def __init__(self, code: int, context: str = "") -> None:
        self.code = int(code)
        self.context = context
        self.name = error_name(self.code)
        where = f"{context}: " if context else ""
        super().__init__(f"{where}Kiwoom error {describe(self.code)}")
