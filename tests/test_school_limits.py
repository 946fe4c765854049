"""Per-school bounds as pure logic, in simulated time: rate and byte buckets,
the dead-letter sample, distinct series per measurement (with the seed from
the database after a restart), and the pipeline's too_many_series refusal."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from agent.contract.configschema import ConfigError, build
from agent.contract.measurements import SCHEMA
from agent.contract.wire import MAX_PAYLOAD_BYTES, Identity, decode_receipt_full
from collector.config import Limits
from collector.errors import Unavailable
from collector.ingest.limits import SHARED, Buckets, DeadLetterSample, SchoolBounds
from collector.ingest.pipeline import Pipeline
from collector.ingest.receipts import Receipts
from collector.ingest.series import SeriesBounds, influx_seed, parse_key, tag_set
from collector.ingest.transport import Message
from collector.ingest.validate import Validator
from collector.retained import RetainedGuard

A = Identity("37", "3701", "370102", "hostile-a")
B = Identity("37", "3701", "370102", "honest-b")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def raw(identity: Identity, measurement: str, seq: int, fields: dict[str, Any],
        tags: dict[str, str] | None = None) -> Message:
    body = {"v": 1, "school_id": identity.school_id, "measurement": measurement,
            "ts": time.time_ns() - 10**9, "seq": seq, "tags": tags or {}, "fields": fields}
    return Message(identity.topic(measurement), json.dumps(body).encode(), mid=seq)


def ignore(messages: list[Message]) -> None:
    pass


def limits(**values: Any) -> Limits:
    return build(Limits, values)


def test_bucket_refuses_past_a_minutes_worth_and_refills() -> None:
    buckets = Buckets(60, 0)
    assert [buckets.take("a", 100, 0.0) for _ in range(60)] == [None] * 60
    assert buckets.take("a", 100, 0.0) == "rate_limited"
    assert buckets.take("b", 100, 0.0) is None  # another school is untouched
    assert buckets.take("a", 100, 0.5) == "rate_limited"  # half a token
    assert buckets.take("a", 100, 1.0) is None  # one a second comes back
    assert buckets.take("a", 100, 1.0) == "rate_limited"
    # A quiet hour refills to one minute's worth, no more.
    assert sum(buckets.take("a", 1, 3600.0) is None for _ in range(100)) == 60


def test_bytes_bound_is_separate_from_the_count() -> None:
    buckets = Buckets(1000, 10_000)
    assert buckets.take("a", 6000, 0.0) is None
    assert buckets.take("a", 6000, 0.0) == "bytes_limited"
    assert buckets.take("a", 4000, 0.0) is None  # what is left still fits
    assert buckets.take("a", 1000, 6.0) is None  # 1,000 bytes refilled in 6 s


def test_buckets_stay_bounded_whatever_school_ids_arrive() -> None:
    buckets = Buckets(10, 0, max_keys=100)
    for n in range(100):
        buckets.take(f"s{n}", 1, 0.0)
    # All 100 are in use: a new school shares one bucket rather than growing the map.
    for n in range(1000):
        buckets.take(f"new{n}", 1, 0.5)
    assert len(buckets) == 101
    assert buckets.take("later", 1, 0.5) == "rate_limited"  # the shared one is spent
    # A minute on every bucket is full again, and full buckets are dropped.
    assert buckets.take("later", 1, 120.0) is None
    assert len(buckets) <= 2 and SHARED not in buckets._state


def test_school_bounds_ack_refusals_count_them_and_pass_the_rest() -> None:
    clock, counted = Clock(), []
    acked: list[Message] = []
    passed: list[Message] = []
    bounds = SchoolBounds(limits(readings_per_minute=10), acked.extend,
                          lambda school, reason: counted.append((school, reason)), clock)
    deliver = bounds.filter(passed.extend)
    flood = [raw(A, "wan_link", n, {"rx_bps": 1.0}, {"iface": "eth0"}) for n in range(50)]
    honest = [raw(B, "wan_link", n, {"rx_bps": 1.0}, {"iface": "eth0"}) for n in range(5)]
    deliver(flood[:25] + honest + flood[25:])
    assert [m.mid for m in passed] == list(range(10)) + list(range(5))
    assert len(acked) == 40 and all(A.school_id in m.topic for m in acked)
    assert counted == [(A.school_id, "rate_limited")] * 40
    clock.now += 6.0  # one more reading's allowance
    deliver(flood[:3])
    assert len(passed) == 16


def test_bytes_bound_refuses_large_payloads_with_its_own_reason() -> None:
    counted: list[tuple[str, str]] = []
    bounds = SchoolBounds(limits(bytes_per_minute=2 * MAX_PAYLOAD_BYTES + 2048), ignore,
                          lambda school, reason: counted.append((school, reason)), Clock())
    big = Message(A.topic("wan_link"), b"x" * MAX_PAYLOAD_BYTES)
    assert [bounds.charge(big) for _ in range(3)] == [None, None, "bytes_limited"]
    assert counted == [(A.school_id, "bytes_limited")]


def test_disabled_bounds_pass_everything() -> None:
    passed: list[Message] = []
    bounds = SchoolBounds(limits(enabled=False, readings_per_minute=10), ignore,
                          lambda *_: None, Clock())
    bounds.filter(passed.extend)([raw(A, "agent", n, {"published": n}) for n in range(100)])
    assert len(passed) == 100


def test_dead_letters_are_a_bounded_sample_per_school() -> None:
    clock, sent = Clock(), []
    sample = DeadLetterSample(5, lambda m, reason, detail: sent.append((m.topic, reason)), clock)
    for n in range(10_000):
        sample(raw(A, "wan_link", n, {}), "rate_limited", "")
    sample(raw(B, "wan_link", 1, {}), "field_type", "")
    assert len(sent) == 6 and sent[-1] == (B.topic("wan_link"), "field_type")
    assert sample.sampled_out == 9_995
    clock.now += 60.0
    sample(raw(A, "wan_link", 1, {}), "rate_limited", "")
    assert len(sent) == 7


def test_limits_config_names_a_bad_key() -> None:
    with pytest.raises(ConfigError, match="bytes_per_minute"):
        limits(bytes_per_minute=1000)
    assert limits().readings_per_minute == 6000


def test_series_bound_per_school_and_measurement() -> None:
    series = SeriesBounds(SCHEMA, scale=0.01)  # classroom_link: 40, wifi_area: 10
    admitted = [series.admit(A.school_id, "classroom_link", {"classroom": f"c{n}"})
                for n in range(100)]
    assert admitted == [True] * 40 + [False] * 60
    # Known tag sets still pass; other schools and measurements are untouched.
    assert series.admit(A.school_id, "classroom_link", {"classroom": "c7"})
    assert series.admit(B.school_id, "classroom_link", {"classroom": "c99"})
    assert series.admit(A.school_id, "wifi_area", {"area": "hall", "area_kind": "office"})
    assert series.admit(A.school_id, "not_in_schema", {"x": "y"})


def test_series_tracking_is_bounded_in_schools() -> None:
    series = SeriesBounds(SCHEMA, max_schools=10)
    for n in range(1000):
        series.admit(f"s{n}", "classroom_link", {"classroom": "c"})
    assert len(series._known) == 10


def test_a_restart_loads_the_stored_series_before_adding_past_seed_after() -> None:
    stored = [(("classroom", f"c{n}"),) for n in range(4000)]
    asked: list[tuple[str, str, int]] = []

    def seed(school: str, measurement: str, limit: int) -> list[Any]:
        asked.append((school, measurement, limit))
        return stored[:limit]

    series = SeriesBounds(SCHEMA, seed=seed, seed_after=16)
    # An honest school with few series costs no query.
    for n in range(16):
        assert series.admit(B.school_id, "classroom_link", {"classroom": f"c{n}"})
    assert asked == []
    # A's 17th new series loads what the database holds: A is already full.
    for n in range(16):
        assert series.admit(A.school_id, "classroom_link", {"classroom": f"new{n}"})
    assert not series.admit(A.school_id, "classroom_link", {"classroom": "new16"})
    assert series.admit(A.school_id, "classroom_link", {"classroom": "c3999"})
    assert series.admit(A.school_id, "classroom_link", {"classroom": "new3"})
    assert asked == [(A.school_id, "classroom_link", 4000)] and series.seeds == 1


def test_a_school_of_ordinary_size_costs_no_query_after_a_restart() -> None:
    # Seeding at a fixed 16 series queried the database for nearly every school
    # after a restart (30 classrooms, 50 APs): the allowance is a share of the bound.
    asked: list[str] = []
    series = SeriesBounds(SCHEMA, seed=lambda school, m, limit: asked.append(m) or [])
    assert series.seed_after["classroom_link"] == SCHEMA["classroom_link"].max_series // 8
    assert series.seed_after["wan_link"] == 16  # never below the old allowance
    for n in range(200):
        assert series.admit(A.school_id, "classroom_link", {"classroom": f"c{n}"})
        assert series.admit(A.school_id, "wifi_radio", {"ap": f"ap{n}", "radio": "5g"})
    assert asked == [] and series.seeds == 0
    for n in range(200, series.seed_after["classroom_link"] + 1):
        series.admit(A.school_id, "classroom_link", {"classroom": f"c{n}"})
    assert asked == ["classroom_link"]


def test_a_failed_seed_counts_from_what_is_seen() -> None:
    def seed(school: str, measurement: str, limit: int) -> list[Any]:
        raise Unavailable("database down")

    series = SeriesBounds(SCHEMA, scale=0.01, seed=seed, seed_after=2)
    assert sum(series.admit("x", "classroom_link", {"classroom": f"c{n}"})
               for n in range(50)) == 40


def test_series_keys_from_show_series_parse_back_to_the_school_tag_set() -> None:
    tags = {"classroom": "高一(3)班, a=b", "switch": "sw 1", "port": r"Gi0/1\x"}
    key = (r"classroom_link,city=3701,classroom=高一(3)班\,\ a\=b,county=370102,"
           r"port=Gi0/1\x,province=37,school=A,switch=sw\ 1")
    assert parse_key(key, SCHEMA["classroom_link"].tags) == tag_set(tags)
    queries: list[str] = []

    def query(q: str) -> list[dict[str, Any]]:
        queries.append(q)
        return [{"columns": ["key"], "values": [[key]]}]

    assert influx_seed(query, SCHEMA)("it's", "classroom_link", 40) == [tag_set(tags)]
    assert queries == ["SHOW SERIES FROM \"classroom_link\" WHERE \"school\" = 'it\\'s' "
                       "LIMIT 40"]


def test_pipeline_receipts_too_many_series_as_refused() -> None:
    written: list[str] = []

    class Writer:
        def write(self, lines: list[str]) -> None:
            written.extend(lines)

        def close(self) -> None:
            pass

    published: list[tuple[str, bytes]] = []
    receipts = Receipts(lambda topic, body: published.append((topic, body)), 1)
    dead: list[tuple[int, str]] = []
    pipe = Pipeline(Validator(MAX_PAYLOAD_BYTES, 300 * 10**9, 35 * 86400 * 10**9), Writer(),
                    lambda ms: None, lambda m, reason, detail: dead.append((m.mid, reason)),
                    receipt=receipts.add, series=SeriesBounds(SCHEMA, scale=0.01))
    batch = [raw(A, "classroom_link", n, {"link_speed_mbps": 1000.0}, {"classroom": f"c{n}"})
             for n in range(1, 51)]
    pipe.process(batch)
    assert len(written) == 40 and dead == [(n, "too_many_series") for n in range(41, 51)]
    assert pipe.stats.by_school[(A.school_id, "too_many_series")] == 10
    receipts.flush()
    receipt = decode_receipt_full(published[0][1])
    assert receipt.refused == {"too_many_series": [(41, 50)]}
    assert receipt.stored == [(1, 40)]


def test_a_retained_flood_costs_no_more_than_the_schools_bound() -> None:
    clock, counted = Clock(), []
    cleared: list[str] = []
    acked: list[Message] = []
    passed: list[Message] = []
    sent: list[str] = []
    sample = DeadLetterSample(60, lambda m, reason, detail: sent.append(reason), clock)
    bounds = SchoolBounds(limits(readings_per_minute=100), acked.extend,
                          lambda school, reason: counted.append(reason), clock, sample)
    guard = RetainedGuard(cleared.append, acked.extend, sample, bounds.charge)
    deliver = guard.filter(bounds.filter(passed.extend))
    retained = [Message(A.topic(f"m{n}"), b"x" * 100, mid=n, retain=True)
                for n in range(1000)]
    deliver(retained)
    # Every one deleted from the broker and acked; only a sample copied out.
    assert len(cleared) == 1000 and len(acked) == 1000
    assert sent == ["retained"] * 60 and counted == ["rate_limited"] * 900
    # It used up A's own allowance: A's next reading waits, B's does not.
    deliver([raw(A, "wan_link", 1, {"rx_bps": 1.0}, {"iface": "eth0"}),
             raw(B, "wan_link", 1, {"rx_bps": 1.0}, {"iface": "eth0"})])
    assert [m.topic for m in passed] == [B.topic("wan_link")]
