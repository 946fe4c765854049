"""deploy/mosquitto/schoolnet.conf started for real, with accounts built from a registry.

Certificates come from deploy/mosquitto/make-certs.sh, the passwd files and
ACLs from collector.brokeraccess; only ports and directories are rewritten so
the broker listens on free loopback ports and keeps its files in a temp dir,
and information messages are logged so a test can tell when a reload began.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.contract.wire import Identity
from collector.brokeraccess import read_registry, write_accounts
from tests.deploy_support import REPO, write_registry
from tests.services import Service, free_port, wait_for

CERTS = REPO / "deploy/mosquitto/make-certs.sh"
RELOADING = "Reloading config."  # Mosquitto's information message as a SIGHUP is acted on


class DeployedBroker(Service):
    name = "mosquitto"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)  # self.port: the password TLS listener
        self.cert_port = free_port()
        self.local_port = free_port()
        conf = (REPO / "deploy/mosquitto/schoolnet.conf").read_text()
        conf = (conf.replace("/etc/mosquitto/schoolnet/", f"{workdir}/etc/")
                .replace("/var/lib/mosquitto/", f"{workdir}/data/")
                .replace("listener 8883\n", f"listener {self.port} 127.0.0.1\n")
                .replace("listener 8884\n", f"listener {self.cert_port} 127.0.0.1\n")
                .replace("listener 1883 127.0.0.1\n", f"listener {self.local_port} 127.0.0.1\n"))
        assert conf.count("127.0.0.1") == 3, "every listener must be moved to loopback"
        conf = conf.replace("log_type notice\n", "log_type notice\nlog_type information\n")
        assert "log_type information" in conf, "reload() waits for an information message"
        (workdir / "data").mkdir()
        shutil.chown(workdir / "data", "mosquitto")
        self.conf = workdir / "schoolnet.conf"
        self.conf.write_text(conf)

    def command(self) -> list[str]:
        return ["mosquitto", "-c", str(self.conf)]

    def ready(self) -> bool:
        # Mosquitto opens its listeners one after another: wait for all three,
        # not just the first, or the collector's may still refuse.
        for port in (self.port, self.cert_port, self.local_port):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) != 0:
                    return False
        return True

    def reload(self, timeout: float = 30.0) -> None:
        """SIGHUP, as systemctl reload sends it, and wait until the broker acts on it.

        Mosquitto takes the signal only when network activity or its 100 ms poll
        timeout wakes it, and re-reads its files after serving the connections that
        woke it: a login sent just after the signal can still be judged by the old
        crl.pem or passwd. It logs RELOADING and then reloads before it reads any
        socket again, so a login sent once that line is in the log meets the new files.
        """
        assert self.proc is not None
        before = self.log.read_text().count(RELOADING)
        self.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.log.read_text().count(RELOADING) > before, timeout,
                 "the broker's reload")


@dataclass
class Setup:
    broker: DeployedBroker
    etc: Path
    passwords: dict[str, str]


def make_certs(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """deploy/mosquitto/make-certs.sh as the README runs it."""
    return subprocess.run(["sh", str(CERTS), str(directory), *args], check=True,
                          capture_output=True, text=True, timeout=60)


@contextmanager
def deployed_broker(schools: list[str]) -> Iterator[Setup]:
    """The shipped broker config with accounts and certificates for these schools."""
    # Mosquitto drops root for its own user before reading its files, and
    # pytest's temp root is 0700: use a directory that user can traverse.
    work = Path(tempfile.mkdtemp(prefix="schoolnet-broker-", dir="/tmp"))
    work.chmod(0o755)
    etc = work / "etc"
    registry = write_registry(work / "schools.csv", schools)
    passwords = write_accounts(read_registry(registry), etc, "collector", group="mosquitto")
    for args in (["ca"], ["server", "localhost", "127.0.0.1"], ["clients", str(registry)]):
        make_certs(etc, *args)
    # A certificate for the first school from a CA the broker does not trust.
    make_certs(work / "rogue", "ca")
    make_certs(work / "rogue", "client", schools[0])
    # As the README tells the network centre: the TLS files root:mosquitto 0640.
    for path in [etc, etc / "server.key", etc / "server.crt", etc / "ca.crt"]:
        shutil.chown(path, group="mosquitto")
        path.chmod(0o750 if path.is_dir() else 0o640)
    broker = DeployedBroker(work)
    try:
        broker.start()
        yield Setup(broker, etc, passwords)
    finally:
        broker.stop()
        shutil.rmtree(work)


class Client:
    """A paho MQTT 5 client that records its CONNACK, PUBACKs, messages and hang-ups."""

    def __init__(self, port: int, client_id: str, ca: Path | None = None,
                 cert: tuple[Path, Path] | None = None, user: str = "",
                 password: str = "", clean_start: bool = True) -> None:
        self.connack: Any = None
        self.session_present: bool | None = None
        self.pubacks: dict[int, Any] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.disconnects: list[Any] = []  # reason codes of every hang-up, in order
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        if ca:
            self.client.tls_set(ca_certs=str(ca), certfile=str(cert[0]) if cert else None,
                                keyfile=str(cert[1]) if cert else None,
                                tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if user:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_publish = lambda c, u, mid, reason, p: self.pubacks.__setitem__(mid,
                                                                                        reason)
        self.client.on_message = self._on_message
        self.closed = threading.Event()
        self.client.on_disconnect = self._on_disconnect
        self.error: Exception | None = None
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600  # a persistent session, as agents and collector ask
        try:
            self.client.connect("127.0.0.1", port, clean_start=clean_start, properties=props)
        except (OSError, ssl.SSLError) as err:  # a TLS refusal can surface here
            self.error = err
            return
        self.client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    props: Any) -> None:
        self.session_present = bool(flags.session_present)
        self.connack = reason

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                       props: Any) -> None:
        self.disconnects.append(reason)
        self.closed.set()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def accepted(self, timeout: float = 20.0) -> bool:
        """True once the broker accepted the connection; False if it refused or hung up."""
        if self.error:
            return False
        try:
            wait_for(lambda: self.connack is not None or self.closed.is_set(), timeout,
                     "CONNACK or hang-up")
        except TimeoutError:
            return False
        return self.connack is not None and not self.connack.is_failure

    def publish(self, topic: str, body: dict[str, Any], retain: bool = False) -> Any:
        """Publish at QoS 1 and return the broker's PUBACK reason code."""
        info = self.client.publish(topic, json.dumps(body), qos=1, retain=retain)
        wait_for(lambda: info.mid in self.pubacks, 20, f"PUBACK for {topic}")
        return self.pubacks[info.mid]

    def subscribe(self, topic: str) -> None:
        """Subscribe at QoS 1 and wait for the SUBACK."""
        done = threading.Event()
        self.client.on_subscribe = lambda *args: done.set()
        self.client.subscribe(topic, qos=1)
        assert done.wait(20), f"no SUBACK for {topic}"

    def received(self, marker: str) -> list[str]:
        with self.lock:
            return [t for t, p in self.messages if marker.encode() in p]

    def close(self) -> None:
        if not self.error:
            self.client.disconnect()
            self.client.loop_stop()


