"""The package layers, checked by parsing every module's imports (README "Architecture").

    config.schema   the typed configuration                      imports nothing of the project
    core            the domain (pure)                            core, config.schema
    protocol        the actors' typed messages                   core, config.schema, protocol
    kiwoom_bridge   Kiwoom: facade, FIDs, emulator, recordings   core, config.schema, protocol, kiwoom_bridge
    outputs         telemetry book, audit, report, alerts        core, config.schema, outputs
    config          loaders of the config and universe files     config, core
    actors          the shells                                   anything but tools, launch, gui, bench
    tools, launch   the command lines                            anything but gui, bench
    gui             the operator window                          config, core, protocol, outputs, actors.runtime, gui

Command-line code (click, argparse, rich) lives only in tools/, launch.py, bench/ and the two host entry
points. Imports inside functions count; imports under ``if TYPE_CHECKING:`` count too.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("actors", "bench", "config", "core", "gui", "kiwoom_bridge", "launch", "outputs", "protocol", "tools")

#: module prefix → project modules it may import (prefix match on dotted names). First match wins.
ALLOWED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("config.schema", ()),
    ("core", ("core", "config.schema")),
    ("protocol", ("core", "config.schema", "protocol")),
    ("kiwoom_bridge", ("core", "config.schema", "protocol", "kiwoom_bridge")),
    ("outputs", ("core", "config.schema", "outputs")),
    ("config", ("config", "core")),
    ("actors", ("actors", "config", "core", "kiwoom_bridge", "outputs", "protocol")),
    ("tools", ("actors", "config", "core", "kiwoom_bridge", "outputs", "protocol", "tools", "launch")),
    ("launch", ("actors", "config", "core", "gui", "kiwoom_bridge", "outputs", "protocol", "tools")),
    ("gui", ("config", "core", "protocol", "outputs", "actors.runtime", "gui")),
    ("bench", PROJECT),
)
CLI_LIBRARIES = ("click", "argparse", "rich")
CLI_PLACES = ("tools", "launch", "bench", "kiwoom_bridge.host", "actors.shard_host", "gui.__main__")


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    imported: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(source: str, module: str) -> list[tuple[int, str]]:
    """Every module ``source`` imports (absolute dotted names, relative imports resolved), with its line."""
    out: list[tuple[int, str]] = []
    package = module.rsplit(".", 1)[0] if "." in module else ""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            # ``from pkg import mod`` is judged by ``pkg.mod`` (a name or a module of pkg)
            out.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
    return out


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def rule_for(module: str) -> tuple[str, ...]:
    for prefix, allowed in ALLOWED:
        if _matches(module, prefix):
            return allowed
    raise AssertionError(f"{module} belongs to no layer: add it to ALLOWED")


def check(module: str, source: str) -> list[Violation]:
    """The imports of ``module`` that its layer does not allow."""
    allowed = rule_for(module)
    bad = []
    for line, name in imports_of(source, module):
        top = name.split(".")[0]
        if top in PROJECT and not _matches(name, module):
            if not any(_matches(name, a) for a in allowed):
                bad.append(Violation(module, line, name))
        if top in CLI_LIBRARIES and not any(_matches(module, p) for p in CLI_PLACES):
            bad.append(Violation(module, line, name))
    return bad


def project_modules() -> list[Path]:
    files = [ROOT / "launch.py"]
    for pkg in PROJECT:
        d = ROOT / pkg
        if d.is_dir():
            files.extend(sorted(d.rglob("*.py")))
    return files


def test_every_module_imports_only_what_its_layer_allows() -> None:
    violations = []
    for path in project_modules():
        mod = module_name(path)
        violations += check(mod, path.read_text(encoding="utf-8"))
    assert not violations, "layer violations:\n" + "\n".join(map(str, violations))


@pytest.mark.parametrize(("module", "source"), [
    ("core.spread", "import actors\n"),
    ("core.pair_desk", "def f():\n    from actors.messages import X\n"),
    ("core.risk", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from outputs.report import R\n"),
    ("kiwoom_bridge.bridge_core", "from actors.base import EngineActor\n"),
    ("protocol.steps", "from kiwoom_bridge.types import L1Update\n"),
    ("outputs.alerts", "from actors.telemetry import Telemetry\n"),
    ("core.scan", "import click\n"),
    ("config.schema", "from core.enums import Venue\n"),
])
def test_the_check_refuses_an_import_across_the_layers(module: str, source: str) -> None:
    assert check(module, source), f"{module} importing {source!r} should be refused"


def test_the_check_accepts_the_allowed_directions() -> None:
    assert not check("actors.pair_manager", "from core.pair_desk import PairDesk\nfrom protocol.steps import X\n")
    assert not check("core.costs", "from config.schema import FeesConfig\n")
    assert not check("kiwoom_bridge.translate", "from core.desk_events import OrderFilled\n")


# Words and names only the bridge may interpret: Kiwoom's Chejan status words and FID numbers.
_KIWOOM_WORDS = ("접수", "체결", "확인", "거부")


def _string_constants(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_nothing_above_the_bridge_knows_a_chejan_word_or_a_fid() -> None:
    found = []
    for pkg in ("core", "protocol", "actors"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for line, text in _string_constants(path.read_text(encoding="utf-8")):
                if any(w in text for w in _KIWOOM_WORDS) or text.lower().startswith("fid_"):
                    found.append(f"{module_name(path)}:{line} {text!r}")
    assert not found, "\n".join(found)
