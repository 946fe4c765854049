"""Verdict rules on readings stored in a real influxd: windows, methods, inconclusive rooms."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from collector.ingest.lineproto import line
from collector.ingest.writer import InfluxV1Writer
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.rules import Rules
from collector.judge.targets import load as load_targets
from tests.services import Influxd
from tests.test_pipeline import storage

# Integration tier: a real influxd.
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


def school(sid: str, classes: int) -> School:
    return School(sid, sid, "37", "p", "3701", "c", "370102", "x", "primary", classes, 1000.0)


def store(influxd: Influxd, db: str, points: list[Reading]) -> None:
    InfluxV1Writer(storage(influxd.url, db)).write([line(p) for p in points])


def rules(influxd: Influxd, db: str, **changes: object) -> Rules:
    targets = load_targets(REPO / "configs/targets.toml")
    targets = {k: replace(v, **changes) for k, v in targets.items()}  # type: ignore[arg-type]
    return Rules(InfluxQLReader(storage(influxd.url, db)), targets)


def room(sid: str, name: str, speed: float, ago: int, result: str = "ok") -> Reading:
    tags = {"school": sid, "province": "37", "city": "3701", "county": "370102",
            "classroom": name}
    return Reading("classroom_link", {"link_speed_mbps": speed, "oper_up": speed > 0,
                                      "result": result}, tags, time.time_ns() - ago * 10**9)


def test_inconclusive_rooms_neither_pass_nor_fail(influxd: Influxd, database: str) -> None:
    store(influxd, database, [
        room("ok2", "r1", 1000, 60), room("ok2", "r2", 1000, 60),
        room("unk", "r1", 1000, 60), room("unk", "r2", 0, 60, "inconclusive"),
        room("bad", "r1", 10, 60), room("bad", "r2", 0, 60, "inconclusive"),
    ])
    verdicts = {v.school.school_id: v for v in rules(influxd, database).evaluate(
        [school("ok2", 2), school("unk", 2), school("bad", 2)]) if v.target == "classroom_links"}
    assert (verdicts["ok2"].status, verdicts["ok2"].value) == ("pass", 1.0)
    assert (verdicts["unk"].status, verdicts["unk"].value) == ("inconclusive", 0.5)
    assert verdicts["unk"].detail == "1 of 2 classes at >= 100 Mbps, 1 unknown"
    assert verdicts["bad"].status == "fail"


def test_m_of_n_against_median(influxd: Influxd, database: str) -> None:
    # Newest first: 90, 95, 1000, 1000, 1000 — median passes, 2 of 5 misses.
    points = [room("flaky", "r1", s, ago) for s, ago in
              ((1000, 500), (1000, 400), (1000, 300), (95, 200), (90, 100))]
    store(influxd, database, points)
    flaky = [school("flaky", 1)]

    def status(**changes: object) -> str:
        return next(v.status for v in rules(influxd, database, **changes).evaluate(flaky)
                    if v.target == "classroom_links")
    assert status(method="median") == "pass"
    assert status(method="m_of_n", breaches=2) == "fail"
    assert status(method="m_of_n", breaches=3) == "pass"
    assert status(method="median", window=2) == "fail"  # only the two newest count
