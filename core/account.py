"""The account as the engine knows it (SPEC §10): holdings and orderable cash from the broker, what is left
for new pairs after what open orders claim, and the reconciliation of the broker's holdings against the
engine's own fills. Pure: no clock, no I/O; quantities are shares, money KRW, times engine-clock ns.

Where the numbers come from
---------------------------
* **The broker's reports.** A holdings report (all of the account's codes with shares held and shares
  sellable; Kiwoom's ``opw00018``) and a cash report (orderable cash; ``opw00001``) arrive at login, every
  ``risk.reconcile_interval_s`` and at the end. A report describes the broker's state at some instant
  between its request and its reply, so it is only *applied* to a code that was **quiet** over that whole
  window (no order of the engine's open on it, no fill of it): then the report and the engine's fills cover
  the same trades. A busy code keeps its tracked figures and is checked at the next report. The cash report
  is applied only when the whole account was quiet. The first report of each kind is always applied (it
  comes at login, before any order).
* **The broker's position notices** after each fill (Kiwoom's Chejan 잔고: shares held) set the holding of
  their code at once: a notice follows the fill it reports, so it already includes every fill the engine has
  booked before it.
* **The engine's own fills** move the tracked holding and cash between reports: a buy adds shares and
  costs its notional plus fee, a sell removes shares and brings its notional less fee and tax (a sale's
  proceeds can be spent the same day, before settlement).

What is left for a new pair
---------------------------
``sellable(code, claimed)`` = shares held − shares the broker locks for other reasons (``held − sellable``
at the last quiet report: another terminal's open sell, collateral) − ``claimed``, the shares the engine's
own unresolved sell orders may still sell. ``cash_available(claimed_krw)`` = tracked orderable cash −
``claimed_krw``, what the engine's unresolved pairs may still have to pay (:func:`pair_claim`). An order
whose fate is unknown (lost, given up) keeps its claim: it may still fill.

Reconciliation
--------------
``expected(code)`` = the holding at the first report + the engine's fills since. Whenever the broker's holding
of a quiet code (a report) or of any code (a position notice) differs, that is a :class:`Mismatch` (a trade
from another terminal, a corporate action, a fill the engine never heard of): the caller freezes the code
until the operator re-arms it (:meth:`AccountModel.rearm`), which accepts the broker's figure from then on.
The inventory (:meth:`AccountModel.inventory`) shows per code the holding at the start and at the end, the
engine's own net (its fills) and what they do not explain (``end − start − net``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.enums import Side
from core.pair_events import OPEN_STATUSES, OrderStatus, OrderView

__all__ = ["AccountModel", "Claim", "Holding", "InventoryRow", "Mismatch", "pair_claim"]


@dataclass(frozen=True, slots=True)
class Holding:
    """One code as a broker report gives it: shares held and shares it would let us sell now."""

    qty: int
    sellable: int


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The broker holds ``broker_qty`` shares of ``code`` where the engine's fills explain ``expected_qty``.

    ``source`` says which report showed it (``'holdings report'`` or ``'position notice'``); ``t_ns`` when.
    """

    code: str
    expected_qty: int
    broker_qty: int
    source: str
    t_ns: int

    @property
    def delta(self) -> int:
        """Broker − expected, shares (+ the account holds more than the engine's fills explain)."""
        return self.broker_qty - self.expected_qty


@dataclass(frozen=True, slots=True)
class InventoryRow:
    """One code's inventory over the session: ``start`` (first report), ``end`` (the latest figure), the
    engine's own ``net`` (its fills, + bought) and ``unexplained`` = ``end − start − net`` (another
    terminal's trades, a corporate action, a fill the engine never heard of)."""

    code: str
    start: int
    end: int
    net: int

    @property
    def unexplained(self) -> int:
        return self.end - self.start - self.net


@dataclass(frozen=True, slots=True)
class Claim:
    """What a pair may still need from the account: ``sell_shares`` it may still sell and ``cash_krw`` it
    may still have to pay (KRW, fees included)."""

    sell_shares: int = 0
    cash_krw: float = 0.0

    def plus(self, other: Claim) -> Claim:
        return Claim(self.sell_shares + other.sell_shares, self.cash_krw + other.cash_krw)


def _unresolved(o: OrderView) -> bool:
    """Whether ``o`` may still trade: open, or lost (it may surface), or given up while open."""
    return o.status in OPEN_STATUSES or o.status is OrderStatus.LOST


