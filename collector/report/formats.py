"""The report as officials read it: a terminal table, Markdown, CSV, JSON (HTML and xlsx
in their own modules).

Registry text reaches every format only through :mod:`.inert`. A summary is
one table per indicator group; a ledger one line per school.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Callable
from typing import Any

from collector.report.build import GROUPS, Report
from collector.report.indicators import Indicator
from collector.report.inert import csv_cell, json_safe, markdown_cell, plain
from collector.report.ledger import columns
from collector.report.rollup import RegionRow, change

PART = {"total": ("合计", "Total"), "teaching_point": ("其中：教学点", "of which 教学点")}
HEAD = {"zh": {"region": "地区", "code": "代码", "registered": "登记学校数"},
        "en": {"region": "Region", "code": "Code", "registered": "Registered"}}


def label(row: RegionRow, lang: str) -> str:
    if row.part == "all":
        return row.name
    zh, en = PART[row.part]
    return (f"{zh} {row.name}" if row.part == "total" else f"{row.name} {zh}") if lang == "zh" \
        else (f"{en}: {row.name}" if row.part == "total" else f"{row.name}, {en}")


def cell(row: RegionRow, ind: Indicator, before: RegionRow | None) -> str:
    share = row.share(ind.key)
    if share is None:
        return "—"
    met = row.met.get(ind.key, 0)
    if before is not None:
        return f"{met} ({change(share, before.share(ind.key)) or f'{share:.1%}'})"
    return f"{met} ({share:.1%})"


def summary_tables(report: Report, level: str | None = None
                   ) -> list[tuple[str, list[str], list[list[str]]]]:
    """(group title, header, rows of plain cells) per indicator group."""
    h = HEAD[report.lang]
    earlier = report.earlier_rows(level)
    out = []
    for group, names in GROUPS.items():
        inds = report.group(group)
        header = [h["region"], h["code"], h["registered"]] + [i.name(report.lang) for i in inds]
        rows = [[label(r, report.lang), r.code, str(r.registered)]
                + [cell(r, i, earlier.get((r.code, r.part)) if report.earlier else None)
                   for i in inds] for r in report.rows(level)]
        out.append((names[0] if report.zh() else names[1], header, rows))
    return out


def ledger_table(report: Report) -> tuple[list[str], list[list[Any]]]:
    cols = columns(report.cfg)
    return ([c.name(report.lang) for c in cols],
            [[c.get(f, report.lang) for c in cols] for f in report.ledger()])


def _text(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _grid(header: list[str], rows: list[list[str]]) -> str:
    table = [header] + [[plain(c) for c in r] for r in rows]
    widths = [max(_width(line[i]) for line in table) for i in range(len(header))]
    return "\n".join("  ".join(c + " " * (w - _width(c)) for c, w in
                               zip(line, widths, strict=True)).rstrip() for line in table)


def _tables(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    if report.view == "ledger":
        header, rows = ledger_table(report)
        return [("", header, [[_text(v) for v in r] for r in rows])]
    return summary_tables(report)


def as_table(report: Report) -> str:
    parts = [plain(report.title())]
    for title, header, rows in _tables(report):
        parts += ([f"\n{title}"] if title else [""]) + [_grid(header, rows)]
    return "\n".join([*parts, "", plain(report.notes())])


def as_markdown(report: Report) -> str:
    out = [f"# {markdown_cell(report.title())}"]
    for title, header, rows in _tables(report):
        out += ([f"\n## {title}"] if title else [""]) + [
            "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(markdown_cell(c) for c in r) + " |" for r in rows]
    return "\n".join([*out, "", markdown_cell(report.notes())]) + "\n"


def _keys(report: Report) -> tuple[list[str], Callable[[RegionRow, RegionRow | None],
                                                       list[Any]]]:
    zh = report.zh()
    head = ["层级" if zh else "level", "代码" if zh else "code", "地区" if zh else "region",
            "范围" if zh else "part", "登记学校数" if zh else "registered"]
    for ind in report.indicators:
        n = ind.name("zh") if zh else ind.key
        head += ([f"{n} 达标数", f"{n} 适用数", f"{n} 占比"] if zh
                 else [f"{n}_met", f"{n}_of", f"{n}_share"])
        if report.earlier:
            head += [f"{n} 对比占比", f"{n} 变化(百分点)"] if zh else \
                [f"{n}_share_before", f"{n}_change_points"]

    def values(row: RegionRow, before: RegionRow | None) -> list[Any]:
        out: list[Any] = []
        for ind in report.indicators:
            share = row.share(ind.key)
            out += [row.met.get(ind.key, 0), row.applicable.get(ind.key, 0),
                    None if share is None else round(share, 4)]
            if report.earlier:
                then = before.share(ind.key) if before else None
                out += [None if then is None else round(then, 4),
                        None if then is None or share is None
                        else round((share - then) * 100, 2)]
        return out
    return head, values


def as_csv(report: Report) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    if report.view == "ledger":
        header, rows = ledger_table(report)
        writer.writerow(header)
        writer.writerows([csv_cell(v) for v in r] for r in rows)
        return buf.getvalue()
    head, values = _keys(report)
    writer.writerow(head)
    earlier = report.earlier_rows()
    for r in report.rows():
        writer.writerow([report.level, csv_cell(r.code), csv_cell(r.name), r.part,
                         r.registered, *values(r, earlier.get((r.code, r.part)))])
    return buf.getvalue()


def as_json(report: Report) -> str:
    data: dict[str, Any] = {
        "title": report.title(), "scope": report.scope_name, "schools": report.schools,
        "as_of": report.period.label, "as_of_ns": report.period.end_ns,
        "period_days": report.cfg.period_days,
        "compared_with": report.earlier.label if report.earlier else None,
        "thresholds": report.notes(), "level": report.level}
    if report.view == "ledger":
        cols = columns(report.cfg)
        data["ledger"] = [{c.key: c.get(f, report.lang) for c in cols} for f in report.ledger()]
    else:
        earlier = report.earlier_rows()
        data["indicators"] = {i.key: i.name(report.lang) for i in report.indicators}
        data["rows"] = [
            {"code": r.code, "name": r.name, "part": r.part, "registered": r.registered,
             "indicators": {i.key: _json_cell(r, i, earlier.get((r.code, r.part)))
                            for i in report.indicators}} for r in report.rows()]
    return json_safe(json.dumps(data, ensure_ascii=False, indent=2))


def _json_cell(row: RegionRow, ind: Indicator, before: RegionRow | None) -> dict[str, Any]:
    share = row.share(ind.key)
    out: dict[str, Any] = {"met": row.met.get(ind.key, 0), "of": row.applicable.get(ind.key, 0),
                           "share": None if share is None else round(share, 4)}
    if before is not None:
        then = before.share(ind.key)
        out["share_before"] = None if then is None else round(then, 4)
    return out


TEXT_FORMATS: dict[str, Callable[[Report], str]] = {
    "table": as_table, "md": as_markdown, "csv": as_csv, "json": as_json}
