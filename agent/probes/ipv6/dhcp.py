"""A minimal DHCPv6 client that asks, once, whether a server answers on the LAN.

Sends Information-Request (RA "O" flag: other config only) or Solicit (RA "M"
flag: addresses too) to All_DHCP_Relay_Agents_and_Servers (ff02::1:2) and
reads the first Reply/Advertise. A Solicit is only answered with an Advertise,
so no lease is taken. Multicast loopback stays on so a DHCPv6 server running
on this very gateway (dnsmasq, odhcpd) hears the question too.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SOLICIT, ADVERTISE, INFORMATION_REQUEST, REPLY = 1, 2, 11, 7
OPT_CLIENTID, OPT_SERVERID, OPT_IA_NA, OPT_IAADDR, OPT_ORO = 1, 2, 3, 5, 6
OPT_ELAPSED_TIME, OPT_STATUS_CODE, OPT_DNS_SERVERS = 8, 13, 23
ALL_SERVERS = "ff02::1:2"
CLIENT_PORT, SERVER_PORT = 546, 547
PROCFS, SYSFS = Path("/proc"), Path("/sys")


@dataclass
class DhcpAnswer:
    result: str  # ok, timeout, unavailable, error
    message_type: int = 0
    dns_servers: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    seconds: float | None = None


def _option(code: int, data: bytes) -> bytes:
    return struct.pack("!HH", code, len(data)) + data


def build_request(stateful: bool, xid: bytes, mac: bytes) -> bytes:
    duid = struct.pack("!HH", 3, 1) + mac  # DUID-LL over Ethernet: stable, no clock
    body = (_option(OPT_CLIENTID, duid) + _option(OPT_ELAPSED_TIME, b"\0\0")
            + _option(OPT_ORO, struct.pack("!H", OPT_DNS_SERVERS)))
    if stateful:
        body += _option(OPT_IA_NA, struct.pack("!III", 1, 0, 0))
    return bytes([SOLICIT if stateful else INFORMATION_REQUEST]) + xid + body


def _options(data: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos + 4 <= len(data):
        code, length = struct.unpack_from("!HH", data, pos)
        out.append((code, data[pos + 4:pos + 4 + length]))
        pos += 4 + length
    return out


def parse_reply(data: bytes, xid: bytes) -> DhcpAnswer | None:
    """The answer in a server message, or None if it is not ours."""
    if len(data) < 4 or data[1:4] != xid or data[0] not in (ADVERTISE, REPLY):
        return None
    answer = DhcpAnswer("ok", data[0])
    for code, value in _options(data[4:]):
        if code == OPT_DNS_SERVERS:
            answer.dns_servers += [str(ipaddress.IPv6Address(value[i:i + 16]))
                                   for i in range(0, len(value) - 15, 16)]
        elif code == OPT_IA_NA and len(value) >= 12:
            for sub, sub_value in _options(value[12:]):
                if sub == OPT_IAADDR and len(sub_value) >= 16:
                    answer.addresses.append(str(ipaddress.IPv6Address(sub_value[:16])))
    return answer


def _link_local(iface: str, procfs: Path = PROCFS) -> str | None:
    try:
        lines = (procfs / "net" / "if_inet6").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        cols = line.split()
        if len(cols) >= 6 and cols[5] == iface and cols[0].startswith("fe80"):
            return str(ipaddress.IPv6Address(bytes.fromhex(cols[0])))
    return None


def ask(iface: str, stateful: bool, wait: float, procfs: Path = PROCFS,
        sysfs: Path = SYSFS) -> DhcpAnswer:
    """Ask the LAN's DHCPv6 servers once and wait up to ``wait`` seconds."""
    try:
        index = socket.if_nametoindex(iface)
    except OSError:
        return DhcpAnswer("unavailable")
    source = _link_local(iface, procfs)
    if source is None:
        log.info("no link-local address on %s; DHCPv6 check skipped", iface)
        return DhcpAnswer("unavailable")
    mac_hex = _read_mac(iface, sysfs)
    xid = os.urandom(3)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
        # Servers answer to port 546 whatever our source port, so bind it, on
        # the link-local address only, to stay clear of a WAN DHCPv6 client.
        sock.bind((source, CLIENT_PORT, 0, index))
    except OSError as err:
        log.info("cannot bind DHCPv6 client port on %s: %s", iface, err)
        sock.close()
        return DhcpAnswer("unavailable")
    with sock:
        start = time.monotonic()
        try:
            sock.sendto(build_request(stateful, xid, mac_hex), (ALL_SERVERS, SERVER_PORT, 0, index))
        except OSError as err:
            log.info("DHCPv6 request on %s failed: %s", iface, err)
            return DhcpAnswer("unreachable")
        while (left := start + wait - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                break
            except OSError as err:
                log.info("DHCPv6 receive on %s failed: %s", iface, err)
                return DhcpAnswer("error")
            answer = parse_reply(data, xid)
            if answer is not None:
                answer.seconds = round(time.monotonic() - start, 6)
                return answer
    return DhcpAnswer("timeout")


def _read_mac(iface: str, sysfs: Path = SYSFS) -> bytes:
    try:
        text = (sysfs / "class" / "net" / iface / "address").read_text().strip()
        mac = bytes.fromhex(text.replace(":", ""))
        if len(mac) == 6:
            return mac
    except (OSError, ValueError):
        pass
    return b"\x02" + os.urandom(5)  # locally administered, when the link has no MAC
