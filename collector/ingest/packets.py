"""MQTT 5 packets a QoS 1 subscriber needs, encoded and decoded by hand.

Chosen after measuring the ``mqtt5`` package (0.8.0, a Rust codec on PyPI)
on this hot path (tests/bench/bench_mqtt_codec.py: find and parse the QoS 1
PUBLISH packets in a 256 KiB chunk, build their PUBACKs): 417,000 msgs/s
here, 713,000 with mqtt5 (1.7x), byte-identical PUBACKs. The codec is about
2.4 us of the ~80 us a reading costs the collector end to end (JSON, checks,
line protocol, the write), so mqtt5 would save about 1% of a drain for a
compiled dependency, another failure surface on untrusted bytes and a
reparse of the topic into its own string type. So the bytes are done here:
CONNECT, SUBSCRIBE, PUBLISH (QoS 0 out, QoS 0/1 in), PUBACK, and the framing
that finds complete packets in a received chunk; paho's maintained
Properties parser reads the CONNACK, which is not on the hot path.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from agent.contract.mqttconfig import SESSION_EXPIRY_SECONDS
from agent.contract.wire import MAX_PAYLOAD_BYTES
from collector.errors import CollectorError
from collector.ingest.transport import Message

CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP, DISCONNECT = 2, 3, 4, 9, 13, 14
PINGREQ = b"\xc0\x00"
SUBSCRIBE_ID = 1
# Sent in CONNECT: the largest packet the broker may send us. A reading is at
# most MAX_PAYLOAD_BYTES; the rest is room for the fixed header, a topic and
# properties. The broker discards a larger message for us (MQTT 5, 3.1.2.11.4)
# instead of spending our bandwidth on what validation would refuse anyway.
MAX_PACKET_SIZE = MAX_PAYLOAD_BYTES + 4096


class ProtocolError(CollectorError):
    """The broker sent something a QoS 1 subscriber cannot accept; reconnect."""


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("!H", len(raw)) + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def connect_packet(client_id: str, keepalive: int, receive_maximum: int,
                   username: str = "", password: str = "",
                   max_packet_size: int = MAX_PACKET_SIZE) -> bytes:
    # clean start off: the broker keeps the session, and queues for it, while
    # the collector is away (that queue is what a restart drains). Topic Alias
    # Maximum 0: we accept no aliases, so every PUBLISH names its topic.
    flags = (0x80 if username else 0) | (0x40 if username and password else 0)
    props = (b"\x11" + struct.pack("!I", SESSION_EXPIRY_SECONDS)
             + b"\x21" + struct.pack("!H", receive_maximum)
             + b"\x27" + struct.pack("!I", max_packet_size)
             + b"\x22" + struct.pack("!H", 0))
    body = (_utf8("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive)
            + varint(len(props)) + props + _utf8(client_id))
    if username:
        body += _utf8(username)
        if password:
            body += _utf8(password)
    return _packet(0x10, body)


def subscribe_packet(topic: str) -> bytes:
    # Options byte 0x09: maximum QoS 1, Retain As Published (so the collector
    # sees, and clears, a retained publish as it happens). Properties: none.
    return _packet(0x82, struct.pack("!H", SUBSCRIBE_ID) + b"\x00" + _utf8(topic) + b"\x09")


def publish_packet(topic: str, payload: bytes) -> bytes:
    """QoS 0, no properties."""
    return _packet(0x30, _utf8(topic) + b"\x00" + payload)


def puback_packets(mids: list[int]) -> bytes:
    # Reason code and properties may be omitted for success (MQTT 5, 3.4.2.1).
    return b"".join(struct.pack("!BBH", 0x40, 2, mid) for mid in mids)


def reason(packet_type: int, code: int) -> str:
    try:
        return f"{ReasonCode(packet_type, identifier=code)} (0x{code:02x})"
    except Exception:  # an unknown code is still worth logging as a number
        return f"0x{code:02x}"


def split_packets(buf: bytes | bytearray) -> tuple[list[tuple[int, int, int]], int]:
    """Complete packets at the start of ``buf`` as (first byte, body start, body
    end), and the bytes they take."""
    out: list[tuple[int, int, int]] = []
    pos, end = 0, len(buf)
    while pos + 2 <= end:
        length, shift, i = 0, 0, pos + 1
        while True:
            if i >= end:
                return out, pos
            byte = buf[i]
            length |= (byte & 0x7F) << shift
            i += 1
            if byte < 0x80:
                break
            shift += 7
            if shift > 21:
                raise ProtocolError("remaining length longer than 4 bytes")
        if i + length > end:
            break
        out.append((buf[pos], i, i + length))
        pos = i + length
    return out, pos


def skip_properties(data: bytes, j: int) -> int:
    length, shift = 0, 0
    while True:
        byte = data[j]
        j += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            return j + length
        shift += 7


def parse_publish(data: bytes, first: int, start: int, end: int, conn: int,
                  now_ns: int) -> Message:
    qos = (first >> 1) & 3
    if qos == 2:
        raise ProtocolError("QoS 2 message on a QoS 1 subscription")
    j = start + 2 + (data[start] << 8 | data[start + 1])
    topic = data[start + 2:j].decode("utf-8", "replace")
    mid = 0
    if qos:
        mid = data[j] << 8 | data[j + 1]
        j += 2
    j = skip_properties(data, j)
    if j > end:
        raise ProtocolError("PUBLISH shorter than its topic and properties")
    return Message(topic, data[j:end], mid, qos, now_ns, conn, bool(first & 1))


@dataclass
class ServerLimits:
    """What the broker's CONNACK told us (MQTT 5, 3.2.2.3); defaults where it was silent."""

    keepalive: int  # Server Keep Alive replaces ours when sent; 0 means none
    max_packet_size: int = 0  # 0: no limit beyond the protocol's
    receive_maximum: int = 65535  # caps our QoS>0 sends; we send QoS 0 only
    topic_alias_maximum: int = 0  # we send no aliases whatever it allows
    assigned_client_id: str = ""

    @classmethod
    def from_connack(cls, body: bytes, keepalive: int) -> ServerLimits:
        """From a successful CONNACK's body; ``keepalive`` is the one we asked for."""
        try:
            props, _ = Properties(PacketTypes.CONNACK).unpack(body[2:])
        except Exception as err:  # paho's parser raises plain exceptions
            raise ProtocolError(f"malformed CONNACK properties: {err}") from None
        get = props.__dict__.get  # paho sets only the properties that were present
        return cls(get("ServerKeepAlive", keepalive), get("MaximumPacketSize", 0),
                   get("ReceiveMaximum", 65535), get("TopicAliasMaximum", 0),
                   get("AssignedClientIdentifier", ""))
