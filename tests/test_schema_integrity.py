"""The measurement schema against a real influxd: no school can poison a field's
type or forge a collector measurement, and no message that passes decoding can
crash a later stage (validate -> line protocol -> write -> dead letter -> receipt).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.contract.configschema import build
from agent.contract.reading import Reading
from agent.contract.wire import MAX_PAYLOAD_BYTES, Identity, decode_receipt_full, encode
from collector.config import Storage
from collector.ingest.pipeline import Pipeline
from collector.ingest.receipts import Receipts
from collector.ingest.transport import Message
from collector.ingest.validate import Validator
from collector.ingest.writer import InfluxV1Writer
from collector.service import dead_letter_body
from tests.services import Influxd

# Integration tier: a real influxd.
pytestmark = pytest.mark.integration

A = Identity("37", "3701", "370102", "hostile-a")
B = Identity("37", "3701", "370102", "honest-b")


class Sinks:
    """Acks, dead letters (encoded as the service encodes them) and receipts."""

    def __init__(self) -> None:
        self.acked: list[int] = []
        self.dead: list[tuple[int, str]] = []
        self.published: list[tuple[str, bytes]] = []
        self.receipts = Receipts(lambda topic, body: self.published.append((topic, body)), 1)

    def ack(self, messages: list[Message]) -> None:
        self.acked.extend(m.mid for m in messages)

    def dead_letter(self, m: Message, reason: str, detail: str) -> None:
        body = json.loads(dead_letter_body(m, reason, detail))
        assert body["reason"] == reason
        self.dead.append((m.mid, reason))


def pipeline(influxd: Influxd, database: str, sinks: Sinks) -> Pipeline:
    cfg = build(Storage, {"kind": "influxdb1", "url": influxd.url, "database": database,
                          "timeout_seconds": 5.0})
    return Pipeline(Validator(MAX_PAYLOAD_BYTES, 300 * 10**9, 35 * 86400 * 10**9),
                    InfluxV1Writer(cfg), sinks.ack, sinks.dead_letter, max_backoff=0.2,
                    receipt=sinks.receipts.add)


def raw(identity: Identity, measurement: str, seq: int, fields: dict[str, Any],
        tags: dict[str, str] | None = None, ts: int | None = None) -> Message:
    body = {"v": 1, "school_id": identity.school_id, "measurement": measurement,
            "ts": ts or time.time_ns() - 10**9, "seq": seq, "tags": tags or {},
            "fields": fields}
    return Message(identity.topic(measurement), json.dumps(body).encode(), mid=seq)


def test_a_hostile_school_cannot_poison_a_type_or_forge_a_verdict(
        influxd: Influxd, database: str) -> None:
    sinks = Sinks()
    pipe = pipeline(influxd, database, sinks)
    tags = {"method": "http", "server": "speed1"}
    # A goes first, with download_bps as a string, then forges a verdict.
    pipe.process([raw(A, "wan_throughput", 1, {"download_bps": "1e9", "result": "ok"}, tags)])
    pipe.process([raw(A, "compliance", 2, {"status": "pass", "value": 1.0},
                      {"target": "gigabit_school"}),
                  raw(A, "agent_status", 3, {"online": True})])
    # B's honest readings: an integer JSON number in a float field, then a float.
    now = time.time_ns()
    honest = [Message(B.topic("wan_throughput"), encode(B, Reading(
        "wan_throughput", {"download_bps": bps, "streams": 4, "result": "ok"}, tags,
        now - (10 - i) * 10**9), 10 + i), mid=10 + i)
        for i, bps in enumerate([940_000_000, 912_345_678.5, 1_000_000_000])]
    pipe.process(honest)
    assert sinks.dead == [(1, "field_type"), (2, "collector_owned"), (3, "collector_owned")]
    assert sorted(sinks.acked) == [1, 2, 3, 10, 11, 12]
    rows = influxd.rows("SELECT download_bps, streams FROM wan_throughput", database)
    assert [(r["download_bps"], r["streams"]) for r in rows] == [
        (940_000_000.0, 4), (912_345_678.5, 4), (1_000_000_000.0, 4)]
    kinds = {tuple(v) for s in influxd.query("SHOW FIELD KEYS FROM wan_throughput", database)
             for v in s["values"]}
    # Every number is stored as a float (collector/ingest/lineproto.py), whoever sent it first.
    assert ("download_bps", "float") in kinds and ("streams", "float") in kinds
    assert influxd.query("SHOW MEASUREMENTS WITH MEASUREMENT = compliance", database) == []
    # Per-school counts, and receipts that say what was refused and why.
    assert pipe.stats.by_school[(A.school_id, "collector_owned")] == 2
    assert pipe.stats.by_school[(A.school_id, "field_type")] == 1
    sinks.receipts.flush()
    got = {topic: decode_receipt_full(body) for topic, body in sinks.published}
    assert got[A.receipt_topic].stored == []
    assert got[A.receipt_topic].refused == {"field_type": [(1, 1)],
                                            "collector_owned": [(2, 3)]}
    assert got[B.receipt_topic].stored == [(10, 12)] and got[B.receipt_topic].refused == {}


# Arbitrary JSON, with lone surrogates and control characters wherever a string goes.
NASTY = st.sampled_from(["\ud800", "\udfff", "\x00", "\n", "\x1b[2J", "\u2028", "a\\", '"',
                         "=", ",", " ", "wan_link", "iface", "rx_bps", "result", "ok"])
TEXT = st.one_of(NASTY, st.text(max_size=12), st.builds(lambda a, b: a + b, NASTY, NASTY))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON = st.recursive(SCALAR, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.dictionaries(TEXT, kids, max_size=3)), max_leaves=8)
NEAR = st.fixed_dictionaries({
    "v": st.sampled_from([1, 1, 2, "1"]), "school_id": st.sampled_from([A.school_id, "x"]),
    "measurement": st.sampled_from(["wan_link", "compliance", "ipv6", "x\ud800"]),
    "ts": st.one_of(st.just(0), st.integers(-5, 2**64)), "seq": st.integers(-1, 2**64),
    "tags": st.one_of(st.dictionaries(TEXT, TEXT, max_size=3), JSON),
    "fields": st.one_of(st.dictionaries(TEXT, SCALAR, max_size=4), JSON)})
PAYLOAD = st.one_of(
    st.binary(max_size=64),
    JSON.map(lambda v: json.dumps(v).encode()),
    NEAR.map(lambda v: json.dumps(v).encode()),
    # The same, recent and mostly valid, so later stages see what passes decoding.
    st.builds(lambda tags, fields: json.dumps({
        "v": 1, "school_id": A.school_id, "measurement": "wan_link", "ts": time.time_ns(),
        "seq": 7, "tags": tags, "fields": fields}).encode(),
        st.dictionaries(st.sampled_from(["iface", "source", "x"]), TEXT, max_size=2),
        st.dictionaries(st.sampled_from(["rx_bps", "error", "result", "mtu", "oper_up"]),
                        SCALAR, min_size=1, max_size=3)))
TOPIC = st.one_of(st.sampled_from([A.topic("wan_link"), A.status_topic, A.topic("compliance"),
                                   "schoolnet/v1/37/3701/370102/hostile-a/\ud800"]), TEXT)


# About 15 s on 2 cores; keep it under a minute.
@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(TOPIC, PAYLOAD), min_size=1, max_size=6))
def test_no_message_crashes_a_later_stage(influxd: Influxd, messages: list[tuple[str, bytes]]
                                          ) -> None:
    database = "fuzz"
    influxd.create_db(database)
    sinks = Sinks()
    pipe = pipeline(influxd, database, sinks)
    good_ts = time.time_ns() - 10**9
    batch = [Message(t, p, mid=i) for i, (t, p) in enumerate(messages)]
    batch.append(Message(B.topic("wan_link"), encode(B, Reading(
        "wan_link", {"rx_bps": 1.0, "result": "ok"}, {"iface": "eth0"}, good_ts), 99), mid=99))
    pipe.process(batch)  # must not raise
    sinks.receipts.flush()
    # Every message is acked exactly once: stored, or dead-lettered with a reason.
    assert sorted(sinks.acked) == sorted(m.mid for m in batch)
    dead = {mid for mid, _ in sinks.dead}
    assert all(reason for _, reason in sinks.dead) and 99 not in dead
    assert pipe.stats.stored + len(sinks.dead) == len(batch)
    rows = influxd.rows(f"SELECT rx_bps FROM wan_link WHERE time = {good_ts}", database)
    assert [r["rx_bps"] for r in rows] == [1.0]
