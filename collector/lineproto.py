"""InfluxDB line protocol for stored readings, one encoder for both storage flavours."""

from __future__ import annotations

from agent.reading import FieldValue, Reading


def _escape(text: str, specials: str) -> str:
    text = text.replace("\\", "\\\\")
    for char in specials:
        text = text.replace(char, "\\" + char)
    return text


def _value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        # Every number is stored as a float: one agent sending 1000 and another
        # 999.5 for the same field would otherwise be a type conflict that
        # makes InfluxDB refuse the field for good.
        return repr(float(value))
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def line(reading: Reading) -> str:
    """One line: measurement,tags fields timestamp(ns). Tags are sorted, as InfluxDB prefers."""
    parts = [_escape(reading.measurement, ", ")]
    parts += [f"{_escape(k, ',= ')}={_escape(v, ',= ')}" for k, v in sorted(reading.tags.items())]
    fields = ",".join(f"{_escape(k, ',= ')}={_value(v)}" for k, v in reading.fields.items())
    return f"{','.join(parts)} {fields} {reading.ts_ns}"
