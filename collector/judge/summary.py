"""Each school's report facts, written by the collector as ``school_summary`` at judging rounds.

The regional report (collector.report.facts) needs, per school, what its raw
readings over the period say: a million series at 50,000 schools, read on
every report. The running collector already keeps each school's judging
window in memory (collector.judge.state), which holds the same newest
readings, and the round's verdicts. From them this module computes the
report's facts with the report's own rules and writes one point per school
(one series a school, one JSON string field ``facts``), at once for a school's
first summary and when a verdict's status changed, other changes (a newer
reading, a new median, a verdict's figure) at most every ``LAST_EVERY_NS``, and,
unchanged, every 9-12 h as verdicts are (collector.judge.restate), so the
report reads the newest point of each school within ``LOOKBACK_NS`` instead of
the raw readings.

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import msgspec

from agent.contract.reading import Reading
from collector.ingest.lineproto import line
from collector.ingest.writer import Writer
from collector.judge.registry import School
from collector.judge.restate import Restatements, spread
from collector.judge.rounds import QueryJudge, WindowJudge
from collector.judge.rules import TARGETS, Rule, Verdict, rooms
from collector.judge.state import Windows
from collector.judge.targets import Indicators

log = logging.getLogger(__name__)

MEASUREMENT = "school_summary"
AREA_KINDS = ("teaching", "office", "activity")
SUMMARY_TARGETS = (*TARGETS, "all")  # the verdicts the report shows
# A school none of whose verdicts changed status has its summary computed again
# at most this often, though new readings come every round: reports' other facts
# (the newest reading's time, an exit median, a verdict's figure) may lag the raw
# readings by up to this much (plus a round). Computing every reporting school's
# facts every round was ~40% of a steady round's CPU at 5,000 schools. A
# school's first summary and a verdict's change of status are written at once.
LAST_EVERY_NS = 15 * 60 * 10**9
LOOKBACK_NS = 25 * 3600 * 10**9  # the dashboards' verdict lookback: how old a summary may be
# Schools whose summaries are made and written at a time. A summary's line is
# ~1 KB, twenty times a verdict's, so the writer's WRITE_BATCH of them was a
# 13.6 MB step on top of all the state kept (10,000 schools, tracemalloc), one
# of the two that made a round's peak; 1,000 lines are a 1 MB write.
BATCH = 1000


def basis(cfg: Indicators) -> list[float]:
    return [float(cfg.window), float(cfg.period_days), float(cfg.classroom_mbps)]


def usable(windows: Windows, cfg: Indicators) -> str:
    """Why the windows cannot give the report's facts for ``cfg`` ("" if they can)."""
    tests = next(k.give for k in windows.kinds if k.name == "tests") // 3
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


def facts(windows: Windows, sid: str, now_ns: int, cfg: Indicators) -> dict[str, Any]:
    """A school's report facts from its window at ``now_ns``, by collector.report.facts's
    rules over the readings of the period before it. The caller holds the windows' lock."""
    out: dict[str, Any] = {}
    if sid not in windows.schools:
        return out
    since, n = now_ns - windows.age_ns, cfg.window
    # What the report's queries read of each kind (None: every entry kept; 0: not read).
    want = {"tests": n * 3, "links": 1, "ports": n, "areas": None, "ipv6": None, "runs": 1,
            "seen": 1}
    runs, ports = windows.newest(sid, since, [want.get(kind.name, 0) for kind in windows.kinds])
    newest = {kind.name: runs[i] for i, kind in enumerate(windows.kinds)}
    last: list[int] = []
    tests = newest["tests"].get("", [])
    if tests:
        last.append(tests[0][0])
        values = [t[2] for t in tests]  # (download_bps, result)
        good = [bps / 1e6 for bps, result in values if result == "ok" and bps is not None][:n]
        out["exit_inconclusive"] = sum(result == "inconclusive" for _, result in values[:n])
        if good:
            out["exit_median"] = statistics.median(good)
            out["exit_newest"] = good[0]
        out["exit_tests"] = len(good)
    links = newest["links"].get("", [])
    if links:
        last.append(links[0][0])
        out["port_mbps"] = float(links[0][2][0])
    if ports:
        last.append(max(newest_ns for newest_ns, _ in ports.values()))
        # The report's rule is the judging rule's median over each room's newest polls
        # (an implausible speed neither passes nor fails the room).
        out["rooms_meeting"] = rooms((polls for _, polls in ports.values()),
                                     cfg.classroom_mbps, Rule("median", n, 0))[0]
        out["rooms_seen"] = len(ports)
    areas: dict[str, list[int]] = {}
    for entries in newest["areas"].values():
        done: set[str] = set()
        for ts, key, (covered, required) in entries:
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
    for ts, _, (level,) in newest["ipv6"].get("", []):
        if level is not None and level >= 0:
            last.append(ts)
            out["ipv6_level"] = int(level)
            break
    probes = list(newest["runs"])
    if probes:
        out["probes"] = ",".join(sorted(probes))
    ran = newest["seen"].get("", [])
    if ran:
        last.append(ran[0][0])
    if last:
        out["last_ns"] = max(last)
    return out


