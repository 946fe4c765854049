"""deploy/influxdb/bootstrap-influxdb1.sh against a real influxd 1.6.7 with auth on,
and the deployed stack on the accounts it creates: collector run -> an agent's
reading -> evaluate -> report, each with the least privilege it needs.

(The 2.x script cannot be tested here: no InfluxDB 2.x server installs on
this machine; its header says so.)
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.contract.configschema import build
from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from collector.config import Storage
from collector.errors import Unavailable
from collector.ingest.lineproto import line
from collector.ingest.writer import InfluxV1Writer
from tests.deploy_support import REPO
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import agent_toml, publisher_client

# Integration tier: a real influxd with authentication.
pytestmark = pytest.mark.integration

SCRIPT = REPO / "deploy/influxdb/bootstrap-influxdb1.sh"
PASSWORDS = {"INFLUX_ADMIN_PASSWORD": "adm'in\\pw", "COLLECTOR_PASSWORD": "c0ll'ector",
             "READER_PASSWORD": "re\\ad\"er pw", "GRAFANA_PASSWORD": "gr af\"ana"}


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
    assert rows["schoolnet"][1] == "2160h0m0s" and rows["schoolnet"][4] is True  # 90 days raw
    assert rows["longterm"][1] == "43920h0m0s" and rows["longterm"][4] is False  # 5 years
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
    # The collector's reader (evaluate, report) reads too; neither reader may write,
    # and a wrong password is refused outright.
    got = query(secured, "SELECT rx_bps FROM wan_link", "reader", PASSWORDS["READER_PASSWORD"])
    assert got["results"][0]["series"][0]["values"][0][1] == 1.0e8
    for user in ("grafana", "reader"):
        with pytest.raises(Unavailable, match="HTTP 403"):
            writer(secured, user, PASSWORDS[f"{user.upper()}_PASSWORD"]).write([line(reading)])
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


def test_aggregates_for_the_long_term_come_from_the_raw_policy(secured: AuthInfluxd) -> None:
    """Each continuous query's SELECT ... INTO, run over a past day as the README's
    backfill runs it, writes the aggregates into the long-term policy."""
    bootstrap(secured)
    admin = ("admin", PASSWORDS["INFLUX_ADMIN_PASSWORD"])
    day = (time.time_ns() // 86_400_000_000_000 - 3) * 86_400_000_000_000
    tags = {"school": "s1", "province": "37", "city": "3701", "county": "370102"}
    raw = [Reading("wan_throughput", {"download_bps": bps, "result": "ok"},
                   {**tags, "method": "http", "server": "county"}, day + n * 600 * 10**9)
           for n, bps in enumerate([9e8, 7e8, 8e8])]  # 00:00, 00:10, 00:20
    raw += [Reading("compliance", {"status": st, "value": v, "threshold": 800.0,
                                   "readings": 3.0, "pass": st == "pass"},
                    {**tags, "target": "exit_bandwidth"}, day + n * 3600 * 10**9)
            for n, (st, v) in enumerate([("fail", 700.0), ("pass", 850.0)])]
    unit = {k: tags[k] for k in ("province", "city", "county")} | {"school_type": "primary"}
    raw += [Reading("indicator_rollup", {"counts": f'{{"schools":{n}}}'}, unit,
                    day + n * 3600 * 10**9) for n in (3, 4)]  # 03:00, 04:00: the day's last
    writer(secured, "collector", PASSWORDS["COLLECTOR_PASSWORD"]).write(
        [line(r) for r in raw])
    cqs = query(secured, "SHOW CONTINUOUS QUERIES", *admin)["results"][0]["series"]
    mine = {row[0]: row[1] for s in cqs if s["name"] == "schoolnet" for row in s["values"]}
    assert set(mine) == {f"schoolnet_{m}" for m in (
        "compliance_1d", "rollup_1h", "wan_throughput_1h", "wan_link_1h",
        "classroom_summary_1d", "wifi_coverage_1d", "ipv6_1d", "indicator_rollup_1d")}
    window = f"WHERE time >= {day} AND time < {day + 86_400_000_000_000} GROUP BY"
    for name in ("schoolnet_wan_throughput_1h", "schoolnet_compliance_1d",
                 "schoolnet_indicator_rollup_1d"):
        select = mine[name].split(" BEGIN ", 1)[1].rsplit(" END", 1)[0]
        done = query(secured, select.replace("GROUP BY", window, 1), *admin)
        assert "error" not in json.dumps(done), done
    got = query(secured, 'SELECT * FROM "longterm"."wan_throughput_1h"', *admin)
    [series] = got["results"][0]["series"]
    row = dict(zip(series["columns"], series["values"][0], strict=True))
    assert row["download_bps"] == pytest.approx(8e8) and row["download_max_bps"] == 9e8
    assert row["tests"] == 3 and row["school"] == "s1" and row["server"] == "county"
    got = query(secured, 'SELECT * FROM "longterm"."compliance_1d"', *admin)
    [series] = got["results"][0]["series"]
    row = dict(zip(series["columns"], series["values"][0], strict=True))
    assert (row["status"], row["value"], row["rounds"]) == ("pass", 850.0, 2)
    assert row["target"] == "exit_bandwidth"
    # The report's counts per county and school type: the day's last, its tags kept.
    got = query(secured, 'SELECT * FROM "longterm"."indicator_rollup_1d"', *admin)
    [series] = got["results"][0]["series"]
    row = dict(zip(series["columns"], series["values"][0], strict=True))
    assert row["counts"] == '{"schools":4}' and row["school_type"] == "primary"
    assert row["county"] == "370102" and row["time"] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(day // 10**9))  # stamped with the day's start
    # Grafana's account reads the long-term policy too.
    assert "series" in query(secured, 'SELECT * FROM "longterm"."compliance_1d"', "grafana",
                             PASSWORDS["GRAFANA_PASSWORD"])["results"][0]


def test_no_password_appears_on_any_command_line(secured: AuthInfluxd, tmp_path: Path) -> None:
    """Every process the script starts, traced: a command line is visible to
    every user of the host (ps, /proc/PID/cmdline); the environment is not."""
    trace = tmp_path / "execve.trace"
    env = {**os.environ, "INFLUX_URL": secured.url, **PASSWORDS}
    out = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-s", "65535",
                          "-o", str(trace), "sh", str(SCRIPT)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    calls = trace.read_text(errors="replace")
    assert calls.count('execve("/usr/bin/curl"') >= 10, calls[:2000]  # the trace saw them
    for name, password in PASSWORDS.items():
        # As given, and as the script quotes it for InfluxQL and for curl.
        forms = {password, password.replace("\\", "\\\\").replace("'", "\\'"),
                 password.replace("\\", "\\\\").replace('"', '\\"')}
        for form in forms:
            assert form not in calls and json.dumps(form)[1:-1] not in calls, name


def registry(path: Path) -> Path:
    path.write_text("school_id,name,province_code,province_name,city_code,city_name,"
                    "county_code,county_name,school_type,classes,contracted_mbps\n"
                    "370102-0001,历下实验学校,37,山东省,3701,济南市,370102,历下区,primary,"
                    "12,1000\n", encoding="utf-8")
    return path


def deployed_config(tmp: Path, server: Influxd, port: int, client_id: str,
                    reader: bool = True) -> Path:
    """The collector's config as the README deploys it, on the bootstrap's accounts."""
    def toml(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)  # a TOML basic string
    read = (f"read_username = \"reader\"\nread_password = {toml(PASSWORDS['READER_PASSWORD'])}"
            if reader else "")
    path = tmp / ("collector.toml" if reader else "collector-writer-only.toml")
    path.write_text(f"""
