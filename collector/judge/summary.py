"""Each school's report facts, written by the collector as ``school_summary`` at judging rounds.

The regional report (collector.report.facts) needs, per school, what its raw
readings over the period say: a million series at 50,000 schools, read on
every report. The running collector already keeps each school's judging
window in memory (collector.judge.state), which holds the same newest
readings, and the round's verdicts. From them this module computes the
report's facts with the report's own rules and writes one point per school
(one series a school), whenever a school's summary changed or was last written
more than ``RESTATE_NS`` ago, so the report reads the newest point of each
school within ``LOOKBACK_NS`` instead of the raw readings.

A summary is exact only when the windows hold what the report's period would:
the ``[indicators]`` window at most the targets' largest window, and its
period_days equal to the targets' largest max_age_days. Otherwise none is
written (one log line) and reports read raw readings. Each point carries the
indicator settings it was computed with, so a report asked with others falls
back to the raw readings rather than mixing the two.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from agent.contract.reading import FieldValue, Reading
from collector.ingest.lineproto import line
from collector.ingest.writer import Writer
from collector.judge.registry import School
from collector.judge.rounds import QueryJudge, WindowJudge
from collector.judge.rules import TARGETS, Verdict
from collector.judge.state import Windows, newest
from collector.judge.targets import Indicators

log = logging.getLogger(__name__)

MEASUREMENT = "school_summary"
AREA_KINDS = ("teaching", "office", "activity")
SUMMARY_TARGETS = (*TARGETS, "all")  # the verdicts the report shows
RESTATE_NS = 12 * 3600 * 10**9  # as agent states: half the lookback, one missed write is fine
LOOKBACK_NS = 25 * 3600 * 10**9  # the dashboards' verdict lookback: how old a summary may be
WRITE_BATCH = 5000
# The indicator settings a summary was computed with: a report asked with
# other settings cannot use it.
BASIS = ("window", "period_days", "classroom_mbps")


def basis(cfg: Indicators) -> tuple[float, float, float]:
    return float(cfg.window), float(cfg.period_days), float(cfg.classroom_mbps)


def usable(windows: Windows, cfg: Indicators) -> str:
    """Why the windows cannot give the report's facts for ``cfg`` ("" if they can)."""
    tests = windows.kinds[0].give // 3
    if cfg.window > tests:
        return (f"[indicators] window = {cfg.window} is more than the targets' window "
                f"({tests}) the judging windows keep")
    if int(cfg.period_days * 86400) * 10**9 != windows.age_ns:
        return (f"[indicators] period_days = {cfg.period_days:g} differs from the targets' "
                f"max_age_days ({windows.age_ns / 86400e9:g}) the judging windows keep")
    return ""


def _area_kind(key: str) -> str:
    # The series key holds the tag as written (kinds are a contract vocabulary,
    # never escaped); an escaped "\,area_kind=" inside an area name never
    # starts a part.
    for part in key.split(","):
        if part.startswith("area_kind="):
            return part[len("area_kind="):]
    return ""


def facts(windows: Windows, sid: str, now_ns: int, cfg: Indicators) -> dict[str, FieldValue]:
    """A school's report facts from its window at ``now_ns``, by collector.report.facts's
    rules over the readings of the period before it. The caller holds the windows' lock."""
    out: dict[str, FieldValue] = {}
    per_kind = windows.schools.get(sid)
    if per_kind is None:
        return out
    since, n = now_ns - windows.age_ns, cfg.window
    kinds = {kind.name: i for i, kind in enumerate(windows.kinds)}
    last: list[int] = []

    tests = newest(per_kind[kinds["tests"]].get("", []), since, n * 3)
    if tests:
        last.append(tests[0][0])
        good = [t[2] / 1e6 for t in tests if t[3] == "ok" and t[2] is not None][:n]
        out["exit_inconclusive"] = sum(t[3] == "inconclusive" for t in tests[:n])
        if good:
            out["exit_median"] = statistics.median(good)
            out["exit_newest"] = good[0]
        out["exit_tests"] = len(good)
    links = newest(per_kind[kinds["links"]].get("", []), since, 1)
    if links:
        last.append(links[0][0])
        out["port_mbps"] = float(links[0][2])
    meeting = seen = 0
    for entries in per_kind[kinds["ports"]].values():
        polls = newest(entries, since, n)
        if not polls:
            continue
        last.append(polls[0][0])
        # As the report's rule: an implausible speed neither passes nor fails the room.
        speeds = [(speed or 0.0) if up is not False else 0.0
                  for _, _, speed, up, result in polls if result != "inconclusive"]
        seen += 1
        meeting += bool(speeds) and statistics.median(speeds) >= cfg.classroom_mbps
    if seen:
        out["rooms_meeting"], out["rooms_seen"] = meeting, seen
    areas: dict[str, list[int]] = {}
    for entries in per_kind[kinds["areas"]].values():
        done: set[str] = set()
        for ts, key, covered, required in newest(entries, since, len(entries)):
            if key in done:  # the report reads the newest point of each area's series
                continue
            done.add(key)
            last.append(ts)
            kind = _area_kind(key)
            if kind in AREA_KINDS and required is not False:
                counts = areas.setdefault(kind, [0, 0])
                counts[0] += covered is True
                counts[1] += 1
    for kind, (covered, required) in areas.items():
        out[f"wifi_{kind}_covered"], out[f"wifi_{kind}_required"] = covered, required
    ipv6 = per_kind[kinds["ipv6"]].get("", [])
    for ts, _, level in newest(ipv6, since, len(ipv6)):
        if level is not None and level >= 0:
            last.append(ts)
            out["ipv6_level"] = int(level)
            break
    probes = [probe for probe, entries in per_kind[kinds["runs"]].items()
              if newest(entries, since, 1)]
    if probes:
        out["probes"] = ",".join(sorted(probes))
    ran = newest(per_kind[kinds["seen"]].get("", []), since, 1)
    if ran:
        last.append(ran[0][0])
    if last:
        # A string: stored numbers are floats, which would round nanoseconds.
        out["last_ns"] = str(max(last))
    return out


