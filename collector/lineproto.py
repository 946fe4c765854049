"""InfluxDB line protocol for stored readings, one encoder for both storage flavours."""

from __future__ import annotations

from agent.reading import FieldValue, Reading

# str.translate: one pass per string, on the collector's hottest path. In
# names, keys and tag values a backslash is literal unless it precedes a
# special character (InfluxDB's rule), so only the specials are escaped; the
# wire contract refuses a tag value ending in a backslash.
_NAME = str.maketrans({",": "\\,", " ": "\\ "})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_STRING = str.maketrans({"\\": "\\\\", '"': '\\"'})


def _value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        # Every number is stored as a float: one agent sending 1000 and another
        # 999.5 for the same field would otherwise be a type conflict that
        # makes InfluxDB refuse the field for good.
        return repr(float(value))
    return '"' + value.translate(_STRING) + '"'


def line(reading: Reading) -> str:
    """One line: measurement,tags fields timestamp(ns). Tags are sorted, as InfluxDB prefers."""
    parts = [reading.measurement.translate(_NAME)]
    parts += [f"{k.translate(_KEY)}={v.translate(_KEY)}" for k, v in sorted(reading.tags.items())]
    fields = ",".join(f"{k.translate(_KEY)}={_value(v)}" for k, v in reading.fields.items())
    return f"{','.join(parts)} {fields} {reading.ts_ns}"
