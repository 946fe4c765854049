"""Backlog drain: how fast Mosquitto hands a queued QoS 1 backlog to a
returning subscriber, by broker inflight limit and client receive maximum.

    python -m tests.bench.bench_drain [N]

Reference in the same run: the steady-state rate of the same subscriber while
the publisher is sending (no backlog). Prints msg/s and the ratio.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.services import Mosquitto, wait_for


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.first = 0.0
        self.last = 0.0
        self.lock = threading.Lock()

    def on_message(self, client: object, userdata: object, msg: object) -> None:
        with self.lock:
            now = time.monotonic()
            if self.n == 0:
                self.first = now
            self.n += 1
            self.last = now


def subscriber(port: int, protocol: int, receive_max: int | None,
               counter: Counter) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="drain-sub", protocol=protocol,
                         **({} if protocol == mqtt.MQTTv5 else {"clean_session": False}))
    client.on_message = counter.on_message
    kwargs: dict[str, object] = {}
    if protocol == mqtt.MQTTv5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        if receive_max:
            props.ReceiveMaximum = receive_max
        kwargs = {"clean_start": False, "properties": props}
    client.connect("127.0.0.1", port, **kwargs)  # type: ignore[arg-type]
    client.subscribe("drain/#", qos=1)
    client.loop_start()
    time.sleep(0.3)
    return client


def publish(port: int, n: int) -> float:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    start = time.monotonic()
    infos = [pub.publish("drain/x", b"x" * 300, qos=1) for _ in range(n)]
    for info in infos:
        info.wait_for_publish(60)
    took = time.monotonic() - start
    pub.disconnect()
    pub.loop_stop()
    return n / took


def run(n: int, inflight: str, protocol: int, receive_max: int | None) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp), "" if inflight == "default" else
                           f"max_inflight_messages {inflight}")
        # The fixture config sets max_inflight_messages 0; the default run drops it.
        if inflight == "default":
            broker.conf.write_text(broker.conf.read_text().replace(
                "max_inflight_messages 0\n", ""))
        broker.start()
        try:
            steady = Counter()
            client = subscriber(broker.port, protocol, receive_max, steady)
            publish(broker.port, n // 4)
            wait_for(lambda: steady.n >= n // 4, 120, "steady messages")
            steady_rate = steady.n / max(steady.last - steady.first, 1e-6)
            client.disconnect()
            client.loop_stop()
            publish(broker.port, n)  # queued for the offline session
            backlog = Counter()
            start = time.monotonic()
            client = subscriber(broker.port, protocol, receive_max, backlog)
            wait_for(lambda: backlog.n >= n, 300, "backlog", interval=0.1)
            drain_rate = n / (backlog.last - start)
            client.disconnect()
            client.loop_stop()
            return steady_rate, drain_rate
        finally:
            broker.stop()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    print(f"backlog of {n} QoS 1 messages (300 B) to one paho subscriber, mosquitto "
          "with persistence")
    print(f"{'broker max_inflight':>20} {'protocol':>9} {'receive_max':>12} "
          f"{'steady msg/s':>13} {'drain msg/s':>12} {'drain/steady':>13}")
    for inflight, protocol, rmax in (("default", mqtt.MQTTv311, None),
                                     ("default", mqtt.MQTTv5, None),
                                     ("default", mqtt.MQTTv5, 1000),
                                     ("0", mqtt.MQTTv311, None),
                                     ("1000", mqtt.MQTTv5, 1000)):
        steady, drain = run(n, inflight, protocol, rmax)
        name = "3.1.1" if protocol == mqtt.MQTTv311 else "5"
        print(f"{inflight:>20} {name:>9} {rmax or '-':>12} {steady:>13.0f} {drain:>12.0f} "
              f"{drain / steady:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
