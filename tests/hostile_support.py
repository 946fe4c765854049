"""The shipped broker (TLS, per-school ACL from ``broker-access``), honest schools
B and C and a hostile school A with its own valid account: shared by the
hostile-school suite and its benchmark.

The registry is constructed (invented ids and names): A and B in one county,
C in another province, so a county's roll-up holds a hostile school beside an
honest one.
"""

from __future__ import annotations

import csv
import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode, encode_status
from tests.broker_support import DeployedBroker, collector_toml
from tests.deploy_support import REPO, write_registry
from tests.services import wait_for

A, B, C = "370102-0001", "370102-0002", "110101-0003"
IDS = {A: Identity("37", "3701", "370102", A), B: Identity("37", "3701", "370102", B),
       C: Identity("11", "1101", "110101", C)}
HONEST = (B, C)


@dataclass
class Arena:
    broker: DeployedBroker
    etc: Path
    registry: Path
    passwords: dict[str, str]
    work: Path


@contextmanager
def arena() -> Iterator[Arena]:
    """The deployed broker with accounts made by the collector's own command."""
    # Mosquitto drops root for its own user, which must traverse this directory.
    work = Path(tempfile.mkdtemp(prefix="schoolnet-hostile-", dir="/tmp"))
    work.chmod(0o755)
    etc = work / "etc"
    registry = write_registry(work / "schools.csv", [A, B, C])
    done = subprocess.run([sys.executable, "-m", "collector.cli", "broker-access",
                           "--registry", str(registry), "--out", str(etc),
                           "--group", "mosquitto"], capture_output=True, text=True,
                          timeout=300, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    with (etc / "passwords.csv").open(encoding="utf-8", newline="") as fh:
        passwords = {row["username"]: row["password"] for row in csv.DictReader(fh)}
    certs = REPO / "deploy/mosquitto/make-certs.sh"
    for args in (["ca"], ["server", "localhost", "127.0.0.1"]):
        subprocess.run(["sh", str(certs), str(etc), *args], check=True, timeout=60,
                       capture_output=True)
    for path in [etc, etc / "server.key", etc / "server.crt", etc / "ca.crt"]:
        shutil.chown(path, group="mosquitto")
        path.chmod(0o750 if path.is_dir() else 0o640)
    broker = DeployedBroker(work)
    try:
        broker.start()
        yield Arena(broker, etc, registry, passwords, work)
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def collector_config(where: Arena, path: Path, database: str, influx_url: str,
                     client_id: str = "collector-hostile", byte_bound: bool = False) -> Path:
    """The collector on the broker's loopback listener with its own account
    (``byte_bound``: the shipped per-school byte bound, else one above the attacks)."""
    limits = "" if byte_bound else f"[limits]\nbytes_per_minute = {256 * 1024 * 1024}"
    return collector_toml(where, path, client_id, influx_url, database,
                          mqtt="receipt_interval_seconds = 0.05", extra=f"""max_backoff_seconds = 1
[registry]
file = "{where.registry}"
[targets]
file = "{REPO / 'configs/targets.toml'}"
evaluate_interval_seconds = 86400
[alerts]
state_file = "{path.with_suffix('.alerts.json')}"
# Each attack here is checked against the defence meant for it (schema, ACL,
# registry, retained guard) with its own reason; the per-school bounds that
# would otherwise cut A's 24 MB of floods short are proved by test_school_bounds.py.
{limits}
""")


class SchoolClient:
    """A school's MQTT 5 connection over TLS with its password; records its
    PUBACK reason codes and the receipts (with arrival time) it may read."""

    def __init__(self, where: Arena, school: str, client_id: str = "") -> None:
        self.identity = IDS[school]
        self.receipts: list[tuple[float, dict[str, Any]]] = []
        self.foreign: list[str] = []  # anything that is not its own receipt
        self.pubacks: dict[int, Any] = {}
        self.sent = 0
        self.subacks: list[Any] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or school,
                                  protocol=mqtt.MQTTv5)
        self.client.tls_set(ca_certs=str(where.etc / "ca.crt"),
                            tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.username_pw_set(school, where.passwords[school])
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.subacks.extend(codes)
        self.client.connect("127.0.0.1", where.broker.port)
        self.client.loop_start()
        wait_for(self.client.is_connected, 20, f"{school} connected")
        self.subscribe(self.identity.receipt_topic)

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        with self.lock:
            self.pubacks[mid] = reason

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            if msg.topic == self.identity.receipt_topic:
                self.receipts.append((time.monotonic(), json.loads(msg.payload)))
            else:
                self.foreign.append(msg.topic)

    def subscribe(self, topic: str) -> Any:
        before = len(self.subacks)
        # After a refused publish the broker hangs up and paho reconnects.
        wait_for(lambda: self.client.is_connected() and
                 self.client.subscribe(topic, qos=1)[0] == mqtt.MQTT_ERR_SUCCESS, 20,
                 f"SUBSCRIBE to {topic}")
        wait_for(lambda: len(self.subacks) > before, 10, f"SUBACK for {topic}")
        return self.subacks[-1]

    def publish(self, topic: str, payload: bytes, retain: bool = False,
                wait: bool = True) -> Any:
        """Publish at QoS 1; with ``wait``, the broker's PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        self.sent += 1
        if not wait:
            return None
        wait_for(lambda: info.mid in self.pubacks, 30, f"PUBACK for {topic[:80]}")
        with self.lock:
            return self.pubacks[info.mid]

    def send(self, reading: Reading, seq: int, wait: bool = True) -> Any:
        return self.publish(self.identity.topic(reading.measurement),
                            encode(self.identity, reading, seq), wait=wait)

    def online(self, version: str = "1.0") -> Any:
        return self.publish(self.identity.status_topic,
                     encode_status(self.identity, "online", time.time_ns(), version), retain=True)

    def receipt_times(self) -> dict[int, float]:
        """When a receipt first said each seq was stored (time.monotonic())."""
        first: dict[int, float] = {}
        with self.lock:
            for at, r in self.receipts:
                for f, last in r["ranges"]:
                    for s in range(f, last + 1):
                        first.setdefault(s, at)
        return first

    def receipted(self) -> set[int]:
        """Every seq a receipt said was stored."""
        with self.lock:
            return {s for _, r in self.receipts for f, last in r["ranges"]
                    for s in range(f, last + 1)}

    def refused(self) -> dict[str, int]:
        with self.lock:
            out: dict[str, int] = {}
            for _, r in self.receipts:
                for reason, ranges in r.get("refused", {}).items():
                    out[reason] = out.get(reason, 0) + sum(b - a + 1 for a, b in ranges)
            return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def honest_reading(school: str, i: int, t0: int) -> Reading:
    """School B meets every target, C misses most and its Wi-Fi probe fails:
    the i-th of a school's readings, at a fixed time so two runs store the same."""
    good = school == B
    ts = t0 + i * 10**9
    kind = i % 6
    if kind == 0:
        return Reading("wan_throughput", {"download_bps": 950e6 if good else 80e6,
                                          "upload_bps": 500e6 if good else 20e6,
                                          "result": "ok"}, {"method": "http", "server": "centre"},
                       ts)
    if kind == 1:
        return Reading("wan_link", {"link_speed_mbps": 1000.0, "rx_bps": i * 1e6,
                                    "result": "ok"}, {"iface": "eth0"}, ts)
    if kind == 2:
        return Reading("ipv6", {"level": 4 if good else 1, "result": "ok"}, {}, ts)
    if kind == 3:
        return Reading("wifi_coverage", {"coverage_share": 1.0 if good else 0.5,
                                         "required_areas": 4, "covered_areas": 4 if good else 2,
                                         "result": "ok"}, {}, ts)
    if kind == 4:
        return Reading("probe_run", {"duration_seconds": 0.5, "readings": 1,
                                     "result": "ok" if good else "error"}, {"probe": "wifi"}, ts)
    return Reading("classroom_link", {"link_speed_mbps": 1000.0 if good else 100.0,
                                      "oper_up": True, "result": "ok"},
                   {"classroom": f"c{i % 12}", "switch": "sw1", "port": f"ge{i % 12}"}, ts)


HONEST_MEASUREMENTS = "wan_throughput, wan_link, ipv6, wifi_coverage, probe_run, classroom_link"


class Watcher:
    """The collector's account on the loopback listener, recording what arrives
    on a topic filter (alerts; retained messages a restarted collector would get)."""

    def __init__(self, where: Arena, topic: str, client_id: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set("collector", where.passwords["collector"])
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect("127.0.0.1", where.broker.local_port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        wait_for(self.subscribed.is_set, 10, f"subscribed to {topic}")

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_under(where: Arena, school: str) -> list[str]:
    """What the broker keeps retained under a school's subtree, as a fresh
    subscriber (a restarted collector) is handed it."""
    watcher = Watcher(where, IDS[school].prefix + "/#", f"retained-{time.monotonic_ns()}")
    time.sleep(1.0)  # retained messages follow the SUBACK at once
    watcher.close()
    return [t for t, _, retained in watcher.messages if retained]
