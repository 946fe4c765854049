"""The scheduled digest: which period is due, its text, and its delivery through apprise's
json:// channel to a real local HTTP endpoint, once per period across restarts."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from collector import config as collector_config
from collector.judge.alerts import apprise_sink
from collector.judge.registry import Registry
from collector.report.digest import Digester, due
from tests import report_province as sim
from tests.services import Influxd
from tests.support import Hook, collector_toml, influx1_storage, judging_toml

REPO = Path(__file__).resolve().parents[1]


def test_the_period_just_past_is_due() -> None:
    assert due("monthly", dt.date(2026, 10, 1)) == ("2026-09", dt.date(2026, 9, 30),
                                                    dt.date(2026, 8, 31))
    assert due("monthly", dt.date(2026, 3, 17)) == ("2026-02", dt.date(2026, 2, 28),
                                                    dt.date(2026, 1, 31))
    # Wednesday 2 December 2026: the week that ended on Sunday 29 November.
    assert due("weekly", dt.date(2026, 12, 2)) == ("2026-W48", dt.date(2026, 11, 29),
                                                   dt.date(2026, 11, 22))
    assert due("daily", dt.date(2026, 1, 1)) == ("2025-12-31", dt.date(2025, 12, 31),
                                                 dt.date(2025, 12, 30))


@pytest.mark.integration
def test_monthly_digest_is_sent_once_per_month(tmp_path: Path, influxd: Influxd,
                                               database: str, webhook: int) -> None:
    schools = sim.province(60)
    sim.write(influxd.url, database, sim.lines(schools))
    registry = sim.write_files(tmp_path, schools)
    extra = f"""
[alerts]
urls = ["json://127.0.0.1:{webhook}/hook"]
[digest]
schedule = "monthly"
level = "city"
max_schools = 5
state_file = "{tmp_path / 'digest.json'}"
"""
    path = judging_toml(tmp_path, 1883, influx1_storage(influxd.url, database), "dg", registry,
                        extra=extra)
    cfg = collector_config.load(path)

    def digester() -> Digester:
        return Digester(cfg, Registry(registry), [apprise_sink(cfg.alerts.urls, "zh")])

    first = digester()
    assert first.maybe_send(dt.date(2026, 10, 1))
    assert len(Hook.bodies) == 1
    text = Hook.bodies[0]["message"]
    lines = text.splitlines()
    assert lines[0] == "山东省学校网络达标情况（60 所学校，截至 2026-09-30，对比 2026-08-31）"
    met = sum(bool(sim.expected(s, sim.LATE)["exit_100"]) for s in schools)
    assert f"出口带宽≥100M 0.0% → {met / 60:.1%}" in lines[1]  # nothing in August
    assert lines[1].startswith("合计 山东省（60）：已接入上报 ")
    assert [line[:3] for line in lines[3:6]] == ["济南市", "青岛市", "淄博市"]
    below = [s for s in schools if s.plans[sim.LATE].verdict != "pass"]
    assert f"未全部达标的学校：{len(below)} 所" in lines
    assert len([line for line in lines if line.startswith("- ")]) == 5
    assert lines[-1] == f"……另有 {len(below) - 5} 所，见 report --view ledger --below"
    # Sent for September: not again this month, nor after a restart.
    assert not first.maybe_send(dt.date(2026, 10, 20))
    assert not digester().maybe_send(dt.date(2026, 10, 31))
    assert len(Hook.bodies) == 1
    assert digester().maybe_send(dt.date(2026, 11, 1)) and len(Hook.bodies) == 2
    # What would be sent can be printed at any time.
    shown = subprocess.run([sys.executable, "-m", "collector.cli", "report", "-c", str(path),
                            "--level", "city", "--format", "digest", "--as-of", "2026-09-30",
                            "--compare", "2026-08-31"], capture_output=True, text=True,
                           timeout=120, cwd=REPO)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[:6] == lines[:6]


@pytest.mark.integration
def test_a_digest_without_a_channel_is_a_config_error(tmp_path: Path) -> None:
    path = collector_toml(tmp_path, 1883, influx1_storage("http://127.0.0.1:9", "x"), "dg",
                          '[digest]\nschedule = "monthly"\n')
    out = subprocess.run([sys.executable, "-m", "collector.cli", "check-config", "-c",
                          str(path)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 2
    assert "digest.schedule" in out.stderr and "needs [targets] file and [alerts] urls" \
        in out.stderr
