"""Test windows, jitter, daily limits and the config of wan_throughput; ``once`` shows progress."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent import config as agent_config
from agent.contract.errors import ConfigError
from agent.probes.wan_throughput.schedule import SpeedSchedule, current_window
from tests.speed_support import ROOT, TOKEN, wan
from tests.support import AGENT_HEAD

TZ = timezone(timedelta(hours=8))  # China Standard Time


def at(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


def test_window_crossing_midnight() -> None:
    windows = ["22:00-06:00"]
    assert current_window(windows, at(23, 30)) == (at(22), at(6, day=26))
    assert current_window(windows, at(2, day=26)) == (at(22), at(6, day=26))
    assert current_window(windows, at(12)) is None


def test_one_test_per_window_at_a_random_moment(tmp_path: Path) -> None:
    sched = SpeedSchedule(tmp_path / "s.json", ["12:10-13:50"], 0, 0, reserve_seconds=60,
                         rng=random.Random(7))
    assert sched.due(at(11, 0)) == (False, "outside the test windows")
    due, _ = sched.due(at(12, 10))
    drawn = datetime.fromtimestamp(sched.state.next_at, TZ)
    assert at(12, 10) <= drawn <= at(13, 49)
    assert not due or drawn == at(12, 10)
    assert sched.due(drawn - timedelta(seconds=1))[0] is False
    assert sched.due(drawn + timedelta(seconds=1))[0] is True
    sched.record(50_000_000, drawn)
    assert sched.due(drawn + timedelta(minutes=5)) == (False, "already tested in this window")
    # Different seeds spread schools over the window.
    draws = set()
    for seed in range(20):
        other = SpeedSchedule(tmp_path / f"{seed}.json", ["12:10-13:50"], 0, 0,
                             rng=random.Random(seed))
        other.due(at(12, 10))
        draws.add(int(other.state.next_at) // 300)
    assert len(draws) >= 10


def test_daily_count_and_byte_budget_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    sched = SpeedSchedule(path, [], max_tests_per_day=3, daily_budget_bytes=250e6)
    assert sched.due(at(9))[0]
    sched.record(100_000_000, at(9))
    sched = SpeedSchedule(path, [], max_tests_per_day=3, daily_budget_bytes=250e6)  # restart
    assert sched.due(at(10))[0]
    sched.record(100_000_000, at(10))
    due, why = sched.due(at(11))
    assert not due and "byte budget" in why  # a third 100 MB test would pass 250 MB
    assert sched.due(at(0, 5, day=26))[0]  # a new day
    limited = SpeedSchedule(tmp_path / "n.json", [], max_tests_per_day=1, daily_budget_bytes=0)
    limited.record(1, at(9))
    assert limited.due(at(9, 1)) == (False, "daily limit of 1 tests reached")


AGENT = AGENT_HEAD + """tls = false
[agent]
state_dir = "{state}"
[probes.wan_throughput]
method = "{method}"
server = "{server}"
windows = {windows}
max_tests_per_day = 1
"""


def write(tmp_path: Path, method: str = "http", server: str = "http://127.0.0.1:1/",
          windows: str = '["22:00-06:00"]') -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(AGENT.format(state=tmp_path, method=method, server=server, windows=windows))
    return path


def test_config_is_checked_at_load(tmp_path: Path) -> None:
    cfg = agent_config.load(write(tmp_path))
    probe = cfg.probes[0]
    assert probe.name == "wan_throughput" and probe.timeout == 180
    assert probe.opts.streams == 4 and probe.opts.windows == ["22:00-06:00"]
    with pytest.raises(ConfigError) as err:
        agent_config.load(write(tmp_path, windows='["after school"]'))
    assert err.value.line == 15 and "windows" in str(err.value)
    with pytest.raises(ConfigError, match="method"):
        agent_config.load(write(tmp_path, method="ookla"))


@pytest.mark.integration
def test_once_runs_now_and_shows_progress(tmp_path: Path) -> None:
    with wan(100, 100) as w:
        # Outside its window and past its daily limit the daemon would not
        # test; ``once`` is a person asking, so it runs and says why.
        (tmp_path / "wan_throughput.json").write_text(json.dumps({"day": "", "tests": 0}))
        cfg = write(tmp_path, server=w.speed_url, windows="[]")
        cfg.write_text(cfg.read_text() + f'max_seconds = 3\ncpu_limit_share = 1.0\n'
                       f'token = "{TOKEN}"\n')
        proc = subprocess.run([sys.executable, "-m", "agent.cli", "once", "-c", str(cfg),
                               "--probe", "wan_throughput", "--json"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    reading = next(r for r in lines if r["measurement"] == "wan_throughput")
    assert reading["fields"]["result"] == "ok", reading["fields"]
    assert 85e6 < reading["fields"]["download_bps"] < 100e6
    assert "http: download" in proc.stderr and "http: upload" in proc.stderr