def _as_stored(value: float) -> float | int:
    # What a float field reads back as from InfluxDB's JSON (Go prints 2.0 as 2),
    # so a verdict's figure prints the same from a summary as from a compliance point.
    return int(value) if value.is_integer() and abs(value) < 1e21 else value


def verdict_facts(verdicts: Iterable[Verdict]) -> dict[str, list[Any]]:
    """The round's verdicts as the report reads stored ones: status, value, threshold,
    detail, as compliance points hold them."""
    return {v.target: [v.status, None if v.value is None else _as_stored(float(v.value)),
                       _as_stored(float(v.threshold)), v.detail[:250]]
            for v in verdicts if v.target in SUMMARY_TARGETS}


_ENCODER = msgspec.json.Encoder(order="sorted")


def stable(cfg: Indicators, fields: dict[str, Any], verdicts: Iterable[Verdict]) -> str:
    """A summary's text but its newest reading's time (JSON, keys sorted)."""
    # msgspec, not json.dumps: ~5x faster, and a province's round makes one a school.
    return _ENCODER.encode({"basis": basis(cfg), **fields,
                            "verdicts": verdict_facts(verdicts)}).decode()


def point(school: School, text: str, last_ns: int | None, now_ns: int) -> Reading:
    # One string field: influxd reads a series' newest point field by field, and
    # one field costs it about 0.4x the CPU of thirty (5,000 schools, bench_report).
    if last_ns is not None:
        text = f'{{"last_ns":{last_ns},{text[1:]}'
    return Reading(MEASUREMENT, {"facts": text}, school.identity.region_tags(), now_ns)


def summary_point(school: School, cfg: Indicators, fields: dict[str, Any],
                  verdicts: Iterable[Verdict], now_ns: int) -> Reading:
    """A school's summary point from its facts (as :func:`facts` gives them) and verdicts."""
    rest = dict(fields)
    last = rest.pop("last_ns", None)
    return point(school, stable(cfg, rest, verdicts), last, now_ns)