[mqtt]
host = "127.0.0.1"
port = {port}
tls = false
client_id = "{client_id}"
[storage]
kind = "influxdb1"
url = "{server.url}"
database = "schoolnet"
username = "collector"
password = {toml(PASSWORDS['COLLECTOR_PASSWORD'])}
{read}
[batch]
max_delay_seconds = 0.05
[registry]
file = "{registry(tmp / 'schools.csv')}"
[targets]
file = "{REPO / 'configs/targets.toml'}"
[alerts]
topic_prefix = "alerts-{client_id}"
state_file = "{tmp / 'state' / 'alerts.json'}"
""", encoding="utf-8")
    return path


def cli(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", program, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_deployed_accounts_run_the_whole_audit(secured: AuthInfluxd, broker: Mosquitto,
                                               tmp_path: Path, unique: str) -> None:
    bootstrap(secured)
    config = deployed_config(tmp_path, secured, broker.port, unique)
    agent = agent_toml(tmp_path, broker.port, "[probes.wan_link]\ninterface = \"lo\"\n"
                       "contracted_mbps = 1000\nsample_seconds = 0.2\n")
    checked = cli("collector.cli", "check-config", "-c", str(config))
    assert checked.returncode == 0, checked.stderr
    assert "(writes as 'collector', queries as 'reader')" in checked.stdout
    collector_log = tmp_path / "collector.log"
    with collector_log.open("wb") as out:
        collector = subprocess.Popen([sys.executable, "-m", "collector.cli", "run", "-c",
                                      str(config)], cwd=REPO, stdout=out,
                                     stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        # The agent waits only briefly for the collector's receipt, so the collector
        # must be subscribed first: its start-up reads the database, which on a busy
        # host can take longer than that wait.
        wait_for(lambda: "subscribed to" in collector_log.read_text(encoding="utf-8"), 60,
                 "collector subscribed")
        # The agent waits for the collector's receipt: stored with the writer account.
        sent = cli("agent.cli", "once", "-c", str(agent), "--probe", "wan_link", "--publish",
                   "--timeout", "60")
        assert sent.returncode == 0, sent.stderr
        assert "the collector confirmed that all" in sent.stderr, sent.stderr
        # Throughput tests, as the agent would send them, give the school a verdict.
        school = Identity("37", "3701", "370102", "370102-0001")

        def stored_tests() -> int:
            series = query(secured, "SELECT count(download_bps) FROM wan_throughput",
                           "reader", PASSWORDS["READER_PASSWORD"])["results"][0].get("series")
            return int(series[0]["values"][0][1]) if series else 0

        before = stored_tests()
        client = publisher_client(broker.port)
        now = time.time_ns()
        for n, mbps in enumerate((950.0, 940.0, 960.0)):
            reading = Reading("wan_throughput", {"download_bps": mbps * 1e6, "result": "ok"},
                              {"method": "iperf3"}, now - (3 - n) * 60 * 10**9)
            client.publish(school.topic("wan_throughput"), encode(school, reading, 10**6 + n),
                           qos=1).wait_for_publish(10)
        client.disconnect()
        client.loop_stop()

        # All three (the database may hold an earlier test's): stopping the collector
        # at the first would judge on fewer.
        try:
            wait_for(lambda: stored_tests() == before + 3, 30, "three throughput tests stored")
        except TimeoutError:
            collector.terminate()
            collector.wait(60)
            log = collector_log.read_text(encoding="utf-8")
            raise AssertionError(f"{stored_tests() - before} of 3 throughput tests stored; the "
                                 f"collector said:\n{log}") from None
    finally:
        if collector.returncode is None:
            collector.terminate()
            collector.wait(60)
        log = collector_log.read_text(encoding="utf-8")
    assert collector.returncode == 0, log
    assert "Traceback" not in log and "HTTP 403" not in log, log

    evaluated = cli("collector.cli", "evaluate", "-c", str(config))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "370102-0001" in evaluated.stdout and "alert(s) sent" in evaluated.stdout
    admin = ("admin", PASSWORDS["INFLUX_ADMIN_PASSWORD"])
    stored = query(secured, "SELECT status FROM compliance WHERE school = '370102-0001' "
                   "AND target = 'exit_bandwidth'", *admin)
    assert stored["results"][0]["series"][0]["values"][-1][1] == "pass", stored  # the writer's
    assert (tmp_path / "state" / "alerts.json").is_file()

    report = cli("collector.cli", "report", "-c", str(config), "--level", "county",
                 "--format", "json", "--lang", "en")
    assert report.returncode == 0, report.stderr
    rows = {r["code"]: r for r in json.loads(report.stdout)["rows"] if r["part"] == "all"}
    assert rows["370102"]["registered"] == 1
    assert rows["370102"]["indicators"]["connected"]["met"] == 1
    assert rows["370102"]["indicators"]["verdict_exit_bandwidth"] == {"met": 1, "of": 1,
                                                                      "share": 1.0}

    # The writer alone cannot judge: the command says which keys to set.
    writer_only = deployed_config(tmp_path, secured, broker.port, unique, reader=False)
    refused = cli("collector.cli", "evaluate", "-c", str(writer_only))
    assert refused.returncode == 1, refused
    assert "InfluxDB refused a query on 'schoolnet' with user 'collector' (HTTP 403): set " \
           "[storage] read_username and read_password" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_demo_data_loads_with_the_password_from_the_environment(secured: AuthInfluxd) -> None:
    bootstrap(secured)
    env = {**os.environ, "PYTHONPATH": str(REPO), "SCHOOLNET_INFLUX_USER": "collector",
           "SCHOOLNET_INFLUX_PASSWORD": PASSWORDS["COLLECTOR_PASSWORD"]}
    out = subprocess.run([sys.executable, "-m", "collector.cli", "grafana", "demo", "--url",
                          secured.url, "--database", "schoolnet", "--days", "1"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("wrote ") and "demo points to schoolnet" in out.stdout
    got = query(secured, "SELECT count(*) FROM compliance", "reader",
                PASSWORDS["READER_PASSWORD"])
    assert got["results"][0]["series"][0]["values"], got


def test_a_wrong_reader_password_is_named_as_such(secured: AuthInfluxd, broker: Mosquitto,
                                                  tmp_path: Path, unique: str) -> None:
    bootstrap(secured)
    config = deployed_config(tmp_path, secured, broker.port, unique)
    config.write_text(config.read_text(encoding="utf-8").replace(
        f"read_password = {json.dumps(PASSWORDS['READER_PASSWORD'])}",
        'read_password = "wrong"'), encoding="utf-8")
    out = cli("collector.cli", "report", "-c", str(config))
    assert out.returncode == 1, out
    assert ("InfluxDB did not accept the credentials of user 'reader' (HTTP 401): check "
            "[storage] read_username/read_password") in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
