"""The agent daemon against a real Mosquitto: outages, restarts, last will, clean stop.

Readings carry a per-agent sequence number; a run passes when the broker
delivered every number from 1 up with none missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.services import Mosquitto, wait_for
from tests.support import Listener, agent_toml

# Integration tier: the agent daemon as a process against a real Mosquitto.
pytestmark = pytest.mark.integration

PROBES = """
[probes.wan_link]
interval = 1
interface = "lo"
sample_seconds = 0.1
"""


def start_agent(config: Path) -> subprocess.Popen[bytes]:
    # A file, not a pipe: an unread pipe that fills up would block the agent.
    with (config.parent / "agent.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "-c", str(config)],
                                stdout=subprocess.DEVNULL, stderr=log)


def stop_agent(agent: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as systemd sends it; the agent must exit 0 promptly."""
    agent.send_signal(signal.SIGTERM)
    try:
        code = agent.wait(20)
    except subprocess.TimeoutExpired:
        agent.kill()
        code = -9
    log = Path(str(agent.args[-1])).parent / "agent.log"
    assert code == 0, f"agent exit {code}:\n{log.read_text()[-3000:]}"


def seqs(listener: Listener) -> list[int]:
    return sorted({body["seq"] for body in listener.json() if "seq" in body})


def statuses(listener: Listener) -> list[str]:
    return [body["state"] for body in listener.json() if "state" in body]


def test_outages_and_restarts_lose_nothing(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    config = agent_toml(tmp_path, broker.port, PROBES, {"id": "outage-1"})
    agent = start_agent(config)  # the broker is not up yet
    time.sleep(2.5)
    broker.start()
    listener = Listener(broker.port, "schoolnet/v1/+/+/+/outage-1/#")
    wait_for(lambda: len(seqs(listener)) >= 6, 20, "readings after the broker came up")
    before = seqs(listener)
    listener.close()
    broker.kill()  # kill -9: the agent keeps measuring into its spool
    time.sleep(2.5)
    stop_agent(agent)  # ... and is stopped while the broker is down
    broker.start()
    listener = Listener(broker.port, "schoolnet/v1/+/+/+/outage-1/#")
    agent = start_agent(config)  # replays the spool

    def complete() -> list[int] | None:
        got = sorted({*before, *seqs(listener)})
        return got if got and got[-1] >= 14 and got == list(range(1, got[-1] + 1)) else None

    # A reading the killed broker had acked but not kept is resent once its
    # receipt is overdue: wait for that, however long a busy machine takes.
    try:
        wait_for(complete, 60, "every reading from 1 on", interval=0.2)
    finally:
        stop_agent(agent)
        got = sorted({*before, *seqs(listener)})
        listener.close()
        broker.stop()
    # Persistence plus the spool: every number from 1 to the last one arrived.
    assert got == list(range(1, got[-1] + 1)), got
    assert got[-1] >= 14


def test_last_will_and_clean_stop(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    config = agent_toml(tmp_path, broker.port, PROBES, {"id": "lwt-1"})
    status_topic = "schoolnet/v1/37/3701/370102/lwt-1/status"
    listener = Listener(broker.port, status_topic)
    agent = start_agent(config)
    wait_for(lambda: statuses(listener) == ["online"], 10, "birth message")
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait()
    # keepalive 60 s would take 90 s; the broker sends the will at once when
    # the TCP connection drops.
    wait_for(lambda: statuses(listener) == ["online", "offline"], 10, "last will")
    agent = start_agent(config)
    wait_for(lambda: statuses(listener)[-1:] == ["online"], 10, "second birth")
    stop_agent(agent)
    wait_for(lambda: statuses(listener)[-1:] == ["offline"], 10, "clean offline status")
    listener.close()
    # Retained: a collector that subscribes later still learns the state.
    late = Listener(broker.port, status_topic)
    wait_for(lambda: late.messages, 5, "retained status")
    _, payload, retained = late.messages[0]
    assert retained and json.loads(payload)["state"] == "offline"
    late.close()
    broker.stop()
