"""Typed, declarative config checking shared by the agent, its probes and the collector.

A config table is a frozen dataclass declared with :func:`section`: each
field's annotation is its type and :func:`opt` gives its default and an extra
check, so ``cfg.mqtt.keepalive`` is an ``int`` to mypy and to a reader::

    @section
    class Broker:
        host: str = opt()                          # required
        port: int = opt(8883, between(1, 65535))

:func:`load` reads a TOML file into such a class and raises
:class:`ConfigErrors` naming file, line and key for *every* problem found
(unknown keys with a "did you mean" hint, wrong types, failed checks,
missing keys, cross-key ``problems()``), so an engineer on a router fixes a
file in one pass. Loading never touches the network.

Hand-written on purpose: msgspec and pydantic both convert to typed classes,
but stop at the first error (msgspec) or cannot name TOML lines, and pydantic
is a large compiled dependency for a router.

Supported annotations: ``bool``, ``int``, ``float`` (an integer is accepted),
``str``, unions of those, ``X | None`` (default None: TOML has no null),
``list[X]`` / ``tuple[X, ...]``, ``dict[str, X]`` (a table with free keys),
another section (a nested table) and ``Any`` (checked later, e.g. a probe's
table before its probe is known).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from agent.contract.errors import ConfigError, ConfigErrors
from agent.contract.tomlpos import key_line

if sys.version_info >= (3, 11):
    from typing import dataclass_transform

    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 routers only
    import tomli as tomllib

    def dataclass_transform(**_: Any) -> Callable[[T], T]:
        return lambda f: f



class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
Check = Callable[[Any], "str | None"]
Path_ = tuple[str | int, ...]
Problem = tuple[Path_, str]
T = TypeVar("T")

_CHECK = "schoolnet.check"
_NOT_A_KEY = "schoolnet.not_a_key"


def opt(default: Any = REQUIRED, check: Check | None = None) -> Any:
    """A config key: its default (none means required) and an extra check."""
    metadata = {_CHECK: check}
    if default is REQUIRED:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def not_a_key(default: Any) -> Any:
    """A field the program sets after loading (e.g. the file's name), never read
    from the file."""
    return dataclasses.field(default=default, metadata={_NOT_A_KEY: True})


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(opt, not_a_key))
def section(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, keyword-only config dataclass."""
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


# -- the schema form the checker walks -----------------------------------------

@dataclasses.dataclass(frozen=True)
class Opt:
    """One value: its accepted types, default, an extra check, and for a list
    the spec of each item."""

    kind: type | tuple[type, ...]
    default: Any = REQUIRED
    check: Check | None = None
    item: Opt | Table | None = None
    into: type = list  # what a list becomes: list or tuple


@dataclasses.dataclass(frozen=True)
class Table:
    """A nested table; ``item`` accepts any key whose value passes it; ``into``
    is the section class the checked table becomes (a dict if None)."""

    schema: Mapping[str, Opt | Table] = dataclasses.field(default_factory=dict)
    item: Opt | Table | None = None
    into: type | None = None


def schema_of(cls: type) -> Table:
    """The :class:`Table` a section class declares (cached on the class)."""
    cached = cls.__dict__.get("__schema__")
    if cached is not None:
        return typing.cast(Table, cached)
    hints = typing.get_type_hints(cls)
    specs: dict[str, Opt | Table] = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get(_NOT_A_KEY):
            continue
        default = REQUIRED if f.default is dataclasses.MISSING else f.default
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        specs[f.name] = _spec(hints[f.name], default, f.metadata.get(_CHECK))
    table = Table(specs, into=cls)
    type.__setattr__(cls, "__schema__", table)
    return table


_SCALARS = (bool, int, float, str)


def _spec(tp: Any, default: Any = REQUIRED, check: Check | None = None) -> Opt | Table:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return Opt(object, default, check)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return schema_of(tp)
    if origin in (typing.Union, types.UnionType):
        kinds = tuple(a for a in args if a is not type(None))
        if len(kinds) == 1:
            inner = _spec(kinds[0], default, check)
            if isinstance(inner, Opt):
                return inner
            raise TypeError(f"optional sections are not supported: {tp}")
        if all(k in _SCALARS for k in kinds):
            return Opt(kinds, default, check)
        raise TypeError(f"unsupported union in a config section: {tp}")
    if origin in (list, tuple, Sequence):
        return Opt(list, default, check, _spec(args[0]), tuple if origin is tuple else list)
    if origin in (dict, Mapping):
        return Table(item=_spec(args[1]))
    if tp in _SCALARS:
        return Opt(tp, default, check)
    raise TypeError(f"unsupported type in a config section: {tp!r}")


# -- reading and checking --------------------------------------------------------

class _Invalid:
    """Stands for a value that failed its check (already reported)."""


INVALID: Any = _Invalid()


@dataclasses.dataclass
class Source:
    """Where a config came from, to name it in errors, and what is wrong with it."""

    file: str
    text: str
    errors: list[ConfigError] = dataclasses.field(default_factory=list)

    def error(self, path: Path_, message: str) -> ConfigError:
        key = ".".join(str(p) for p in path)
        return ConfigError(self.file, key, key_line(self.text, path), message)

    def report(self, path: Path_, message: str) -> Any:
        """Note a problem and go on checking; returns :data:`INVALID`."""
        self.errors.append(self.error(path, message))
        return INVALID

    def raise_errors(self) -> None:
        if self.errors:
            raise ConfigErrors(self.errors)


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """A config file's text; a file in another encoding gets a hint to save it as UTF-8."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(name, "", None, f"cannot read: {err.strerror or err}") from err
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ConfigError(name, "", line, "is not UTF-8 text; save it as UTF-8 "
                          "(in Excel: CSV UTF-8; in Notepad: Save as, encoding UTF-8)") from err


def load_toml(path: str | Path) -> tuple[dict[str, Any], Source]:
    """Read and parse a TOML file; syntax errors name the file and line."""
    name = str(path)
    text = read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        line = re.search(r"line (\d+)", str(err))
        raise ConfigError(name, "", int(line.group(1)) if line else None,
                          f"not valid TOML: {err}") from err
    return data, Source(name, text)


def load(path: str | Path, cls: type[T]) -> T:
    """Read ``path`` into section ``cls``; ConfigErrors lists every problem."""
    data, src = load_toml(path)
    cfg = check(data, cls, src)
    src.raise_errors()
    return typing.cast(T, cfg)


def build(cls: type[T], values: Mapping[str, Any], origin: str = "<built in code>") -> T:
    """A section from a mapping, checked like a file (defaults filled in);
    what programs and tests use instead of calling the class directly."""
    src = Source(origin, "")
    cfg = check(values, cls, src)
    src.raise_errors()
    return typing.cast(T, cfg)


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a table", object: "a value"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _coerce(value: Any, opt: Opt) -> Any:
    kinds = opt.kind if isinstance(opt.kind, tuple) else (opt.kind,)
    if isinstance(value, bool) and bool not in kinds and object not in kinds:
        raise TypeError
    if float in kinds and isinstance(value, int) and not isinstance(value, bool) \
            and int not in kinds:
        return float(value)
    if not isinstance(value, kinds):
        raise TypeError
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeError
    return value


def check(data: Mapping[str, Any], schema: Table | type, src: Source,
          path: Path_ = ()) -> Any:
    """Check ``data`` against a table or section class; unknown keys are errors.

    Returns the section instance (or dict), or :data:`INVALID` after noting
    each problem in ``src.errors``.
    """
    table = schema if isinstance(schema, Table) else schema_of(schema)
    out: dict[str, Any] = {}
    before = len(src.errors)
    for key, value in data.items():
        spec = table.schema.get(key, table.item)
        if spec is None:
            # A section may say what became of a key it no longer has.
            retired: Mapping[str, str] = getattr(table.into, "RETIRED", {})
            close = difflib.get_close_matches(key, list(table.schema), n=1)
            hint = (f" ({retired[key]})" if key in retired
                    else f" (did you mean '{close[0]}'?)" if close else "")
            src.report((*path, key), f"unknown key{hint}")
            continue
        out[key] = check_value(value, spec, src, (*path, key))
    for key, spec in table.schema.items():
        if key in out or key in data:
            continue
        if isinstance(spec, Table):
            out[key] = check({}, spec, src, (*path, key))
        elif spec.default is REQUIRED:
            out[key] = src.report((*path, key), "is required but missing")
        else:
            out[key] = spec.default
    if len(src.errors) > before:
        return INVALID
    if table.into is None:
        return out
    result = table.into(**out)
    problems = getattr(result, "problems", None)
    if problems is not None:
        for sub, message in problems():
            src.report((*path, *sub), message)
        if len(src.errors) > before:
            return INVALID
    return result


def check_value(value: Any, spec: Opt | Table, src: Source, path: Path_) -> Any:
    if isinstance(spec, Table):
        if not isinstance(value, dict):
            return src.report(path, f"must be a table, got {value!r}")
        return check(value, spec, src, path)
    try:
        value = _coerce(value, spec)
    except TypeError:
        return src.report(path, f"must be {_type_name(spec.kind)}, got {value!r}")
    if spec.check is not None:
        problem = spec.check(value)
        if problem:
            return src.report(path, f"{problem}, got {value!r}")
    if spec.item is not None:
        before = len(src.errors)
        items = [check_value(v, spec.item, src, (*path, i)) for i, v in enumerate(value)]
        if len(src.errors) > before:
            return INVALID
        return spec.into(items)
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
    try:
        if value and not Path(value).is_file():
            return "names a file that does not exist"
    except OSError as err:  # a directory on the way the user may not enter
        return f"names a file that cannot be reached ({err.strerror or err})"
    return None
