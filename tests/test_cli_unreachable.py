"""Every collector command, run for real, against a broker or database that is
not there (or is not what the config says): one plain line, never a traceback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import Influxd, Mosquitto

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hangs_up() -> Iterator[int]:
    """A TCP port that accepts and closes at once: neither a broker nor a database."""
    server = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    yield int(server.getsockname()[1])
    done.set()
    server.close()


def config(tmp: Path, broker: int, db_url: str) -> Path:
    path = tmp / "collector.toml"
    path.write_text(f"""
[mqtt]
host = "127.0.0.1"
port = {broker}
[storage]
kind = "influxdb1"
url = "{db_url}"
[registry]
file = "{REPO}/configs/schools.example.csv"
[targets]
file = "{REPO}/configs/targets.toml"
[alerts]
state_file = "{tmp}/alerts.json"
""", encoding="utf-8")
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "collector.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_evaluate_without_a_broker_says_so_before_judging(tmp_path: Path,
                                                          influxd: Influxd) -> None:
    line = one_line(cli("evaluate", "-c", str(config(tmp_path, closed_port(), influxd.url))))
    assert line.startswith("error: cannot reach the broker 127.0.0.1:")
    assert "Connection refused" in line and "--dry-run" in line
    assert not (tmp_path / "alerts.json").exists()  # no alert state for unsent alerts


def test_evaluate_against_something_that_is_not_a_broker(tmp_path: Path, hangs_up: int,
                                                         influxd: Influxd) -> None:
    line = one_line(cli("evaluate", "-c", str(config(tmp_path, hangs_up, influxd.url))))
    assert "did not let evaluate in" in line and "[mqtt]" in line


@pytest.mark.parametrize("command", [["evaluate"], ["evaluate", "--dry-run"],
                                     ["report"], ["report", "--format", "csv"]])
def test_commands_without_a_database(tmp_path: Path, broker: Mosquitto,
                                     command: list[str]) -> None:
    port = closed_port()
    line = one_line(cli(*command, "-c", str(config(tmp_path, broker.port,
                                                   f"http://127.0.0.1:{port}"))))
    assert line == (f"error: cannot reach InfluxDB at http://127.0.0.1:{port} ([Errno 111] "
                    "Connection refused): check that it runs and that [storage] url is right")


def test_report_against_something_that_is_not_a_database(tmp_path: Path, hangs_up: int,
                                                         broker: Mosquitto) -> None:
    line = one_line(cli("report", "-c", str(config(tmp_path, broker.port,
                                                   f"http://127.0.0.1:{hangs_up}"))))
    assert line.startswith(f"error: cannot reach InfluxDB at http://127.0.0.1:{hangs_up} (")
    assert "[storage] url" in line


def test_grafana_demo_without_a_database() -> None:
    port = closed_port()
    line = one_line(cli("grafana", "demo", "--url", f"http://127.0.0.1:{port}", "--days", "1"))
    assert f"cannot reach InfluxDB at http://127.0.0.1:{port}" in line


def test_run_without_broker_or_database_logs_and_keeps_trying(tmp_path: Path) -> None:
    path = config(tmp_path, closed_port(), f"http://127.0.0.1:{closed_port()}")
    proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "run", "-c", str(path)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    seen = []
    for text in proc.stdout:  # waits for the lines, however slow the machine
        seen.append(text)
        if "cannot connect to broker" in text:
            break
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    out = "".join(seen) + rest
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert "Connection refused; retry in" in out
