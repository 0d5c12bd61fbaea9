"""The emulated control's connection state, shared by every part of it.

Login (``CommConnect`` → ``OnEventConnect``) and disconnects (:mod:`kiwoom_bridge.emulator.control`) write it;
real data, the FID 215 feed, orders, Chejan and TR replies read it: while disconnected nothing is delivered
and calls that need the server return -106.
"""
from __future__ import annotations

__all__ = ["Connection"]


class Connection:
    """Whether the control is logged in, and whether the account password window has been used.

    Attributes:
      connected: ``GetConnectState() == 1``.
      account_ok: ``KOA_Functions("ShowAccountWindow", "")`` was called while connected (orders need it).
    """

    __slots__ = ("connected", "account_ok")

    def __init__(self) -> None:
        self.connected = False
        self.account_ok = False
