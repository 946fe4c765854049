"""A simulated province (240 schools, three cities, nine counties, 教学点 among them) with
readings over two periods in a real influxd: every figure of the summary, the comparison
and the ledger from ``schoolnet-collector report`` equals what the plan says, computed here
without the report's code; the workbook is read back cell by cell."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests import report_province as sim
from tests.services import Influxd
from tests.support import collector_toml, influx1_storage

REPO = Path(__file__).resolve().parents[1]
KEYS = ["connected", "exit_100", "exit_1000", "classrooms", "wifi_teaching", "wifi_office",
        "wifi_activity", "contract", *[f"ipv6_level_{i}" for i in range(5)], "verdict_all"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, influxd: Influxd
          ) -> tuple[Path, list[sim.School]]:
    tmp = tmp_path_factory.mktemp("province")
    db = "province16"
    influxd.create_db(db)
    schools = sim.province(240)
    sim.write(influxd.url, db, sim.lines(schools))
    registry = sim.write_files(tmp, schools)
    targets = tmp / "targets.toml"
    targets.write_text((REPO / "configs" / "targets.toml").read_text(encoding="utf-8"),
                       encoding="utf-8")
    config = collector_toml(tmp, 1883, influx1_storage(influxd.url, db), "rep",
                            f'[registry]\nfile = "{registry}"\n[targets]\nfile = "{targets}"\n')
    return config, schools


def report(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "collector.cli", "report", "-c", str(config),
                           *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def tally(schools: list[sim.School], day: object, key: str) -> dict[tuple[str, str],
                                                                    tuple[int, int]]:
    """(code, part): (met, applicable) per county, its 教学点, and the whole province."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for s in schools:
        value = sim.expected(s, day)[key]  # type: ignore[arg-type]
        parts = [("", "total"), (s.county, "all")]
        if s.kind == "teaching_point":
            parts += [("", "teaching_point"), (s.county, "teaching_point")]
        for part in parts:
            if value is not None:
                out[part][0] += value
                out[part][1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


@pytest.mark.integration
def test_summary_and_comparison_match_the_plan(world: tuple[Path, list[sim.School]]) -> None:
    config, schools = world
    got = report(config, "--format", "json", "--as-of", "2026-09-30", "--compare", "2026-03-31")
    assert got.returncode == 0, got.stderr
    data = json.loads(got.stdout)
    assert data["schools"] == 240 and data["as_of"] == "2026-09-30"
    assert data["compared_with"] == "2026-03-31"
    rows = {(r["code"], r["part"]): r for r in data["rows"]}
    assert len([r for r in rows if r[1] == "all"]) == 9
    assert rows[("", "total")]["registered"] == 240
    assert rows[("", "teaching_point")]["registered"] == sum(
        s.kind == "teaching_point" for s in schools)
    changed = 0
    for key in KEYS:
        now, then = tally(schools, sim.LATE, key), tally(schools, sim.EARLY, key)
        for part, (met, of) in now.items():
            cell = rows[part]["indicators"][key]
            assert (cell["met"], cell["of"]) == (met, of), (key, part)
            assert cell["share"] == round(met / of, 4), (key, part)
            before = then[part][0] / then[part][1]
            assert cell["share_before"] == round(before, 4), (key, part)
            changed += cell["share"] != cell["share_before"]
    assert changed > 50  # the two periods differ, so the comparison says something


@pytest.mark.integration
def test_as_of_sees_the_database_as_it_stood(world: tuple[Path, list[sim.School]]) -> None:
    config, schools = world
    data = json.loads(report(config, "--format", "json", "--level", "city",
                             "--as-of", "2026-03-31").stdout)
    rows = {(r["code"], r["part"]): r for r in data["rows"]}
    for key in ("connected", "exit_100", "classrooms"):
        for city in sim.CITIES:
            inside = [s for s in schools if s.city == city]
            met = sum(bool(sim.expected(s, sim.EARLY)[key]) for s in inside)
            assert rows[(city, "all")]["indicators"][key]["met"] == met, (key, city)
    # Reported means a reading in the period, whether or not anything was evaluated.
    silent = sum(s.plans[sim.EARLY].silent for s in schools)
    unjudged = sum(not s.plans[sim.EARLY].silent and s.plans[sim.EARLY].verdict is None
                   for s in schools)
    assert unjudged > 10
    assert rows[("3701", "all")]["indicators"]["connected"]["of"] == sum(
        s.city == "3701" for s in schools)
    assert sum(rows[(c, "all")]["indicators"]["connected"]["met"] for c in sim.CITIES) == \
        240 - silent
