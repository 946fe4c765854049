"""classroom_links against real net-snmp snmpd in a network namespace standing in for a switch.

The namespace holds veth "ports" (real kernel interfaces and counters); snmpd's
``override`` lines present the speeds, aliases and counters each case needs,
as a switch's firmware would. Traffic goes only to the namespace's address.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pysnmp.proto import rfc1902

from agent.config import load
from agent.probes import ProbeContext
from tests.snmp_support import (
    V3_AUTH_KEY,
    V3_PRIV_KEY,
    V3_USER,
    School,
    Snmpd,
    by_classroom,
    collect,
    make_probe,
    running_snmpd,
    school_netns,
    snmp_set,
    summary,
)
from tests.support import AGENT_HEAD

# Integration tier: snmpd in network namespaces.
pytestmark = pytest.mark.integration

IF_HIGH_SPEED, IF_SPEED, IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.15", "1.3.6.1.2.1.2.2.1.5", \
    "1.3.6.1.2.1.31.1.1.1.18"
IF_HC_IN, IF_HC_OUT = "1.3.6.1.2.1.31.1.1.1.6", "1.3.6.1.2.1.31.1.1.1.10"
IF_IN, IF_OUT = "1.3.6.1.2.1.2.2.1.10", "1.3.6.1.2.1.2.2.1.16"
NS_CACHE_TIMEOUT_IFTABLE = "1.3.6.1.4.1.8072.1.5.3.1.2.1.3.6.1.2.1.2.2"
# port -> (link up, ifAlias, ifHighSpeed or None to delete it, ifSpeed override or None)
PORTS: dict[str, tuple[bool, str, int | None, int | None]] = {
    "c1": (True, "教室 101", 1000, None),
    "c2": (True, "教室 102", 100, None),
    "c3": (True, "教室 103", 10, 10_000_000),
    "c4": (False, "教室 104", 1000, None),
    "c5": (True, "教室 105", 0, 0),
    "c6": (True, "教室 106", None, 4294967295),
    "c7": (True, "教室 107", 1000, None),
    "c8": (True, "高一(3)班", 100, None),
    "c9": (True, "office", 1000, None),
}


def overrides(school: School) -> str:
    lines = []
    for name, (_up, alias, high, low) in PORTS.items():
        i = school.ifindex[name]
        lines.append(f'override {IF_ALIAS}.{i} octet_str "{alias}"')
        lines.append(f"override -rw {IF_HIGH_SPEED}.{i} uinteger {high}" if high is not None
                     else f"override {IF_HIGH_SPEED}.{i} null")
        if low is not None:
            lines.append(f"override {IF_SPEED}.{i} uinteger {low}")
    # c8 has no 64-bit counters, like half the ports of the recorded Huawei stack,
    # and 32-bit ones the test sets across a wrap.
    c8 = school.ifindex["c8"]
    lines += [f"override {IF_HC_IN}.{c8} null", f"override {IF_HC_OUT}.{c8} null",
              f"override -rw {IF_IN}.{c8} counter 4294966000",
              f"override -rw {IF_OUT}.{c8} counter 1000"]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def school() -> Iterator[School]:
    with school_netns({name: spec[0] for name, spec in PORTS.items()}) as made:
        yield made


@pytest.fixture(scope="module")
def switch(school: School, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    with running_snmpd(Path(tmp_path_factory.mktemp("sw")), overrides(school), netns=school.ns,
                       address=school.switch_addr) as agent:
        no_counter_cache(school, agent)
        yield agent


def no_counter_cache(school: School, agent: Snmpd) -> None:
    """snmpd reloads ifTable at most every 3 s (nsCacheTable); these tests poll a second
    apart, so set that cache's timeout to 0 (nsCacheTimeout) to read live counters."""
    snmp_set(school.switch_addr, agent.port, NS_CACHE_TIMEOUT_IFTABLE, rfc1902.Integer32(0))


def switch_opts(school: School, agent: Snmpd, **kw: Any) -> dict[str, Any]:
    return {"host": school.switch_addr, "port": agent.port, **kw}


