"""InfluxDB line protocol for stored readings, one encoder for both storage flavours."""

from __future__ import annotations

from collections.abc import Mapping

from agent.contract.reading import FieldValue, Reading
from agent.contract.wire import Envelope, Status

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


def head(measurement: str, tags: Mapping[str, str]) -> str:
    """A line's series key: measurement,tags, the tags sorted as InfluxDB prefers."""
    name = measurement if measurement.isidentifier() else measurement.translate(_NAME)
    return name + "".join([f",{_key(k)}={_key(v)}" for k, v in sorted(tags.items())])


def line(reading: Reading) -> str:
    """One line: measurement,tags fields timestamp(ns). Tags are sorted, as InfluxDB prefers.

    The schema's int/float distinction is for checking what a school sends;
    storage keeps every number a float, as deployed databases already hold
    them, so a field's stored type never changes with the schema.
    """
    fields = ",".join([f"{_key(k)}={_value(v)}" for k, v in reading.fields.items()])
    return f"{head(reading.measurement, reading.tags)} {fields} {reading.ts_ns}"


def declared_fields(fields: Mapping[str, FieldValue], seq: int) -> str:
    """``line``'s field set for a checked reading plus its ``seq``, byte for
    byte: every key is a name the schema declares, which needs no escaping."""
    parts = []
    for key, value in fields.items():
        kind = type(value)
        if kind is float:
            parts.append(f"{key}={value!r}")
        elif kind is bool:
            parts.append(key + ("=true" if value else "=false"))
        elif kind is int:
            parts.append(f"{key}={float(value)!r}")
        else:
            parts.append(f"{key}={_value(value)}")
    parts.append(f"seq={float(seq)!r}")
    return ",".join(parts)


def checked_head(measurement: str, tags: Mapping[str, str], province: str, city: str,
                 county: str, school: str) -> str:
    """``head`` of a checked reading with its region's tags, byte for byte:
    the measurement and tag keys are declared names and the region's codes
    match the topic's patterns, so only the school's tag values are escaped."""
    pairs = [(k, _key(v)) for k, v in tags.items()]
    pairs += (("city", city), ("county", county), ("province", province), ("school", school))
    pairs.sort()
    return measurement + "".join([f",{k}={v}" for k, v in pairs])


def to_point(item: Envelope | Status, received_ns: int) -> Reading:
    tags = item.identity.region_tags()
    if isinstance(item, Status):
        # The broker sends the last will when the agent vanishes, long after
        # the will was written, so arrival time is the honest timestamp here.
        fields: dict[str, float | int | bool | str] = {
            "online": item.state == "online", "state": item.state,
            "agent_version": item.agent_version}
        return Reading("agent_status", fields, tags, received_ns)
    reading = item.reading
    return Reading(reading.measurement, {**reading.fields, "seq": item.seq},
                   {**reading.tags, **tags}, reading.ts_ns)


def encode_point(item: Envelope | Status, received_ns: int) -> str:
    """The line to store."""
    return line(to_point(item, received_ns))


def encode_checked(item: Envelope | Status, received_ns: int) -> str:
    """``encode_point``'s line, byte for byte, for a message the schema
    passed, without escaping what the schema and the topic's patterns
    already guarantee needs none."""
    if isinstance(item, Status) or "seq" in item.reading.fields:
        return encode_point(item, received_ns)
    reading, who = item.reading, item.identity
    key = checked_head(reading.measurement, reading.tags, who.province, who.city, who.county,
                       who.school_id)
    return f"{key} {declared_fields(reading.fields, item.seq)} {reading.ts_ns}"
