"""Fault injection against the real services, checked Jepsen-style.

Each scenario publishes numbered readings through the agent's spool and
publisher, breaks something on the way several times, and then reads back
what InfluxDB holds: lost (sent, never stored), unexpected (stored, never
sent) and duplicates (stored twice; idempotent writes make this 0 even when
the broker redelivers). Every scenario must end with lost = unexpected = 0.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.netns import ip, veth_link
from tests.services import Influxd, Mosquitto, free_port, wait_for
from tests.support import collector_toml, influx1_storage

# Integration tier: killed brokers, collectors and namespaced links.
pytestmark = pytest.mark.integration

COUNT = 3000
RATE = 300  # readings/s: each scenario publishes for about 10 s


class Collector:
    """The collector as its own process, so it can be killed like a real one."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.config.parent / "collector.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "run", "-c",
                                          str(self.config)], stdout=log, stderr=log)

    def wait_subscribed(self) -> None:
        """Its session must exist before agents publish, as in a real deployment:
        a broker keeps nothing for a subscriber it has never seen."""
        wait_for(lambda: "subscribed to" in self.log.read_text(), 20, "collector subscription")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@contextmanager
def stack(tmp: Path, listen: str = "") -> Iterator[tuple[Mosquitto, Influxd, Collector]]:
    broker = Mosquitto(tmp / "broker", listen)
    db = Influxd(tmp / "influxd")
    broker.start()
    db.start(60)
    db.create_db("faults")
    config = collector_toml(tmp, broker.port, influx1_storage(db.url, "faults"), "faults")
    collector = Collector(config)
    collector.start()
    collector.wait_subscribed()
    try:
        yield broker, db, collector
    finally:
        collector.stop()
        broker.stop()
        db.stop()


def agent(host: str, port: int, tmp: Path, school: str,
          prefix: list[str] | None = None) -> subprocess.Popen[bytes]:
    log = (tmp / f"agent-{school}.log").open("ab")
    return subprocess.Popen([*(prefix or []), sys.executable, "-m", "tests.fault_agent", host,
                             str(port), str(tmp / f"state-{school}"), school, str(COUNT),
                             str(RATE)], stdout=log, stderr=log, cwd=Path(__file__).parents[1])


def check(db: Influxd, school: str) -> dict[str, int]:
    def stored() -> list[float]:
        rows = db.rows(f"SELECT published AS n FROM agent WHERE school = '{school}'", "faults")
        return [r["n"] for r in rows]

    # Wait for the collector to catch up, then judge.
    with suppress(TimeoutError):
        wait_for(lambda: len(stored()) >= COUNT, 90, "all readings stored", interval=0.5)
    values = stored()
    got = set(values)
    expected = {float(n) for n in range(1, COUNT + 1)}
    figures = {"sent": COUNT, "stored": len(values), "lost": len(expected - got),
               "unexpected": len(got - expected), "duplicates": len(values) - len(got)}
    missing = sorted(int(n) for n in expected - got)[:20]
    print(f"\n{school}: {figures}" + (f" first missing: {missing}" if missing else ""))
    return figures


def during(proc: subprocess.Popen[bytes], times: int, spacing: float,
           fault: Callable[[], None]) -> None:
    """Inject ``fault`` ``times`` times while the agent is publishing."""
    for _ in range(times):
        time.sleep(spacing)
        fault()
    assert proc.wait(180) == 0, "the agent did not get every reading acknowledged"


def assert_nothing_lost(figures: dict[str, int]) -> None:
    assert (figures["lost"], figures["unexpected"], figures["duplicates"]) == (0, 0, 0), figures


@pytest.mark.parametrize("victim", ["broker", "collector"])
def test_killed_three_times(tmp_path: Path, victim: str) -> None:
    """kill -9 the broker (persistence is all it keeps) or the collector (its
    unacked messages stay queued in its session) three times mid-run."""
    with stack(tmp_path) as (broker, db, collector):
        proc = agent("127.0.0.1", broker.port, tmp_path, f"{victim}-kill")
        target: Mosquitto | Collector = broker if victim == "broker" else collector

        def bounce() -> None:
            target.kill()
            time.sleep(1.0)
            target.start()
        during(proc, 3, 2.0, bounce)
        assert_nothing_lost(check(db, f"{victim}-kill"))


def test_database_down_past_the_retry_window(tmp_path: Path) -> None:
    with stack(tmp_path) as (broker, db, _collector):
        proc = agent("127.0.0.1", broker.port, tmp_path, "db-down")
        time.sleep(1.5)
        db.stop()
        # The collector backs off to 1 s between tries (max_backoff_seconds
        # in the test config); 8 s is several retry windows.
        time.sleep(8)
        db.start(60)
        assert proc.wait(180) == 0
        figures = check(db, "db-down")
    assert_nothing_lost(figures)


def test_agent_link_down_while_spool_fills(tmp_path: Path) -> None:
    with veth_link() as link:
        # A second listener on the veth address, for the agent in its namespace.
        port = free_port()
        with stack(tmp_path, listen=f"listener {port} {link.host_addr}") as (_, db, _c):
            proc = agent(link.host_addr, port, tmp_path, "link-down",
                         ["ip", "netns", "exec", link.ns])
            time.sleep(2.0)
            ip("link", "set", link.peer_if, "down", ns=link.ns)  # the school's uplink fails
            time.sleep(6.0)
            ip("link", "set", link.peer_if, "up", ns=link.ns)
            assert proc.wait(180) == 0
            figures = check(db, "link-down")
    assert_nothing_lost(figures)


@pytest.fixture(autouse=True)
def _report(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    with capsys.disabled():
        print(capsys.readouterr().out, end="")
