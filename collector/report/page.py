"""The report as one self-contained HTML page: scope, dates, thresholds, legend, the
summary tables, a bar chart, and each region's schools (the ledger) linked from its row.

No scripts, no fetches, no links leaving the page. Printed to A4 landscape:
table headers repeat on each page and a row never splits.
"""

from __future__ import annotations

import html
import unicodedata
from itertools import groupby

from collector.report.build import Report
from collector.report.formats import label, summary_tables
from collector.report.inert import html_text
from collector.report.ledger import STATUS, TARGET_COLUMNS, columns, reason, status
from collector.report.rollup import RegionRow

COLOURS = ("#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
STATUS_COLOURS = {"pass": "#d8f0d8", "fail": "#f8d0d0", "inconclusive": "#fbe6b0",
                  "no_data": "#e4e4e4", "not_evaluated": "#d8e6f8"}
STYLE = """
@page{size:A4 landscape;margin:10mm}
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:1.5em;font-size:10pt}
h1{font-size:15pt}h2{font-size:12pt;margin-top:1.2em}h3{font-size:11pt}
table{border-collapse:collapse;margin:.4em 0}
td,th{border:1px solid #999;padding:2px 5px;vertical-align:top}
th{background:#eee}thead{display:table-header-group}tr{break-inside:avoid}
td.n{text-align:right}td.r{white-space:nowrap}tr.total td{font-weight:bold}
tr.tp td{color:#444}table.summary{font-size:8pt}
table.ledger{font-size:7.5pt}small{color:#333}
.meta{color:#222}.legend span{display:inline-block;padding:0 6px;margin-right:6px}
svg{max-width:100%;height:auto}
@media print{body{margin:0}section.region{break-before:auto}}
"""


def _width(text: str) -> float:
    return sum(13 if unicodedata.east_asian_width(c) in "WF" else 7 for c in text)


def chart(report: Report, rows: list[RegionRow]) -> str:
    """Bars of the measured indicators' shares; each name on a line of its own above its
    bars, so no name, however long, can run into a bar or a percentage."""
    inds = report.group("measured")[:5]
    bar, gap, left, span = 12, 10, 10, 520
    widest = max([_width(label(r, report.lang)) for r in rows] + [span + 80])
    width = int(max(left + span + 70, widest + left))
    y, parts = 20, []
    for row in rows:
        parts.append(f'<text x="{left}" y="{y}" font-size="13">'
                     f"{html_text(label(row, report.lang))}</text>")
        y += 6
        for i, ind in enumerate(inds):
            share = row.share(ind.key) or 0.0
            parts.append(f'<rect class="bar" data-target="{ind.key}" data-share="{share:.4f}" '
                         f'x="{left}" y="{y}" width="{span * share:.1f}" height="{bar - 2}" '
                         f'fill="{COLOURS[i]}"/>')
            parts.append(f'<text x="{left + span * share + 4:.1f}" y="{y + bar - 3}" '
                         f'font-size="10">{share:.1%}</text>')
            y += bar
        y += gap + 14
    legend = "".join(f'<tspan fill="{c}">■ </tspan><tspan>{html.escape(i.name(report.lang))}'
                     "　</tspan>" for c, i in zip(COLOURS, inds, strict=False))
    parts.append(f'<text x="{left}" y="{y}" font-size="12">{legend}</text>')
    title = html.escape(report.title())
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {y + 10}" '
            f'width="{width}" height="{y + 10}" role="img" aria-label="{title}">'
            + "".join(parts) + "</svg>")


def _summary(report: Report) -> str:
    out = []
    rows = report.rows()
    linked = report.level != "school"
    for title, header, cells in summary_tables(report):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = []
        for row, line in zip(rows, cells, strict=True):
            name = html_text(line[0])
            if linked and row.part == "all":
                name = f'<a href="#r-{html.escape(row.code)}">{name}</a>'
            css = {"total": ' class="total"', "teaching_point": ' class="tp"'}.get(row.part, "")
            # "223 (81.7% → 92.9% (+11.3))" over two lines keeps a wide table on A4.
            body.append(f'<tr{css}><td class="r">{name}</td>' + "".join(
                f'<td class="n">{html_text(c).replace(" (", "<br>(", 1)}</td>'
                for c in line[1:]) + "</tr>")
        out.append(f"<h2>{html.escape(title)}</h2><table class=\"summary\"><thead><tr>{head}"
                   f"</tr></thead><tbody>{''.join(body)}</tbody></table>")
    return "".join(out)


def _ledger(report: Report) -> str:
    # Sections are per region already: the city column would only repeat it.
    cols = [c for c in columns(report.cfg) if c not in TARGET_COLUMNS and c.key != "city"]
    targets = [c for c in TARGET_COLUMNS if c.key.endswith("_status")]
    head = "".join(f"<th>{html.escape(c.name(report.lang))}</th>" for c in cols + targets)
    level = "county" if report.level == "school" else report.level
    out = []
    facts = sorted(report.ledger(), key=lambda f: f.school.region(level))
    for (code, name), group in groupby(facts, key=lambda f: f.school.region(level)):
        lines = []
        for f in group:
            cells = "".join(f"<td>{html_text(_cell(c.get(f, report.lang)))}</td>" for c in cols)
            for c in targets:
                target = c.key.removesuffix("_status")
                st, why = status(f, target)[0], reason(f, target, report.lang)
                word = STATUS.get(st, (st, st))[0 if report.zh() else 1]
                cells += (f'<td style="background:{STATUS_COLOURS.get(st, "#fff")}">'
                          f"{html.escape(word)}<br><small>{html_text(why)}</small></td>")
            lines.append(f'<tr id="s-{html.escape(f.school.school_id)}">{cells}</tr>')
        out.append(f'<section class="region"><h3 id="r-{html.escape(code)}">'
                   f"{html_text(name)} ({html.escape(code)})</h3><table class=\"ledger\">"
                   f"<thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"
                   "</section>")
    return "".join(out)


def _cell(value: object) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def as_html(report: Report) -> str:
    zh = report.zh()
    title = html.escape(report.title())
    legend = "".join(f'<span style="background:{STATUS_COLOURS[k]}">'
                     f"{html.escape(v[0] if zh else v[1])}</span>" for k, v in STATUS.items())
    meta = (f'<p class="meta">{html.escape("范围" if zh else "Scope")}: '
            f"{html_text(report.scope_name)} · {report.schools} "
            f"{'所学校' if zh else 'schools'} · {'截至' if zh else 'as of'} "
            f"{html.escape(report.period.label)}"
            + (f" · {'对比' if zh else 'compared with'} {html.escape(report.earlier.label)}"
               if report.earlier else "") + "</p>"
            f'<p class="meta">{html.escape(report.notes())}</p>'
            f'<p class="legend">{html.escape("图例" if zh else "Legend")}: {legend}</p>')
    body = "" if report.view == "ledger" else \
        _summary(report) + chart(report, [r for r in report.rows() if r.part != "teaching_point"])
    schools = "学校台账" if zh else "Schools (ledger)"
    return (f'<!DOCTYPE html><html lang="{report.lang}"><head><meta charset="utf-8">'
            f"<title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>{meta}"
            f"{body}<h2>{html.escape(schools)}</h2>{_ledger(report)}</body></html>\n")
