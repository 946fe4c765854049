"""The scheduled digest: the summary per county (or city) and the schools below target,
as one message through the alert channels (apprise), once per day, week or month.

Each digest stands at the end of the period just past and compares with the
one before (a monthly digest sent on 1 November: as of 31 October, compared
with 30 September). The last period sent is kept in ``state_file``, so a
restart neither repeats nor skips one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from collector.config import CollectorConfig
from collector.judge.alerts import Send
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import Registry
from collector.judge.targets import load_indicators
from collector.report.build import Report, build
from collector.report.formats import label
from collector.report.ledger import STATUS, reason, status
from collector.report.rollup import change

log = logging.getLogger(__name__)
KEY_INDICATORS = ("connected", "exit_100", "exit_1000", "classrooms", "wifi_teaching",
                  "verdict_all")


def due(schedule: str, today: dt.date) -> tuple[str, dt.date, dt.date]:
    """(period key, as-of date, compare date) of the period that ended before ``today``."""
    if schedule == "monthly":
        end = today.replace(day=1) - dt.timedelta(days=1)
        before = end.replace(day=1) - dt.timedelta(days=1)
        return end.strftime("%Y-%m"), end, before
    if schedule == "weekly":
        end = today - dt.timedelta(days=today.isoweekday())  # last Sunday
        year, week, _ = end.isocalendar()
        return f"{year}-W{week:02d}", end, end - dt.timedelta(days=7)
    end = today - dt.timedelta(days=1)
    return end.isoformat(), end, end - dt.timedelta(days=1)


def as_digest(report: Report, max_schools: int = 30) -> str:
    """Plain text for a chat or an e-mail: key shares per region, then schools below target."""
    zh = report.zh()
    earlier = report.earlier_rows()
    names = {i.key: i.name(report.lang) for i in report.indicators}
    lines = [report.title()]
    for row in report.rows():
        if row.part == "teaching_point" and row.code:
            continue  # the scope's 教学点 line says it; per county it would double the text
        before = earlier.get((row.code, row.part))
        cells = []
        for key in KEY_INDICATORS:
            share = row.share(key)
            then = before.share(key) if before else None
            text = change(share, then) if then is not None else \
                ("—" if share is None else f"{share:.1%}")
            cells.append(f"{names[key]} {text}")
        lines.append(f"{label(row, report.lang)}（{row.registered}）：" + "；".join(cells)
                     if zh else f"{label(row, report.lang)} ({row.registered}): "
                     + "; ".join(cells))
    below = [f for f in report.facts if status(f, "all")[0] != "pass"]
    below.sort(key=lambda f: (f.school.county, f.school.school_id))
    lines.append(f"未全部达标的学校：{len(below)} 所" if zh
                 else f"Schools not meeting every target: {len(below)}")
    for f in below[:max_schools]:
        st, why = status(f, "all")[0], reason(f, "all", report.lang)
        word = STATUS.get(st, (st, st))[0 if zh else 1]
        lines.append(f"- {f.school.county_name} {f.school.name}（{f.school.school_id}）：{word}"
                     f"{'，' + why if why else ''}" if zh else
                     f"- {f.school.county_name} {f.school.name} ({f.school.school_id}): "
                     f"{word}{', ' + why if why else ''}")
    if len(below) > max_schools:
        rest = len(below) - max_schools
        lines.append(f"……另有 {rest} 所，见 report --view ledger --below" if zh
                     else f"... {rest} more: see report --view ledger --below")
    return "\n".join(lines)


class Digester:
    def __init__(self, cfg: CollectorConfig, registry: Registry, sinks: list[Send]) -> None:
        self.cfg = cfg
        self.registry = registry
        self.sinks = sinks
        self.reader = InfluxQLReader(cfg.storage)
        self.reader.timeout = max(self.reader.timeout, 600.0)  # a batch job, as `report`
        self.state = Path(cfg.digest.state_file) if cfg.digest.state_file else None
        self.last = self._load()

    def _load(self) -> str:
        if self.state is None or not self.state.exists():
            return ""
        try:
            return str(json.loads(self.state.read_text(encoding="utf-8")).get("last", ""))
        except (OSError, ValueError, AttributeError) as err:
            log.warning("digest state %s unreadable (%s): the last period is sent again",
                        self.state, err)
            return ""

    def maybe_send(self, today: dt.date) -> bool:
        """Send the digest of the period just past, unless it was sent already."""
        d = self.cfg.digest
        key, end, before = due(d.schedule, today)
        if key == self.last:
            return False
        self.registry.maybe_reload()
        report = build(list(self.registry.schools.values()), self.reader,
                       load_indicators(self.cfg.targets.file), lang=d.language,
                       level=d.level, region=d.region or None, as_of=end.isoformat(),
                       compare=before.isoformat(),
                       longterm=self.cfg.storage.longterm_policy)
        text = as_digest(report, d.max_schools)
        for send in self.sinks:
            send(text)
        self.last = key
        if self.state is not None:
            tmp = self.state.with_suffix(".tmp")
            tmp.write_text(json.dumps({"last": key}), encoding="utf-8")
            tmp.replace(self.state)
        log.info("digest for %s sent: %d schools, %d lines", key, report.schools,
                 text.count("\n") + 1)
        return True