def verdict_fields(verdicts: Iterable[Verdict]) -> dict[str, FieldValue]:
    """The round's verdicts as the report reads stored ones (as compliance points hold them)."""
    out: dict[str, FieldValue] = {}
    for v in verdicts:
        out[f"{v.target}_status"] = v.status
        if v.value is not None:
            out[f"{v.target}_value"] = v.value
        out[f"{v.target}_threshold"] = v.threshold
        if v.detail:
            out[f"{v.target}_detail"] = v.detail[:250]
    return out


def point(school: School, cfg: Indicators, fields: dict[str, FieldValue],
          verdicts: Iterable[Verdict], now_ns: int) -> Reading:
    window, days, mbps = basis(cfg)
    return Reading(MEASUREMENT, {"window": window, "period_days": days, "classroom_mbps": mbps,
                                 **fields, **verdict_fields(verdicts)},
                   school.identity.region_tags(), now_ns)


class Summaries:
    """The summaries written, to write only the changed and the due ones."""

    def __init__(self, cfg: Indicators) -> None:
        self.cfg = cfg
        # school -> (its point's line without the timestamp, when written)
        self.written: dict[str, tuple[str, int]] = {}
        self.off = ""  # why none are written, logged once

    def due(self, judge: WindowJudge, verdicts: Iterable[Verdict], schools: Sequence[School],
            now_ns: int) -> list[str]:
        """The lines this round writes; counted as written."""
        fresh = judge.fresh
        need = {s.school_id for s in schools
                if s.school_id in fresh or s.school_id not in self.written}
        mine: dict[str, list[Verdict]] = {}
        for v in verdicts:
            if v.target in SUMMARY_TARGETS and v.school.school_id in need:
                mine.setdefault(v.school.school_id, []).append(v)
        out = []
        with judge.windows.lock:
            for school in schools:
                sid = school.school_id
                old = self.written.get(sid)
                if sid in need:
                    body = line(point(school, self.cfg,
                                      facts(judge.windows, sid, now_ns, self.cfg),
                                      mine.get(sid, ()), 0)).rsplit(" ", 1)[0]
                    if old is not None and old[0] == body and now_ns - old[1] < RESTATE_NS:
                        continue
                elif old is not None and now_ns - old[1] >= RESTATE_NS:
                    body = old[0]
                else:
                    continue
                out.append(f"{body} {now_ns}")
                self.written[sid] = (body, now_ns)
        registered = {s.school_id for s in schools}
        for sid in [sid for sid in self.written if sid not in registered]:
            del self.written[sid]
        return out

    def record(self, judge: WindowJudge | QueryJudge, verdicts: Iterable[Verdict],
               schools: Sequence[School], now_ns: int, writer: Writer | None) -> None:
        """One round's summaries (no writer: a dry run, which writes nothing). Only a
        judge fed from the stream keeps every school's window between rounds."""
        if writer is None:
            return
        if not isinstance(judge, WindowJudge) or not judge.streamed:
            off = "the judge reads the database each round (no stream-fed windows)"
        else:
            off = usable(judge.windows, self.cfg)
        if off or not isinstance(judge, WindowJudge):
            if off != self.off:
                log.info("school summaries not written: %s; reports read raw readings", off)
            self.off = off
            return
        self.off = ""
        lines = self.due(judge, verdicts, schools, now_ns)
        for at in range(0, len(lines), WRITE_BATCH):
            writer.write(lines[at:at + WRITE_BATCH])
        log.info("school summaries: %d of %d schools written", len(lines), len(schools))


def read(row: dict[str, Any]) -> dict[str, Any]:
    """A stored summary's facts as collector.report.facts.Facts holds them."""
    wifi = {}
    for kind in AREA_KINDS:
        required = row.get(f"wifi_{kind}_required")
        if required is not None:
            wifi[kind] = (int(row.get(f"wifi_{kind}_covered") or 0), int(required))

    def number(key: str) -> float | None:
        value = row.get(key)
        return None if value is None else float(value)

    last = row.get("last_ns")
    level = row.get("ipv6_level")
    return {"last_ns": int(last) if last else None,
            "probes": set(row["probes"].split(",")) if row.get("probes") else set(),
            "exit_median": number("exit_median"), "exit_newest": number("exit_newest"),
            "exit_tests": int(row.get("exit_tests") or 0),
            "exit_inconclusive": int(row.get("exit_inconclusive") or 0),
            "port_mbps": number("port_mbps"),
            "rooms_meeting": int(row.get("rooms_meeting") or 0),
            "rooms_seen": int(row.get("rooms_seen") or 0),
            "wifi": wifi, "ipv6_level": None if level is None else int(level)}
