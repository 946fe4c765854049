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

from tests import report_province as sim
from tests.services import Influxd
from tests.support import collector_toml, influx1_storage

REPO = Path(__file__).resolve().parents[1]
KEYS = ["connected", "exit_100", "exit_1000", "classrooms", "wifi_teaching", "wifi_office",
        "wifi_activity", "contract", *[f"ipv6_level_{i}" for i in range(5)], "ipv6_unknown",
        "verdict_all"]


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


def _ledger_expected(s: sim.School) -> dict[str, object]:
    plan = s.plans[sim.LATE]
    good = [t for t in plan.tests if t is not None][-5:]
    classes = max(s.classes, len(plan.rooms))
    status = {None: "not evaluated" if not plan.silent else "no data"}.get(
        plan.verdict, plan.verdict)
    return {
        "school_id": s.sid, "name": s.name, "type": s.kind, "classes": s.classes,
        "contracted_mbps": s.contracted or None,
        "exit_median_mbps": sim.statistics.median(good) if good else None,
        "exit_newest_mbps": good[-1] if good else None, "exit_tests": len(good),
        "port_mbps": None if plan.silent else plan.port,
        "classrooms": f"{sum(r >= 100 for r in plan.rooms)}/{classes}" if plan.rooms else None,
        **{f"wifi_{k}": f"{sum(plan.wifi[k])}/{len(plan.wifi[k])}" if k in plan.wifi else None
           for k in sim.KINDS},
        "ipv6_level": plan.ipv6, "last_reading": "" if plan.silent else
        f"2026-09-10 {max(len(plan.tests) - 1, 0):02d}:00",
        "all_status": status}


@pytest.mark.integration
def test_ledger_lists_every_school_with_its_figures(world: tuple[Path, list[sim.School]]
                                                    ) -> None:
    config, schools = world
    got = report(config, "--view", "ledger", "--format", "json", "--lang", "en",
                 "--as-of", "2026-09-30")
    assert got.returncode == 0, got.stderr
    ledger = json.loads(got.stdout)["ledger"]
    assert [r["school_id"] for r in ledger] == sorted(s.sid for s in schools)
    by_id = {r["school_id"]: r for r in ledger}
    for s in schools:
        want = _ledger_expected(s)
        assert {k: by_id[s.sid][k] for k in want} == want, s.sid
    # A silent school is "no data", never "fail"; unjudged but reporting is "not evaluated".
    assert {r["all_reason"] for r in ledger if r["all_status"] == "no data"} == {
        "no reading in the period"}
    below = json.loads(report(config, "--view", "ledger", "--below", "--sort", "exit",
                              "--format", "json", "--lang", "en",
                              "--as-of", "2026-09-30").stdout)["ledger"]
    assert {r["school_id"] for r in below} == {s.sid for s in schools
                                              if s.plans[sim.LATE].verdict != "pass"}
    medians = [r["exit_median_mbps"] for r in below if r["exit_median_mbps"] is not None]
    assert medians == sorted(medians) and below[0]["exit_median_mbps"] is None


