"""deploy/influxdb/bootstrap-influxdb1.sh against a real influxd 1.6.7 with auth on.

(The 2.x script cannot be tested here: no InfluxDB 2.x server installs on
this machine; its header says so.)
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.contract.configschema import build
from agent.contract.reading import Reading
from collector.config import Storage
from collector.errors import Unavailable
from collector.ingest.lineproto import line
from collector.ingest.writer import InfluxV1Writer
from tests.deploy_support import REPO
from tests.services import Influxd

# Integration tier: a real influxd with authentication.
pytestmark = pytest.mark.integration

SCRIPT = REPO / "deploy/influxdb/bootstrap-influxdb1.sh"
PASSWORDS = {"INFLUX_ADMIN_PASSWORD": "adm'in\\pw", "COLLECTOR_PASSWORD": "c0ll'ector",
             "GRAFANA_PASSWORD": "gr af\"ana"}


class AuthInfluxd(Influxd):
    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.conf.write_text(self.conf.read_text().replace(
            "[http]\n", "[http]\n  auth-enabled = true\n"))


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthInfluxd]:
    with AuthInfluxd(tmp_path_factory.mktemp("influxd-auth")).running() as server:
        yield server


def bootstrap(server: Influxd, **extra: str) -> str:
    env = {**os.environ, "INFLUX_URL": server.url, **PASSWORDS, **extra}
    out = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def query(server: Influxd, q: str, user: str, password: str) -> dict[str, Any]:
    params = urllib.parse.urlencode({"q": q, "db": "schoolnet"})
    req = urllib.request.Request(f"{server.url}/query?{params}")
    req.add_header("Authorization",
                   "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return dict(json.load(resp))
    except urllib.error.HTTPError as err:
        return {"http_error": err.code, "body": err.read().decode()}


def writer(server: Influxd, user: str, password: str) -> InfluxV1Writer:
    return InfluxV1Writer(build(Storage, {
        "kind": "influxdb1", "url": server.url, "database": "schoolnet", "timeout_seconds": 5,
        "username": user, "password": password}))


def test_bootstrap_creates_database_policy_and_least_privilege_users(
        secured: AuthInfluxd) -> None:
    out = bootstrap(secured)
    assert "created admin user admin" in out
    admin = ("admin", PASSWORDS["INFLUX_ADMIN_PASSWORD"])
    policies = query(secured, 'SHOW RETENTION POLICIES ON "schoolnet"', *admin)
    rows = {r[0]: r for r in policies["results"][0]["series"][0]["values"]}
    assert rows["schoolnet"][1] == "9600h0m0s" and rows["schoolnet"][4] is True
    # The collector's own writer stores a reading into the default policy ...
    reading = Reading("wan_link", {"rx_bps": 1.0e8, "result": "ok"},
                      {"school": "370102-0001", "province": "37", "city": "3701",
                       "county": "370102", "iface": "eth0"})
    writer(secured, "collector", PASSWORDS["COLLECTOR_PASSWORD"]).write([line(reading)])
    # ... which Grafana's user reads, but the collector's user cannot.
    got = query(secured, "SELECT rx_bps FROM wan_link", "grafana", PASSWORDS["GRAFANA_PASSWORD"])
    assert got["results"][0]["series"][0]["values"][0][1] == 1.0e8
    denied = query(secured, "SELECT rx_bps FROM wan_link", "collector",
                   PASSWORDS["COLLECTOR_PASSWORD"])
    assert "not authorized" in json.dumps(denied)
    # Grafana's user cannot write, and a wrong password is refused outright.
    with pytest.raises(Unavailable, match="HTTP 403"):
        writer(secured, "grafana", PASSWORDS["GRAFANA_PASSWORD"]).write([line(reading)])
    with pytest.raises(Unavailable, match="HTTP 401"):
        writer(secured, "collector", "wrong").write([line(reading)])


def test_bootstrap_is_idempotent_and_changes_passwords(secured: AuthInfluxd) -> None:
    bootstrap(secured)
    out = bootstrap(secured, RETENTION="800d", COLLECTOR_PASSWORD="rotated")
    assert "created admin user" not in out
    admin = ("admin", PASSWORDS["INFLUX_ADMIN_PASSWORD"])
    policies = query(secured, 'SHOW RETENTION POLICIES ON "schoolnet"', *admin)
    defaults = [r[:2] for r in policies["results"][0]["series"][0]["values"] if r[4]]
    assert defaults == [["schoolnet", "19200h0m0s"]]  # changed in place, data kept
    reading = Reading("agent", {"uptime_seconds": 1.0, "result": "ok"})
    writer(secured, "collector", "rotated").write([line(reading)])
    with pytest.raises(Unavailable, match="HTTP 401"):
        writer(secured, "collector", PASSWORDS["COLLECTOR_PASSWORD"]).write([line(reading)])
