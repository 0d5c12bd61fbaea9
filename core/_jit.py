"""Optional numba, with an on-disk cache keyed on every source the kernels compile in.

``njit`` is :func:`numba.njit` when numba imports, otherwise an identity decorator. The Kiwoom host runs 32-bit
Python on Windows, where numba/llvmlite have no wheels; modules decorate their kernels with :data:`njit` from
here so they still import and run there (as plain Python, slower). ``HAVE_NUMBA`` tells callers (benchmarks,
tests, ``warm_up``) which one they got.

**Cache keying.** numba's own cache (``cache=True``) is invalidated only when the file of the decorated function
changes, not when a function it calls does: after an edit of the tick table in :mod:`core.ticks`, the kernel of
:mod:`core.edge` kept loading its machine code with the old table inlined. Here every ``cache=True`` kernel is
cached in a directory named after :data:`KERNEL_CACHE_KEY`, a hash of all :data:`KERNEL_SOURCES`: any edit of
any of them makes a fresh directory, so a stale build is never found. The directory
(:data:`KERNEL_CACHE_DIR`) is ``$NUMBA_CACHE_DIR/arb-<key>`` when that variable is set, otherwise
``core/__pycache__/numba-<key>``, or the user cache directory when that is not writable; with no writable
directory at all the kernels are compiled at every start (never cached). Directories of earlier keys are left
behind; delete them freely.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar, overload

__all__ = [
    "HAVE_NUMBA",
    "KERNEL_CACHE_DIR",
    "KERNEL_CACHE_KEY",
    "KERNEL_SOURCES",
    "kernel_cache_dir",
    "kernel_cache_key",
    "njit",
]

#: Files of ``core/`` whose content numba-compiled code can depend on, hashed into the cache key. numba freezes
#: the functions and constants a kernel reaches into its machine code, so this lists every module that holds an
#: ``@njit`` function or anything one calls (ticks: ``tick_size_nb``; costs: the fee/tax formula the kernels
#: mirror), plus this file (how they are compiled). Add a module here when a kernel starts calling into it.
KERNEL_SOURCES: tuple[str, ...] = ("_jit.py", "ticks.py", "costs.py", "edge.py", "scan.py")

_CORE_DIR = Path(__file__).resolve().parent
_KEY_HEX_CHARS = 16


def kernel_cache_key(core_dir: str | Path = _CORE_DIR) -> str:
    """Short hash (16 hex chars of sha256) of the name and bytes of each of :data:`KERNEL_SOURCES` in ``core_dir``.

    Depends on the files' content only (not their path or mtime). Raises ``OSError`` if one cannot be read.
    """
    digest = hashlib.sha256()
    for name in KERNEL_SOURCES:
        data = (Path(core_dir) / name).read_bytes()
        digest.update(name.encode("utf-8") + b"\0" + len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:_KEY_HEX_CHARS]


def _user_cache_root() -> Path:
    """The per-user cache folder of this engine (``%LOCALAPPDATA%``, ``~/Library/Caches`` or XDG)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "krx-nxt-arb"


