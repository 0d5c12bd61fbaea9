"""Compiled kernels never run stale code: numba's cache is keyed on every kernel source, and start-up refuses a
kernel that disagrees with its pure rule at a tick-band edge (``core._jit``, ``core.edge.verify_kernels``)."""
from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import core._jit as jit
import core.edge as edge
import core.scan as scan
from core._jit import HAVE_NUMBA, KERNEL_CACHE_KEY, KERNEL_SOURCES, kernel_cache_dir, kernel_cache_key
from core.edge import KernelMismatchError, band_edge_prices, verify_kernels
from core.scan import verify_scan_kernel
from core.ticks import TICK_BANDS, tick_size, tick_size_nb

REPO_ROOT = Path(__file__).resolve().parents[2]
CORE_DIR = REPO_ROOT / "core"

# The 20,000 KRW band edge (10 → 50 KRW ticks), as it is written in core/ticks.py, and an edit moving it.
EDGE_IN_TABLE = "    (20_000, 10),\n"
EDGE_IN_KERNEL = "    if price < 20_000:\n        return 10\n"
MOVED_EDGE = 25_000


def copy_sources(dest: Path) -> Path:
    """The kernel sources, the modules they import that hold no compiled code (the enums, the clock) and the
    package marker, copied into ``dest/core``; returns that folder."""
    core = dest / "core"
    core.mkdir(parents=True)
    for name in (*KERNEL_SOURCES, "enums.py", "clock.py", "__init__.py"):
        shutil.copyfile(CORE_DIR / name, core / name)
    return core


def move_band_edge(ticks_py: Path, table: bool = True, kernel: bool = True) -> None:
    """Edit a copy of core/ticks.py: the 20,000 KRW band edge becomes 25,000 in the table and/or the kernel."""
    text = ticks_py.read_text(encoding="utf-8")
    assert text.count(EDGE_IN_TABLE) == 1 and text.count(EDGE_IN_KERNEL) == 1, "core/ticks.py changed shape"
    if table:
        text = text.replace(EDGE_IN_TABLE, f"    ({MOVED_EDGE:_}, 10),\n")
    if kernel:
        text = text.replace(EDGE_IN_KERNEL, EDGE_IN_KERNEL.replace("20_000", f"{MOVED_EDGE:_}"))
    ticks_py.write_text(text, encoding="utf-8")


def jit_if_available(fn: Callable[..., Any]) -> Callable[..., Any]:
    if not HAVE_NUMBA:
        return fn
    import numba

    return numba.njit(cache=False, nogil=True)(fn)


def edited_tick_kernel() -> Callable[[int], int]:
    """``tick_size_nb`` compiled from its source with the 20,000 KRW edge moved to 25,000 (the table is not)."""
    source = inspect.getsource(getattr(tick_size_nb, "py_func", tick_size_nb))
    source = "\n".join(ln for ln in source.splitlines() if not ln.startswith("@"))
    assert "price < 20_000" in source
    namespace: dict[str, Any] = {}
    exec(source.replace("price < 20_000", f"price < {MOVED_EDGE}"), namespace)  # noqa: S102 - our own source
    return jit_if_available(namespace["tick_size_nb"])


def with_tick_kernel(kernel: Callable[..., Any], tick_kernel: Callable[[int], int]) -> Callable[..., Any]:
    """The Python function of ``kernel`` with ``tick_size_nb`` in its globals replaced by ``tick_kernel``."""
    py_func = getattr(kernel, "py_func", kernel)
    return types.FunctionType(py_func.__code__, {**py_func.__globals__, "tick_size_nb": tick_kernel},
                              py_func.__name__, py_func.__defaults__, py_func.__closure__)


# ------------------------------------------------------------------------------------------ the cache key

