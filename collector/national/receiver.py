"""The national collector: stores the roll-ups the provinces' bridges forward, nothing else.

It subscribes (QoS 1, a persistent session) to ``{prefix}/+`` on the national
broker, checks each message against the configured provinces
(``collector.national.wire``), writes the points and only then acknowledges
the message, so a roll-up is either stored or redelivered. Refusals are
counted per province and reason and logged once per message, never stored.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import threading
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt

from agent.contract.cli import EXIT_CONFIG
from agent.contract.mqttclient import connect_async, make_client
from collector.config import CollectorConfig
from collector.errors import BadData, Unavailable
from collector.ingest.lineproto import line
from collector.ingest.writer import Writer, make_writer
from collector.national.wire import Refused, decode

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0


class NationalReceiver:
    def __init__(self, cfg: CollectorConfig, writer: Writer | None = None) -> None:
        self.cfg = cfg
        self.prefix = cfg.national.topic
        self.provinces = frozenset(cfg.national.provinces)
        self.writer = writer or make_writer(cfg.storage)
        self.client = make_client(cfg.mqtt, cfg.mqtt.client_id)
        self.client.manual_ack_set(True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        # Set once the broker holds the subscription: from then on its persistent
        # session keeps every roll-up for this collector, even while it is away.
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.stored = 0
        self.retries = 0  # writes the database could not take yet
        self.refused: Counter[tuple[str, str]] = Counter()
        self.stop_event = threading.Event()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                    _props: Any) -> None:
        if reason.is_failure:
            log.error("national broker refused the connection: %s", reason)
            return
        client.subscribe(f"{self.prefix}/+", qos=1)
        log.info("subscribed to %s/+ for %d province(s)", self.prefix, len(self.provinces))

    def _on_message(self, _client: mqtt.Client, _userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        self.inbox.put(message)

    def handle(self, message: mqtt.MQTTMessage) -> None:
        """Store (or refuse) one message, then acknowledge it; waits out a database outage."""
        try:
            points = decode(message.topic, bytes(message.payload), self.prefix,
                            self.provinces)
        except Refused as err:
            province = message.topic.rsplit("/", 1)[-1][:32]
            self.refused[(province, err.reason)] += 1
            log.warning("roll-up refused from %r: %s", province, err)
            self._ack(message)
            return
        while not self.stop_event.is_set():
            try:
                self.writer.write([line(p) for p in points])
            except Unavailable as err:
                self.retries += 1
                log.warning("roll-ups not stored yet, retrying: %s", err)
                self.stop_event.wait(RETRY_SECONDS)
                continue
            except BadData as err:
                # The message passed every check yet the database refuses it:
                # retrying cannot help, so it is logged and let go.
                log.error("database refused a roll-up from %s: %s", message.topic, err)
            else:
                self.stored += len(points)
            self._ack(message)
            return

    def _ack(self, message: mqtt.MQTTMessage) -> None:
        if message.qos > 0:
            self.client.ack(message.mid, message.qos)

    def run(self) -> None:
        connect_async(self.client, self.cfg.mqtt)
        try:
            while not self.stop_event.is_set():
                try:
                    message = self.inbox.get(timeout=0.5)
                except queue.Empty:
                    continue
                self.handle(message)
        finally:
            self.client.disconnect()
            self.client.loop_stop()
            self.writer.close()
            log.info("national collector stopped: %d points stored, refused %s", self.stored,
                     dict(self.refused) or "none")


def serve(cfg: CollectorConfig) -> int:
    """``schoolnet-collector national``: run until SIGTERM or SIGINT."""
    if not cfg.national.provinces:
        print(f"config error: {cfg.file}: [national] provinces is empty: list the province "
              "codes whose roll-ups this national collector stores", file=sys.stderr)
        return EXIT_CONFIG
    receiver = NationalReceiver(cfg)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: receiver.stop_event.set())
    receiver.run()
    return 0
