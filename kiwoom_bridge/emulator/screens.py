"""Screen numbers (화면번호) of the emulated control: which are valid, which are in use and for what.

A screen number is 1–4 digits, not ``0``. Real-time registrations (``SetRealReg``), market-wide FID 215
registrations, ``SendOrder`` and ``CommRqData`` all use screens and all count towards the limit: a call that
would make a 201st distinct screen is refused with -10 OP_ERR_FAIL (the real control's behaviour past 200
screens is "data gets mixed", i.e. undefined). Screens of orders and TR queries stay in use for the session.
"""
from __future__ import annotations

__all__ = ["MAX_SCREENS", "Screens"]

MAX_SCREENS = 200


class Screens:
    """The screens in use.

    Attributes:
      codes: Real-time screen → the wire codes registered on it (:mod:`kiwoom_bridge.emulator.realtime`).
      fids: Real-time screen → the FIDs registered on it.
      market_wide: Screens registered with an empty code list for FID 215
        (:mod:`kiwoom_bridge.emulator.session_feed`).
      other: Screens used by SendOrder and CommRqData.
    """

    __slots__ = ("codes", "fids", "market_wide", "other")

    def __init__(self) -> None:
        self.codes: dict[str, set[str]] = {}
        self.fids: dict[str, set[int]] = {}
        self.market_wide: set[str] = set()
        self.other: set[str] = set()

    @staticmethod
    def valid(screen: str) -> bool:
        """Whether ``screen`` is a usable screen number (1–4 digits, not 0)."""
        return isinstance(screen, str) and 1 <= len(screen) <= 4 and screen.isdigit() and int(screen) != 0

    def in_use(self) -> set[str]:
        """Every screen in use, whatever for."""
        return set(self.codes) | self.market_wide | self.other

    def claim(self, screen: str, real: bool) -> bool:
        """Whether ``screen`` may be used (False: it would be the 201st).

        ``real`` False (orders, TR queries) also records the screen as used; real-time registrations record
        their screens themselves (in :attr:`codes` or :attr:`market_wide`).
        """
        in_use = self.in_use()
        if screen in in_use:
            return True
        if len(in_use) >= MAX_SCREENS:
            return False
        if not real:
            self.other.add(screen)
        return True
