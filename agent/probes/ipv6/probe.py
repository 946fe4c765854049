"""Probe ``ipv6``: how far the school is on IPv6 (IPv6 规模部署), graded 0-4 with evidence.

Levels (see agent.probes.ipv6_level): 0 none, 1 WAN address, 2 IPv6 internet
reachable, 3 LAN clients get IPv6, 4 the school's services reachable over IPv6.
One ``ipv6`` reading carries the level, every check as its own field and the
lists of failing and unchecked checks; one ``ipv6_target`` reading per target
carries DNS, TCP and HTTP results over IPv6 and IPv4 with the v6/v4 latency
ratio. The LAN check sends one Router Solicitation and, when the RA's M/O
flags call for it, one DHCPv6 request; it needs CAP_NET_RAW and the ``ipv6``
extra (scapy, dnspython); without the capability it reports ``unavailable``.

Sample config::

    [probes.ipv6]
    interval = 1800              # seconds between readings; IPv6 changes slowly
    wan_interface = ""           # empty: the interface of the IPv6 (else IPv4) default route
    lan_interface = "br-lan"     # where school clients are; empty: LAN check not run
    resolvers = []               # DNS servers for target lookups; empty: /etc/resolv.conf
    ra_wait_seconds = 3.0        # how long to listen for Router Advertisements
    dhcpv6_wait_seconds = 2.0    # how long to wait for a DHCPv6 answer
    connect_timeout_seconds = 3.0
    connect_attempts = 3         # TCP connects per family; the median is reported
    max_degradation = 0.1        # v6 slower than v4 by more than this share: v6_degraded ...
    degradation_floor_seconds = 0.005  # ... and by more than this many seconds
    ca_file = ""                 # extra CA bundle for HTTPS targets; empty: the system's CAs

    [probes.ipv6.targets.national]      # 国家中小学智慧教育平台
    url = "https://basic.smartedu.cn/"
    role = "platform"            # platform: counts for level 2
    [probes.ipv6.targets.provincial]
    url = "https://www.sdedu.net/"      # your province's platform
    role = "platform"
    [probes.ipv6.targets.school_site]
    url = "https://www.example-school.edu.cn/"
    role = "school_site"         # school_site: AAAA + HTTP over IPv6 count for level 4
"""

from __future__ import annotations

import ipaddress
import logging
import statistics
from typing import Any, ClassVar
from urllib.parse import urlsplit

from agent.contract.configschema import Opt, Table, between, one_of, optional_file
from agent.contract.reading import FieldValue, Reading
from agent.netinfo import default_route_interface
from agent.probes import Probe, ProbeContext
from agent.probes.ipv6_level import grade
from agent.probes.ipv6_reach import Target, check_target, dns_over_v6, make_resolver
from agent.probes.ipv6_wan import (
    default_route,
    delegated_prefixes,
    global_addresses,
    lan_prefix_delegated,
    read_routes,
)

log = logging.getLogger(__name__)

# Used when no target is configured: the national smart-education platform.
DEFAULT_TARGETS: dict[str, dict[str, Any]] = {
    "national": {"url": "https://basic.smartedu.cn/", "role": "platform", "http": False},
}
MAX_LIFETIME = 10**9 - 1  # an infinite (0xffffffff) lifetime is left out, not clamped


def http_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    return None


def ip_list(value: list[Any]) -> str | None:
    for item in value:
        try:
            ipaddress.ip_address(str(item).partition("%")[0])
        except ValueError:
            return "must be a list of IP addresses"
    return None


TARGET = Table({
    "url": Opt(str, check=http_url),
    "role": Opt(str, "platform", one_of("platform", "school_site")),
    "http": Opt(bool, False),  # also fetch a page (always done for school_site)
})


