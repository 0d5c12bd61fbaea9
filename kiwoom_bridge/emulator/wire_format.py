"""How the emulated control writes values the way Kiwoom does (the inverse of :mod:`kiwoom_bridge.fids`).

* Prices in real data, Chejan and TR replies are sign-prefixed against the previous close (``'+84500'``
  above, ``'-84490'`` below, no sign when equal; ``''`` for no price).
* Times are Asia/Seoul ``HHMMSS``.
"""
from __future__ import annotations

from core.clock import NS_PER_S

__all__ = ["hhmmss", "signed_price"]


def signed_price(p: int, ref: int) -> str:
    """Kiwoom's encoding of a price against the previous close ``ref``: '+p' above, '-p' below, 'p' equal."""
    if not p:
        return ""
    return f"+{p}" if p > ref else (f"-{p}" if p < ref else str(p))


def hhmmss(t_ns: int) -> str:
    """Asia/Seoul time of day of ``t_ns`` as Kiwoom's HHMMSS (KST is UTC+9 all year)."""
    s = (t_ns // NS_PER_S + 32_400) % 86_400
    return f"{s // 3600:02d}{s % 3600 // 60:02d}{s % 60:02d}"
