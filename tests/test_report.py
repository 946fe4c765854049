"""Report logic without a database (dates, scope, indicators, formats), and the HTML page
and its A4 print rendered by a real headless Chromium."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from collector.judge.registry import School
from collector.judge.targets import Indicators
from collector.report import FORMATS, Report, ReportError
from collector.report.facts import Facts, Verdict
from collector.report.period import DAY_NS, parse
from collector.report.rollup import change, scope
from tests.report_province import LONGEST

NOW = 1_790_000_000 * 10**9  # 2026-09-21


def school(sid: str, county: str, kind: str = "primary", name: str = "",
           contracted: float = 1000.0) -> School:
    return School(sid, name or f"学校{sid}", "37", "山东省", county[:4], f"市{county[:4]}",
                  county, f"县{county}", kind, 2, contracted)


def facts(s: School, median: float | None = None, port: float | None = None,
          rooms: int = 0, verdict: str | None = None, seen: bool = True) -> Facts:
    f = Facts(s, last_ns=NOW - DAY_NS if seen else None, exit_median=median,
              exit_newest=median, exit_tests=1 if median else 0, port_mbps=port,
              rooms_meeting=rooms, rooms_seen=rooms)
    if verdict:
        f.verdicts["all"] = Verdict(verdict, None, None, "")
    return f


FACTS = [facts(school("s1", "370102"), 950.0, 1000.0, 2, "pass"),
         facts(school("s2", "370102", "teaching_point", contracted=100), 90.0, 100.0, 1),
         facts(school("s3", "370102"), seen=False),
         facts(school("s4", "370211", contracted=0), 500.0, verdict="fail")]


def report(lang: str = "zh", level: str = "county", earlier: list[Facts] | None = None,
           view: str = "summary", rows: list[Facts] | None = None) -> Report:
    cfg = Indicators()
    period = parse("2026-09-01", 30, NOW)
    return Report(lang, level, "山东省", cfg, period, rows or FACTS,
                  parse("2026-03-31", 30, NOW) if earlier else None, earlier, view)


def test_indicators_are_the_same_for_every_school_type() -> None:
    rows = {(r.code, r.part): r for r in report().rows()}
    total = rows[("", "total")]
    # The 90 Mbps 教学点 meets ≥100M (90 ≥ 0.8 × 100) like the 950 Mbps school.
    assert (total.met["exit_100"], total.applicable["exit_100"]) == (3, 4)
    assert total.met["exit_1000"] == 1  # 500 Mbps without a port figure: not ≥1000M
    assert total.met["connected"] == 3 and total.met["verdict_all"] == 1
    # contract share only over schools with a contract: s4 has none.
    assert (total.met["contract"], total.applicable["contract"]) == (2, 3)
    assert total.met["classrooms"] == 1  # s2 has 1 of 2 classes at ≥100M
    tp = rows[("370102", "teaching_point")]
    assert (tp.registered, tp.met["exit_100"]) == (1, 1)
    assert rows[("", "teaching_point")].registered == 1
    assert [r.part for r in report().rows()] == ["total", "teaching_point", "all",
                                                  "teaching_point", "all"]


def test_dates_and_changes() -> None:
    day = parse("2026-03-31", 30, NOW)
    assert day.label == "2026-03-31" and day.end_ns - day.start_ns == 30 * DAY_NS
    assert day.where().startswith("time > ") and f"time <= {day.end_ns}" in day.where()
    assert parse("2026-03-31T18:00+08:00", 30, NOW).label == "2026-03-31 10:00 UTC"
    for bad, why in (("2026-31-12", "is not a date"), ("2030-01-01", "in the future")):
        with pytest.raises(ReportError, match=why):
            parse(bad, 30, NOW)
    assert change(0.9686, 0.74) == "74.0% → 96.9% (+22.9)"
    assert change(0.33, 1.0) == "100.0% → 33.0% (-67.0)"


def test_scope_refuses_unknown_regions_and_levels_above_them() -> None:
    schools = [f.school for f in FACTS]
    inside, name, tag = scope(schools, "370102", "school")
    assert len(inside) == 3 and name == "山东省 市3701 县370102" and tag == ("county", "370102")
    with pytest.raises(ReportError, match=r"--region 4401 is not in the school registry; "
                                          r"closest codes: .*\(.*\)"):
        scope(schools, "4401", "county")
    with pytest.raises(ReportError, match="--level city is above --region 370102 "
                                          r"\(a county\)"):
        scope(schools, "370102", "city")
    assert scope(schools, None, "city")[1] == "山东省"


def test_text_formats_in_both_languages() -> None:
    earlier = [facts(f.school, 90.0 if f.school.school_id == "s1" else None) for f in FACTS]
    zh = FORMATS["table"](report(earlier=earlier))
    assert zh.splitlines()[0] == ("山东省学校网络达标情况（4 所学校，截至 2026-09-01，"
                                  "对比 2026-03-31）")
    assert "出口带宽≥100M" in zh and "3 (25.0% → 75.0% (+50.0))" in zh
    assert "其中：教学点" in zh and "统计期" in zh
    en = FORMATS["md"](report("en"))
    assert "| Region | Code | Registered | Connected (any reading) | Exit ≥100 Mbps |" in en
    assert "3 (75.0%)" in en and "of which 教学点" in en
    data = list(csv.DictReader(io.StringIO(FORMATS["csv"](report("en")))))
    assert data[0]["exit_100_share"] == "0.75" and data[0]["contract_of"] == "3"
    ledger = FORMATS["table"](report("en", view="ledger"))
    assert "no reading in the period" in ledger and "not evaluated" in ledger
    assert "950.0" in ledger
    zh_ledger = FORMATS["csv"](report("zh", view="ledger"))
    assert "统计期内无任何读数" in zh_ledger and "未评估" in zh_ledger
    assert "no reading" not in zh_ledger


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is needed (deploy/test.sh installs it)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.integration
def test_html_report_renders_and_prints_to_a4(tmp_path: Path) -> None:
    rows = [*FACTS, facts(school("s5", "370211", name=LONGEST), 120.0)]
    page = tmp_path / "report.html"
    page.write_text(FORMATS["html"](report(rows=rows, earlier=FACTS)), encoding="utf-8")
    text = page.read_text(encoding="utf-8")
    # Self-contained: nothing to fetch, nothing to run; links stay in the page.
    assert not re.search(r'src=|href="(?!#)|<script|@import|url\(', text)
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert "<table" in dom.stdout, dom.stderr[-2000:]
    assert "截至 2026-09-01" in dom.stdout and "统计期" in dom.stdout and "图例" in dom.stdout
    assert '<a href="#r-370102">' in dom.stdout and 'id="r-370102"' in dom.stdout
    assert dom.stdout.count('id="s-') == 5
    shares = re.findall(r'data-target="exit_100" data-share="([0-9.]+)"', dom.stdout)
    assert shares == ["0.8000", "0.6667", "1.0000"]
    # Per school, the longest name sits on its own line above its bars and the chart is
    # as wide as it, so it cannot cover a bar or a percentage.
    chart = FORMATS["html"](report(rows=rows, level="school"))
    svg = re.search(r'viewBox="0 0 (\d+) ', chart)
    assert svg and int(svg.group(1)) >= len(LONGEST) * 13
    assert f'font-size="13">{LONGEST}</text>' in chart
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1400", page.as_uri())
    assert shot.stat().st_size > 10_000  # a rendered page, not an empty canvas
    pdf = tmp_path / "report.pdf"
    chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
    assert boxes and all(abs(float(w) - 841.9) < 1 and abs(float(h) - 595.0) < 1
                         for w, h in boxes), boxes  # every page A4 landscape, in points
