"""A school's retained flood: what the broker holds before and after the collector.

    python -m tests.bench.bench_retained [N] [SIZE] [SOURCE_DIR]

One school stores N retained messages of SIZE bytes under its own subtree
(the issue's finding: 5,000 × 60 KB), then ``schoolnet-collector run`` from
SOURCE_DIR (default: this checkout; point it at an older export to compare)
subscribes. Prints Mosquitto's RSS and how many retained messages a fresh
subscriber (a restarted collector) is handed, before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from agent.contract.wire import Identity
from tests.services import Influxd, Mosquitto
from tests.support import collector_toml, influx1_storage, publisher_client

REPO = Path(__file__).resolve().parents[2]


def retained_count(port: int, topic: str, settle: float = 2.0) -> int:
    got = 0
    lock = threading.Lock()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal got
        if msg.retain:
            with lock:
                got += 1

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=0)
    client.loop_start()
    time.sleep(settle)
    client.disconnect()
    client.loop_stop()
    return got


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 60_000
    source = Path(sys.argv[3]) if len(sys.argv) > 3 else REPO
    hostile = Identity("37", "3701", "370102", "hostile-1")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with Mosquitto(tmp / "mq").running() as broker, \
                Influxd(tmp / "influx").running() as influxd:
            influxd.create_db("bench")
            assert broker.proc is not None
            pid = broker.proc.pid
            print(f"broker idle: {rss_mib(pid):.0f} MiB")
            client = publisher_client(broker.port)
            for i in range(n):
                info = client.publish(hostile.topic(f"m{i}"), os.urandom(size // 2).hex().encode(),
                                      qos=1, retain=True)
            info.wait_for_publish(120)
            client.disconnect()
            client.loop_stop()
            held = retained_count(broker.port, hostile.prefix + "/#")
            print(f"after {n} retained x {size} B: broker {rss_mib(pid):.0f} MiB, "
                  f"retained held {held}")
            cfg = collector_toml(tmp, broker.port, influx1_storage(influxd.url, "bench"),
                                 "bench-retained")
            with (tmp / "collector.log").open("wb") as log:
                proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "run", "-c",
                                         str(cfg)], cwd=source, stderr=log,
                                        env={**os.environ, "PYTHONPATH": str(source)})
            start = time.monotonic()
            while time.monotonic() - start < 60:
                time.sleep(3)
                if (left := retained_count(broker.port, hostile.prefix + "/#", 1.0)) == 0:
                    break
            took = time.monotonic() - start
            proc.terminate()
            proc.wait(30)
            print(f"collector ran {took:.1f} s: broker {rss_mib(pid):.0f} MiB, retained held "
                  f"{left} (what a restarted collector is handed)")


if __name__ == "__main__":
    main()
