"""Optional numba: ``njit`` is :func:`numba.njit` when numba imports, otherwise an identity decorator.

The Kiwoom host runs 32-bit Python on Windows, where numba/llvmlite have no wheels. Modules decorate
their kernels with :data:`njit` from here so they still import and run there (as plain Python, slower).
``HAVE_NUMBA`` tells callers (benchmarks, tests, ``warm_up``) which one they got.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["HAVE_NUMBA", "njit"]

try:  # pragma: no branch - which arm runs depends on the host
    import numba as _numba
except ImportError:  # 32-bit Windows host, or numba not installed
    _numba = None

HAVE_NUMBA: bool = _numba is not None


def _identity_njit(*args: Any, **kwargs: Any) -> Any:
    """Stand-in for ``numba.njit``: accepts the same call forms and returns the function unchanged.

    ``@njit``, ``@njit(cache=True, nogil=True)`` and ``@njit("int64(int64)", cache=True)`` all work.
    """
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    return decorate


njit: Callable[..., Any] = _numba.njit if _numba is not None else _identity_njit
