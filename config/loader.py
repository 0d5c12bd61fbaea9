"""Load the YAML configuration into a frozen :class:`~config.schema.EngineConfig`.

The embedded ``config/default.yaml`` holds every key. A user file is merged over it key by key
(mappings merge recursively; any other value replaces the default). Every problem becomes one
:class:`ConfigError` whose message is a single line naming the file, the key path and the problem.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from config.schema import EngineConfig, _KeyError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DEFAULT_CONFIG_PATH = PACKAGE_DIR / "default.yaml"


class ConfigError(ValueError):
    """A configuration problem: ``key`` is the dotted path, ``problem`` what is wrong with it."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {problem}" if key else f"{where}{problem}")


#: A config file is a few kB; anything beyond this is not one (and is refused before it is parsed).
MAX_CONFIG_BYTES = 1_048_576
#: How deeply mappings and lists may nest (the default file nests 4 deep).
MAX_DEPTH = 32


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints: its classes are Any
    """PyYAML's safe loader, refusing what a config never needs and an attacker or a typo can abuse:
    a key given twice in one mapping (YAML would silently keep the last), aliases (``*name``: a few
    hundred bytes of them expand to gigabytes), and nesting deeper than :data:`MAX_DEPTH`."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _YamlRefusalError(event.start_mark, "YAML aliases (*name) are not allowed in a config")
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise _YamlRefusalError(self.peek_event().start_mark, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                dup = key in seen
            except TypeError:
                continue                      # unhashable keys are refused by construct_mapping itself
            if dup:
                raise _YamlRefusalError(key_node.start_mark, f"key {_short(key)} is given twice in one mapping")
            seen.add(key)
        mapping: dict[object, object] = super().construct_mapping(node, deep=deep)
        return mapping


class _YamlRefusalError(Exception):
    def __init__(self, mark: yaml.Mark | None, problem: str) -> None:
        self.mark = mark
        self.problem = problem


def _short(value: object, limit: int = 40) -> str:
    """A bounded repr for error messages: never the whole of a large input."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(str(path), "", f"{size:,} bytes: a config file is at most {MAX_CONFIG_BYTES:,} bytes")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "", "is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(str(path), "", f"line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                                         f"{exc.start}); save the file as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _YamlRefusalError as exc:
        loc = f"line {exc.mark.line + 1}, column {exc.mark.column + 1}: " if exc.mark else ""
        raise ConfigError(str(path), "", f"{loc}{exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(str(path), "", f"{loc}not valid YAML ({problem})") from None
    except RecursionError:
        raise ConfigError(str(path), "", f"nested more than {MAX_DEPTH} levels deep") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", f"the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def merge(base: Mapping[str, Any], override: Mapping[str, Any], _path: str = "") -> dict[str, Any]:
    """Merge ``override`` over ``base`` key by key. Unknown keys are kept so validation can name them."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and not _is_free_mapping(_path, key):
            out[key] = merge(out[key], value, f"{_path}.{key}" if _path else str(key))
        else:
            out[key] = copy.deepcopy(value)
    return out


def _is_free_mapping(path: str, key: str) -> bool:
    # Mappings whose keys are data (codes), not schema: a user file replaces them whole.
    return f"{path}.{key}" in {"symbols.per_symbol_overrides"}


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int) and parts:
            parts[-1] = f"{parts[-1]}[{item}]"
        else:
            parts.append(str(item))
    # pydantic inserts union-branch names (e.g. "literal['auto']", "int"); drop them
    return ".".join(p for p in parts if not p.startswith(("literal[", "function-")) and p not in
                    {"int", "float", "str", "bool", "constrained-int", "none"})


def validate(data: Mapping[str, Any], source: str = "") -> EngineConfig:
    """Validate a merged mapping; raise :class:`ConfigError` naming the first bad key."""
    try:
        return EngineConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _format_loc(tuple(err["loc"]))
        ctx_err = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_err, _KeyError):
            raise ConfigError(source, ctx_err.key, ctx_err.problem) from None
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        elif "input" in err and err["type"] not in ("missing",):
            msg = f"{msg} (got {_short(err['input'])})"
        raise ConfigError(source, loc, msg) from None


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> EngineConfig:
    """Load the defaults, merge the user file at ``path`` (if any) and ``overrides``, validate.

    Relative paths inside the result (universe file, run dirs) are resolved by :func:`resolve_path`.
    """
    data: dict[str, Any] = dict(_read_yaml(DEFAULT_CONFIG_PATH))
    source = str(DEFAULT_CONFIG_PATH)
    if path is not None:
        user = _read_yaml(Path(path))
        data = merge(data, user)
        source = str(path)
    if overrides:
        data = merge(data, overrides)
    return validate(data, source)


def resolve_path(value: str | Path, config_path: str | Path | None = None) -> Path:
    """Resolve a path from the config: absolute as is; else beside the user config file if it exists
    there; else relative to the current directory if it exists; else relative to the repository."""
    p = Path(value)
    if p.is_absolute():
        return p
    if config_path is not None:
        cand = Path(config_path).resolve().parent / p
        if cand.exists():
            return cand
    if p.exists():
        return p.resolve()
    return REPO_ROOT / p
