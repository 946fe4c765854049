"""The measurement schema's building blocks and the one check both sides run.

A school's reading is checked field by field against its measurement's
declaration, so what a field's stored type is never depends on what some
school sent first, and nothing outside the declaration reaches the database.
The agent runs the same check before spooling, so a probe that emits an
undeclared field fails at the source (and in CI), not at the collector.

Reason codes (``WireError.reason``): ``collector_owned``,
``unknown_measurement``, ``unknown_tag``, ``reserved_tag``, ``tag_value``,
``unknown_field``, ``field_type``, ``bad_value``, ``not_finite``,
``out_of_range``, ``missing_key``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from agent.contract.errors import WireError
from agent.contract.reading import Reading

INT64 = 2**63 - 1
MAX_STRING = 256
MAX_TAG = 128
# Plausible ranges by unit: a value outside is a bug or a forgery.
UNIT_RANGES: dict[str, tuple[float, float]] = {
    "bps": (0.0, 1e12), "mbps": (0.0, 1e6), "seconds": (0.0, 1e9), "dbm": (-150.0, 40.0),
    "bytes": (0.0, 1e15), "share": (0.0, 1.0), "percent": (0.0, 100.0),
}
# Tags the collector sets from the topic; a payload must not carry them.
RESERVED_TAGS = frozenset({"school", "province", "city", "county"})


@dataclass(frozen=True)
class F:
    """One field: its stored type, its unit, and for strings a bound."""

    kind: type  # float, int, bool or str
    unit: str = ""
    max_len: int = MAX_STRING
    values: frozenset[str] | None = None  # the allowed strings, when a vocabulary

    def check(self, key: str, value: object) -> None:
        kind = self.kind
        vtype = type(value)
        if kind is float:
            # JSON has one number type: 1000 is a float field's 1000.0.
            if vtype is not float and vtype is not int:
                raise WireError("field_type", f"field {key} must be a number")
            if vtype is float and not math.isfinite(value):  # type: ignore[arg-type]
                raise WireError("not_finite", f"field {key}")
        elif kind is int:
            if vtype is not int:
                raise WireError("field_type", f"field {key} must be an integer")
            if abs(value) > INT64:  # type: ignore[arg-type]
                raise WireError("out_of_range", f"field {key} exceeds 64 bits")
        elif kind is bool:
            if vtype is not bool:
                raise WireError("field_type", f"field {key} must be a boolean")
            return
        else:
            if vtype is not str:
                raise WireError("field_type", f"field {key} must be a string")
            if self.values is not None:
                if value not in self.values:
                    raise WireError("bad_value", f"field {key} is not one of its values")
            elif len(value) > self.max_len or not value.isprintable():  # type: ignore[arg-type,attr-defined]
                raise WireError("bad_value", f"field {key} string too long or unprintable")
            return
        bounds = UNIT_RANGES.get(self.unit)
        if bounds is not None and not bounds[0] <= value <= bounds[1]:  # type: ignore[operator]
            raise WireError("out_of_range",
                            f"field {key}={value} not in [{bounds[0]}, {bounds[1]}]")


@dataclass(frozen=True)
class T:
    """One tag: bounded printable text, or one of a fixed set of values."""

    max_len: int = MAX_TAG
    values: frozenset[str] | None = None

    def check(self, key: str, value: object) -> None:
        if type(value) is not str:
            raise WireError("tag_value", f"tag {key} must be a string")
        if self.values is not None:
            if value not in self.values:
                raise WireError("tag_value", f"tag {key} is not one of its values")
            return
        # A trailing backslash would escape the line protocol's separator.
        if not value or len(value) > self.max_len or not value.isprintable() \
                or value.endswith("\\"):
            raise WireError("tag_value", f"tag {key} must be 1-{self.max_len} printable "
                            "chars, not ending in a backslash")


@dataclass(frozen=True)
class Measurement:
    """A measurement an agent may send; ``max_series`` bounds one school's
    distinct tag combinations, so no school can exhaust the database's."""

    fields: Mapping[str, F]
    tags: Mapping[str, T]
    max_series: int
    doc: str = ""


def one_of(*values: str) -> frozenset[str]:
    return frozenset(values)


def check(schema: Mapping[str, Measurement], owned: frozenset[str], measurement: str,
          tags: object, fields: object) -> Measurement:
    """Check one reading's tags and fields; return its declaration or raise WireError."""
    spec = schema.get(measurement)
    if spec is None:
        if measurement in owned:
            raise WireError("collector_owned", f"{measurement} is written by the collector only")
        raise WireError("unknown_measurement", f"{measurement[:64]!r} is not in the schema")
    if not isinstance(tags, dict):
        raise WireError("bad_type", "tags must be an object")
    for key, value in tags.items():
        tag = spec.tags.get(key)
        if tag is None:
            if key in RESERVED_TAGS:
                raise WireError("reserved_tag", f"tag {key!r} is set by the collector")
            raise WireError("unknown_tag", f"{measurement} has no tag {key[:64]!r}")
        tag.check(key, value)
    if not isinstance(fields, dict):
        raise WireError("bad_type", "fields must be an object")
    if not fields:
        raise WireError("missing_key", "fields is empty")
    for key, value in fields.items():
        field = spec.fields.get(key)
        if field is None:
            raise WireError("unknown_field", f"{measurement} has no field {key[:64]!r}")
        field.check(key, value)
    return spec


def check_reading(schema: Mapping[str, Measurement], owned: frozenset[str],
                  reading: Reading) -> None:
    check(schema, owned, reading.measurement, reading.tags, reading.fields)
