"""A cheap ``repr`` for messages that carry arrays or long tuples.

Thespian 4.0.1 ``str()``s every message on send and receive whatever the log level, and the default
dataclass repr of a numpy batch costs ~5 ms per hop (``bench/bases.py``).
"""
from __future__ import annotations

from dataclasses import fields
from typing import TypeVar

import numpy as np

__all__ = ["compact_repr"]

_T = TypeVar("_T", bound=type)


def _short(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"<{len(value)} rows>"
    if isinstance(value, (tuple, list)) and len(value) > 4:
        return f"<{len(value)} items>"
    if isinstance(value, dict):
        return f"<{len(value)} keys>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def compact_repr(cls: _T) -> _T:
    """Class decorator: a repr of O(fields) cost (arrays, long tuples and dicts shown by their length)."""

    def __repr__(self: object) -> str:  # noqa: N807 - installed as the class's __repr__
        inner = ", ".join(f"{f.name}={_short(getattr(self, f.name))}" for f in fields(self))  # type: ignore[arg-type]
        return f"{type(self).__name__}({inner})"

    cls.__repr__ = __repr__  # type: ignore[assignment]
    return cls