def _writable_dir(path: Path) -> bool:
    """Create ``path`` if needed and check a file can be written in it (numba's own test)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def kernel_cache_dir(key: str, environ: Mapping[str, str] | None = None,
                     core_dir: str | Path = _CORE_DIR) -> Path | None:
    """The first writable cache directory for ``key``, created; None when none is writable.

    Tried in order: ``$NUMBA_CACHE_DIR/arb-<key>`` (when set in ``environ``, default ``os.environ``),
    ``<core_dir>/__pycache__/numba-<key>``, ``<user cache>/numba-<key>``.
    """
    env = os.environ if environ is None else environ
    candidates = []
    if env.get("NUMBA_CACHE_DIR"):
        candidates.append(Path(env["NUMBA_CACHE_DIR"]) / f"arb-{key}")
    candidates.append(Path(core_dir) / "__pycache__" / f"numba-{key}")
    candidates.append(_user_cache_root() / f"numba-{key}")
    for path in candidates:
        if _writable_dir(path):
            return path.resolve()
    return None


#: Hash of :data:`KERNEL_SOURCES` as they are now; computed before numba is imported.
KERNEL_CACHE_KEY: str = kernel_cache_key()

# A plain module handle: numba.config's settings (CACHE_DIR, CACHE_LOCATOR_CLASSES) are set at import time from
# the environment, so they are not declared anywhere a type checker could see them.
_numba: ModuleType | None
try:  # pragma: no branch - which arm runs depends on the host
    import numba as _numba_module
    _numba = _numba_module
except ImportError:  # 32-bit Windows host, or numba not installed
    _numba = None

HAVE_NUMBA: bool = _numba is not None

#: Where ``cache=True`` kernels keep their machine code (str); None without numba or without a writable folder.
KERNEL_CACHE_DIR: str | None = None
if _numba is not None:
    _dir = kernel_cache_dir(KERNEL_CACHE_KEY)
    KERNEL_CACHE_DIR = str(_dir) if _dir is not None else None


def _identity_njit(*args: Any, **kwargs: Any) -> Any:
    """Stand-in for ``numba.njit``: accepts the same call forms and returns the function unchanged.

    ``@njit``, ``@njit(cache=True, nogil=True)`` and ``@njit("int64(int64)", cache=True)`` all work.
    """
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    return decorate


@contextlib.contextmanager
def _numba_cache_dir(path: str) -> Iterator[None]:
    """Point ``numba.config.CACHE_DIR`` at ``path`` for the duration (numba picks a function's cache
    folder when it is decorated, from this value), then restore it for other numba users in the process."""
    assert _numba is not None
    previous = _numba.config.CACHE_DIR
    _numba.config.CACHE_DIR = path
    try:
        yield
    finally:
        _numba.config.CACHE_DIR = previous


def _keyed_njit(*args: Any, **kwargs: Any) -> Any:
    """``numba.njit`` (same call forms) whose ``cache=True`` kernels are cached under :data:`KERNEL_CACHE_DIR`.

    Without a usable keyed folder (none writable, or ``NUMBA_CACHE_LOCATOR_CLASSES`` overriding where numba
    looks) ``cache=True`` is dropped: compiling at every start beats loading a build of older sources.
    """
    assert _numba is not None
    if not kwargs.get("cache"):
        return _numba.njit(*args, **kwargs)
    if KERNEL_CACHE_DIR is None or _numba.config.CACHE_LOCATOR_CLASSES:
        return _numba.njit(*args, **dict(kwargs, cache=False))
    with _numba_cache_dir(KERNEL_CACHE_DIR):
        made = _numba.njit(*args, **kwargs)
    if args and inspect.isfunction(args[0]):  # njit(fn, cache=True): already decorated
        return made

    def decorate(fn: Callable[..., Any]) -> Any:
        with _numba_cache_dir(KERNEL_CACHE_DIR):
            return made(fn)

    return decorate


_njit_impl: Callable[..., Any] = _keyed_njit if _numba is not None else _identity_njit
_Kernel = TypeVar("_Kernel", bound=Callable[..., Any])


@overload
def njit(fn: _Kernel, /) -> _Kernel: ...
@overload
def njit(signature: str | None = None, /, **options: Any) -> Callable[[_Kernel], _Kernel]: ...


def njit(*args: Any, **kwargs: Any) -> Any:
    """``@njit``, ``@njit(cache=True, nogil=True)`` or ``@njit("int64(int64)", cache=True)``: :func:`_keyed_njit`
    with numba, :func:`_identity_njit` without.

    Typed as returning the kernel itself: numba's dispatcher is called with the Python function's arguments, so
    callers of a kernel are checked against its annotations.
    """
    return _njit_impl(*args, **kwargs)
