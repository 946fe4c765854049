"""Only a school's status may be retained: the collector deletes anything else.

Real Mosquitto, the real collector in this process: a school stores 1,000
retained readings under its own subtree (the issue's retained flood); once the
collector has seen them the broker holds none of them, its status stays, and
a restarted collector is not handed them again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode, encode_status
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import (
    Listener,
    collector_toml,
    influx1_storage,
    publisher_client,
    running_collector,
)

pytestmark = pytest.mark.integration

FLOOD = 1000


def retained_now(port: int, topic: str) -> list[str]:
    """Topics the broker holds retained under ``topic`` (a fresh subscriber's view)."""
    got: list[str] = []
    lock = threading.Lock()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:
            with lock:
                got.append(msg.topic)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    time.sleep(1.0)  # retained messages come at once after SUBACK
    client.disconnect()
    client.loop_stop()
    return got


def test_retained_flood_is_deleted_and_not_redelivered(tmp_path: Path, broker: Mosquitto,
                                                       influxd: Influxd, database: str,
                                                       unique: str) -> None:
    hostile = Identity("37", "3701", "370102", f"ret-{unique}")
    subtree = hostile.prefix + "/#"
    client = publisher_client(broker.port)
    client.publish(hostile.topic("status"), encode_status(hostile, "online", time.time_ns(),
                                                          "1.0"), qos=1, retain=True)
    reading = Reading("wan_link", {"rx_bps": 1.0, "result": "ok"}, {"iface": "eth0"},
                      time.time_ns() - 10**9)
    # Half stored before the collector subscribes, half while it runs.
    for n in range(FLOOD // 2):
        topic = hostile.topic(f"m{n}") if n % 2 else f"{hostile.prefix}/deep/{n}/x"
        client.publish(topic, encode(hostile, reading, n + 1), qos=1, retain=True)
    client.publish(hostile.topic("wan_link"), b"x" * 100, qos=1,
                   retain=True).wait_for_publish(10)
    assert len(retained_now(broker.port, subtree)) == FLOOD // 2 + 2
    dead = Listener(broker.port, "schoolnet/deadletter/retained")
    cfg = collector_toml(tmp_path, broker.port, influx1_storage(influxd.url, database),
                         f"ret-{unique}", "[limits]\ndead_letters_per_minute = 1000000")
    # Its own school's subtree only: other tests leave their statuses retained.
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        "[mqtt]\n", f'[mqtt]\ntopic = "{hostile.prefix}/#"\n'), encoding="utf-8")
    with running_collector(cfg) as collector:
        for n in range(FLOOD // 2, FLOOD):
            client.publish(hostile.topic(f"m{n}"), encode(hostile, reading, n + 1), qos=1,
                           retain=True)
        client.publish(hostile.topic("wan_link"), encode(hostile, reading, FLOOD + 1),
                       qos=1).wait_for_publish(10)  # an ordinary reading is still stored
        wait_for(lambda: collector.retained.cleared >= FLOOD + 1, 30,
                 "every retained reading cleared", interval=0.2)
        wait_for(lambda: collector.pipeline.stats.stored >= 2, 20, "status and reading stored")
        # The deletions are QoS 1 publishes on the other (paho) connection,
        # queued behind as many dead letters.
        left: list[str] = []

        def only_status_left() -> bool:
            left[:] = retained_now(broker.port, subtree)
            return left == [hostile.topic("status")]

        wait_for(only_status_left, 60, "retained readings deleted at the broker", interval=0)
        first_stats = collector.pipeline.stats.summary()
    # The deletions come back as empty retained messages and are dropped
    # quietly, not fed to the pipeline as readings to reject; each cleared
    # reading counts against the school that stored it.
    assert (f"received=2 stored=2 statuses=1 rejected={FLOOD + 1} (retained={FLOOD + 1})"
            in first_stats), first_stats
    assert collector.pipeline.stats.by_school == {(hostile.school_id, "retained"): FLOOD + 1}
    wait_for(lambda: len(dead.messages) >= FLOOD + 1, 20, "dead letters")
    dead.close()
    # Restarted (same persistent session): nothing is handed over again.
    with running_collector(cfg) as again:
        time.sleep(1.5)
        assert again.retained.cleared == 0
        assert again.pipeline.stats.received == 1  # the retained status, re-sent on subscribe
    # Leave the shared broker as found: other tests' collectors would store it.
    client.publish(hostile.topic("status"), b"", qos=1, retain=True).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
