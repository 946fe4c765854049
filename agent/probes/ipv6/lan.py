"""Router Advertisements on the school LAN: send a Router Solicitation, capture the answers.

Needs CAP_NET_RAW (a raw ICMPv6 socket to solicit, a packet socket to
capture). Without it, or without scapy, the check is ``unavailable``.

The solicitation goes out through the kernel's ICMPv6 socket with multicast
loopback on, so it reaches routers on the LAN *and* an RA daemon on this very
gateway (radvd, odhcpd); the capture is a packet socket, which sees incoming
RAs and the ones this gateway sends itself. scapy is imported lazily: a
router that never runs this check never loads it.
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.contract.reading import FieldValue

log = logging.getLogger(__name__)

ALL_ROUTERS = "ff02::2"
INFINITE = 0xFFFFFFFF
SO_ATTACH_FILTER = 26
ETH_P_ALL = 0x0003
MAX_LIFETIME = 10**9 - 1  # an infinite (0xffffffff) lifetime is left out, not clamped
SYSFS = Path("/sys")
# Classic BPF for "Ethernet, IPv6, next header ICMPv6 (58), type RA (134)",
# as `tcpdump -dd` would compile it: the kernel drops every other frame, so a
# busy LAN costs no Python time while we listen. Hand-compiled because scapy
# needs tcpdump or libpcap to compile filter text, which routers lack.
RA_FILTER = ((0x28, 0, 0, 12), (0x15, 0, 5, 0x86DD), (0x30, 0, 0, 20), (0x15, 0, 3, 58),
             (0x30, 0, 0, 54), (0x15, 0, 1, 134), (0x06, 0, 0, 0x40000), (0x06, 0, 0, 0))


@dataclass
class Prefix:
    network: ipaddress.IPv6Network
    on_link: bool
    autonomous: bool
    valid_seconds: int
    preferred_seconds: int

    @property
    def usable(self) -> bool:
        """Clients can form a global address from it by SLAAC."""
        return (self.autonomous and self.valid_seconds > 0 and self.network.prefixlen == 64
                and self.network.subnet_of(ipaddress.IPv6Network("2000::/3")))


@dataclass
class RouterAdvert:
    source: str
    router_lifetime_seconds: int
    managed: bool
    other: bool
    prefixes: list[Prefix] = field(default_factory=list)
    rdnss: list[str] = field(default_factory=list)


@dataclass
class RaResult:
    result: str  # ok, no_data (nothing heard), unavailable, error
    adverts: list[RouterAdvert] = field(default_factory=list)
    first_seconds: float | None = None


class _SockInsn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockInsn))]


def _attach_ra_filter(sock: socket.socket, iface: str, sysfs: Path = SYSFS) -> None:
    try:
        link_type = (sysfs / "class" / "net" / iface / "type").read_text().strip()
    except OSError:
        return
    if link_type != "1":
        return  # not Ethernet: offsets differ; the Python-side filter still applies
    insns = (_SockInsn * len(RA_FILTER))(*(_SockInsn(*i) for i in RA_FILTER))
    prog = _SockFprog(len(RA_FILTER), insns)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(prog))


ICMP6_FILTER = 1  # <netinet/icmp6.h>; Python's socket module does not export it


def open_icmp(index: int) -> socket.socket:
    """A raw ICMPv6 socket on the LAN that sends RS and receives only RAs.

    Raises PermissionError without CAP_NET_RAW.
    """
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)  # RFC 4861
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
        blocked = [0xFFFFFFFF] * 8  # a set bit blocks that ICMPv6 type
        blocked[134 >> 5] &= ~(1 << (134 & 31))
        sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *blocked))
    except OSError:
        sock.close()
        raise
    return sock


def solicit(sock: socket.socket, index: int) -> None:
    # Type 133, code 0, checksum (the kernel fills it in), 4 reserved bytes.
    sock.sendto(bytes([133, 0, 0, 0, 0, 0, 0, 0]), (ALL_ROUTERS, 0, 0, index))


def parse_ra(ra: Any, source: str) -> RouterAdvert:
    """Turn a scapy ICMPv6ND_RA layer (with its options) into a RouterAdvert."""
    from scapy.layers.inet6 import ICMPv6NDOptPrefixInfo, ICMPv6NDOptRDNSS

    advert = RouterAdvert(source, int(ra.routerlifetime), bool(ra.M), bool(ra.O))
    layer = ra.payload
    while layer:
        if isinstance(layer, ICMPv6NDOptPrefixInfo):
            network = ipaddress.IPv6Network((layer.prefix, layer.prefixlen), strict=False)
            advert.prefixes.append(Prefix(network, bool(layer.L), bool(layer.A),
                                          int(layer.validlifetime),
                                          int(layer.preferredlifetime)))
        elif isinstance(layer, ICMPv6NDOptRDNSS) and layer.lifetime > 0:
            advert.rdnss.extend(str(a) for a in layer.dns)
        layer = layer.payload
    return advert


def ra_fields(advert: RouterAdvert) -> dict[str, FieldValue]:
    """The ``ipv6`` reading's fields for one router's advertisement."""
    fields: dict[str, FieldValue] = {"ra_m_flag": advert.managed, "ra_o_flag": advert.other,
                                     "ra_router_lifetime_seconds":
                                         advert.router_lifetime_seconds}
    usable = [p for p in advert.prefixes if p.usable] or advert.prefixes
    if usable:
        prefix = usable[0]
        fields["ra_prefix"] = str(prefix.network)
        fields["ra_prefix_autonomous"] = prefix.autonomous
        for key, value in (("ra_prefix_valid_seconds", prefix.valid_seconds),
                           ("ra_prefix_preferred_seconds", prefix.preferred_seconds)):
            if value <= MAX_LIFETIME:
                fields[key] = value
    return fields


def listen(iface: str, wait: float, grace: float = 0.5, sysfs: Path = SYSFS) -> RaResult:
    """Solicit and collect RAs on ``iface`` for up to ``wait`` seconds.

    Two ears: a packet socket (scapy) sees every RA on the wire, the ones this
    gateway multicasts included; the ICMPv6 socket gets the unicast answer a
    local radvd sends to our own solicitation, which never crosses the wire.
    Stops ``grace`` seconds after the first RA: a second router (a rogue one
    included) normally answers within that time too.
    """
    try:
        from scapy.config import conf
        from scapy.layers.inet6 import ICMPv6ND_RA, IPv6
        from scapy.sendrecv import AsyncSniffer
    except ImportError:
        log.debug("scapy is not installed; LAN RA check unavailable")
        return RaResult("unavailable")
    try:
        index = socket.if_nametoindex(iface)
    except OSError:
        log.warning("LAN interface %s not found", iface)
        return RaResult("unavailable")
    try:
        # Opened here, not in the sniffer's thread, so a missing CAP_NET_RAW
        # shows up as PermissionError now instead of a dead thread.
        listener = conf.L2listen(iface=iface, type=ETH_P_ALL)
    except PermissionError:
        log.info("no CAP_NET_RAW: cannot capture RAs on %s", iface)
        return RaResult("unavailable")
    adverts: list[RouterAdvert] = []
    heard: list[float] = []
    start = time.monotonic()

    def keep(ra: Any, source: str) -> None:
        try:
            adverts.append(parse_ra(ra, source))
        except (ValueError, AttributeError, IndexError) as err:
            log.info("malformed RA on %s ignored: %s", iface, err)
            return
        if not heard:
            heard.append(time.monotonic())

    try:
        _attach_ra_filter(listener.ins, iface, sysfs)
        sniffer = AsyncSniffer(opened_socket=listener, store=False,
                               lfilter=lambda p: p.haslayer(ICMPv6ND_RA),
                               prn=lambda p: keep(p[ICMPv6ND_RA], str(p[IPv6].src)))
        sniffer.start()
        try:
            with open_icmp(index) as icmp:
                start = time.monotonic()
                solicit(icmp, index)
                _receive(icmp, start, wait, grace, heard, keep)
        finally:
            if sniffer.running:  # stop() raises if the capture thread already ended
                sniffer.stop(join=True)
    except PermissionError:
        log.info("no CAP_NET_RAW: cannot send a Router Solicitation on %s", iface)
        return RaResult("unavailable")
    except OSError as err:
        log.warning("RA check on %s failed: %s", iface, err)
        return RaResult("error")
    finally:
        listener.close()
    return RaResult("ok" if adverts else "no_data", adverts,
                    heard[0] - start if heard else None)


def _receive(icmp: socket.socket, start: float, wait: float, grace: float,
             heard: list[float], keep: Callable[[Any, str], None]) -> None:
    from scapy.layers.inet6 import ICMPv6ND_RA

    while True:
        end = start + wait
        if heard:
            end = min(end, heard[0] + grace)
        left = end - time.monotonic()
        if left <= 0:
            return
        readable, _, _ = select.select([icmp], [], [], left)
        if readable:
            data, addr = icmp.recvfrom(65535)
            keep(ICMPv6ND_RA(data), str(addr[0]).partition("%")[0])
