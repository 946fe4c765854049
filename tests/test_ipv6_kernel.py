"""The ipv6 probe's WAN and target evidence, and its /proc and /sys readers, from files.

Recorded kernel files (tests/fixtures/ipv6/) and constructed target results:
no root, no namespaces, no packets. test_ipv6_scenarios.py runs the same
probe against real radvd, dnsmasq and servers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.contract.configschema import build
from agent.contract.wire import Identity
from agent.probes import ProbeContext
from agent.probes.ipv6 import dhcp
from agent.probes.ipv6.probe import Ipv6, Ipv6Options
from agent.probes.ipv6.reach import Target, targets_evidence
from tests.kernel_support import RecordedKernel, v4, v6

FIX = Path(__file__).parent / "fixtures" / "ipv6"
CTX = ProbeContext(Identity("37", "3701", "370102", "s1"), "primary", Path("/nonexistent"))


def procfs(tmp_path: Path) -> Path:
    (tmp_path / "net").mkdir()
    shutil.copy(FIX / "proc_net_ipv6_route_gateway.txt", tmp_path / "net" / "ipv6_route")
    return tmp_path


def probe(tmp_path: Path, kernel: RecordedKernel, **opts: object) -> Ipv6:
    return Ipv6(build(Ipv6Options, opts), CTX, ps=kernel, procfs=procfs(tmp_path),
                sysfs=tmp_path / "sys")


def test_wan_evidence_from_the_recorded_gateway(tmp_path: Path) -> None:
    kernel = RecordedKernel(addrs={"wan0": [v6("fe80::2"), v6("2001:db8:1::2"),
                                            v4("192.0.2.2")]})
    found, addrs = probe(tmp_path, kernel)._wan()
    assert [str(a) for a in addrs] == ["2001:db8:1::2/64"]
    assert found.checks == {"wan_global_addr": True, "default_route": True}
    assert found.fields == {"wan_interface": "wan0", "wan_global_addrs": 1,
                            "wan_addr": "2001:db8:1::2", "default_route_dev": "wan0",
                            "default_route_via": "2001:db8:1::1",
                            "delegated_prefix": "2001:db8:100::/56", "prefix_delegation": True}


def test_wan_without_a_global_address_and_no_lan(tmp_path: Path) -> None:
    ipv6 = probe(tmp_path, RecordedKernel(addrs={"ppp0": [v6("fd00::2")]}),
                 wan_interface="ppp0")
    found, addrs = ipv6._wan()
    assert addrs == [] and found.checks["wan_global_addr"] is False
    assert found.fields["wan_interface"] == "ppp0" and "wan_addr" not in found.fields
    lan = ipv6._lan(addrs)  # no lan_interface: the LAN checks are unchecked, not failed
    assert lan.fields == {"lan_interface": "", "lan_result": "unavailable"}
    assert lan.checks == {"lan_ra": None, "lan_prefix": None, "lan_dns_v6": None}


def _result(aaaa: bool, tcp_v6: bool, v6: float | None = None, v4: float | None = None,
            http_v6: bool | None = None) -> dict[str, object]:
    out: dict[str, object] = {"aaaa": aaaa, "tcp_v6": tcp_v6}
    if v6 is not None and v4 is not None:
        out.update(connect_v6_seconds=v6, connect_v4_seconds=v4, degradation=(v6 - v4) / v4)
    if http_v6 is not None:
        out["http_v6"] = http_v6
    return out


def test_target_evidence_platforms_sites_and_degradation() -> None:
    platform = Target.from_url("national", "https://basic.smartedu.cn/", "platform", False)
    other = Target.from_url("cdn", "https://cdn.example.cn/", "platform", False)
    site = Target.from_url("site", "https://www.school.edu.cn/", "school_site", False)
    found = targets_evidence({platform: _result(True, True, 0.030, 0.020),
                              other: _result(False, False),
                              site: _result(True, True, 0.0011, 0.0010, http_v6=False)},
                             max_degradation=0.1, degradation_floor_seconds=0.005)
    assert found.checks == {"tcp_v6": True, "school_site_aaaa": True,
                            "school_site_http_v6": False}
    f = found.fields
    assert (f["targets"], f["targets_aaaa"], f["targets_tcp_v6"], f["dns_aaaa"]) == \
        (3, 2, 2, False)
    # Median of 50% and 10% slower, and of 10 ms and 0.1 ms more: degraded.
    assert f["degradation"] == 0.3 and f["v6_extra_seconds"] == 0.00505
    assert f["v6_degraded"] is True


def test_microsecond_paths_count_as_converged_and_no_site_is_unchecked() -> None:
    local = Target.from_url("local", "http://192.0.2.1/", "platform", False)
    found = targets_evidence({local: _result(True, True, 0.0002, 0.0001)},
                             max_degradation=0.1, degradation_floor_seconds=0.005)
    assert found.fields["degradation"] == 1.0 and found.fields["v6_degraded"] is False
    assert found.checks["school_site_aaaa"] is None
    assert found.checks["school_site_http_v6"] is None


def test_dhcp_reads_link_local_address_and_mac_from_files(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "if_inet6").write_text(
        "20010db8000100000000000000000002 02 40 00 80     lan0\n"
        "fe80000000000000a8bbccfffedd0011 02 40 20 80     lan0\n"
        "fe800000000000000000000000000001 03 40 20 80     wan0\n")
    assert dhcp._link_local("lan0", tmp_path) == "fe80::a8bb:ccff:fedd:11"
    assert dhcp._link_local("eth9", tmp_path) is None
    assert dhcp._link_local("lan0", tmp_path / "none") is None
    mac = tmp_path / "class" / "net" / "lan0"
    mac.mkdir(parents=True)
    (mac / "address").write_text("aa:bb:cc:dd:00:11\n")
    assert dhcp._read_mac("lan0", tmp_path) == bytes.fromhex("aabbccdd0011")
    # No MAC (a tunnel): a random locally administered one.
    assert dhcp._read_mac("tun0", tmp_path)[0] == 0x02
