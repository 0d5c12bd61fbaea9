"""Qt-style signals of the emulated control (what PyQt5 gives a ``QAxWidget``'s COM events).

Named ``QtSignal`` because the engine has another ``Signal`` (:class:`actors.messages.Signal`, a spread signal).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["QtSignal"]


class QtSignal:
    """A minimal synchronous Qt-style signal: ``connect(fn)``, ``disconnect(fn)``, ``emit(*args)``."""

    __slots__ = ("name", "_slots")

    def __init__(self, name: str) -> None:
        self.name = name
        self._slots: list[Callable[..., Any]] = []

    def connect(self, slot: Callable[..., Any]) -> None:
        """Call ``slot(*args)`` on every emit (in connection order)."""
        if not callable(slot):
            raise TypeError(f"{self.name}.connect needs a callable, got {slot!r}")
        self._slots.append(slot)

    def disconnect(self, slot: Callable[..., Any] | None = None) -> None:
        """Remove ``slot`` (or every slot when None)."""
        if slot is None:
            self._slots.clear()
        else:
            self._slots.remove(slot)

    def emit(self, *args: Any) -> None:
        """Call every connected slot synchronously with ``args``."""
        for slot in self._slots:
            slot(*args)

    def __repr__(self) -> str:
        return f"QtSignal({self.name}, {len(self._slots)} slots)"
