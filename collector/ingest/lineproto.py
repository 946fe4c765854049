"""InfluxDB line protocol for stored readings, one encoder for both storage flavours."""

from __future__ import annotations

from agent.contract.reading import FieldValue, Reading

# str.translate: one pass per string, on the collector's hottest path. In
# names, keys and tag values a backslash is literal unless it precedes a
# special character (InfluxDB's rule), so only the specials are escaped; the
# wire contract refuses a tag value ending in a backslash.
_NAME = str.maketrans({",": "\\,", " ": "\\ "})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_STRING = str.maketrans({"\\": "\\\\", '"': '\\"'})


def _key(text: str) -> str:
    # Most names and tag values are plain words: one C-level test, not an escape.
    return text if text.isalnum() or text.isidentifier() else text.translate(_KEY)


def _value(value: FieldValue) -> str:
    kind = type(value)
    if kind is float:
        return repr(value)
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        # Every number is stored as a float: one agent sending 1000 and another
        # 999.5 for the same field would otherwise be a type conflict that
        # makes InfluxDB refuse the field for good.
        return repr(float(value))
    return '"' + str(value).translate(_STRING) + '"'


def line(reading: Reading) -> str:
    """One line: measurement,tags fields timestamp(ns). Tags are sorted, as InfluxDB prefers.

    The schema's int/float distinction is for checking what a school sends;
    storage keeps every number a float, as deployed databases already hold
    them, so a field's stored type never changes with the schema.
    """
    name = reading.measurement
    head = name if name.isidentifier() else name.translate(_NAME)
    tags = "".join([f",{_key(k)}={_key(v)}" for k, v in sorted(reading.tags.items())])
    fields = ",".join([f"{_key(k)}={_value(v)}" for k, v in reading.fields.items()])
    return f"{head}{tags} {fields} {reading.ts_ns}"
