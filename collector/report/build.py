"""One report: its scope, dates, indicators, facts, and (with --compare) the earlier facts."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from collector.judge.reader import InfluxQLReader
from collector.judge.registry import LEVELS, School
from collector.judge.targets import Indicators
from collector.report import period as periods
from collector.report import stored_rollup
from collector.report.facts import Facts, gather
from collector.report.indicators import Indicator, indicators, thresholds
from collector.report.ledger import ledger
from collector.report.rollup import Marks, RegionRow, Unit, marks, roll_up, scope, units

GROUPS = {"measured": ("达标指标", "Indicators"), "ipv6": ("IPv6 等级分布", "IPv6 levels"),
          "probes": ("各探针上报", "Probes reporting"),
          "verdicts": ("按学校类型目标判定", "Verdicts against each type's targets")}
VIEWS = ("summary", "ledger")


@dataclass
class Report:
    lang: str
    level: str
    scope_name: str
    cfg: Indicators
    period: periods.Period
    facts: list[Facts]  # per school; empty when the counts came from indicator roll-ups
    earlier: periods.Period | None = None
    earlier_facts: list[Facts] | None = None
    view: str = "summary"
    only_below: bool = False
    sort: str = "region"
    indicators: list[Indicator] = field(default_factory=list)
    schools: int = 0  # registered in the scope
    # The counts per county and school type, when read from the collector's
    # indicator roll-ups instead of computed from per-school facts.
    units: list[Unit] | None = None
    earlier_units: list[Unit] | None = None
    # Each school's indicator marks and their sums per county, computed once for
    # every level rolled up.
    _marks: list[Marks] | None = field(default=None, init=False, repr=False)
    _units: list[Unit] | None = field(default=None, init=False, repr=False)
    _earlier_marks: list[Marks] | None = field(default=None, init=False, repr=False)
    _earlier_units: list[Unit] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.indicators:
            self.indicators = indicators(self.cfg)
        self._units, self._earlier_units = self.units, self.earlier_units
        self.schools = self.schools or len(self.facts)

    def zh(self) -> bool:
        return self.lang == "zh"

    def rows(self, level: str | None = None) -> list[RegionRow]:
        level = level or self.level
        if level == "school" or self._units is None:
            if self._marks is None:
                self._marks = marks(self.facts, self.indicators)
            if level != "school":
                self._units = units(self.facts, self._marks)
        return roll_up(self.facts, self.indicators, level, self.scope_name, self._marks,
                       None if level == "school" else self._units)

    def earlier_rows(self, level: str | None = None) -> dict[tuple[str, str], RegionRow]:
        if self.earlier_facts is None:
            return {}
        level = level or self.level
        if level == "school" or self._earlier_units is None:
            if self._earlier_marks is None:
                self._earlier_marks = marks(self.earlier_facts, self.indicators)
            if level != "school":
                self._earlier_units = units(self.earlier_facts, self._earlier_marks)
        rows = roll_up(self.earlier_facts, self.indicators, level, self.scope_name,
                       self._earlier_marks, None if level == "school" else self._earlier_units)
        return {(r.code, r.part): r for r in rows}

    def group(self, name: str) -> list[Indicator]:
        return [i for i in self.indicators if i.group == name]

    def ledger(self) -> list[Facts]:
        return ledger(self.facts, self.only_below, self.sort)

    def summary_levels(self) -> list[str]:
        """The levels at and below the report's, down to county (xlsx: one sheet each)."""
        return [lv for lv in LEVELS[:3] if LEVELS.index(lv) >= LEVELS.index(self.level)] \
            or [self.level]

    def title(self) -> str:
        n = self.schools
        what = ("台账" if self.view == "ledger" else "学校网络达标情况") if self.zh() else \
            ("ledger" if self.view == "ledger" else "school network indicators")
        if self.zh():
            text = f"{self.scope_name}{what}（{n} 所学校，截至 {self.period.label}"
            text += f"，对比 {self.earlier.label}）" if self.earlier else "）"
            return text
        text = f"{self.scope_name}: {what} ({n} schools, as of {self.period.label}"
        return text + (f", compared with {self.earlier.label})" if self.earlier else ")")

    def notes(self) -> str:
        return thresholds(self.cfg, self.lang)


def build(schools: list[School], reader: InfluxQLReader, cfg: Indicators, *, lang: str,
          level: str, region: str | None = None, as_of: str | None = None,
          compare: str | None = None, view: str = "summary", only_below: bool = False,
          sort: str = "region", now_ns: int | None = None, summaries: bool = True,
          rollups: bool = True, per_school: bool = True, longterm: str = "") -> Report:
    """``summaries`` False: every school's facts from raw readings. ``per_school`` False:
    the format shows no school (no ledger), so with ``rollups`` the counts may come from
    the collector's indicator roll-ups; the ``--compare`` period's always may (but at
    the school level). ``longterm``: the retention policy of the deployment's daily
    aggregates, for a period whose raw roll-ups aged out."""
    now_ns = now_ns or time.time_ns()
    inside, name, tag = scope(schools, region, level)
    at = periods.parse(as_of, cfg.period_days, now_ns)
    earlier = periods.parse(compare, cfg.period_days, now_ns) if compare else None
    if earlier is not None and earlier.end_ns >= at.end_ns:
        raise periods.ReportError(f"--compare {compare} must be before the as-of time "
                                  f"({at.label})")
    inds = indicators(cfg)
    counted = summaries and rollups and level != "school"

    def one(when: periods.Period, per: bool) -> tuple[list[Facts], list[Unit] | None]:
        got = stored_rollup.read(reader, inside, when, cfg, inds, tag, longterm) \
            if counted and not per else None
        if got is not None:
            return [], got
        return list(gather(reader, inside, when, cfg, tag, summaries).values()), None

    # Side by side: one period's facts are decoded while the database answers
    # the other's query (at 50,000 schools each waits seconds on it).
    with ThreadPoolExecutor(2) as pool:
        now = pool.submit(one, at, per_school or view == "ledger")
        then = pool.submit(one, earlier, False) if earlier is not None else None
        (facts, units_now), before = now.result(), then.result() if then else None
    return Report(lang, level, name, cfg, at, facts, earlier,
                  before[0] if before else None, view, only_below, sort, inds,
                  # As counted then, for long-term counts; else the same number.
                  schools=len(inside) if units_now is None else sum(u[1] for u in units_now),
                  units=units_now,
                  earlier_units=before[1] if before else None)
