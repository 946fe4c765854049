"""IPv6 facts the gateway's kernel already knows: addresses, default route, delegated prefix.

Passive and cheap: psutil for addresses and ``/proc/net/ipv6_route`` for routes,
so this part works without any capability and costs no traffic. Both are
arguments (a psutil-like ``ps``, the route file), so tests give recorded
contents without root.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from agent.probes.ipv6.level import Evidence

log = logging.getLogger(__name__)

ROUTE_FILE = Path("/proc/net/ipv6_route")
RTF_UP = 0x0001
RTF_REJECT = 0x0200
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


@dataclass(frozen=True)
class Route6:
    dest: ipaddress.IPv6Network
    gateway: ipaddress.IPv6Address
    metric: int
    flags: int
    dev: str

    @property
    def reject(self) -> bool:
        return bool(self.flags & RTF_REJECT)


def read_routes(route_file: Path = ROUTE_FILE) -> list[Route6]:
    """All IPv6 routes of every table, as the kernel lists them."""
    try:
        lines = route_file.read_text().splitlines()
    except OSError as err:
        log.debug("cannot read %s: %s", route_file, err)
        return []
    routes = []
    for line in lines:
        cols = line.split()
        if len(cols) != 10:
            continue
        dest = ipaddress.IPv6Address(bytes.fromhex(cols[0]))
        gateway = ipaddress.IPv6Address(bytes.fromhex(cols[4]))
        routes.append(Route6(ipaddress.IPv6Network((dest, int(cols[1], 16))), gateway,
                             int(cols[5], 16), int(cols[8], 16), cols[9]))
    return routes


def default_route(routes: list[Route6]) -> Route6 | None:
    """The usable IPv6 default route with the lowest metric.

    The kernel keeps an ``unreachable`` default on ``lo`` in the local table of
    every host; it carries RTF_REJECT and must not count as a route out.
    """
    usable = [r for r in routes if r.dest.prefixlen == 0 and r.flags & RTF_UP
              and not r.reject and r.dev != "lo"]
    return min(usable, key=lambda r: r.metric, default=None)


def delegated_prefixes(routes: list[Route6]) -> list[ipaddress.IPv6Network]:
    """Prefixes a DHCPv6-PD client parked as ``unreachable`` routes.

    OpenWrt's netifd and most PD clients install the whole delegated prefix
    (say a /56 or /60) as an unreachable route so unassigned parts are not
    looped back to the ISP; that route is the visible trace of delegation.
    """
    return sorted({r.dest for r in routes if r.reject and 0 < r.dest.prefixlen < 64
                   and r.dest.subnet_of(GLOBAL_UNICAST)}, key=str)


def global_addresses(iface: str, ps: Any = psutil) -> list[ipaddress.IPv6Interface]:
    """Global unicast (2000::/3) addresses held by ``iface``, with their prefix."""
    found = []
    for addr in ps.net_if_addrs().get(iface, []):
        if addr.family != socket.AF_INET6:
            continue
        ip = ipaddress.IPv6Address(addr.address.split("%")[0])
        if ip not in GLOBAL_UNICAST:
            continue
        plen = 128
        if addr.netmask:  # psutil gives the mask as an address: ffff:ffff:ffff:ffff::
            plen = bin(int(ipaddress.IPv6Address(addr.netmask))).count("1")
        found.append(ipaddress.IPv6Interface((ip, plen)))
    return found


def lan_prefix_delegated(wan: list[ipaddress.IPv6Interface],
                         lan: list[ipaddress.IPv6Interface]) -> bool:
    """True if the LAN holds a global prefix outside every WAN prefix.

    That prefix must have been routed to the gateway (delegated or static);
    a LAN address inside the WAN's own /64 would instead be bridging or NDP proxy.
    """
    return any(not any(addr.ip in w.network for w in wan) for addr in lan)


def wan_evidence(configured: str, routes: list[Route6],
                 addresses: Callable[[str], list[ipaddress.IPv6Interface]],
                 fallback_iface: Callable[[], str | None]
                 ) -> tuple[Evidence, list[ipaddress.IPv6Interface]]:
    """The WAN's fields and checks, and its global addresses (the LAN part needs them).

    The WAN interface is the configured one, else the IPv6 default route's,
    else ``fallback_iface()`` (the IPv4 default route's).
    """
    route = default_route(routes)
    iface = configured or (route.dev if route else None) or fallback_iface()
    addrs = addresses(iface) if iface else []
    found = Evidence()
    fields = found.fields
    fields["wan_interface"] = iface or ""
    fields["wan_global_addrs"] = len(addrs)
    if addrs:
        fields["wan_addr"] = str(addrs[0].ip)
    found.checks["wan_global_addr"] = bool(addrs)
    found.checks["default_route"] = route is not None
    if route is not None:
        fields["default_route_dev"] = route.dev
        fields["default_route_via"] = str(route.gateway)
    delegated = delegated_prefixes(routes)
    if delegated:
        fields["delegated_prefix"] = str(delegated[0])
    fields["prefix_delegation"] = bool(delegated)
    return found, addrs
