"""The collector's fast ingest path against the contract's definition.

The one-pass decoder must give the contract decoder's values for every
payload it accepts and leave every other one to it (so the same reason and
detail); the line encoder for checked readings must give the general
encoder's line byte for byte. Both are compared on payloads built to sit on
the edges (mutated bytes, odd numbers, escapes, duplicate keys, nesting).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.contract.measurements import SCHEMA
from agent.contract.reading import Reading
from agent.contract.schema import UNIT_RANGES, F
from agent.contract.wire import Envelope, Identity, WireError, decode_envelope, encode
from collector.ingest.decode import decode_envelope_fast
from collector.ingest.lineproto import _key, encode_checked, encode_point
from collector.ingest.validate import Validator

ID = Identity("37", "3701", "370102", "s1")
MAX = 64 * 1024
SETTINGS = settings(max_examples=600, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
VALIDATOR = Validator(MAX, 300 * 10**9, 35 * 86400 * 10**9)

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
           | st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


def outcome(fn: Any, payload: bytes, measurement: str = "wan_link") -> tuple[str, Any]:
    try:
        return "ok", fn(ID, measurement, payload, MAX)
    except WireError as err:
        return "refused", (err.reason, err.detail)
    except Exception as err:  # the comparison is the point
        return "raised", type(err).__name__


def same(payload: bytes, measurement: str = "wan_link") -> None:
    contract = outcome(decode_envelope, payload, measurement)
    fast = outcome(decode_envelope_fast, payload, measurement)
    assert fast == contract, payload[:200]
    if contract[0] == "ok":  # equal values may still differ in type: 1 == 1.0 == True
        assert [type(x) for x in fast[1][2:]] == [type(x) for x in contract[1][2:]]
        for got, want in zip(fast[1][2:], contract[1][2:], strict=True):
            if isinstance(want, dict):  # the schema check, not the decoder, refuses the rest
                assert [(k, type(v)) for k, v in got.items()] == \
                    [(k, type(v)) for k, v in want.items()]


def body(**over: Any) -> dict[str, Any]:
    base = {"v": 1, "school_id": "s1", "measurement": "wan_link", "ts": time.time_ns(),
            "seq": 7, "tags": {"iface": "eth0"}, "fields": {"rx_bps": 1.5e6, "result": "ok"}}
    base.update(over)
    return base


@SETTINGS
@given(st.fixed_dictionaries({
    "v": st.sampled_from([1, 1, 1.0, True, 2, "1", None]),
    "school_id": st.sampled_from(["s1", "s1", "s2", 1]),
    "measurement": st.sampled_from(["wan_link", "wan_link", "x", None]),
    "ts": st.one_of(st.just(time.time_ns()), st.integers(-2, 2**65), st.floats(), st.booleans()),
    "seq": st.one_of(st.integers(-2, 2**65), st.just(2**63 - 1), st.just(2**63), st.floats()),
    "tags": st.one_of(st.dictionaries(st.text(max_size=8), values, max_size=3), values),
    "fields": st.one_of(st.dictionaries(st.text(max_size=8), values, max_size=4), values),
}), st.sets(st.sampled_from(["v", "ts", "tags", "fields"]), max_size=2),
    st.dictionaries(st.sampled_from(["extra", "v2"]), scalars, max_size=1))
def test_shaped_payloads_decode_alike(shape: dict[str, Any], drop: set[str],
                                      extra: dict[str, Any]) -> None:
    text = {k: v for k, v in shape.items() if k not in drop} | extra
    same(json.dumps(text).encode())  # NaN and Infinity included: not JSON, both refuse


@SETTINGS
@given(st.integers(0, 400), st.binary(min_size=1, max_size=4), st.booleans())
def test_mutated_bytes_decode_alike(at: int, chunk: bytes, insert: bool) -> None:
    payload = encode(ID, Reading("wan_link", {"rx_bps": 12.5, "result": "ok", "oper_up": True},
                                 {"iface": "eth0"}, time.time_ns()), 9)
    at %= len(payload)
    cut = at if insert else at + len(chunk)
    same(payload[:at] + chunk + payload[cut:])


@pytest.mark.parametrize("payload", [
    b'{"v":1,"v":1,"school_id":"s2","school_id":"s1","measurement":"wan_link","ts":1,'
    b'"seq":1,"tags":{},"fields":{"a":1,"a":"x"}}',  # duplicate keys: the last one counts
    b'{"v":1,"school_id":"s1","measurement":"wan_link","ts":1,"seq":1,"tags":{},'
    b'"fields":{"a":1e400,"b":-0,"c":123456789012345678901234567890}}',
    b'{"v":1,"school_id":"s1","measurement":"wan_link","ts":1,"seq":1,"tags":{"t":"\\ud800"},'
    b'"fields":{"a":"\\ud83d\\ude00","b":"\\u0000"}}',  # lone surrogate, pair, NUL
    b'{"v":1,"school_id":"s1","measurement":"wan_link","ts":1,"seq":1,"tags":{},'
    b'"fields":{"a":"\xed\xa0\x80"}}',  # a surrogate encoded in UTF-8
    b'\xef\xbb\xbf{"v":1,"school_id":"s1","measurement":"wan_link","ts":1,"seq":1,'
    b'"tags":{},"fields":{"a":1}}',  # BOM
    b' \t\r\n{"v":1,"school_id":"s1","measurement":"wan_link","ts":1,"seq":1,"tags":{},'
    b'"fields":{"a":1E+2}} \n',
    b'{"v":1,"school_id":"s1","measurement":"wan_link","ts":1,"seq":1,"tags":{},'
    b'"fields":{"a":' + b"[" * 3000 + b"]" * 3000 + b"}}",  # nested past the recursion limit
    b'{"v":1,"school_id":"s1","measurement":"wan_link","ts":1,"seq":1,"tags":{},'
    b'"fields":{"a":NaN}}',
    b"x" * (MAX + 1),
])
def test_edge_payloads_decode_alike(payload: bytes) -> None:
    same(payload)


readings = st.builds(
    dict, rx_bps=st.floats(0, 1e12), tx_bps=st.integers(0, 10**12),
    link_speed_mbps=st.integers(0, 10**6) | st.floats(0, 1e6), oper_up=st.booleans(),
    error=st.text(max_size=30).filter(str.isprintable), result=st.just("ok"))
tag_values = st.text(min_size=1, max_size=20).filter(
    lambda t: t.isprintable() and not t.endswith("\\"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(readings, tag_values, st.sampled_from(["s1", "s-2.x_3", "S9"]))
@example({"rx_bps": 1.0, "error": 'a "quoted\\" one', "result": "ok"}, "a b,c=d", "s1")
def test_checked_line_is_the_general_line(fields: dict[str, Any], iface: str,
                                          school: str) -> None:
    who = Identity("37", "3701-x", "370102_y", school)
    payload = encode(who, Reading("wan_link", fields, {"iface": iface}, time.time_ns()), 3)
    item = VALIDATOR.check(who.topic("wan_link"), payload, time.time_ns())
    assert encode_checked(item, 5) == encode_point(item, 5)


def test_declared_names_need_no_escaping() -> None:
    # What encode_checked relies on: it writes these names as they are.
    for name, spec in SCHEMA.items():
        assert _key(name) == name
        assert "seq" not in spec.fields
        for key in [*spec.fields, *spec.tags]:
            assert _key(key) == key, (name, key)


def slow_way(topic: str, payload: bytes, now: int) -> tuple[str, Any]:
    """What the pipeline did before the one-pass check: check, then encode."""
    try:
        item = VALIDATOR.check(topic, payload, now)
    except WireError as err:
        return "refused", (type(err).__name__, err.reason, err.detail)
    try:
        return "ok", (item, encode_checked(item, now))
    except Exception as err:  # the pipeline refuses these as "internal"
        return "raised", type(err).__name__


def fast_way(topic: str, payload: bytes, now: int) -> tuple[str, Any]:
    try:
        item, text = VALIDATOR.check_line(topic, payload, now)
    except WireError as err:
        return "refused", (type(err).__name__, err.reason, err.detail)
    try:
        return "ok", (item, text if text is not None else encode_checked(item, now))
    except Exception as err:
        return "raised", type(err).__name__


# Values on and past every edge the schema draws: types, units, vocabularies.
edge_values = (st.none() | st.booleans() | st.integers(-2**64, 2**64)
               | st.sampled_from([2**63 - 1, 2**63, -2**63, 10**15, 10**15 + 1, 10**400, -1,
                                  0, 1e12, 1e12 + 1, 1e6, 1.0, 0.5, -150.0, 40.0, 40.5,
                                  float("inf"), float("-inf"), 1.7976931348623157e308])
               | st.floats() | st.text(max_size=8)
               | st.sampled_from(["ok", "timeout", "teaching", "x" * 256, "x" * 257,
                                  "a\nb", "a\\", "", "snmp", "http", "\ud800"]))


def near(spec: F) -> st.SearchStrategy[Any]:
    """Values a field of ``spec`` takes, mostly valid, with its own edges."""
    if spec.kind is bool:
        return st.booleans()
    if spec.kind is str:
        if spec.values is not None:
            return st.sampled_from(sorted(spec.values))
        return st.text(max_size=spec.max_len + 1)
    low, high = UNIT_RANGES.get(spec.unit, (-2.0**64, 2.0**64))
    ints = st.integers(int(low) - 1, int(high) + 1) | st.sampled_from(
        [2**63 - 1, 2**63, -2**63, -2**63 - 1])
    if spec.kind is int:
        return ints
    return st.floats(low, high) | st.floats(low - 1, high + 1) | ints | st.floats()


tag_texts = st.text(min_size=0, max_size=130) | st.sampled_from(["a\\", "a b,c=d", "x" * 128])


@st.composite
def schema_readings(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[str, Any]]:
    name = draw(st.sampled_from(sorted(SCHEMA)))
    spec = SCHEMA[name]
    fields = {key: draw(near(spec.fields[key]))
              for key in draw(st.lists(st.sampled_from(sorted(spec.fields)), max_size=5))}
    tags = {key: draw(st.sampled_from(sorted(t.values)) if t.values else tag_texts)
            for key, t in spec.tags.items() if draw(st.booleans())}
    if draw(st.integers(0, 3)) == 0:  # one value of any kind, or a key not declared
        into = draw(st.sampled_from([fields, tags]))
        key = draw(st.sampled_from([*fields, *tags, "seq", "unknown", "school", "Bad"]))
        into[key] = draw(edge_values)
    return name, tags, fields


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema_readings(), st.sampled_from([0, 1, -10**12, 10**18, 400 * 10**9]))
@example(("wan_link", {"iface": "eth0"}, {"rx_bps": 10**400}), 0)
@example(("agent", {}, {"spool_depth": -2**63, "version": "1"}), 0)
@example(("agent", {}, {"spool_depth": 2**63, "version": "1"}), 0)
@example(("wan_throughput", {}, {"bytes_used": 10**15 + 1, "stable": 1}), 0)
@example(("wan_link", {"iface": "a b,c=d"}, {"utilisation": 10**400, "oper_up": True}), 0)
@example(("classroom_link", {"classroom": "c1", "port": "g0/1"},
          {"rx_bps": float("nan"), "if_index": True}), 0)
def test_one_pass_check_is_the_check_then_encode(reading: tuple[str, dict[str, Any],
                                                                dict[str, Any]],
                                                 skew: int) -> None:
    name, tags, fields = reading
    now = time.time_ns()
    who = Identity("37", "3701-x", "370102_y", "s1")
    text = json.dumps({"v": 1, "school_id": "s1", "measurement": name, "ts": now + skew,
                       "seq": 4, "tags": tags, "fields": fields})
    payload = text.encode("utf-8", "surrogatepass")
    assert fast_way(who.topic(name), payload, now) == slow_way(who.topic(name), payload, now)


def test_parsed_topics_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("collector.ingest.validate.MAX_TOPICS", 3)
    validator = Validator(MAX, 300 * 10**9, 35 * 86400 * 10**9)
    now = time.time_ns()
    for n in range(10):
        who = Identity("37", "3701", "370102", f"s{n}")
        payload = encode(who, Reading("wan_link", {"rx_bps": 1.0}, {"iface": "e"}, now), 1)
        item, _ = validator.check_line(who.topic("wan_link"), payload, now)
        assert isinstance(item, Envelope) and item.identity == who
        assert len(validator._topics) <= 3
