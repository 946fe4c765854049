"""Declarative config checking shared by the agent, its probes and the collector.

A schema maps each key to an :class:`Opt` (a typed value with an optional
check) or a nested :class:`Table`. :func:`check` returns the config with
defaults filled in, or raises :class:`ConfigError` naming file, line and key.
Loading a config never touches the network.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ConfigError
from agent.tomlpos import key_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 routers only
    import tomli as tomllib

REQUIRED: Any = object()
Check = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Opt:
    """One key: its type, default (REQUIRED if none) and an extra check."""

    kind: type | tuple[type, ...]
    default: Any = REQUIRED
    check: Check | None = None


@dataclass(frozen=True)
class Table:
    """A nested table; ``open_keys`` accepts any key whose value passes ``item``."""

    schema: Mapping[str, Opt | Table] = field(default_factory=dict)
    item: Opt | Table | None = None


@dataclass
class Source:
    """Where a config came from, to name it in errors."""

    file: str
    text: str

    def error(self, path: tuple[str | int, ...], message: str) -> ConfigError:
        key = ".".join(str(p) for p in path)
        return ConfigError(self.file, key, key_line(self.text, path), message)


def load_toml(path: str | Path) -> tuple[dict[str, Any], Source]:
    """Read and parse a TOML file; syntax errors name the file and line."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(name, "", None, f"cannot read: {err}") from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        line = re.search(r"line (\d+)", str(err))
        raise ConfigError(name, "", int(line.group(1)) if line else None,
                          f"not valid TOML: {err}") from err
    return data, Source(name, text)


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _coerce(value: Any, opt: Opt) -> Any:
    kinds = opt.kind if isinstance(opt.kind, tuple) else (opt.kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise TypeError
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kinds):
        raise TypeError
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeError
    return value


def check(data: Mapping[str, Any], schema: Table, src: Source,
          path: tuple[str | int, ...] = ()) -> dict[str, Any]:
    """Validate ``data`` against ``schema``; unknown keys are errors."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        spec = schema.schema.get(key, schema.item)
        if spec is None:
            close = difflib.get_close_matches(key, list(schema.schema), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise src.error((*path, key), f"unknown key{hint}")
        out[key] = check_value(value, spec, src, (*path, key))
    for key, spec in schema.schema.items():
        if key in out:
            continue
        if isinstance(spec, Table):
            out[key] = check({}, spec, src, (*path, key))
        elif spec.default is REQUIRED:
            raise src.error((*path, key), "is required but missing")
        else:
            out[key] = spec.default
    return out


def check_value(value: Any, spec: Opt | Table, src: Source,
                path: tuple[str | int, ...]) -> Any:
    if isinstance(spec, Table):
        if not isinstance(value, dict):
            raise src.error(path, f"must be a table, got {value!r}")
        return check(value, spec, src, path)
    try:
        value = _coerce(value, spec)
    except TypeError:
        raise src.error(path, f"must be {_type_name(spec.kind)}, got {value!r}") from None
    if spec.check is not None:
        problem = spec.check(value)
        if problem:
            raise src.error(path, f"{problem}, got {value!r}")
    return value


# Checks: each returns an error text or None.

def positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def between(low: float, high: float) -> Check:
    def _check(value: float) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}"
    return _check


def one_of(*choices: str) -> Check:
    def _check(value: str) -> str | None:
        return None if value in choices else "must be one of " + ", ".join(choices)
    return _check


def matches(pattern: str, what: str) -> Check:
    regex = re.compile(pattern)

    def _check(value: str) -> str | None:
        return None if regex.fullmatch(value) else f"must be {what}"
    return _check


def optional_file(value: str) -> str | None:
    if value and not Path(value).is_file():
        return "names a file that does not exist"
    return None

