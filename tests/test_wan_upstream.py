"""wan_link's upstream SNMP poll against a real snmpd acting as the school's router.

snmpd runs inside the far namespace, so its IF-MIB shows that namespace's real
veth interface and kernel counters while iperf3 pushes a known load through it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from agent import config as agent_config
from agent.contract.configschema import build
from agent.contract.errors import ConfigError
from agent.probes.wan_link.probe import WanLink, WanLinkOptions
from agent.probes.wan_link.upstream import Poll, delta64, rebooted
from tests.netns import veth_link
from tests.services import free_port
from tests.snmp_support import running_snmpd
from tests.speed_support import SPEED_NET, ctx

SNMP_PORT = 16161


def wan_link(upstream: dict[str, Any], state: Path) -> WanLink:
    opts = build(WanLinkOptions, {"interface": "lo", "contracted_mbps": 100.0,
                                  "sample_seconds": 3.0, "sample_every": 0,
                                  "upstream": {"timeout": 1.0, "retries": 0, **upstream}})
    return WanLink(opts, ctx(state))


@pytest.mark.integration
def test_router_counters_match_a_known_load(tmp_path: Path) -> None:
    with veth_link(SPEED_NET) as link, running_snmpd(tmp_path / "snmpd", netns=link.ns,
                                            address=link.peer_addr, port=SNMP_PORT) as snmpd:
        probe = wan_link({"host": link.peer_addr, "port": SNMP_PORT,
                          "interface": link.peer_if}, tmp_path)
        port = free_port()
        server = subprocess.Popen(["iperf3", "-s", "-1", "-B", link.host_addr, "-p", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        # The "router" sends 40 Mbit/s towards the school: its WAN port's out counter.
        client = subprocess.Popen(
            ["ip", "netns", "exec", link.ns, "iperf3", "-c", link.host_addr, "-p", str(port),
             "-u", "-b", "40M", "-t", "14", "-l", "1400"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.5)
            first = probe.collect()[-1]
        finally:
            client.wait(20)
            server.wait(20)
        snmpd.restart()  # a router reboot: sysUpTime starts again
        third = probe.collect()[-1]
    assert first.tags == {"iface": link.peer_if, "source": "snmp"}
    for reading in (first,):
        f = reading.fields
        assert f["result"] == "ok" and f["oper_up"] is True, f
        assert f["link_speed_mbps"] == 10000  # ifHighSpeed of a veth
        # Wire bytes carry UDP/IP/Ethernet headers on top of iperf3's payload rate.
        assert 38e6 < float(f["tx_bps"]) < 46e6, f
        assert float(f["rx_bps"]) < 2e6
        assert 0.38 < float(f["utilisation"]) < 0.46
    assert third.fields["counter_reset"] is True and third.fields["device_rebooted"] is True
    assert "tx_bps" not in third.fields


@pytest.mark.integration
def test_router_down_or_wrong_port_is_a_result(tmp_path: Path) -> None:
    silent = wan_link({"host": "127.0.0.1", "port": free_port(), "interface": "eth0"}, tmp_path)
    assert silent.collect()[-1].fields["result"] == "timeout"
    with running_snmpd(tmp_path / "snmpd") as snmpd:
        wrong = wan_link({"host": "127.0.0.1", "port": snmpd.port, "interface": "nosuch9"},
                         tmp_path)
        assert wrong.collect()[-1].fields["result"] == "unavailable"


def _poll(at: float, ticks: int, rx: int, tx: int = 0) -> Poll:
    return Poll(at, ticks, rx, tx, 1000, True)


def test_wraps_are_not_resets() -> None:
    # Constructed counter values: no real router can be made to wrap on demand.
    # 64-bit: 2 GB in 20 s across the wrap is 800 Mbit/s on a 1000 Mbit port.
    assert delta64(2**64 - 1_000_000_000, 1_000_000_000, 20.0, 1000) == (2_000_000_000, True)
    # The same step in 1 s would be 16 Gbit/s: the counter was cleared, not wrapped.
    assert delta64(2**64 - 1_000_000_000, 1_000_000_000, 1.0, 1000) == (None, False)
    # sysUpTime (32-bit TimeTicks) wraps after 497 days: 60 s across the wrap.
    before, after = _poll(0.0, 2**32 - 3000, 0), _poll(60.0, 3000, 0)
    assert not rebooted(before, after)
    assert rebooted(_poll(0.0, 500_000, 0), _poll(60.0, 1000, 0))  # a real reboot


def test_upstream_config_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[school]\nid = "s1"\nprovince = "37"\ncity = "3701"\ncounty = "370102"\n'
                    '[mqtt]\nhost = "x"\n[probes.wan_link.upstream]\nhost = "10.0.0.1"\n')
    with pytest.raises(ConfigError) as err:
        agent_config.load(path)
    assert "upstream.interface" in str(err.value)
    path.write_text(path.read_text() + 'interface = "Gi0/0/1"\n')
    cfg = agent_config.load(path)
    assert cfg.probes[0].opts.upstream.interface == "Gi0/0/1"
