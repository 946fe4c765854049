"""Config builders and helpers for tests that run the agent and the collector for real."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from collector import config as collector_config
from collector.service import Collector
from tests.deploy_support import REGISTRY_HEADER, REPO
from tests.services import wait_for

SCHOOL = {"id": "370102-0001", "province": "37", "city": "3701", "county": "370102"}
# The smallest valid agent config: one school, a broker; probes are appended.
AGENT_HEAD = """[school]
id = "370102-0001"
province = "37"
city = "3701"
county = "370102"

[mqtt]
host = "127.0.0.1"
"""


def agent_toml(tmp: Path, port: int, probes: str = "", school: dict[str, str] | None = None,
               client_id: str = "") -> Path:
    s = {**SCHOOL, **(school or {})}
    path = tmp / "agent.toml"
    path.write_text(f"""
[school]
id = "{s['id']}"
province = "{s['province']}"
city = "{s['city']}"
county = "{s['county']}"
[mqtt]
host = "127.0.0.1"
port = {port}
tls = false
client_id = "{client_id}"
[agent]
state_dir = "{tmp / 'state'}"
{probes}
""", encoding="utf-8")
    return path


def collector_toml(tmp: Path, port: int, storage: str, client_id: str,
                   extra: str = "") -> Path:
    path = tmp / f"collector-{client_id}.toml"
    path.write_text(f"""
[mqtt]
host = "127.0.0.1"
port = {port}
client_id = "{client_id}"
[storage]
{storage}
[batch]
max_delay_seconds = 0.05
max_backoff_seconds = 1
{extra}
""", encoding="utf-8")
    return path


def influx1_storage(url: str, db: str) -> str:
    return f'kind = "influxdb1"\nurl = "{url}"\ndatabase = "{db}"'


def registry_file(path: Path, rows: list[str]) -> Path:
    """A school registry CSV: the header, then one CSV line a school."""
    path.write_text(REGISTRY_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def judging_toml(tmp: Path, port: int, storage: str, client_id: str, registry: Path,
                 targets: str = "", extra: str = "") -> Path:
    """A collector config that judges: the school registry and the shipped targets
    (``targets``: more [targets] lines), then ``extra`` tables."""
    return collector_toml(tmp, port, storage, client_id, f"""
[registry]
file = "{registry}"
[targets]
file = "{REPO / 'configs/targets.toml'}"
{targets}
{extra}""")


class Hook(http.server.BaseHTTPRequestHandler):
    """A webhook endpoint (apprise's json:// channel posts here): keeps every body."""

    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Hook.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def webhook_server() -> Iterator[int]:
    """A local HTTP endpoint recording into Hook.bodies (emptied first); yields its port."""
    Hook.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


@contextmanager
def running_collector(path: Path) -> Iterator[Collector]:
    """The real collector, in this process so tests can read its counters."""
    collector = Collector(collector_config.load(path))
    worker = collector.start()
    try:
        wait_for(collector.connected.is_set, 10, "collector subscription")  # SUBACK seen
        yield collector
    finally:
        collector.stop(worker)


class Listener:
    """A plain MQTT subscriber that records what arrives on a topic filter."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        time.sleep(0.2)

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for _, p, _ in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publisher_client(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client
