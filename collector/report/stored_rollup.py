"""The report's indicator counts per county and school type, written by the collector as
``indicator_rollup`` with its school summaries.

A regional report (the summary view, and every ``--compare`` period) needs only,
per county and school type, how many schools each indicator applies to and how
many meet it (collector.report.rollup's units): every level from county up rolls
up from those. Read from every school's summary, that was 50,000 series at a
province and most of a report's time. The collector keeps each school's marks
(which indicators apply to it and which it meets), computed from the summary it
wrote, with the report's own code, and after each round's summaries writes one
point per unit (county and school type) whose counts changed, re-stated unchanged
every 9-12 h as verdicts are: a report reads a few hundred series.

The counts equal what a report would sum from the same summaries only for the
same schools and settings, so each point carries a digest of its unit's
registry entries and the indicator settings it was counted with. A report uses
them only when every unit in its scope has a point, within the period and at
most 25 h old (as summaries), with its own registry's digest and settings, and
each region code there has one name; otherwise (one log line says why) it reads
every school's summary as before.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

import msgspec

from agent.contract.reading import Reading
from collector.errors import Unavailable
from collector.ingest.lineproto import line
from collector.ingest.writer import Writer
from collector.judge import summary
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import LEVELS, School
from collector.judge.restate import Restatements
from collector.judge.targets import Indicators
from collector.report.facts import Facts, fill, region_where
from collector.report.indicators import Indicator, indicators
from collector.report.period import Period
from collector.report.rollup import Marks, Unit, mark, summed

log = logging.getLogger(__name__)

MEASUREMENT = "indicator_rollup"
Key = tuple[str, str, str, str]  # province, city, county, school type: a series' tags


def key_of(school: School) -> Key:
    return school.province, school.city, school.county, school.school_type


def units_of(schools: Iterable[School]) -> dict[Key, list[School]]:
    out: dict[Key, list[School]] = {}
    for school in schools:
        out.setdefault(key_of(school), []).append(school)
    return out


def digest(members: Iterable[School]) -> str:
    """The unit's registry entries, every field (names, classes, contract), in one hash."""
    h = hashlib.blake2b(digest_size=12)
    for school in sorted(members, key=lambda s: s.school_id):
        h.update(repr(school).encode())  # the dataclass's: every field, named
    return h.hexdigest()


def settings(cfg: Indicators, inds: Sequence[Indicator]) -> str:
    """What the marks depend on besides the facts: the settings and the indicators."""
    return msgspec.json.encode([dataclasses.astuple(cfg), [i.key for i in inds]]).decode()


class Stored(msgspec.Struct):
    unit: tuple[str, str, str, str]
    schools: int
    registry: str
    settings: str
    applicable: dict[str, int]
    met: dict[str, int]


_ENCODER = msgspec.json.Encoder()
_STORED = msgspec.json.Decoder(Stored)


class Tally:
    """The collector's side: each school's marks from the summary it wrote, and each
    unit's counts written when they changed or are due for re-statement."""

    def __init__(self, cfg: Indicators) -> None:
        self.indicators = indicators(cfg)
        self.settings = settings(cfg, self.indicators)
        self._shared: dict[Marks, Marks] = {}  # schools share a few marks: one tuple each
        self.restate = Restatements()
        # The registry the units were made for (the Evaluator's registry dict: a
        # reload replaces it); per unit its schools, digest and series name.
        self._registry: object = None
        self._units: dict[Key, tuple[list[School], str, str]] = {}
        # Each unit's counts as last counted, and the units with a school whose marks
        # were made since: only those are counted again (a round's few changed schools
        # are in a few units; counting all 50,000 schools took ~0.5 s a round).
        self._counted: dict[Key, str] = {}
        self._dirty: set[Key] = set()

    def keep(self, school: School, text: str) -> Marks | None:
        """``Summaries.keep``: a school's marks from the facts text it was written with,
        read back as a report reads it."""
        self._dirty.add(key_of(school))
        got = summary.read(text)
        if got is None:
            return None
        facts = Facts(school)
        fill(facts, got)
        marks = mark(facts, self.indicators)
        return self._shared.setdefault(marks, marks)

    def _count(self, key: Key, members: list[School], unit_digest: str,
               kept: Mapping[str, tuple[object, ...]]) -> str | None:
        """The unit's counts (JSON), or None while a school has no marks yet."""
        times: Counter[int] = Counter()
        seen: dict[int, Marks] = {}
        for school in members:
            got = kept.get(school.school_id)
            marks = got[-1] if got is not None else None
            if not isinstance(marks, tuple):
                return None
            times[id(marks)] += 1
            seen[id(marks)] = cast(Marks, marks)
        applicable, met = summed(times, seen)
        order = [i.key for i in self.indicators if i.key in applicable]
        return _ENCODER.encode(Stored(key, len(members), unit_digest, self.settings,
                                      {k: applicable[k] for k in order},
                                      {k: met[k] for k in order})).decode()

    def due(self, schools: Sequence[School], registry: object,
            kept: Mapping[str, tuple[object, ...]], now_ns: int) -> list[tuple[str, str, str]]:
        """The (series name, counts, line) of each unit to write: counts changed or due.
        A unit with a school not yet summarised is left out (a report then reads
        summaries). ``kept``: per school, what ``keep`` gave last (its last item)."""
        if registry is not self._registry or not self._units:
            self._units = {k: (members, digest(members), "/".join(k))
                           for k, members in units_of(schools).items()}
            self._registry = registry
            self._counted.clear()
        out = []
        for key, (members, unit_digest, name) in self._units.items():
            text = self._counted.get(key)
            if text is None or key in self._dirty:
                text = self._count(key, members, unit_digest, kept)
                if text is None:
                    self._counted.pop(key, None)
                    continue
                self._counted[key] = text
            if self.restate.due(name, text, now_ns):
                tags = dict(zip((*LEVELS[:3], "school_type"), key, strict=True))
                out.append((name, text, line(Reading(MEASUREMENT, {"counts": text}, tags,
                                                     now_ns))))
        self._dirty.clear()
        return out

    def record(self, schools: Sequence[School], registry: object,
               kept: Mapping[str, tuple[object, ...]], now_ns: int, writer: Writer) -> None:
        """One round's unit counts, after its summaries; counted as written once stored."""
        due = self.due(schools, registry, kept, now_ns)
        if due:
            writer.write([text for _, _, text in due])
        for name, counts, _ in due:
            self.restate.wrote(name, counts, now_ns)
        self.restate.forget(name for _, _, name in self._units.values())
        log.info("indicator roll-ups: %d of %d units written", len(due), len(self._units))


