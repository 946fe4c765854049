"""Both transports behind collector.ingest.transport keep one contract, against a
real Mosquitto: a persistent session's backlog arrives whole, only acked
messages are forgotten, acks from an older connection are not sent on a new
one, receipts go out at QoS 0, and the whole collector stores through either."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agent.contract.configschema import build
from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from collector.config import CollectorMqtt
from collector.ingest.mqtt5 import LeanSubscriber
from collector.ingest.paho import PahoSubscriber
from collector.ingest.transport import Transport, make_transport
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import Listener, collector_toml, influx1_storage, running_collector
from tests.test_ingest import Inbox, publish

KINDS = ("lean", "paho")


def mqtt(port: int, kind: str, **over: Any) -> CollectorMqtt:
    return build(CollectorMqtt, {"host": "127.0.0.1", "port": port, "transport": kind, **over})


@contextmanager
def subscribed(port: int, kind: str, client_id: str, topic: str,
               inbox: Inbox) -> Iterator[Transport]:
    transport = make_transport(mqtt(port, kind), client_id, topic, inbox.deliver)
    transport.start()
    try:
        wait_for(transport.connected.is_set, 10, "subscription")
        yield transport
    finally:
        transport.stop()


def test_the_config_picks_the_transport() -> None:
    assert isinstance(make_transport(mqtt(1, "lean"), "c", "t", print), LeanSubscriber)
    assert isinstance(make_transport(mqtt(1, "paho"), "c", "t", print), PahoSubscriber)
    assert mqtt(1, "lean").transport == build(CollectorMqtt, {"host": "h"}).transport


@pytest.mark.integration  # a real Mosquitto
@pytest.mark.parametrize("kind", KINDS)
def test_a_backlog_arrives_whole_and_only_acked_messages_are_forgotten(
        broker: Mosquitto, unique: str, kind: str) -> None:
    topic, client_id = f"tr/{unique}/#", f"tr-{unique}"
    with subscribed(broker.port, kind, client_id, topic, Inbox()):
        pass  # the session, and its subscription, outlive the connection
    sent = [b"%d" % i for i in range(1500)]
    publish(broker.port, f"tr/{unique}/x", sent)
    inbox = Inbox()
    with subscribed(broker.port, kind, client_id, topic, inbox) as transport:
        # The broker waits for acks at the receive maximum (1000).
        wait_for(lambda: len(inbox.payloads()) >= 1000, 30, "first window")
        acked, keep, deadline = 0, len(sent) - 10, time.monotonic() + 30
        while (acked < keep or len(inbox.payloads()) < len(sent)) \
                and time.monotonic() < deadline:
            with inbox.lock:
                window = inbox.messages[acked:keep]
            transport.ack(window)
            acked += len(window)
            time.sleep(0.01)
        assert inbox.payloads() == sent
        time.sleep(0.5)  # the acks reach the broker
    # The last ten were never acked: they, and only they, come back.
    again = Inbox()
    with subscribed(broker.port, kind, client_id, topic, again) as transport:
        wait_for(lambda: len(again.payloads()) == 10, 10, "the unacked ten")
        time.sleep(0.5)
        assert again.payloads() == sent[-10:]
        transport.ack(again.messages)
        time.sleep(0.5)


@pytest.mark.integration  # a real Mosquitto
@pytest.mark.parametrize("kind", KINDS)
def test_acks_for_an_older_connection_are_not_sent(tmp_path: Path, unique: str,
                                                   kind: str) -> None:
    inbox = Inbox()
    with Mosquitto(tmp_path).running() as broker, \
            subscribed(broker.port, kind, f"old-{unique}", f"old/{unique}/#", inbox) as tr:
        publish(broker.port, f"old/{unique}/x", [b"a", b"b"])
        wait_for(lambda: len(inbox.payloads()) == 2, 10, "two messages")
        first = list(inbox.messages)
        broker.stop()  # saves the session
        broker.start()
        wait_for(lambda: len(inbox.payloads()) == 4, 30, "redelivery after reconnecting")
        assert inbox.payloads()[2:] == [b"a", b"b"]
        assert {m.conn for m in inbox.messages[2:]} == {first[0].conn + 1}
        # Their packet ids may by now name other messages: dropped, not sent.
        tr.ack(first)
        time.sleep(0.5)
    again = Inbox()
    with Mosquitto(tmp_path).running() as broker, \
            subscribed(broker.port, kind, f"old-{unique}", f"old/{unique}/#", again):
        wait_for(lambda: len(again.payloads()) == 2, 10, "still unacked")


@pytest.mark.integration  # a real Mosquitto
@pytest.mark.parametrize("kind", KINDS)
def test_receipts_go_out_at_qos_0(broker: Mosquitto, unique: str, kind: str) -> None:
    listener = Listener(broker.port, f"rc/{unique}/#")
    try:
        with subscribed(broker.port, kind, f"rc-{unique}", f"in/{unique}/#",
                        Inbox()) as transport:
            for i in range(100):
                transport.publish(f"rc/{unique}/s{i}", b"%d" % i)
            wait_for(lambda: len(listener.messages) == 100, 10, "receipts")
    finally:
        listener.close()
    assert [p for _, p, _ in listener.messages] == [b"%d" % i for i in range(100)]


@pytest.mark.integration  # a real Mosquitto
@pytest.mark.parametrize("kind", KINDS)
def test_the_collector_stores_through_either_transport(
        tmp_path: Path, broker: Mosquitto, influxd: Influxd, database: str, unique: str,
        kind: str) -> None:
    config = collector_toml(tmp_path, broker.port, influx1_storage(influxd.url, database),
                            unique)
    config.write_text(config.read_text().replace("[mqtt]\n", f'[mqtt]\ntransport = "{kind}"\n'))
    school = Identity("37", "3701", "370102", f"tr{unique}")
    receipts = Listener(broker.port, school.receipt_topic)
    try:
        with running_collector(config) as collector:
            assert collector.cfg.mqtt.transport == kind
            client_publish = [encode(school, Reading("wan_link", {"rx_bps": float(n)}, {},
                                                     time.time_ns() - 10**9 + n), n + 1)
                              for n in range(300)]
            publish(broker.port, school.topic("wan_link"), client_publish)
            count = "SELECT count(rx_bps) FROM wan_link"
            wait_for(lambda: (influxd.rows(count, database) or [{"count": 0}])[0]["count"]
                     == 300, 30, "all stored", interval=0.2)
            wait_for(lambda: receipts.messages, 10, "a receipt")
    finally:
        receipts.close()
    seqs = {s for body in receipts.json() for a, b in body["ranges"] for s in range(a, b + 1)}
    assert seqs == set(range(1, 301))
