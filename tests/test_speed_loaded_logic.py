"""Latency under load and several servers per cycle: the pure parts."""

from __future__ import annotations

import itertools

import pytest

from agent.contract.configschema import build
from agent.contract.errors import ConfigErrors
from agent.probes.wan_throughput.loaded import LoadedLatency, grade, node_address
from agent.probes.wan_throughput.probe import WanThroughput, WanThroughputOptions
from tests.speed_support import ctx


@pytest.mark.parametrize(("ms", "expected"), [(0, "A+"), (4.9, "A+"), (5, "A"), (29, "A"),
                                              (30, "B"), (59, "B"), (60, "C"), (199, "C"),
                                              (200, "D"), (399, "D"), (400, "F"), (2000, "F")])
def test_grades_follow_dslreports(ms: float, expected: str) -> None:
    assert grade(ms / 1000) == expected


def test_idle_and_loaded_figures() -> None:
    lat = LoadedLatency({"server": lambda: None, "node": lambda: None})
    lat.idle = {"server": [0.010, 0.012, 0.011], "node": [0.002, None]}
    lat.loaded = {"server": [0.200, 0.210, None, 0.190], "node": [None, None]}
    f = lat.fields()
    assert f["idle_rtt_seconds"] == pytest.approx(0.011)
    assert f["loaded_rtt_seconds"] == pytest.approx(0.200)
    assert f["bufferbloat_seconds"] == pytest.approx(0.189)
    assert f["bufferbloat_grade"] == "C"
    assert f["loaded_rtt_samples"] == 4 and f["loaded_rtt_lost"] == 1
    # The node answered nothing under load: counted, not graded.
    assert f["node_loaded_rtt_lost"] == 2 and "node_bufferbloat_seconds" not in f


def test_sampler_thread_splits_idle_from_loaded() -> None:
    counter = itertools.count()
    lat = LoadedLatency({"server": lambda: next(counter) / 1000}, every=0.01)
    lat.start_idle(0.1)
    lat.mark_loaded()
    import time
    time.sleep(0.1)
    lat.stop()
    assert lat.idle["server"] and lat.loaded["server"]
    assert max(lat.idle["server"]) < min(lat.loaded["server"])  # type: ignore[type-var]


def test_node_addresses() -> None:
    assert node_address("county.example") == ("county.example", 862)
    assert node_address("10.0.0.1:8620") == ("10.0.0.1", 8620)
    assert node_address("[2001:db8::1]:9") == ("2001:db8::1", 9)
    assert node_address("2001:db8::1") == ("2001:db8::1", 862)


def test_several_servers_each_with_its_uplink(tmp_path: object) -> None:
    opts = build(WanThroughputOptions, {
        "server": "http://10.0.0.1:8080/", "uplink": "edu", "servers": {
            "isp": {"method": "iperf3", "server": "192.0.2.9", "source": "203.0.113.10",
                    "uplink": "isp"},
            "city": {"server": "http://10.1.0.1:8080/", "uplink": "edu"}}})
    probe = WanThroughput(opts, ctx(tmp_path))  # type: ignore[arg-type]
    assert [(t.method, t.server, t.source, t.uplink) for t in probe.targets()] == [
        ("http", "http://10.0.0.1:8080/", "", "edu"),
        ("http", "http://10.1.0.1:8080/", "", "edu"),
        ("iperf3", "192.0.2.9", "203.0.113.10", "isp")]


def test_bad_server_tables_name_their_keys() -> None:
    with pytest.raises(ConfigErrors) as err:
        build(WanThroughputOptions, {
            "server": "http://10.0.0.1:8080/", "source": "eth1",
            "servers": {"isp": {"method": "http", "server": "http://speed.isp/",
                                "uplink": "dsl"}}})
    text = str(err.value)
    for key in ("source", "servers.isp.uplink", "must be one of default, edu, isp"):
        assert key in text, text
    with pytest.raises(ConfigErrors) as err:
        build(WanThroughputOptions, {"server": "http://10.0.0.1:8080/", "servers": {
            "isp": {"method": "http", "server": "speed.isp"}}})
    assert "servers.isp.server" in str(err.value) and "http:// URL" in str(err.value)
    with pytest.raises(ConfigErrors) as err:
        build(WanThroughputOptions, {"method": "speedtest", "server": "", "source": "10.0.0.2"})
    assert "works with method" in str(err.value)
