"""Hostile registry text cannot become a formula, markup, a link or a terminal command.

The formats as logic first (with characters the registry itself refuses,
so each format's own defence is proved), then end to end: hostile names in
a registry, compliance in a real influxd, ``schoolnet-collector report`` as
a process in every format, assertions on the bytes it writes.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from agent.contract.errors import WireError
from agent.contract.wire import Identity
from collector.ingest.validate import Validator
from collector.judge.registry import School
from collector.judge.targets import Indicators
from collector.report import FORMATS, Report
from collector.report.facts import Facts
from collector.report.formats import _width
from collector.report.period import parse
from tests.services import Influxd
from tests.support import collector_toml, influx1_storage

REPO = Path(__file__).resolve().parents[1]
ESC, RLO = "\x1b", "\u202e"
# Names as a hostile (or careless) registry might hold them.
FORMULAS = ['=HYPERLINK("http://evil.example/x","点我")', "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(1+1)", "＝1+1"]
MARKUP = ["<script>alert(1)</script>|x", "[点我](javascript:alert(1)) *粗* `code` ~~s~~",
          "<img src=x onerror=alert(1)>"]


def rows(names: list[str], lang: str = "en") -> Report:
    """A report with one county per name (so the name is a region's), two schools each,
    one of them measured at 500 Mbps."""
    facts = []
    for i, name in enumerate(names):
        for j in range(2):
            school = School(f"s{i}-{j}", name, "37", "P", "3701", "C", f"r{i}", name,
                            "primary", 2, 1000.0)
            facts.append(Facts(school, last_ns=1, exit_median=500.0 if j else None))
    now = time.time_ns()
    return Report(lang, "county", "P", Indicators(), parse(None, 30, now), facts)


def test_csv_cells_that_start_a_formula_are_quoted_text() -> None:
    names = [*FORMULAS, "\t=1+1", "\r=1+1", "学校 = 1", "plain"]
    text = FORMATS["csv"](rows(names))
    got = [r["region"] for r in csv.DictReader(io.StringIO(text)) if r["part"] == "all"]
    assert got[:5] == ["'" + n for n in FORMULAS]
    assert got[5:7] == ["'=1+1", "'=1+1"]  # the tab/CR made it inert, then went
    assert got[7:] == ["学校 = 1", "plain"]  # a formula sign inside is harmless
    # Numbers are ours and stay numbers.
    assert ",2,2,2,1.0,1,2,0.5," in text  # connected 2 of 2, exit ≥100M 1 of 2


def test_markdown_escapes_html_pipes_and_links() -> None:
    text = FORMATS["md"](rows([*MARKUP, f"a{ESC}[31mred{RLO}evil"]))
    html = MarkdownIt("commonmark").enable("table").render(text)
    first = html.split("</table>")[0]
    assert first.count("<tr>") == 6  # header, total, four regions
    assert all(len(re.findall(r"<t[dh]>", tr)) == 11 for tr in first.split("<tr>")[1:])
    for tag in ("<script", "<img", "<a ", "<em>", "<code>", "<s>", "<del>"):
        assert tag not in html, tag
    assert "&lt;script&gt;alert(1)&lt;/script&gt;|x" in html
    assert "[点我](javascript:alert(1)) *粗* `code` ~~s~~" in html
    assert ESC not in text and RLO not in text and "a[31mredevil" in html


def test_terminal_table_strips_controls_and_bidi_overrides() -> None:
    evil = [f"{ESC}[2J{ESC}]0;pwned\x07学校", f"abc{RLO}fdp.exe", "a\u2066b\u2069c\u200bd",
            "x\u2028y\x85z", "ok"]
    text = FORMATS["table"](rows(evil, "zh"))
    assert all(c == "\n" or (c.isprintable()) for c in text), [c for c in text
                                                             if not c.isprintable()]
    lines = text.split("\n\n")[1].splitlines()
    assert len(lines) == 8  # group title, header, total, five regions: no name broke a line
    assert "[2J]0;pwned学校" in text and "abcfdp.exe" in text and "abcd" in text
    # Still aligned: the code column starts in one screen column on every line.
    assert len({_width(line[:line.index(f"r{i}")]) for i, line in enumerate(lines[3:])}) == 1


def test_json_and_html_keep_data_exact_but_inert() -> None:
    names = [f"a{ESC}b{RLO}c", MARKUP[0]]
    text = FORMATS["json"](rows(names))
    assert ESC not in text and RLO not in text and "\\u202e" in text
    assert [r["name"] for r in json.loads(text)["rows"][1:]] == names
    page = FORMATS["html"](rows(names))
    assert isinstance(page, str)
    assert ESC not in page and RLO not in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;|x" in page


@pytest.mark.parametrize("version", [f"1.0{ESC}[31m", f"1.0{RLO}", "1.0\t", "1.0\n", "1" * 33,
                                     "1.0\ud800", 1])
def test_status_strings_are_checked_like_readings(version: object) -> None:
    school = Identity("37", "3701", "370102", "370102-0001")
    payload = json.dumps({"v": 1, "school_id": school.school_id, "state": "online", "ts": 1,
                          "agent_version": version}).encode()
    validator = Validator(65536, 300 * 10**9, 35 * 86400 * 10**9)
    with pytest.raises(WireError) as err:
        validator.check(school.status_topic, payload, time.time_ns())
    assert err.value.reason in ("bad_value", "bad_type")


HEADER = ("school_id,name,province_code,province_name,city_code,city_name,county_code,"
          "county_name,school_type,classes,contracted_mbps\n")


def _csv_line(*cells: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "collector.cli", "report", "-c", str(config),
                           "--lang", "en", *args], capture_output=True, timeout=60, cwd=REPO)


@pytest.mark.integration
def test_report_command_neutralises_hostile_registry_names(tmp_path: Path, influxd: Influxd,
                                                           database: str) -> None:
    names = FORMULAS + MARKUP
    registry = tmp_path / "schools.csv"
    registry.write_text(HEADER + "".join(
        _csv_line(f"s{i}", name, "37", "山东省", "3701", "济南市", "370102", MARKUP[2],
                  "primary", "2", "1000") for i, name in enumerate(names)), encoding="utf-8")
    targets = tmp_path / "targets.toml"
    targets.write_text((REPO / "configs" / "targets.toml").read_text(encoding="utf-8"),
                       encoding="utf-8")
    config = collector_toml(tmp_path, 1883, influx1_storage(influxd.url, database), "rep",
                            f'[registry]\nfile = "{registry}"\n[targets]\nfile = "{targets}"\n')
    lines = "\n".join(f'compliance,school=s{i},target=exit_bandwidth status="pass"\n'
                      f'probe_run,school=s{i},probe=wan_link duration_seconds=1'
                      for i in range(0, len(names), 2))
    urllib.request.urlopen(urllib.request.Request(
        f"{influxd.url}/write?db={database}", lines.encode(), method="POST"), timeout=10)

    out = {fmt: _run(config, "--level", "school", "--format", fmt)
           for fmt in FORMATS if fmt != "xlsx"}
    assert all(p.returncode == 0 for p in out.values()), {f: p.stderr for f, p in out.items()}
    cells = {r["School id"]: r for r in csv.DictReader(io.StringIO(out["csv"].stdout.decode()))}
    for i, name in enumerate(FORMULAS):
        assert cells[f"s{i}"]["School"] == "'" + name
    assert cells["s0"]["exit bandwidth"] == "pass" and cells["s1"]["exit bandwidth"] == \
        "no data"
    assert b'"\'=HYPERLINK(""http://evil.example/x"",""' in out["csv"].stdout
    md = MarkdownIt("commonmark").enable("table").render(out["md"].stdout.decode())
    assert md.count("<tr>") == 1 + len(names)
    assert not re.search(r"<(script|img|a|em|code|s)\b", md)
    assert [r["name"] for r in json.loads(out["json"].stdout)["ledger"]] == names
    book = tmp_path / "r.xlsx"
    assert _run(config, "--level", "school", "--format", "xlsx", "-o", str(book)).returncode == 0
    from openpyxl import load_workbook
    sheet = load_workbook(book)["Ledger"]
    got = [r[3].value for r in sheet.iter_rows(min_row=5)]
    assert got[:len(FORMULAS)] == ["'" + n for n in FORMULAS]
    assert all(r[3].data_type == "s" for r in sheet.iter_rows(min_row=5))
    page = out["html"].stdout
    assert b"<script" not in page and b"<img" not in page
    assert b"&lt;img src=x onerror=alert(1)&gt;" in page
    county = _run(config, "--level", "county", "--format", "md")
    assert b"&lt;img src=x onerror=alert(1)&gt;" in county.stdout and b"<img" not in county.stdout

    # The page as a browser builds it: the names are text, nothing runs.
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is needed (deploy/test.sh installs it)"
    (tmp_path / "report.html").write_bytes(page)
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                          "--no-first-run", "--disable-background-networking",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          (tmp_path / "report.html").as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert "<table" in dom.stdout, dom.stderr[-2000:]
    assert "<script" not in dom.stdout and "<img" not in dom.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;|x" in dom.stdout

    # Control characters never get that far: the registry names the line.
    registry.write_text(HEADER + _csv_line("s1", f"学校{RLO}gpj.exe", "37", "山东省", "3701",
                                           "济南市", "370102", "县", "primary", "2", "1000"),
                        encoding="utf-8")
    refused = _run(config, "--format", "table")
    assert refused.returncode == 2
    assert f"{registry}:2".encode() in refused.stderr
    assert b"non-printable character" in refused.stderr
