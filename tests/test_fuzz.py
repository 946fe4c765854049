"""Fuzzing the parsers that face untrusted input: payloads, topics, receipts, configs.

Whatever comes in, the answer is a value or the package's own error with a
reason; never another exception, never a hang.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import config as agent_config
from agent.contract.errors import ConfigError
from agent.contract.wire import Identity, WireError, decode_receipt, parse_topic
from collector.ingest.validate import Validator
from collector.judge.registry import load as load_registry

VALIDATOR = Validator(64 * 1024, 300 * 10**9, 35 * 86400 * 10**9)
ID = Identity("37", "3701", "370102", "s1")
SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=6),
    max_leaves=20)


def shaped() -> st.SearchStrategy[dict[str, Any]]:
    """Payloads close to valid, so the fuzzer reaches the deep checks."""
    return st.fixed_dictionaries({
        "v": st.sampled_from([1, 1, 2, "1"]),
        "school_id": st.sampled_from(["s1", "s2", ""]),
        "measurement": st.sampled_from(["wan_link", "x"]),
        "ts": st.one_of(st.just(time.time_ns()), st.integers(-10, 2**64)),
        "seq": st.integers(-1, 2**64),
        "tags": st.dictionaries(st.text(max_size=10), json_values, max_size=4),
        "fields": st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    })


def reason_of(topic: str, payload: bytes) -> str | None:
    try:
        VALIDATOR.check(topic, payload, time.time_ns())
    except WireError as err:
        assert re.fullmatch(r"[a-z][a-z0-9_]+", err.reason)
        return err.reason
    return None


@SETTINGS
@given(st.binary(max_size=2048))
def test_decode_arbitrary_bytes(payload: bytes) -> None:
    reason_of(ID.topic("wan_link"), payload)


@SETTINGS
@given(json_values)
def test_decode_arbitrary_json(value: Any) -> None:
    reason_of(ID.topic("wan_link"), json.dumps(value).encode())


@SETTINGS
@given(shaped())
def test_decode_near_valid(body: dict[str, Any]) -> None:
    payload = json.dumps(body, allow_nan=True).encode()
    if reason_of(ID.topic("wan_link"), payload) is None:
        # Accepted: then it really is what the contract allows.
        assert body["v"] == 1 and body["school_id"] == "s1"
        assert body["measurement"] == "wan_link" and 0 <= body["seq"] < 2**63


@SETTINGS
@given(st.text(max_size=120))
def test_topics(topic: str) -> None:
    try:
        identity, measurement = parse_topic(topic)
    except WireError as err:
        assert err.reason == "topic_malformed"
    else:
        assert identity.topic(measurement) == topic


@SETTINGS
@given(st.binary(max_size=512) | json_values.map(lambda v: json.dumps(v).encode()))
def test_receipts(payload: bytes) -> None:
    try:
        ranges = decode_receipt(payload)
    except WireError:
        return
    assert all(a <= b for a, b in ranges)


TOML_PIECES = st.lists(st.sampled_from([
    "[school]\n", "[mqtt]\n", "[agent]\n", "[probes.wan_link]\n", "[probes.nope]\n",
    'id = "s1"\n', 'province = "37"\n', 'city = "3701"\n', 'county = "370102"\n',
    'host = "b"\n', "port = 70000\n", "port = 1883\n", "interval = -1\n", "interval = 5\n",
    'interval = "x"\n', "tls = false\n", "x = 1\n", "[[probes]]\n", "= =\n", 'a."b" = 1\n',
    "[school.sub]\n", "enabled = false\n", "contracted_mbps = 1e400\n",
]), max_size=14)


@settings(max_examples=300, deadline=None)
@given(TOML_PIECES)
def test_config_loader(tmp_path_factory: Any, pieces: list[str]) -> None:
    path = Path(tmp_path_factory.mktemp("cfg")) / "agent.toml"
    path.write_text("".join(pieces), encoding="utf-8")
    try:
        agent_config.load(path)
    except ConfigError as err:
        assert err.file == str(path) and err.message


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=0, max_size=12))
def test_registry_loader(tmp_path_factory: Any, cells: list[str]) -> None:
    path = Path(tmp_path_factory.mktemp("reg")) / "schools.csv"
    header = ("school_id,name,province_code,province_name,city_code,city_name,county_code,"
              "county_name,school_type,classes,contracted_mbps\n")
    path.write_text(header + ",".join(c.replace("\n", " ") for c in cells) + "\n",
                    encoding="utf-8")
    try:
        load_registry(path)
    except ConfigError as err:
        assert err.message
