"""Reachability of named services over IPv6 and IPv4: DNS, TCP connect, HTTP(S).

The same host is measured over both families so the IPv6 path can be compared
with the IPv4 one. China's national IPv6 monitoring platform (国家IPv6发展监测平台)
defines IPv6网络性能劣化比 = (IPv6 performance - IPv4 performance) / IPv4
performance, from RTT, loss and TCP connect success, and stops counting it
when both are better than a threshold (视为趋同, "converged"); here the
performance is the median TCP connect time, reported as ``degradation``.
dnspython is imported lazily so the module loads without it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import statistics
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from agent.probes.ipv6.level import Evidence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    name: str
    role: str  # "platform" or "school_site"
    host: str
    port: int
    path: str
    https: bool
    http: bool  # fetch a page, not only connect

    @classmethod
    def from_url(cls, name: str, url: str, role: str, http: bool) -> Target:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        host = parts.hostname or ""
        return cls(name, role, host, parts.port or (443 if https else 80),
                   (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), https,
                   http or role == "school_site")


def _err_result(err: OSError) -> str:
    if isinstance(err, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, ssl.SSLError):
        return "error"
    return "unreachable"


def make_resolver(servers: list[str], timeout: float) -> Any:
    """A dnspython resolver: the given servers, else the system's resolv.conf (None if none)."""
    import dns.exception
    import dns.resolver

    try:
        resolver = dns.resolver.Resolver(configure=not servers)
    except dns.exception.DNSException as err:
        # No /etc/resolv.conf, or one without servers: every lookup is unavailable.
        log.warning("no usable DNS configuration: %s", err)
        return None
    if servers:
        resolver.nameservers = servers
    resolver.lifetime = timeout
    return resolver


def resolve(resolver: Any, host: str, rdtype: str) -> tuple[str, list[str]]:
    """(result, addresses) for one record type; a missing record is ``no_data``."""
    import dns.exception
    import dns.resolver

    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # a literal address needs no lookup; it counts only for its own family
        family = "AAAA" if ":" in host else "A"
        return ("ok", [host]) if family == rdtype else ("no_data", [])
    if resolver is None:
        return "unavailable", []
    try:
        answer = resolver.resolve(host, rdtype)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return "no_data", []
    except dns.exception.Timeout:
        return "timeout", []
    except dns.resolver.NoNameservers:
        return "error", []  # every server failed (SERVFAIL, REFUSED)
    except dns.exception.DNSException as err:
        log.info("DNS %s %s failed: %s", rdtype, host, err)
        return "error", []
    return "ok", [r.to_text() for r in answer]


def connect_once(addr: str, port: int, timeout: float) -> tuple[str, float | None]:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    start = time.perf_counter()
    try:
        sock.connect((addr, port))
        return "ok", time.perf_counter() - start
    except OSError as err:
        return _err_result(err), None
    finally:
        sock.close()


def http_get(target: Target, addr: str, timeout: float, ca_file: str = ""
             ) -> tuple[str, int | None]:
    """Fetch the target's page from one address; any status below 500 is ``ok``.

    HTTPS is verified against the host name, as a browser would: a site whose
    certificate fails is not usable over IPv6 either (result ``error``).
    """
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    try:
        raw = socket.socket(family, socket.SOCK_STREAM)
        raw.settimeout(timeout)
        raw.connect((addr, target.port))
        sock: socket.socket = raw
        if target.https:
            context = ssl.create_default_context()
            if ca_file:  # in addition to the system's CAs: public platforms still verify
                context.load_verify_locations(ca_file)
            sock = context.wrap_socket(raw, server_hostname=target.host)
        with sock:
            host = target.host if ":" not in target.host else f"[{target.host}]"
            sock.sendall(f"GET {target.path} HTTP/1.1\r\nHost: {host}\r\n"
                         "User-Agent: schoolnet-agent\r\nConnection: close\r\n\r\n".encode())
            head = sock.recv(1024)
    except OSError as err:
        log.info("HTTP to %s via %s failed: %s", target.host, addr, err)
        return _err_result(err), None
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return "error", None
    status = int(parts[1])
    return ("ok" if status < 500 else "error"), status


def _median_connect(addr: str, port: int, attempts: int, timeout: float
                    ) -> tuple[str, float | None]:
    times, result = [], "ok"
    for _ in range(attempts):
        result, seconds = connect_once(addr, port, timeout)
        if seconds is None:
            break  # a refused or unreachable path will not heal within a second
        times.append(seconds)
    return (result, statistics.median(times)) if times else (result, None)


