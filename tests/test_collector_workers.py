"""`workers = 2`: two collector processes share the broker's traffic, each storing
only its part, and the supervisor replaces a worker that dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import collector_toml, influx1_storage, publisher_client

# Integration tier: collector worker processes, a real Mosquitto and influxd.
pytestmark = pytest.mark.integration

N = 2000


def test_two_workers_share_the_load(tmp_path: Path, broker: Mosquitto, influxd: Influxd,
                                    database: str, unique: str) -> None:
    config = collector_toml(tmp_path, broker.port, influx1_storage(influxd.url, database),
                            unique)
    config.write_text(config.read_text().replace("[mqtt]\n", "[mqtt]\nworkers = 2\n"))
    log = tmp_path / "collector.log"
    with log.open("ab") as out:
        parent = subprocess.Popen([sys.executable, "-m", "collector.cli", "run", "-c",
                                   str(config)], stdout=out, stderr=out)
    try:
        wait_for(lambda: log.read_text().count(f"subscribed to $share/{unique}/") == 2, 20,
                 "two workers subscribed")
        workers = psutil.Process(parent.pid).children()
        assert len(workers) == 2
        client = publisher_client(broker.port)
        schools = [Identity("37", "3701", "370102", f"w{unique}-{i}") for i in range(50)]
        base = time.time_ns() - 10**11
        for n in range(N):
            school = schools[n % len(schools)]
            reading = Reading("wan_link", {"rx_bps": float(n), "result": "ok"}, {}, base + n)
            client.publish(school.topic("wan_link"), encode(school, reading, n + 1), qos=1)
        count = "SELECT count(rx_bps) FROM wan_link"
        wait_for(lambda: influxd.rows(count, database)[0]["count"] == N, 30, "all stored",
                 interval=0.2)
        # A worker killed outright is replaced; readings keep flowing.
        os.kill(workers[0].pid, signal.SIGKILL)
        wait_for(lambda: "restarting it" in log.read_text(), 10, "restart")
        wait_for(lambda: len(psutil.Process(parent.pid).children()) == 2, 10, "new worker")
        late = Reading("wan_link", {"rx_bps": 1.0, "result": "ok"}, {}, base + N)
        client.publish(schools[0].topic("wan_link"), encode(schools[0], late, N + 1),
                       qos=1).wait_for_publish(5)
        wait_for(lambda: influxd.rows(count, database)[0]["count"] == N + 1, 30, "late one")
        client.disconnect()
        client.loop_stop()
    finally:
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(60) == 0
    text = log.read_text()
    # The worker that lived stored a part of the first N, not all: the broker
    # split the traffic (the killed one could not say how many it stored).
    stored = [int(line.split("stored=")[1].split()[0]) for line in text.splitlines()
              if "collector stopped:" in line]
    assert any(0 < s < N for s in stored), stored
