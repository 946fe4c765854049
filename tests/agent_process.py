"""The agent as a process for spool tests: its config, its log, its spool file."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent.contract.wire import Identity
from tests.services import wait_for
from tests.support import Listener

SCHOOL = Identity("37", "3701", "370102", "spool-1")
PROBES = """
[probes.wan_link]
interval = 1
interface = "lo"
sample_seconds = 0.1
"""


def write_config(tmp: Path, port: int, state: Path, probes: str = PROBES,
                 username: str = "") -> Path:
    path = tmp / "agent.toml"
    path.write_text(f"""
[school]
id = "{SCHOOL.school_id}"
province = "37"
city = "3701"
county = "370102"
[mqtt]
host = "127.0.0.1"
port = {port}
tls = false
username = "{username}"
[agent]
state_dir = "{state}"
heartbeat_interval = 10
spool_memory_max_readings = 1000
{probes}
""", encoding="utf-8")
    return path


class Agent:
    """``schoolnet-agent -v run`` as a process, its log in a file."""

    def __init__(self, config: Path) -> None:
        self.log = config.parent / "agent.log"
        self.start_at = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent.cli", "-v", "run", "-c", str(config)],
                stdout=subprocess.DEVNULL, stderr=out)

    def text(self) -> str:
        return self.log.read_bytes()[self.start_at:].decode(errors="replace")

    def wait_log(self, words: str, count: int = 1, timeout: float = 30) -> None:
        wait_for(lambda: self.text().count(words) >= count or self.proc.poll() is not None,
                 timeout, f"agent log: {words!r}")
        assert self.proc.poll() is None, f"agent exited {self.proc.returncode}:\n" \
            + self.text()[-3000:]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = -9
        assert code == 0, f"agent exit {code}:\n{self.text()[-3000:]}"
        assert "Traceback" not in self.text(), self.text()[-3000:]


def health(listener: Listener) -> list[dict[str, Any]]:
    """The agent's own health readings (not the numbered ones a test spooled)."""
    return [m["fields"] for m in listener.json()
            if m.get("measurement") == "agent" and "spool_full" in m["fields"]]


def seqs(listener: Listener) -> set[int]:
    return {m["seq"] for m in listener.json() if "seq" in m}


def rows(path: Path) -> list[tuple[int, int]]:
    """(seq, tries) of every reading in a spool file."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT seq, tries FROM spool ORDER BY seq").fetchall()
