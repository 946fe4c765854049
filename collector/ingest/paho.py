"""The collector's inbound connection through paho-mqtt: the conservative transport.

The same contract as the lean subscriber (collector.ingest.mqtt5): a
persistent MQTT 5 session, QoS 1 messages handed over unacknowledged, a PUBACK
only when the pipeline acks, receipts out at QoS 0, and the socket left
unread while the pipeline's backlog is large. paho does the protocol, so
this is the one to switch to if the lean subscriber ever misreads a broker;
it costs throughput (a callback and a properties object per message): in
tests/bench/bench_collector it drained a 50,000-reading backlog at 0.41 of the
lean subscriber's rate (5,900/s against 14,300/s, same run).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.contract.mqttclient import make_client
from agent.contract.mqttconfig import SESSION_EXPIRY_SECONDS, MqttConfig
from collector.ingest.packets import MAX_PACKET_SIZE
from collector.ingest.transport import Deliver, Message

log = logging.getLogger(__name__)


class PahoSubscriber:
    """One persistent MQTT 5 subscription through paho, feeding ``deliver``."""

    def __init__(self, cfg: MqttConfig, client_id: str, topic: str,
                 receive_maximum: int, deliver: Deliver,
                 backlog: Callable[[], int] | None = None) -> None:
        self.cfg = cfg
        self.topic = topic
        self.receive_maximum = receive_maximum  # sent in CONNECT
        self.deliver = deliver
        # As in the lean subscriber: past this backlog paho's thread waits in
        # the message callback, so the socket is not read and the broker keeps
        # the rest.
        self.backlog = backlog or (lambda: 0)
        self.stop_reading_at = 2 * receive_maximum
        self.connected = threading.Event()
        self.conn = 0  # connection generation; acks for an older one are dropped
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.client = make_client(cfg, client_id)
        # Acks are ours to send, after the write; paho would ack on receipt.
        self.client.manual_ack_set(True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        props.ReceiveMaximum = self.receive_maximum
        props.MaximumPacketSize = MAX_PACKET_SIZE
        props.TopicAliasMaximum = 0
        self.client.connect_async(self.cfg.host, self.cfg.port, self.cfg.keepalive,
                                  clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()

    def ack(self, messages: list[Message]) -> None:
        with self._lock:  # conn changes only under this lock
            mids = [m.mid for m in messages if m.qos and m.conn == self.conn]
        for mid in mids:
            self.client.ack(mid, 1)

    def publish(self, topic: str, payload: bytes) -> None:
        # paho drops QoS 0 while disconnected; a lost receipt costs a resend.
        self.client.publish(topic, payload, qos=0)

    # -- paho's thread -------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: mqtt.ConnectFlags,
                    code: Any, props: Properties | None) -> None:
        if code.is_failure:
            log.warning("broker refused the collector: %s", code)
            return
        with self._lock:
            self.conn += 1
        log.info("connected to %s:%s, subscribing to %s (session present: %s)",
                 self.cfg.host, self.cfg.port, self.topic, flags.session_present)
        client.subscribe(self.topic, options=SubscribeOptions(qos=1, retainAsPublished=True))

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int,
                      codes: list[Any], _props: Properties | None) -> None:
        if any(code.is_failure for code in codes):
            log.error("subscription to %s refused: %s", self.topic, codes[0])
            return
        self.connected.set()
        log.info("subscribed to %s at QoS %d", self.topic, codes[0].value)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any,
                       _flags: mqtt.DisconnectFlags, code: Any,
                       _props: Properties | None) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("disconnected from broker: %s", code)

    def _on_message(self, _client: mqtt.Client, _userdata: Any,
                    msg: mqtt.MQTTMessage) -> None:
        while self.backlog() >= self.stop_reading_at and not self._stop.wait(0.05):
            pass
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # brokers check this; validation names the topic bad
            topic = "\ufffd"
        self.deliver([Message(topic, bytes(msg.payload), msg.mid, msg.qos, time.time_ns(),
                              self.conn, bool(msg.retain))])
