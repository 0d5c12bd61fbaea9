"""Kiwoom wire codes: the one parser (and writer) of the stock codes Kiwoom sends and accepts.

A stock has one 6-character code (``'005930'``); on the wire it is suffixed by the stream it names:

==================  ============  ==================================================================
wire code           venue         stream
==================  ============  ==================================================================
``'005930'``        ``'KRX'``     KRX (real data, orders, TR queries)
``'005930_NX'``     ``'NXT'``     NXT (Nextrade)
``'005930_AL'``     ``'AL'``      통합: KRX and NXT integrated (SOR routing, combined quotes)
``'A005930'``       (as above)    Chejan FID 9001 prefixes the code with ``'A'`` (``'A005930_NX'``)
==================  ============  ==================================================================

**The ``_AL`` rule.** An ``_AL`` code is recognised and reported as venue :data:`AL` — never as KRX or NXT,
because its quotes are neither venue's book. This engine trades and records the KRX and NXT streams only,
so every consumer refuses or ignores ``AL`` explicitly: the universe file refuses ``_AL`` codes
(:mod:`config.universe_file`); the bridge drops AL real data with a notice; recordings refuse ``_AL`` raw
codes (:mod:`kiwoom_bridge.recording`,
:mod:`kiwoom_bridge.recording_reader`); the emulator accepts ``_AL`` registrations like the OCX but never
sends AL data, refuses ``_AL`` orders with -500 and answers ``_AL`` opt10001 queries without prices (it
models no integrated book).
"""
from __future__ import annotations

from kiwoom_bridge.types import KRX, NXT

__all__ = ["AL", "AL_SUFFIX", "NX_SUFFIX", "parse_code", "wire_code"]

NX_SUFFIX = "_NX"
AL_SUFFIX = "_AL"
#: The venue :func:`parse_code` reports for an ``_AL`` (integrated KRX+NXT) code.
AL = "AL"

_SUFFIX = {KRX: "", NXT: NX_SUFFIX, AL: AL_SUFFIX}


def parse_code(raw: str, *, chejan: bool = False) -> tuple[str, str]:
    """Split a wire code into ``(code, venue)``: ``'005930_NX'`` → ``('005930', 'NXT')``.

    Surrounding blanks are ignored; ``_NX`` means NXT, ``_AL`` means :data:`AL` (see the module docstring),
    no suffix KRX. With ``chejan`` the ``'A'`` prefix of Chejan FID 9001 is removed too (``'A005930_NX'`` →
    ``('005930', 'NXT')``). The code itself is not validated (callers check it is a 6-character code).
    """
    c = raw.strip()
    venue = KRX
    if c.endswith(NX_SUFFIX):
        c = c[:-3]
        venue = NXT
    elif c.endswith(AL_SUFFIX):
        c = c[:-3]
        venue = AL
    if chejan and len(c) == 7 and c[0] == "A":
        c = c[1:]
    return c, venue


def wire_code(code: str, venue: str) -> str:
    """The wire code of ``code`` on ``venue``: ``('005930', 'NXT')`` → ``'005930_NX'``.

    Raises:
      KeyError: For a venue other than KRX, NXT or :data:`AL`.
    """
    return code + _SUFFIX[venue]
