"""Judging from windows kept off the stream gives today's verdicts, verdict by verdict.

A simulated county's readings go through the real pipeline into influxd; the
windows are fed by the pipeline's stored-readings callback. Three paths judge
the same schools at the same instant: today's queries over the whole window
(QueryJudge), the stream-fed windows, and windows rebuilt from the database
with bounded per-chunk queries. Every verdict and every school's health must
be equal, after more readings arrive (only those schools are judged again),
and after a clean stop and a resume from the saved file.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.contract.configschema import build
from agent.contract.wire import MAX_PAYLOAD_BYTES
from collector.config import Storage
from collector.ingest.pipeline import Pipeline
from collector.ingest.transport import Message
from collector.ingest.validate import Validator
from collector.ingest.writer import InfluxV1Writer
from collector.judge import rounds
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import Registry, School
from collector.judge.rounds import QueryJudge, WindowJudge
from collector.judge.rules import Health, Verdict
from collector.judge.targets import load as load_targets
from tests.judging_county import MINUTE, county, messages, registry_csv
from tests.services import Influxd

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
TARGETS = load_targets(REPO / "configs/targets.toml")


def storage(url: str, db: str) -> Storage:
    return build(Storage, {"kind": "influxdb1", "url": url, "database": db,
                           "timeout_seconds": 30.0})


def store(pipe: Pipeline, batch: list[Message], size: int = 2000) -> None:
    for at in range(0, len(batch), size):
        pipe.process(batch[at:at + size])


def same(a: tuple[list[Verdict], dict[str, Health]], b: tuple[list[Verdict], dict[str, Health]]
         ) -> None:
    assert len(a[0]) == len(b[0])
    for mine, theirs in zip(a[0], b[0], strict=True):
        assert mine == theirs, (mine, theirs)
    assert a[1] == b[1]


def test_three_paths_give_the_same_verdicts(tmp_path: Path, influxd: Influxd,
                                            database: str, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    sim = county(120)
    registry = Registry(registry_csv(sim, tmp_path / "schools.csv"))
    schools: list[School] = list(registry.schools.values())
    reader = InfluxQLReader(storage(influxd.url, database))
    acked: list[Message] = []
    pipe = Pipeline(Validator(MAX_PAYLOAD_BYTES, 300 * 10**9, 35 * 86400 * 10**9, registry),
                    InfluxV1Writer(storage(influxd.url, database)), acked.extend,
                    lambda m, r, d: pytest.fail(f"refused: {r} {d}"))
    stream = WindowJudge(reader, TARGETS, str(tmp_path / "windows.pickle"))
    stream.ready = True  # fed from the first reading on: nothing to rebuild
    pipe.on_stored = stream.feed

    start = time.time_ns() - 60 * MINUTE
    batch = messages(sim, start, 12)
    store(pipe, batch)
    assert len(acked) == len(batch)
    now = time.time_ns()
    today = QueryJudge(reader, TARGETS).judge(schools, now)
    statuses = {v.status for v in today[0]}
    assert statuses == {"pass", "fail", "inconclusive", "no_data"}  # the county has them all
    assert any(h.silent for h in today[1].values()) and any(h.failing_probes
                                                            for h in today[1].values())
    same(stream.judge(schools, now), today)
    assert stream.judged == len(schools)
    rebuilt = WindowJudge(reader, TARGETS, streamed=False)
    same(rebuilt.judge(schools, now), today)
    monkeypatch.setattr(rounds, "REBUILD_CHUNK", 7)  # chunks that do not divide the county
    same(rebuilt.judge(schools, now), today)
    monkeypatch.undo()

    # More readings from a quarter of the schools: only they are judged again.
    movers = [s for s in sim if s.mood in ("good", "poor", "flaky")][::4]
    store(pipe, messages(movers, time.time_ns() - MINUTE, 1, seed=8))
    now = time.time_ns()
    today = QueryJudge(reader, TARGETS).judge(schools, now)
    same(stream.judge(schools, now), today)
    assert stream.judged == len(movers)
    same(stream.judge(schools, now), today)
    assert stream.judged == 0  # nothing changed, nothing aged out

    # A clean stop saves the windows; the next start resumes them, not the database.
    stream.save()
    resumed = WindowJudge(InfluxQLReader(storage("http://127.0.0.1:1", database)), TARGETS,
                          str(tmp_path / "windows.pickle"))
    assert resumed.ready and not (tmp_path / "windows.pickle").exists()
    same(resumed.judge(schools, now), today)
