"""The engine's vocabulary: one enum per concept, each with one parser.

Every value the engine passes around for a venue, an order side, a spread direction, a listing market,
an order style or an order's role in a pair is a member of one of these enums. The values are the
literal strings the operator reads in logs and reports (``"KRX"``, ``"BUY"``, ``"A"``); because they are
``str`` enums, a member compares equal to its literal (``Venue.KRX == "KRX"``). Text from outside
(config, recordings, the operator) becomes a member through the enum's ``parse`` and nowhere else.

Kiwoom's own encodings (hoga codes ``"00"``/``"10"``, order types 1/2/21/22, the ``_NX`` suffix, Chejan
FID 907 ``'1'``/``'2'``) are not here: :mod:`kiwoom_bridge` translates them to and from these members.
"""
from __future__ import annotations

from enum import StrEnum, unique
from typing import Self

__all__ = ["Direction", "LiteralEnum", "Market", "MarketOperation", "OperatorAction", "OrderRole", "OrderStyle", "Side",
           "Venue", "ViKind"]


class LiteralEnum(StrEnum):
    """A ``str`` enum whose values are the literal strings, with the one forgiving parser."""

    @classmethod
    def parse(cls, text: object) -> Self:
        """The member for ``text``: a member, or its literal string in any case, surrounding spaces ignored.

        Raises:
          ValueError: naming the bad text and the accepted values.
        """
        if isinstance(text, cls):
            return text
        if isinstance(text, str):
            key = text.strip()
            for member in cls:
                if member.value == key or member.value.upper() == key.upper():
                    return member
        accepted = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown {cls.__name__.lower()} {text!r}: expected one of {accepted}")


@unique
class Venue(LiteralEnum):
    """A trading venue. ``l1_index`` is its value in the numpy L1 rows' ``venue`` column (0 KRX, 1 NXT)."""

    KRX = "KRX"
    NXT = "NXT"

    @property
    def l1_index(self) -> int:
        """0 for KRX, 1 for NXT (the ``venue`` column of :data:`core.l1.L1_ROW_DTYPE`).

        Not named ``index``: that would shadow :meth:`str.index` of this ``str`` enum.
        """
        return 0 if self is Venue.KRX else 1

    @classmethod
    def from_index(cls, index: int) -> Venue:
        """The venue of an L1 row's ``venue`` column (0 or 1).

        Raises:
          ValueError: for any other value.
        """
        if index == 0:
            return cls.KRX
        if index == 1:
            return cls.NXT
        raise ValueError(f"venue index must be 0 (KRX) or 1 (NXT), got {index!r}")

    @property
    def other(self) -> Venue:
        """The other venue."""
        return Venue.NXT if self is Venue.KRX else Venue.KRX


