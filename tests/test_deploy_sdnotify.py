"""The agent speaks systemd's notify protocol: a real unix datagram socket hears it.

systemd itself is not PID 1 here, so the test plays its part: it binds the
socket systemd would pass in NOTIFY_SOCKET and sets WATCHDOG_USEC as
``WatchdogSec=`` would.
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

from agent.contract import sdnotify
from tests.services import Mosquitto, wait_for
from tests.support import agent_toml

PROBES = """
[probes.wan_link]
interval = 1
interface = "lo"
sample_seconds = 0.1
"""


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def receive(sock: socket.socket, seconds: float) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return got


@pytest.mark.integration
def test_daemon_ready_watchdog_stopping(tmp_path: Path, notify_socket: socket.socket,
                                        broker: Mosquitto) -> None:
    config = agent_toml(tmp_path, broker.port, PROBES, {"id": "notify-1"})
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
           "WATCHDOG_USEC": "400000"}  # WatchdogSec=0.4: a ping every 0.2 s
    with (tmp_path / "agent.log").open("wb") as log:
        agent = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "-c", str(config)],
                                 env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        running = receive(notify_socket, 3.0)
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(20)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    after = receive(notify_socket, 0.5)
    assert code == 0, (tmp_path / "agent.log").read_text()[-2000:]
    assert running and running[0] == "READY=1", running
    # 3 s at one ping per 0.2 s; a loaded CI machine may lose a few.
    assert running[1:].count("WATCHDOG=1") >= 8, running
    assert set(running[1:]) <= {"WATCHDOG=1"}
    everything = running + after
    assert "STOPPING=1" in everything, everything
    # Once stopping, the watchdog task has ended: no ping follows STOPPING=1.
    assert "WATCHDOG=1" not in everything[everything.index("STOPPING=1") + 1:], everything


def test_abstract_socket_and_foreign_watchdog_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"schoolnet-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify("STATUS=measuring")
        assert sock.recv(100) == b"STATUS=measuring"
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_period() == 15.0
    # A child inherits the variables but must not feed its parent's watchdog.
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_period() is None


def test_outside_systemd_nothing_is_sent(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.watchdog_period() is None
    # A socket that vanished (systemd restarted) is a warning, not a crash.
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert sdnotify.notify("READY=1") is False


# The real agent with one fault injected into its publisher thread once a
# trigger file appears: it dies ("die") or hangs ("wedge").
FAULTY_AGENT = """
import sys, time
from pathlib import Path
from agent import cli, publisher
trigger, mode = Path(sys.argv[1]), sys.argv[2]
sweep = publisher.Publisher._sweep
def faulty(self):
    if trigger.exists():
        if mode == "die":
            raise RuntimeError("injected fault in the publisher thread")
        time.sleep(3600)
    sweep(self)
publisher.Publisher._sweep = faulty
sys.exit(cli.main(sys.argv[3:]))
"""


def start_faulty(tmp_path: Path, port: int, mode: str) -> subprocess.Popen[bytes]:
    config = agent_toml(tmp_path, port, PROBES, {"id": f"notify-{mode}"})
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
           "WATCHDOG_USEC": "400000"}
    with (tmp_path / "agent.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-c", FAULTY_AGENT, str(tmp_path / "fault"),
                                 mode, "run", "-c", str(config)],
                                env=env, stdout=subprocess.DEVNULL, stderr=log)


@pytest.mark.integration
def test_a_dead_publisher_thread_ends_the_pings_and_the_agent(
        tmp_path: Path, notify_socket: socket.socket, broker: Mosquitto) -> None:
    agent = start_faulty(tmp_path, broker.port, "die")
    try:
        healthy = receive(notify_socket, 2.0)
        (tmp_path / "fault").touch()
        code = agent.wait(30)
        dying = receive(notify_socket, 0.5)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    log = (tmp_path / "agent.log").read_text()
    assert healthy.count("WATCHDOG=1") >= 4, healthy
    assert code == 70, log[-2000:]  # crash-only: Restart=on-failure starts it again
    assert "the publisher thread died, so no reading would be sent" in log, log[-2000:]
    assert "exits (code 70) to be started again" in log
    # Once it is stopping, nothing vouches for it any more.
    assert "STOPPING=1" in dying, dying
    assert "WATCHDOG=1" not in dying[dying.index("STOPPING=1"):], dying


@pytest.mark.integration
def test_a_wedged_publisher_thread_stops_the_pings(
        tmp_path: Path, notify_socket: socket.socket, broker: Mosquitto) -> None:
    agent = start_faulty(tmp_path, broker.port, "wedge")
    log = tmp_path / "agent.log"
    try:
        healthy = receive(notify_socket, 2.0)
        (tmp_path / "fault").touch()
        # Keep reading, as systemd does, while the agent notices.
        wait_for(lambda: receive(notify_socket, 0.2) is not None
                 and "the publisher made no progress" in log.read_text(), 30,
                 "the agent noticing its publisher is stuck")
        hungry = receive(notify_socket, 2.0)  # systemd would kill it after 0.4 s of this
        assert agent.poll() is None  # alive, but no longer vouched for
    finally:
        agent.kill()
        agent.wait()
    assert healthy.count("WATCHDOG=1") >= 4, healthy
    assert "WATCHDOG=1" not in hungry, hungry
    assert "not feeding the systemd watchdog, so the agent is restarted" in log.read_text()
