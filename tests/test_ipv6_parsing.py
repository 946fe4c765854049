"""Parsers and grading of the ipv6 probe, on packets recorded from real radvd and dnsmasq.

The fixtures (tests/fixtures/ipv6/, see its README) were captured from the
daemons in this test suite's namespaces; nothing here is hand-made except
where a test says so.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from scapy.layers.inet6 import ICMPv6ND_RA, IPv6
from scapy.layers.l2 import Ether

from agent.probes.ipv6 import dhcp as ipv6_dhcp
from agent.probes.ipv6.lan import parse_ra, ra_fields
from agent.probes.ipv6.level import grade
from agent.probes.ipv6.wan import (
    default_route,
    delegated_prefixes,
    lan_prefix_delegated,
    read_routes,
)

FIX = Path(__file__).parent / "fixtures" / "ipv6"


def _hex(name: str) -> bytes:
    return bytes.fromhex((FIX / name).read_text().strip())


def _ra(name: str):  # type: ignore[no-untyped-def]
    frame = Ether(_hex(name))
    return parse_ra(frame[ICMPv6ND_RA], str(frame[IPv6].src))


def test_radvd_ra_with_slaac_prefix_other_flag_and_rdnss() -> None:
    ra = _ra("ra_radvd_slaac_o_rdnss.hex")
    assert (ra.managed, ra.other, ra.router_lifetime_seconds) == (False, True, 1800)
    assert ra.source.startswith("fe80::")
    (prefix,) = ra.prefixes
    assert str(prefix.network) == "2001:db8:100::/64" and prefix.usable
    assert (prefix.valid_seconds, prefix.preferred_seconds) == (86400, 14400)
    assert ra.rdnss == ["2001:db8:100::1"]


def test_radvd_ra_managed_with_infinite_lifetimes_and_no_default_router() -> None:
    ra = _ra("ra_radvd_managed_infinite_lifetime0.hex")
    assert (ra.managed, ra.other, ra.router_lifetime_seconds) == (True, True, 0)
    managed, ula = ra.prefixes
    assert str(managed.network) == "2001:db8:200::/64" and not managed.autonomous
    assert managed.valid_seconds == 0xFFFFFFFF and not managed.usable
    # A ULA prefix gives addresses, but never a route to the IPv6 internet.
    assert str(ula.network) == "fd00:5c::/64" and ula.autonomous and not ula.usable
    assert ra.rdnss == ["2001:db8:100::1", "fd00:5c::53"]
    fields = ra_fields(ra)
    # 0xffffffff (infinity) would break the wire's _seconds range: left out.
    assert fields["ra_prefix"] == "2001:db8:200::/64"
    assert "ra_prefix_valid_seconds" not in fields and fields["ra_m_flag"] is True


def test_dnsmasq_reply_to_information_request() -> None:
    answer = ipv6_dhcp.parse_reply(_hex("dhcpv6_dnsmasq_reply_information.hex"),
                                   bytes.fromhex("5c0002"))
    assert answer is not None and answer.message_type == ipv6_dhcp.REPLY
    assert answer.dns_servers == ["2001:db8:100::1"] and answer.addresses == []


def test_dnsmasq_advertise_to_solicit_offers_an_address() -> None:
    data = _hex("dhcpv6_dnsmasq_advertise_stateful.hex")
    answer = ipv6_dhcp.parse_reply(data, bytes.fromhex("5c0001"))
    assert answer is not None and answer.message_type == ipv6_dhcp.ADVERTISE
    (addr,) = answer.addresses
    assert ipaddress.IPv6Address(addr) in ipaddress.IPv6Network("2001:db8:100::/64")
    assert answer.dns_servers == ["2001:db8:100::1"]
    # Someone else's transaction is not our answer.
    assert ipv6_dhcp.parse_reply(data, bytes.fromhex("000001")) is None


def test_request_carries_client_id_oro_and_ia_na_only_when_stateful() -> None:
    xid = bytes.fromhex("abcdef")
    for stateful, msg_type in ((False, ipv6_dhcp.INFORMATION_REQUEST), (True, ipv6_dhcp.SOLICIT)):
        packet = ipv6_dhcp.build_request(stateful, xid, bytes(6))
        assert packet[0] == msg_type and packet[1:4] == xid
        codes = [code for code, _ in ipv6_dhcp._options(packet[4:])]
        assert codes[:3] == [ipv6_dhcp.OPT_CLIENTID, ipv6_dhcp.OPT_ELAPSED_TIME,
                             ipv6_dhcp.OPT_ORO]
        assert (ipv6_dhcp.OPT_IA_NA in codes) is stateful


def test_routes_of_a_gateway_namespace() -> None:
    routes = read_routes(FIX / "proc_net_ipv6_route_gateway.txt")
    route = default_route(routes)
    assert route is not None
    assert (str(route.gateway), route.dev) == ("2001:db8:1::1", "wan0")
    # The kernel's own "unreachable default" on lo must not count as a route out.
    assert any(r.dest.prefixlen == 0 and r.reject and r.dev == "lo" for r in routes)
    assert [str(p) for p in delegated_prefixes(routes)] == ["2001:db8:100::/56"]
    assert read_routes(FIX / "missing") == []


def test_lan_prefix_outside_the_wan_prefix_means_delegation() -> None:
    wan = [ipaddress.IPv6Interface("2001:db8:1::2/64")]
    assert lan_prefix_delegated(wan, [ipaddress.IPv6Interface("2001:db8:100::1/64")])
    assert not lan_prefix_delegated(wan, [ipaddress.IPv6Interface("2001:db8:1::9/64")])


# grade() on constructed check results (plain booleans, no network involved)
FULL = {"wan_global_addr": True, "default_route": True, "tcp_v6": True, "lan_ra": True,
        "lan_prefix": True, "lan_dns_v6": True, "school_site_aaaa": True,
        "school_site_http_v6": True}


def test_grade_is_cumulative_and_lists_every_failing_check() -> None:
    assert grade(FULL).level == 4 and grade(FULL).failing == ()
    # A school with working LAN v6 but no WAN v6 is still at level 0.
    g = grade({**FULL, "wan_global_addr": False, "school_site_http_v6": False})
    assert (g.level, g.name) == (0, "none")
    assert g.failing == ("wan_global_addr", "school_site_http_v6")
    assert grade({**FULL, "tcp_v6": False}).level == 1


def test_grade_dhcpv6_applies_only_when_present_and_unknown_is_not_failing() -> None:
    assert grade({**FULL, "lan_dhcpv6": False}).level == 2
    g = grade({**FULL, "lan_ra": None, "lan_prefix": None, "lan_dns_v6": None})
    assert (g.level, g.failing, g.unchecked) == (2, (), ("lan_ra", "lan_prefix", "lan_dns_v6"))
    with pytest.raises(ValueError, match="unknown checks"):
        grade({"ipv7": True})


def test_resolver_without_configuration_makes_lookups_unavailable() -> None:
    from agent.probes.ipv6.reach import make_resolver, resolve

    # Literal addresses need no DNS at all; a missing resolver is data, not a crash.
    assert resolve(None, "2001:db8::1", "AAAA") == ("ok", ["2001:db8::1"])
    assert resolve(None, "192.0.2.1", "AAAA") == ("no_data", [])
    assert resolve(None, "www.example.cn", "AAAA") == ("unavailable", [])
    assert make_resolver(["192.0.2.53"], 1.0).nameservers == ["192.0.2.53"]
