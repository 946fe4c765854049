"""Collector throughput, steady and after an outage, against the broker's own
C clients and influxd's raw ingest measured in the same run.

    python -m tests.bench.bench_collector [N]

Each row: readings/s stored in InfluxDB (QoS 1, acked after the write),
collector peak RSS, and the ratio to the reference.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from tests.services import Influxd, Mosquitto
from tests.support import collector_toml, influx1_storage

SCHOOLS = [Identity("37", "3701", f"3701{c:02d}", f"s{c:02d}{i:04d}")
           for c in range(10) for i in range(200)]


def payloads(n: int, base_ns: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        school = SCHOOLS[i % len(SCHOOLS)]
        reading = Reading("wan_link", {"rx_bps": float(i), "tx_bps": 1e6, "link_speed_mbps": 1000,
                                       "result": "ok"}, {"iface": "eth0"}, base_ns + i)
        out.append((school.topic("wan_link"), encode(school, reading, i + 1)))
    return out


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> float:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(2000)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    start = time.monotonic()
    # Message ids are 16 bits: wait for each 50,000 before reusing them.
    for i in range(0, len(messages), 50000):
        infos = [pub.publish(t, p, qos=1) for t, p in messages[i:i + 50000]]
        for info in infos:
            info.wait_for_publish(120)
    took = time.monotonic() - start
    pub.disconnect()
    pub.loop_stop()
    return len(messages) / took


def count(db: Influxd, name: str) -> int:
    rows = db.rows("SELECT count(rx_bps) FROM wan_link", name)
    return int(rows[0]["count"]) if rows else 0


class Collectors:
    def __init__(self, tmp: Path, port: int, storage: str, n: int, receive_max: int,
                 group: str, transport: str = "lean") -> None:
        extra = ("[logging]\nstats_interval_seconds = 3600\n")
        self.configs = []
        for i in range(n):
            path = collector_toml(tmp, port, storage, f"bench-{group}-{i}", extra)
            text = path.read_text().replace(
                "[mqtt]\n", f"[mqtt]\nreceive_maximum = {receive_max}\n"
                f'transport = "{transport}"\n'
                + (f'share_group = "{group}"\n' if n > 1 else ""))
            path.write_text(text.replace("max_delay_seconds = 0.05", "max_delay_seconds = 0.1"))
            self.configs.append(path)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.peak_rss = 0

    def start(self) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-m", "collector.cli", "run", "-c",
                                        str(c)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL) for c in self.configs]
        time.sleep(1.5)

    def sample(self) -> None:
        for p in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.peak_rss = max(self.peak_rss, psutil.Process(p.pid).memory_info().rss)

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(30)


def wait_stored(db: Influxd, name: str, n: int, collectors: Collectors,
                start: float | None = None) -> float:
    """Readings/s from ``start``, or for a backlog from the first stored batch
    to the last: process start-up (interpreter, imports, connect) is not drain
    time."""
    first = (start or 0.0, 0)
    while True:
        collectors.sample()
        stored = count(db, name)
        now = time.monotonic()
        if stored and not first[0]:
            first = (now, stored)
        if stored >= n:
            if first[1] >= n:
                raise SystemExit(f"{n} readings drained between two samples: use a larger N")
            return (n - first[1]) / max(now - first[0], 1e-6)
        time.sleep(0.1)


def raw_ingest(db: Influxd, n: int) -> float:
    db.create_db("raw")
    lines = [f"wan_link,school=s{i % 2000} rx_bps={i}.0 {1_700_000_000_000_000_000 + i}"
             for i in range(n)]
    start = time.monotonic()
    for i in range(0, n, 5000):
        body = "\n".join(lines[i:i + 5000]).encode()
        req = urllib.request.Request(f"{db.url}/write?db=raw&precision=ns", body, method="POST")
        urllib.request.urlopen(req, timeout=30).read()
    return n / (time.monotonic() - start)


def c_client_drain(port: int, n: int, messages: list[tuple[str, bytes]]) -> float:
    """mosquitto_sub draining the same backlog: the broker's own reference."""
    args = ["mosquitto_sub", "-p", str(port), "-q", "1", "-t", "schoolnet/v1/#", "-c",
            "-i", "c-ref", "-V", "mqttv311"]
    # Create the session. mosquitto_sub 2.0.11 now and then wedges as its -W
    # timer fires (seen: asleep 16 minutes, deaf to SIGTERM), so it is
    # killed after a while and run once more; the session is made on connect.
    for attempt in (1, 2):
        try:
            subprocess.run([*args, "-W", "1"], capture_output=True, timeout=20)
            break
        except subprocess.TimeoutExpired:
            if attempt == 2:
                raise
    publish_all(port, messages)
    start = time.monotonic()
    subprocess.run([*args, "-C", str(n)], stdout=subprocess.DEVNULL, check=True, timeout=300)
    return n / (time.monotonic() - start)


@contextlib.contextmanager
def services() -> Iterator[tuple[Path, Mosquitto, Influxd]]:
    """A broker and an influxd in a temp dir, for one benchmark run."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        with Mosquitto(tmp / "broker").running() as broker, \
                Influxd(tmp / "influxd").running() as db:
            yield tmp, broker, db


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30000
    with services() as (tmp, broker, db):
        print(f"{n} readings per run; 2,000 schools; 2 cores")
        print(f"reference: influxd raw line protocol, 5,000-line batches: "
              f"{raw_ingest(db, n):,.0f} points/s")
        base = time.time_ns() - 10**12
        ref = c_client_drain(broker.port, n, payloads(n, base))
        print(f"reference: mosquitto_sub (C) draining a {n} QoS 1 backlog: {ref:,.0f} msg/s")
        print(f"{'scenario':<44} {'stored/s':>10} {'vs C drain':>11} {'peak RSS MiB':>13}")
        run_id = 0
        for label, procs, rmax, transport in (
                ("1 collector, receive_maximum 20", 1, 20, "lean"),
                ("1 collector, receive_maximum 1000", 1, 1000, "lean"),
                ("1 collector, paho transport, rmax 1000", 1, 1000, "paho"),
                ("2 collectors, $share group, rmax 1000", 2, 1000, "lean")):
            for mode in ("steady", "backlog"):
                run_id += 1
                name = f"b{run_id}"
                db.create_db(name)
                group = f"g{run_id}"
                collectors = Collectors(tmp, broker.port, influx1_storage(db.url, name),
                                        procs, rmax, group, transport)
                messages = payloads(n, base + run_id * 10**9)
                collectors.start()
                start = None
                if mode == "backlog":
                    collectors.stop()  # sessions persist; readings queue at the broker
                    publish_all(broker.port, messages)
                    collectors.start()
                else:
                    start = time.monotonic()
                    sent = publish_all(broker.port, messages)
                rate = wait_stored(db, name, n, collectors, start)
                collectors.stop()
                note = f"  (publisher sent {sent:,.0f}/s)" if mode == "steady" else ""
                print(f"{label + ', ' + mode:<44} {rate:>10,.0f} {rate / ref:>11.2f} "
                      f"{collectors.peak_rss / 2**20:>13.1f}{note}", flush=True)


if __name__ == "__main__":
    main()
