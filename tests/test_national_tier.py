"""The national tier on two real Mosquitto brokers bridged over TLS on loopback.

The province broker runs deploy/mosquitto/schoolnet.conf with
deploy/mosquitto/bridge-national.conf appended; the national broker runs
deploy/mosquitto/national.conf with the accounts of ``schoolnet-collector
national-access``. The province's collector account publishes roll-ups as the
evaluator does (collector.national.wire.publisher); the national collector
(collector.national.receiver) stores them in influxd. Only ports and
directories are rewritten.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.contract.configschema import build
from collector.brokeraccess import read_registry
from collector.brokeraccess import write_accounts as school_accounts
from collector.config import CollectorConfig
from collector.judge.registry import School
from collector.judge.rollups import points
from collector.judge.rules import TARGETS, Verdict
from collector.national import access
from collector.national.receiver import NationalReceiver
from collector.national.wire import encode, publisher
from tests.broker_support import Client, DeployedBroker, make_certs
from tests.deploy_support import REPO, write_registry
from tests.services import Influxd, Service, wait_for

PREFIX = "schoolnet-rollup/v1"
T0 = 1_780_000_000 * 10**9
ROUND = 300 * 10**9


class NationalBroker(Service):
    name = "mosquitto-national"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        conf = (REPO / "deploy/mosquitto/national.conf").read_text()
        conf = (conf.replace("/etc/mosquitto/schoolnet/", f"{workdir}/etc/")
                .replace("/var/lib/mosquitto/", f"{workdir}/data/")
                .replace("listener 8883\n", f"listener {self.port} 127.0.0.1\n"))
        (workdir / "data").mkdir()
        shutil.chown(workdir / "data", "mosquitto")
        self.conf = workdir / "national.conf"
        self.conf.write_text(conf)

    def command(self) -> list[str]:
        return ["mosquitto", "-c", str(self.conf)]


class ProvinceBroker(DeployedBroker):
    def __init__(self, workdir: Path, bridge: str) -> None:
        super().__init__(workdir)
        self.conf.write_text(self.conf.read_text() + "\n" + bridge)


def _tls_files(etc: Path) -> None:
    make_certs(etc, "ca")
    make_certs(etc, "server", "localhost", "127.0.0.1")
    for path in [etc, etc / "server.key", etc / "server.crt", etc / "ca.crt"]:
        shutil.chown(path, group="mosquitto")
        path.chmod(0o750 if path.is_dir() else 0o640)


@dataclass
class Tier:
    national: NationalBroker
    province: ProvinceBroker
    national_passwords: dict[str, str]
    province_passwords: dict[str, str]
    ca: Path


@pytest.fixture
def tier() -> Iterator[Tier]:
    work = Path(tempfile.mkdtemp(prefix="schoolnet-tier-", dir="/tmp"))
    work.chmod(0o755)
    try:
        (work / "national").mkdir()
        nat_etc = work / "national/etc"
        national_passwords = access.write_accounts(["37", "44"], nat_etc, "national-collector",
                                                   group="mosquitto")
        _tls_files(nat_etc)
        national = NationalBroker(work / "national")
        (work / "province").mkdir()
        etc = work / "province/etc"
        registry = write_registry(work / "schools.csv", ["37-a"])
        province_passwords = school_accounts(read_registry(registry), etc, "collector",
                                             group="mosquitto")
        _tls_files(etc)
        make_certs(etc, "crl")
        shutil.copy(nat_etc / "ca.crt", etc / "national-ca.crt")
        (etc / "national-ca.crt").chmod(0o644)
        bridge = ((REPO / "deploy/mosquitto/bridge-national.conf").read_text()
                  .replace("NATIONAL_HOST:8883", f"127.0.0.1:{national.port}")
                  .replace("PROVINCE_CODE", "37")
                  .replace("BRIDGE_PASSWORD", national_passwords["province-37"])
                  .replace("/etc/mosquitto/schoolnet/", f"{etc}/"))
        province = ProvinceBroker(work / "province", bridge)
        national.start()
        province.start()
        try:
            yield Tier(national, province, national_passwords, province_passwords,
                       nat_etc / "ca.crt")
        finally:
            province.stop()
            national.stop()
    finally:
        shutil.rmtree(work)


SCHOOLS = [School(f"s{n}", f"s{n}", "37", "37", "3701", "3701", f"37010{n % 3}", "k",
                  "primary", 10, 1000.0) for n in range(7)]


def round_points(n: int) -> list[Any]:
    """Round n: school k passes every target when k < n (so each round's counts differ)."""
    verdicts = [Verdict(s, t, "pass" if k < n else "fail", None, 1.0, 3)
                for k, s in enumerate(SCHOOLS) for t in (*TARGETS, "all")]
    return points(verdicts, SCHOOLS, T0 + n * ROUND)


def national_receiver(tier: Tier, influxd: Influxd, db: str) -> NationalReceiver:
    return NationalReceiver(national_config(tier, influxd.url, db))


def national_config(tier: Tier, url: str, db: str) -> CollectorConfig:
    return build(CollectorConfig, {
        "mqtt": {"host": "127.0.0.1", "port": tier.national.port, "tls": True,
                 "ca_file": str(tier.ca), "username": "national-collector",
                 "password": tier.national_passwords["national-collector"],
                 "client_id": "national-collector"},
        "storage": {"kind": "influxdb1", "url": url, "database": db},
        "national": {"provinces": ["37"]}})


def stored(influxd: Influxd, db: str) -> dict[tuple[int, str, str, str], int]:
    rows = influxd.rows('SELECT "pass", "schools", "level", "county", "target" FROM "rollup"',
                        db)
    return {(r["time"], r["level"], r["county"] or "", r["target"]): r["pass"] for r in rows}


def expected(rounds: range) -> dict[tuple[int, str, str, str], int]:
    return {(p.ts_ns, p.tags["level"], p.tags.get("county", ""), p.tags["target"]):
            p.fields["pass"] for n in rounds for p in round_points(n)}


@pytest.mark.integration
def test_roll_ups_cross_the_bridge_and_catch_up_after_an_outage(tier: Tier, influxd: Influxd,
                                                                 database: str) -> None:
    receiver = national_receiver(tier, influxd, database)
    worker = threading.Thread(target=receiver.run, daemon=True)
    worker.start()
    # The first time only, the national collector must subscribe before roll-ups
    # arrive; after that its persistent session keeps them.
    assert receiver.subscribed.wait(60)
    collector = Client(tier.province.local_port, "collector", user="collector",
                       password=tier.province_passwords["collector"])
    assert collector.accepted()
    send = publisher(lambda t, b: collector.client.publish(t, b, qos=1).wait_for_publish(10),
                     PREFIX)
    try:
        send(round_points(0))
        wait_for(lambda: stored(influxd, database) == expected(range(1)), 60, "first round")
        # The national broker goes away; the province keeps judging and publishing.
        tier.national.stop()
        for n in range(1, 6):
            send(round_points(n))
        tier.national.start()
        wait_for(lambda: stored(influxd, database) == expected(range(6)), 120,
                 "every round after the outage")
        assert receiver.refused == {}
    finally:
        receiver.stop_event.set()
        worker.join(30)
        collector.close()


@pytest.mark.integration
def test_a_province_can_send_only_its_own_roll_ups(tier: Tier, influxd: Influxd,
                                                   database: str) -> None:
    receiver = national_receiver(tier, influxd, database)
    worker = threading.Thread(target=receiver.run, daemon=True)
    worker.start()
    # The first time only, the national collector must subscribe before roll-ups
    # arrive; after that its persistent session keeps them.
    assert receiver.subscribed.wait(60)
    # Province 44's bridge account, straight to the national broker.
    other = Client(tier.national.port, "province-44", ca=tier.ca, user="province-44",
                   password=tier.national_passwords["province-44"])
    assert other.accepted()
    wrong_province = encode(points([], SCHOOLS, T0))  # 37's regions
    try:
        for _, payload in wrong_province:  # on 37's topic: the national ACL refuses it
            assert other.publish(f"{PREFIX}/37", json.loads(payload)).is_failure
        for body in [{"v": 1}, json.loads(wrong_province[0][1])]:  # on its own topic
            assert not other.publish(f"{PREFIX}/44", body).is_failure
        marker = points([], SCHOOLS[:1], T0 + ROUND)
        collector = Client(tier.province.local_port, "collector", user="collector",
                           password=tier.province_passwords["collector"])
        assert collector.accepted()
        publisher(lambda t, b: collector.client.publish(t, b, qos=1).wait_for_publish(10),
                  PREFIX)(marker)
        collector.close()
        # 44 is not configured here: refused, whatever it sent on its own topic.
        wait_for(lambda: receiver.refused[("44", "province")] == 2, 60, "refusals")
        wait_for(lambda: stored(influxd, database), 60, "the honest roll-up")
        assert {k[0] for k in stored(influxd, database)} == {T0 + ROUND}
    finally:
        receiver.stop_event.set()
        worker.join(30)
        other.close()


@pytest.mark.integration
def test_a_roll_up_is_acknowledged_only_once_stored(tier: Tier, tmp_path: Path) -> None:
    late = Influxd(tmp_path / "influxd")  # its port is chosen; it is not running yet
    cfg = national_config(tier, late.url, "national")
    first = NationalReceiver(cfg)
    worker = threading.Thread(target=first.run, daemon=True)
    worker.start()
    assert first.subscribed.wait(60)
    bridge = Client(tier.national.port, "province-37", ca=tier.ca, user="province-37",
                    password=tier.national_passwords["province-37"])
    assert bridge.accepted()
    for _, payload in encode(round_points(3)):
        assert not bridge.publish(f"{PREFIX}/37", json.loads(payload)).is_failure
    bridge.close()
    wait_for(lambda: first.retries >= 2, 60, "write attempts against the absent database")
    first.stop_event.set()  # gone before the database came: nothing was acknowledged
    worker.join(30)
    assert first.stored == 0
    with late.running():
        late.create_db("national")
        second = NationalReceiver(cfg)  # the same account and session
        worker = threading.Thread(target=second.run, daemon=True)
        worker.start()
        try:
            wait_for(lambda: stored(late, "national") == expected(range(3, 4)), 60,
                     "the roll-ups the broker kept for the session")
        finally:
            second.stop_event.set()
            worker.join(30)


@pytest.mark.integration
def test_a_school_cannot_publish_roll_ups(tier: Tier) -> None:
    school = Client(tier.province.port, "37-a", ca=tier.province.workdir / "etc/ca.crt",
                    user="37-a", password=tier.province_passwords["37-a"])
    assert school.accepted()
    try:
        reason = school.publish(f"{PREFIX}/37", {"v": 1})
        assert reason.is_failure  # not authorised: the school ACL has no roll-up topic
    finally:
        school.close()


@pytest.mark.integration
def test_national_mode_without_provinces_says_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "national.toml"
    config.write_text('[mqtt]\nhost = "127.0.0.1"\n[storage]\nkind = "influxdb1"\n'
                      'url = "http://127.0.0.1:9"\n')
    out = subprocess.run([sys.executable, "-m", "collector.cli", "national", "-c", str(config)],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 2
    assert "[national] provinces is empty: list the province codes" in out.stderr
    assert "Traceback" not in out.stderr