def base_config(school: School, agent: Snmpd, **kw: Any) -> dict[str, Any]:
    return {"alias_patterns": ["教室*"], "sample_seconds": 0.3,
            "switches": {"a": switch_opts(school, agent, building="教学楼A")},
            "classrooms": {"高一(3)班": {"switch": "a", "port": "高一(3)班", "floor": 3},
                           "uplink": {"switch": "a", "port": "uplink"}},
            **kw}


def test_classroom_statuses_from_a_real_agent(school: School, switch: Snmpd,
                                              tmp_path: Path) -> None:
    readings = collect(make_probe(base_config(school, switch), tmp_path))
    rooms = by_classroom(readings)
    assert set(rooms) == {f"教室 10{i}" for i in range(1, 8)} | {"高一(3)班", "uplink"}
    status = {name: r.fields["status"] for name, r in rooms.items()}
    assert status == {"教室 101": "ok", "教室 102": "ok", "教室 103": "below",
                      "教室 104": "down", "教室 105": "unknown", "教室 106": "unknown",
                      "教室 107": "ok", "高一(3)班": "ok", "uplink": "ok"}
    assert rooms["教室 101"].fields["link_speed_mbps"] == 1000.0
    assert rooms["教室 101"].tags == {"classroom": "教室 101", "switch": "a", "port": "c1",
                                      "building": "教学楼A"}
    assert rooms["教室 105"].fields["speed_problem"] == "zero"
    assert rooms["教室 105"].fields["result"] == "inconclusive"
    assert "link_speed_mbps" not in rooms["教室 105"].fields
    assert rooms["教室 106"].fields["speed_problem"] == "max_value"
    assert rooms["教室 104"].fields["oper_up"] is False
    assert rooms["高一(3)班"].fields["counter_bits"] == 32
    assert rooms["高一(3)班"].fields["source"] == "map"
    assert rooms["高一(3)班"].fields["floor"] == 3
    total = summary(readings).fields
    assert (total["classrooms"], total["classrooms_meeting"], total["classrooms_below"],
            total["classrooms_down"], total["classrooms_unknown"]) == (9, 5, 1, 1, 2)
    assert total["classrooms_mapped"] == 2 and total["classrooms_discovered"] == 7
    assert total["meeting_share"] == round(5 / 7, 4)


def test_discover_off_counts_unmapped_ports(school: School, switch: Snmpd,
                                            tmp_path: Path) -> None:
    readings = collect(make_probe(base_config(school, switch, discover=False), tmp_path))
    assert set(by_classroom(readings)) == {"高一(3)班", "uplink"}
    assert summary(readings).fields["unmapped_ports"] == 7


def test_v3_authpriv_switch(school: School, switch: Snmpd, tmp_path: Path) -> None:
    v3 = switch_opts(school, switch, version="3", user=V3_USER, auth_key=V3_AUTH_KEY,
                     priv_key=V3_PRIV_KEY)
    readings = collect(make_probe({**base_config(school, switch), "switches": {"a": v3}},
                                  tmp_path))
    assert by_classroom(readings)["教室 101"].fields["status"] == "ok"
    assert summary(readings).fields["result"] == "partial"  # 105/106 are unknown


def blast(school: School, seconds: float, payload: int = 1400) -> int:
    """Send UDP to the switch's uplink for ``seconds``; returns bytes on the wire."""
    sent = 0
    end = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        data = b"x" * payload
        while time.monotonic() < end:
            for _ in range(50):
                sock.sendto(data, (school.switch_addr, 9))
                sent += payload + 42  # UDP + IPv4 + Ethernet headers, as the NIC counts them
            time.sleep(0.002)
    return sent


