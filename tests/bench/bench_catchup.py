"""Catching up after a collector outage while the schools keep sending.

    python -m tests.bench.bench_catchup [RATE] [OUTAGE_SECONDS] [WORKERS]

A paced publisher (its own process) sends RATE readings/s for the whole run.
The collector is stopped for OUTAGE_SECONDS, so the broker queues
RATE x OUTAGE readings for its session; then it starts again and the bench
times how long until everything published so far is stored. Reported with
the reference that decides whether a collector ever catches up: the offered
rate, and the drain rate it implies (backlog + new arrivals over the time).
Also the broker's memory per queued reading, which sizes the broker for a
long outage at national load (Mosquitto keeps queued messages in RAM).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psutil

from tests.bench.bench_collector import Collectors, count, services
from tests.services import wait_for
from tests.support import influx1_storage

PUBLISHER = r"""
import sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from tests.bench.bench_collector import SCHOOLS, payloads
port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
total, base = int(rate * seconds), time.time_ns() - 10**12
pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
pub.max_inflight_messages_set(1000)
pub.connect("127.0.0.1", port)
pub.loop_start()
start = time.monotonic()
for i in range(total):
    if i % len(SCHOOLS) == 0:  # one reading from every school, with fresh timestamps
        chunk = payloads(len(SCHOOLS), base + i)
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    pub.publish(*chunk[i % len(SCHOOLS)], qos=1)
    if i % 1000 == 999:
        print(i + 1, flush=True)
print(total, flush=True)
pub.disconnect()
"""


class Publisher:
    """The paced publisher; ``count`` is how many it has handed to the broker."""

    def __init__(self, port: int, rate: float, seconds: float) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(port), str(rate),
                                      str(seconds)], stdout=subprocess.PIPE, text=True)
        self.count = 0
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.count = int(line.split()[0])


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 4000
    outage = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    catchup_budget = 10 * outage
    with services() as (tmp, broker, db):
        db.create_db("catchup")
        collectors = Collectors(tmp, broker.port, influx1_storage(db.url, "catchup"),
                                workers, 1000, "catchup")
        collectors.start()
        collectors.stop()  # the session exists; from now on the broker queues for it
        mosquitto = psutil.Process(broker.proc.pid)
        rss_before = mosquitto.memory_info().rss
        pub = Publisher(broker.port, rate, outage + catchup_budget)
        wait_for(lambda: pub.count >= rate * outage, outage * 3, "outage backlog")
        backlog = pub.count
        rss_queued = mosquitto.memory_info().rss - rss_before
        start = time.monotonic()
        collectors.start()
        # stored == sent is checked from InfluxDB itself; it is also the end.
        while True:
            sent = pub.count
            if count(db, "catchup") >= sent:
                break
            collectors.sample()
            time.sleep(0.2)
            if time.monotonic() - start > catchup_budget:
                raise SystemExit(f"not caught up after {catchup_budget:.0f} s")
        took = time.monotonic() - start
        collectors.stop()
        pub.proc.kill()
        drain = sent / took  # the backlog plus what arrived while draining
        per_reading = rss_queued / max(backlog, 1)
        print(f"offered load {rate:,.0f} readings/s (paced publisher process); "
              f"collector processes: {workers}; outage {outage:.0f} s")
        print(f"backlog at restart: {backlog:,} readings; broker RSS grew "
              f"{rss_queued / 2**20:,.0f} MiB ({per_reading:,.0f} B per queued reading)")
        print(f"caught up after {took:.1f} s (incl. start-up); drain {drain:,.0f} readings/s "
              f"= {drain / rate:.1f}x the offered load; collector peak RSS "
              f"{collectors.peak_rss / 2**20:.0f} MiB")
        national, queued = 17_000, 17_000 * 60 * 10
        per_process = drain / workers
        print(f"at national load ({national:,}/s) a 10-minute outage queues {queued:,} "
              f"readings (~{queued * per_reading / 2**30:.1f} GiB of broker RAM); at this "
              "drain rate per process, catching up takes "
              + ", ".join(f"{n}: {queued / (n * per_process - national) / 60:.0f} min"
                          for n in (1, 2, 4) if n * per_process > national)
              + " (processes: minutes, given a core each)")

if __name__ == "__main__":
    main()
