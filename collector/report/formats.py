"""The roll-up as officials read it: a terminal table, Markdown, CSV, JSON, HTML.

Registry text reaches every format only through :mod:`.inert`.
"""

from __future__ import annotations

import csv
import html
import io
import json
import unicodedata
from typing import Any

from collector.judge.rules import TARGETS
from collector.report.inert import csv_cell, html_text, json_safe, markdown_cell, plain
from collector.report.rollup import RegionRow

HEAD = {
    "zh": {"region": "地区", "code": "代码", "registered": "登记学校数", "reported": "已上报",
           "exit_bandwidth": "出口带宽达标", "classroom_links": "百兆进班达标",
           "wifi": "无线覆盖达标", "ipv6": "IPv6 达标", "title": "学校网络达标情况"},
    "en": {"region": "Region", "code": "Code", "registered": "Registered", "reported": "Reported",
           "exit_bandwidth": "Exit bandwidth met", "classroom_links": "Classrooms ≥100M met",
           "wifi": "Wi-Fi coverage met", "ipv6": "IPv6 met",
           "title": "School network compliance"},
}


def _cells(row: RegionRow) -> list[str]:
    return [row.name, row.code, str(row.registered), str(row.reported)] + [
        f"{row.meeting[t]} ({row.share(t):.2%})" for t in TARGETS]


def _header(lang: str) -> list[str]:
    h = HEAD[lang]
    return [h["region"], h["code"], h["registered"], h["reported"]] + [h[t] for t in TARGETS]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def as_table(rows: list[RegionRow], lang: str) -> str:
    table = [_header(lang)] + [[plain(c) for c in _cells(r)] for r in rows]
    widths = [max(_width(line[i]) for line in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(cell + " " * (w - _width(cell)) for cell, w in
                               zip(line, widths, strict=True)).rstrip() for line in table)


def as_markdown(rows: list[RegionRow], lang: str) -> str:
    lines = [_header(lang)] + [[markdown_cell(c) for c in _cells(r)] for r in rows]
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(lines[0])]
    return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines[1:]])


def as_csv(rows: list[RegionRow], lang: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["code", "name", "registered", "reported"]
                    + [f"{t}_{k}" for t in TARGETS for k in ("count", "share")])
    for r in rows:
        writer.writerow([csv_cell(r.code), csv_cell(r.name), r.registered, r.reported]
                        + [v for t in TARGETS for v in (r.meeting[t], round(r.share(t), 4))])
    return buf.getvalue()


def as_json(rows: list[RegionRow], lang: str) -> str:
    data: list[dict[str, Any]] = [
        {"code": r.code, "name": r.name, "registered": r.registered, "reported": r.reported,
         "targets": {t: {"count": r.meeting[t], "share": round(r.share(t), 4)}
                     for t in TARGETS}} for r in rows]
    return json_safe(json.dumps(data, ensure_ascii=False, indent=2))


def _chart(rows: list[RegionRow], lang: str) -> str:
    """An inline SVG bar chart of each region's share per target (no scripts, no fetches)."""
    colours = ("#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd")
    bar, gap, left = 14, 18, 160
    height = len(rows) * (len(TARGETS) * bar + gap) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="720" height="{height}" '
             f'role="img" aria-label="{html.escape(HEAD[lang]["title"])}">']
    y = 10
    for row in rows:
        parts.append(f'<text x="0" y="{y + 2 * bar}" font-size="13">'
                     f"{html_text(row.name)}</text>")
        for i, target in enumerate(TARGETS):
            share = row.share(target)
            parts.append(f'<rect class="bar" data-target="{target}" data-share="{share:.4f}" '
                         f'x="{left}" y="{y}" width="{500 * share:.1f}" height="{bar - 2}" '
                         f'fill="{colours[i]}"/>')
            parts.append(f'<text x="{left + 500 * share + 4:.1f}" y="{y + bar - 4}" '
                         f'font-size="11">{share:.1%}</text>')
            y += bar
        y += gap
    legend = "".join(f'<tspan fill="{c}">■ {html.escape(HEAD[lang][t])}  </tspan>'
                     for c, t in zip(colours, TARGETS, strict=True))
    parts.append(f'<text x="0" y="{y + 14}" font-size="12">{legend}</text></svg>')
    return "".join(parts)


def as_html(rows: list[RegionRow], lang: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _header(lang))
    body = "".join("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in _cells(r)) + "</tr>"
                   for r in rows)
    title = html.escape(HEAD[lang]["title"])
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            f"<title>{title}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px}"
            f"</style></head><body><h1>{title}</h1><table id=\"report\"><thead><tr>{head}"
            f"</tr></thead><tbody>{body}</tbody></table>{_chart(rows, lang)}</body></html>\n")


FORMATS = {"table": as_table, "md": as_markdown, "csv": as_csv, "json": as_json,
           "html": as_html}
