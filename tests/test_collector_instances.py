"""Several collector processes from one config, as schoolnet-collector@.service
runs them (``run --instance NAME``): they share the broker's traffic, each
storing only its part; one that dies and is restarted (systemd's job) picks
up where it left; only instance 1 judges compliance."""

from __future__ import annotations

import os
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
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import collector_toml, influx1_storage, publisher_client

N = 2000
REPO = Path(__file__).resolve().parent.parent


@contextmanager
def instance(config: Path, name: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "run", "-c", str(config),
                                 "--instance", name], stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0


def stored(log: Path) -> int:
    lines = [line for line in log.read_text().splitlines() if "collector stopped:" in line]
    return int(lines[-1].split("stored=")[1].split()[0])


@pytest.mark.integration  # real Mosquitto, influxd and collector processes
def test_two_instances_share_the_load(tmp_path: Path, broker: Mosquitto, influxd: Influxd,
                                      database: str, unique: str) -> None:
    config = collector_toml(tmp_path, broker.port, influx1_storage(influxd.url, database),
                            unique)
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    client = publisher_client(broker.port)
    schools = [Identity("37", "3701", "370102", f"w{unique}-{i}") for i in range(50)]
    base = time.time_ns() - 10**11
    count = "SELECT count(rx_bps) FROM wan_link"
    with instance(config, "1", logs[0]), instance(config, "2", logs[1]) as two:
        # Both subscribe in one group named after the client id.
        for log in logs:
            wait_for(lambda log=log: f"subscribed to $share/{unique}/" in log.read_text(), 20,
                     "instance subscribed")
        for n in range(N):
            school = schools[n % len(schools)]
            reading = Reading("wan_link", {"rx_bps": float(n), "result": "ok"}, {}, base + n)
            client.publish(school.topic("wan_link"), encode(school, reading, n + 1), qos=1)
        wait_for(lambda: influxd.rows(count, database)[0]["count"] == N, 30, "all stored",
                 interval=0.2)
        # Killed outright and restarted, as Restart=always does: readings keep flowing.
        os.kill(two.pid, signal.SIGKILL)
        two.wait()
        with instance(config, "2", logs[1]):
            wait_for(lambda: logs[1].read_text().count("subscribed to $share/") == 2, 20,
                     "instance 2 back")
            late = Reading("wan_link", {"rx_bps": 1.0, "result": "ok"}, {}, base + N)
            client.publish(schools[0].topic("wan_link"), encode(schools[0], late, N + 1),
                           qos=1).wait_for_publish(5)
            wait_for(lambda: influxd.rows(count, database)[0]["count"] == N + 1, 30, "late one")
    client.disconnect()
    client.loop_stop()
    # Instance 1 stored a part of the first N, not all: the broker split the
    # traffic (the killed one could not say how many it stored).
    assert 0 < stored(logs[0]) < N, stored(logs[0])
    assert f"connected to 127.0.0.1:{broker.port}" in logs[1].read_text()


def test_only_instance_one_judges(tmp_path: Path) -> None:
    registry = REPO / "configs/schools.example.csv"
    targets = REPO / "configs/targets.toml"
    path = collector_toml(tmp_path, 1883, influx1_storage("http://127.0.0.1:8086", "x"), "c",
                          f'[registry]\nfile = "{registry}"\n[targets]\nfile = "{targets}"\n')
    cfg = collector_config.load(path)
    one, two = (collector_config.instance(cfg, name) for name in ("1", "2"))
    assert (one.mqtt.client_id, two.mqtt.client_id) == ("c-1", "c-2")
    assert one.mqtt.share_group == two.mqtt.share_group == "c"
    assert one.targets.file == str(targets) and two.targets.file == ""
    assert one.registry == two.registry == cfg.registry  # both still check schools


def test_the_instances_group_is_derived_from_the_collectors_password(tmp_path: Path) -> None:
    # A school guessing the group would be handed its turn of every reading.
    def group(password: str) -> str:
        path = collector_toml(tmp_path, 1883, influx1_storage("http://127.0.0.1:8086", "x"),
                              "c", "")
        text = path.read_text(encoding="utf-8").replace(
            'client_id = "c"', f'client_id = "c"\nusername = "collector"\npassword = "{password}"')
        path.write_text(text, encoding="utf-8")
        cfg = collector_config.load(path)
        one, two = (collector_config.instance(cfg, name) for name in ("1", "2"))
        assert one.mqtt.share_group == two.mqtt.share_group
        return one.mqtt.share_group

    first = group("s3cret")
    assert first.startswith("c-") and len(first) == 2 + 24
    assert group("s3cret") == first and group("other") != first
