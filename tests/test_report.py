"""The regional roll-up in every format; the HTML one rendered by a real headless Chromium."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from collector.judge.registry import School
from collector.report import FORMATS, roll_up


def school(sid: str, county: str, city: str = "3701") -> School:
    return School(sid, f"学校{sid}", "37", "山东省", city, f"市{city}", county, f"县{county}",
                  "primary", 10, 1000.0)


SCHOOLS = [school("s1", "370102"), school("s2", "370102"), school("s3", "370102"),
           school("s4", "370211", "3702")]
STATUS = {("s1", "exit_bandwidth"): "pass", ("s1", "ipv6"): "pass",
          ("s2", "exit_bandwidth"): "fail", ("s2", "wifi"): "inconclusive",
          ("s4", "exit_bandwidth"): "pass", ("s4", "classroom_links"): "pass"}


def test_roll_up_counts_silent_schools_in_the_denominator() -> None:
    rows = roll_up(SCHOOLS, STATUS, "county", None)
    assert [(r.code, r.registered, r.reported) for r in rows] == [("370102", 3, 2),
                                                                  ("370211", 1, 1)]
    assert rows[0].meeting["exit_bandwidth"] == 1
    assert abs(rows[0].share("exit_bandwidth") - 1 / 3) < 1e-9
    city = roll_up(SCHOOLS, STATUS, "city", None)
    assert [(r.code, r.name, r.registered) for r in city] == [("3701", "市3701", 3),
                                                               ("3702", "市3702", 1)]
    only = roll_up(SCHOOLS, STATUS, "school", "370211")
    assert [r.code for r in only] == ["s4"]


def test_text_formats() -> None:
    rows = roll_up(SCHOOLS, STATUS, "county", None)
    table = FORMATS["table"](rows, "zh")
    assert "出口带宽达标" in table and "1 (33.33%)" in table
    lines = table.splitlines()
    # CJK characters take two columns: the columns stay aligned.
    assert lines[1].index("370102") == lines[2].index("370211")
    md = FORMATS["md"](rows, "en")
    assert md.splitlines()[0].startswith("| Region | Code | Registered | Reported |")
    data = list(csv.DictReader(io.StringIO(FORMATS["csv"](rows, "en"))))
    assert data[0]["exit_bandwidth_share"] == "0.3333" and data[1]["classroom_links_count"] == "1"


@pytest.mark.integration
def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is needed (deploy/test.sh installs it)"
    page = tmp_path / "report.html"
    page.write_text(FORMATS["html"](roll_up(SCHOOLS, STATUS, "county", None), "zh"),
                    encoding="utf-8")
    text = page.read_text(encoding="utf-8")
    # Self-contained: nothing to fetch, nothing to run.
    assert not re.search(r'(src|href)=|<script|@import|url\(', text)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120)
    assert "<table" in dom.stdout, dom.stderr[-2000:]
    assert dom.stdout.count("<tr>") == 3 and "学校网络达标情况" in dom.stdout
    shares = re.findall(r'data-target="exit_bandwidth" data-share="([0-9.]+)"', dom.stdout)
    assert shares == ["0.3333", "1.0000"]
    shot = tmp_path / "report.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=900,700",
                    page.as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 10_000  # a rendered page, not an empty canvas
