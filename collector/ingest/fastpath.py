"""The schema check and the line's field set in one pass, for readings that pass.

``schema.check`` is the definition: it names what is wrong with a reading,
field by field. A drain spends most of its time on readings that are fine,
and for those the check (a method call and a type dispatch per field) and the
encoding (``lineproto.declared_fields``, a second pass over the same fields)
can be one loop over precomputed bounds. This module only ever *accepts*: it
returns the line's text where every tag and field is certainly within the
schema, and None at the first doubt (an unknown key, a type, a bound, a
string to look at), and the caller then runs the contract's check and the
general encoder, so a refused reading gets the same reason and detail as
without this module. tests/test_fast_decode.py compares both on generated
readings.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from agent.contract.schema import INT64, UNIT_RANGES, F, Measurement, T
from collector.ingest.lineproto import _KEY, _value, checked_head

# Field kinds, as small ints: one comparison each on the hot path.
_FLOAT, _INT, _BOOL, _WORD, _TEXT = range(5)
_BIG = sys.float_info.max  # a float field without a unit: any finite number

# key -> (kind, lowest, highest, vocabulary or max length, "key=", "key=true", "key=false")
FieldPlan = tuple[int, float, float, Any, str, str, str]
# key -> (max length, vocabulary)
TagPlan = tuple[int, frozenset[str] | None]
# The tags the collector adds from the topic, in the order ``head`` takes them.
REGION = ("city", "county", "province", "school")
# A series key's tags in sorted order: (key, index in REGION or -1, ",key=")
HeadPlan = tuple[tuple[str, int, str], ...]


def _field_plan(key: str, spec: F) -> FieldPlan:
    low, high = UNIT_RANGES.get(spec.unit, (-_BIG, _BIG))
    if spec.kind is float:
        kind = _FLOAT
    elif spec.kind is int:
        kind = _INT
        low, high = max(low, -INT64), min(high, INT64)
    elif spec.kind is bool:
        kind = _BOOL
    else:
        kind = _TEXT if spec.values is None else _WORD
    extra = spec.values if spec.values is not None else spec.max_len
    return kind, low, high, extra, key + "=", key + "=true", key + "=false"


def _tag_plan(spec: T) -> TagPlan:
    return spec.max_len, spec.values


class FastSchema:
    """Per measurement, what each declared tag and field accepts, precomputed."""

    def __init__(self, schema: Mapping[str, Measurement]) -> None:
        self.fields = {name: {key: _field_plan(key, f) for key, f in spec.fields.items()}
                       for name, spec in schema.items()}
        self.tags = {name: {key: _tag_plan(t) for key, t in spec.tags.items()}
                     for name, spec in schema.items()}
        # Declared tags and the region's merged in sorted order once, so a
        # line's series key needs no sort (``lineproto.checked_head`` sorts).
        self.heads: dict[str, HeadPlan] = {
            name: tuple((key, REGION.index(key) if key in REGION else -1, f",{key}=")
                        for key in sorted({*spec.tags, *REGION}))
            for name, spec in schema.items() if not REGION & spec.tags.keys()}

    def head(self, measurement: str, tags: dict[str, str], province: str, city: str,
             county: str, school: str) -> str:
        """``lineproto.checked_head`` for tags ``tags_pass`` accepted."""
        plan = self.heads.get(measurement)
        if plan is None:  # one that declares a region's tag: the schema's tests refuse it
            return checked_head(measurement, tags, province, city, county, school)
        region = (city, county, province, school)
        out = [measurement]
        get = tags.get
        for key, at, prefix in plan:
            if at >= 0:
                out.append(prefix + region[at])
                continue
            value = get(key)
            if value is not None:  # as lineproto._key: plain words need no escaping
                out.append(prefix + (value if value.isalnum() or value.isidentifier()
                                     else value.translate(_KEY)))
        return "".join(out)

    def tags_pass(self, measurement: str, tags: Any) -> bool:
        """True only if ``schema.check`` certainly accepts these tags."""
        plans = self.tags.get(measurement)
        if plans is None or type(tags) is not dict:
            return False
        for key, value in tags.items():
            plan = plans.get(key)
            if plan is None or type(value) is not str:
                return False
            values = plan[1]
            if values is not None:
                if value not in values:
                    return False
            elif not value or len(value) > plan[0] or not value.isprintable() \
                    or value.endswith("\\"):
                return False
        return True

    def field_text(self, measurement: str, fields: Any, seq: int) -> str | None:
        """``lineproto.declared_fields(fields, seq)`` if ``schema.check``
        certainly accepts these fields, else None."""
        plans = self.fields.get(measurement)
        if plans is None or type(fields) is not dict or not fields:
            return None
        parts = []
        for key, value in fields.items():
            plan = plans.get(key)
            if plan is None:
                return None
            kind, vtype = plan[0], type(value)
            if kind == _FLOAT:
                # NaN fails both comparisons, infinities the bounds: all go the slow way.
                if vtype is float:
                    if not plan[1] <= value <= plan[2]:
                        return None
                    parts.append(plan[4] + repr(value))
                elif vtype is int:
                    if not plan[1] <= value <= plan[2]:
                        return None
                    parts.append(plan[4] + repr(float(value)))
                else:
                    return None
            elif kind == _INT:
                if vtype is not int or not plan[1] <= value <= plan[2]:
                    return None
                parts.append(plan[4] + repr(float(value)))
            elif kind == _BOOL:
                if vtype is not bool:
                    return None
                parts.append(plan[5] if value else plan[6])
            elif vtype is not str:
                return None
            elif kind == _WORD:
                if value not in plan[3]:
                    return None
                parts.append(plan[4] + _value(value))
            else:
                if len(value) > plan[3] or not value.isprintable():
                    return None
                parts.append(plan[4] + _value(value))
        parts.append(f"seq={float(seq)!r}")
        return ",".join(parts)
