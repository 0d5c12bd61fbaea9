"""A cheap ``repr`` for messages that carry arrays or long tuples.

Thespian 4.0.1 ``str()``s every message on send and receive whatever the log level (``identify()`` for its
debug log line), so a message's repr is paid twice per hop. The default dataclass repr of a numpy batch costs
~5 ms per hop (``bench/bases.py``), and so does an array *nested* in a field (the ``L1Touches`` of a
``SignalBatch``: on 2026-12-02 formatting it took 78 % of the SpreadEngine's CPU under load). The repr here
never formats an array or walks a long container, at any depth.
"""
from __future__ import annotations

import enum
from dataclasses import fields, is_dataclass
from typing import TypeVar

import numpy as np

__all__ = ["compact_repr"]

_T = TypeVar("_T", bound=type)
#: How deep nested values are shown before they are named by their type only.
_MAX_DEPTH = 2
_PLAIN = (int, float, bool, str, bytes, enum.Enum, type(None))


def _short(value: object, depth: int = 0) -> str:
    if isinstance(value, np.ndarray):
        return f"<{len(value) if value.ndim else 1} rows>"
    if isinstance(value, _PLAIN):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    if depth >= _MAX_DEPTH:
        return f"<{type(value).__name__}>"
    if isinstance(value, (tuple, list)):
        if len(value) > 4:
            return f"<{len(value)} items>"
        inner = ", ".join(_short(v, depth + 1) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, dict):
        return f"<{len(value)} keys>"
    if is_dataclass(value) and not isinstance(value, type):
        return _fields_repr(value, depth + 1)
    return f"<{type(value).__name__}>"


def _fields_repr(obj: object, depth: int) -> str:
    inner = ", ".join(f"{f.name}={_short(getattr(obj, f.name), depth)}" for f in fields(obj))  # type: ignore[arg-type]
    return f"{type(obj).__name__}({inner})"


def compact_repr(cls: _T) -> _T:
    """Class decorator: a repr of bounded cost (arrays, long tuples and dicts shown by their length, nested
    values to a fixed depth)."""

    def __repr__(self: object) -> str:  # noqa: N807 - installed as the class's __repr__
        return _fields_repr(self, 0)

    cls.__repr__ = __repr__  # type: ignore[assignment]
    return cls
