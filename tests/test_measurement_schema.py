"""The measurement schema: consistent with itself, with the probes' vocabularies,
with the line protocol, and with receipts that say what was refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import AgentMqtt
from agent.contract.configschema import build
from agent.contract.measurements import COLLECTOR_MEASUREMENTS, SCHEMA
from agent.contract.reading import RESULTS, Reading
from agent.contract.schema import RESERVED_TAGS, UNIT_RANGES, check_reading
from agent.contract.wire import (
    NAME,
    Identity,
    WireError,
    decode_receipt,
    decode_receipt_full,
    encode_receipt,
)
from agent.probes.wan_throughput.probe import WanThroughputOptions
from agent.probes.wifi.areas import KINDS
from agent.probes.wifi.controllers import VENDORS
from agent.publisher import Publisher
from agent.spool import Spool
from collector.ingest.lineproto import line
from collector.ingest.stats import MAX_SCHOOL_KEYS, OTHER, Stats, safe_text
from tests import schema_guard


def test_names_units_and_bounds_are_consistent() -> None:
    assert not set(SCHEMA) & COLLECTOR_MEASUREMENTS
    for name, spec in SCHEMA.items():
        assert NAME.fullmatch(name) and spec.max_series >= 1 and spec.fields
        assert not set(spec.tags) & RESERVED_TAGS, name
        for key, field in spec.fields.items():
            assert NAME.fullmatch(key), key
            suffix = key.rsplit("_", 1)[-1]
            # A unit in the name is the declared unit, and the reverse.
            if suffix in UNIT_RANGES and key != "utilisation":
                assert field.unit == suffix, f"{name}.{key}"
            if field.unit:
                assert field.unit in key.split("_"), f"{name}.{key}"
        if "result" in spec.fields:
            assert set(RESULTS) <= (spec.fields["result"].values or set())


def test_vocabularies_match_the_probes_options() -> None:
    assert SCHEMA["wifi_controller"].tags["vendor"].values == set(VENDORS)
    assert SCHEMA["wifi_area"].tags["area_kind"].values == set(KINDS)
    method = WanThroughputOptions.__dataclass_fields__["method"]
    assert SCHEMA["wan_throughput"].tags["method"].values == {"http", "iperf3", "speedtest"}
    assert method.default in SCHEMA["wan_throughput"].tags["method"].values


def test_each_reason_is_distinct() -> None:
    def reason(measurement: str, fields: dict[str, object], tags: dict[str, str] | None = None
               ) -> str:
        try:
            check_reading(SCHEMA, COLLECTOR_MEASUREMENTS,
                          Reading(measurement, fields, tags or {}))  # type: ignore[arg-type]
        except WireError as err:
            return err.reason
        return "accepted"

    assert reason("wan_link", {"rx_bps": 1000}) == "accepted"  # JSON's integer in a float field
    assert reason("wan_link", {"rx_bps": "1e9"}) == "field_type"
    assert reason("wan_link", {"rx_bps": True}) == "field_type"
    assert reason("wan_link", {"mtu": 1500.0}) == "field_type"
    assert reason("wan_link", {"rx_errors": 1}) == "unknown_field"
    assert reason("wan_link", {"rx_bps": 1.0}, {"vlan": "1"}) == "unknown_tag"
    assert reason("wan_link", {"rx_bps": 1.0}, {"iface": "a\ud800"}) == "tag_value"
    assert reason("wan_link", {"result": "pass"}) == "bad_value"
    assert reason("compliance", {"status": "pass"}) == "collector_owned"
    assert reason("agent_status", {"online": True}) == "collector_owned"
    assert reason("wan_lnk", {"rx_bps": 1.0}) == "unknown_measurement"
    assert reason("probe_run", {"result": "error"}, {"probe": "wifi"}) == "accepted"
    assert reason("probe_run", {"result": "error"},
                  {"probe": "wifi 请立即登录 http://evil.example/reset"}) == "tag_value"


def test_line_protocol_stores_every_number_as_a_float() -> None:
    # int is checked on the wire but stored as float, as deployed databases hold it
    text = line(Reading("wan_link", {"rx_bps": 1000, "mtu": 1500, "oper_up": True,
                                     "result": "ok"}, {"iface": "eth0"}, 5))
    assert text == 'wan_link,iface=eth0 rx_bps=1000.0,mtu=1500.0,oper_up=true,result="ok" 5'


def test_the_guard_names_a_probe_field_the_schema_lacks() -> None:
    schema_guard.recorder.made.append(("probe.py:collect", Reading("wan_link", {"rx_errs": 1})))
    try:
        problems = schema_guard.recorder.problems()
    finally:
        schema_guard.recorder.made.clear()
    assert len(problems) == 1 and "probe.py:collect" in problems[0] and "rx_errs" in problems[0]


def test_receipts_carry_refusals_and_old_receipts_still_read() -> None:
    body = encode_receipt([1, 2, 3, 7], {"field_type": [4, 5], "ts_past": [6]})
    receipt = decode_receipt_full(body)
    assert receipt.stored == [(1, 3), (7, 7)]
    assert receipt.refused == {"field_type": [(4, 5)], "ts_past": [(6, 6)]}
    assert decode_receipt(body) == [(1, 3), (7, 7)]
    old = b'{"v":1,"ranges":[[1,3]]}'
    assert decode_receipt_full(old).refused == {} and decode_receipt(old) == [(1, 3)]


def test_per_school_counts_are_bounded() -> None:
    stats = Stats()
    for i in range(MAX_SCHOOL_KEYS + 50):
        stats.count(f"s{i}", "unknown_school")
    assert len(stats.by_school) == MAX_SCHOOL_KEYS + 1
    assert stats.by_school[(OTHER, "unknown_school")] == 50
    assert stats.rejected["unknown_school"] == MAX_SCHOOL_KEYS + 50


def test_safe_text_is_always_encodable_on_one_line() -> None:
    for text in ("\ud800", "a\nb", "\x1b[2J", "学校\u2028", "plain"):
        out = safe_text(text)
        out.encode("utf-8")
        assert out.isprintable()
    assert safe_text("学校") == "学校"


def test_the_agent_drops_refused_readings_and_warns_once_per_reason(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = build(AgentMqtt, {"host": "127.0.0.1", "port": 1883, "tls": False,
                            "client_id": "s1", "username": "s1", "password": "x"})
    identity = Identity("37", "3701", "370102", "s1")
    spool = Spool(tmp_path / "spool.sqlite3")
    for _ in range(6):
        spool.mark_sent(spool.append(identity.topic("wan_link"), lambda seq: b"{}"))
    publisher = Publisher(cfg, identity, spool)
    publisher._receipted(decode_receipt_full(encode_receipt([1, 2], {"field_type": [3, 4]})))
    publisher._receipted(decode_receipt_full(encode_receipt([], {"field_type": [5]})))
    assert spool.depth() == 1  # seq 6 had no receipt: it stays for a resend
    assert publisher.confirmed == 2 and publisher.refused == 3
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "field_type" in warnings[0].getMessage()
