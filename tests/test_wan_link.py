"""wan_link on a real veth link carrying a known iperf3 load."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from agent.contract.configschema import build
from agent.contract.wire import Identity
from agent.netinfo import default_route_interface
from agent.probes import ProbeContext
from agent.probes.wan_link.probe import WanLink, WanLinkOptions
from tests.netns import ip, veth_link
from tests.services import free_port

CTX = ProbeContext(Identity("37", "3701", "370102", "s1"), "primary", Path("/tmp"))
RATE_MBPS = 40


def probe(iface: str, contracted: float = 100.0) -> WanLink:
    return WanLink(build(WanLinkOptions, {"interface": iface, "contracted_mbps": contracted,
                                          "sample_seconds": 1.5}), CTX)


@pytest.mark.integration
def test_rate_matches_iperf3_load() -> None:
    with veth_link() as link:
        port = free_port()
        server = subprocess.Popen(["iperf3", "-s", "-1", "-B", link.host_addr, "-p", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        client = subprocess.Popen(
            ["ip", "netns", "exec", link.ns, "iperf3", "-c", link.host_addr, "-p", str(port),
             "-u", "-b", f"{RATE_MBPS}M", "-t", "4", "-l", "1400"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.5)  # past iperf3's start
            reading = probe(link.host_if).collect()[0]
        finally:
            client.wait(20)
            server.wait(20)
    fields = reading.fields
    assert fields["result"] == "ok" and reading.tags == {"iface": link.host_if}
    assert fields["link_speed_mbps"] == 10000  # what the veth driver reports
    assert fields["oper_up"] is True and fields["ipv4_addr"] == link.host_addr
    # Wire bytes carry UDP/IP/Ethernet headers on top of iperf3's payload rate.
    ratio = float(fields["rx_bps"]) / (RATE_MBPS * 1e6)
    assert 0.9 < ratio < 1.15, fields["rx_bps"]
    assert float(fields["tx_bps"]) < 1e6  # only iperf3's reverse control traffic
    assert 0.36 < float(fields["utilisation"]) < 0.46  # of a 100 Mbps contract


@pytest.mark.integration
def test_counter_reset_gives_no_false_rate() -> None:
    with veth_link() as link:
        wan = probe(link.host_if)
        # Traffic first, so the old counters stand well above a fresh interface's.
        subprocess.run(["ping", "-c", "5", "-i", "0.2", "-s", "1400", "-q", link.peer_addr],
                       capture_output=True, check=True)
        first = wan.collect()[0]
        # Recreate the interface: its counters restart from zero.
        ip("link", "del", link.host_if)
        ip("link", "add", link.host_if, "type", "veth", "peer", "name", link.peer_if + "x")
        ip("link", "set", link.host_if, "up")
        second = wan.collect()[0]
    assert "rx_bps" in first.fields
    assert second.fields["counter_reset"] is True
    assert "rx_bps" not in second.fields and "tx_bps" not in second.fields


def test_missing_interface_is_data_not_an_error() -> None:
    reading = probe("nosuchif0").collect()[0]
    assert reading.fields["result"] == "unavailable"


def test_default_route_interface(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "wan1\t00000000\t0102A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n"
        "pppoe-wan\t00000000\t01010A0A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "br-lan\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")
    assert default_route_interface(route) == "pppoe-wan"
    assert default_route_interface(tmp_path / "none") is None
