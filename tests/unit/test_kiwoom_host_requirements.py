"""requirements-kiwoom-host.txt holds exactly what the 32-bit Windows Kiwoom host imports.

The host process (``python -m kiwoom_bridge.host``) and the KiwoomBridge actor it hosts are imported in a
fresh interpreter in which every library the 32-bit host cannot have (numba and llvmlite: no 32-bit wheels;
pandas, pyarrow, exchange_calendars: no win32 wheels) and every library only the engine's side uses is
blocked, and a real ``Configure`` message built on the engine's side is unpickled there as the host would.
The distributions it then holds must be exactly the file's pins, apart from the ones the file documents as
imported only on Windows (PyQt5 for the OCX, tzdata for zoneinfo).
"""
from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

from config.loader import load_config
from core.universe import Universe
from protocol.wiring import Configure, RunOptions

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements-kiwoom-host.txt"
#: Libraries the 32-bit host must never need (no win32 wheels) or that only the engine's side uses.
BLOCKED = ("numba", "llvmlite", "pandas", "pyarrow", "fastparquet", "exchange_calendars", "openpyxl", "yaml",
           "rich", "slack_sdk", "prometheus_client", "psutil")
#: Pinned but imported only on Windows: the OCX's Qt (and its wheels), and the time-zone database.
WINDOWS_ONLY = {"pyqt5", "pyqt5-qt5", "pyqt5-sip", "tzdata"}

_HOST = r"""
import importlib.abc, importlib.metadata as md, json, pickle, sys
AT_START = set(sys.modules)          # what the interpreter loaded before (e.g. site's .pth hooks)
BLOCKED = set(sys.argv[2].split(","))

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not available on the 32-bit Kiwoom host")
        return None

sys.meta_path.insert(0, Blocked())
import kiwoom_bridge.host
kiwoom_bridge.host.warm_bridge_caches()
import actors.bridge, kiwoom_bridge.bridge_core, kiwoom_bridge.openapi
with open(sys.argv[1], "rb") as fh:
    message = pickle.load(fh)
assert type(message).__name__ == "Configure" and len(message.universe) == 2
tops = {m.split(".")[0] for m in set(sys.modules) - AT_START}
dists = md.packages_distributions()
print(json.dumps(sorted({d for t in tops for d in dists.get(t, [])})))
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned() -> dict[str, str]:
    out = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{line!r}: every host requirement is pinned with =="
            out[_norm(name)] = version
    return out


def host_distributions(tmp_path: Path) -> set[str]:
    message = Configure(load_config(), Universe.from_codes(["005930", "000660"]), RunOptions(backend="kiwoom"))
    blob = tmp_path / "configure.pickle"
    blob.write_bytes(pickle.dumps(message))
    out = subprocess.run([sys.executable, "-c", _HOST, str(blob), ",".join(BLOCKED)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return {_norm(d) for d in json.loads(out.stdout.strip().splitlines()[-1])}


def test_the_host_imports_exactly_the_pinned_distributions(tmp_path: Path) -> None:
    imported = host_distributions(tmp_path)
    pins = pinned()
    assert imported - set(pins) == set(), "the host imports distributions requirements-kiwoom-host.txt lacks"
    assert set(pins) - imported - WINDOWS_ONLY == set(), "requirements-kiwoom-host.txt pins what the host never imports"
    assert {"thespian", "numpy", "pydantic"} <= imported


def test_host_pins_agree_with_the_engines_where_both_pin(tmp_path: Path) -> None:
    # the two systems pickle messages to each other: thespian, numpy and pydantic must be the same versions
    engine = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            engine[_norm(name)] = version.strip()
    host = pinned()
    shared = set(engine) & set(host)
    assert {"thespian", "numpy", "pydantic", "click"} <= shared
    assert {n: host[n] for n in shared} == {n: engine[n] for n in shared}
