"""Crash-only collector: a fault in any thread ends the process, nothing is lost.

Real Mosquitto, real influxd, the real ``schoolnet-collector run`` in a child
process (tests/crash_collector.py arms one fault): readings are stored, then
one thread fails; the process must exit non-zero (so systemd restarts it), and
a restarted collector must store every reading exactly once, because the
broker redelivers what was never acked. The watchdog stops being fed when the
pipeline wedges.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from collector.judge.registry import COLUMNS
from collector.service import EXIT_CRASH
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import collector_toml, influx1_storage, publisher_client
from tests.test_deploy_sdnotify import receive

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
FIRST, SECOND = 40, 40


class Run:
    """One collector process, its log and its school."""

    def __init__(self, tmp: Path, broker: Mosquitto, influxd: Influxd, database: str,
                 unique: str) -> None:
        self.tmp = tmp
        self.identity = Identity("37", "3701", "370102", f"crash-{unique}")
        registry = tmp / "schools.csv"
        registry.write_text(",".join(COLUMNS) + "\n" + f"{self.identity.school_id},学校,37,"
                            "山东省,3701,济南市,370102,历下区,primary,10,1000\n",
                            encoding="utf-8")
        self.config = collector_toml(
            tmp, broker.port, influx1_storage(influxd.url, database), f"crash-{unique}",
            f'[registry]\nfile = "{registry}"\n[targets]\nfile = "{REPO}/configs/targets.toml"'
            "\nevaluate_interval_seconds = 10\n")
        self.trigger = tmp / "trigger"
        self.influxd, self.database = influxd, database
        self.client = publisher_client(broker.port)
        self.base = time.time_ns() - 10**12
        self.runs = 0

    def start(self, *command: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.runs += 1
        self.log = self.tmp / f"collector-{self.runs}.log"
        with self.log.open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", *command], cwd=REPO, stderr=log,
                                    stdout=subprocess.DEVNULL,
                                    env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
        wait_for(lambda: "subscribed to" in self.text() or proc.poll() is not None, 30,
                 "collector subscription")
        assert proc.poll() is None, self.text()
        return proc

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def publish(self, first: int, count: int) -> None:
        for n in range(first, first + count):
            reading = Reading("wan_link", {"rx_bps": float(n), "result": "ok"},
                              {"iface": "eth0"}, self.base + n * 1000)
            self.client.publish(self.identity.topic("wan_link"),
                                encode(self.identity, reading, n), qos=1).wait_for_publish(5)

    def stored(self) -> tuple[int, float]:
        rows = self.influxd.rows(f"SELECT count(rx_bps), sum(rx_bps) FROM wan_link WHERE "
                                 f"school = '{self.identity.school_id}'", self.database)
        return (rows[0]["count"], rows[0]["sum"]) if rows else (0, 0.0)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def run(tmp_path: Path, broker: Mosquitto, influxd: Influxd, database: str,
        unique: str) -> Iterator[Run]:
    r = Run(tmp_path, broker, influxd, database, unique)
    yield r
    r.close()


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def restart_stores_everything(run: Run) -> None:
    """A plain collector picks up where the crashed one stopped: each reading once."""
    total = FIRST + SECOND
    proc = run.start("collector.cli", "run", "-c", str(run.config))
    try:
        wait_for(lambda: run.stored()[0] >= total, 30, "every reading stored after restart",
                 interval=0.2)
        time.sleep(0.5)  # nothing more may arrive (no duplicates, no strays)
    finally:
        code = stop(proc)
    assert code == 0, run.text()
    assert run.stored() == (total, float(sum(range(1, total + 1))))


@pytest.mark.parametrize("fault", ["mqtt-in", "pipeline", "writer", "receipts", "evaluate"])
def test_a_dying_thread_ends_the_process_and_a_restart_loses_nothing(run: Run,
                                                                     fault: str) -> None:
    proc = run.start("tests.crash_collector", str(run.config), fault, str(run.trigger))
    try:
        run.publish(1, FIRST)
        wait_for(lambda: run.stored()[0] >= FIRST, 20, "first readings stored", interval=0.2)
        run.trigger.touch()
        run.publish(FIRST + 1, SECOND)  # some in flight when the thread dies
        code = proc.wait(40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = run.text()
    assert code == EXIT_CRASH, text[-3000:]
    assert f"injected fault in {fault}" in text
    assert "the collector exits for a restart" in text
    restart_stores_everything(run)


def test_watchdog_is_fed_only_while_the_pipeline_makes_progress(run: Run,
                                                                tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.1)

    def heard(seconds: float) -> list[str]:
        return receive(sock, seconds)

    env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
           "WATCHDOG_USEC": "1000000"}  # WatchdogSec=1: a ping every 0.5 s while healthy
    proc = run.start("tests.crash_collector", str(run.config), "hang", str(run.trigger),
                     env=env)
    try:
        idle = heard(2.0)
        run.publish(1, FIRST)
        wait_for(lambda: run.stored()[0] >= FIRST, 20, "first readings stored", interval=0.2)
        busy = heard(1.5)
        run.trigger.touch()
        run.publish(FIRST + 1, SECOND)
        wedged = heard(1.5)  # the last window that saw progress may still ping
        after = heard(2.0)
        assert proc.poll() is None  # alive but wedged: only the watchdog can tell
    finally:
        proc.kill()  # as systemd does when the pings stop
        proc.wait()
        sock.close()
    assert "READY=1" in idle, idle
    # Idle with nothing to do counts as healthy; so does storing.
    assert idle.count("WATCHDOG=1") >= 2 and busy.count("WATCHDOG=1") >= 2, (idle, busy)
    assert wedged.count("WATCHDOG=1") <= 1, wedged
    assert "WATCHDOG=1" not in after, after
    assert "no progress" in run.text()
    restart_stores_everything(run)
