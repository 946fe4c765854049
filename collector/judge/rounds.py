"""Two ways to get a round's verdicts and health, with the same rules.

``QueryJudge`` asks the database for every school's window each round (cost
grows with schools and with the history the database scans). ``WindowJudge``
keeps the windows (collector.judge.state) from the stream of stored readings
and re-judges only the schools whose evidence changed or whose readings age
out or go silent; the others keep last round's verdicts.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from agent.contract.wire import Envelope, Status
from collector.errors import Unavailable
from collector.judge import quality
from collector.judge.classminutes import ClassMinutes
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.rules import Health, Rules, Verdict, health, health_from, verdicts
from collector.judge.state import Windows
from collector.judge.targets import Targets

log = logging.getLogger(__name__)
# 2: packed windows (state.Pack); 3: their times in a table per school; 4: class minutes;
# 5: bandwidth figures flat in the Pack, apart from the shared value sets;
# 6: class minutes in one array a school
STATE_VERSION = 6
NEVER = 1 << 80  # a deadline no clock reaches
REBUILD_CHUNK = 500  # schools per rebuild query (whole counties): bounds each answer
RECOUNT_RETRY_SECONDS = 30.0  # the database unreachable while counting class minutes
# How long a round waits for class minutes being counted: a county's are counted
# within it, and its first round has every verdict; a province's take hours.
COUNT_WAIT_SECONDS = 60.0
JUDGE_CHUNK = 500  # schools judged at once


def county_chunks(schools: Sequence[School]) -> Iterator[list[School]]:
    """Schools in chunks of whole counties, each of about REBUILD_CHUNK schools or
    one county: what one rebuild query asks for and one judging pass holds."""
    by_county: dict[str, list[School]] = {}
    for school in schools:
        by_county.setdefault(school.county, []).append(school)
    chunk: list[School] = []
    for county in sorted(by_county):
        if chunk and len(chunk) + len(by_county[county]) > REBUILD_CHUNK:
            yield chunk
            chunk = []
        chunk += by_county[county]
    if chunk:
        yield chunk


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def in_counties(chunk: Sequence[School]) -> str:
    """An InfluxQL condition selecting these schools' counties."""
    # One tag equality per county: influxd finds those series in its index,
    # where 500 OR'ed school ids were tested against every series (the rebuild
    # took 2.4x today's round that way, 1.7x this way).
    return " OR ".join(f"\"county\" = '{_quote(c)}'" for c in sorted({s.county for s in chunk}))


def quality_from_database(reader: InfluxQLReader, targets: dict[str, Targets],
                          schools: list[School], now_ns: int) -> list[Verdict]:
    """Path-quality verdicts with the class minutes counted by the database, a
    chunk of whole counties at a time."""
    out: list[Verdict] = []
    for chunk in county_chunks(schools):
        minutes = ClassMinutes(targets)
        minutes.rebuild(reader, chunk, in_counties(chunk), now_ns)
        out += quality.evaluate(minutes, chunk, targets, now_ns)
    order = {s.school_id: i for i, s in enumerate(schools)}
    return sorted(out, key=lambda v: order[v.school.school_id])


class QueryJudge:
    """Every school's window read from the database, every round."""

    def __init__(self, reader: InfluxQLReader, targets: dict[str, Targets]) -> None:
        self.reader, self.targets = reader, targets

    def judge(self, schools: list[School], now_ns: int
              ) -> tuple[list[Verdict], dict[str, Health]]:
        return (Rules(self.reader, self.targets).evaluate(schools),
                health(self.reader, schools, self.targets, now_ns))

    def quality(self, schools: list[School], now_ns: int) -> list[Verdict]:
        return quality_from_database(self.reader, self.targets, schools, now_ns)

    uncounted: frozenset[str] = frozenset()  # the database counts every time


