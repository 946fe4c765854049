"""STAMP test packets (RFC 8762, unauthenticated mode), shared by the prober and the reflector.

The agent's ``path_quality`` probe sends, the network centre's reflector
answers. Both sides live here so the packet layout has one definition.

Sender packet (44 bytes): sequence number, timestamp, error estimate, zero
padding. Reflector packet (44 bytes, never longer than what it answers):
its own sequence number, its transmit timestamp, error estimate, the receive
timestamp, and the sender's sequence number, timestamp, error estimate and
TTL. Timestamps are NTP format (seconds since 1900, 32.32 fixed point).

A stateful reflector numbers each session's packets 0, 1, 2, ... in the order
it received them, so the sender can tell forward losses (the reflector's
count falls behind the sender's) from backward losses (a reflected number
never arrives).

Why STAMP, and not irtt or ICMP (measured by ``tests/bench/bench_path_methods.py``:
the three side by side on the namespace ladder, 10 packets/s to 4 targets for
30 s, 20 ms + U(0, 10) ms delay and 2% loss each way counted by nftables;
five runs on a shared 2-core machine):

* all three read the delay alike (median 25.7-26.4 ms for STAMP, 25.8-26.7
  for irtt, 26.1-26.6 for icmplib; mean |IPDV| 3.5-6.1 ms for STAMP and
  irtt, 3.6-8.4 for icmplib, against 3.33 injected: the delay line's own
  scheduling adds to it on a loaded machine) and lose exactly the packets
  nftables dropped (within one packet for irtt, whose handshake shares the
  port);
* ICMP cannot tell forward from backward loss; STAMP (sequence numbers from a
  stateful reflector, RFC 8762 section 4.2.2) and irtt can;
* STAMP is the IETF's standard (RFC 8762, TWAMP-light compatible), so a
  centre's router that reflects STAMP/TWAMP-light can answer it without our
  reflector; irtt speaks only to ``irtt server`` (interoperability with
  carrier gear is not tested here: no such gear in the test set-up).

The cost figures, and why the prober is hand-written, are in
:mod:`agent.probes.path_quality.session`; the reflector's in
:mod:`collector.reflector`.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

PORT = 862  # IANA: stamp
PACKET_LEN = 44
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
# Error estimate: S=1 (clock synchronised to UTC), scale 0, multiplier 1 -- a
# nominal value; this implementation measures round trips, not one-way delays.
ERROR_ESTIMATE = 0x8001

_SENDER = struct.Struct("!IQH30x")
_REFLECTOR = struct.Struct("!IQH2xQIQH2xB3x")
assert _SENDER.size == PACKET_LEN and _REFLECTOR.size == PACKET_LEN


def ntp_now() -> int:
    return to_ntp(time.time_ns())


def to_ntp(unix_ns: int) -> int:
    seconds, ns = divmod(unix_ns, 1_000_000_000)
    return ((seconds + NTP_EPOCH_OFFSET) << 32) | ((ns << 32) // 1_000_000_000)


def ntp_seconds(a: int, b: int) -> float:
    """``a - b`` in seconds, for two NTP timestamps."""
    return (a - b) / 2**32


@dataclass(frozen=True)
class SenderPacket:
    seq: int
    timestamp: int

    def pack(self) -> bytes:
        return _SENDER.pack(self.seq & 0xFFFFFFFF, self.timestamp, ERROR_ESTIMATE)

    @classmethod
    def unpack(cls, data: bytes) -> SenderPacket | None:
        """The packet, or None when ``data`` is not a STAMP test packet."""
        if len(data) < PACKET_LEN:
            return None
        seq, stamp, _ = _SENDER.unpack_from(data)
        return cls(seq, stamp)


@dataclass(frozen=True)
class ReflectedPacket:
    seq: int            # the reflector's count of this session's packets
    timestamp: int      # when the reflector sent it
    receive_timestamp: int
    sender_seq: int
    sender_timestamp: int
    sender_ttl: int

    def pack(self) -> bytes:
        return _REFLECTOR.pack(self.seq & 0xFFFFFFFF, self.timestamp, ERROR_ESTIMATE,
                               self.receive_timestamp, self.sender_seq, self.sender_timestamp,
                               ERROR_ESTIMATE, self.sender_ttl)

    @classmethod
    def unpack(cls, data: bytes) -> ReflectedPacket | None:
        if len(data) < PACKET_LEN:
            return None
        seq, stamp, _, received, sseq, sstamp, _, ttl = _REFLECTOR.unpack_from(data)
        return cls(seq, stamp, received, sseq, sstamp, ttl)

    @property
    def turnaround_seconds(self) -> float:
        """Time the packet spent inside the reflector, taken out of the round trip."""
        return max(0.0, ntp_seconds(self.timestamp, self.receive_timestamp))