class Ipv6(Probe):
    name = "ipv6"
    default_interval = 1800.0
    default_timeout = 90.0
    options: ClassVar[dict[str, Any]] = {
        "wan_interface": Opt(str, ""),
        "lan_interface": Opt(str, ""),
        "resolvers": Opt(list, [], ip_list),
        "ra_wait_seconds": Opt(float, 3.0, between(0.5, 30)),
        "dhcpv6_wait_seconds": Opt(float, 2.0, between(0.5, 30)),
        "connect_timeout_seconds": Opt(float, 3.0, between(0.1, 30)),
        "connect_attempts": Opt(int, 3, between(1, 10)),
        "max_degradation": Opt(float, 0.1, between(0, 100)),
        "degradation_floor_seconds": Opt(float, 0.005, between(0, 10)),
        "ca_file": Opt(str, "", optional_file),
        "targets": Table(item=TARGET),
    }

    def __init__(self, opts: dict[str, Any], ctx: ProbeContext) -> None:
        super().__init__(opts, ctx)
        raw = opts.get("targets") or DEFAULT_TARGETS
        self.targets = [Target.from_url(name[:128], t["url"], t["role"], t["http"])
                        for name, t in raw.items()]

    def collect(self) -> list[Reading]:
        fields: dict[str, FieldValue] = {}
        checks: dict[str, bool | None] = {}
        wan_addrs = self._wan(fields, checks)
        readings = self._targets(fields, checks)
        self._lan(fields, checks, wan_addrs)
        result = grade(checks)
        fields["level"] = result.level
        fields["level_name"] = result.name
        fields["failing"] = ",".join(result.failing)
        fields["unchecked"] = ",".join(result.unchecked)
        for check, state in checks.items():
            if state is not None:
                fields[check] = state
        fields["result"] = "partial" if result.unchecked else "ok"
        log.debug("ipv6 level %d, failing %s", result.level, fields["failing"])
        return [Reading(self.name, fields), *readings]

    def _wan(self, fields: dict[str, FieldValue], checks: dict[str, bool | None]
             ) -> list[ipaddress.IPv6Interface]:
        routes = read_routes()
        route = default_route(routes)
        iface = self.opts["wan_interface"] or (route.dev if route else None) \
            or default_route_interface()
        addrs = global_addresses(iface) if iface else []
        fields["wan_interface"] = iface or ""
        fields["wan_global_addrs"] = len(addrs)
        if addrs:
            fields["wan_addr"] = str(addrs[0].ip)
        checks["wan_global_addr"] = bool(addrs)
        checks["default_route"] = route is not None
        if route is not None:
            fields["default_route_dev"] = route.dev
            fields["default_route_via"] = str(route.gateway)
        delegated = delegated_prefixes(routes)
        if delegated:
            fields["delegated_prefix"] = str(delegated[0])
        fields["prefix_delegation"] = bool(delegated)
        return addrs

    def _targets(self, fields: dict[str, FieldValue], checks: dict[str, bool | None]
                 ) -> list[Reading]:
        readings = []
        timeout = self.opts["connect_timeout_seconds"]
        resolver = make_resolver([str(s) for s in self.opts["resolvers"]], timeout)
        results: dict[Target, dict[str, Any]] = {}
        for target in self.targets:
            results[target] = check_target(target, resolver, self.opts["connect_attempts"],
                                           timeout, self.opts["ca_file"])
            readings.append(Reading("ipv6_target", results[target],
                                    {"target": target.name, "role": target.role}))
        platforms = [r for t, r in results.items() if t.role == "platform"]
        sites = [r for t, r in results.items() if t.role == "school_site"]
        fields["targets"] = len(results)
        fields["targets_aaaa"] = sum(bool(r["aaaa"]) for r in results.values())
        fields["targets_tcp_v6"] = sum(bool(r["tcp_v6"]) for r in results.values())
        fields["dns_aaaa"] = bool(results) and fields["targets_aaaa"] == len(results)
        # Without a platform target configured, any target proves the v6 internet.
        checks["tcp_v6"] = any(r["tcp_v6"] for r in platforms or results.values())
        timed = [r for r in results.values() if "degradation" in r]
        if timed:
            degradation = statistics.median(r["degradation"] for r in timed)
            extra = statistics.median(r["connect_v6_seconds"] - r["connect_v4_seconds"]
                                      for r in timed)
            fields["degradation"] = round(degradation, 4)
            fields["v6_extra_seconds"] = round(max(extra, 0.0), 6)
            # As the national monitoring does, below a threshold the two paths
            # count as converged (趋同): microsecond paths make the ratio pure
            # noise, so v6 is degraded only if it is also slower by a real amount.
            fields["v6_degraded"] = degradation > self.opts["max_degradation"] \
                and extra > self.opts["degradation_floor_seconds"]
        # No school site configured: level 4 cannot be proven, which is not a failure.
        checks["school_site_aaaa"] = all(r["aaaa"] for r in sites) if sites else None
        checks["school_site_http_v6"] = all(r.get("http_v6") for r in sites) if sites else None
        return readings

    def _lan(self, fields: dict[str, FieldValue], checks: dict[str, bool | None],
             wan_addrs: list[ipaddress.IPv6Interface]) -> None:
        iface = self.opts["lan_interface"]
        fields["lan_interface"] = iface
        if not iface:
            fields["lan_result"] = "unavailable"
            checks.update(lan_ra=None, lan_prefix=None, lan_dns_v6=None)
            return
        lan_addrs = global_addresses(iface)
        fields["lan_global_addrs"] = len(lan_addrs)
        if lan_addrs and wan_addrs and lan_prefix_delegated(wan_addrs, lan_addrs):
            fields["prefix_delegation"] = True
        from agent.probes import ipv6_lan  # scapy stays unloaded until needed

        heard = ipv6_lan.listen(iface, self.opts["ra_wait_seconds"])
        fields["lan_result"] = heard.result
        if heard.result in ("unavailable", "error"):
            checks.update(lan_ra=None, lan_prefix=None, lan_dns_v6=None)
            return
        # The latest RA per router; routers with lifetime 0 are not default routers.
        adverts = list({a.source: a for a in heard.adverts}.values())
        routers = [a for a in adverts if a.router_lifetime_seconds > 0]
        fields["ra_routers"] = len(routers)
        fields["ra_seen"] = len(adverts)
        checks["lan_ra"] = bool(routers)
        if heard.first_seconds is not None:
            fields["ra_seconds"] = round(heard.first_seconds, 4)
        if not adverts:
            checks.update(lan_prefix=False, lan_dns_v6=False)
            return
        self._ra_fields(fields, routers[0] if routers else adverts[0])
        prefixes = [p for a in adverts for p in a.prefixes if p.usable]
        managed = any(a.managed for a in adverts)
        other = any(a.other for a in adverts)
        dns_servers = [s for a in adverts for s in a.rdnss]
        dhcp_addresses = False
        if managed or other:
            from agent.probes.ipv6_dhcp import ask

            answer = ask(iface, managed, self.opts["dhcpv6_wait_seconds"])
            fields["lan_dhcpv6_result"] = answer.result
            checks["lan_dhcpv6"] = None if answer.result == "unavailable" \
                else answer.result == "ok"
            fields["dhcpv6_dns_servers"] = len(answer.dns_servers)
            dhcp_addresses = bool(answer.addresses)
            if managed:
                fields["dhcpv6_addresses"] = len(answer.addresses)
            dns_servers += answer.dns_servers
        checks["lan_prefix"] = bool(prefixes) or dhcp_addresses
        fields["ra_rdnss"] = len({s for a in adverts for s in a.rdnss})
        name = self.targets[0].host if self.targets else "."
        dns_result, server = dns_over_v6(list(dict.fromkeys(dns_servers)), name,
                                         self.opts["connect_timeout_seconds"])
        fields["lan_dns_v6_result"] = dns_result
        if server:
            fields["lan_dns_v6_server"] = server
        checks["lan_dns_v6"] = dns_result == "ok"

    @staticmethod
    def _ra_fields(fields: dict[str, FieldValue], advert: Any) -> None:
        fields["ra_m_flag"] = advert.managed
        fields["ra_o_flag"] = advert.other
        fields["ra_router_lifetime_seconds"] = advert.router_lifetime_seconds
        usable = [p for p in advert.prefixes if p.usable] or advert.prefixes
        if usable:
            prefix = usable[0]
            fields["ra_prefix"] = str(prefix.network)
            fields["ra_prefix_autonomous"] = prefix.autonomous
            for key, value in (("ra_prefix_valid_seconds", prefix.valid_seconds),
                               ("ra_prefix_preferred_seconds", prefix.preferred_seconds)):
                if value <= MAX_LIFETIME:
                    fields[key] = value
