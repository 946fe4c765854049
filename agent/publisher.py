"""Sends spooled readings to the broker over MQTT (paho-mqtt 2.x), QoS 1.

Readings go to the spool first and leave it only on the broker's PUBACK, so a
broker outage, a cut link or an agent restart loses nothing. A window of
``max_inflight`` unacknowledged readings is fed oldest first from the spool,
which also replays whatever a previous run left behind.

The retained status topic carries a birth message on every connect and the
broker publishes the last will (offline) if the agent vanishes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from agent import __version__
from agent.mqttclient import connect_async, make_client
from agent.reading import Reading
from agent.spool import Spool
from agent.wire import Identity, encode, encode_status

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, mqtt_cfg: dict[str, Any], identity: Identity, spool: Spool) -> None:
        self.identity = identity
        self.spool = spool
        self.window = mqtt_cfg["max_inflight"]
        self.published = 0
        self._lock = threading.Lock()
        self._inflight: dict[int, int] = {}  # paho mid -> spool seq
        self._cursor = 0  # highest seq handed to paho in this process
        self._connected = threading.Event()
        self._stopping = False
        self._cfg = mqtt_cfg
        client_id = mqtt_cfg["client_id"] or f"schoolnet-agent-{identity.school_id}"
        self.client = make_client(mqtt_cfg, client_id)
        self.client.max_inflight_messages_set(self.window)
        self.client.will_set(identity.status_topic, self._status("offline"), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish

    def _status(self, state: str) -> bytes:
        return encode_status(self.identity, state, time.time_ns(), __version__)

    def start(self) -> None:
        # connect_async + loop_start: paho retries with backoff in its own
        # thread, so an unreachable broker at boot is not an error.
        connect_async(self.client, self._cfg)

    def submit(self, reading: Reading) -> int:
        """Spool a reading and send it when the window allows; returns its seq."""
        topic = self.identity.topic(reading.measurement)
        seq = self.spool.append(topic, lambda s: encode(self.identity, reading, s))
        self._pump()
        return seq

    def _pump(self) -> None:
        if not self._connected.is_set():
            return
        with self._lock:
            room = self.window - len(self._inflight)
            if room <= 0:
                return
            for seq, topic, payload in self.spool.after(self._cursor, room):
                info = self.client.publish(topic, payload, qos=1)
                self._inflight[info.mid] = seq
                self._cursor = seq

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("broker %s:%s refused the connection: %s",
                        self._cfg["host"], self._cfg["port"], reason)
            return
        log.info("connected to %s:%s (session present: %s)", self._cfg["host"],
                 self._cfg["port"], flags.session_present)
        client.publish(self.identity.status_topic, self._status("online"), qos=1, retain=True)
        self._connected.set()
        self._pump()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason: Any, props: Any) -> None:
        self._connected.clear()
        if self._stopping:
            log.info("disconnected from broker")
        else:
            log.warning("disconnected from broker: %s; retrying with backoff", reason)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int,
                    reason: Any, props: Any) -> None:
        with self._lock:
            seq = self._inflight.pop(mid, None)
        if seq is None:
            return  # the status message, which is not spooled
        if reason.is_failure:
            # The broker refused it (e.g. an ACL): keeping it would block nothing
            # but retry forever, so it stays spooled for a later restart.
            log.error("broker rejected reading seq %d: %s", seq, reason)
        else:
            self.spool.remove(seq)
            self.published += 1
        self._pump()

    def wait_drained(self, timeout: float) -> bool:
        """Wait until every spooled reading is acknowledged (or timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.spool.depth() == 0:
                return True
            self._pump()
            time.sleep(0.05)
        return self.spool.depth() == 0

    def stop(self, timeout: float = 5.0) -> None:
        """Publish the offline status and disconnect cleanly (no last will)."""
        self._stopping = True
        if self._connected.is_set():
            info = self.client.publish(self.identity.status_topic, self._status("offline"),
                                       qos=1, retain=True)
            info.wait_for_publish(timeout)
        self.client.disconnect()
        self.client.loop_stop()
