"""Honest school B's receipt latency while hostile school A floods, with and
without the per-school bounds, against a baseline with no attacker measured
in the same run; and the collector's backlog drain with the bounds on and off
against mosquitto_sub's (bench_collector's harness).

    python -m tests.bench.bench_school_limits [SECONDS] [N]

B publishes one reading every 50 ms for SECONDS (default 15) and times each
receipt; A runs mosquitto_pub (a C client, as fast as one client can) in a
loop over readings, half of them with ``rx_bps`` as a string (what once made
influxd refuse whole batches). The collector runs as its own process with
``receipt_interval_seconds = 0.2``, so latency is not hidden by receipt
coalescing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.contract.reading import Reading
from agent.contract.wire import Identity, decode_receipt_full, encode
from tests.bench.bench_collector import (
    Collectors,
    c_client_drain,
    payloads,
    publish_all,
    services,
    wait_stored,
)
from tests.services import Influxd, Mosquitto
from tests.support import influx1_storage

A = Identity("37", "3701", "370102", "hostile-a")
B = Identity("37", "3701", "370102", "honest-b")
FLOOD_LINES = 50_000


def with_limits(collectors: Collectors, enabled: bool) -> Collectors:
    for path in collectors.configs:
        text = path.read_text().replace(
            "[mqtt]\n", "[mqtt]\nreceipt_interval_seconds = 0.2\n")
        path.write_text(text + f"\n[limits]\nenabled = {str(enabled).lower()}\n")
    return collectors


def flood_file(tmp: Path) -> Path:
    """One JSON reading per line, for ``mosquitto_pub -l``."""
    base = time.time_ns() - 3600 * 10**9
    lines = []
    for n in range(FLOOD_LINES):
        value: float | str = "1e9" if n % 2 else float(n)
        reading = Reading("wan_link", {"rx_bps": value, "result": "ok"}, {"iface": "eth0"},
                          base + n)
        lines.append(encode(A, reading, n + 1))
    path = tmp / "flood.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


class Attacker(threading.Thread):
    def __init__(self, port: int, lines: Path) -> None:
        super().__init__(daemon=True)
        self.port, self.lines = port, lines
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lines.open("rb") as lines:
                subprocess.run(["mosquitto_pub", "-p", str(self.port), "-q", "1", "-l",
                                "-t", A.topic("wan_link"), "-i", f"a-{self.sent}"],
                               stdin=lines, check=True, timeout=600)
            self.sent += FLOOD_LINES


class Honest:
    """B: one reading per 50 ms, each receipt timed."""

    def __init__(self, port: int) -> None:
        self.sent_at: dict[int, float] = {}
        self.latency: dict[int, float] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self.on_receipt
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(B.receipt_topic, qos=1)
        self.client.loop_start()

    def on_receipt(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        receipt = decode_receipt_full(bytes(msg.payload))
        with self.lock:
            for first, last in receipt.stored:
                for seq in range(first, last + 1):
                    if seq in self.sent_at and seq not in self.latency:
                        self.latency[seq] = now - self.sent_at[seq]

    def run(self, seconds: float) -> None:
        base = time.time_ns() - 600 * 10**9
        end = time.monotonic() + seconds
        seq = 0
        while time.monotonic() < end:
            seq += 1
            reading = Reading("wan_link", {"rx_bps": 1e6, "result": "ok"}, {"iface": "eth0"},
                              base + seq)
            with self.lock:
                self.sent_at[seq] = time.monotonic()
            self.client.publish(B.topic("wan_link"), encode(B, reading, seq), qos=1)
            time.sleep(0.05)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.latency) == len(self.sent_at):
                    return
            time.sleep(0.2)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stored(db: Influxd, name: str, school: str) -> int:
    rows = db.rows(f"SELECT count(rx_bps) FROM wan_link WHERE school = '{school}'", name)
    return int(rows[0]["count"]) if rows else 0


def scenario(tmp: Path, broker: Mosquitto, db: Influxd, run: int, seconds: float,
             bounds: bool, attack: Path | None) -> tuple[float, float, int, int, int]:
    name = f"l{run}"
    db.create_db(name)
    collectors = with_limits(Collectors(tmp, broker.port, influx1_storage(db.url, name), 1,
                                        1000, f"lim{run}"), bounds)
    collectors.start()
    honest = Honest(broker.port)
    attacker = Attacker(broker.port, attack) if attack else None
    if attacker:
        attacker.start()
    honest.run(seconds)
    if attacker:
        attacker.stop.set()
        attacker.join()
    honest.wait(180)
    honest.close()
    time.sleep(1.0)
    lat = sorted(honest.latency.values())
    p50 = statistics.median(lat) if lat else float("nan")
    p95 = lat[int(0.95 * (len(lat) - 1))] if lat else float("nan")
    b_stored = stored(db, name, B.school_id)
    a_stored = stored(db, name, A.school_id)
    collectors.stop()
    return p50, p95, b_stored, len(honest.sent_at), a_stored


def drain(tmp: Path, broker: Mosquitto, db: Influxd, n: int, run: int, bounds: bool) -> float:
    name = f"d{run}"
    db.create_db(name)
    collectors = with_limits(Collectors(tmp, broker.port, influx1_storage(db.url, name), 1,
                                        1000, f"drain{run}"), bounds)
    collectors.start()
    collectors.stop()  # the session persists; the backlog queues at the broker
    publish_all(broker.port, payloads(n, time.time_ns() - 10**12 + run * 10**9))
    collectors.start()
    rate = wait_stored(db, name, n, collectors)
    collectors.stop()
    return rate


def per_message_cost(n: int = 100_000) -> tuple[float, float]:
    """Seconds per message: the bounds' check (a flood past its bound) and,
    for reference, the validator's decode and schema check of the same."""
    from agent.contract.configschema import build
    from collector.config import Limits, Validation
    from collector.ingest.limits import SchoolBounds
    from collector.ingest.transport import Message
    from collector.ingest.validate import Validator

    messages = [Message(A.topic("wan_link"), encode(A, Reading(
        "wan_link", {"rx_bps": float(i), "result": "ok"}, {"iface": "eth0"},
        time.time_ns() - 10**9), i + 1)) for i in range(n)]
    bounds = SchoolBounds(build(Limits, {}), lambda ms: None, lambda s, r: None)
    deliver = bounds.filter(lambda ms: None)
    start = time.perf_counter()
    for i in range(0, n, 1000):
        deliver(messages[i:i + 1000])
    check = (time.perf_counter() - start) / n
    validator = Validator.from_config(build(Validation, {}))
    start = time.perf_counter()
    for m in messages:
        validator.check(m.topic, m.payload, m.received_ns)
    return check, (time.perf_counter() - start) / n


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 15.0
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 30000
    with services() as (tmp, broker, db), tempfile.TemporaryDirectory() as other:
        attack = flood_file(Path(other))
        print(f"B: one reading per 50 ms for {seconds:.0f} s; A: mosquitto_pub -l in a loop, "
              "half its readings with rx_bps as a string; 2 cores")
        base = scenario(tmp, broker, db, 1, seconds, True, None)
        print(f"{'scenario':<34} {'B p50 s':>8} {'B p95 s':>8} {'p50 x':>6} {'p95 x':>6} "
              f"{'B stored':>9} {'A stored':>9}")
        rows = [("baseline, no attacker", base)]
        for run, label, bounds in ((2, "A flooding, bounds off", False),
                                   (3, "A flooding, bounds on", True)):
            rows.append((label, scenario(tmp, broker, db, run, seconds, bounds, attack)))
        for label, (p50, p95, b_stored, b_sent, a_stored) in rows:
            print(f"{label:<34} {p50:>8.3f} {p95:>8.3f} {p50 / base[0]:>6.1f} "
                  f"{p95 / base[1]:>6.1f} {f'{b_stored}/{b_sent}':>9} {a_stored:>9}",
                  flush=True)
        bound, decode = per_message_cost()
        print(f"per message: the bounds' check {bound * 1e6:.2f} us, the validator's decode "
              f"and schema check {decode * 1e6:.2f} us ({bound / decode:.2f} of it)")
        # Drains alternate off/on with a fresh reference each round, as other
        # load on a shared machine moves all three together.
        off: list[float] = []
        on: list[float] = []
        for round_ in range(3):
            ref = c_client_drain(broker.port, n, payloads(n, time.time_ns() - (2 + round_)
                                                          * 10**12))
            for bounds, rates in ((False, off), (True, on)):
                run = 10 + 2 * round_ + bounds
                rates.append(drain(tmp, broker, db, n, run, bounds) / ref)
            print(f"round {round_ + 1}: mosquitto_sub drained a {n} QoS 1 backlog at "
                  f"{ref:,.0f} msg/s; the collector at {off[-1]:.3f} of that with the bounds "
                  f"off, {on[-1]:.3f} with them on", flush=True)
        print(f"median: bounds off {statistics.median(off):.3f}, on "
              f"{statistics.median(on):.3f} of mosquitto_sub")

if __name__ == "__main__":
    main()
