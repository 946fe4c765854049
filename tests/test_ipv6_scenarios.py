"""The ipv6 probe against real networks: namespaces, radvd, dnsmasq and an HTTP server.

Each scenario builds its own namespaces (tests.ipv6_support.World), runs the
probe inside the school gateway's namespace as a separate process, decodes
its readings with the collector's strict wire decoder and asserts the exact
level and the exact failing checks.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.ipv6_support import DELEGATED, GW_V6, ISP_V6, LAN_PREFIX, LAN_V6, Scenario, World

# Integration tier: network namespaces with radvd and dnsmasq.
pytestmark = pytest.mark.integration


def _fields(readings: dict, key: str = "ipv6") -> dict:
    return readings[key].fields


def test_ipv4_only_school_is_level_0(tmp_path: Path) -> None:
    with World(tmp_path, Scenario(wan_v6=False, radvd="", dhcpv6=False)) as world:
        readings = world.run_probe()
    f = _fields(readings)
    assert f["level"] == 0 and f["level_name"] == "none"
    assert f["failing"] == ("wan_global_addr,default_route,tcp_v6,lan_ra,lan_prefix,"
                            "lan_dns_v6,school_site_http_v6")
    assert f["unchecked"] == "" and f["result"] == "ok"
    assert f["wan_global_addrs"] == 0 and f["default_route"] is False
    assert f["lan_result"] == "no_data" and f["ra_seen"] == 0
    # The platforms publish AAAA, but the school has no IPv6 path to them.
    national = _fields(readings, "national")
    assert national["aaaa"] is True and national["tcp_v6_result"] == "unreachable"
    assert national["tcp_v4"] is True and "connect_v4_seconds" in national
    assert "degradation" not in national and national["result"] == "unreachable"


def test_dual_stack_with_full_lan_v6_is_level_4_and_lan_check_needs_cap_net_raw(
        tmp_path: Path) -> None:
    with World(tmp_path, Scenario()) as world:
        without_raw = world.run_probe(drop_cap="net_raw")
        # radvd multicasts one RA at start, then none for 16 s and at most one
        # per 3 s: past that, only an answer to our own solicitation can be
        # heard (radvd unicasts it to us, so it never crosses lan0).
        time.sleep(max(0.0, world.started + 3.5 - time.monotonic()))
        readings = world.run_probe()
    f = _fields(readings)
    assert (f["level"], f["failing"], f["unchecked"], f["result"]) == (4, "", "", "ok")
    assert f["wan_addr"] == GW_V6 and f["default_route_via"] == ISP_V6
    assert f["prefix_delegation"] is True and f["delegated_prefix"] == DELEGATED
    assert f["lan_ra"] is True and f["ra_routers"] == 1
    assert f["ra_prefix"] == LAN_PREFIX and f["ra_prefix_autonomous"] is True
    assert (f["ra_m_flag"], f["ra_o_flag"]) == (False, True)
    assert f["ra_prefix_valid_seconds"] == 86400 and f["ra_router_lifetime_seconds"] == 1800
    assert f["lan_dhcpv6_result"] == "ok" and f["dhcpv6_dns_servers"] == 1
    assert f["lan_dns_v6_server"] == LAN_V6 and f["ra_rdnss"] == 1
    assert f["targets"] == f["targets_aaaa"] == f["targets_tcp_v6"] == 3
    site = _fields(readings, "school_site")
    assert site["http_v6_status"] == 200 and site["result"] == "ok"
    assert readings["school_site"].tags == {"target": "school_site", "role": "school_site"}
    # On microsecond paths the ratio is noise; the floor keeps it from alarming.
    assert f["v6_degraded"] is False
    # Same network, no CAP_NET_RAW: the LAN part cannot be measured, which is
    # "unchecked", not "failing", and caps the level at what was proven.
    g = _fields(without_raw)
    assert (g["level"], g["failing"], g["result"]) == (2, "", "partial")
    assert g["unchecked"] == "lan_ra,lan_prefix,lan_dns_v6"
    assert g["lan_result"] == "unavailable" and "lan_ra" not in g


def test_wan_address_without_default_route_is_level_1(tmp_path: Path) -> None:
    # The ISP assigned an address but routes nothing: common while a BRAS is half-configured.
    with World(tmp_path, Scenario(v6_route=False, delegated=False)) as world:
        readings = world.run_probe()
    f = _fields(readings)
    assert (f["level"], f["level_name"]) == (1, "wan_address")
    assert f["failing"] == "default_route,tcp_v6,school_site_http_v6"
    assert f["wan_addr"] == GW_V6 and "default_route_via" not in f
    # No unreachable route, but the LAN holds a prefix outside the WAN's: delegated.
    assert f["prefix_delegation"] is True and "delegated_prefix" not in f
    assert _fields(readings, "national")["tcp_v6_result"] == "unreachable"


def test_v6_wan_without_router_advertisements_is_level_2(tmp_path: Path) -> None:
    with World(tmp_path, Scenario(radvd="")) as world:
        readings = world.run_probe()
        site_only = world.run_probe(targets=("school_site",))
    f = _fields(readings)
    assert (f["level"], f["failing"]) == (2, "lan_ra,lan_prefix,lan_dns_v6")
    assert f["lan_result"] == "no_data" and f["tcp_v6"] is True
    # Services are fine; the missing LAN step is what holds the school back.
    assert f["school_site_http_v6"] is True
    # With no platform configured, the school's own site proves the v6 internet.
    g = _fields(site_only)
    assert (g["level"], g["failing"], g["targets"]) == (2, "lan_ra,lan_prefix,lan_dns_v6", 1)
    assert set(site_only) == {"ipv6", "school_site"}


def test_aaaa_published_but_site_not_listening_on_v6_is_level_3(tmp_path: Path) -> None:
    with World(tmp_path, Scenario(site_listens_v6=False)) as world:
        readings = world.run_probe()
    f = _fields(readings)
    assert (f["level"], f["failing"], f["unchecked"]) == (3, "school_site_http_v6", "")
    site = _fields(readings, "school_site")
    assert site["aaaa"] is True and site["tcp_v6_result"] == "refused"
    assert site["http_v6_result"] == "refused" and site["result"] == "refused"
    assert site["tcp_v4"] is True


def test_dns_without_aaaa_for_the_school_site_is_level_3(tmp_path: Path) -> None:
    with World(tmp_path, Scenario(site_aaaa=False)) as world:
        readings = world.run_probe()
    f = _fields(readings)
    assert (f["level"], f["failing"]) == (3, "school_site_aaaa,school_site_http_v6")
    assert f["dns_aaaa"] is False and f["targets_aaaa"] == 2
    site = _fields(readings, "school_site")
    assert (site["aaaa_result"], site["a_result"], site["result"]) == ("no_data", "ok", "no_data")
    assert site["http_v6_result"] == "no_data" and "addr_v6" not in site


def test_managed_flag_with_stateful_dhcpv6_gives_addresses(tmp_path: Path) -> None:
    with World(tmp_path, Scenario(m_flag=True, autonomous=False)) as world:
        readings = world.run_probe()
    f = _fields(readings)
    assert (f["level"], f["failing"]) == (4, "")
    assert f["ra_m_flag"] is True and f["ra_prefix_autonomous"] is False
    assert f["dhcpv6_addresses"] == 1  # the prefix came from DHCPv6, not SLAAC


def test_managed_flag_without_a_dhcpv6_server_is_level_2(tmp_path: Path) -> None:
    with World(tmp_path, Scenario(m_flag=True, autonomous=False, dhcpv6=False)) as world:
        readings = world.run_probe()
    f = _fields(readings)
    assert (f["level"], f["failing"]) == (2, "lan_prefix,lan_dhcpv6,lan_dns_v6")
    assert f["lan_ra"] is True and f["lan_dhcpv6_result"] == "timeout"
    # RDNSS names the gateway, but nothing answers DNS there.
    assert f["lan_dns_v6_result"] == "refused"


def test_ra_from_a_separate_lan_router_is_heard(tmp_path: Path) -> None:
    # The agent box sits beside a vendor router: the RA comes from another host.
    with World(tmp_path, Scenario(radvd="cli", dhcpv6=False, o_flag=False)) as world:
        readings = world.run_probe()
    f = _fields(readings)
    assert f["lan_ra"] is True and f["ra_routers"] == 1 and "lan_dhcpv6" not in f
    assert (f["level"], f["failing"]) == (2, "lan_dns_v6")


def test_ipv6_slower_than_ipv4_is_flagged_without_changing_the_level(tmp_path: Path) -> None:
    with World(tmp_path, Scenario(v6_delay_ms=30)) as world:
        readings = world.run_probe()
    f = _fields(readings)
    assert f["level"] == 4
    assert f["v6_degraded"] is True and f["v6_extra_seconds"] >= 0.025
    national = _fields(readings, "national")
    assert national["connect_v6_seconds"] >= 0.03 > national["connect_v4_seconds"]
    assert national["latency_ratio"] > 10


def test_without_bind_capability_or_lan_interface_the_lan_steps_are_unchecked(
        tmp_path: Path) -> None:
    with World(tmp_path, Scenario()) as world:
        # DHCPv6 clients must bind port 546, which needs CAP_NET_BIND_SERVICE.
        no_bind = _fields(world.run_probe(drop_cap="net_bind_service"))
        no_lan = _fields(world.run_probe(lan_interface=""))
    assert no_bind["lan_ra"] is True and no_bind["lan_dhcpv6_result"] == "unavailable"
    assert (no_bind["level"], no_bind["failing"], no_bind["unchecked"]) == (2, "", "lan_dhcpv6")
    assert no_bind["result"] == "partial"
    assert (no_lan["level"], no_lan["unchecked"], no_lan["lan_result"]) == \
        (2, "lan_ra,lan_prefix,lan_dns_v6", "unavailable")


def test_https_school_site_verified_against_its_ca(tmp_path: Path) -> None:
    with World(tmp_path, Scenario(https=True)) as world:
        trusted = world.run_probe(ca_file=str(world.cert))
        untrusted = world.run_probe()
    f, site = _fields(trusted), _fields(trusted, "school_site")
    assert (f["level"], f["failing"]) == (4, "")
    assert site["http_v6_status"] == 200 and site["tcp_v6"] is True
    # Without the school's CA the certificate fails, as it would in a browser.
    g, bad = _fields(untrusted), _fields(untrusted, "school_site")
    assert (g["level"], g["failing"]) == (3, "school_site_http_v6")
    assert bad["tcp_v6"] is True and bad["http_v6_result"] == "error"
