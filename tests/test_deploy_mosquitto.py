"""deploy/mosquitto/schoolnet.conf started for real (tests/broker_support.py): what
schools, the collector and its ingest can do through the generated ACLs."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.contract.configschema import build
from agent.contract.mqttconfig import MqttConfig
from agent.contract.wire import Identity
from collector.ingest.mqtt5 import LeanSubscriber
from collector.ingest.transport import Message
from tests.broker_support import Client, Setup, agent_once, collector_toml, deployed_broker
from tests.deploy_support import write_registry
from tests.services import Influxd, wait_for
from tests.support import running_collector

# Integration tier: real Mosquitto brokers with TLS and ACLs, influxd.
pytestmark = pytest.mark.integration

A, B = "370102-0001", "370102-0002"  # same county
C = "110101-0003"  # another province
TOPIC_A = f"schoolnet/v1/37/3701/370102/{A}/wan_link"
TOPIC_B = f"schoolnet/v1/37/3701/370102/{B}/wan_link"


@pytest.fixture(scope="module")
def deployed() -> Iterator[Setup]:
    with deployed_broker([A, B, C]) as setup:
        yield setup


@pytest.fixture(scope="module")
def collector_client(deployed: Setup) -> Iterator[Client]:
    client = Client(deployed.broker.local_port, "collector-test", user="collector",
                    password=deployed.passwords["collector"])
    assert client.accepted()
    client.subscribe("$share/collectors/schoolnet/v1/#")
    client.subscribe("schoolnet/deadletter/#")
    yield client
    client.close()


def test_password_login_publishes_only_under_its_own_topic(deployed: Setup,
                                                           collector_client: Client) -> None:
    # Another school listening to everything must hear nothing: schools only write.
    spy = Client(deployed.broker.port, "pw-spy", ca=deployed.etc / "ca.crt", user=B,
                 password=deployed.passwords[B])
    assert spy.accepted()
    spy.subscribe("#")
    school = Client(deployed.broker.port, "pw-a", ca=deployed.etc / "ca.crt", user=A,
                    password=deployed.passwords[A])
    assert school.accepted()
    assert not school.publish(TOPIC_A, {"m": "own-pw"}).is_failure
    # Another school's topic, and its own id under another region: both refused.
    assert school.publish(TOPIC_B, {"m": "other-pw"}).is_failure
    spoof = f"schoolnet/v1/11/1101/110101/{A}/wan_link"
    assert school.publish(spoof, {"m": "region-pw"}).is_failure
    wait_for(lambda: collector_client.received("own-pw"), 5, "the school's reading")
    school.close()
    spy.close()
    assert spy.messages == []
    assert collector_client.received("own-pw") == [TOPIC_A]
    assert collector_client.received("other-pw") == collector_client.received(
        "region-pw") == []


def test_wrong_password_and_unknown_user_are_refused(deployed: Setup) -> None:
    ca = deployed.etc / "ca.crt"
    for user, password in ((A, "not-the-password"), (A, deployed.passwords[B]),
                           ("nobody", "x")):
        client = Client(deployed.broker.port, f"bad-{user}", ca=ca, user=user,
                        password=password)
        assert not client.accepted(), user
        assert client.connack is not None and client.connack.is_failure
        client.close()
    anonymous = Client(deployed.broker.port, "anon", ca=ca)
    assert not anonymous.accepted()
    anonymous.close()


def test_certificate_login_uses_the_school_id(deployed: Setup,
                                              collector_client: Client) -> None:
    ca, clients = deployed.etc / "ca.crt", deployed.etc / "clients"
    school = Client(deployed.broker.cert_port, "cert-c", ca=ca,
                    cert=(clients / f"{C}.crt", clients / f"{C}.key"))
    assert school.accepted()
    topic_c = f"schoolnet/v1/11/1101/110101/{C}/wan_link"
    assert not school.publish(topic_c, {"m": "own-cert"}).is_failure
    assert school.publish(TOPIC_A, {"m": "other-cert"}).is_failure
    wait_for(lambda: collector_client.received("own-cert"), 5, "the school's reading")
    school.close()
    assert collector_client.received("other-cert") == []


def test_certificate_listener_refuses_without_a_trusted_certificate(deployed: Setup,
                                                                    tmp_path: Path) -> None:
    ca = deployed.etc / "ca.crt"
    no_cert = Client(deployed.broker.cert_port, "nocert", ca=ca, user=A,
                     password=deployed.passwords[A])
    assert not no_cert.accepted()
    no_cert.close()
    rogue = deployed.broker.workdir / "rogue/clients"
    forged = Client(deployed.broker.cert_port, "rogue", ca=ca,
                    cert=(rogue / f"{A}.crt", rogue / f"{A}.key"))
    assert not forged.accepted()
    forged.close()
    # Plain TCP to a TLS listener gets no MQTT session either.
    plain = Client(deployed.broker.port, "plain", user=A, password=deployed.passwords[A])
    assert not plain.accepted()
    plain.close()


def test_real_agent_publishes_over_tls(deployed: Setup, collector_client: Client,
                                       tmp_path: Path) -> None:
    """The agent's own config keys (tls, ca_file, username, password) against this broker."""
    out = agent_once(deployed, tmp_path, Identity("37", "3701", "370102", B))
    assert out.returncode == 0, out.stderr[-2000:]
    marker = f'"school_id":"{B}"'
    wait_for(lambda: TOPIC_B in collector_client.received(marker), 5, "agent readings")
    assert {t.rsplit("/", 1)[1] for t in collector_client.received(marker)} >= {
        "wan_link", "probe_run", "status"}