def agent_once(setup: Setup, tmp: Path, school: Identity,
               mqtt: str = "") -> subprocess.CompletedProcess[str]:
    """``schoolnet-agent once --publish`` for a school logging in with its password on the
    TLS listener, as its config would read; ``mqtt``: more [mqtt] lines."""
    config = tmp / "agent.toml"
    config.write_text(f"""
[school]
id = "{school.school_id}"
province = "{school.province}"
city = "{school.city}"
county = "{school.county}"
[mqtt]
host = "localhost"
port = {setup.broker.port}
tls = true
ca_file = "{setup.etc / 'ca.crt'}"
username = "{school.school_id}"
password = "{setup.passwords[school.school_id]}"
{mqtt}
[agent]
state_dir = "{tmp / 'state'}"
[probes.wan_link]
interface = "lo"
sample_seconds = 0.1
""")
    return subprocess.run([sys.executable, "-m", "agent.cli", "once", "-c", str(config),
                           "--publish", "--timeout", "15"],
                          capture_output=True, text=True, timeout=60)


class Deployed(Protocol):
    """A deployed broker and the accounts made for it (Setup here, the hostile suite's Arena)."""

    broker: DeployedBroker
    passwords: dict[str, str]


def collector_toml(setup: Deployed, path: Path, client_id: str, influx_url: str, database: str,
                   mqtt: str = "", extra: str = "") -> Path:
    """The collector on the broker's loopback listener with its own account, storing into
    influxd; ``mqtt``: more [mqtt] lines, ``extra``: more [batch] lines and tables."""
    path.write_text(f"""
[mqtt]
host = "127.0.0.1"
port = {setup.broker.local_port}
username = "collector"
password = "{setup.passwords['collector']}"
client_id = "{client_id}"
{mqtt}
[storage]
kind = "influxdb1"
url = "{influx_url}"
database = "{database}"
[batch]
max_delay_seconds = 0.05
{extra}""", encoding="utf-8")
    return path