def check_target(target: Target, resolver: Any, attempts: int, timeout: float,
                 ca_file: str = "") -> dict[str, Any]:
    """Every per-target field of the ``ipv6_target`` reading."""
    fields: dict[str, Any] = {}
    aaaa_result, v6_addrs = resolve(resolver, target.host, "AAAA")
    a_result, v4_addrs = resolve(resolver, target.host, "A")
    fields["aaaa_result"], fields["a_result"] = aaaa_result, a_result
    fields["aaaa"], fields["a"] = bool(v6_addrs), bool(v4_addrs)
    tcp6 = tcp4 = "no_data"
    t6 = t4 = None
    if v6_addrs:
        fields["addr_v6"] = v6_addrs[0]
        tcp6, t6 = _median_connect(v6_addrs[0], target.port, attempts, timeout)
    if v4_addrs:
        tcp4, t4 = _median_connect(v4_addrs[0], target.port, attempts, timeout)
    fields["tcp_v6_result"], fields["tcp_v4_result"] = tcp6, tcp4
    fields["tcp_v6"], fields["tcp_v4"] = tcp6 == "ok", tcp4 == "ok"
    if t6 is not None:
        fields["connect_v6_seconds"] = round(t6, 6)
    if t4 is not None:
        fields["connect_v4_seconds"] = round(t4, 6)
    if t6 is not None and t4:
        fields["latency_ratio"] = round(t6 / t4, 4)
        fields["degradation"] = round((t6 - t4) / t4, 4)
    if target.http:
        http6, status = http_get(target, v6_addrs[0], timeout, ca_file) if tcp6 == "ok" \
            else (tcp6, None)
        fields["http_v6_result"], fields["http_v6"] = http6, http6 == "ok"
        if status is not None:
            fields["http_v6_status"] = status
    fields["result"] = _overall(fields, target.http)
    return fields


def _overall(fields: dict[str, Any], http: bool) -> str:
    if fields["aaaa_result"] not in ("ok", "no_data"):
        return str(fields["aaaa_result"])  # DNS itself failed
    if not fields["aaaa"]:
        return "no_data"
    if http:
        return str(fields["http_v6_result"])
    return str(fields["tcp_v6_result"])


def dns_over_v6(servers: list[str], name: str, timeout: float) -> tuple[str, str | None]:
    """Does any of these IPv6 DNS servers answer a AAAA query? (result, server)

    Any rcode counts: a server that says NXDOMAIN still answers over IPv6.
    Link-local servers (fe80::1%br-lan) are supported, which dnspython's
    resolver does not do for us.
    """
    import dns.exception
    import dns.message

    query = dns.message.make_query(name or ".", "AAAA")
    result = "no_data"
    for server in servers:
        addr, _, scope = server.partition("%")
        try:
            index = socket.if_nametoindex(scope) if scope else 0
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
                sock.settimeout(timeout)
                # Connected, so an ICMP port-unreachable comes back as "refused"
                # instead of a silent timeout.
                sock.connect((addr, 53, 0, index))
                sock.send(query.to_wire())
                reply = dns.message.from_wire(sock.recv(4096))
        except OSError as err:
            result = _err_result(err)
            continue
        except dns.exception.DNSException:
            result = "error"
            continue
        if reply.id == query.id:
            return "ok", server
    return result, None


def targets_evidence(results: dict[Target, dict[str, Any]], max_degradation: float,
                     degradation_floor_seconds: float) -> Evidence:
    """The ``ipv6`` reading's target fields and checks from each target's results."""
    found = Evidence()
    fields, checks = found.fields, found.checks
    platforms = [r for t, r in results.items() if t.role == "platform"]
    sites = [r for t, r in results.items() if t.role == "school_site"]
    fields["targets"] = len(results)
    fields["targets_aaaa"] = aaaa = sum(bool(r["aaaa"]) for r in results.values())
    fields["targets_tcp_v6"] = sum(bool(r["tcp_v6"]) for r in results.values())
    fields["dns_aaaa"] = bool(results) and aaaa == len(results)
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
        fields["v6_degraded"] = degradation > max_degradation \
            and extra > degradation_floor_seconds
    # No school site configured: level 4 cannot be proven, which is not a failure.
    checks["school_site_aaaa"] = all(r["aaaa"] for r in sites) if sites else None
    checks["school_site_http_v6"] = all(r.get("http_v6") for r in sites) if sites else None
    return found
