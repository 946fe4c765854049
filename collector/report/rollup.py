"""Regional roll-up of compliance: the table education bureaus publish.

Per region: schools registered, schools that reported, and for each target
the count and share of schools meeting it. Registered schools that sent
nothing count in the denominator as no data, so silence never flatters a
region.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.rules import TARGETS


@dataclass
class RegionRow:
    code: str
    name: str
    registered: int = 0
    reported: int = 0
    meeting: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TARGETS, 0))

    def share(self, target: str) -> float:
        return self.meeting[target] / self.registered if self.registered else 0.0


def latest_status(reader: InfluxQLReader, max_age_days: float) -> dict[tuple[str, str], str]:
    rows = reader.rows(f'SELECT last(status) AS status FROM "compliance" WHERE time > now() - '
                       f"{int(max_age_days * 86400)}s GROUP BY school, target")
    return {(r["school"], r["target"]): r["status"] for r in rows}


def roll_up(schools: list[School], status: dict[tuple[str, str], str], level: str,
            region: str | None) -> list[RegionRow]:
    rows: dict[str, RegionRow] = {}
    for school in schools:
        if region and region not in (school.province, school.city, school.county,
                                     school.school_id):
            continue
        code, name = school.region(level)
        row = rows.setdefault(code, RegionRow(code, name))
        row.registered += 1
        verdicts = [status.get((school.school_id, t), "no_data") for t in TARGETS]
        row.reported += any(v != "no_data" for v in verdicts)
        for target, verdict in zip(TARGETS, verdicts, strict=True):
            row.meeting[target] += verdict == "pass"
    return sorted(rows.values(), key=lambda r: r.code)
