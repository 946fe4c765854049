"""What the lean subscriber and a real Mosquitto 2.0.11 tell each other at
CONNECT/CONNACK (MQTT 5, 3.1.2.11 and 3.2.2.3), and that both sides keep to it."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.contract.wire import MAX_PAYLOAD_BYTES
from collector.ingest.mqtt5 import LeanSubscriber
from collector.ingest.packets import MAX_PACKET_SIZE, connect_packet, split_packets
from tests.services import Mosquitto, wait_for
from tests.support import Listener
from tests.test_ingest import Inbox, config, publish


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A broker with limits of its own, which it announces in CONNACK."""
    with Mosquitto(tmp_path_factory.mktemp("strict"), "max_keepalive 10\n"
                   "max_packet_size 2000\nmax_inflight_messages 7\nmax_topic_alias 3\n"
                   ).running() as service:
        yield service


def subscriber(port: int, client_id: str, topic: str, inbox: Inbox,
               keepalive: int = 60) -> LeanSubscriber:
    sub = LeanSubscriber(config(port, keepalive=keepalive), client_id, topic, 1000,
                         inbox.deliver)
    sub.start()
    wait_for(sub.connected.is_set, 10, "subscription")
    return sub


def test_connect_asks_for_small_packets_and_no_topic_aliases() -> None:
    packet = connect_packet("c", 60, 1000)
    (_, start, _), = split_packets(packet)[0]
    # protocol name (6), version (1), flags (1), keepalive (2), then properties
    props, _ = Properties(PacketTypes.CONNECT).unpack(packet[start + 10:])
    assert props.MaximumPacketSize == MAX_PACKET_SIZE
    assert MAX_PAYLOAD_BYTES < MAX_PACKET_SIZE <= MAX_PAYLOAD_BYTES + 4096
    assert props.TopicAliasMaximum == 0 and props.ReceiveMaximum == 1000


@pytest.mark.integration  # a real Mosquitto
def test_the_servers_limits_are_recorded_and_its_keepalive_kept(
        strict: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="collector.ingest.mqtt5")
    inbox = Inbox()
    sub = subscriber(strict.port, "limits", "limits/#", inbox, keepalive=60)
    try:
        limits = sub.limits
        assert limits.keepalive == 10  # Server Keep Alive, replacing our 60
        assert limits.max_packet_size == 2000
        assert limits.receive_maximum == 7
        assert limits.topic_alias_maximum == 3
        assert limits.assigned_client_id == ""  # we named ourselves
        # Pinging every 45 s we would be dropped after 15 s of silence.
        time.sleep(17)
        publish(strict.port, "limits/x", [b"still here"])
        wait_for(lambda: inbox.payloads() == [b"still here"], 10, "message after idling")
    finally:
        sub.stop()
    assert "disconnected" not in caplog.text
    assert caplog.text.count("connected to") == 1
    assert "keepalive 10 s, max packet 2000 bytes, receive maximum 7, topic aliases 3" \
        in caplog.text


@pytest.mark.integration  # a real Mosquitto
def test_a_publish_larger_than_the_server_accepts_is_not_sent(
        strict: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    # Sending it would be a protocol error that costs the connection (and a
    # resent backlog); a lost receipt costs only a resend.
    listener = Listener(strict.port, "receipts/big/#")
    inbox = Inbox()
    sub = subscriber(strict.port, "big-out", "big-out/#", inbox)
    try:
        sub.publish("receipts/big/a", b"x" * 3000)
        sub.publish("receipts/big/b", b"small")
        wait_for(lambda: len(listener.messages) == 1, 10, "the small one")
        assert [t for t, _, _ in listener.messages] == ["receipts/big/b"]
        assert "dropped a 3020-byte publish: the broker accepts at most 2000" in caplog.text
        # Still the first connection: the broker saw nothing wrong.
        publish(strict.port, "big-out/x", [b"after"])
        wait_for(lambda: inbox.payloads() == [b"after"], 10, "message on the same connection")
        assert {m.conn for m in inbox.messages} == {1}
    finally:
        sub.stop()
        listener.close()


@pytest.mark.integration  # a real Mosquitto
def test_the_broker_withholds_what_exceeds_our_maximum_packet_size(
        broker: Mosquitto, unique: str) -> None:
    # Mosquitto 2.0.11 drops such a message for this client (MQTT 5,
    # 3.1.2.11.4: "discard without sending"), also from a queued session, and
    # goes on with the next ones.
    topic = f"huge/{unique}/#"
    inbox = Inbox()
    too_big = b"y" * MAX_PACKET_SIZE
    just_fits = b"z" * MAX_PAYLOAD_BYTES
    sub = subscriber(broker.port, f"huge-{unique}", topic, inbox)
    others = Listener(broker.port, topic)  # paho, asking for no packet limit
    try:
        publish(broker.port, f"huge/{unique}/x", [b"before", too_big, just_fits, b"after"])
        wait_for(lambda: len(inbox.payloads()) == 3, 10, "the three that fit")
        wait_for(lambda: len(others.messages) == 4, 10, "all four, to a client without limit")
        time.sleep(0.5)
        assert inbox.payloads() == [b"before", just_fits, b"after"]
        assert [p for _, p, _ in others.messages][1] == too_big
        sub.ack(inbox.messages)
        time.sleep(0.3)
    finally:
        sub.stop()
        others.close()
    # Queued while we are away: withheld the same way, and not kept for later.
    publish(broker.port, f"huge/{unique}/x", [too_big, b"queued"])
    again = Inbox()
    sub = subscriber(broker.port, f"huge-{unique}", topic, again)
    try:
        wait_for(lambda: again.payloads() == [b"queued"], 10, "the queued one that fits")
        sub.ack(again.messages)
        time.sleep(0.5)
        assert again.payloads() == [b"queued"]
    finally:
        sub.stop()


@pytest.mark.integration  # a real Mosquitto
def test_an_assigned_client_id_is_kept_for_the_session(tmp_path: Path, unique: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    # An empty client id: the broker names the session and says so in CONNACK;
    # reconnecting under that name resumes it, with what was queued meanwhile.
    caplog.set_level(logging.INFO, logger="collector.ingest.mqtt5")
    inbox = Inbox()
    with Mosquitto(tmp_path).running() as broker:
        sub = subscriber(broker.port, "", f"anon/{unique}/#", inbox)
        try:
            assigned = sub.limits.assigned_client_id
            assert assigned and sub.client_id == assigned
            assert f"broker assigned client id {assigned}" in caplog.text
            broker.stop()  # keeps the session on disk
            broker.start()
            wait_for(lambda: caplog.text.count("subscribed to") == 2, 20, "resubscribed")
            assert "session present: True" in caplog.text
            publish(broker.port, f"anon/{unique}/x", [b"on the session"])
            wait_for(lambda: inbox.payloads() == [b"on the session"], 10, "message")
        finally:
            sub.stop()
