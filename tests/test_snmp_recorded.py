"""classroom_links against recorded walks of real switches, served by snmpsim.

Huawei S5720 stack, H3C/HP Comware, Ruijie S6220 (see fixtures/snmp/README.md).
Expected values are read from the recordings themselves, so each assertion
checks the probe against what the real switch said.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.snmp_support import FIXTURES, by_classroom, collect, make_probe, running_snmpsim, summary

# Integration tier: snmpsim serving recorded walks.
pytestmark = pytest.mark.integration

RECORDINGS = ("vrp_nac", "comware", "ruijie", "comware_a5500")
HUAWEI_PATTERN = "Cust: ACME-building-1er*"


def recording(name: str) -> dict[str, dict[int, str]]:
    """column OID -> {ifIndex: value} for the IF-MIB rows of one .snmprec file."""
    cols: dict[str, dict[int, str]] = {}
    for line in (FIXTURES / f"{name}.snmprec").read_text("utf-8", errors="replace").splitlines():
        oid, _tag, value = [*line.split("|", 2), "", ""][:3]
        m = re.fullmatch(r"(1\.3\.6\.1\.2\.1\.(?:2\.2\.1|31\.1\.1\.1)\.\d+)\.(\d+)", oid)
        if m:
            cols.setdefault(m.group(1), {})[int(m.group(2))] = value
    return cols


HIGH_SPEED, OPER, ALIAS = "1.3.6.1.2.1.31.1.1.1.15", "1.3.6.1.2.1.2.2.1.8", \
    "1.3.6.1.2.1.31.1.1.1.18"
HC_IN, IN32 = "1.3.6.1.2.1.31.1.1.1.6", "1.3.6.1.2.1.2.2.1.10"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    files = {name: FIXTURES / f"{name}.snmprec" for name in RECORDINGS}
    with running_snmpsim(Path(tmp_path_factory.mktemp("snmpsim")), files) as port:
        yield port


def switch(port: int, community: str, **kw: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "community": community, "timeout": 5.0,
            **kw}


def test_huawei_stack_with_half_its_64_bit_counters_missing(sim: int, tmp_path: Path) -> None:
    rec = recording("vrp_nac")
    probe = make_probe({"switches": {"huawei": switch(sim, "vrp_nac")},
                        "alias_patterns": [HUAWEI_PATTERN], "sample_seconds": 0.2}, tmp_path)
    readings = collect(probe)
    links = [r for r in readings if r.measurement == "classroom_link"]
    wanted = {i for i, alias in rec[ALIAS].items() if alias.startswith(HUAWEI_PATTERN[:-1])}
    assert {r.fields["if_index"] for r in links} == wanted
    seen_bits = set()
    for r in links:
        i = r.fields["if_index"]
        up, speed = rec[OPER][i] == "1", int(rec[HIGH_SPEED][i])
        assert r.fields["oper_up"] is up
        bits = 64 if i in rec[HC_IN] else 32 if i in rec[IN32] else 0
        assert r.fields["counter_bits"] == bits
        seen_bits.add(bits)
        if not up:
            assert r.fields["status"] == "down"
        elif speed == 0:
            assert r.fields["status"] == "unknown" and r.fields["speed_problem"] == "zero"
        else:
            assert r.fields["link_speed_mbps"] == float(speed)
            assert r.fields["status"] == ("ok" if speed >= 100 else "below")
        if bits:
            # A recording's counters never move: an honest rate is exactly zero.
            assert r.fields.get("rx_bps") == 0.0, r.fields
        else:
            assert r.fields["rate_problem"] == "no_counters" and "rx_bps" not in r.fields
    assert 0 in seen_bits and 64 in seen_bits  # the gap is really exercised
    sw = next(r for r in readings if r.measurement == "classroom_switch").fields
    assert sw["result"] == "ok" and sw["ports"] == len(rec[OPER])
    only32 = set(rec[IN32]) - set(rec[HC_IN])
    assert sw["ports_32bit_counters"] == len(only32)
    total = summary(readings).fields
    assert total["classrooms"] == len({rec[ALIAS][i].strip() for i in wanted})
    assert total["classrooms_below"] >= 1 and total["classrooms_meeting"] >= 1


def test_speed_mix_of_the_whole_huawei_stack(sim: int, tmp_path: Path) -> None:
    """Every port mapped by ifIndex: 10M, 100M, 1G and 10G ports judged as recorded."""
    rec = recording("vrp_nac")
    ports = [i for i, t in recording("vrp_nac")["1.3.6.1.2.1.2.2.1.3"].items() if t == "6"]
    rooms = {f"port {i}": {"switch": "huawei", "port": i} for i in ports}
    readings = collect(make_probe({"switches": {"huawei": switch(sim, "vrp_nac")},
                                   "classrooms": rooms, "sample_seconds": 0}, tmp_path))
    got = by_classroom(readings)
    by_speed: dict[int, set[object]] = {}
    for i in ports:
        if rec[OPER][i] == "1":
            status = got[f"port {i}"].fields["status"]
            by_speed.setdefault(int(rec[HIGH_SPEED][i]), set()).add(status)
    assert by_speed[10] == {"below"}
    assert by_speed[100] == {"ok"}
    assert by_speed[1000] == {"ok"}


def test_comware_zero_speed_and_ambiguous_alias(sim: int, tmp_path: Path) -> None:
    rooms = {"null0": {"switch": "h3c", "port": "NULL0"},  # recorded up, ifHighSpeed 0
             "uplink": {"switch": "h3c", "port": "to MS-5406-A23"},  # by ifAlias
             "shared": {"switch": "h3c", "port": "Wireless Switch"},  # alias on two ports
             "by_index": {"switch": "h3c", "port": 118}}
    readings = collect(make_probe({"switches": {"h3c": switch(sim, "comware")},
                                   "classrooms": rooms, "sample_seconds": 0}, tmp_path))
    got = by_classroom(readings)
    assert got["null0"].fields["result"] == "inconclusive"
    assert got["null0"].fields["speed_problem"] == "zero"
    assert got["uplink"].fields["if_index"] == 13
    assert got["shared"].fields["port_problem"] == "port_ambiguous"
    assert got["shared"].fields["result"] == "unavailable"
    assert got["by_index"].tags["port"] == "GigabitEthernet1/0/3"


def test_ruijie_large_ifindex_and_a5500(sim: int, tmp_path: Path) -> None:
    rooms = {"lo": {"switch": "ruijie", "port": 16385},
             "te1": {"switch": "ruijie", "port": "Te0/1"},
             "a5500": {"switch": "a5500", "port": "GigabitEthernet1/0/9"}}
    readings = collect(make_probe({"switches": {"ruijie": switch(sim, "ruijie"),
                                                "a5500": switch(sim, "comware_a5500")},
                                   "classrooms": rooms, "sample_seconds": 0}, tmp_path))
    got = by_classroom(readings)
    rec = recording("ruijie")
    assert got["lo"].tags["port"] == "Lo0"
    assert got["te1"].fields.get("link_speed_mbps") == (
        float(rec[HIGH_SPEED][1]) if rec[OPER][1] == "1" else None)
    a5500 = recording("comware_a5500")
    i = next(k for k, v in a5500["1.3.6.1.2.1.31.1.1.1.1"].items() if v == "GigabitEthernet1/0/9")
    assert got["a5500"].fields["if_index"] == i
    assert got["a5500"].fields["oper_up"] is (a5500[OPER][i] == "1")
    assert summary(readings).fields["switches_failed"] == 0
