"""Registry reload without restart; alert rate limit and digest; the dry run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.judge.alerts import Alert, Alerter
from collector.judge.registry import COLUMNS, Registry
from collector.judge.rules import Health, Verdict
from tests.services import Influxd
from tests.test_report import school

REPO = Path(__file__).resolve().parents[1]
ROW = "{sid},学校,37,山东省,3701,济南市,370102,历下区,primary,10,1000\n"


def test_registry_reloads_and_keeps_the_last_good_file(tmp_path: Path) -> None:
    path = tmp_path / "schools.csv"
    path.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid="s1"), encoding="utf-8")
    registry = Registry(path, check_every=0.0)
    assert registry.get("s2") is None
    path.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid="s1") + ROW.format(sid="s2"),
                    encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert registry.get("s2") is not None  # picked up without a restart
    path.write_text(",".join(COLUMNS) + "\nbroken,row\n", encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert registry.get("s2") is not None  # a half-edited file changes nothing
    assert sorted(registry.schools) == ["s1", "s2"]


def test_rate_limit_folds_the_rest_into_one_digest(tmp_path: Path) -> None:
    sent: list[Alert | str] = []
    alerter = Alerter(str(tmp_path / "state.json"), [sent.append], max_per_hour=3)
    schools = [school(f"s{i}", "370102") for i in range(5)]
    verdicts = [Verdict(s, "ipv6", "fail", 1.0, 3.0, 5) for s in schools]
    alerts = alerter.transitions(verdicts, {}, time.time_ns())
    assert len(alerts) == 5
    alerter.send(alerts)
    assert len(sent) == 3 and alerter.held_back == 2
    alerter._sent.clear()  # an hour later
    alerter.send([])
    assert sent[-1] == ("另有 2 条告警因频率限制未单独发送 / "
                        "2 more alerts were held back by the rate limit")
    alerter.save()
    # Restarted with the saved state: the same verdicts raise nothing again.
    again = Alerter(str(tmp_path / "state.json"), [sent.append])
    assert again.transitions(verdicts, {}, time.time_ns()) == []
    healthy = {s.school_id: Health(False, time.time_ns(), frozenset()) for s in schools}
    recovered = again.transitions([Verdict(s, "ipv6", "pass", 3.0, 3.0, 5) for s in schools],
                                  healthy, time.time_ns())
    assert [a.kind for a in recovered] == ["recovered"] * 5


@pytest.mark.integration
def test_dry_run_prints_and_writes_nothing(tmp_path: Path, influxd: Influxd,
                                           database: str) -> None:
    registry = tmp_path / "schools.csv"
    registry.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid="s1"), encoding="utf-8")
    config = tmp_path / "collector.toml"
    config.write_text(f"""
[mqtt]
host = "127.0.0.1"
[storage]
kind = "influxdb1"
url = "{influxd.url}"
database = "{database}"
[registry]
file = "{registry}"
[targets]
file = "{REPO / 'configs/targets.toml'}"
""", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "collector.cli", "evaluate", "-c", str(config),
                          "--dry-run"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "s1               exit_bandwidth   no_data" in out.stdout
    assert "0 alert(s) would be sent" in out.stdout
    assert influxd.rows("SELECT * FROM compliance", database) == []