def test_rates_follow_real_traffic_and_32_bit_wraps(school: School, switch: Snmpd,
                                                    tmp_path: Path) -> None:
    probe = make_probe(base_config(school, switch, sample_seconds=0), tmp_path)
    first = by_classroom(collect(probe))
    assert first["uplink"].fields["rate_problem"] == "first_sample"
    started = time.monotonic()
    sent = blast(school, 1.0)
    c8 = school.ifindex["c8"]
    # The 32-bit counter wraps: 4294966000 -> 5000 is 6296 octets later.
    snmp_set(school.switch_addr, switch.port, f"{IF_IN}.{c8}", rfc1902.Counter32(5000))
    second = by_classroom(collect(probe))
    elapsed = time.monotonic() - started
    rx = second["uplink"].fields["rx_bps"]
    assert isinstance(rx, float)
    expected = sent * 8 / elapsed
    assert 0.6 * expected < rx < 1.3 * expected, (rx, expected)
    wrapped = second["高一(3)班"].fields
    assert "rate_problem" not in wrapped
    assert isinstance(wrapped["rx_bps"], float)
    assert 0.6 * 6296 * 8 / elapsed < wrapped["rx_bps"] < 1.5 * 6296 * 8 / elapsed
    assert wrapped["tx_bps"] == 0.0


def test_agent_restart_gives_no_rate(school: School, switch: Snmpd, tmp_path: Path) -> None:
    probe = make_probe(base_config(school, switch, sample_seconds=0), tmp_path)
    collect(probe)
    blast(school, 0.3)
    switch.restart()  # sysUpTime starts again at 0; the kernel counters do not
    no_counter_cache(school, switch)
    rooms = by_classroom(collect(probe))
    assert rooms["uplink"].fields["rate_problem"] == "agent_restarted"
    assert "rx_bps" not in rooms["uplink"].fields
    assert rooms["uplink"].fields["status"] == "ok"


def test_speed_that_flips_without_a_link_change_is_flagged(school: School, switch: Snmpd,
                                                           tmp_path: Path) -> None:
    c7 = f"{IF_HIGH_SPEED}.{school.ifindex['c7']}"
    probe = make_probe(base_config(school, switch, sample_seconds=0), tmp_path)
    try:
        assert by_classroom(collect(probe))["教室 107"].fields["status"] == "ok"
        snmp_set(school.switch_addr, switch.port, c7, rfc1902.Gauge32(10))
        flipped = by_classroom(collect(probe))["教室 107"].fields
        assert flipped["speed_problem"] == "flapping"
        assert flipped["result"] == "inconclusive" and flipped["status"] == "unknown"
        snmp_set(school.switch_addr, switch.port, c7, rfc1902.Gauge32(1000))
        # Back at 1000 it is still not trusted: a port that flipped once flips again.
        assert by_classroom(collect(probe))["教室 107"].fields["speed_problem"] == "flapping"
    finally:
        snmp_set(school.switch_addr, switch.port, c7, rfc1902.Gauge32(1000))


def test_from_config_file_to_readings(school: School, switch: Snmpd, tmp_path: Path) -> None:
    """The path the agent takes: TOML -> agent.config.load -> probe class -> collect."""
    toml = f"""
{AGENT_HEAD}
[probes.classroom_links]
alias_patterns = ["教室*"]
sample_seconds = 0.2

[probes.classroom_links.switches."教学楼A-1F"]
host = "{school.switch_addr}"
port = {switch.port}
version = "3"
user = "{V3_USER}"
auth_key = "{V3_AUTH_KEY}"
priv_key = "{V3_PRIV_KEY}"
"""
    path = tmp_path / "agent.toml"
    path.write_text(toml, encoding="utf-8")
    cfg = load(path)
    (probe_cfg,) = cfg.probes
    probe = probe_cfg.cls(probe_cfg.opts, ProbeContext(cfg.identity, "primary", tmp_path))
    readings = collect(probe)
    rooms = by_classroom(readings)
    assert rooms["教室 102"].fields["link_speed_mbps"] == 100.0
    assert rooms["教室 102"].tags["switch"] == "教学楼A-1F"
    assert "rx_bps" in rooms["教室 101"].fields  # sampled twice within the first poll
    assert summary(readings).fields["classrooms"] == 7