@pytest.mark.integration
def test_workbook_read_back_cell_by_cell(world: tuple[Path, list[sim.School]],
                                         tmp_path: Path) -> None:
    from openpyxl import load_workbook  # the test extra's; only this test reads a workbook

    config, schools = world
    out = tmp_path / "report.xlsx"
    got = report(config, "--format", "xlsx", "-o", str(out), "--as-of", "2026-09-30",
                 "--compare", "2026-03-31", "--level", "city")
    assert got.returncode == 0, got.stderr
    wb = load_workbook(out)
    assert wb.sheetnames == ["市级汇总", "县区汇总", "学校台账"]
    ws = wb["县区汇总"]
    assert ws.freeze_panes == "C5"
    header = [c.value for c in ws[4]]
    assert header[:3] == ["地区", "代码", "登记学校数"]
    col = header.index("出口带宽≥100M 占比") + 1
    assert header[col - 2] == "出口带宽≥100M 达标数"
    assert header[col] == "出口带宽≥100M 对比占比"
    assert header[col + 1] == "出口带宽≥100M 变化(百分点)"
    now, then = tally(schools, sim.LATE, "exit_100"), tally(schools, sim.EARLY, "exit_100")
    seen = 0
    for row in ws.iter_rows(min_row=5):
        code, part = row[1].value or "", "all"
        if row[0].value.startswith("合计"):
            part = "total"
        elif "教学点" in row[0].value:
            part = "teaching_point"
        met, of = now[(code, part)]
        assert row[col - 2].value == met
        assert row[col - 1].value == pytest.approx(met / of)
        assert row[col - 1].number_format == "0.0%"
        before = then[(code, part)][0] / then[(code, part)][1]
        assert row[col].value == pytest.approx(before)
        assert row[col + 1].value == pytest.approx(round((met / of - before) * 100, 1))
        seen += 1
    assert seen == 1 + 1 + 9 + 9  # province, its 教学点, nine counties and theirs
    ledger = wb["学校台账"]
    names = [c.value for c in ledger[4]]
    cells = {r[names.index("学校代码")].value: r for r in ledger.iter_rows(min_row=5)}
    assert len(cells) == 240
    for s in schools:
        want = _ledger_expected(s)
        r = cells[s.sid]
        assert r[names.index("学校名称")].value == s.name
        assert r[names.index("出口实测中位数(Mbps)")].value == want["exit_median_mbps"]
        assert r[names.index("班级≥100M/登记班级")].value == want["classrooms"]
        assert r[names.index("IPv6 等级")].value == want["ipv6_level"]
        assert r[names.index("类型")].value == sim.ZH_TYPES[s.kind]


@pytest.mark.integration
def test_unknown_region_and_level_above_it_are_refused(world: tuple[Path, list[sim.School]]
                                                       ) -> None:
    config, _ = world
    got = report(config, "--region", "4401")
    assert got.returncode == 1 and got.stdout == ""
    assert "--region 4401 is not in the school registry; closest codes:" in got.stderr
    got = report(config, "--region", "370102", "--level", "province")
    assert got.returncode == 1
    assert "--level province is above --region 370102 (a county)" in got.stderr
    assert "use --level county, school" in got.stderr
    got = report(config, "--region", "370102", "--level", "county", "--lang", "en")
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("山东省 济南市 370102区: school network indicators (")
    assert report(config, "--format", "xlsx").stderr.startswith(
        "error: an xlsx workbook is a binary file")
    got = report(config, "--as-of", "2026-31-12")
    assert got.returncode == 1 and "is not a date" in got.stderr
    # Without XlsxWriter (a collector installed without its extra): what to install.
    got = subprocess.run([sys.executable, "-c", "import sys; sys.modules['xlsxwriter'] = None; "
                          "from collector.cli import main; sys.exit(main())", "report", "-c",
                          str(config), "--format", "xlsx", "-o", "/dev/null"],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert got.returncode == 1 and "Traceback" not in got.stderr
    assert "--format xlsx needs XlsxWriter" in got.stderr and "[collector]" in got.stderr


@pytest.mark.integration
def test_a_county_report_holds_exactly_its_schools(world: tuple[Path, list[sim.School]]
                                                   ) -> None:
    config, schools = world
    data = json.loads(report(config, "--region", "370202", "--format", "json",
                             "--as-of", "2026-09-30").stdout)
    inside = [s for s in schools if s.county == "370202"]
    assert data["schools"] == len(inside) and data["scope"] == "山东省 青岛市 370202区"
    total = {r["part"]: r for r in data["rows"] if r["code"] == ""}["total"]
    for key in KEYS:
        met = sum(bool(sim.expected(s, sim.LATE)[key]) for s in inside
                  if sim.expected(s, sim.LATE)[key] is not None)
        assert total["indicators"][key]["met"] == met, key


@pytest.mark.integration
def test_answers_in_many_small_chunks_give_the_same_report(
        world: tuple[Path, list[sim.School]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from collector import cli
    from collector.judge import reader

    config, _ = world
    args = ["report", "-c", str(config), "--format", "json", "--as-of", "2026-09-30",
            "--view", "ledger"]
    assert cli.main(args) == 0
    whole = capsys.readouterr().out
    monkeypatch.setattr(reader, "CHUNK_ROWS", 7)  # series split across chunks
    assert cli.main(args) == 0
    assert capsys.readouterr().out == whole
