"""Broker account reports for tests that drive the real pair desk (it admits no pair before them)."""
from __future__ import annotations

from collections.abc import Iterable

from core.desk_events import CashReported, HoldingsReported


def account_reports(holdings: Iterable[tuple[str, int]], cash_krw: int, t_ns: int,
                    purpose: str = "login") -> list[HoldingsReported | CashReported]:
    """The broker's holdings (``(code, shares)``, all sellable) and cash reports, requested 20 ms before ``t_ns``."""
    rows = tuple((code, qty, qty) for code, qty in holdings)
    return [HoldingsReported(rows, t_ns - 20_000_000, t_ns, purpose),
            CashReported(cash_krw, cash_krw, t_ns - 20_000_000, t_ns, purpose)]