@unique
class Side(LiteralEnum):
    """An order side. ``sign`` is +1 for a buy (shares in) and −1 for a sell (shares out)."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY, −1 for SELL: the change of the position per share filled."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


@unique
class Direction(LiteralEnum):
    """Direction of a cross-venue spread: A buys KRX and sells NXT, B buys NXT and sells KRX.

    The buy venue is the *cheap* one (the hedge posts there), the sell venue the *rich* one (the take
    sells there). ``kernel_code`` is the int8 the numba edge kernel writes (1 A, 2 B, 0 none).
    """

    A = "A"
    B = "B"

    @property
    def buy_venue(self) -> Venue:
        """The cheap venue: where the slice buys (the hedge)."""
        return Venue.KRX if self is Direction.A else Venue.NXT

    @property
    def sell_venue(self) -> Venue:
        """The rich venue: where the slice sells (the take)."""
        return Venue.NXT if self is Direction.A else Venue.KRX

    @property
    def label(self) -> str:
        """``"KRX->NXT"`` (A) or ``"NXT->KRX"`` (B): buy venue, then sell venue."""
        return f"{self.buy_venue.value}->{self.sell_venue.value}"

    @property
    def kernel_code(self) -> int:
        """1 for A, 2 for B (the edge and scan kernels' int8 encoding; 0 = no direction)."""
        return 1 if self is Direction.A else 2

    @classmethod
    def from_kernel_code(cls, code: int) -> Direction:
        """The direction of a kernel output (1 A, 2 B).

        Raises:
          ValueError: for 0 (no direction) or any other value.
        """
        if code == 1:
            return cls.A
        if code == 2:
            return cls.B
        raise ValueError(f"kernel direction code must be 1 (A) or 2 (B), got {code!r}")


@unique
class Market(LiteralEnum):
    """Listing market of a stock; selects the sell-tax rate."""

    KOSPI = "KOSPI"
    KOSDAQ = "KOSDAQ"


@unique
class OrderStyle(LiteralEnum):
    """How an order executes, independent of any broker's codes.

    ``priced`` styles carry a limit price; the others are sent with price 0. ``immediate`` styles
    (IOC/FOK and plain market) never rest on the book. ``MID`` rests at the venue's mid price (NXT only).
    """

    LIMIT = "limit"
    LIMIT_IOC = "limit_ioc"
    LIMIT_FOK = "limit_fok"
    MARKET = "market"
    MARKET_IOC = "market_ioc"
    MARKET_FOK = "market_fok"
    MID = "mid"

    @property
    def priced(self) -> bool:
        """Whether the order carries a limit price (limit, limit IOC, limit FOK)."""
        return self in (OrderStyle.LIMIT, OrderStyle.LIMIT_IOC, OrderStyle.LIMIT_FOK)

    @property
    def is_market(self) -> bool:
        """Whether the order has no price bound at all (market, market IOC, market FOK)."""
        return self in (OrderStyle.MARKET, OrderStyle.MARKET_IOC, OrderStyle.MARKET_FOK)

    @property
    def immediate(self) -> bool:
        """Whether whatever does not fill at once is cancelled by the venue (IOC, FOK, market IOC/FOK)."""
        return self in (OrderStyle.LIMIT_IOC, OrderStyle.LIMIT_FOK, OrderStyle.MARKET_IOC,
                        OrderStyle.MARKET_FOK)


@unique
class OrderRole(LiteralEnum):
    """What an order does for its pair: the take sells the rich venue, the hedge post buys the cheap
    venue at its touch, a hedge IOC buys what the post did not, an unwind sells an over-hedge."""

    TAKE = "take"
    HEDGE_POST = "hedge_post"
    HEDGE_IOC = "hedge_ioc"
    UNWIND = "unwind"


@unique
class MarketOperation(LiteralEnum):
    """A market-operation notice from the broker (the bridge translates the broker's own codes).

    The session clock acts on ``NXT_MAIN_OPEN`` / ``NXT_MAIN_CLOSE``; the others are recorded.
    ``OTHER`` is a notice the broker documents that means nothing to the engine; ``UNKNOWN`` one the
    bridge has no meaning for (its raw code travels with it and is logged).
    """

    KRX_PRE_OPEN = "krx_pre_open"
    KRX_OPEN = "krx_open"
    KRX_CLOSING_CALL = "krx_closing_call"
    KRX_CLOSE = "krx_close"
    NXT_PRE_MARKET_OPEN = "nxt_pre_market_open"
    NXT_PRE_MARKET_CLOSE = "nxt_pre_market_close"
    NXT_MAIN_OPEN = "nxt_main_open"
    NXT_MAIN_CLOSE = "nxt_main_close"
    NXT_AFTER_CALL_OPEN = "nxt_after_call_open"
    NXT_AFTER_MARKET_OPEN = "nxt_after_market_open"
    NXT_CLOSING_PRICE_END = "nxt_closing_price_end"
    NXT_AFTER_MARKET_CLOSE = "nxt_after_market_close"
    OTHER = "other"
    UNKNOWN = "unknown"


@unique
class OperatorAction(LiteralEnum):
    """What the operator asks of the engine (GUI, arbctl), carried to the PairManager inside a step.

    Without a code: ``ARM`` lifts the engine-wide disarm (the operator's or a kill switch's; the session
    guard still decides whether the engine may trade), ``DISARM`` stops new pairs (in-flight pairs finish).
    With a code: ``MUTE`` stops new pairs on it until ``UNMUTE``; ``ARM`` re-arms it (lifts its freeze and
    its mute). Other work (account reconciliation freezes) plugs into ``ARM CODE``.
    """

    ARM = "ARM"
    DISARM = "DISARM"
    MUTE = "MUTE"
    UNMUTE = "UNMUTE"

    @property
    def needs_code(self) -> bool:
        """Whether the action is about one code (``MUTE``/``UNMUTE``) rather than optional."""
        return self in (OperatorAction.MUTE, OperatorAction.UNMUTE)


@unique
class ViKind(LiteralEnum):
    """The kind of a volatility interruption (VI, 변동성완화장치): static (against the last call's price),
    dynamic (against the last trade), both at once, or a kind the bridge could not read."""

    STATIC = "static"
    DYNAMIC = "dynamic"
    BOTH = "static+dynamic"
    UNKNOWN = "unknown"
