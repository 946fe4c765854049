"""A hostile school beside honest ones changes nothing for them.

Real Mosquitto with the shipped config (TLS, the per-school ACL that
``schoolnet-collector broker-access`` writes), real influxd 1.6.7, the real
collector. Honest schools B and C publish the same readings twice: once
alone (the baseline), once while school A, with its own valid account, runs
every attack in ``tests/hostile_attacks.py`` and its registry is edited into a
row of 9 of 11 columns and back. Then: every honest reading is stored exactly
once and receipted, the stored points, the ``evaluate`` verdicts, the alerts
and the ``report`` match the baseline, the same collector process is alive
and every attack is counted against A with its reason.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from collector.judge.quality import QUALITY_TARGETS
from collector.judge.rules import TARGETS
from tests.deploy_support import REPO
from tests.hostile_attacks import ATTACKS, ESCAPES
from tests.hostile_support import (
    HONEST,
    HONEST_MEASUREMENTS,
    A,
    Arena,
    SchoolClient,
    Watcher,
    arena,
    collector_config,
    honest_reading,
    retained_under,
)
from tests.services import Influxd, wait_for
from tests.support import running_collector

pytestmark = pytest.mark.integration

N = 48  # readings per honest school
T0 = time.time_ns() - 3600 * 10**9  # the same timestamps in both runs
BAD_ROW = "370102-0009,半行,37,山东省,3701,济南市,370102,历下区,primary\n"


@dataclass
class Outcome:
    stored: dict[str, list[dict[str, Any]]]
    verdicts: list[str]
    reports: list[str]
    alerts: list[dict[str, Any]]
    database: str
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def where() -> Iterator[Arena]:
    with arena() as setup:
        yield setup


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "collector.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=REPO, check=False)


def judged(where: Arena, config: Path) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """``evaluate`` (verdicts written, alerts sent) then ``report``, as commands."""
    watcher = Watcher(where, "schoolnet/alerts/#", f"alerts-{config.stem}")
    done = cli("evaluate", "-c", str(config))
    assert done.returncode == 0, done.stderr
    verdicts = [ln for ln in done.stdout.splitlines() if ln.split(" ")[0] in {A, *HONEST}]
    # 3 schools x (4 targets + all + the 3 connection-quality targets)
    assert len(verdicts) == 3 * (len(TARGETS) + 1 + len(QUALITY_TARGETS)), done.stdout
    sent = int(done.stdout.strip().splitlines()[-1].split()[0])
    wait_for(lambda: len(watcher.messages) >= sent, 10, "alerts on the broker")
    watcher.close()
    reports = []
    for level in ("county", "school"):
        out = cli("report", "-c", str(config), "--level", level, "--format", "json")
        assert out.returncode == 0, out.stderr
        # Everything but when it was made (the title names the as-of time).
        body = json.loads(out.stdout)
        reports.append(json.dumps({k: v for k, v in body.items()
                                   if k not in {"title", "as_of", "as_of_ns"}},
                                  ensure_ascii=False, sort_keys=True))
    return verdicts, reports, [json.loads(p) for _, p, _ in watcher.messages]


def stored(influxd: Influxd, database: str) -> dict[str, list[dict[str, Any]]]:
    return {sid: sorted(influxd.rows(f"SELECT * FROM {HONEST_MEASUREMENTS} "
                                     f"WHERE school = '{sid}'", database),
                        key=lambda r: (r["time"], r["seq"])) for sid in HONEST}


def touch(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    later = time.time_ns() + 10**9  # a new mtime even within the clock's granularity
    os.utime(path, ns=(later, later))


def assert_alive(collector: Any) -> None:
    assert collector.failure is None
    assert all(thread.is_alive() for thread in collector.threads), collector.threads


def run(where: Arena, influxd: Influxd, tmp: Path, caplog: pytest.LogCaptureFixture,
        hostile: bool) -> Outcome:
    """Honest B and C send N readings each; with ``hostile``, A attacks meanwhile."""
    database = f"hostile{int(hostile)}{time.monotonic_ns()}"
    influxd.create_db(database)
    config = collector_config(where, tmp / f"{database}.toml", database, influxd.url)
    good_registry = where.registry.read_text(encoding="utf-8")
    plan = list(ATTACKS.items()) if hostile else []
    expected: Counter[str] = Counter()
    with running_collector(config) as collector:
        schools = {sid: SchoolClient(where, sid, f"{sid}-{database}") for sid in HONEST}
        for school in schools.values():
            school.online()
        a = SchoolClient(where, A, f"{A}-{database}") if hostile else None
        for i in range(N):
            for sid, school in schools.items():
                school.send(honest_reading(sid, i, T0), i + 1, wait=False)
            time.sleep(0.1)
            if a is None:
                continue
            if i == 2:  # finding 4: a row of 9 of 11 columns, then mended
                touch(where.registry, good_registry + BAD_ROW)
                check = cli("check-config", "-c", str(config))
                assert check.returncode == 2, check.stdout + check.stderr
                assert f"{where.registry}:5" in check.stdout + check.stderr
            if i % 4 == 3 and plan:
                expected += plan.pop(0)[1](a)
            if i == N - 12:
                wait_for(lambda: "registry not reloaded, keeping 3 schools" in caplog.text, 30,
                         "the broken registry refused", interval=0.2)
                touch(where.registry, good_registry)
        for sid, school in schools.items():
            wait_for(lambda s=school: s.receipted() >= set(range(1, N + 1)), 60,
                     f"{sid}'s receipts", interval=0.1)
            assert school.refused() == {}
        if a is not None:
            assert not plan, plan
            # The registry is re-read when a message needs it, at most every 5 s:
            # A's own status keeps messages coming.
            wait_for(lambda: a.online() is not None
                     and "registry reloaded: 3 schools" in caplog.text, 30,
                     "the mended registry", interval=0.5)
            wait_for(lambda: sum(n for (s, _), n in collector.pipeline.stats.by_school.items()
                                 if s == A) >= sum(expected.values()), 60,
                     "every attack counted", interval=0.2)
            # The deletions queue behind A's dead letters on a busy machine.
            wait_for(lambda: retained_under(where, A) == [a.identity.status_topic], 60,
                     "only A's status left retained", interval=0)
            assert a.foreign == []  # it subscribed to B's receipts and all readings
            a.close()
        time.sleep(0.5)  # anything counted late shows below
        assert_alive(collector)
        rejected = collector.pipeline.stats.by_school.copy()
        for school in schools.values():
            assert school.foreign == []  # nothing but its own receipts reached it
            school.close()
    assert Counter({r: n for (s, r), n in rejected.items() if s == A}) == expected
    verdicts, reports, alerts = judged(where, config)
    return Outcome(stored(influxd, database), verdicts, reports, alerts, database, rejected)


def test_a_hostile_school_changes_nothing_for_honest_ones(
        where: Arena, influxd: Influxd, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="collector.judge.registry")
    baseline = run(where, influxd, tmp_path, caplog, hostile=False)
    attacked = run(where, influxd, tmp_path, caplog, hostile=True)
    for sid in HONEST:
        assert [r["seq"] for r in attacked.stored[sid]] == list(range(1, N + 1))  # once each
    assert attacked.stored == baseline.stored
    assert attacked.verdicts == baseline.verdicts
    assert attacked.reports == baseline.reports
    assert [v for v in attacked.verdicts if v.startswith(A)] == [
        v for v in baseline.verdicts if v.startswith(A)]  # A forged no verdict
    assert not any(s in HONEST for s, _ in attacked.rejected)

    def honest_alerts(outcome: Outcome) -> list[tuple[str, str, str]]:
        return sorted((x.get("school_id"), x["kind"], x.get("subject", "")) for x in outcome.alerts
                      if x.get("school_id") in HONEST)

    assert honest_alerts(attacked) == honest_alerts(baseline)
    assert ("110101-0003", "probe_failing", "wifi") in honest_alerts(attacked)
    texts = json.dumps(attacked.alerts, ensure_ascii=False)
    assert "evil" not in texts and "请立即登录" not in texts
    assert sum(x.get("school_id") == A for x in attacked.alerts) <= 6  # its share of the budget
    # Nothing A sent as a reading got stored: not the type conflicts, the
    # surrogates, the far-off times, nor the 100 KB reading the broker withheld.
    assert influxd.rows(f"SELECT count(*) FROM wan_link, wan_throughput WHERE school = '{A}'",
                        attacked.database) == []
    # Escapes meant to end the tag set and go on as B's point stayed A's, verbatim.
    scans = influxd.rows("SELECT * FROM wifi_scan", attacked.database)
    assert sorted((r["school"], r["iface"], r["detail"]) for r in scans) == sorted(
        (A, text, text) for text in ESCAPES)
    # Not one of A's invented probe runs was stored, so none can reach a
    # dashboard's legend either.
    assert influxd.rows(f"SELECT count(*) FROM probe_run WHERE school = '{A}'",
                        attacked.database) == []
