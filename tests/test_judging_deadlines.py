"""Stream-fed judging re-judges a school with no new reading exactly when its
verdicts can change: a reading ages past max_age_days, or the school goes silent."""

from __future__ import annotations

from pathlib import Path

from agent.contract.configschema import build
from agent.contract.reading import Reading
from agent.contract.wire import Envelope, Identity
from collector.config import Storage
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.rounds import WindowJudge
from collector.judge.targets import load as load_targets

REPO = Path(__file__).resolve().parents[1]
TARGETS = load_targets(REPO / "configs/targets.toml")
MINUTE = 60 * 10**9
DAY = 1440 * MINUTE
NOW = 1_800_000_000 * 10**9
ID = Identity("37", "3701", "370102", "s1")
SCHOOL = School("s1", "学校", "37", "山东省", "3701", "济南市", "370102", "历下区", "primary",
                1, 1000.0)


def judge() -> WindowJudge:
    # Fed from the first reading on: the database (none here) is never asked.
    unreachable = build(Storage, {"kind": "influxdb1", "url": "http://127.0.0.1:1"})
    j = WindowJudge(InfluxQLReader(unreachable), TARGETS)
    j.ready = True
    return j


def feed(j: WindowJudge, measurement: str, fields: dict[str, float | str | bool],
         tags: dict[str, str], ts: int) -> None:
    j.feed([(Envelope(ID, 1, Reading(measurement, fields, tags, ts)), ts)])


def by_target(j: WindowJudge, now: int) -> dict[str, str]:
    verdicts, _ = j.judge([SCHOOL], now)
    return {v.target: v.status for v in verdicts}


def test_an_ageing_reading_rejudges_the_school_when_it_expires() -> None:
    j = judge()
    feed(j, "ipv6", {"level": 3}, {}, NOW - 29 * DAY)
    assert by_target(j, NOW)["ipv6"] == "pass"
    assert by_target(j, NOW + DAY - MINUTE)["ipv6"] == "pass" and j.judged == 0
    assert by_target(j, NOW + DAY)["ipv6"] == "no_data" and j.judged == 1
    assert by_target(j, NOW + 2 * DAY)["ipv6"] == "no_data" and j.judged == 0


def test_silence_is_noticed_without_a_reading() -> None:
    j = judge()
    feed(j, "probe_run", {"result": "ok", "duration_seconds": 1.0}, {"probe": "ipv6"}, NOW)
    _, health = j.judge([SCHOOL], NOW)
    assert not health["s1"].silent
    _, health = j.judge([SCHOOL], NOW + 30 * MINUTE)
    assert not health["s1"].silent and j.judged == 0
    _, health = j.judge([SCHOOL], NOW + 31 * MINUTE)
    assert health["s1"].silent and j.judged == 1


def test_a_resent_reading_changes_nothing_and_a_new_one_does() -> None:
    j = judge()
    for ts in range(5):
        feed(j, "wifi_coverage", {"coverage_share": 1.0}, {}, NOW - ts * MINUTE)
    assert by_target(j, NOW)["wifi"] == "pass"
    feed(j, "wifi_coverage", {"coverage_share": 1.0}, {}, NOW)  # a lost receipt's resend
    assert by_target(j, NOW)["wifi"] == "pass"
    for ts in range(1, 4):
        feed(j, "wifi_coverage", {"coverage_share": 0.5}, {}, NOW + ts * MINUTE)
    assert by_target(j, NOW + 4 * MINUTE)["wifi"] == "fail" and j.judged == 1
    # A spooled reading older than the whole window is never evidence.
    feed(j, "wifi_coverage", {"coverage_share": 0.0}, {}, NOW - DAY)
    verdicts, _ = j.judge([SCHOOL], NOW + 4 * MINUTE)
    assert j.judged == 0 and [v.readings for v in verdicts if v.target == "wifi"] == [5]


def test_rebuild_chunks_hold_whole_counties() -> None:
    from dataclasses import replace

    from collector.judge.rounds import REBUILD_CHUNK, county_chunks

    sizes = {"a": 300, "b": 300, "c": 900, "d": 10, "e": 10}
    schools = [replace(SCHOOL, school_id=f"{c}{i}", county=c)
               for c, n in sizes.items() for i in range(n)]
    chunks = list(county_chunks(schools))
    assert sorted(s.school_id for c in chunks for s in c) == sorted(s.school_id for s in schools)
    counties = [{s.county for s in c} for c in chunks]
    for i, seen in enumerate(counties):  # a county is never split between chunks
        assert all(not seen & other for other in counties[i + 1:])
    # Up to REBUILD_CHUNK schools, or one county that is larger on its own.
    assert all(len(c) <= REBUILD_CHUNK or len(counties[i]) == 1 for i, c in enumerate(chunks))
    assert [len(c) for c in chunks] == [300, 300, 900, 20]
