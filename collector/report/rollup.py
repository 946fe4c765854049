"""Regional roll-up: per region, how many registered schools meet each indicator.

Registered schools that sent nothing count in the denominator and do not
meet, so silence never flatters a region. Each region's 教学点 are counted
in its row and shown again on a row of their own; the first row is the
whole scope.
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

from agent.contract.wire import REGION, SCHOOL_ID
from collector.judge.registry import LEVELS, School
from collector.report.facts import Facts
from collector.report.indicators import Indicator
from collector.report.period import ReportError

PARTS = ("total", "all", "teaching_point")


@dataclass
class RegionRow:
    code: str
    name: str
    part: str = "all"   # total (the scope), all (a region), teaching_point (its 教学点)
    registered: int = 0
    met: dict[str, int] = field(default_factory=dict)
    applicable: dict[str, int] = field(default_factory=dict)

    def share(self, key: str) -> float | None:
        n = self.applicable.get(key, 0)
        return self.met.get(key, 0) / n if n else None

    def add(self, facts: Facts, indicators: list[Indicator]) -> None:
        self.count(mark(facts, indicators))

    def count(self, marks: Marks) -> None:
        applicable, met = marks
        self.registered += 1
        for key in applicable:
            self.applicable[key] = self.applicable.get(key, 0) + 1
            self.met[key] = self.met.get(key, 0)
        for key in met:
            self.met[key] += 1


# The keys of the indicators that apply to a school, and of those it meets.
Marks = tuple[tuple[str, ...], tuple[str, ...]]


def mark(facts: Facts, indicators: list[Indicator]) -> Marks:
    applicable = [ind for ind in indicators if ind.applies(facts)]
    return (tuple(ind.key for ind in applicable),
            tuple(ind.key for ind in applicable if ind.meets(facts)))


def marks(facts: list[Facts], indicators: list[Indicator]) -> list[Marks]:
    """Each school's marks, once for every level a report rolls up (a school
    counts in two or three rows of each: at 50,000 schools the indicators were
    most of a report's time). As :func:`mark`, but an indicator at a time over
    all schools (``map`` calls its predicate without a Python loop around it),
    ``applies`` asked only of those that are not universal and ``meets`` only
    where one applies; equal marks are one tuple, shared."""
    if not indicators:
        return [((), ())] * len(facts)
    keys = [ind.key for ind in indicators]
    everyone = [True] * len(facts)
    applies: list[list[bool]] = []
    meets: list[list[bool]] = []
    for ind in indicators:
        if ind.universal:
            applies.append(everyone)
            meets.append(list(map(ind.meets, facts)))
        else:
            asked = list(map(ind.applies, facts))
            applies.append(asked)
            meets.append([a and ind.meets(f) for a, f in zip(asked, facts, strict=True)])
    shared: dict[tuple[tuple[bool, ...], tuple[bool, ...]], Marks] = {}
    out = []
    for flags in zip(zip(*applies, strict=True), zip(*meets, strict=True), strict=True):
        got = shared.get(flags)
        if got is None:
            got = shared[flags] = (tuple(compress(keys, flags[0])),
                                   tuple(compress(keys, flags[1])))
        out.append(got)
    return out


def region_level(schools: list[School], code: str) -> str | None:
    """The level ``code`` names in the registry (province, city, county, school), if any."""
    for school in schools:
        for level in LEVELS:
            if school.region(level)[0] == code:
                return level
    return None


def scope(schools: list[School], region: str | None, level: str
          ) -> tuple[list[School], str, tuple[str, str] | None]:
    """The schools under ``region``, the scope's name ("山东省 济南市 历下区") and the
    (tag, code) that selects them in storage; or a ReportError naming the closest codes
    or the levels that make sense."""
    if not region:
        names = sorted({s.province_name for s in schools})
        return schools, " ".join(names), None
    found = region_level(schools, region)
    if found is None:
        codes = {s.region(lv)[0]: s.region(lv)[1] for s in schools for lv in LEVELS[:3]}
        close = difflib.get_close_matches(region, list(codes), n=3, cutoff=0.0)
        raise ReportError(f"--region {region} is not in the school registry; closest codes: "
                          + ", ".join(f"{c} ({codes[c]})" for c in close))
    if LEVELS.index(level) < LEVELS.index(found):
        below = ", ".join(LEVELS[LEVELS.index(found):])
        raise ReportError(f"--level {level} is above --region {region} (a {found}): a "
                          f"{level} row would hold only part of it; use --level {below}")
    inside = [s for s in schools if s.region(found)[0] == region]
    first = inside[0]
    names = [first.region(lv)[1] for lv in LEVELS[:LEVELS.index(found) + 1]]
    if not (SCHOOL_ID if found == "school" else REGION).fullmatch(region):
        # The registry checks this already; the code goes into a query, so again here.
        raise ReportError(f"--region {region!r}: codes are ASCII letters, digits, . _ -")
    return inside, " ".join(names), (found, region)


# Schools counted together: one of them (for its regions), how many, and how
# often each indicator applies to and is met by them.
Unit = tuple[School, int, Counter[str], Counter[str]]


def units(facts: list[Facts], marked: list[Marks], per_school: bool = False) -> list[Unit]:
    """The schools' marks summed per county and school type (each school on its own
    with ``per_school``): every level from county up rolls up from these, a few
    hundred units instead of every school once per level."""
    groups: dict[tuple[str, ...], list[Any]] = {}
    kinds: dict[int, Marks] = {}  # marked holds them, so their ids stay theirs
    for f, got in zip(facts, marked, strict=True):
        s = f.school
        key = ((s.school_id,) if per_school else
               (s.province, s.province_name, s.city, s.city_name, s.county, s.county_name,
                s.school_type))
        group = groups.get(key)
        if group is None:
            group = groups[key] = [s, 0, Counter()]
        group[1] += 1
        # Schools of a unit mostly share a few marks (the same tuple, see
        # :func:`marks`): each counted once, by identity rather than hashing it.
        group[2][id(got)] += 1
        kinds[id(got)] = got
    return [(school, n, *summed(times_of, kinds)) for school, n, times_of in groups.values()]


def summed(times_of: Mapping[int, int], kinds: Mapping[int, Marks]
           ) -> tuple[Counter[str], Counter[str]]:
    """Per indicator, how many schools it applies to and how many meet it, from how
    many schools have each marks (by the marks' id; ``kinds``: the marks by id)."""
    applicable: Counter[str] = Counter()
    met: Counter[str] = Counter()
    for at, times in times_of.items():
        keys, meets = kinds[at]
        for ind in keys:
            applicable[ind] += times
        for ind in meets:
            met[ind] += times
    return applicable, met


def roll_up(facts: list[Facts], indicators: list[Indicator], level: str,
            scope_name: str, marked: list[Marks] | None = None,
            grouped: list[Unit] | None = None) -> list[RegionRow]:
    """Rows for ``level``; ``marked``: :func:`marks` of ``facts``, and ``grouped``:
    their :func:`units` (per school for the school level), if already known."""
    if grouped is None:
        grouped = units(facts, marks(facts, indicators) if marked is None else marked,
                        level == "school")
    order = [ind.key for ind in indicators]
    total = RegionRow("", scope_name, "total")
    rows: dict[tuple[str, str], RegionRow] = {}
    points = RegionRow("", scope_name, "teaching_point")
    registered: Counter[int] = Counter()
    applicable: dict[int, Counter[str]] = defaultdict(Counter)
    met: dict[int, Counter[str]] = defaultdict(Counter)
    for school, n, keys, meets in grouped:
        code, name = school.region(level)
        parts = [total, rows.get((code, "all")) or rows.setdefault((code, "all"),
                                                                   RegionRow(code, name))]
        if school.school_type == "teaching_point":
            parts.append(points)
            if level != "school":
                parts.append(rows.get((code, "teaching_point")) or rows.setdefault(
                    (code, "teaching_point"), RegionRow(code, name, "teaching_point")))
        for row in parts:
            registered[id(row)] += n
            applicable[id(row)].update(keys)
            met[id(row)].update(meets)
    for row in (total, points, *rows.values()):
        row.registered = registered[id(row)]
        # In the indicators' order, as counting school by school fills them.
        row.applicable = {key: applicable[id(row)][key] for key in order
                          if key in applicable[id(row)]}
        row.met = {key: met[id(row)][key] for key in row.applicable}
    ordered = sorted(rows.values(), key=lambda r: (r.code, PARTS.index(r.part)))
    return [total, *([points] if points.registered else []), *ordered]


def change(now: float | None, then: float | None) -> str:
    """``74.0% → 96.9% (+22.9)``: the earlier share, the current one, the change in points."""
    if now is None or then is None:
        return ""
    return f"{then:.1%} → {now:.1%} ({(now - then) * 100:+.1f})"
