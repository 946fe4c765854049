"""The collector's inbound MQTT 5 connection (collector.ingest.mqtt5) against a real
Mosquitto: persistent session, backlog, redelivery, acks, keepalive; and its
packet parser fuzzed at the byte level.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.contract.configschema import build
from agent.contract.mqttconfig import MqttConfig
from collector.ingest.mqtt5 import LeanSubscriber
from collector.ingest.packets import ProtocolError, varint
from collector.ingest.transport import Message, Transport
from tests.services import Mosquitto, wait_for
from tests.support import Listener, publisher_client


def config(port: int, **over: Any) -> MqttConfig:
    return build(MqttConfig, {"host": "127.0.0.1", "port": port, "tls": False, **over})


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    def deliver(self, messages: list[Message]) -> None:
        with self.lock:
            self.messages += messages

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [m.payload for m in self.messages]


@contextmanager
def subscribed(cfg: MqttConfig, client_id: str, topic: str, inbox: Inbox,
               transport: Callable[..., Transport] = LeanSubscriber) -> Iterator[Transport]:
    ingest = transport(cfg, client_id, topic, 1000, inbox.deliver)
    ingest.start()
    try:
        wait_for(ingest.connected.is_set, 10, "subscription")
        yield ingest
    finally:
        ingest.stop()


def publish(port: int, topic: str, payloads: list[bytes]) -> None:
    client = publisher_client(port)
    infos = [client.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


@pytest.mark.integration
def test_backlog_queued_while_away_arrives_whole_and_in_order(broker: Mosquitto,
                                                              unique: str) -> None:
    # Mosquitto sends a resumed session's queue right behind CONNACK, often in
    # the same TCP segment: none of it may be lost with the handshake.
    cfg, topic = config(broker.port), f"ingest/{unique}/#"
    with subscribed(cfg, f"in-{unique}", topic, Inbox()):
        pass  # the session (and its subscription) now outlives the connection
    sent = [b"%d" % i for i in range(3000)]
    publish(broker.port, f"ingest/{unique}/x", sent)
    inbox = Inbox()
    with subscribed(cfg, f"in-{unique}", topic, inbox) as ingest:
        # The broker honours our receive maximum: 1000 unacked, then it waits.
        wait_for(lambda: len(inbox.payloads()) >= 1000, 30, "first 1000")
        time.sleep(0.5)
        assert len(inbox.payloads()) == 1000
        acked = 0
        while acked < len(sent):
            wait_for(lambda n=acked: len(inbox.payloads()) > n, 30, f"more than {acked}")
            with inbox.lock:
                batch = inbox.messages[acked:]
            ingest.ack(batch)
            acked += len(batch)
        assert inbox.payloads() == sent
        assert all(m.qos == 1 and m.topic == f"ingest/{unique}/x" for m in inbox.messages)
        time.sleep(0.5)  # the PUBACKs go out on the I/O thread
    again = Inbox()
    with subscribed(cfg, f"in-{unique}", topic, again):
        time.sleep(1.0)
    assert again.payloads() == []  # acked once, never redelivered


@pytest.mark.integration
def test_a_slow_consumer_holds_the_backlog_in_the_broker(broker: Mosquitto,
                                                         unique: str) -> None:
    # After a reconnect Mosquitto 2.0.11 stops honouring the receive maximum
    # once the first window is acked (measured: 18,000 of 20,000 unacked in
    # this process). Not reading the socket past 2 x receive maximum keeps
    # the backlog in the broker.
    cfg, topic = config(broker.port), f"ingest/{unique}/#"
    with subscribed(cfg, f"in-{unique}", topic, Inbox()):
        pass
    sent = [b"%0300d" % i for i in range(20000)]
    publish(broker.port, f"ingest/{unique}/x", sent)
    inbox, acked, most = Inbox(), 0, 0
    ingest = LeanSubscriber(cfg, f"in-{unique}", topic, 1000, inbox.deliver,
                            backlog=lambda: len(inbox.payloads()) - acked)
    ingest.start()
    try:
        deadline = time.monotonic() + 60
        while acked < len(sent) and time.monotonic() < deadline:
            with inbox.lock:
                batch = inbox.messages[acked:acked + 500]
                most = max(most, len(inbox.messages) - acked)
            if batch:
                time.sleep(0.01)  # a database write
                ingest.ack(batch)
                acked += len(batch)
            else:
                time.sleep(0.001)
    finally:
        ingest.stop()
    assert inbox.payloads() == sent
    # 2,000, plus what one 256 KiB read of 300-byte messages can hold.
    assert most <= 2000 + 900, most


@pytest.mark.integration
def test_unacked_messages_come_back_after_a_broker_restart(broker: Mosquitto,
                                                           unique: str) -> None:
    cfg, topic = config(broker.port), f"ingest/{unique}/#"
    inbox = Inbox()
    with subscribed(cfg, f"in-{unique}", topic, inbox) as ingest:
        publish(broker.port, f"ingest/{unique}/x", [b"a", b"b", b"c"])
        wait_for(lambda: len(inbox.payloads()) == 3, 10, "three messages")
        first = list(inbox.messages)
        ingest.ack(first[:1])
        time.sleep(0.5)
        broker.stop()  # saves its sessions
        broker.start()
        wait_for(lambda: len(inbox.payloads()) == 5, 20, "redelivery after reconnecting")
        assert inbox.payloads()[3:] == [b"b", b"c"]
        assert {m.conn for m in inbox.messages[3:]} == {first[0].conn + 1}
        # Acks for the old connection's copies are not sent on the new one:
        # by now their packet ids may name other messages.
        ingest.ack(first[1:])
        time.sleep(0.5)
    again = Inbox()
    with subscribed(cfg, f"in-{unique}", topic, again):
        wait_for(lambda: len(again.payloads()) == 2, 10, "still unacked")


@pytest.mark.integration
def test_receipts_go_out_on_the_same_connection(broker: Mosquitto, unique: str) -> None:
    listener = Listener(broker.port, f"receipts/{unique}/#")
    inbox = Inbox()
    try:
        with subscribed(config(broker.port), f"in-{unique}", f"ingest/{unique}/#",
                        inbox) as ingest:
            for i in range(200):
                ingest.publish(f"receipts/{unique}/s{i}", b'{"v":1,"ranges":[[%d,%d]]}' % (i, i))
            wait_for(lambda: len(listener.messages) == 200, 10, "receipts")
    finally:
        listener.close()
    assert [t for t, _, _ in listener.messages] == [f"receipts/{unique}/s{i}" for i in range(200)]
    assert listener.json()[7] == {"v": 1, "ranges": [[7, 7]]}


@pytest.mark.integration
def test_an_idle_connection_is_kept_alive(broker: Mosquitto, unique: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    # The broker drops a client silent for 1.5 x keepalive (7.5 s here).
    inbox = Inbox()
    caplog.set_level(logging.INFO, logger="collector.ingest.mqtt5")
    with subscribed(config(broker.port, keepalive=5), f"in-{unique}", f"ingest/{unique}/#",
                    inbox):
        time.sleep(9)
        publish(broker.port, f"ingest/{unique}/x", [b"still here"])
        wait_for(lambda: inbox.payloads() == [b"still here"], 10, "message after idling")
    assert "disconnected" not in caplog.text
    assert caplog.text.count("connected to") == 1


@pytest.mark.integration
def test_unreachable_broker_is_retried_with_a_clear_log(caplog: pytest.LogCaptureFixture,
                                                         tmp_path: Any) -> None:
    broker = Mosquitto(tmp_path)
    inbox = Inbox()
    ingest = LeanSubscriber(config(broker.port), "in-late", "ingest/late/#", 10, inbox.deliver)
    ingest.start()
    try:
        wait_for(lambda: "cannot connect to broker" in caplog.text, 10, "retry log")
        with broker.running():
            wait_for(ingest.connected.is_set, 15, "connected once the broker is up")
            publish(broker.port, "ingest/late/x", [b"hello"])
            wait_for(lambda: inbox.payloads() == [b"hello"], 10, "message")
    finally:
        ingest.stop()


# -- the packet parser, byte by byte --------------------------------------------

def publish_packet(topic: str, payload: bytes, mid: int, props: bytes, dup: bool) -> bytes:
    """A QoS 1 PUBLISH as MQTT 5 section 3.3 lays it out."""
    raw = topic.encode()
    body = (struct.pack("!H", len(raw)) + raw + struct.pack("!H", mid) + varint(len(props))
            + props + payload)
    return bytes([0x32 | (0x08 if dup else 0)]) + varint(len(body)) + body


packets = st.lists(st.tuples(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
    st.binary(max_size=300), st.integers(1, 65535),
    # Properties a broker may add: a subscription identifier, user properties.
    st.sampled_from([b"", b"\x0b\x05", b"\x26\x00\x01k\x00\x02vv"]), st.booleans()),
    min_size=1, max_size=20)


@contextmanager
def feeder() -> Iterator[tuple[LeanSubscriber, Inbox]]:
    inbox = Inbox()
    ingest = LeanSubscriber(config(1), "parse", "t/#", 10, inbox.deliver)
    try:
        yield ingest, inbox
    finally:
        ingest.stop()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets, st.lists(st.integers(1, 400), max_size=30))
def test_publish_packets_split_anywhere_parse_back(items: list[Any], cuts: list[int]) -> None:
    stream = b"".join(publish_packet(*item) for item in items)
    buf, pos = bytearray(), 0
    with feeder() as (ingest, inbox):
        for size in [*cuts, len(stream)]:  # TCP may cut the stream at any byte
            buf += stream[pos:pos + size]
            pos += size
            ingest._handle(buf)
    assert not buf
    assert [(m.topic, m.payload, m.mid) for m in inbox.messages] == [
        (topic, payload, mid) for topic, payload, mid, _, _ in items]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_garbage_from_the_broker_is_a_protocol_error(data: bytes) -> None:
    with feeder() as (ingest, _), contextlib.suppress(ProtocolError):
        # ProtocolError: the connection is dropped and reopened; nothing was acked
        ingest._handle(bytearray(data))
