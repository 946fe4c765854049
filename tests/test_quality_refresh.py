"""Path-quality verdicts are refreshed a part of the schools (whole counties) at a
time over quality_refresh_minutes, and all at once when the registry changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load as load_config
from collector.ingest.writer import InfluxV1Writer
from collector.judge import evaluate, rounds
from collector.judge.evaluate import Evaluator
from collector.judge.registry import School
from collector.judge.rules import Verdict
from tests.support import influx1_storage, judging_toml, registry_file

MIN = 60 * 10**9
NOW = 1_780_000_000 * 10**9
ROW = "{sid},学校,37,山东省,3701,济南市,{county},县,primary,10,1000"


class Asked:
    """A judge that says which schools it was asked to judge path quality for."""

    uncounted: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def quality(self, schools: list[School], now_ns: int) -> list[Verdict]:
        self.asked.append(sorted(s.school_id for s in schools))
        return [Verdict(s, "edu_ladder", "pass", float(now_ns), 4.0, 1) for s in schools]


def test_parts_are_refreshed_in_turn_and_all_at_once_for_a_new_registry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rounds, "REBUILD_CHUNK", 1)  # a county a chunk
    monkeypatch.setattr(evaluate, "QUALITY_PARTS", 3)
    rows = [ROW.format(sid=f"s{c}{i}", county=f"37010{c}") for c in range(4) for i in range(2)]
    registry = registry_file(tmp_path / "schools.csv", rows)
    # Nothing is reached: the storage is a closed port, the judge the one above.
    cfg = load_config(judging_toml(tmp_path, 1, influx1_storage("http://127.0.0.1:1", "x"),
                                   "refresh", registry, "quality_refresh_minutes = 30"))
    judge = Asked()
    evaluator = Evaluator(cfg, InfluxV1Writer(cfg.storage), [], judge=judge)  # type: ignore[arg-type]
    schools = list(evaluator.registry.schools.values())

    def at(minutes: int, judged: list[School] = schools) -> dict[str, float]:
        """Each school's verdict (its value: when it was judged, in minutes)."""
        judge.asked.clear()
        out = evaluator._quality(judged, NOW + minutes * MIN)
        assert len(out) == len(judged)
        return {v.school.school_id: ((v.value or 0) - NOW) / MIN for v in out}

    assert set(at(0).values()) == {0}
    assert judge.asked == [sorted(s.school_id for s in schools)]
    # Four counties in three parts: one part due every ten minutes, each every 30.
    assert at(5) == at(0 + 9) and judge.asked == []
    ten = at(10)
    assert judge.asked == [["s00", "s01", "s30", "s31"]]
    assert ten == {"s00": 10, "s01": 10, "s30": 10, "s31": 10, "s10": 0, "s11": 0,
                   "s20": 0, "s21": 0}
    assert at(20) == {**ten, "s10": 20, "s11": 20} and judge.asked == [["s10", "s11"]]
    assert at(30) == {**ten, "s10": 20, "s11": 20, "s20": 30, "s21": 30}
    assert at(40)["s00"] == 40 and judge.asked == [["s00", "s01", "s30", "s31"]]
    # A school more: every verdict at once, the parts made again.
    more = [*schools, School("s40", "学校", "37", "山东省", "3701", "济南市", "370104",
                             "县", "primary", 10, 1000.0)]
    assert set(at(41, more).values()) == {41} and len(judge.asked) == 1
