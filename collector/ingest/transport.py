"""The seam between the broker and the collector's processing.

A transport holds one persistent MQTT 5 subscription and hands the broker's
messages, unacknowledged, to ``deliver`` a chunk at a time; the pipeline acks
them through ``ack`` once they are stored. Two implementations: ``mqtt5``
(the lean subscriber, the default, built for backlog drains) and ``paho``
(paho-mqtt, the conservative choice). Neither imports the processing: this
module, and ``Message``, is all they share with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collector.config import CollectorMqtt


@dataclass
class Message:
    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 1
    received_ns: int = field(default_factory=time.time_ns)
    conn: int = 0  # the broker connection it came on: only that one can ack it
    retain: bool = False  # kept by the broker (only a school's status may be)


Deliver = Callable[[list[Message]], None]


class Transport(Protocol):
    connected: threading.Event  # set while the subscription stands

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def ack(self, messages: list[Message]) -> None:
        """PUBACK these messages (thread-safe)."""

    def publish(self, topic: str, payload: bytes) -> None:
        """Send at QoS 0 (thread-safe), for messages whose loss costs only a resend."""


TRANSPORTS = ("lean", "paho")


def make_transport(cfg: CollectorMqtt, client_id: str, topic: str, deliver: Deliver,
                   backlog: Callable[[], int] | None = None) -> Transport:
    """The transport ``[mqtt] transport`` names, subscribed to ``topic``."""
    # Imported here so a process loads only the MQTT code it uses.
    if cfg.transport == "paho":
        from collector.ingest.paho import PahoSubscriber

        return PahoSubscriber(cfg, client_id, topic, cfg.receive_maximum, deliver, backlog)
    from collector.ingest.mqtt5 import LeanSubscriber

    return LeanSubscriber(cfg, client_id, topic, cfg.receive_maximum, deliver, backlog)
