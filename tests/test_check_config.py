"""``schoolnet-collector check-config`` (and run, evaluate, report) on broken files,
and a broken registry edit under a running collector.

The real command in a child process: every problem in the registry, targets
and alert state is listed, and the exit code is 2. A running collector whose
registry gains a row with 9 of 11 columns logs it and keeps storing.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from collector.judge.registry import COLUMNS
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import collector_toml, influx1_storage, publisher_client, running_collector

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
ROW = "{sid},学校,37,山东省,3701,济南市,370102,历下区,primary,10,1000\n"
NINE = "bad-1,学校,37,山东省,3701,济南市,370102,历下区,primary\n"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "collector.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def config(tmp: Path, registry: Path, targets: Path, state: Path) -> Path:
    path = tmp / "collector.toml"
    path.write_text(f"""
[mqtt]
host = "127.0.0.1"
port = 1
[storage]
kind = "influxdb1"
url = "http://127.0.0.1:1"
[registry]
file = "{registry}"
[targets]
file = "{targets}"
[alerts]
state_file = "{state}"
""", encoding="utf-8")
    return path


def test_check_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    registry, targets, state = (tmp_path / "schools.csv", tmp_path / "targets.toml",
                                tmp_path / "alerts.json")
    registry.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid="s1") + NINE
                        + ROW.format(sid="s2").replace(",10,", ",99999,"), encoding="utf-8")
    targets.write_text("[defaults]\nexit_mbps = 'fast'\n", encoding="utf-8")
    state.write_text("{not json", encoding="utf-8")
    path = config(tmp_path, registry, targets, state)
    out = cli("check-config", "-c", str(path))
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert f"config error: {registry}:3: has 9 columns, expected 11" in lines[0], lines
    assert (f"config error: {registry}:4: key 'classes': must be between 0 and 1000, "
            "got '99999'") in lines, lines
    assert any(line.startswith(f"config error: {targets}:2: key 'defaults.exit_mbps'")
               for line in lines), lines
    assert any(line.startswith(f"config error: {state}: alert state is not valid JSON")
               for line in lines), lines
    assert "Traceback" not in out.stderr
    # The other commands refuse the same files the same way, before touching anything.
    for command in (["run"], ["evaluate", "--dry-run"], ["report"]):
        again = cli(command[0], "-c", str(path), *command[1:])
        assert again.returncode == 2, (command, again)
        assert again.stderr == out.stderr, command
    # Fixed, it passes and names what it loaded.
    registry.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid="s1"), encoding="utf-8")
    targets.write_text((REPO / "configs/targets.toml").read_text(encoding="utf-8"),
                       encoding="utf-8")
    state.write_text("{}", encoding="utf-8")
    ok = cli("check-config", "-c", str(path))
    assert ok.returncode == 0, ok
    assert f"registry {registry}, targets {targets}, alert state {state}" in ok.stdout


def test_a_nine_column_row_at_reload_is_logged_and_storing_goes_on(
        tmp_path: Path, broker: Mosquitto, influxd: Influxd, database: str, unique: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sid = f"reg-{unique}"
    identity = Identity("37", "3701", "370102", sid)
    registry = tmp_path / "schools.csv"
    registry.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid=sid), encoding="utf-8")
    cfg = collector_toml(tmp_path, broker.port, influx1_storage(influxd.url, database), sid,
                         f'[registry]\nfile = "{registry}"\n')
    client = publisher_client(broker.port)
    base = time.time_ns() - 10**12

    def send(first: int, count: int) -> None:
        for n in range(first, first + count):
            reading = Reading("wan_link", {"rx_bps": float(n), "result": "ok"},
                              {"iface": "eth0"}, base + n * 1000)
            client.publish(identity.topic("wan_link"), encode(identity, reading, n),
                           qos=1).wait_for_publish(5)

    with running_collector(cfg) as collector:
        send(1, 20)
        wait_for(lambda: collector.pipeline.stats.stored >= 20, 20, "first readings")
        registry.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid=sid) + NINE,
                            encoding="utf-8")
        os.utime(registry, ns=(time.time_ns(), time.time_ns() + 10**9))
        time.sleep(5.5)  # the registry is looked at again at most every 5 s
        send(21, 20)
        wait_for(lambda: collector.pipeline.stats.stored >= 40, 20, "readings after the edit")
        assert collector.failure is None
        assert all(t.is_alive() for t in collector.threads)
    client.disconnect()
    client.loop_stop()
    assert f"{registry}:3: has 9 columns, expected 11" in caplog.text
    assert "registry not reloaded, keeping 1 schools" in caplog.text
    rows = influxd.rows(f"SELECT count(rx_bps) FROM wan_link WHERE school = '{sid}'", database)
    assert rows[0]["count"] == 40
