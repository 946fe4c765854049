"""The report as an Excel workbook (openpyxl): a summary sheet per level and the ledger.

Frozen headers, number formats, column names in the report's language. Every
string cell goes through :func:`.inert.csv_cell`, and openpyxl is told it is
text, so a school name such as ``=HYPERLINK(...)`` stays text.
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from collector.report.build import Report
from collector.report.formats import label
from collector.report.inert import csv_cell
from collector.report.ledger import columns

FORMATS = {"int": "0", "mbps": "0.0", "share": "0.0%", "ratio": "0.00", "time": "@",
           "text": "@"}
LEVEL_NAMES = {"province": ("省级汇总", "Provinces"), "city": ("市级汇总", "Cities"),
               "county": ("县区汇总", "Counties"), "school": ("学校汇总", "Schools")}


def _put(ws: Worksheet, row: int, col: int, value: Any, number_format: str = "") -> None:
    c = ws.cell(row=row, column=col)
    if isinstance(value, str):
        c.value = csv_cell(value)
        c.data_type = "s"  # never a formula, whatever the text starts with
    else:
        c.value = value
    if number_format and value is not None:
        c.number_format = number_format


def _header(ws: Worksheet, row: int, names: list[str]) -> None:
    for i, name in enumerate(names, 1):
        _put(ws, row, i, name)
        ws.cell(row=row, column=i).font = Font(bold=True)
        ws.cell(row=row, column=i).alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[get_column_letter(i)].width = max(10, min(28, len(name) * 1.6))
    ws.freeze_panes = ws.cell(row=row + 1, column=3)


def _intro(ws: Worksheet, report: Report) -> int:
    _put(ws, 1, 1, report.title())
    ws.cell(row=1, column=1).font = Font(bold=True, size=13)
    _put(ws, 2, 1, report.notes())
    return 4


def _summary(wb: Workbook, report: Report, level: str) -> None:
    zh = report.zh()
    ws = wb.create_sheet(LEVEL_NAMES[level][0 if zh else 1])
    top = _intro(ws, report)
    names = ["地区" if zh else "Region", "代码" if zh else "Code",
             "登记学校数" if zh else "Registered"]
    for ind in report.indicators:
        n = ind.name(report.lang)
        names += [f"{n} 达标数" if zh else f"{n}: met", f"{n} 占比" if zh else f"{n}: share"]
        if report.earlier:
            names += [f"{n} 对比占比" if zh else f"{n}: share before",
                      f"{n} 变化(百分点)" if zh else f"{n}: change (points)"]
    _header(ws, top, names)
    earlier = report.earlier_rows(level)
    for r, row in enumerate(report.rows(level), top + 1):
        _put(ws, r, 1, label(row, report.lang))
        _put(ws, r, 2, row.code)
        _put(ws, r, 3, row.registered, "0")
        col = 4
        before = earlier.get((row.code, row.part))
        for ind in report.indicators:
            share = row.share(ind.key)
            _put(ws, r, col, row.met.get(ind.key, 0), "0")
            _put(ws, r, col + 1, share, "0.0%")
            col += 2
            if report.earlier:
                then = before.share(ind.key) if before else None
                _put(ws, r, col, then, "0.0%")
                _put(ws, r, col + 1, None if then is None or share is None
                     else round((share - then) * 100, 1), "+0.0;-0.0;0.0")
                col += 2


def _ledger(wb: Workbook, report: Report) -> None:
    ws = wb.create_sheet("学校台账" if report.zh() else "Ledger")
    top = _intro(ws, report)
    cols = columns(report.cfg)
    _header(ws, top, [c.name(report.lang) for c in cols])
    for r, facts in enumerate(report.ledger(), top + 1):
        for i, c in enumerate(cols, 1):
            _put(ws, r, i, c.get(facts, report.lang), FORMATS[c.kind])
    ws.auto_filter.ref = f"A{top}:{get_column_letter(len(cols))}{ws.max_row}"


def as_xlsx(report: Report) -> bytes:
    wb = Workbook()
    assert wb.active is not None
    wb.remove(wb.active)
    for level in report.summary_levels():
        _summary(wb, report, level)
    _ledger(wb, report)
    if report.view == "ledger":
        wb.move_sheet(wb.worksheets[-1], offset=-(len(wb.worksheets) - 1))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