def pair_claim(orders: Iterable[OrderView], buy_bound_px: int, fee_bps: float) -> Claim:
    """What the orders of one pair may still take from the account.

    ``sell_shares``: the remaining quantity of its unresolved sell orders (the take, unwinds). ``cash_krw``:
    the shares it may still have to buy — what its sells may have sold (filled + unresolved remainder) less
    what it bought, and at least what its open buys ask for — at the larger of ``buy_bound_px`` (KRW, the
    price bound of a flatten) and its open buy limits, plus the fee at ``fee_bps``.
    """
    sell_open = 0
    may_have_sold = 0
    bought = 0
    buy_open = 0
    px = max(int(buy_bound_px), 0)
    for o in orders:
        open_rest = max(o.remaining, 0) if _unresolved(o) else 0
        if o.intent.side is Side.SELL:
            sell_open += open_rest
            may_have_sold += o.filled + open_rest
        else:
            bought += o.filled
            buy_open += open_rest
            if open_rest and o.intent.price > px:
                px = o.intent.price
    need = max(may_have_sold - bought, buy_open, 0)
    return Claim(sell_open, need * px * (1.0 + fee_bps / 10_000.0))


def _free(held: int, locked: int, claimed: int) -> int:
    """Shares a new sell may use: ``held`` − ``locked`` by the broker − ``claimed`` by open orders (never < 0)."""
    return max(0, held - locked - max(claimed, 0))


