"""The reflector: answer STAMP test packets, never more than asked, never too often.

Hardening, since it answers unauthenticated UDP on the open network:

* no amplification: an answer is exactly as long as the packet it answers
  (44 bytes at least; a packet shorter than a STAMP packet gets no answer),
  and packets longer than ``max_packet`` are dropped rather than echoed;
* per-source rate limit: a token bucket per source address (all ports
  together), so a spoofed victim address gets at most ``rate_pps`` small
  packets a second from us, and one school cannot crowd out the others;
* a global rate limit bounding what the reflector sends in total;
* optional allow-list of networks (the schools' address ranges);
* bounded state: sessions (source address and port, for the stateful
  sequence numbers) and buckets live in LRU tables of fixed size.

Counters of answered and dropped packets are logged every minute.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from agent.contract.stamp import PACKET_LEN, ReflectedPacket, SenderPacket, ntp_now

log = logging.getLogger(__name__)
Address = tuple[str, int]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Limits:
    rate_pps: float = 50.0        # per source address: 4 targets at 10/s fit with room
    burst: float = 100.0
    total_pps: float = 20_000.0   # everything the reflector sends
    max_packet: int = 1500
    max_sources: int = 65_536     # buckets and sessions kept
    session_idle_seconds: float = 120.0
    allow: tuple[Network, ...] = field(default_factory=tuple)  # empty: everyone


class Bucket:
    __slots__ = ("at", "tokens")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens, self.at = tokens, at

    def take(self, rate: float, burst: float, now: float) -> bool:
        self.tokens = min(burst, self.tokens + (now - self.at) * rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class Reflector:
    """Decides each answer; ``handle`` is pure apart from the clock."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.buckets: OrderedDict[str, Bucket] = OrderedDict()
        self.sessions: OrderedDict[Address, tuple[int, float]] = OrderedDict()
        self.total = Bucket(limits.burst * 10, 0.0)
        self.counts: Counter[str] = Counter()

    def _allowed(self, host: str) -> bool:
        if not self.limits.allow:
            return True
        try:
            addr = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.limits.allow)

    def _bucket(self, host: str, now: float) -> Bucket:
        bucket = self.buckets.get(host)
        if bucket is None:
            bucket = self.buckets[host] = Bucket(self.limits.burst, now)
            if len(self.buckets) > self.limits.max_sources:
                self.buckets.popitem(last=False)
        else:
            self.buckets.move_to_end(host)
        return bucket

    def _next_seq(self, addr: Address, now: float) -> int:
        seq, seen = self.sessions.pop(addr, (0, now))
        if now - seen > self.limits.session_idle_seconds:
            seq = 0  # a new session that reuses the port starts counting again
        self.sessions[addr] = (seq + 1, now)
        if len(self.sessions) > self.limits.max_sources:
            self.sessions.popitem(last=False)
        return seq

    def handle(self, data: bytes, addr: Address, now: float, ttl: int = 255) -> bytes | None:
        """The answer to ``data`` from ``addr``, or None (and a counted reason)."""
        limits = self.limits
        if len(data) < PACKET_LEN or len(data) > limits.max_packet:
            self.counts["bad_size"] += 1
            return None
        if not self._allowed(addr[0]):
            self.counts["not_allowed"] += 1
            return None
        if not self._bucket(addr[0], now).take(limits.rate_pps, limits.burst, now):
            self.counts["source_rate"] += 1
            return None
        if not self.total.take(limits.total_pps, limits.burst * 10, now):
            self.counts["total_rate"] += 1
            return None
        received = ntp_now()
        sent = SenderPacket.unpack(data)
        assert sent is not None  # the length was checked above
        answer = ReflectedPacket(self._next_seq(addr, now), ntp_now(), received, sent.seq,
                                 sent.timestamp, ttl).pack()
        self.counts["answered"] += 1
        # Same length as the request (RFC 8762 symmetric size): never amplifies.
        return answer + bytes(len(data) - len(answer))


IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux's value; Python 3.11 lacks the name
_PKTINFO = {(socket.IPPROTO_IP, IP_PKTINFO), (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO)}


def open_socket(listen: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    # Learn each packet's destination address, to answer from it: a centre with
    # several addresses (an edu and an ISP side) would otherwise answer from
    # whichever the route picks, and the prober's connected socket drops that.
    sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # one socket, both families
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    sock.bind((listen, port))
    return sock


def reply_from(ancdata: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """The ancillary data that makes the answer leave from the address asked.

    IPv4 ``in_pktinfo`` is (ifindex, spec_dst, addr): answer with spec_dst set
    to the address the packet was sent to and no interface, so routing still
    picks the way out. IPv6 ``in6_pktinfo`` is (addr, ifindex)."""
    for level, kind, data in ancdata:
        if (level, kind) not in _PKTINFO:
            continue
        if level == socket.IPPROTO_IP and len(data) >= 12:
            return [(level, kind, bytes(4) + data[8:12] + bytes(4))]
        if level == socket.IPPROTO_IPV6 and len(data) >= 20:
            return [(level, kind, data[:16] + bytes(4))]
    return []


def serve(sock: socket.socket, limits: Limits, *, report_seconds: float = 60.0,
          stop: object = None) -> None:
    """Answer until ``stop`` (an object with ``is_set()``) is set, or for ever."""
    reflector = Reflector(limits)
    sock.settimeout(0.25)  # how soon a stop request is seen
    next_report = time.monotonic() + report_seconds
    while stop is None or not stop.is_set():  # type: ignore[attr-defined]
        try:
            data, ancdata, _, addr = sock.recvmsg(65_536, 256)
        except TimeoutError:
            data, ancdata, addr = b"", [], ("", 0)
        except OSError as err:  # e.g. ICMP port unreachable from a gone client
            log.debug("reflector receive failed: %s", err)
            continue
        now = time.monotonic()
        if data:
            answer = reflector.handle(data, (addr[0], addr[1]), now)
            if answer is not None:
                try:
                    sock.sendmsg([answer], reply_from(ancdata), 0, addr)
                except OSError as err:
                    reflector.counts["send_failed"] += 1
                    log.debug("reflector send to %s failed: %s", addr[0], err)
        if now >= next_report:
            next_report = now + report_seconds
            if reflector.counts:
                log.info("reflector: %s", " ".join(
                    f"{k}={v}" for k, v in sorted(reflector.counts.items())))
                reflector.counts.clear()
