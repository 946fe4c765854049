"""The collector's MQTT hot path, byte work only: find and parse the PUBLISH
packets in a 256 KiB chunk as received, and build the PUBACKs for them.

Compares the hand-written codec (collector.ingest.packets) with the ``mqtt5``
package from PyPI (a Rust codec), when that is installed; it is not a
dependency, so install it beside the project to compare:

    python -m tests.bench.bench_mqtt_codec [ROUNDS]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from collector.ingest.packets import parse_publish, puback_packets, split_packets, varint
from collector.ingest.transport import Message

CHUNK = 256 * 1024
TOPIC = "schoolnet/v1/110000/110100/110105/s-000123/wan_link"


def chunk() -> tuple[bytes, int]:
    """QoS 1 PUBLISH packets as Mosquitto sends them, cut at 256 KiB mid-packet."""
    payload = json.dumps({"v": 1, "school_id": "s-000123", "measurement": "wan_link",
                          "ts": 1_700_000_000_000_000_000, "seq": 1, "tags": {"iface": "eth0"},
                          "fields": {"link_speed_mbps": 1000, "rx_bps": 123456789.0,
                                     "tx_bps": 23456789.0, "utilisation": 0.12}}).encode()
    topic = TOPIC.encode()
    out = bytearray()
    mid = 0
    while len(out) < CHUNK:
        mid = mid % 65535 + 1
        body = len(topic).to_bytes(2, "big") + topic + mid.to_bytes(2, "big") + b"\0" + payload
        out += bytes([0x32]) + varint(len(body)) + body
    return bytes(out[:CHUNK]), len(payload)


def hand(data: bytes) -> tuple[int, bytes]:
    packets, _ = split_packets(data)
    now = time.time_ns()
    messages = [parse_publish(data, first, start, end, 1, now) for first, start, end in packets]
    return len(messages), puback_packets([m.mid for m in messages])


def rust(data: bytes) -> tuple[int, bytes]:
    import mqtt5

    view, pos, now = memoryview(data), 0, time.time_ns()
    messages: list[Message] = []
    while True:
        try:
            packet, size = mqtt5.read(view[pos:])
        except Exception:  # an incomplete packet at the end of the chunk
            break
        pos += size
        assert isinstance(packet, mqtt5.PublishPacket)
        messages.append(Message(packet.topic, packet.payload, packet.packet_id or 0,
                                int(packet.qos), now, 1))
    acks = b"".join(mqtt5.PubAckPacket(m.mid).write() for m in messages)
    return len(messages), acks


def measure(name: str, fn: Callable[[bytes], tuple[int, bytes]], data: bytes,
            rounds: int) -> float:
    count, acks = fn(data)
    start = time.perf_counter()
    for _ in range(rounds):
        fn(data)
    per_chunk = (time.perf_counter() - start) / rounds
    rate = count / per_chunk
    print(f"{name:<22} {count:>6} msgs/chunk {per_chunk * 1e3:8.3f} ms/chunk "
          f"{rate:>12,.0f} msgs/s  puback bytes {len(acks)}")
    return rate


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    data, size = chunk()
    print(f"256 KiB chunk of QoS 1 PUBLISH, {size}-byte payloads, {rounds} rounds")
    base = measure("hand-written", hand, data, rounds)
    try:
        import mqtt5  # noqa: F401
    except ImportError:
        print("mqtt5 (PyPI) not installed: nothing to compare")
        return
    assert hand(data)[1] == rust(data)[1], "the two codecs disagree on the PUBACKs"
    other = measure("mqtt5 (PyPI, Rust)", rust, data, rounds)
    print(f"mqtt5 / hand-written: {other / base:.2f}")


if __name__ == "__main__":
    main()
