"""The report as an Excel workbook (XlsxWriter): a summary sheet per level and the ledger.

Frozen headers, number formats, column names in the report's language. Every
string is written as a string (never parsed as a formula, number or URL) and
goes through :func:`.inert.csv_cell` too, so a school name such as
``=HYPERLINK(...)`` stays text in any office suite. Rows stream to disk
(``constant_memory``): a 50,000-school ledger never sits in memory as cells.
"""

from __future__ import annotations

import io
import tempfile
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from collector.report.build import Report
from collector.report.formats import label
from collector.report.inert import csv_cell
from collector.report.ledger import columns

NUMBER_FORMATS = {"int": "0", "mbps": "0.0", "share": "0.0%", "ratio": "0.00",
                  "change": "+0.0;-0.0;0.0"}
LEVEL_NAMES = {"province": ("省级汇总", "Provinces"), "city": ("市级汇总", "Cities"),
               "county": ("县区汇总", "Counties"), "school": ("学校汇总", "Schools")}
TOP = 3  # rows 0-1: title and thresholds; row 3 (0-based): the header


class _Book:
    def __init__(self, out: io.BytesIO, tmpdir: str) -> None:
        self.wb = xlsxwriter.Workbook(out, {
            "constant_memory": True, "tmpdir": tmpdir, "strings_to_formulas": False,
            "strings_to_numbers": False, "strings_to_urls": False})
        self.formats = {k: self.wb.add_format({"num_format": v})
                        for k, v in NUMBER_FORMATS.items()}
        self.bold = self.wb.add_format({"bold": True, "text_wrap": True, "valign": "top"})
        self.title = self.wb.add_format({"bold": True, "font_size": 13})

    def put(self, ws: Worksheet, row: int, col: int, value: Any, kind: str = "") -> None:
        if value is None:
            return
        if isinstance(value, str):
            ws.write_string(row, col, str(csv_cell(value)))
        else:
            fmt: Format | None = self.formats.get(kind)
            ws.write_number(row, col, value, fmt)

    def sheet(self, name: str, report: Report, header: list[str]) -> Worksheet:
        ws = self.wb.add_worksheet(name)
        ws.write_string(0, 0, str(csv_cell(report.title())), self.title)
        ws.write_string(1, 0, str(csv_cell(report.notes())))
        for i, text in enumerate(header):
            ws.write_string(TOP, i, str(csv_cell(text)), self.bold)
            ws.set_column(i, i, max(10, min(28, len(text) * 1.6)))
        ws.freeze_panes(TOP + 1, 2)
        return ws


def _summary(book: _Book, report: Report, level: str) -> None:
    zh = report.zh()
    header = ["地区" if zh else "Region", "代码" if zh else "Code",
              "登记学校数" if zh else "Registered"]
    for ind in report.indicators:
        n = ind.name(report.lang)
        header += [f"{n} 达标数" if zh else f"{n}: met", f"{n} 占比" if zh else f"{n}: share"]
        if report.earlier:
            header += [f"{n} 对比占比" if zh else f"{n}: share before",
                       f"{n} 变化(百分点)" if zh else f"{n}: change (points)"]
    ws = book.sheet(LEVEL_NAMES[level][0 if zh else 1], report, header)
    earlier = report.earlier_rows(level)
    for r, row in enumerate(report.rows(level), TOP + 1):
        book.put(ws, r, 0, label(row, report.lang))
        book.put(ws, r, 1, row.code)
        book.put(ws, r, 2, row.registered, "int")
        col = 3
        before = earlier.get((row.code, row.part))
        for ind in report.indicators:
            share = row.share(ind.key)
            book.put(ws, r, col, row.met.get(ind.key, 0), "int")
            book.put(ws, r, col + 1, share, "share")
            col += 2
            if report.earlier:
                then = before.share(ind.key) if before else None
                book.put(ws, r, col, then, "share")
                book.put(ws, r, col + 1, None if then is None or share is None
                         else round((share - then) * 100, 1), "change")
                col += 2


def _ledger(book: _Book, report: Report) -> None:
    cols = columns(report.cfg)
    ws = book.sheet("学校台账" if report.zh() else "Ledger", report,
                    [c.name(report.lang) for c in cols])
    last = TOP
    for last, facts in enumerate(report.ledger(), TOP + 1):
        for i, c in enumerate(cols):
            book.put(ws, last, i, c.get(facts, report.lang), c.kind)
    ws.autofilter(TOP, 0, last, len(cols) - 1)


def as_xlsx(report: Report) -> bytes:
    out = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmpdir:
        book = _Book(out, tmpdir)
        if report.view == "ledger":
            _ledger(book, report)
        for level in report.summary_levels():
            _summary(book, report, level)
        if report.view != "ledger":
            _ledger(book, report)
        book.wb.close()
    return out.getvalue()
