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


class _SecondText:
    """The HHMMSS text of the second last asked for: every real-data event carries its time, and events come
    many to a second (formatting each one was 5 % of a dense replay's profile)."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: tuple[int, str] = (-1, "")          # replaced whole: safe to read from threads

    def of(self, t_ns: int) -> str:
        second = t_ns // NS_PER_S
        known, text = self.last
        if second == known:
            return text
        s = (second + 32_400) % 86_400
        text = f"{s // 3600:02d}{s % 3600 // 60:02d}{s % 60:02d}"
        self.last = (second, text)
        return text


_SECOND_TEXT = _SecondText()


def hhmmss(t_ns: int) -> str:
    """Asia/Seoul time of day of ``t_ns`` as Kiwoom's HHMMSS (KST is UTC+9 all year)."""
    return _SECOND_TEXT.of(t_ns)
