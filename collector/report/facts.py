"""What the stored readings and verdicts say about each school at one instant.

First from the collector's per-school summaries (collector.judge.summary, one
series a school): each school's newest summary written at or before the
report's end, within the period and at most 25 h old, computed with this
report's indicator settings. Schools without one (history from before the
summaries, a collector that does not keep judging windows, other settings)
have their facts computed from the raw readings: one query per kind of
evidence for all of them (never one per school), narrowed to their counties
when there are few. Both are bounded to the report's period, so ``--as-of``
sees the database as it stood then. Everything here is measured; what it means
against a target is for :mod:`.indicators` and the per-type verdicts.
"""

from __future__ import annotations

import logging
import statistics
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from collector.judge import summary
from collector.judge.reader import InfluxQLReader, Row
from collector.judge.registry import School
from collector.judge.targets import Indicators
from collector.report.period import Period

log = logging.getLogger(__name__)
AREA_KINDS = summary.AREA_KINDS
_SEEN = threading.Lock()
FEW_COUNTIES = 20  # schools without a summary: their raw readings read county by county


@dataclass(frozen=True)
class Verdict:
    """A stored per-type verdict (a ``compliance`` point), the newest in the period."""

    status: str
    value: float | None
    threshold: float | None
    detail: str


@dataclass
class Facts:
    school: School
    last_ns: int | None = None          # the newest reading of any kind in the period
    probes: set[str] = field(default_factory=set)
    exit_median: float | None = None    # Mbps, median of the last `window` good tests
    exit_newest: float | None = None    # Mbps, the newest good test
    exit_tests: int = 0                 # good tests the median rests on
    exit_inconclusive: int = 0          # tests the gateway could not run properly
    port_mbps: float | None = None      # the WAN port's negotiated speed
    rooms_meeting: int = 0              # classrooms whose port meets classroom_mbps
    rooms_seen: int = 0                 # classrooms a switch reported
    wifi: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind: (covered, required)
    ipv6_level: int | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    def seen(self, ns: int | None) -> None:
        if ns is not None and (self.last_ns is None or ns > self.last_ns):
            with _SEEN:
                if self.last_ns is None or ns > self.last_ns:
                    self.last_ns = ns

    @property
    def reported(self) -> bool:
        return self.last_ns is not None

    @property
    def classes(self) -> int:
        """The classes a school must connect: the registry's, or more if more ports report."""
        return max(self.school.classes, self.rooms_seen)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def region_where(region: tuple[str, str] | None) -> str:
    """The condition selecting one region's series: ("county", "370102")."""
    return f" AND \"{region[0]}\" = '{_quote(region[1])}'" if region is not None else ""


def gather(reader: InfluxQLReader, schools: list[School], period: Period,
           cfg: Indicators, region: tuple[str, str] | None = None,
           summaries: bool = True) -> dict[str, Facts]:
    """Facts per school; ``region`` (tag, code), e.g. ("county", "370102"), lets the
    database skip every other region's series (codes are ASCII slugs, see the wire).
    ``summaries`` False: every school from the raw readings."""
    facts = {s.school_id: Facts(s) for s in schools}
    where = region_where(region)
    missing = from_summaries(reader, facts, period, cfg, where) if summaries else set(facts)
    if missing:
        rest = {sid: facts[sid] for sid in missing}
        counties = sorted({f.school.county for f in rest.values()})
        narrow = where
        if len(missing) < len(facts) and len(counties) <= FEW_COUNTIES:
            # A county code may repeat under another city: rows of schools not
            # asked for are skipped below.
            narrow += " AND (" + " OR ".join(f"\"county\" = '{_quote(c)}'"
                                             for c in counties) + ")"
        from_readings(reader, rest, period, cfg, narrow)
    if summaries:
        log.info("report facts as of %d: %d schools from the collector's summaries, %d from "
                 "raw readings", period.end_ns, len(facts) - len(missing), len(missing))
    return facts


def fill(f: Facts, got: summary.Stored) -> None:
    """A school's facts as its stored summary gives them."""
    f.verdicts = {target: Verdict(*verdict) for target, verdict in got.verdicts.items()}
    f.last_ns, f.exit_median, f.exit_newest = got.last_ns, got.exit_median, got.exit_newest
    f.probes = set(got.probes.split(",")) if got.probes else set()
    f.exit_tests, f.exit_inconclusive = got.exit_tests, got.exit_inconclusive
    f.port_mbps, f.ipv6_level = got.port_mbps, got.ipv6_level
    f.rooms_meeting, f.rooms_seen, f.wifi = got.rooms_meeting, got.rooms_seen, got.wifi()


