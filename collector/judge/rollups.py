"""Regional roll-ups: per region and target, how many schools pass, fail, are inconclusive
or have no data, written at each evaluation as the ``rollup`` measurement.

Province and national dashboards and the regional report read these few
hundred series (one per region and target) instead of every school's verdicts,
so their cost follows the number of regions, not of schools or of history.

One point per region (``level`` = province, city or county; the region's own
tags and those above it, never a school) and target (the four targets and
``all``). Fields: ``schools`` and one count per status, plus each status's
share of ``schools``. A registered school without a verdict this round counts
as ``no_data``: a school that stays silent must lower the share, not vanish
from it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from agent.contract.reading import FieldValue, Reading
from collector.ingest.lineproto import line
from collector.ingest.writer import Writer
from collector.judge.quality import QUALITY_TARGETS
from collector.judge.registry import School
from collector.judge.rules import TARGETS, Verdict

log = logging.getLogger(__name__)

MEASUREMENT = "rollup"
STATUSES = ("pass", "fail", "inconclusive", "no_data")
LEVELS = ("province", "city", "county")
ALL_TARGETS = (*TARGETS, "all")
# A school meets a path-quality target when one of its uplinks does: the best
# status among its uplinks' verdicts counts.
BEST_FIRST = ("pass", "fail", "inconclusive", "no_data")
NO_DATA = BEST_FIRST.index("no_data")


@dataclass(frozen=True, order=True)
class Region:
    """A region as its tags: the level and the codes down to it."""

    level: str
    province: str
    city: str = ""
    county: str = ""

    def tags(self) -> dict[str, str]:
        depth = LEVELS.index(self.level) + 1
        codes = (self.province, self.city, self.county)[:depth]
        return {"level": self.level, **dict(zip(LEVELS, codes, strict=False))}


Counts = dict[str, int]


def _per_school(verdicts: Iterable[Verdict], targets: tuple[str, ...],
                keep: Callable[[int, int], int]) -> dict[str, list[int]]:
    """Per school, one number per target (``BEST_FIRST``'s index of its status; no
    verdict: no_data), ``keep(old, new)`` deciding between two verdicts of a target.
    One list a school: a dict keyed by (school, target) made a tuple a verdict,
    7.5 MB of a round's peak at 10,000 schools (tracemalloc; at 50,000 with
    this, 10.7 MB in all)."""
    place = {target: i for i, target in enumerate(targets)}
    rank = {status: i for i, status in enumerate(BEST_FIRST)}
    per: dict[str, list[int]] = {}
    for v in verdicts:
        i = place.get(v.target)
        if i is not None:
            row = per.get(v.school.school_id)
            if row is None:
                row = per[v.school.school_id] = [NO_DATA] * len(targets)
            row[i] = keep(row[i], rank[v.status])
    return per


def _rows(per: dict[str, list[int]], schools: Iterable[School], targets: tuple[str, ...]
          ) -> Iterator[tuple[str, str, str, str, str]]:
    none = [NO_DATA] * len(targets)
    for school in schools:
        row = per.get(school.school_id, none)
        for i, target in enumerate(targets):
            yield school.province, school.city, school.county, target, BEST_FIRST[row[i]]


def count(verdicts: Iterable[Verdict], schools: Iterable[School]
          ) -> dict[tuple[Region, str], Counts]:
    """Status counts per (region, target) over the registered schools."""
    return tally(_rows(_per_school(verdicts, ALL_TARGETS, lambda old, new: new), schools,
                       ALL_TARGETS))


def count_quality(verdicts: Iterable[Verdict], schools: Iterable[School]
                  ) -> dict[tuple[Region, str], Counts]:
    """Status counts per (region, path-quality target), each school's best uplink."""
    return tally(_rows(_per_school(verdicts, QUALITY_TARGETS, min), schools, QUALITY_TARGETS))


def tally(rows: Iterable[tuple[str, str, str, str, str]]) -> dict[tuple[Region, str], Counts]:
    """Counts per (region, target) from (province, city, county, target, status) rows,
    one per school and target."""
    # Counted per county first (plain tuples, one increment per school and
    # target), then summed upwards: the cost follows schools, not schools x levels.
    per_county: Counter[tuple[str, str, str, str, str]] = Counter(rows)
    out: dict[tuple[Region, str], Counts] = {}
    for (province, city, county, target, st), n in per_county.items():
        for region in (Region("province", province), Region("city", province, city),
                       Region("county", province, city, county)):
            counts = out.setdefault((region, target), dict.fromkeys(STATUSES, 0))
            counts[st] = counts.get(st, 0) + n
    return out


def fields(counts: Mapping[str, int]) -> dict[str, FieldValue]:
    """Counts and shares; the shares are computed here so every reader agrees on them."""
    total = sum(counts[st] for st in STATUSES)
    out: dict[str, FieldValue] = {"schools": total}
    for st in STATUSES:
        out[st] = counts[st]
        out[f"{st}_share"] = round(counts[st] / total, 6) if total else 0.0
    return out


def points(verdicts: Iterable[Verdict], schools: Iterable[School], now_ns: int
           ) -> list[Reading]:
    """The round's roll-up points, in a stable order."""
    return readings(count(verdicts, schools), now_ns)


def readings(counted: Mapping[tuple[Region, str], Counts], now_ns: int) -> list[Reading]:
    return [Reading(MEASUREMENT, fields(counts), {**region.tags(), "target": target}, now_ns)
            for (region, target), counts in sorted(counted.items())]


def record(verdicts: Iterable[Verdict], schools: Iterable[School], now_ns: int,
           writer: Writer | None, sink: Callable[[list[Reading]], None] | None) -> None:
    """Store the round's roll-ups (no writer: a dry run) and hand the policy targets'
    to ``sink`` (the national tier counts those; path quality stays in the province)."""
    if writer is None:
        return
    verdicts, schools = list(verdicts), list(schools)
    rolled = points(verdicts, schools, now_ns)
    writer.write([line(r) for r in (*rolled, *readings(count_quality(verdicts, schools),
                                                        now_ns))])
    if sink is not None:
        sink(rolled)
    log.info("roll-ups: %d points for %d regions", len(rolled), len(rolled) // len(ALL_TARGETS))
