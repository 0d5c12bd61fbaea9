"""The account queries: Kiwoom's TRs ``opw00018`` (holdings) and ``opw00001`` (cash), paced by the queries
bucket, paged, timed out, and turned into :class:`~core.desk_events.HoldingsReported` /
:class:`~core.desk_events.CashReported` (SPEC §10).

Sources (``kiwoom_bridge/README.md`` "Account TRs" quotes them):

* TR codes, names and field names: KOA Studio's TR metadata as koapy ships it (``trinfo_by_code.json``,
  elbakramer/koapy @6140934): ``opw00018`` 계좌평가잔고내역요청, inputs 계좌번호, 비밀번호,
  비밀번호입력매체구분, 조회구분 (1 합산 / 2 개별); single outputs 총매입금액 … 조회건수; multi outputs
  (계좌평가잔고개별합산) 종목번호, 종목명, …, 보유수량, **매매가능수량**, 매입가, 현재가 …. ``opw00001``
  예수금상세현황요청, the same inputs (조회구분 3 추정조회 / 2 일반조회), single outputs 예수금 … 주문가능금액 ….
  The SPEC calls the sellable figure 주문가능수량 (the Chejan 잔고 FID 933 name); opw00018's own field is
  매매가능수량.
* 종목번호 comes as ``'A005930'``, numbers zero-padded (public OCX code strips the ``'A'`` and converts).
* ``GetRepeatCnt(tr, rq_name)`` gives the rows; ``sPrevNext == '2'`` means more rows, fetched by
  ``CommRqData`` with ``nPrevNext = 2`` after setting the same inputs again.
* Queries count against Kiwoom's 5 TR requests per second (koapy quoting the Kiwoom board: "OpenAPI 조회는
  1초당 5회로 제한"; exceeding it is penalised with waits of 17 s and more), separately from the 5 orders/s:
  every request here first takes a token of ``throttling.queries_bucket_per_sec`` (a sliding window of 1 s
  plus ``throttling.window_margin_ms``). ``CommRqData`` returning -200 (OP_ERR_SISE_OVERFLOW) retries the
  request at the next free token; any other return code abandons the round with a notice.
* UNVERIFIED: the page size of opw00018 on the real server (the emulator pages by 20 rows), and whether
  조회구분 1 merges a code's cash and credit lots (this engine trades cash accounts only).

A round is both TRs for one ``purpose`` ('login', 'periodic', 'final'); a second round asked for while one
is running starts when it ends. A reply that does not come within ``reply_timeout_ns`` abandons the round
(a notice says so; the next round asks again).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.desk_events import BrokerNotice, CashReported, HoldingsReported, StepEvent
from core.throttle import TokenBucket
from kiwoom_bridge.errors import ErrorCode, describe
from kiwoom_bridge.fids import split_code

if TYPE_CHECKING:
    from kiwoom_bridge.openapi import OpenApi

__all__ = ["AccountQueries", "TR_CASH", "TR_HOLDINGS", "parse_tr_int"]

TR_HOLDINGS = "opw00018"
TR_CASH = "opw00001"
_PASSWORD_MEDIUM = "00"          # 비밀번호입력매체구분: 00 (the password saved in the account window)
_HOLDINGS_LOOKUP = "1"           # 조회구분 1: 합산 (one row per code)
_CASH_LOOKUP = "2"               # 조회구분 2: 일반조회
NS_PER_S = 1_000_000_000


def parse_tr_int(text: str, what: str) -> int:
    """A TR number field (``'000000000010'``, ``'-00001'``, blank = 0) as an int.

    Raises:
      ValueError: naming ``what`` for anything else.
    """
    t = text.strip().replace(",", "")
    if not t:
        return 0
    try:
        return int(t)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a number") from None


@dataclass
class _Round:
    purpose: str
    number: int
    queue: list[tuple[str, int]] = field(default_factory=list)   # (tr code, prev_next) still to send
    inflight: dict[str, tuple[str, int]] = field(default_factory=dict)  # rq name -> (tr code, sent ns)
    requested_ns: dict[str, int] = field(default_factory=dict)   # tr code -> first request time
    rows: list[tuple[str, int, int]] = field(default_factory=list)
    pages: int = 0
    done: set[str] = field(default_factory=set)


class AccountQueries:
    """Runs the account query rounds of one bridge (see the module docstring).

    Args:
      api: the facade (``request_tr``, ``get_comm_data``, ``repeat_count``).
      account: the account number (never logged).
      screen_no: the screen the queries use.
      bucket: the queries bucket (Kiwoom's TR rate limit).
      clock_ns: the engine clock.
      emit: where the domain events go (the bridge's step events).
      reply_timeout_ns: how long a reply may take before the round is abandoned.
    """

    def __init__(self, api: OpenApi, account: str, screen_no: str, bucket: TokenBucket, clock_ns: Callable[[], int],
                 emit: Callable[[StepEvent], None], reply_timeout_ns: int = 10 * NS_PER_S) -> None:
        self._api = api
        self._account = account
        self._screen = screen_no
        self._bucket = bucket
        self._clock = clock_ns
        self._emit = emit
        self._timeout_ns = reply_timeout_ns
        self._round: _Round | None = None
        self._waiting: list[str] = []
        self._number = 0
        self._last_ns = 0
        self.completed: list[str] = []       # purposes of the rounds that completed, in order
        self.failed: list[str] = []          # purposes of the rounds that were abandoned
        self.requests = 0

    # -- rounds ------------------------------------------------------------------------------------
    def start_round(self, purpose: str) -> None:
        """Ask for holdings and cash (after the round in progress, if any)."""
        if self._round is None:
            self._number += 1
            self._round = _Round(purpose, self._number, [(TR_HOLDINGS, 0), (TR_CASH, 0)])
            self.pump()
        else:
            self._waiting.append(purpose)

    @property
    def busy(self) -> bool:
        """A round is running or waiting."""
        return self._round is not None or bool(self._waiting)

    def settled(self, purpose: str) -> bool:
        """A round of ``purpose`` has completed or been abandoned."""
        return purpose in self.completed or purpose in self.failed

    def next_wakeup_ns(self) -> int | None:
        """When :meth:`pump` has something to do: a request waiting for a token, or a reply deadline."""
        r = self._round
        if r is None:
            return None
        now = self._now()
        cands = []
        if r.queue:
            cands.append(self._bucket.next_available_ns(now))
        cands.extend(sent + self._timeout_ns for _, sent in r.inflight.values())
        return min(cands) if cands else None

    def _now(self) -> int:
        self._last_ns = max(self._last_ns, self._clock())
        return self._last_ns

    def pump(self) -> None:
        """Send what the bucket allows; abandon the round when a reply is overdue."""
        r = self._round
        if r is None:
            return
        now = self._now()
        for rq, (tr, sent) in list(r.inflight.items()):
            if now - sent > self._timeout_ns:
                self._abandon(f"no reply to {tr} ({rq}) within {self._timeout_ns / NS_PER_S:g} s")
                return
        while r.queue and self._bucket.try_acquire(now):
            tr, prev_next = r.queue[0]
            rq = f"acct-{tr}-{r.number}-{r.pages + 1 if tr == TR_HOLDINGS else 1}"
            inputs = {"계좌번호": self._account, "비밀번호": "", "비밀번호입력매체구분": _PASSWORD_MEDIUM,
                      "조회구분": _HOLDINGS_LOOKUP if tr == TR_HOLDINGS else _CASH_LOOKUP}
            rc = self._api.request_tr(rq, tr, inputs, self._screen, prev_next)
            self.requests += 1
            if rc == ErrorCode.OP_ERR_SISE_OVERFLOW:
                return              # the server's query limit: the token stays spent, retry at the next one
            if rc != 0:
                self._abandon(f"{tr} request refused: {describe(rc)}")
                return
            r.queue.pop(0)
            r.inflight[rq] = (tr, now)
            r.requested_ns.setdefault(tr, now)

    def _abandon(self, why: str) -> None:
        r = self._round
        assert r is not None
        self._emit(BrokerNotice(f"account query ({r.purpose}) abandoned: {why}", self._now()))
        self.failed.append(r.purpose)
        self._next_round()

    def _next_round(self) -> None:
        self._round = None
        if self._waiting:
            self.start_round(self._waiting.pop(0))

    # -- replies --------------------------------------------------------------------------------------
    def on_tr_data(self, screen_no: str, rq_name: str, tr_code: str, record_name: str, prev_next: str) -> bool:
        """Read one reply inside ``OnReceiveTrData``; False when it is not one of ours."""
        r = self._round
        if r is None or rq_name not in r.inflight:
            return False
        tr, _ = r.inflight.pop(rq_name)
        now = self._now()
        try:
            if tr == TR_HOLDINGS:
                self._read_holdings(r, rq_name)
                r.pages += 1
                if prev_next.strip() == "2":
                    r.queue.insert(0, (TR_HOLDINGS, 2))
                else:
                    r.done.add(TR_HOLDINGS)
                    self._emit(HoldingsReported(tuple(sorted(set(r.rows))), r.requested_ns[TR_HOLDINGS], now,
                                                r.purpose))
            else:
                orderable = parse_tr_int(self._api.get_comm_data(tr, rq_name, 0, "주문가능금액"), "주문가능금액")
                deposit = parse_tr_int(self._api.get_comm_data(tr, rq_name, 0, "예수금"), "예수금")
                r.done.add(TR_CASH)
                self._emit(CashReported(orderable, deposit, r.requested_ns[TR_CASH], now, r.purpose))
        except ValueError as exc:
            self._abandon(f"{tr} reply not understood ({exc})")
            return True
        if r.done >= {TR_HOLDINGS, TR_CASH}:
            self.completed.append(r.purpose)
            self._next_round()
        else:
            self.pump()
        return True

    def _read_holdings(self, r: _Round, rq: str) -> None:
        api = self._api
        for i in range(api.repeat_count(TR_HOLDINGS, rq)):
            raw = api.get_comm_data(TR_HOLDINGS, rq, i, "종목번호")
            code, _ = split_code(raw)
            if not (len(code) == 6 and code.isdigit()):
                raise ValueError(f"종목번호 {raw!r} is not a code")
            qty = parse_tr_int(api.get_comm_data(TR_HOLDINGS, rq, i, "보유수량"), "보유수량")
            sellable = parse_tr_int(api.get_comm_data(TR_HOLDINGS, rq, i, "매매가능수량"), "매매가능수량")
            r.rows.append((code, qty, sellable))
