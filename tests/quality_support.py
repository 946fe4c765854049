"""Path-quality readings into a real influxd, and the quality verdicts back out."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.contract.reading import Reading
from collector.ingest.lineproto import line
from collector.ingest.writer import InfluxV1Writer
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.rounds import quality_from_database
from collector.judge.rules import Verdict
from collector.judge.targets import load as load_targets
from tests.test_pipeline import storage

REPO = Path(__file__).resolve().parents[1]
REGION = {"province": "37", "city": "3701", "county": "370102"}


def school(sid: str) -> School:
    return School(sid, sid, "37", "p", "3701", "c", "370102", "x", "primary", 10, 1000.0)


def stored(sid: str, readings: list[dict[str, Any]]) -> list[Reading]:
    """Readings as ``schoolnet-agent once --json`` prints them, tagged as the collector stores
    them (school and region from the topic)."""
    return [Reading(r["measurement"], r["fields"], {**r["tags"], **REGION, "school": sid},
                    r["ts"]) for r in readings if r["measurement"] != "probe_run"]


def store(url: str, db: str, points: list[Reading]) -> None:
    InfluxV1Writer(storage(url, db)).write([line(p) for p in points])


def verdicts(url: str, db: str, schools: list[School],
             **changes: object) -> dict[tuple[str, str, str], Verdict]:
    """(school, target, uplink) -> verdict, with the shipped targets changed by ``changes``."""
    targets = {k: replace(v, **changes)  # type: ignore[arg-type]
               for k, v in load_targets(REPO / "configs/targets.toml").items()}
    out = quality_from_database(InfluxQLReader(storage(url, db)), targets, schools,
                                time.time_ns())
    return {(v.school.school_id, v.target, v.uplink): v for v in out}
