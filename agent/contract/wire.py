"""The wire contract between agents and the collector: topics and payloads.

This module is the only definition of the format. The agent encodes with it;
the collector decodes untrusted bytes with it and adds its policy checks
(time window, registry) on top.

Topic:   schoolnet/v1/{province}/{city}/{county}/{school_id}/{measurement}
Payload: {"v": 1, "school_id": str, "measurement": str, "ts": int ns UTC,
          "seq": int, "tags": {str: str}, "fields": {str: number|bool|str}}
Status:  schoolnet/v1/.../{school_id}/status, retained:
         {"v": 1, "school_id": str, "state": "online"|"offline", "ts": int,
          "agent_version": str}
Receipt: schoolnet/receipts/v1/{province}/{city}/{county}/{school_id}, from the
         collector once readings are stored, or refused for good with the reason:
         {"v": 1, "ranges": [[first_seq, last_seq], ...],
          "refused": {reason: [[first_seq, last_seq], ...]},   (optional)
          "held": {reason: [[first_seq, last_seq], ...]},      (optional)
          "now": int ns UTC}                                   (optional)
         "held" readings were not stored for a reason the network centre can
         fix (a registry without the school): the agent keeps them, resends
         them later and tells the engineer why. "now" is the collector's clock,
         so an agent can see its own clock's offset. Older agents ignore both.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from agent.contract.errors import WireError
from agent.contract.reading import FieldValue, Reading

SCHEMA_VERSION = 1
TOPIC_ROOT = "schoolnet/v1"
# Outside TOPIC_ROOT, so collectors subscribed to schoolnet/v1/# never see them.
RECEIPT_ROOT = "schoolnet/receipts/v1"
STATUS = "status"
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_TAGS = 16
MAX_FIELDS = 64
MAX_TAG_VALUE = 128
MAX_STRING_FIELD = 256
INT64 = 2**63 - 1

REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
SCHOOL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Tags the collector sets from the topic; a payload must not carry them.
RESERVED_TAGS = frozenset({"school", "province", "city", "county"})
# Plausible ranges by unit suffix: a value outside is a bug or a forgery.
UNIT_RANGES: dict[str, tuple[float, float]] = {
    "_bps": (0.0, 1e12),
    "_mbps": (0.0, 1e6),
    "_seconds": (0.0, 1e9),
    "_dbm": (-150.0, 40.0),
    "_bytes": (0.0, 1e15),
    "_share": (0.0, 1.0),
    "_percent": (0.0, 100.0),
}


@dataclass(frozen=True)
class Identity:
    """Where a school sits: region codes and school id, as in its topics."""

    province: str
    city: str
    county: str
    school_id: str

    @property
    def prefix(self) -> str:
        return f"{TOPIC_ROOT}/{self.province}/{self.city}/{self.county}/{self.school_id}"

    def topic(self, measurement: str) -> str:
        return f"{self.prefix}/{measurement}"

    @property
    def status_topic(self) -> str:
        return self.topic(STATUS)

    @property
    def receipt_topic(self) -> str:
        return f"{RECEIPT_ROOT}/{self.province}/{self.city}/{self.county}/{self.school_id}"

    def region_tags(self) -> dict[str, str]:
        return {"province": self.province, "city": self.city, "county": self.county,
                "school": self.school_id}


@dataclass(frozen=True)
class Envelope:
    """A decoded reading as it crossed the wire."""

    identity: Identity
    seq: int
    reading: Reading


@dataclass(frozen=True)
class Status:
    identity: Identity
    state: str
    ts_ns: int
    agent_version: str


# The five patterns above in one: a valid topic costs one match on the
# collector's hot path; the part-by-part checks below only name what is wrong.
_TOPIC = re.compile("/".join((re.escape(TOPIC_ROOT), *(f"({p.pattern})" for p in (
    REGION, REGION, REGION, SCHOOL_ID, NAME)))))


def parse_topic(topic: str) -> tuple[Identity, str]:
    """Split a topic into the school's identity and the measurement name."""
    match = _TOPIC.fullmatch(topic)
    if match:
        province, city, county, school_id, measurement = match.groups()
        return Identity(province, city, county, school_id), measurement
    parts = topic.split("/")
    if len(parts) != 7 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise WireError("topic_malformed", f"not {TOPIC_ROOT}/prov/city/county/school/name")
    province, city, county, school_id, measurement = parts[2:]
    for label, value, pattern in (("province", province, REGION), ("city", city, REGION),
                                  ("county", county, REGION),
                                  ("school_id", school_id, SCHOOL_ID),
                                  ("measurement", measurement, NAME)):
        if not pattern.fullmatch(value):
            raise WireError("topic_malformed", f"bad {label} {value[:40]!r}")
    return Identity(province, city, county, school_id), measurement


