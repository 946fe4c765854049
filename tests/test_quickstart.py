"""The README's first command ends by showing readings stored through a real broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Integration tier: deploy/quickstart.sh.
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


def test_quickstart_shows_stored_readings(tmp_path: Path) -> None:
    env = {**os.environ, "QUICKSTART_DIR": str(tmp_path / "qs"), "VENV": sys.prefix}
    out = subprocess.run(["bash", "deploy/quickstart.sh"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    stored = out.stdout.split("== stored in InfluxDB", 1)[1]
    assert "name: wan_link" in stored and "name: agent_status" in stored
    # The table's row carries the school from the example config and a sequence number.
    row = next(line for line in stored.splitlines() if "370102-0001" in line)
    assert " ok " in row and row.startswith("20")
    assert "online" in stored and "offline" in stored


def test_kept_quickstart_says_how_to_use_and_stop_it(tmp_path: Path) -> None:
    env = {**os.environ, "QUICKSTART_DIR": str(tmp_path / "qs"), "VENV": sys.prefix}

    def quickstart(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "deploy/quickstart.sh", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)

    kept = quickstart("--keep")
    try:
        assert kept.returncode == 0, kept.stdout[-2000:] + kept.stderr[-2000:]
        assert "== left running (pids " in kept.stdout
        assert "broker     127.0.0.1:" in kept.stdout
        assert "agent.cli status -c " in kept.stdout
        assert "== stop everything: deploy/quickstart.sh --stop" in kept.stdout
        again = quickstart("--keep")
        assert again.returncode == 1
        assert "a quickstart started with --keep is still running" in again.stderr
        assert "stop it first with deploy/quickstart.sh --stop" in again.stderr
        assert (tmp_path / "qs" / "collector.toml").exists()  # its data left alone
    finally:
        stopped = quickstart("--stop")
    assert stopped.returncode == 0 and stopped.stdout.startswith("stopped (pids "), stopped.stdout
    assert "nothing from a kept quickstart is running" in quickstart("--stop").stdout
