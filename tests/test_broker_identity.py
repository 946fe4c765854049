"""Broker identities against the shipped Mosquitto config (tests/broker_support.py):
client ids bound to the login, separate collector / operator / school accounts on
separate listeners, and certificate revocation."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from collector import config as collector_config
from collector.config import secret_group
from tests.broker_support import (
    CERTS,
    Client,
    Setup,
    agent_once,
    collector_toml,
    deployed_broker,
    make_certs,
)
from tests.deploy_support import write_registry
from tests.services import Influxd, wait_for

# Integration tier: a real Mosquitto with the generated accounts and certificates.
pytestmark = pytest.mark.integration

A, B, C = "370102-0001", "370102-0002", "110101-0003"
ID_A, ID_B = (Identity("37", "3701", "370102", s) for s in (A, B))
ID_C = Identity("11", "1101", "110101", C)
COLLECTOR_ID = "schoolnet-collector"  # the client id in configs/collector.example.toml


@pytest.fixture(scope="module")
def deployed() -> Iterator[Setup]:
    with deployed_broker([A, B, C]) as setup:
        yield setup


def collector(setup: Setup, clean_start: bool = False) -> Client:
    client = Client(setup.broker.local_port, COLLECTOR_ID, user="collector",
                    password=setup.passwords["collector"], clean_start=clean_start)
    assert client.accepted(), (client.connack, client.disconnects, client.error,
                               setup.broker.log.read_text()[-1500:])
    return client


def school(setup: Setup, user: str, client_id: str, clean_start: bool = True) -> Client:
    client = Client(setup.broker.port, client_id, ca=setup.etc / "ca.crt", user=user,
                    password=setup.passwords[user], clean_start=clean_start)
    assert client.accepted(), client.connack
    return client


def cert_school(setup: Setup, school_id: str, client_id: str) -> Client:
    clients = setup.etc / "clients"
    return Client(setup.broker.cert_port, client_id, ca=setup.etc / "ca.crt",
                  cert=(clients / f"{school_id}.crt", clients / f"{school_id}.key"))


def test_a_school_cannot_take_over_the_collectors_or_another_schools_session(
        deployed: Setup) -> None:
    col = collector(deployed)
    col.subscribe("schoolnet/v1/#")
    b = school(deployed, B, f"schoolnet-agent-{B}", clean_start=False)
    b.subscribe(ID_B.receipt_topic)
    # School A, with its own valid credentials, claims the collector's and B's client
    # ids, on both school listeners, again and again, asking for a clean start.
    for n in range(10):
        for claimed in (COLLECTOR_ID, B, f"schoolnet-agent-{B}"):
            hostile = school(deployed, A, claimed)
            assert hostile.session_present is False  # never handed anyone's session
            hostile.close()
        by_cert = cert_school(deployed, A, COLLECTOR_ID)
        assert by_cert.accepted() and by_cert.session_present is False
        by_cert.close()
        for i in range(4):
            assert not b.publish(ID_B.topic("wan_link"), {"m": f"live-{n}-{i}"}).is_failure
    wait_for(lambda: len(col.received("live-")) == 40, 30, "B's 40 readings")
    assert col.disconnects == [] and b.disconnects == []
    broker_log = deployed.broker.log.read_text()
    assert f"Client {COLLECTOR_ID} already connected" not in broker_log
    assert f"Client {B} already connected" not in broker_log

    # Both go offline with readings / a receipt queued for their sessions; A's
    # clean-start claims must not wipe either queue.
    col.close()
    b.close()
    # (C sends: a second login as B would be B's own session, by design.)
    sender = school(deployed, C, "sender")
    for i in range(5):
        assert not sender.publish(ID_C.topic("wan_link"), {"m": f"queued-{i}"}).is_failure
    sender.close()
    receipts = Client(deployed.broker.local_port, "receipt-writer", user="collector",
                      password=deployed.passwords["collector"])
    assert receipts.accepted()
    assert not receipts.publish(ID_B.receipt_topic, {"m": "receipt-for-b"}).is_failure
    receipts.close()
    for claimed in (COLLECTOR_ID, B, f"schoolnet-agent-{B}"):
        # Resuming: a resumed session's queue is sent before the SUBACK, so by then
        # anything A was handed has arrived. Then a clean start, which would wipe it.
        for clean_start in (False, True):
            hostile = school(deployed, A, claimed, clean_start=clean_start)
            hostile.subscribe(ID_A.receipt_topic)
            hostile.close()
            assert hostile.received("queued-") == hostile.received("receipt-for-b") == []
    col = collector(deployed)
    b = school(deployed, B, f"schoolnet-agent-{B}", clean_start=False)
    try:
        assert col.session_present and b.session_present
        wait_for(lambda: len(col.received("queued-")) == 5, 30, "the collector's backlog")
        wait_for(lambda: b.received("receipt-for-b"), 30, "B's queued receipt")
    finally:
        col.close()
        b.close()


def test_the_agent_connects_whatever_client_id_it_is_configured_with(
        deployed: Setup, tmp_path: Path) -> None:
    """client_id in agent.toml no longer names the session: the broker uses the
    school's username, so even the collector's id is harmless."""
    col = collector(deployed)
    col.subscribe("schoolnet/v1/#")
    out = agent_once(deployed, tmp_path, ID_B,
                     mqtt=f'client_id = "{COLLECTOR_ID}"\nreceipts = false')
    assert out.returncode == 0, out.stderr[-2000:]
    wait_for(lambda: ID_B.topic("wan_link") in col.received(f'"school_id":"{B}"'), 30,
             "the agent's reading")
    assert col.disconnects == []
    col.close()


def test_collector_operator_and_school_accounts_are_kept_apart(deployed: Setup) -> None:
    ca = deployed.etc / "ca.crt"
    refused = [
        # The collector's password on the school-facing TLS listener.
        Client(deployed.broker.port, "c-on-tls", ca=ca, user="collector",
               password=deployed.passwords["collector"]),
        # Operators and schools on the collector's listener.
        Client(deployed.broker.local_port, "op-local", user="operator",
               password=deployed.passwords["operator"]),
        Client(deployed.broker.local_port, "a-local", user=A, password=deployed.passwords[A]),
    ]
    for client in refused:
        assert not client.accepted()
        assert client.connack is not None and client.connack.is_failure
        client.close()

    col = collector(deployed, clean_start=True)
    col.subscribe("schoolnet/#")
    operator = school(deployed, "operator", "dashboard")
    for topic in ("schoolnet/v1/#", "schoolnet/alerts/#", "schoolnet/deadletter/#"):
        operator.subscribe(topic)
    a = school(deployed, A, "a")
    assert not a.publish(ID_A.topic("wan_link"), {"m": "reading-for-all"}).is_failure
    assert not col.publish("schoolnet/alerts/370102", {"m": "alert-for-all"}).is_failure
    assert not col.publish("schoolnet/deadletter/schema", {"m": "dead-for-all"}).is_failure
    for marker in ("reading-for-all", "alert-for-all", "dead-for-all"):
        wait_for(lambda m=marker: operator.received(m), 30, f"operator reads {marker}")
    # Read-only: every publish the operator tries is refused and reaches nobody.
    for topic in (ID_A.topic("wan_link"), "schoolnet/alerts/370102",
                  "schoolnet/deadletter/schema", ID_A.receipt_topic):
        assert operator.publish(topic, {"m": "forged-by-operator"}).is_failure, topic
    assert not a.publish(ID_A.topic("wan_link"), {"m": "after"}).is_failure
    wait_for(lambda: col.received("after"), 30, "a later reading")
    assert col.received("forged-by-operator") == []
    for client in (col, operator, a):
        client.close()


def test_a_revoked_certificate_is_refused_and_others_still_connect(deployed: Setup) -> None:
    make_certs(deployed.etc, "client", B)  # a fresh certificate for B, then revoke it
    held = cert_school(deployed, B, "b-cert")
    assert held.accepted()
    done = make_certs(deployed.etc, "revoke", B)
    assert f"school {B}: certificate" in done.stdout and "revoked" in done.stdout
    assert "restart" in done.stdout
    again = make_certs(deployed.etc, "revoke", B)
    assert "already revoked" in again.stdout
    # As the config's comments say: a reload re-reads crl.pem and refuses new logins...
    # Every login with B's certificate gets client id B, so one let in before the
    # reload would take the held connection over: log in as B only once it is done.
    deployed.broker.reload()
    assert not _connects(deployed, B)
    assert _connects(deployed, C)
    # ... a connection open from before survives it, and a restart ends that too.
    assert held.disconnects == [] and held.client.is_connected()
    deployed.broker.stop()
    wait_for(lambda: held.disconnects, 30, "the held connection's end")
    deployed.broker.start()
    assert not _connects(deployed, B)
    assert _connects(deployed, C)
    # The certificate for B was revoked, not B: its password login still works.
    school(deployed, B, "b-pw").close()
    held.close()


def _connects(setup: Setup, school_id: str) -> bool:
    client = cert_school(setup, school_id, f"{school_id}-cert")
    try:
        return client.accepted()
    finally:
        client.close()


def test_revoke_says_what_is_missing(deployed: Setup, tmp_path: Path) -> None:
    def run(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(CERTS), str(directory), *args],
                              capture_output=True, text=True, timeout=60)

    unknown = run(deployed.etc, "revoke", "no-such-school")
    assert unknown.returncode == 2
    assert "no certificate for school no-such-school" in unknown.stderr
    # A path is not a school id: it cannot make the script revoke the CA itself.
    outside = run(deployed.etc, "revoke", "../ca")
    assert outside.returncode == 2 and "bad school id: ../ca" in outside.stderr
    # Where ca.key is not (the broker host, once it is kept offline).
    broker_copy = tmp_path / "broker"
    broker_copy.mkdir()
    (broker_copy / "ca.crt").write_bytes((deployed.etc / "ca.crt").read_bytes())
    no_key = run(broker_copy, "revoke", A)
    assert no_key.returncode == 2
    assert "run this where the CA key is kept" in no_key.stderr


@contextmanager
def collector_process(config: Path, name: str, log: Path) -> Iterator[None]:
    """``schoolnet-collector run --instance NAME``, as schoolnet-collector@NAME runs it."""
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "run", "-c",
                                 str(config), "--instance", name], stdout=out, stderr=out)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-2000:]


def test_collector_instances_share_one_account_on_their_listener(
        deployed: Setup, influxd: Influxd, database: str, tmp_path: Path) -> None:
    """Client ids are not bound on the collector's listener: its instances
    (<client_id>-1, -2 and their -out connections) log in with one account side by
    side, split the readings and store them all."""
    config = collector_toml(deployed, tmp_path / "collector.toml", "instances-test",
                            influxd.url, database)
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    base = time.time_ns() - 10**11
    with collector_process(config, "1", logs[0]), collector_process(config, "2", logs[1]):
        # The group is named from the collector's password, so no school can join it.
        group = secret_group(collector_config.load(config).mqtt)
        assert group.startswith("instances-test-") and deployed.passwords["collector"] not in group
        for log in logs:
            wait_for(lambda log=log: f"subscribed to $share/{group}/" in log.read_text(),
                     60, "instance subscribed")
        sender = school(deployed, C, "c")
        for n in range(40):
            reading = Reading("wan_link", {"rx_bps": float(n), "result": "ok"}, {}, base + n)
            sender.client.publish(ID_C.topic("wan_link"), encode(ID_C, reading, n + 1), qos=1)
        count = "SELECT count(rx_bps) FROM wan_link"
        wait_for(lambda: influxd.rows(count, database)[0]["count"] == 40, 30, "all stored",
                 interval=0.2)
        sender.close()
    broker_log = deployed.broker.log.read_text()
    assert "instances-test-1 already connected" not in broker_log
    assert "instances-test-2 already connected" not in broker_log
    for log in logs:  # each stored a share; neither was refused
        text = log.read_text()
        assert "refused" not in text, text[-2000:]
        stopped = [line for line in text.splitlines() if "collector stopped:" in line]
        assert int(stopped[-1].split("stored=")[1].split()[0]) > 0, text[-2000:]


def test_broker_access_refuses_a_shared_name_and_writes_separate_accounts(
        tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "schools.csv", [A, C])
    out = tmp_path / "accounts"
    done = subprocess.run([sys.executable, "-m", "collector.cli", "broker-access",
                           "--registry", str(registry), "--out", str(out),
                           "--operator", "grafana", "--operator", A],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"school id '{A}' equals the username of the collector or an operator" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
    # As the README runs it, with two operators.
    done = subprocess.run([sys.executable, "-m", "collector.cli", "broker-access",
                           "--registry", str(registry), "--out", str(out),
                           "--operator", "grafana", "--operator", "alerts"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "collector.passwd (collector listener)" in done.stdout
    users = [line.split(",")[1] for line in
             (out / "passwords.csv").read_text().splitlines()[1:]]
    assert users == ["collector", "grafana", "alerts", A, C]
    assert [line for line in (out / "passwd").read_text().splitlines()
            if line.startswith("collector:")] == []
    assert (out / "collector.passwd").read_text().startswith("collector:")
    assert "user grafana" in (out / "acl").read_text()