def encode(identity: Identity, reading: Reading, seq: int) -> bytes:
    body = {"v": SCHEMA_VERSION, "school_id": identity.school_id,
            "measurement": reading.measurement, "ts": reading.ts_ns, "seq": seq,
            "tags": reading.tags, "fields": reading.fields}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def encode_status(identity: Identity, state: str, ts_ns: int, agent_version: str) -> bytes:
    body = {"v": SCHEMA_VERSION, "school_id": identity.school_id, "state": state,
            "ts": ts_ns, "agent_version": agent_version}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _load(payload: bytes, max_bytes: int) -> dict[str, Any]:
    if len(payload) > max_bytes:
        raise WireError("too_large", f"{len(payload)} bytes > {max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WireError("not_utf8", str(err)) from None
    try:
        # Non-finite numbers are not JSON; Python would accept NaN by default.
        body = _DECODER.decode(text)
    except WireError:
        raise
    except (ValueError, RecursionError) as err:
        raise WireError("not_json", str(err)[:120]) from None
    if not isinstance(body, dict):
        raise WireError("not_object", type(body).__name__)
    if body.get("v") != SCHEMA_VERSION:
        raise WireError("bad_version", f"v={body.get('v')!r}, expected {SCHEMA_VERSION}")
    return body


def _reject_constant(name: str) -> Any:
    raise WireError("not_finite", f"{name} is not a number")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _keys(body: dict[str, Any], required: set[str]) -> None:
    missing = required - body.keys()
    if missing:
        raise WireError("missing_key", ", ".join(sorted(missing)))
    extra = body.keys() - required
    if extra:
        raise WireError("unknown_key", ", ".join(sorted(extra))[:120])


def _int(body: dict[str, Any], key: str) -> int:
    value = body[key]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT64:
        raise WireError("bad_type", f"{key} must be a non-negative 64-bit integer")
    return value


def _school(body: dict[str, Any], identity: Identity) -> None:
    school_id = body["school_id"]
    if not isinstance(school_id, str):
        raise WireError("bad_type", "school_id must be a string")
    if school_id != identity.school_id:
        raise WireError("school_mismatch",
                        f"payload {school_id[:64]!r} != topic {identity.school_id!r}")


def decode_status(topic: str, payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> Status:
    identity, measurement = parse_topic(topic)
    if measurement != STATUS:
        raise WireError("topic_malformed", "not a status topic")
    return decode_status_of(identity, payload, max_bytes)


def decode_status_of(identity: Identity, payload: bytes,
                     max_bytes: int = MAX_PAYLOAD_BYTES) -> Status:
    """decode_status for a topic already parsed (the collector's hot path)."""
    body = _load(payload, max_bytes)
    _keys(body, {"v", "school_id", "state", "ts", "agent_version"})
    _school(body, identity)
    if body["state"] not in ("online", "offline"):
        raise WireError("bad_value", "state must be online or offline")
    version = body["agent_version"]
    if not isinstance(version, str) or len(version) > 32:
        raise WireError("bad_type", "agent_version must be a short string")
    if not version.isprintable():
        # It is stored as a string field: a newline or lone surrogate would break the write.
        raise WireError("bad_value", "agent_version must be printable")
    return Status(identity, body["state"], _int(body, "ts"), version)


def decode(topic: str, payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> Envelope:
    """Decode a reading strictly; raise WireError with the first problem found."""
    identity, measurement = parse_topic(topic)
    return decode_reading(identity, measurement, payload, max_bytes)


def decode_reading(identity: Identity, measurement: str, payload: bytes,
                   max_bytes: int = MAX_PAYLOAD_BYTES) -> Envelope:
    """decode for a topic already parsed by parse_topic (the collector's hot
    path parses each topic once)."""
    seq, ts_ns, tags, fields = decode_envelope(identity, measurement, payload, max_bytes)
    return Envelope(identity, seq, Reading(measurement, check_fields(fields), check_tags(tags),
                                           ts_ns))


def decode_envelope(identity: Identity, measurement: str, payload: bytes,
                    max_bytes: int = MAX_PAYLOAD_BYTES) -> tuple[int, int, Any, Any]:
    """The envelope's seq and ts, and its tags and fields still unchecked: the
    caller checks those (generically, or against the measurement schema)."""
    body = _load(payload, max_bytes)
    _keys(body, {"v", "school_id", "measurement", "ts", "seq", "tags", "fields"})
    _school(body, identity)
    if body["measurement"] != measurement:
        raise WireError("measurement_mismatch",
                        f"payload {str(body['measurement'])[:64]!r} != topic {measurement!r}")
    return _int(body, "seq"), _int(body, "ts"), body["tags"], body["fields"]


def check_tags(tags: Any) -> dict[str, str]:
    if not isinstance(tags, dict):
        raise WireError("bad_type", "tags must be an object")
    if len(tags) > MAX_TAGS:
        raise WireError("too_many", f"{len(tags)} tags > {MAX_TAGS}")
    for key, value in tags.items():
        if not NAME.fullmatch(key):
            raise WireError("bad_name", f"tag key {key[:64]!r}")
        if key in RESERVED_TAGS:
            raise WireError("reserved_tag", f"tag {key!r} is set by the collector")
        if not isinstance(value, str):
            raise WireError("bad_type", f"tag {key} must be a string")
        if not value or len(value) > MAX_TAG_VALUE or not value.isprintable() \
                or value.endswith("\\"):
            raise WireError("bad_value", f"tag {key} must be 1-{MAX_TAG_VALUE} printable "
                            "chars, not ending in a backslash")
    return tags


def check_fields(fields: Any) -> dict[str, FieldValue]:
    if not isinstance(fields, dict):
        raise WireError("bad_type", "fields must be an object")
    if not fields:
        raise WireError("missing_key", "fields is empty")
    if len(fields) > MAX_FIELDS:
        raise WireError("too_many", f"{len(fields)} fields > {MAX_FIELDS}")
    for key, value in fields.items():
        if not NAME.fullmatch(key):
            raise WireError("bad_name", f"field key {key[:64]!r}")
        if isinstance(value, bool):
            continue
        if isinstance(value, str):
            if len(value) > MAX_STRING_FIELD or not value.isprintable():
                raise WireError("bad_value", f"field {key} string too long or unprintable")
            continue
        if not isinstance(value, (int, float)):
            raise WireError("bad_type", f"field {key} must be a number, boolean or string")
        if isinstance(value, float) and not math.isfinite(value):
            raise WireError("not_finite", f"field {key}")
        if isinstance(value, int) and abs(value) > INT64:
            raise WireError("out_of_range", f"field {key} exceeds 64 bits")
        check_range(key, value)
    return fields


def check_range(key: str, value: float) -> None:
    """Reject numbers outside what their unit allows (e.g. negative bps)."""
    bounds = UNIT_RANGES.get(key[key.rfind("_"):])
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise WireError("out_of_range", f"field {key}={value} not in [{bounds[0]}, {bounds[1]}]")


def seq_ranges(seqs: list[int]) -> list[list[int]]:
    """Compress sequence numbers into sorted [first, last] runs."""
    ranges: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    return ranges


# A held reading is resent anyway, so naming a few ranges per reason says why
# as well as naming them all, and keeps a receipt small whatever seqs arrive.
MAX_HELD_RANGES = 16


def encode_receipt(seqs: list[int], refused: dict[str, list[int]] | None = None,
                   held: dict[str, list[int]] | None = None, now_ns: int | None = None
                   ) -> bytes:
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "ranges": seq_ranges(seqs)}
    if refused:
        body["refused"] = {reason: seq_ranges(s) for reason, s in refused.items()}
    if held:
        body["held"] = {reason: seq_ranges(s)[:MAX_HELD_RANGES]
                        for reason, s in sorted(held.items())[:MAX_HELD_RANGES]}
    if now_ns is not None:
        body["now"] = now_ns
    return json.dumps(body, separators=(",", ":")).encode()


# A range of two 13-digit seqs is ~31 bytes: 1,000 keep a receipt near 32 KB,
# well inside MAX_PAYLOAD_BYTES whatever pattern of refusals a school causes.
RECEIPT_MAX_RANGES = 1000


def encode_receipts(seqs: list[int], refused: dict[str, list[int]] | None = None,
                    held: dict[str, list[int]] | None = None, now_ns: int | None = None
                    ) -> list[bytes]:
    """The same receipt as ``encode_receipt``, split so no message holds more
    than RECEIPT_MAX_RANGES ranges (every other reading refused is one range each).
    ``held`` (already bounded by MAX_HELD_RANGES) and ``now`` go in the first."""
    parts: list[tuple[str | None, list[int]]] = [(None, r) for r in seq_ranges(seqs)]
    for reason, refused_seqs in (refused or {}).items():
        parts += [(reason, r) for r in seq_ranges(refused_seqs)]
    bodies: list[bytes] = []
    for start in range(0, max(len(parts), 1), RECEIPT_MAX_RANGES):
        body: dict[str, Any] = {"v": SCHEMA_VERSION, "ranges": []}
        for why, r in parts[start:start + RECEIPT_MAX_RANGES]:
            if why is None:
                body["ranges"].append(r)
            else:
                body.setdefault("refused", {}).setdefault(why, []).append(r)
        if start == 0:
            if held:
                body["held"] = {reason: seq_ranges(s)[:MAX_HELD_RANGES]
                                for reason, s in sorted(held.items())[:MAX_HELD_RANGES]}
            if now_ns is not None:
                body["now"] = now_ns
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


@dataclass(frozen=True)
class Receipt:
    stored: list[tuple[int, int]]
    refused: dict[str, list[tuple[int, int]]]  # reason -> ranges refused for good
    held: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # kept, resent later
    now_ns: int | None = None  # the collector's clock when it sent the receipt


def _ranges(value: Any, what: str) -> list[tuple[int, int]]:
    if not isinstance(value, list) or not all(
            isinstance(r, list) and len(r) == 2 and all(
                isinstance(x, int) and not isinstance(x, bool) for x in r) and r[0] <= r[1]
            for r in value):
        raise WireError("bad_type", f"{what} must be a list of [first, last] integer pairs")
    return [(r[0], r[1]) for r in value]


def decode_receipt(payload: bytes) -> list[tuple[int, int]]:
    """The stored ranges of a receipt (what a receipt meant before refusals travelled)."""
    return decode_receipt_full(payload).stored


def decode_receipt_full(payload: bytes) -> Receipt:
    """The collector's receipt; the agent trusts only the broker it logged in to.
    A receipt without ``refused`` (older collectors) refuses nothing."""
    body = _load(payload, MAX_PAYLOAD_BYTES)
    stored = _ranges(body.get("ranges"), "ranges")
    now = body.get("now")
    if now is not None:
        now = _int(body, "now")
    return Receipt(stored, _by_reason(body, "refused"), _by_reason(body, "held"), now)


def _by_reason(body: dict[str, Any], key: str) -> dict[str, list[tuple[int, int]]]:
    value = body.get(key, {})
    if not isinstance(value, dict):
        raise WireError("bad_type", f"{key} must be an object of reason: ranges")
    out = {}
    for reason, ranges in value.items():
        if not NAME.fullmatch(reason):
            raise WireError("bad_name", f"{key} reason {reason[:64]!r}")
        out[reason] = _ranges(ranges, f"{key} {reason}")
    return out