def test_passwords_survive_regeneration(deployed: Setup, tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "schools.csv", [A, B, C, "370102-0009"])
    out = tmp_path / "accounts"
    out.mkdir()
    shutil.copy(deployed.etc / "passwords.csv", out / "passwords.csv")
    # As the README runs it: the collector's broker-access command.
    done = subprocess.run([sys.executable, "-m", "collector.cli", "broker-access",
                           "--registry", str(registry), "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "4 schools:" in done.stdout
    with (out / "passwords.csv").open() as fh:
        again = {row["username"]: row["password"] for row in csv.DictReader(fh)}
    assert len(again) == 6  # the collector, one operator, four schools
    assert {k: again[k] for k in deployed.passwords} == deployed.passwords
    assert "370102-0009" in again
    for name in ("passwd", "collector.passwd", "acl", "collector.acl"):
        assert (out / name).stat().st_mode & 0o077 == 0, name
    assert "topic write schoolnet/v1/37/3701/370102/370102-0009/#" in (out / "acl").read_text()


def test_real_collector_behind_the_acl_stores_and_dead_letters(
        deployed: Setup, collector_client: Client, influxd: Influxd, database: str,
        tmp_path: Path) -> None:
    """The collector's account (loopback listener, shared subscription) reads every
    school and may publish dead letters; what a school sends lands in InfluxDB."""
    # The test client above is in the share group "collectors".
    config = collector_toml(deployed, tmp_path / "collector.toml", "collector-acl-test",
                            influxd.url, database, mqtt='share_group = "centre"')
    with running_collector(config):
        school = Client(deployed.broker.port, "pw-c", ca=deployed.etc / "ca.crt", user=C,
                        password=deployed.passwords[C])
        assert school.accepted()
        topic_c = f"schoolnet/v1/11/1101/110101/{C}/wan_link"
        good = {"v": 1, "school_id": C, "measurement": "wan_link", "ts": time.time_ns(),
                "seq": 1, "tags": {"iface": "eth0"}, "fields": {"rx_bps": 5.0e7,
                                                                "result": "ok"}}
        assert not school.publish(topic_c, good).is_failure
        # Claims another school in its payload: the collector rejects it and may
        # publish the dead letter under its own account.
        assert not school.publish(topic_c, {**good, "school_id": A, "seq": 2}).is_failure
        school.close()
        rows = wait_for(lambda: influxd.rows("SELECT rx_bps FROM wan_link", database), 10,
                        "stored reading")
        wait_for(lambda: any(t.startswith("schoolnet/deadletter/") for t, _ in
                             collector_client.messages), 10, "dead letter")
    assert rows == [{"time": good["ts"], "rx_bps": 5.0e7}]


def test_collector_ingest_over_tls_and_a_refused_login(deployed: Setup,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """The collector's own inbound connection (not paho) on the TLS password listener,
    here with the read-only operator account; the collector's own password is refused
    there, since its account exists only on its loopback listener."""
    cfg = build(MqttConfig, {"host": "localhost", "port": deployed.broker.port, "tls": True,
                             "ca_file": str(deployed.etc / "ca.crt"), "username": "operator",
                             "password": deployed.passwords["operator"]})
    got: list[Message] = []
    ingest = LeanSubscriber(cfg, "collector-tls", "schoolnet/v1/#", 100, got.extend)
    wrong = LeanSubscriber(replace(cfg, username="collector",
                                   password=deployed.passwords["collector"]),
                           "collector-wrong", "schoolnet/v1/#", 100, got.extend)
    ingest.start()
    wrong.start()
    try:
        wait_for(ingest.connected.is_set, 10, "TLS subscription")
        school = Client(deployed.broker.port, "tls-a", ca=deployed.etc / "ca.crt", user=A,
                        password=deployed.passwords[A])
        assert school.accepted()
        assert not school.publish(TOPIC_A, {"marker": "over-tls"}).is_failure
        school.close()
        wait_for(lambda: any(b"over-tls" in m.payload for m in got), 10, "message over TLS")
        assert got[-1].topic == TOPIC_A and got[-1].qos == 1
        wait_for(lambda: "broker refused the collector" in caplog.text, 10, "refusal logged")
        assert "user name or password" in caplog.text or "authorized" in caplog.text
        assert not wrong.connected.is_set()
    finally:
        ingest.stop()
        wrong.stop()


def test_collector_deletes_a_schools_retained_reading_behind_the_acl(
        deployed: Setup, influxd: Influxd, database: str, tmp_path: Path) -> None:
    """The ACL lets the collector's account delete what a school retained (only its
    status may stay), here with a shared subscription as several processes use."""
    config = collector_toml(deployed, tmp_path / "collector.toml", "collector-retain-test",
                            influxd.url, database, mqtt='share_group = "retain"')
    prefix = f"schoolnet/v1/11/1101/110101/{C}"
    with running_collector(config) as collector:
        school = Client(deployed.broker.port, "pw-c-retain", ca=deployed.etc / "ca.crt",
                        user=C, password=deployed.passwords[C])
        assert school.accepted()
        for name in ("status", "wan_link", "anything"):
            school.publish(f"{prefix}/{name}", {"marker": "retained"}, retain=True)
        school.close()
        wait_for(lambda: collector.retained.cleared == 2, 10, "retained readings cleared")

        def held() -> list[str]:
            probe = Client(deployed.broker.local_port, "retain-probe", user="collector",
                           password=deployed.passwords["collector"])
            assert probe.accepted()
            probe.subscribe(f"{prefix}/#")
            time.sleep(0.5)
            probe.close()
            return sorted(t for t, _ in probe.messages)

        wait_for(lambda: held() == [f"{prefix}/status"], 10, "only the status retained")