def from_summaries(reader: InfluxQLReader, facts: dict[str, Facts], period: Period,
                   cfg: Indicators, where: str) -> set[str]:
    """Fill in the schools whose newest summary fits; the ids of those left."""
    since = max(period.start_ns, period.end_ns - summary.LOOKBACK_NS)
    missing = set(facts)
    other: set[tuple[float, ...]] = set()
    unreadable = 0
    wanted = summary.basis(cfg)
    # Not streamed: influxd sends a chunk per series, one a school here.
    for school, text in reader.firsts(
            f'SELECT "facts" FROM "{summary.MEASUREMENT}" WHERE time > {since} AND '
            f"time <= {period.end_ns}{where} GROUP BY school ORDER BY time DESC LIMIT 1",
            "school", "facts"):
        f = facts.get(school)
        if f is None or not isinstance(text, str):
            continue
        got = summary.read(text)
        if got is None:
            unreadable += 1
            continue
        if got.basis != wanted:
            other.add(tuple(got.basis))
            continue
        fill(f, got)
        missing.discard(school)
    if unreadable:
        log.info("%d school summaries are not in the form this collector writes: their "
                 "schools' facts come from raw readings", unreadable)
    if other:
        log.info("school summaries were computed for other indicator settings "
                 "(window, period_days, classroom_mbps = %s; this report: %s): their "
                 "schools' facts come from raw readings",
                 "; ".join(", ".join(f"{v:g}" for v in b) for b in sorted(other)),
                 ", ".join(f"{v:g}" for v in wanted))
    return missing


def from_readings(reader: InfluxQLReader, facts: dict[str, Facts], period: Period,
                  cfg: Indicators, where: str) -> None:
    """Facts from the raw readings of the period, one query per kind of evidence."""
    when, n = period.where() + where, cfg.window

    def query(select: str, measurement: str, group: str, limit: int, cond: str = "") -> str:
        return (f'SELECT {select} FROM "{measurement}" WHERE {when}{cond} '
                f"GROUP BY {group} ORDER BY time DESC LIMIT {limit}")

    def seen(rows: Iterable[Row]) -> Iterator[tuple[Facts, Row]]:
        for row in rows:
            if (f := facts.get(row.get("school", ""))) is not None:
                f.seen(row["time"])
                yield f, row

    def runs() -> None:
        for f, row in seen(reader.stream(
                query("duration_seconds", "probe_run", "school, probe", 1))):
            f.probes.add(row["probe"])

    def tests() -> None:
        per: dict[str, list[Row]] = defaultdict(list)
        for f, row in seen(reader.stream(
                query("download_bps, result", "wan_throughput", "school", n * 3))):
            per[f.school.school_id].append(row)
        for sid, rows in per.items():
            f = facts[sid]
            good = [r["download_bps"] / 1e6 for r in rows
                    if r["result"] == "ok" and r["download_bps"] is not None][:n]
            f.exit_inconclusive = sum(r["result"] == "inconclusive" for r in rows[:n])
            if good:
                f.exit_median, f.exit_newest, f.exit_tests = statistics.median(good), \
                    good[0], len(good)

    def links() -> None:
        for f, row in seen(reader.stream(query("link_speed_mbps", "wan_link", "school", 1,
                                               " AND link_speed_mbps > 0"))):
            f.port_mbps = float(row["link_speed_mbps"])

    def ports() -> None:
        rooms: dict[tuple[str, str], list[float]] = {}
        for f, row in seen(reader.stream(query("link_speed_mbps, oper_up, result",
                                               "classroom_link", "school, classroom", n))):
            speeds = rooms.setdefault((f.school.school_id, row.get("classroom", "")), [])
            # As the per-type rule: an implausible speed neither passes nor fails the room.
            if row.get("result") != "inconclusive":
                speeds.append((row["link_speed_mbps"] or 0.0) if row["oper_up"] is not False
                              else 0.0)
        for (sid, _), speeds in rooms.items():
            f = facts[sid]
            f.rooms_seen += 1
            f.rooms_meeting += bool(speeds) and statistics.median(speeds) >= cfg.classroom_mbps

    def areas() -> None:
        kinds: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for f, row in seen(reader.stream(query("covered, required", "wifi_area",
                                               "school, area, area_kind", 1))):
            if row.get("area_kind") in AREA_KINDS and row.get("required") is not False:
                counts = kinds[f.school.school_id][row["area_kind"]]
                counts[0] += row.get("covered") is True
                counts[1] += 1
        for sid, per_kind in kinds.items():
            facts[sid].wifi = {k: (c[0], c[1]) for k, c in per_kind.items()}

    def levels() -> None:
        for f, row in seen(reader.stream(query("level", "ipv6", "school", 1,
                                               " AND level >= 0"))):
            f.ipv6_level = int(row["level"])

    def verdicts() -> None:
        for row in reader.stream(query("status, value, threshold, detail", "compliance",
                                       "school, target", 1)):
            # Only the targets the report shows (path quality's are per uplink).
            f = facts.get(row.get("school", ""))
            if f is not None and row.get("target") in summary.SUMMARY_TARGETS:
                f.verdicts[row["target"]] = Verdict(str(row["status"]), row.get("value"),
                                                    row.get("threshold"),
                                                    row.get("detail") or "")

    # The database answers these side by side; each handler fills its own fields of
    # Facts (``seen`` only ever raises last_ns, under a lock).
    with ThreadPoolExecutor(4) as pool:
        for done in [pool.submit(h) for h in (runs, tests, links, ports, areas, levels,
                                              verdicts)]:
            done.result()
