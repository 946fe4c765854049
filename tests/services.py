"""Real services for tests: Mosquitto, ejabberd, influxd 1.x and VictoriaMetrics on loopback.

Each runs from Debian's package, on a free port, with its files in a temp dir,
and is stopped (or killed, for fault tests) by the test that started it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
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

    def environment(self) -> dict[str, str] | None:
        """The service's environment; None inherits the test's."""
        return None

    def ready(self) -> bool:
        return _port_open(self.port)

    def start(self, timeout: float = 30.0) -> None:
        binary = self.command()[0]
        if shutil.which(binary) is None:
            raise RuntimeError(f"{binary} is not installed (deploy/test.sh installs it)")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, env=self.environment(),
                                         start_new_session=True)
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


class Ejabberd(Service):
    """ejabberd's MQTT 5 broker (mod_mqtt, Debian's ejabberd 23.01): a second,
    independent implementation to test the collector's transport against.

    Several instances run side by side and beside a system one: each has its
    own node name, Erlang cookie (in its own HOME), Mnesia spool and
    distribution port, and none needs epmd. Every listener is on loopback.
    Clients log in as one of ``users`` with ``password``.
    """

    name = "ejabberd"
    users = ("collector", "school")

    def __init__(self, workdir: Path, max_queue: int | str = "unlimited",
                 session_expiry: int = 7 * 86400, queue_type: str = "ram") -> None:
        super().__init__(workdir)
        self.dist_port = free_port()
        self.node = f"schoolnet-{secrets.token_hex(4)}@localhost"
        self.password = secrets.token_hex(8)
        self.conf = self.workdir / "ejabberd.yml"
        # The instance's own cookie, read by the server and by ejabberdctl
        # through HOME, so that no other node can talk to it.
        cookie = self.workdir / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        self.conf.write_text(f"""
hosts: [localhost]
loglevel: info
log_rotate_count: 0
certfiles: []
listen:
  - port: {self.port}
    ip: "127.0.0.1"
    module: mod_mqtt
    backlog: 1000
auth_method: internal
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
api_permissions:
  "console commands":
    from: [ejabberd_ctl]
    who: all
    what: "*"
modules:
  mod_mqtt:
    session_expiry: {session_expiry}
    max_queue: {max_queue}
    queue_type: {queue_type}
""")
        self._registered = False

    def environment(self) -> dict[str, str]:
        # The Erlang library dir of Debian's package (arch-qualified).
        libs = sorted(Path("/usr/lib").glob("*/ejabberd-*"))
        return {**os.environ, "HOME": str(self.workdir),
                "EJABBERD_CONFIG_PATH": str(self.conf),
                "EJABBERD_LOG_PATH": str(self.workdir / "log" / "ejabberd.log"),
                "ERL_LIBS": str(libs[0].parent) if libs else "",
                "ERL_CRASH_DUMP_BYTES": "0"}

    def _erl(self, name: str) -> list[str]:
        # No epmd: the node listens on, and ejabberdctl dials, dist_port.
        return ["erl", "-sname", f"{name}@localhost", "-erl_epmd_port", str(self.dist_port),
                "-start_epmd", "false", "-noinput"]

    def command(self) -> list[str]:
        # As root, like the Mosquitto above: ejabberdctl would switch to the
        # ejabberd user, who cannot enter pytest's root-only temp dirs.
        return [*self._erl(self.node.split("@")[0]),
                "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                "-mnesia", "dir", f'"{self.workdir / "spool"}"', "-s", "ejabberd"]

    def ctl(self, *args: str) -> str:
        """``ejabberdctl ARGS`` against this instance; its output."""
        cmd = [*self._erl(f"ctl-{secrets.token_hex(4)}"), "-hidden", "-dist_listen", "false",
               "-s", "ejabberd_ctl", "-extra", self.node, *args]
        done = subprocess.run(cmd, env=self.environment(), capture_output=True, text=True,
                              timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"ejabberdctl {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def start(self, timeout: float = 30.0) -> None:
        if not self.environment()["ERL_LIBS"]:
            raise RuntimeError("ejabberd is not installed (deploy/test.sh installs it)")
        super().start(timeout)
        if not self._registered:  # accounts live in the spool, across restarts
            self.ctl_each([("register", user, "localhost", self.password)
                           for user in self.users])
            self._registered = True

    def ctl_each(self, commands: list[tuple[str, ...]]) -> None:
        """Several ejabberdctl commands at once: each starts an Erlang VM."""
        errors: list[BaseException] = []

        def run(args: tuple[str, ...]) -> None:
            try:
                self.ctl(*args)
            except BaseException as err:  # reported below, in this thread
                errors.append(err)

        threads = [threading.Thread(target=run, args=(c,)) for c in commands]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]


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