class Summaries:
    """The summaries written, to write only the changed and the due ones."""

    def __init__(self, cfg: Indicators) -> None:
        self.cfg = cfg
        # school -> (hash of its summary but the newest reading's time, that time, when
        # written (a first summary's a share of LAST_EVERY_NS earlier), what ``keep``
        # made of the point written). A hash, not the text (~0.5 KB a school, kept
        # between rounds): a summary re-stated unchanged is computed again from the
        # same window.
        self.written: dict[str, tuple[int, int | None, int, object]] = {}
        # Given a school and the facts text of the point written for it, what to keep
        # with it (collector.report.stored_rollup: the school's indicator marks); asked
        # again only when more than the newest reading's time changed, on which it may
        # depend only through whether there is one.
        self.keep: Callable[[School, str], object] | None = None
        # When each is re-stated unchanged: as verdicts, 9-12 h, spread by school.
        self.restate = Restatements()
        self.off = ""  # why none are written, logged once
        self.lagging: set[str] = set()  # schools whose newer readings wait LAST_EVERY_NS

    def due(self, judge: WindowJudge, schools: Sequence[School], now_ns: int
            ) -> Iterator[list[str]]:
        """The lines this round writes, a batch of schools at a time; counted as written.
        Made batch by batch, each with the windows' lock held, as the caller writes
        the one before: a province's 50,000 lines (~1 KB each) are never held at
        once, and the stream is not kept waiting on the writes."""
        fresh, moved, written = judge.fresh, judge.moved, self.written
        need = set()
        for school in schools:
            sid = school.school_id
            old = written.get(sid)
            if old is None or sid in moved:
                need.add(sid)
            elif sid in fresh or sid in self.lagging:
                if now_ns - old[2] >= LAST_EVERY_NS:
                    need.add(sid)
                else:  # computed once LAST_EVERY_NS has passed
                    self.lagging.add(sid)
        # Unchanged but due for re-statement: a school's window and verdicts change
        # only with new readings, ageing or its registry entry, each of which judges
        # it afresh (judge.fresh), so its summary computes to the text last written.
        restating = {s.school_id for s in schools if s.school_id not in need
                     and (old := self.written.get(s.school_id)) is not None
                     and self.restate.due(s.school_id, old[0], now_ns)}
        for at in range(0, len(schools), BATCH):
            out = []
            with judge.windows.lock:
                for school in schools[at:at + BATCH]:
                    sid = school.school_id
                    old = self.written.get(sid)
                    if sid not in need and sid not in restating:
                        continue
                    fields = facts(judge.windows, sid, now_ns, self.cfg)
                    last = fields.pop("last_ns", None)
                    # The round's verdicts as the judge holds them, school by school:
                    # gathered into a list a school first, they were part of the
                    # 31 MB the summaries' step peaked at, at 50,000 schools.
                    text = stable(self.cfg, fields, [v for v in judge.verdicts_of(sid)
                                                     if v.target in SUMMARY_TARGETS])
                    content = hash(text)
                    self.lagging.discard(sid)
                    if (sid in need and old is not None and old[1] == last
                            and not self.restate.due(sid, content, now_ns)):
                        continue
                    made = point(school, text, last, now_ns)
                    out.append(line(made))
                    if old is not None and old[0] == content and (old[1] is None) == (
                            last is None):
                        kept = old[3]  # only the newest reading's time moved (most rounds)
                    else:
                        kept = None if self.keep is None else self.keep(
                            school, str(made.fields["facts"]))
                    # A first summary counts as written a share of LAST_EVERY_NS of its
                    # own earlier: the schools a start writes in one round then come up
                    # again over the following rounds, not all in one.
                    self.written[sid] = (content, last, now_ns if old is not None
                                         else now_ns - spread(sid, LAST_EVERY_NS), kept)
                    self.restate.wrote(sid, content, now_ns)
            if out:
                yield out
        registered = {s.school_id for s in schools}
        for sid in [sid for sid in self.written if sid not in registered]:
            del self.written[sid]
        self.restate.forget(registered)
        self.lagging &= registered

    def record(self, judge: WindowJudge | QueryJudge, schools: Sequence[School], now_ns: int,
               writer: Writer | None) -> bool:
        """One round's summaries (no writer: a dry run, which writes nothing); whether
        they are written. Only a judge fed from the stream keeps every school's window
        between rounds."""
        if writer is None:
            return False
        if not isinstance(judge, WindowJudge) or not judge.streamed:
            off = "the judge reads the database each round (no stream-fed windows)"
        else:
            off = usable(judge.windows, self.cfg)
        if off or not isinstance(judge, WindowJudge):
            if off != self.off:
                log.info("school summaries not written: %s; reports read raw readings", off)
            self.off = off
            return False
        self.off = ""
        written = 0
        for lines in self.due(judge, schools, now_ns):
            writer.write(lines)
            written += len(lines)
        log.info("school summaries: %d of %d schools written", written, len(schools))
        return True


class Stored(msgspec.Struct):
    """A stored summary (its ``facts`` field) as the report reads it: the indicator
    settings it was computed with (``basis``), the facts, and per target the verdict's
    status, value, threshold and detail. Missing keys read as :func:`facts` leaves them."""

    basis: list[float]
    last_ns: int | None = None
    probes: str = ""
    exit_median: float | None = None
    exit_newest: float | None = None
    exit_tests: int = 0
    exit_inconclusive: int = 0
    port_mbps: float | None = None
    rooms_meeting: int = 0
    rooms_seen: int = 0
    wifi_teaching_covered: int = 0
    wifi_teaching_required: int | None = None
    wifi_office_covered: int = 0
    wifi_office_required: int | None = None
    wifi_activity_covered: int = 0
    wifi_activity_required: int | None = None
    ipv6_level: int | None = None
    # Numbers as stored (an int stays an int), as a compliance point's read back.
    verdicts: dict[str, tuple[str, int | float | None, int | float | None, str]] = {}

    def wifi(self) -> dict[str, tuple[int, int]]:
        """Per area kind with any required area: (covered, required)."""
        # By AREA_KINDS, so a kind added there without its two fields here fails at once.
        out = {}
        for kind in AREA_KINDS:
            required = getattr(self, f"wifi_{kind}_required")
            if required is not None:
                out[kind] = (getattr(self, f"wifi_{kind}_covered"), required)
        return out


# A typed decode: at 50,000 schools, json.loads and building a dict from each
# summary were a third of a report's time.
_STORED = msgspec.json.Decoder(Stored)


def read(text: str) -> Stored | None:
    """A stored summary, or None if it is not one this collector writes."""
    try:
        return _STORED.decode(text)
    except msgspec.DecodeError:
        return None
