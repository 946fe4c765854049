"""One STAMP session: isochronous test packets to one reflector, and what came back.

Packets leave at fixed instants (start + i / rate, never drifting with the
event loop's delays) from a socket of their own, optionally bound to a source
address so the test takes one chosen uplink. A reply later than
``reply_timeout`` counts as lost: for a live lesson a packet that late is as
good as gone. Network failures are returned as data, never raised.
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
