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
from tests.services import Mosquitto
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