class AccountModel:
    """Holdings, orderable cash and reconciliation of one account (see the module docstring).

    Args:
      codes: the universe's 6-digit codes (the codes reconciled and shown; others in a report are ignored).
    """

    def __init__(self, codes: Iterable[str]) -> None:
        self.codes: tuple[str, ...] = tuple(dict.fromkeys(codes))
        self._known_codes = frozenset(self.codes)
        self.holdings_known = False
        self.cash_known = False
        self._held: dict[str, int] = {}
        self._locked: dict[str, int] = {}
        self._start: dict[str, int] = {}
        self._expected: dict[str, int] = {}
        self._fills_net: dict[str, int] = {}
        self._mismatch: dict[str, Mismatch] = {}
        self._traded: set[str] = set()
        self.cash_krw = 0.0
        self.deposit_krw: int | None = None
        self.reports = 0
        self.deferred = 0

    # -- the broker's reports ---------------------------------------------------------------------
    @property
    def known(self) -> bool:
        """Both a holdings and a cash report have been applied (no pair may start before)."""
        return self.holdings_known and self.cash_known

    def on_holdings_report(self, holdings: Mapping[str, Holding], t_ns: int,
                           busy: Iterable[str] = ()) -> list[Mismatch]:
        """Apply a complete holdings report (codes it does not list hold nothing).

        ``busy``: codes that were not quiet over the report's window; their figures are kept as tracked
        (and they are not reconciled this time). Returns the new mismatches.
        """
        self.reports += 1
        busy_set = set(busy)
        first = not self.holdings_known
        found: list[Mismatch] = []
        for code in self.codes:
            h = holdings.get(code, Holding(0, 0))
            if first:
                self._start[code] = self._expected[code] = h.qty
            elif code in busy_set:
                self.deferred += 1
                continue
            self._held[code] = h.qty
            self._locked[code] = max(0, h.qty - max(h.sellable, 0))
            if not first:
                mm = self._check(code, h.qty, "holdings report", t_ns)
                if mm is not None:
                    found.append(mm)
        self.holdings_known = True
        return found

    def on_position_notice(self, code: str, qty: int, t_ns: int, check: bool = True) -> Mismatch | None:
        """The broker's position notice after a fill: ``qty`` shares of ``code`` held now.

        ``check`` False: a fill of the code is known to be on its way to the engine's books (its notice came
        before its order's number): the holding is taken, the comparison waits for the next report.
        """
        if code not in self._known_codes:
            return None
        self._held[code] = qty
        if not self.holdings_known or not check:
            return None
        return self._check(code, qty, "position notice", t_ns)

    def on_cash_report(self, orderable_krw: float, deposit_krw: int | None, quiet: bool) -> bool:
        """Apply a cash report (orderable cash, KRW) when ``quiet`` or when none was applied yet.

        Returns whether it was applied (else the tracked figure stands and ``deferred`` counts it).
        """
        self.deposit_krw = deposit_krw
        if quiet or not self.cash_known:
            self.cash_krw = float(orderable_krw)
            self.cash_known = True
            return True
        self.deferred += 1
        return False

    def _check(self, code: str, broker_qty: int, source: str, t_ns: int) -> Mismatch | None:
        expected = self._expected.get(code, 0)
        if broker_qty == expected:
            self._mismatch.pop(code, None)     # the broker agrees again (e.g. a late notice caught up)
            return None
        old = self._mismatch.get(code)
        if old is not None and old.broker_qty == broker_qty and old.expected_qty == expected:
            return None                        # already reported
        mm = Mismatch(code, expected, broker_qty, source, t_ns)
        self._mismatch[code] = mm
        return mm

    # -- the engine's own fills -------------------------------------------------------------------
    def on_fill(self, code: str, side: Side, qty: int, cash_krw: float) -> None:
        """Book one fill of the engine's: ``qty`` shares of ``code``; ``cash_krw`` its signed net cash
        (+ a sell's proceeds less fee and tax, − a buy's cost and fee)."""
        signed = qty if side is Side.BUY else -qty
        self._held[code] = self._held.get(code, 0) + signed
        self._expected[code] = self._expected.get(code, 0) + signed
        self._fills_net[code] = self._fills_net.get(code, 0) + signed
        self._traded.add(code)
        self.cash_krw += float(cash_krw)

    # -- the operator --------------------------------------------------------------------------------
    def rearm(self, code: str) -> int:
        """Accept the broker's holding of ``code`` as the truth from now on; returns the accepted change
        (shares the engine's fills do not explain; 0 when there was no mismatch)."""
        mm = self._mismatch.pop(code, None)
        if mm is None:
            return 0
        held = self._held.get(code, mm.broker_qty)
        delta = held - self._expected.get(code, 0)
        self._expected[code] = held
        return delta

    # -- views --------------------------------------------------------------------------------------
    def held(self, code: str) -> int:
        """Shares of ``code`` the account holds (tracked)."""
        return self._held.get(code, 0)

    def expected(self, code: str) -> int:
        """Shares of ``code`` the engine's fills say the account holds."""
        return self._expected.get(code, 0)

    def sellable(self, code: str, claimed: int = 0) -> int:
        """Shares of ``code`` a new sell may use: held − locked by the broker − ``claimed`` by open orders."""
        return _free(self._held.get(code, 0), self._locked.get(code, 0), claimed)

    def holdings_of(self, codes: Iterable[str], claimed: Mapping[str, int]) -> list[tuple[str, int, int]]:
        """``(code, held, sellable)`` of each of ``codes`` (sellable after ``claimed`` shares): :meth:`held` and
        :meth:`sellable` in one pass, for a whole universe several times a second (the operator's window)."""
        held, locked = self._held, self._locked
        out = []
        for c in codes:
            h = held.get(c, 0)
            out.append((c, h, _free(h, locked.get(c, 0), claimed.get(c, 0))))
        return out

    def cash_available(self, claimed_krw: float = 0.0) -> float:
        """Orderable cash (KRW) left after what unresolved pairs claim."""
        return self.cash_krw - max(claimed_krw, 0.0)

    @property
    def mismatches(self) -> dict[str, Mismatch]:
        """Codes whose broker holding disagrees with the engine's fills and that were not re-armed."""
        return dict(self._mismatch)

    def untradeable(self, min_qty: int) -> list[str]:
        """Codes the account cannot sell ``min_qty`` of (no holdings, or locked), in universe order."""
        if not self.holdings_known:
            return []
        return [c for c in self.codes if self.sellable(c) < min_qty]

    def inventory(self) -> list[InventoryRow]:
        """Codes held at the start or the end, or traded, in universe order."""
        rows = []
        for c in self.codes:
            start = self._start.get(c, 0)
            end = self._held.get(c, 0)
            if start or end or c in self._traded or c in self._mismatch:
                rows.append(InventoryRow(c, start, end, self._fills_net.get(c, 0)))
        return rows

    def holdings_now(self) -> dict[str, Holding]:
        """Tracked holding and sellable shares (before claims) of every code held."""
        return {c: Holding(q, self.sellable(c)) for c in self.codes if (q := self._held.get(c, 0))}

