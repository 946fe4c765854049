"""The collector's inbound MQTT 5 transport against ejabberd's mod_mqtt, an
independent broker (what it does is in tests/test_ejabberd_broker.py). The
tests of tests/test_ingest.py that matter, where ejabberd differs:

- It keeps ONE QoS 1 message in flight whatever our receive maximum, so a
  transport that acks only after the database write gets one message per
  write; the backlog drains, whole and in order, but slowly.
- A restart loses the session: the transport reconnects, subscribes again
  (it does so on every connection) and new messages flow; messages unacked or
  queued at the restart are gone, so the agents' receipts are what brings
  those readings back.
- ``$share`` is answered with DISCONNECT 0x9E: a collector with
  ``share_group`` never subscribes and says so in its log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from agent.contract.configschema import build
from agent.contract.mqttconfig import MqttConfig
from collector.ingest.mqtt5 import LeanSubscriber
from collector.ingest.paho import PahoSubscriber
from collector.ingest.transport import Message, Transport
from tests.ejabberd_support import Recorder, publish
from tests.services import Ejabberd, wait_for
from tests.test_ingest import Inbox
from tests.test_ingest import subscribed as ingest_subscribed

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)


TRANSPORTS: dict[str, type[LeanSubscriber] | type[PahoSubscriber]] = {
    "lean": LeanSubscriber, "paho": PahoSubscriber}


def subscriber(cfg: MqttConfig, client_id: str, topic: str, receive_maximum: int,
               deliver: Callable[[list[Message]], None],
               backlog: Callable[[], int] | None = None, kind: str = "lean") -> Transport:
    """The transport under test (the collector's default unless ``kind`` says)."""
    return TRANSPORTS[kind](cfg, client_id, topic, receive_maximum, deliver, backlog)


def config(broker: Ejabberd, **over: Any) -> MqttConfig:
    return build(MqttConfig, {"host": "127.0.0.1", "port": broker.port, "tls": False,
                              "username": "collector", "password": broker.password, **over})


def subscribed(cfg: MqttConfig, client_id: str, topic: str, inbox: Inbox,
               kind: str = "lean") -> AbstractContextManager[Transport]:
    return ingest_subscribed(cfg, client_id, topic, inbox, TRANSPORTS[kind])


def drain(ingest: Transport, inbox: Inbox, count: int, timeout: float = 60) -> int:
    """Ack what arrives until ``count`` came; the most ever unacked at once."""
    acked = most = 0
    deadline = time.monotonic() + timeout
    while acked < count and time.monotonic() < deadline:
        with inbox.lock:
            batch = inbox.messages[acked:]
        most = max(most, len(batch))
        if batch:
            ingest.ack(batch)
            acked += len(batch)
        else:
            time.sleep(0.0005)
    return most


@pytest.mark.parametrize("kind", sorted(TRANSPORTS))
def test_backlog_queued_while_away_arrives_whole_and_in_order(ejabberd: Ejabberd,
                                                              unique: str, kind: str) -> None:
    cfg, topic = config(ejabberd), f"ingest/{unique}/#"
    with subscribed(cfg, f"in-{unique}", topic, Inbox(), kind):
        pass  # the session (and its subscription) now outlives the connection
    sent = [b"%d" % i for i in range(3000)]
    publish(ejabberd, f"ingest/{unique}/x", sent)
    inbox = Inbox()
    with subscribed(cfg, f"in-{unique}", topic, inbox, kind) as ingest:
        # Not the 1000 our receive maximum allows: one, until it is acked.
        wait_for(lambda: inbox.payloads(), 10, "the first message")
        time.sleep(0.5)
        assert inbox.payloads() == [b"0"]
        started = time.monotonic()
        most = drain(ingest, inbox, len(sent))
        elapsed = time.monotonic() - started
        assert inbox.payloads() == sent
        assert most == 1
        assert all(m.qos == 1 and m.topic == f"ingest/{unique}/x" for m in inbox.messages)
        time.sleep(0.5)  # the last PUBACK goes out on the I/O thread
    log.info("ejabberd: 3000 messages, each acked on arrival, in %.2f s", elapsed)
    again = Inbox()
    with subscribed(cfg, f"in-{unique}", topic, again, kind):
        time.sleep(1.0)
    assert again.payloads() == []  # acked once, never redelivered


@pytest.mark.parametrize("kind", sorted(TRANSPORTS))
def test_unacked_message_comes_back_after_a_reconnect(ejabberd: Ejabberd, unique: str,
                                                      kind: str) -> None:
    cfg, topic = config(ejabberd), f"ingest/{unique}/#"
    inbox = Inbox()
    with subscribed(cfg, f"in-{unique}", topic, inbox, kind) as ingest:
        publish(ejabberd, f"ingest/{unique}/x", [b"a", b"b", b"c"])
        wait_for(lambda: inbox.payloads() == [b"a"], 10, "the first")
        ingest.ack(inbox.messages[:1])
        wait_for(lambda: inbox.payloads() == [b"a", b"b"], 10, "the next after the ack")
    again = Inbox()
    with subscribed(cfg, f"in-{unique}", topic, again, kind) as ingest:
        wait_for(lambda: again.payloads() == [b"b"], 10, "redelivery")
        time.sleep(0.5)
        assert again.payloads() == [b"b"]  # c waits behind it
        ingest.ack(again.messages)
        wait_for(lambda: again.payloads() == [b"b", b"c"], 10, "the last")
        ingest.ack(again.messages[1:])
        time.sleep(0.5)


def test_after_a_broker_restart_it_subscribes_again(ejabberd: Ejabberd, unique: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="collector.ingest")
    cfg, topic = config(ejabberd), f"ingest/{unique}/#"
    inbox = Inbox()
    with subscribed(cfg, f"in-{unique}", topic, inbox) as ingest:
        publish(ejabberd, f"ingest/{unique}/x", [b"unacked", b"queued"])
        wait_for(lambda: inbox.payloads() == [b"unacked"], 10, "one in flight")
        ejabberd.stop()
        ejabberd.start()
        wait_for(lambda: caplog.text.count("subscribed to") == 2, 20, "subscribed again")
        assert "(session present: False)" in caplog.text  # ejabberd lost the session
        publish(ejabberd, f"ingest/{unique}/x", [b"after"])
        wait_for(lambda: inbox.payloads() == [b"unacked", b"after"], 10, "a new message")
        # An ack for the old connection's copy does not go out on the new
        # one (there its packet id may name another message): "after" stays
        # unacked.
        ingest.ack(inbox.messages[:1])
        time.sleep(0.5)
    again = Inbox()
    with subscribed(cfg, f"in-{unique}", topic, again) as ingest:
        wait_for(lambda: again.payloads() == [b"after"], 10, "still unacked")
        ingest.ack(again.messages)
        time.sleep(0.5)


def test_receipts_go_out_on_the_same_connection(ejabberd: Ejabberd, unique: str) -> None:
    school = Recorder(ejabberd, f"school-{unique}", user="school")
    school.subscribe(f"receipts/{unique}/#")
    try:
        with subscribed(config(ejabberd), f"in-{unique}", f"ingest/{unique}/#",
                        Inbox()) as ingest:
            for i in range(200):
                ingest.publish(f"receipts/{unique}/s{i}", b'{"v":1,"ranges":[[%d,%d]]}' % (i, i))
            wait_for(lambda: len(school.payloads()) == 200, 10, "receipts")
    finally:
        school.close()
    assert [m.topic for m in school.messages] == [f"receipts/{unique}/s{i}" for i in range(200)]
    assert school.payloads()[7] == b'{"v":1,"ranges":[[7,7]]}'


def test_an_idle_connection_is_kept_alive(ejabberd: Ejabberd, unique: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    # ejabberd drops a client silent for 1.5 x keepalive (7.5 s here).
    inbox = Inbox()
    caplog.set_level(logging.INFO, logger="collector.ingest")
    with subscribed(config(ejabberd, keepalive=5), f"in-{unique}", f"ingest/{unique}/#",
                    inbox):
        time.sleep(9)
        publish(ejabberd, f"ingest/{unique}/x", [b"still here"])
        wait_for(lambda: inbox.payloads() == [b"still here"], 10, "message after idling")
    assert "disconnected" not in caplog.text
    assert caplog.text.count("connected to") == 1


def test_a_shared_subscription_is_refused_and_logged(ejabberd: Ejabberd, unique: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="collector.ingest")
    ingest = subscriber(config(ejabberd), f"in-{unique}", f"$share/g/ingest/{unique}/#", 10,
                        Inbox().deliver)
    ingest.start()
    try:
        wait_for(lambda: "Shared subscription not supported (0x9e)" in caplog.text, 10,
                 "the refusal in the log")
        assert not ingest.connected.is_set()
    finally:
        ingest.stop()
