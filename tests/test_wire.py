"""The wire contract: what the agent encodes decodes; every way to break it is refused."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import (
    MAX_PAYLOAD_BYTES,
    Identity,
    WireError,
    decode,
    decode_reading,
    decode_receipt_full,
    decode_status,
    decode_status_of,
    encode,
    encode_receipt,
    encode_receipts,
    encode_status,
    parse_topic,
)
from collector.ingest.validate import Validator

ID = Identity("37", "3701", "370102", "370102-0001")
TOPIC = ID.topic("wan_link")
VALIDATOR = Validator(MAX_PAYLOAD_BYTES, 300 * 10**9, 35 * 86400 * 10**9)


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"v": 1, "school_id": ID.school_id, "measurement": "wan_link",
                            "ts": time.time_ns(), "seq": 7, "tags": {"iface": "eth0"},
                            "fields": {"rx_bps": 1.5e8, "link_speed_mbps": 1000,
                                       "oper_up": True, "result": "ok"}}
    base.update(changes)
    return base


def raw(data: Any) -> bytes:
    # ASCII escapes, so a lone surrogate travels as JSON "\ud800", as a hostile school sends it.
    return json.dumps(data).encode()


def test_round_trip_keeps_every_value() -> None:
    reading = Reading("wan_link", {"rx_bps": 123.25, "oper_up": False, "result": "timeout",
                                   "link_speed_mbps": 100},
                      {"iface": "eth0", "classroom": "高一(3)班"}, 1_700_000_000_123_456_789)
    envelope = decode(TOPIC, encode(ID, reading, 42))
    assert envelope.identity == ID and envelope.seq == 42
    assert envelope.reading == reading


def test_status_round_trip() -> None:
    now = time.time_ns()
    status = VALIDATOR.check(ID.status_topic, encode_status(ID, "offline", now, "0.1.0"), now)
    assert (status.state, status.ts_ns, status.identity) == ("offline", now, ID)  # type: ignore[union-attr]


def test_topic_parts() -> None:
    assert parse_topic(TOPIC) == (ID, "wan_link")


def test_one_school_id_under_many_regions_does_not_collide() -> None:
    # Receipts are grouped in dicts keyed by identity: a school sending its id
    # under thousands of region codes must not make their hashes collide
    # (quadratic lookups, everyone's CPU).
    ids = [Identity("37", f"37{c:02d}", f"37{c:02d}{k:02d}", "s1")
           for c in range(1, 30) for k in range(1, 30)]
    assert len({hash(i) for i in ids}) == len(ids)


def test_decoding_a_parsed_topic_gives_what_decoding_the_topic_gives() -> None:
    # The collector parses each topic once and hands the parts on.
    payload = raw(body())
    assert decode_reading(*parse_topic(TOPIC), payload) == decode(TOPIC, payload)
    status = encode_status(ID, "online", 5, "0.1.0")
    assert decode_status_of(ID, status) == decode_status(ID.status_topic, status)
    # The payload is still checked against the identity and measurement given.
    other = Identity("37", "3701", "370102", "370102-0002")
    with pytest.raises(WireError) as err:
        decode_reading(other, "wan_link", payload)
    assert err.value.reason == "school_mismatch"
    with pytest.raises(WireError) as err:
        decode_reading(ID, "ipv6", payload)
    assert err.value.reason == "measurement_mismatch"


BAD: list[tuple[str, str, bytes]] = [
    ("too_large", TOPIC, raw(body(tags={"pad": "x" * 120})) + b" " * MAX_PAYLOAD_BYTES),
    ("not_utf8", TOPIC, b'{"v": 1, "school_id": "\xff\xfe"}'),
    ("not_json", TOPIC, b'{"v": 1, '),
    ("not_object", TOPIC, b"[1, 2, 3]"),
    ("bad_version", TOPIC, raw(body(v=2))),
    ("missing_key", TOPIC, raw({k: v for k, v in body().items() if k != "seq"})),
    ("unknown_key", TOPIC, raw(body(extra=1))),
    ("school_mismatch", TOPIC, raw(body(school_id="370102-0002"))),
    ("measurement_mismatch", TOPIC, raw(body(measurement="wifi_area"))),
    ("bad_type", TOPIC, raw(body(ts="2026-01-01T00:00:00Z"))),
    ("bad_type", TOPIC, raw(body(seq=-1))),
    ("bad_type", TOPIC, raw(body(seq=True))),
    ("field_type", TOPIC, raw(body(fields={"rx_bps": [1, 2]}))),
    ("field_type", TOPIC, raw(body(fields={"rx_bps": "fast"}))),
    ("field_type", TOPIC, raw(body(fields={"mtu": 1500.5}))),
    ("field_type", TOPIC, raw(body(fields={"oper_up": 1}))),
    ("tag_value", TOPIC, raw(body(tags={"iface": 3}))),
    ("unknown_field", TOPIC, raw(body(fields={"Rx Bps": 1.0}))),
    ("unknown_field", TOPIC, raw(body(fields={"rx_bps": 1.0, "\ud800": 1}))),
    ("unknown_tag", TOPIC, raw(body(tags={"if-ace": "eth0"}))),
    ("reserved_tag", TOPIC, raw(body(tags={"school": "other"}))),
    ("tag_value", TOPIC, raw(body(tags={"iface": "eth0\n"}))),
    ("tag_value", TOPIC, raw(body(tags={"iface": ""}))),
    ("tag_value", TOPIC, raw(body(tags={"iface": "eth0\\"}))),
    ("tag_value", TOPIC, raw(body(tags={"iface": "\ud800"}))),
    ("tag_value", TOPIC, raw(body(tags={"source": "ssh"}))),
    ("bad_value", TOPIC, raw(body(fields={"error": "x" * 300}))),
    ("bad_value", TOPIC, raw(body(fields={"error": "a\ud800"}))),
    ("bad_value", TOPIC, raw(body(fields={"result": "pass"}))),
    ("not_finite", TOPIC, raw(body()).replace(b"150000000.0", b"NaN")),
    ("not_finite", TOPIC, raw(body()).replace(b"150000000.0", b"Infinity")),
    ("out_of_range", TOPIC, raw(body(fields={"rx_bps": -5.0}))),
    ("out_of_range", TOPIC, raw(body(fields={"contracted_mbps": 2e6}))),
    ("out_of_range", TOPIC, raw(body(fields={"mtu": 2**70}))),
    ("unknown_field", TOPIC, raw(body(fields={f"f{i}": 1 for i in range(65)}))),
    ("unknown_measurement", TOPIC.replace("wan_link", "wan_lnk"),
     raw(body(measurement="wan_lnk"))),
    ("collector_owned", TOPIC.replace("wan_link", "compliance"),
     raw(body(measurement="compliance", fields={"status": "pass"}))),
    ("collector_owned", TOPIC.replace("wan_link", "agent_status"),
     raw(body(measurement="agent_status", fields={"online": True}))),
    ("missing_key", TOPIC, raw(body(fields={}))),
    ("ts_future", TOPIC, raw(body(ts=time.time_ns() + 3600 * 10**9))),
    ("ts_past", TOPIC, raw(body(ts=time.time_ns() - 40 * 86400 * 10**9))),
    ("topic_malformed", "schoolnet/v1/37/3701/370102-0001/wan_link", raw(body())),
    ("topic_malformed", "schoolnet/v2/37/3701/370102/370102-0001/wan_link", raw(body())),
    ("topic_malformed", "schoolnet/v1/37/3701/370102/学校/wan_link", raw(body())),
    ("topic_malformed", "schoolnet/v1/37/3701/370102/370102-0001/Wan-Link", raw(body())),
    ("bad_value", ID.status_topic, raw({"v": 1, "school_id": ID.school_id, "state": "maybe",
                                        "ts": 1, "agent_version": "1"})),
]


@pytest.mark.parametrize(("reason", "topic", "payload"), BAD,
                         ids=[f"{i}-{b[0]}" for i, b in enumerate(BAD)])
def test_rejects_with_reason(reason: str, topic: str, payload: bytes) -> None:
    with pytest.raises(WireError) as err:
        VALIDATOR.check(topic, payload, time.time_ns())
    assert err.value.reason == reason


# The contract's generic checks, which the agent runs before the schema's.
GENERIC: list[tuple[str, dict[str, Any]]] = [
    ("bad_type", {"fields": {"rx_bps": [1, 2]}}),
    ("bad_type", {"tags": {"iface": 3}}),
    ("bad_name", {"fields": {"Rx Bps": 1.0}}),
    ("bad_name", {"tags": {"if-ace": "eth0"}}),
    ("bad_value", {"tags": {"iface": "eth0\n"}}),
    ("bad_value", {"tags": {"iface": "\ud800"}}),
    ("bad_value", {"fields": {"note": "x" * 300}}),
    ("out_of_range", {"fields": {"signal_dbm": 300}}),
    ("out_of_range", {"fields": {"count": 2**70}}),
    ("too_many", {"fields": {f"f{i}": 1 for i in range(65)}}),
    ("too_many", {"tags": {f"t{i}": "x" for i in range(17)}}),
]


@pytest.mark.parametrize(("reason", "change"), GENERIC,
                         ids=[f"{i}-{g[0]}" for i, g in enumerate(GENERIC)])
def test_generic_checks_reject_with_reason(reason: str, change: dict[str, Any]) -> None:
    with pytest.raises(WireError) as err:
        decode(TOPIC, raw(body(**change)))
    assert err.value.reason == reason


def test_status_with_an_unprintable_version_is_refused() -> None:
    payload = raw({"v": 1, "school_id": ID.school_id, "state": "online", "ts": 1,
                   "agent_version": "1.0\ud800"})
    with pytest.raises(WireError) as err:
        VALIDATOR.check(ID.status_topic, payload, time.time_ns())
    assert err.value.reason == "bad_value"


def test_encoder_refuses_nan() -> None:
    with pytest.raises(ValueError):
        encode(ID, Reading("wan_link", {"rx_bps": float("nan")}), 1)


def test_a_receipt_of_scattered_refusals_is_split_to_stay_decodable() -> None:
    # Every other reading refused: one range each, 30,000 readings in one interval.
    seqs = list(range(1, 30_001))
    stored = [s + 1_800_000_000_000 for s in seqs if s % 2]
    refused = {"field_type": [s + 1_800_000_000_000 for s in seqs if not s % 2]}
    bodies = encode_receipts(stored, refused)
    assert len(bodies) == 30 and all(len(b) < MAX_PAYLOAD_BYTES for b in bodies)
    got_stored: set[int] = set()
    got_refused: set[int] = set()
    for body in bodies:
        receipt = decode_receipt_full(body)
        for first, last in receipt.stored:
            got_stored.update(range(first, last + 1))
        for first, last in receipt.refused.get("field_type", []):
            got_refused.update(range(first, last + 1))
    assert got_stored == set(stored) and got_refused == set(refused["field_type"])
    assert encode_receipts([1, 2, 3]) == [encode_receipt([1, 2, 3])]
