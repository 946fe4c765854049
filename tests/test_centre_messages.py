"""What the network centre sees when a peer is missing, asserted on the words:
one line naming the peer and what to check, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy_support import REPO, write_registry
from tests.services import free_port
from tests.speed_support import speed_config

pytestmark = pytest.mark.integration


def collector(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "collector.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_speed_server_on_a_busy_port_says_so(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        out = collector("speed-server", "-c", str(speed_config(tmp_path / "speed.toml")),
                        "--listen", "127.0.0.1", "--port", str(port))
    finally:
        taken.close()
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in out.stderr
    assert "choose [server] listen/port or --listen/--port" in out.stderr


def test_evaluate_names_the_database_and_the_broker_it_cannot_reach(tmp_path: Path) -> None:
    write_registry(tmp_path / "schools.csv", ["370102-0001"])
    (tmp_path / "targets.toml").write_text((REPO / "configs/targets.toml").read_text())
    config = tmp_path / "collector.toml"
    db_port, broker_port = free_port(), free_port()  # nothing listens on either
    config.write_text(f"""[mqtt]
host = "127.0.0.1"
port = {broker_port}
[storage]
kind = "influxdb1"
url = "http://127.0.0.1:{db_port}"
[registry]
file = "schools.csv"
[targets]
file = "targets.toml"
""", encoding="utf-8")
    dry = collector("evaluate", "--dry-run", "-c", str(config))
    assert dry.returncode == 1 and "Traceback" not in dry.stderr, dry.stderr
    assert f"cannot reach InfluxDB at http://127.0.0.1:{db_port}" in dry.stderr
    assert "check that it runs and that [storage] url is right" in dry.stderr
    live = collector("evaluate", "-c", str(config))
    assert live.returncode == 1 and "Traceback" not in live.stderr, live.stderr
    assert f"cannot reach the broker 127.0.0.1:{broker_port} to publish alerts" in live.stderr
