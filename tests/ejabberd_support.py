"""A recording paho MQTT 5 client for the tests against ejabberd's mod_mqtt,
which, unlike the test Mosquitto, lets no one in without an account."""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.services import Ejabberd, wait_for


class Recorder:
    """A connected paho client that keeps what the broker sent it: CONNACK,
    SUBACK codes, messages (with their dup flags), DISCONNECT reasons."""

    def __init__(self, broker: Ejabberd, client_id: str, *, user: str = "collector",
                 clean_start: bool = True, session_expiry: int = 3600, keepalive: int = 60,
                 receive_maximum: int | None = None, manual_ack: bool = False,
                 will: tuple[str, bytes] | None = None) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.subacks: list[int] = []
        self.disconnects: list[int] = []
        self.connack: tuple[bool, int, dict[str, Any]] | None = None
        self.lock = threading.Lock()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5, manual_ack=manual_ack)
        client.username_pw_set(user, broker.password)
        if will:
            client.will_set(will[0], will[1], qos=1)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry
        if receive_maximum:
            props.ReceiveMaximum = receive_maximum
        client.connect("127.0.0.1", broker.port, keepalive, clean_start=clean_start,
                       properties=props)
        client.loop_start()
        self.client = client
        wait_for(lambda: self.connack, 10, f"CONNACK for {client_id!r}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, code: Any,
                    props: Any) -> None:
        self.connack = (bool(flags.session_present), int(code.value), props.json() if props else {})

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(msg)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any,
                      props: Any) -> None:
        self.subacks += [int(code.value) for code in codes]

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, code: Any,
                       props: Any) -> None:
        self.disconnects.append(int(code.value))

    def subscribe(self, topic: str) -> None:
        count = len(self.subacks)
        self.client.subscribe(topic, qos=1)
        wait_for(lambda: len(self.subacks) > count, 10, f"SUBACK for {topic}")

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [bytes(m.payload) for m in self.messages]

    def ack(self, count: int | None = None) -> None:
        """PUBACK the first ``count`` messages received (manual_ack clients)."""
        with self.lock:
            messages = self.messages[:count]
        for msg in messages:
            self.client.ack(msg.mid, msg.qos)

    def publish(self, topic: str, payloads: list[bytes], retain: bool = False) -> None:
        """At QoS 1, each acknowledged by the broker."""
        infos = [self.client.publish(topic, p, qos=1, retain=retain) for p in payloads]
        for info in infos:
            info.wait_for_publish(30)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self) -> None:
        """Vanish without DISCONNECT, as a crashed client does: the will goes out."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()
        time.sleep(0.1)


def publish(broker: Ejabberd, topic: str, payloads: list[bytes], retain: bool = False) -> None:
    """Publish as a school would, then leave."""
    sender = Recorder(broker, "", user="school")
    try:
        sender.publish(topic, payloads, retain)
    finally:
        sender.close()
