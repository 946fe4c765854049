"""Real services for tests: Mosquitto, influxd 1.x and VictoriaMetrics on loopback.

Each runs from Debian's package, on a free port, with its files in a temp dir,
and is stopped (or killed, for fault tests) by the test that started it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as err:  # not up yet
            last = err
        else:
            if last:
                return last
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout} s (last: {last!r})")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


S = TypeVar("S", bound="Service")


class Service:
    name = "service"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return _port_open(self.port)

    def start(self, timeout: float = 30.0) -> None:
        binary = self.command()[0]
        if shutil.which(binary) is None:
            raise RuntimeError(f"{binary} is not installed (deploy/test.sh installs it)")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, start_new_session=True)
        try:
            wait_for(lambda: self.proc and self.proc.poll() is None and self.ready(), timeout,
                     f"{self.name} on port {self.port}")
        except TimeoutError as err:
            raise RuntimeError(f"{err}; log:\n{self.log.read_text()[-2000:]}") from None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @contextmanager
    def running(self: S, timeout: float = 60.0) -> Iterator[S]:
        """Started for the block, stopped after it, whatever happens inside."""
        self.start(timeout)
        try:
            yield self
        finally:
            self.stop()

    def kill(self) -> None:
        """kill -9, for fault injection."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Mosquitto(Service):
    name = "mosquitto"

    def __init__(self, workdir: Path, extra: str = "") -> None:
        super().__init__(workdir)
        self.conf = self.workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            # Started as root, Mosquitto drops to its own user, which cannot
            # write into pytest's root-only temp dirs: persistence would fail
            # silently ("Error saving in-memory database") at every save.
            "user root\n"
            # Mosquitto silently drops past 1000 queued messages by default.
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            f"{extra}\n")

    def command(self) -> list[str]:
        return ["mosquitto", "-c", str(self.conf)]


class Influxd(Service):
    """InfluxDB 1.x (Debian's influxd 1.6.7): v1 write API and InfluxQL."""

    name = "influxd"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.rpc_port = free_port()
        self.conf = self.workdir / "influxdb.conf"
        self.conf.write_text(f"""
reporting-enabled = false
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.workdir}/meta"
[data]
  dir = "{self.workdir}/data"
  wal-dir = "{self.workdir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
""")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return ["influxd", "run", "-config", str(self.conf)]

    def ready(self) -> bool:
        with urllib.request.urlopen(self.url + "/ping", timeout=1) as resp:
            return bool(resp.status == 204)

    def query(self, q: str, db: str = "", method: str = "GET") -> list[dict[str, Any]]:
        """Run InfluxQL; returns the series of the first statement (ns epoch)."""
        params = urllib.parse.urlencode({"q": q, "db": db, "epoch": "ns"})
        if method == "POST":
            req = urllib.request.Request(self.url + "/query", params.encode(), method="POST")
        else:
            req = urllib.request.Request(self.url + "/query?" + params)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.load(resp)
        result = body["results"][0]
        if "error" in result:
            raise RuntimeError(result["error"])
        return list(result.get("series", []))

    def create_db(self, db: str) -> None:
        self.query(f'CREATE DATABASE "{db}"', method="POST")

    def rows(self, q: str, db: str) -> list[dict[str, Any]]:
        """InfluxQL result rows as dicts (tags of GROUP BY merged in)."""
        out = []
        for series in self.query(q, db):
            for values in series["values"]:
                row = dict(zip(series["columns"], values, strict=True))
                row.update(series.get("tags", {}))
                out.append(row)
        return out


class VictoriaMetrics(Service):
    """Implements InfluxDB's /api/v2/write, so influxdb-client meets a real server."""

    name = "victoria-metrics"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return ["victoria-metrics", f"-storageDataPath={self.workdir}/data",
                f"-httpListenAddr=127.0.0.1:{self.port}", "-retentionPeriod=100y",
                "-loggerLevel=ERROR"]

    def ready(self) -> bool:
        with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:
            return bool(resp.status == 200)

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every stored series matching a selector, after making recent writes searchable."""
        urllib.request.urlopen(self.url + "/internal/force_flush", timeout=10).read()
        params = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{params}", timeout=10) as resp:
            return [json.loads(line) for line in resp.read().decode().splitlines() if line]