def test_key_depends_on_content_only(tmp_path: Path) -> None:
    core = copy_sources(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{16}", KERNEL_CACHE_KEY)
    assert kernel_cache_key(CORE_DIR) == KERNEL_CACHE_KEY == kernel_cache_key(core)  # path plays no part
    (core / "book.py").write_text("# not a kernel source\n", encoding="utf-8")
    assert kernel_cache_key(core) == KERNEL_CACHE_KEY


@pytest.mark.parametrize("name", KERNEL_SOURCES)
def test_key_changes_with_every_listed_source(tmp_path: Path, name: str) -> None:
    core = copy_sources(tmp_path)
    original = (core / name).read_bytes()
    (core / name).write_bytes(original + b"\n# edited\n")
    assert kernel_cache_key(core) != KERNEL_CACHE_KEY
    (core / name).write_bytes(original)
    assert kernel_cache_key(core) == KERNEL_CACHE_KEY


@pytest.mark.parametrize("table, kernel", [(True, True), (True, False), (False, True)],
                         ids=["both", "table-only", "kernel-only"])
def test_key_changes_when_a_band_edge_moves(tmp_path: Path, table: bool, kernel: bool) -> None:
    core = copy_sources(tmp_path)
    move_band_edge(core / "ticks.py", table=table, kernel=kernel)
    assert kernel_cache_key(core) != KERNEL_CACHE_KEY


def test_cache_dir_is_keyed_and_honours_numba_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    core = copy_sources(tmp_path / "repo")
    monkeypatch.setattr(jit, "_user_cache_root", lambda: tmp_path / "user")
    assert kernel_cache_dir("k1", {"NUMBA_CACHE_DIR": str(tmp_path / "nc")}, core) == (tmp_path / "nc" / "arb-k1")
    assert kernel_cache_dir("k1", {}, core) == core / "__pycache__" / "numba-k1"
    assert (core / "__pycache__" / "numba-k1").is_dir()
    # a file where the in-tree folder would go: not writable there, so the user cache folder
    blocked = tmp_path / "blocked" / "core"
    blocked.mkdir(parents=True)
    (blocked / "__pycache__").write_text("", encoding="utf-8")
    assert kernel_cache_dir("k2", {}, blocked) == tmp_path / "user" / "numba-k2"
    monkeypatch.setattr(jit, "_user_cache_root", lambda: blocked / "__pycache__" / "user")
    assert kernel_cache_dir("k3", {}, blocked) is None


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_kernels_are_cached_in_the_keyed_dir_only() -> None:
    import numba

    edge.warm_up()
    assert jit.KERNEL_CACHE_DIR is not None and KERNEL_CACHE_KEY in jit.KERNEL_CACHE_DIR
    for kernel in (edge.evaluate_edges, tick_size_nb, scan.scan_kernel):
        assert kernel.stats.cache_path.startswith(jit.KERNEL_CACHE_DIR), kernel
    assert numba.config.CACHE_DIR != jit.KERNEL_CACHE_DIR  # other numba users in the process are left alone
    assert any(Path(jit.KERNEL_CACHE_DIR).rglob("edge.evaluate_edges-*.nbi"))


def test_without_numba_there_is_no_cache_dir() -> None:
    code = ("import sys; sys.modules['numba'] = None\n"
            "import core._jit as j\n"
            "assert not j.HAVE_NUMBA and j.KERNEL_CACHE_DIR is None and len(j.KERNEL_CACHE_KEY) == 16\n"
            "f = j.njit(cache=True, nogil=True)(abs); assert f is abs\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# ------------------------------------------------------------------------------------------ the start-up check

def test_band_edge_prices_cover_every_boundary() -> None:
    prices = band_edge_prices()
    assert list(prices) == sorted(set(prices))
    for upper, _ in TICK_BANDS[:-1]:
        assert {int(upper) - 1, int(upper), int(upper) + 1} <= set(prices)
    assert {-1, 0, 1} <= set(prices)


def test_real_kernels_pass() -> None:
    assert verify_kernels() > len(band_edge_prices())
    assert verify_scan_kernel() > 0
    assert edge.warm_up() >= 0.0
    assert scan.warm_up() >= 0.0


def test_a_tick_kernel_with_a_moved_edge_is_refused() -> None:
    bad = edited_tick_kernel()
    assert bad(20_000) == 10 and tick_size(20_000) == 50  # the edited copy really differs
    with pytest.raises(KernelMismatchError) as info:
        verify_kernels(tick_kernel=bad)
    message = str(info.value)
    assert info.value.kernel == "tick_size_nb"
    assert "tick_size_nb" in message and "price 20,000 KRW" in message
    assert "10 KRW" in info.value.got and "50 KRW" in info.value.expected
    if jit.KERNEL_CACHE_DIR is not None:
        assert f"delete the numba cache directory {jit.KERNEL_CACHE_DIR}" in message


def test_an_edge_kernel_built_on_a_stale_tick_table_is_refused() -> None:
    # the bug: evaluate_edges compiled against the old tick_size_nb while the table says otherwise
    bad = jit_if_available(with_tick_kernel(edge.evaluate_edges, edited_tick_kernel()))
    with pytest.raises(KernelMismatchError) as info:
        verify_kernels(edge_kernel=bad)
    message = str(info.value)
    assert info.value.kernel == "evaluate_edges"
    assert message.startswith("evaluate_edges disagrees with evaluate_edges_py at buy price 20,000 KRW"), message
    assert "eligible True" in info.value.got and "eligible False" in info.value.expected


def test_a_scan_kernel_built_on_a_stale_tick_table_is_refused() -> None:
    bad = with_tick_kernel(scan.scan_kernel, edited_tick_kernel())  # its Python function: no compile needed
    with pytest.raises(KernelMismatchError) as info:
        verify_scan_kernel(bad)
    assert info.value.kernel == "scan_kernel"
    assert str(info.value).startswith("scan_kernel disagrees with scan_kernel_py at buy price 20,000 KRW")


def test_warm_up_refuses_to_start_on_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = edited_tick_kernel()
    monkeypatch.setattr(edge, "tick_size_nb", bad)
    with pytest.raises(KernelMismatchError, match=r"^tick_size_nb .* price 20,000 KRW"):
        edge.warm_up()
    with pytest.raises(KernelMismatchError, match=r"^tick_size_nb "):
        scan.warm_up()  # the scan checks the edge kernels too
    monkeypatch.undo()
    monkeypatch.setattr(scan, "scan_kernel", with_tick_kernel(scan.scan_kernel, bad))
    with pytest.raises(KernelMismatchError, match=r"^scan_kernel "):
        scan.warm_up()


# ------------------------------------------------------------------------------------------ end to end

PROBE = """
import json, numpy as np
import core._jit as j, core.edge as e
e.warm_up()
a = lambda v: np.array([v], dtype=np.int64)
# no costs, buy KRX at 22,000, sell NXT at 22,030: 30 KRW, eligible iff the tick of 22,000 is ≤ 30
r = e.EdgeKernel(1).evaluate(a(21_990), a(22_000), a(10), a(10), a(22_030), a(22_040), a(10), a(10),
                             0.0, 0.0, np.zeros(1), np.ones(1), 1, a(0), 0)
stats = e.evaluate_edges.stats
print(json.dumps({"key": j.KERNEL_CACHE_KEY, "dir": j.KERNEL_CACHE_DIR, "eligible": bool(r.eligible[0]),
                  "hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
"""

# core/_jit.py as it was before the keyed cache: numba's own cache, invalidated per file.
UNKEYED_JIT = "from numba import njit\nHAVE_NUMBA = True\nKERNEL_CACHE_DIR = None\nKERNEL_CACHE_KEY = ''\n"


def run_probe(pkg: Path, numba_cache: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(PYTHONPATH=str(pkg), NUMBA_CACHE_DIR=str(numba_cache))
    return subprocess.run([sys.executable, "-c", PROBE], cwd=pkg, env=env, capture_output=True, text=True,
                          timeout=300)


def probe(pkg: Path, numba_cache: Path) -> dict[str, Any]:
    proc = run_probe(pkg, numba_cache)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_an_edited_tick_table_reaches_the_edge_kernel_in_a_fresh_process(tmp_path: Path) -> None:
    pkg, numba_cache = tmp_path / "pkg", tmp_path / "numba-cache"
    core = copy_sources(pkg)
    before = probe(pkg, numba_cache)          # compiles and writes the cache
    assert before["misses"] == 1 and not before["eligible"]  # tick of 22,000 is 50 KRW
    assert before["dir"] == str(numba_cache / f"arb-{before['key']}")
    assert any(Path(before["dir"]).rglob("edge.evaluate_edges-*.nbc"))
    again = probe(pkg, numba_cache)           # same sources: loaded from the cache
    assert again["hits"] == 1 and again["misses"] == 0 and again["dir"] == before["dir"]

    move_band_edge(core / "ticks.py")         # core/edge.py itself is untouched
    after = probe(pkg, numba_cache)
    assert after["key"] != before["key"] and after["dir"] != before["dir"]
    assert after["misses"] == 1 and after["hits"] == 0  # compiled afresh, not the stale build
    assert after["eligible"]                  # tick of 22,000 is now 10 KRW


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_the_unkeyed_cache_serves_a_stale_kernel_and_start_up_refuses_it(tmp_path: Path) -> None:
    # The original bug, with core/_jit.py as it was: numba reloads evaluate_edges (its file did not change)
    # with the old tick table compiled in; the start-up check now catches it, just below the new edge (the table
    # no longer has the 20,000 edge; 20,000..24,999 is where the old and new tables differ).
    pkg, numba_cache = tmp_path / "pkg", tmp_path / "numba-cache"
    core = copy_sources(pkg)
    (core / "_jit.py").write_text(UNKEYED_JIT, encoding="utf-8")
    before = probe(pkg, numba_cache)
    assert before["misses"] == 1 and not before["eligible"]
    move_band_edge(core / "ticks.py")
    proc = run_probe(pkg, numba_cache)
    assert proc.returncode != 0
    assert "KernelMismatchError: evaluate_edges disagrees with evaluate_edges_py at buy price 24,999 KRW" \
        in proc.stderr, proc.stderr
    assert "eligible False, the rule direction 1, net 10.0 KRW" in proc.stderr  # stale tick 50, table says 10