class WindowJudge:
    """Windows kept from the stream; rebuilt with bounded queries when missing."""

    def __init__(self, reader: InfluxQLReader, targets: dict[str, Targets],
                 state_file: str = "", streamed: bool = True) -> None:
        self.reader, self.targets = reader, targets
        self.windows = Windows(targets)
        # Path quality's class minutes, fed with the windows, under their lock.
        self.minutes = ClassMinutes(targets)
        self.oldest_day: int | None = None  # class minutes older than this are not counted
        # Schools whose class minutes are still being counted by the database (after
        # a start without saved counts): a week of minutes takes InfluxDB ~0.14 s a
        # school (bench_class_minutes), hours for a province, so a thread counts them
        # while rounds go on, and their path-quality verdicts wait.
        self.uncounted: set[str] = set()
        self._counter: threading.Thread | None = None
        self.stopping = threading.Event()  # set at a clean stop: the counting ends
        self.state_file = state_file
        self.ready = self._load()
        self.cache: dict[str, tuple[School, list[Verdict], Health, int]] = {}
        self.rebuild_seconds = 0.0
        self.judged = 0  # schools judged afresh in the last round
        self.fresh: set[str] = set()  # and which (their summaries are computed again)
        # Of those, the schools new to the judge or whose registry entry or any
        # verdict's status changed (their summaries are written at once).
        self.moved: set[str] = set()
        # Without the stream (a one-off command, or one of several instances that
        # each see a share of the readings) every round starts from the database.
        self.streamed = streamed
        self.damaged = False  # the windows missed readings: start again from the database

    # -- the stream ---------------------------------------------------------
    def feed(self, items: Sequence[tuple[Envelope | Status, int]]) -> None:
        """Points the database confirmed stored (the pipeline's callback)."""
        wanted = self.windows.measurements()
        try:
            with self.windows.lock:
                for item, received_ns in items:
                    # Region tags are one school's in every key compared: the
                    # reading's own tags are all the windows need.
                    if isinstance(item, Status):
                        self.windows.add(item.identity.school_id, "agent_status", {},
                                         {"state": item.state}, received_ns)
                    elif item.reading.measurement in wanted:
                        reading = item.reading
                        self.windows.add(item.identity.school_id, reading.measurement,
                                         reading.tags, reading.fields, reading.ts_ns)
                    elif item.reading.measurement == "path_quality":
                        reading = item.reading
                        self.minutes.add(item.identity.school_id, reading.tags,
                                         reading.fields, reading.ts_ns, self.oldest_day)
        except Exception:  # a bug here must not stop storing: judge from the database
            log.exception("judging windows could not take stored readings; they are "
                          "rebuilt from the database at the next round")
            self.damaged = True

    # -- rebuilding from the database ---------------------------------------
    def rebuild(self, schools: Sequence[School]) -> None:
        """Merge every school's newest rows from the database into the windows, a
        chunk of whole counties per query; the stream may feed meanwhile (entries merge)."""
        start = time.monotonic()
        age = self.windows.age_ns // 10**9
        for chunk in county_chunks(schools):
            ids = {s.school_id for s in chunk}
            counties = in_counties(chunk)
            for index, kind in enumerate(self.windows.kinds):
                select = ", ".join(f'"{c}"' for c in (*kind.fields, *kind.tags))
                where = f"time > now() - {age}s AND ({counties})"
                if kind.positive:
                    where += f' AND "{kind.positive}" > 0'
                group = "school" + (f", {kind.group}" if kind.group else "")
                rows = self.reader.rows(f'SELECT {select} FROM "{kind.measurement}" WHERE '
                                        f"{where} GROUP BY {group} ORDER BY time DESC "
                                        f"LIMIT {kind.keep}")
                with self.windows.lock:
                    for row in rows:
                        # A county code may repeat under another city; unregistered
                        # schools' readings are not judged.
                        if row["school"] in ids:
                            self.windows.add_row(index, row)
        self.rebuild_seconds = time.monotonic() - start
        log.debug("judging windows of %d schools rebuilt from the database in %.1f s",
                  len(schools), self.rebuild_seconds)

    # -- a round ------------------------------------------------------------
    def judge(self, schools: list[School], now_ns: int
              ) -> tuple[list[Verdict], dict[str, Health]]:
        self.moved = set()
        if not self.streamed:
            # Nothing to keep between rounds: a chunk of schools' windows at a
            # time, so memory is bounded by the chunk, not the province.
            self.cache = {}
            for chunk in county_chunks(schools):
                self.windows = Windows(self.targets)
                self.rebuild(chunk)
                self._judge(chunk, now_ns)
            self.judged = len(schools)
            self.fresh = {s.school_id for s in schools}
            return self._round(schools)
        if self.damaged:
            self.windows, self.cache, self.ready = Windows(self.targets), {}, False
            self.damaged = False
        if not self.ready:
            self.rebuild(schools)
            log.info("judging windows of %d schools rebuilt from the database in %.1f s",
                     len(schools), self.rebuild_seconds)
            self.ready = True
            self.uncounted = {s.school_id for s in schools}
        if self.uncounted and (self._counter is None or not self._counter.is_alive()):
            self._counter = threading.Thread(target=self._count, args=(schools,),
                                             name="count-class-minutes", daemon=True)
            self._counter.start()
            self._counter.join(COUNT_WAIT_SECONDS)
        changed = self.windows.take_changed()
        due = []
        for school in schools:
            cached = self.cache.get(school.school_id)
            if (cached is None or cached[0] != school or school.school_id in changed
                    or cached[3] <= now_ns):
                due.append(school)
        self._judge(due, now_ns)
        registered = {s.school_id for s in schools}
        for sid in [sid for sid in self.cache if sid not in registered]:
            del self.cache[sid]
        forgotten = self.windows.forget(registered)
        if forgotten:
            log.info("judging windows: forgot %d schools no longer registered", forgotten)
        oldest = self.minutes.oldest_day(now_ns)
        if oldest != self.oldest_day or any(s not in registered for s in self.minutes.rows):
            with self.windows.lock:
                self.minutes.prune(now_ns, registered)
            self.oldest_day = oldest
        self.judged = len(due)
        self.fresh = {s.school_id for s in due}
        return self._round(schools)

    def verdicts_of(self, sid: str) -> list[Verdict]:
        """The school's verdicts of the last round (none if it was not judged)."""
        cached = self.cache.get(sid)
        return cached[1] if cached is not None else []

    def quality(self, schools: list[School], now_ns: int) -> list[Verdict]:
        """Path-quality verdicts from the class minutes counted from the stream; none
        yet for schools whose minutes the database is still counting."""
        if not self.streamed:
            return quality_from_database(self.reader, self.targets, schools, now_ns)
        waiting = self.uncounted
        if waiting:
            log.info("path-quality verdicts of %d schools wait for their class minutes, "
                     "being counted by the database", len(waiting))
            schools = [s for s in schools if s.school_id not in waiting]
        out: list[Verdict] = []
        for at in range(0, len(schools), JUDGE_CHUNK):
            with self.windows.lock:  # the stream adds rows meanwhile
                out += quality.evaluate(self.minutes, schools[at:at + JUDGE_CHUNK],
                                        self.targets, now_ns)
        return out

    def _count(self, schools: list[School]) -> None:
        """Count the uncounted schools' class minutes with the database, a chunk of
        whole counties at a time (the counting thread)."""
        start = time.monotonic()
        for chunk in county_chunks(schools):
            ids = {s.school_id for s in chunk} & self.uncounted
            while ids and not self._count_chunk([s for s in chunk if s.school_id in ids]):
                if self.stopping.wait(RECOUNT_RETRY_SECONDS):
                    return
        log.info("class minutes of %d schools counted by the database in %.1f s",
                 len(schools), time.monotonic() - start)

    def _count_chunk(self, chunk: list[School]) -> bool:
        """Count these schools' class minutes with the database; False if it failed."""
        ids = {s.school_id for s in chunk}
        # Counts are not idempotent: the chunk's are the database's plus what the
        # stream stores from here on (a reading stored before the queries read it but
        # handed over after this line counts twice).
        with self.windows.lock:
            self.minutes.forget(ids)
        counted = ClassMinutes(self.targets, self.minutes.offset_s)
        try:
            counted.rebuild(self.reader, chunk, in_counties(chunk), time.time_ns())
        except Unavailable as err:
            log.warning("counting class minutes with the database failed (%s); trying "
                        "again in %.0f s", err, RECOUNT_RETRY_SECONDS)
            return False
        with self.windows.lock:
            self.minutes.merge(counted)
            self.uncounted = self.uncounted - ids
        return True

    def _judge(self, due: list[School], now_ns: int) -> None:
        # A chunk at a time: the rows handed to the rules are the round's peak memory.
        for at in range(0, len(due), JUDGE_CHUNK):
            chunk = due[at:at + JUDGE_CHUNK]
            ev, seen, status, runs = self.windows.evidence([s.school_id for s in chunk], now_ns)
            fresh = verdicts(chunk, self.targets, ev)
            states = health_from(chunk, self.targets, now_ns, seen, status, runs)
            per_school = len(fresh) // len(chunk)
            for i, school in enumerate(chunk):
                sid = school.school_id
                mine = fresh[i * per_school:(i + 1) * per_school]
                old = self.cache.get(sid)
                if (old is None or old[0] != school
                        or [v.status for v in old[1]] != [v.status for v in mine]):
                    self.moved.add(sid)
                self.cache[sid] = (school, mine, states[sid],
                                   self._deadline(school, states[sid], now_ns))

    def _round(self, schools: list[School]) -> tuple[list[Verdict], dict[str, Health]]:
        out: list[Verdict] = []
        for school in schools:
            out += self.cache[school.school_id][1]
        return out, {s.school_id: self.cache[s.school_id][2] for s in schools}

    def _deadline(self, school: School, state: Health, now_ns: int) -> int:
        """When this school's verdicts can change with no new reading (whole
        nanoseconds: a float is ~256 ns coarse at today's epoch)."""
        ages_out = self.windows.deadline(school.school_id, now_ns)
        times = [ages_out] if ages_out is not None else []
        if state.last_seen_ns is not None and not state.silent:
            silent_ns = self.targets[school.school_type].silent_after_minutes * 60e9
            times.append(state.last_seen_ns + int(silent_ns) + 1)
        return min(times, default=NEVER)

    # -- persistence --------------------------------------------------------
    def _shape(self) -> tuple[Any, ...]:
        return (STATE_VERSION, self.windows.kinds, self.windows.age_ns, self.minutes.shape())

    def save(self) -> None:
        """At a clean stop: the windows as they stand, to resume from."""
        self.stopping.set()
        if not self.state_file or not self.ready:
            return
        path = Path(self.state_file)
        tmp = path.with_name(path.name + ".tmp")
        with self.windows.lock, open(tmp, "wb") as out:
            minutes = (self.minutes.state(), self.uncounted)
            pickle.dump((self._shape(), self.windows.schools, minutes), out,
                        pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        log.info("judging windows of %d schools saved to %s", len(self.windows.schools), path)

    def _load(self) -> bool:
        """Resume from a clean stop's windows. The file is removed once read: after
        a crash there is none, as readings stored since may be missing from it."""
        if not self.state_file or not os.path.exists(self.state_file):
            return False
        try:
            with open(self.state_file, "rb") as src:
                # Written by this process alone, in a directory only it may write.
                saved = pickle.load(src)
            os.unlink(self.state_file)
        except Exception as err:  # a damaged file of any kind: the database has it all
            log.warning("judging windows in %s unreadable (%s): rebuilding them from the "
                        "database", self.state_file, err)
            return False
        if not isinstance(saved, tuple) or saved[0] != self._shape():
            log.info("judging windows in %s were kept for other targets or by another "
                     "version of the collector: rebuilding them", self.state_file)
            return False
        _, schools, minutes = saved
        self.windows.schools = schools
        self.windows.changed = set(schools)
        counts, self.uncounted = minutes
        self.minutes.resume(counts)
        log.info("judging windows of %d schools resumed from %s", len(schools),
                 self.state_file)
        return True
