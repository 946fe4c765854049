"""One STAMP session: isochronous test packets to one reflector, and what came back.

Packets leave at fixed instants (start + i / rate, never drifting with the
event loop's delays) from a socket of their own, optionally bound to a source
address so the test takes one chosen uplink. A reply later than
``reply_timeout`` counts as lost: for a live lesson a packet that late is as
good as gone. Network failures are returned as data, never raised.

Hand-written because neither maintained candidate serves on a school gateway
(``tests/bench/bench_path_methods.py``, all at the same time, 10 packets/s to
4 targets for 30 s, five runs; extra over a Python process holding the
agent's modules and sleeping):

* this prober: 0.7-1.0% of one core and +0.2-0.3 MiB RSS, inside the agent;
  no extra binary, no privilege;
* ``irtt client``: 1.0-1.3% of one core, but one process per target and
  58.6-59.4 MiB RSS for four (a Go runtime each; the goal is < 8 MB), plus a
  2.6 MiB binary to ship to every gateway (OpenWrt routers included);
* icmplib: 1.5-2.5% of one core (four runs), no direction split, and a raw
  socket (root or CAP_NET_RAW, or ``net.ipv4.ping_group_range`` set); its
  ``multiping`` is stop-and-wait (6.4-7.7 packets/s instead of 10 at 25 ms
  RTT, a lost packet stalls the target for the timeout), so isochronous
  sending would need a scheduler of our own anyway; it pairs replies by
  ICMP id and sequence only, so each target needs an id of its own.

What irtt does better: on sub-millisecond paths it reads 0.13-0.21 ms where
this prober reads 0.3-0.8 ms (p95 1-4 ms on the loaded machine), the Python
event loop's wake-up delay. Against the tens of milliseconds the verdicts
judge that does not matter; on a 25 ms path the three agree.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from dataclasses import dataclass, field

from agent.contract.stamp import ReflectedPacket, SenderPacket, ntp_now

UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN}


@dataclass
class Session:
    """What one session sent and got back, indexed by sequence number."""

    sent_ns: list[int] = field(default_factory=list)       # wall clock, per packet
    sent_mono: list[float] = field(default_factory=list)
    rtt: dict[int, float] = field(default_factory=dict)    # seq -> seconds
    reflector_seqs: set[int] = field(default_factory=set)
    duplicates: int = 0
    late: int = 0
    send_errors: int = 0
    error: str = ""
    result: str = "ok"
    started_ns: int = 0
    ended_ns: int = 0


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, session: Session, reply_timeout: float) -> None:
        self.session, self.reply_timeout = session, reply_timeout

    def datagram_received(self, data: bytes, addr: object) -> None:
        now = time.monotonic()
        s = self.session
        packet = ReflectedPacket.unpack(data)
        if packet is None or packet.sender_seq >= len(s.sent_mono):
            return  # not an answer to us
        seq = packet.sender_seq
        if seq in s.rtt:
            s.duplicates += 1
            return
        rtt = max(0.0, now - s.sent_mono[seq] - packet.turnaround_seconds)
        if rtt > self.reply_timeout:
            s.late += 1
            return
        s.rtt[seq] = rtt
        s.reflector_seqs.add(packet.seq)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable: no reflector there) arrive here.
        self.session.error = f"{type(exc).__name__}: {exc}"[:200]


async def run(host: str, port: int, *, source: str = "", rate: float = 10.0,
              seconds: float = 10.0, reply_timeout: float = 1.0) -> Session:
    """Send ``rate * seconds`` packets to ``host:port`` and collect the answers."""
    session = Session(started_ns=time.time_ns())
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family = infos[0][0]
        if source:  # the source address decides the family when given
            family = socket.AF_INET6 if ":" in source else socket.AF_INET
            infos = [i for i in infos if i[0] == family] or infos
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(session, reply_timeout), remote_addr=(str(infos[0][4][0]), port),
            local_addr=(source, 0) if source else None, family=family)
    except OSError as err:
        session.result = "unreachable"
        session.error = f"{host}: {err.strerror or err}"[:200]
        session.ended_ns = time.time_ns()
        return session
    try:
        count = max(1, round(rate * seconds))
        start = time.monotonic()
        for seq in range(count):
            delay = start + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            session.sent_ns.append(time.time_ns())
            session.sent_mono.append(time.monotonic())
            try:
                transport.sendto(SenderPacket(seq, ntp_now()).pack())
            except OSError as err:
                session.send_errors += 1
                session.error = f"{err.strerror or err}"[:200]
                if err.errno in UNREACHABLE:
                    session.result = "unreachable"
        await asyncio.sleep(reply_timeout)
    finally:
        transport.close()
    session.ended_ns = time.time_ns()
    if not session.rtt and session.result == "ok":
        session.result = "timeout"
    return session
