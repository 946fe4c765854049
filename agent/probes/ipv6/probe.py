"""Probe ``ipv6``: how far the school is on IPv6 (IPv6 规模部署), graded 0-4 with evidence.

Levels (see agent.probes.ipv6.level): 0 none, 1 WAN address, 2 IPv6 internet
reachable, 3 LAN clients get IPv6, 4 the school's services reachable over IPv6.
One ``ipv6`` reading carries the level, every check as its own field and the
lists of failing and unchecked checks; one ``ipv6_target`` reading per target
carries DNS, TCP and HTTP results over IPv6 and IPv4 with the v6/v4 latency
ratio. The LAN check sends one Router Solicitation and, when the RA's M/O
flags call for it, one DHCPv6 request; it needs CAP_NET_RAW and the ``ipv6``
extra (scapy, dnspython); without the capability it reports ``unavailable``.

Config: ``sample.toml`` beside this module.

Each part (WAN, targets, LAN) returns its own :class:`Evidence`; ``collect``
combines them and grades the checks. The kernel is read through ``ps``
(psutil-like) and the ``procfs``/``sysfs`` roots, so tests give recorded
contents without root.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from agent.contract.configschema import between, one_of, opt, optional_file, section
from agent.contract.reading import Reading
from agent.netinfo import default_route_interface
from agent.probes import Probe, ProbeContext
from agent.probes.ipv6.level import Evidence, grade
from agent.probes.ipv6.reach import (
    Target,
    check_target,
    dns_over_v6,
    make_resolver,
    targets_evidence,
)
from agent.probes.ipv6.wan import (
    global_addresses,
    lan_prefix_delegated,
    read_routes,
    wan_evidence,
)

log = logging.getLogger(__name__)

# Used when no target is configured: the national smart-education platform.
DEFAULT_TARGETS = (Target.from_url("national", "https://basic.smartedu.cn/", "platform", False),)
LAN_UNCHECKED: dict[str, bool | None] = {"lan_ra": None, "lan_prefix": None, "lan_dns_v6": None}


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


@section
class TargetSection:
    url: str = opt(check=http_url)
    role: str = opt("platform", one_of("platform", "school_site"))
    http: bool = opt(False)  # also fetch a page (always done for school_site)


@section
class Ipv6Options:
    wan_interface: str = opt("")
    lan_interface: str = opt("")
    resolvers: list[str] = opt([], ip_list)
    ra_wait_seconds: float = opt(3.0, between(0.5, 30))
    dhcpv6_wait_seconds: float = opt(2.0, between(0.5, 30))
    connect_timeout_seconds: float = opt(3.0, between(0.1, 30))
    connect_attempts: int = opt(3, between(1, 10))
    max_degradation: float = opt(0.1, between(0, 100))
    degradation_floor_seconds: float = opt(0.005, between(0, 10))
    ca_file: str = opt("", optional_file)
    targets: dict[str, TargetSection] = opt()


class Ipv6(Probe):
    name = "ipv6"
    default_interval = 1800.0
    default_timeout = 90.0
    Options = Ipv6Options
    opts: Ipv6Options

    def __init__(self, opts: Ipv6Options, ctx: ProbeContext, *, ps: Any = psutil,
                 procfs: Path = Path("/proc"), sysfs: Path = Path("/sys")) -> None:
        super().__init__(opts, ctx)
        self.ps, self.procfs, self.sysfs = ps, procfs, sysfs
        self.targets = [Target.from_url(name[:128], t.url, t.role, t.http)
                        for name, t in opts.targets.items()] or list(DEFAULT_TARGETS)

    def collect(self) -> list[Reading]:
        found, wan_addrs = self._wan()
        targets, readings = self._targets()
        found.add(targets).add(self._lan(wan_addrs))
        fields, checks = found.fields, found.checks
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

    def _wan(self) -> tuple[Evidence, list[ipaddress.IPv6Interface]]:
        return wan_evidence(self.opts.wan_interface,
                            read_routes(self.procfs / "net" / "ipv6_route"),
                            lambda iface: global_addresses(iface, self.ps),
                            lambda: default_route_interface(self.procfs / "net" / "route"))

    def _targets(self) -> tuple[Evidence, list[Reading]]:
        timeout = self.opts.connect_timeout_seconds
        resolver = make_resolver([str(s) for s in self.opts.resolvers], timeout)
        results: dict[Target, dict[str, Any]] = {}
        readings = []
        for target in self.targets:
            results[target] = check_target(target, resolver, self.opts.connect_attempts,
                                           timeout, self.opts.ca_file)
            readings.append(Reading("ipv6_target", results[target],
                                    {"target": target.name, "role": target.role}))
        found = targets_evidence(results, self.opts.max_degradation,
                                 self.opts.degradation_floor_seconds)
        return found, readings

    def _lan(self, wan_addrs: list[ipaddress.IPv6Interface]) -> Evidence:
        iface = self.opts.lan_interface
        found = Evidence({"lan_interface": iface})
        fields, checks = found.fields, found.checks
        if not iface:
            fields["lan_result"] = "unavailable"
            checks.update(LAN_UNCHECKED)
            return found
        lan_addrs = global_addresses(iface, self.ps)
        fields["lan_global_addrs"] = len(lan_addrs)
        if lan_addrs and wan_addrs and lan_prefix_delegated(wan_addrs, lan_addrs):
            fields["prefix_delegation"] = True
        from agent.probes.ipv6 import lan  # scapy stays unloaded until needed

        heard = lan.listen(iface, self.opts.ra_wait_seconds, sysfs=self.sysfs)
        fields["lan_result"] = heard.result
        if heard.result in ("unavailable", "error"):
            checks.update(LAN_UNCHECKED)
            return found
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
            return found
        fields.update(lan.ra_fields(routers[0] if routers else adverts[0]))
        prefixes = [p for a in adverts for p in a.prefixes if p.usable]
        managed = any(a.managed for a in adverts)
        other = any(a.other for a in adverts)
        dns_servers = [s for a in adverts for s in a.rdnss]
        dhcp_addresses = False
        if managed or other:
            from agent.probes.ipv6.dhcp import ask

            answer = ask(iface, managed, self.opts.dhcpv6_wait_seconds, self.procfs, self.sysfs)
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
                                         self.opts.connect_timeout_seconds)
        fields["lan_dns_v6_result"] = dns_result
        if server:
            fields["lan_dns_v6_server"] = server
        checks["lan_dns_v6"] = dns_result == "ok"
        return found