LONGTERM = f"{MEASUREMENT}_1d"  # the deployment's daily aggregate (deploy/influxdb)


def _stored(reader: InfluxQLReader, source: str, since: int, end_ns: int, where: str
            ) -> dict[Key, Stored]:
    out: dict[Key, Stored] = {}
    for _, text in reader.firsts(
            f"SELECT \"counts\" FROM {source} WHERE time > {since} AND time <= {end_ns}"
            f"{where} GROUP BY province, city, county, school_type ORDER BY time DESC "
            "LIMIT 1", "county", "counts"):
        try:
            got = _STORED.decode(text) if isinstance(text, str) else None
        except msgspec.DecodeError:
            got = None
        if got is not None:
            out[got.unit] = got
    return out


def _units(schools: list[School], stored: dict[Key, Stored], wanted: str, same: bool = True
           ) -> tuple[list[Unit] | None, str]:
    """The units from the stored counts, or None and why not. ``same``: counted for
    these very registry entries; else as counted then, without the units that had no
    counts (no school) then."""
    out: list[Unit] = []
    for key, members in units_of(schools).items():
        got = stored.get(key)
        if got is None and not same:
            continue
        if got is None or got.settings != wanted or (
                same and got.registry != digest(members)):
            why = ("none stored for " if got is None else
                   "counted with other indicator settings for " if got.settings != wanted
                   else "counted for other registry entries for ")
            return None, why + "/".join(key)
        out.append((members[0], got.schools, Counter(got.applicable), Counter(got.met)))
    return (out, "") if out else (None, "none stored")


def read(reader: InfluxQLReader, schools: list[School], period: Period, cfg: Indicators,
         inds: Sequence[Indicator], region: tuple[str, str] | None, longterm: str = ""
         ) -> list[Unit] | None:
    """The units of ``schools`` (a report's scope) as of ``period``'s end from the stored
    counts, or None (logged) when any is missing or was counted for other schools or
    settings: the report then reads every school's summary. Where the scope has no
    raw roll-up (aged out, and every school's summary and reading with them), the
    ``longterm`` policy's daily ones: the as-of day's last counts (exact for a date's
    end, the usual --as-of and --compare), over the schools registered then."""
    names: dict[tuple[str, str], set[str]] = {}
    for school in schools:
        for level in LEVELS[:3]:
            names.setdefault((level, getattr(school, level)), set()).add(
                getattr(school, f"{level}_name"))
    if any(len(n) > 1 for n in names.values()):
        log.info("indicator roll-ups not used: the registry names a region two ways")
        return None
    since = max(period.start_ns, period.end_ns - summary.LOOKBACK_NS)
    where = region_where(region)
    wanted = settings(cfg, inds)
    raw = _stored(reader, f'"{MEASUREMENT}"', since, period.end_ns, where)
    out, why = _units(schools, raw, wanted)
    source = "the collector's indicator roll-ups"
    if out is None and not raw and longterm:
        # A day's aggregate is stamped with the day's start, less than the 25 h
        # lookback before any time of that day. Nothing else of that time is left to
        # count today's registry with: the counts stand as the collector counted then.
        try:
            daily = _stored(reader, f'"{longterm}"."{LONGTERM}"', since, period.end_ns,
                            where)
        except Unavailable as err:  # no such policy: a deployment without aggregates
            daily, why = {}, f"{why}; \"{longterm}\" not read ({err}: set [storage] " \
                             "longterm_policy to the policy holding them, or \"\")"
        if daily:
            out, why = _units(schools, daily, wanted, same=False)
            source = f"the daily indicator roll-ups in \"{longterm}\" (as counted then)"
    if out is None:
        log.info("indicator roll-ups not used: %s (a report reads every school's summary)",
                 why)
        return None
    log.info("report counts as of %d: %d units from %s", period.end_ns, len(out), source)
    return out
