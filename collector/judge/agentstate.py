"""Each school's agent state (online, offline, never connected) and spool backlog, re-stated
by the collector.

``agent_status`` holds only changes (an agent's birth message or last will), so
"which agents are offline now" needs every school's newest change however old:
a query without a lower time bound, whose cost grows with schools and history
(seconds at a few thousand schools), and an agent offline for longer than the
raw readings' retention would vanish from it. At every judging round the
collector therefore writes, per school, ``agent_state`` (its state, since when,
its agent's version) whenever it changed or was last written more than
``RESTATE`` ago, so its newest point is never older than the verdicts'
lookback (25 h); and per region ``agent_rollup``, the counts of schools online,
offline and never connected, and per probe the schools whose probe keeps
failing (``failing_<probe>``, as the judge's health has it), which the
dashboards sum above a county.

Backlogs: a school whose newest heartbeat (``agent``) shows ``BACKLOG`` or more
readings in its spool is not getting its readings through (its link, the
broker, or the collector's receipts). ``agent_state`` carries that depth
(``backlog``, 0 below ``BACKLOG``) and since when (``backlog_since``: the first
heartbeat of the run in which the collector first saw it), and ``agent_rollup`` per region
the schools with one (``backlogged``) and their unsent readings (``unsent``):
the dashboards then read one series per school or county, not every heartbeat.
A backlog holds until a heartbeat shows it gone, so an agent gone offline keeps
the one it last reported.

Attention: a province's centre needs the agents that need attention (offline,
never connected, or with a backlog), not 50,000 online rows, and a per-school
table over ``agent_state`` reads every school's series (2.6-2.9 s of CPU at 50,000
schools). ``agent_attention`` therefore holds the same fields (and
``attention = true``) only for those schools: written with their
``agent_state`` (on every change and re-statement), and once more when a school
leaves (``attention = false``, online, no backlog) so that the newest point per
school within the lookback says it is gone. A dashboard reading it touches only
the schools that needed attention within the lookback. The collector keeps
only the set of those schools' ids; a restarted one takes it from the newest
``agent_attention`` points within the lookback, so a school that recovered
while it was stopped gets its closing point at the first round.

The states come from ``agent_status`` itself: at start, from the newest
re-statements (bounded) and, only for schools without one, their newest change
(unbounded, a chunk of counties per query, once); then at each round only the
changes stored since the previous round. The backlogs come from the heartbeats
stored since they were last read (with the same overlap; at most every
``BEATS_EVERY_S``, as a backlog builds over far longer): one query over every
school that returns only those whose newest heartbeat shows a backlog, then the
heartbeats of the few whose backlog began or may have ended, a chunk of schools
per query.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from agent.contract.probes import PROBE_NAMES
from agent.contract.reading import FieldValue, Reading
from collector.ingest.lineproto import line
from collector.ingest.writer import WRITE_BATCH, Writer
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.restate import RESTATE_NS
from collector.judge.rollups import Region
from collector.judge.rules import Health

log = logging.getLogger(__name__)

MEASUREMENT = "agent_state"
ATTENTION = "agent_attention"
ROLLUP = "agent_rollup"
STATES = ("online", "offline", "never")
PROBES = tuple(sorted(PROBE_NAMES))
# Changes are stamped on arrival and stored a batch later (or after a database
# outage, much later): each round re-reads this much before the previous one.
OVERLAP_S = 3600
STATE_LOOKBACK_S = 25 * 3600
COUNTY_CHUNK = 20  # counties per query when reading the newest changes without a bound
SCHOOL_CHUNK = 100  # schools per query when reading whose backlog began or ended
# Unsent readings at which a school counts as not getting its readings through.
# Below it is what a school in step holds between a poll and the collector's
# receipts (a large school's classroom poll is ~200 readings); a small school
# (10-15 readings a minute) reaches it within an hour without receipts.
BACKLOG = 500
# Heartbeats are read at most this often: the query touches every school's
# heartbeats (4.4 s of influxd's CPU at 50,000 schools), and a backlog takes far
# longer than this to build, so shorter rounds would only repeat it.
BEATS_EVERY_S = 900


@dataclass(frozen=True)
class State:
    state: str          # one of STATES
    since_ns: int = 0   # when the agent's status changed to it (0: never connected)
    version: str = ""


NEVER = State("never")


@dataclass(frozen=True)
class Backlog:
    depth: int = 0     # unsent readings of the newest heartbeat (0: below BACKLOG)
    # The first heartbeat of the run the collector first saw it in (within the
    # round's window of heartbeats).
    since_ns: int = 0


CLEAR = Backlog()


def fields(state: str, since_ns: int, version: str = "", backlog: Backlog = CLEAR
           ) -> dict[str, FieldValue]:
    out: dict[str, FieldValue] = {"state": state, "online": state == "online",
                                  "backlog": backlog.depth}
    if since_ns:
        # Epoch milliseconds: what Grafana shows as a date.
        out["since"] = since_ns // 1_000_000
    if version:
        out["agent_version"] = version[:32]
    if backlog.depth:
        out["backlog_since"] = backlog.since_ns // 1_000_000
    return out


def needs_attention(state: str, backlog: Backlog) -> bool:
    """Offline, never connected, or with a backlog."""
    return state != "online" or backlog.depth > 0


def attention_due(needs: bool, restated: bool, attending: bool) -> bool | None:
    """The ``attention`` field of a school's ``agent_attention`` point this round (None:
    no point), from whether it needs attention, whether its ``agent_state`` is written
    this round, and whether its newest ``agent_attention`` point says attention."""
    if needs and (restated or not attending):
        # A change or re-statement; or entering without a change this round (a
        # database from before this measurement, or a lost point, at a start).
        return True
    if not needs and attending:
        return False  # the closing point, which the dashboards' newest-per-school drops
    return None


def tally(rows: Iterable[tuple[str, str, str, str]],
          failing: Iterable[tuple[str, str, str, frozenset[str]]] = (),
          backlogs: Iterable[tuple[str, str, str, int]] = ()
          ) -> dict[Region, dict[str, int]]:
    """Schools per state and region from (province, city, county, state) rows, per
    failing probe from (province, city, county, failing probes) rows, and schools with
    a backlog and their unsent readings from (province, city, county, depth) rows."""
    per_county: Counter[tuple[str, str, str, str]] = Counter(rows)
    for province, city, county, probes in failing:
        per_county.update((province, city, county, f"failing_{p}") for p in probes
                          if p in PROBE_NAMES)
    for province, city, county, depth in backlogs:
        if depth:
            per_county[(province, city, county, "backlogged")] += 1
            per_county[(province, city, county, "unsent")] += depth
    out: dict[Region, dict[str, int]] = {}
    for (province, city, county, key), n in per_county.items():
        for region in (Region("province", province), Region("city", province, city),
                       Region("county", province, city, county)):
            counts = out.setdefault(region, dict.fromkeys(
                (*STATES, *(f"failing_{p}" for p in PROBES), "backlogged", "unsent"), 0))
            counts[key] += n
    return out


def rollup_readings(counted: Mapping[Region, Mapping[str, int]], now_ns: int) -> list[Reading]:
    return [Reading(ROLLUP, {"schools": sum(counts[st] for st in STATES), **counts},
                    region.tags(), now_ns)
            for region, counts in sorted(counted.items())]


def _depth(row: Mapping[str, object]) -> int | None:
    depth = row.get("depth")
    if isinstance(depth, bool) or not isinstance(depth, int | float):
        return None
    return int(depth)


def _done(reading: Reading) -> tuple[str, bool | None]:
    """What a written point tells: its school, and its attention (None: agent_state)."""
    attention = reading.fields.get("attention") if reading.measurement == ATTENTION else None
    return reading.tags["school"], None if attention is None else bool(attention)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


class AgentStates:
    """Every registered school's agent state, kept between rounds."""

    def __init__(self, reader: InfluxQLReader) -> None:
        self.reader = reader
        self.known: dict[str, State] = {}
        self.backlogs: dict[str, Backlog] = {}  # only schools with one
        # What agent_state holds, and when it was written.
        self.written: dict[str, tuple[State, Backlog, int]] = {}
        # Schools whose newest agent_attention point says attention.
        self.attention: set[str] = set()
        self.checked_ns: int | None = None  # changes up to here are in ``known``
        self.beats_ns = 0  # heartbeats up to here are in ``backlogs``
        self.beats_every_ns = BEATS_EVERY_S * 10**9

    def _take(self, sid: str, state: State) -> None:
        old = self.known.get(sid)
        if old is None or state.since_ns >= old.since_ns:
            self.known[sid] = state

    def _changes(self, where: str) -> None:
        for row in self.reader.rows(
                f'SELECT last("state") AS "state", "agent_version" FROM "agent_status" '
                f"WHERE {where} GROUP BY school"):
            if row.get("state") in ("online", "offline"):
                # Milliseconds, as agent_state keeps them: a re-read change must
                # compare equal to its re-statement.
                since = int(row["time"]) // 1_000_000 * 1_000_000
                self._take(row["school"], State(row["state"], since,
                                                str(row.get("agent_version") or "")))

    def _heartbeats(self, where: str, registered: set[str]) -> None:
        """Each school's backlog from its newest heartbeat stored within ``where``.

        One query over every school returns only those whose newest heartbeat shows
        a backlog (influxd picks them: every school's newest heartbeat would be a
        series per school to send and decode, every round). Only the schools whose
        backlog began or may have ended are then read in full: for since when, or
        whether an agent that shows none any more sent a heartbeat at all.
        """
        newest: dict[str, int] = {}
        for row in self.reader.rows(
                f'SELECT "depth" FROM (SELECT last("spool_depth") AS "depth" FROM "agent" '
                f'WHERE {where} GROUP BY school) WHERE "depth" >= {BACKLOG} GROUP BY school'):
            depth = _depth(row)
            if depth is not None and row["school"] in registered:
                newest[row["school"]] = depth
        for sid, depth in newest.items():
            old = self.backlogs.get(sid)
            if old is not None:
                # Rounds are the resolution: one that cleared and came back between
                # two rounds goes on as one.
                self.backlogs[sid] = Backlog(depth, old.since_ns)
        changed = sorted({sid for sid in newest if sid not in self.backlogs}
                         | {sid for sid in self.backlogs if sid not in newest})
        for at in range(0, len(changed), SCHOOL_CHUNK):
            which = " OR ".join(f"\"school\" = '{_quote(sid)}'"
                                for sid in changed[at:at + SCHOOL_CHUNK])
            beats: dict[str, list[tuple[int, int]]] = {}
            for row in self.reader.rows(f'SELECT "spool_depth" AS "depth" FROM "agent" '
                                        f"WHERE {where} AND ({which}) GROUP BY school"):
                depth = _depth(row)
                if depth is not None:
                    beats.setdefault(row["school"], []).append((int(row["time"]), depth))
            for sid, seen in beats.items():
                self._take_backlog(sid, seen)

    def _take_backlog(self, sid: str, beats: list[tuple[int, int]]) -> None:
        """A school's backlog from its heartbeats of the window, oldest first."""
        newest = beats[-1][1]
        if newest < BACKLOG:
            self.backlogs.pop(sid, None)
            return
        run = len(beats)  # where the unbroken run of heartbeats at or above it begins
        while run and beats[run - 1][1] >= BACKLOG:
            run -= 1
        self.backlogs[sid] = Backlog(newest, beats[run][0] // 1_000_000 * 1_000_000)

    def _start(self, schools: Sequence[School], now_ns: int) -> None:
        for row in self.reader.rows(
                f'SELECT last("state") AS "state", "since", "agent_version", "backlog", '
                f'"backlog_since" FROM "{MEASUREMENT}" '
                f"WHERE time > {now_ns - STATE_LOOKBACK_S * 10**9} GROUP BY school"):
            if row.get("state") in STATES:
                since = int(row["since"]) * 1_000_000 if row.get("since") is not None else 0
                state = State(row["state"], since, str(row.get("agent_version") or ""))
                self._take(row["school"], state)
                backlog = CLEAR
                if row.get("backlog") and row.get("backlog_since") is not None:
                    backlog = Backlog(int(row["backlog"]), int(row["backlog_since"]) * 1_000_000)
                    self.backlogs[row["school"]] = backlog
                self.written[row["school"]] = (state, backlog, int(row["time"]))
        # Within the same lookback as the dashboards: a school whose newest point is
        # older is not shown as needing attention, so it needs no closing point.
        for row in self.reader.rows(
                f'SELECT last("attention") AS "attention" FROM "{ATTENTION}" '
                f"WHERE time > {now_ns - STATE_LOOKBACK_S * 10**9} GROUP BY school"):
            if row.get("attention") is True:
                self.attention.add(row["school"])
        # Changes since the oldest of those re-statements; schools without one (a
        # first start, or a collector stopped for more than a day) need their
        # newest change however old, once.
        self._changes(f"time > {now_ns - (STATE_LOOKBACK_S + OVERLAP_S) * 10**9}")
        missing = sorted({s.county for s in schools if s.school_id not in self.written})
        for at in range(0, len(missing), COUNTY_CHUNK):
            counties = " OR ".join(f"\"county\" = '{_quote(c)}'"
                                   for c in missing[at:at + COUNTY_CHUNK])
            self._changes(f"time <= {now_ns} AND ({counties})")
        # An agent silent for longer keeps the backlog it was last re-stated with.
        self._heartbeats(f"time > {now_ns - OVERLAP_S * 10**9}",
                         {s.school_id for s in schools})

    def refresh(self, schools: Sequence[School], now_ns: int) -> None:
        """Take the agent status changes stored since the last round, and the heartbeats
        stored since they were last read (at most every ``BEATS_EVERY_S``)."""
        if self.checked_ns is None:
            self._start(schools, now_ns)
            self.beats_ns = now_ns
        else:
            self._changes(f"time > {self.checked_ns - OVERLAP_S * 10**9}")
            if now_ns - self.beats_ns >= self.beats_every_ns:
                self._heartbeats(f"time > {self.beats_ns - OVERLAP_S * 10**9}",
                                 {s.school_id for s in schools})
                self.beats_ns = now_ns
        self.checked_ns = now_ns

    def due(self, schools: Sequence[School], now_ns: int) -> list[Reading]:
        """The points this round needs (agent_state, agent_attention); counted as written."""
        out = [r for mine in self._due(schools, now_ns) for r in mine]
        self._wrote([_done(r) for r in out], now_ns)
        self._forget(schools)
        return out

    def _due(self, schools: Sequence[School], now_ns: int) -> Iterator[list[Reading]]:
        """Per school with anything to write, its points: written in one batch, so a
        failed write leaves neither its agent_state nor its agent_attention point
        counted as written while the other is."""
        for school in schools:
            sid = school.school_id
            state = self.known.get(sid, NEVER)
            backlog = self.backlogs.get(sid, CLEAR)
            last = self.written.get(sid)
            restated = (last is None or last[:2] != (state, backlog)
                        or now_ns - last[2] >= RESTATE_NS)
            attention = attention_due(needs_attention(state.state, backlog), restated,
                                      sid in self.attention)
            if not restated and attention is None:
                continue  # settled: nothing to write
            values = fields(state.state, state.since_ns, state.version, backlog)
            tags = school.identity.region_tags()
            mine = [Reading(MEASUREMENT, values, tags, now_ns)] if restated else []
            if attention is not None:
                mine.append(Reading(ATTENTION, {**values, "attention": attention}, tags,
                                    now_ns))
            yield mine

    def _wrote(self, done: Iterable[tuple[str, bool | None]], now_ns: int) -> None:
        """Count points as stored (once their batch was), each as ``_done`` has it."""
        for sid, attention in done:
            if attention is None:
                self.written[sid] = (self.known.get(sid, NEVER), self.backlogs.get(sid, CLEAR),
                                     now_ns)
            elif attention:
                self.attention.add(sid)
            else:
                self.attention.discard(sid)

    def _forget(self, schools: Sequence[School]) -> None:
        """Drop schools no longer registered (their points age out of the lookback)."""
        registered = {s.school_id for s in schools}
        for sid in [sid for sid in self.written if sid not in registered]:
            del self.written[sid]
            self.known.pop(sid, None)
        for sid in [sid for sid in self.backlogs if sid not in registered]:
            del self.backlogs[sid]
        self.attention &= registered

    def counts(self, schools: Sequence[School], health: Mapping[str, Health]
               ) -> dict[Region, dict[str, int]]:
        failing = [(s.province, s.city, s.county, health[s.school_id].failing_probes)
                   for s in schools if s.school_id in health]
        backlogs = [(s.province, s.city, s.county, self.backlogs[s.school_id].depth)
                    for s in schools if s.school_id in self.backlogs]
        return tally(((s.province, s.city, s.county,
                       self.known.get(s.school_id, NEVER).state) for s in schools), failing,
                     backlogs)

    def record(self, schools: Sequence[School], now_ns: int, writer: Writer | None,
               health: Mapping[str, Health]) -> None:
        """One round: take new changes, write the due re-statements and the counts
        (no writer: a dry run, which writes nothing)."""
        if writer is None:
            return
        self.refresh(schools, now_ns)
        # Lines made and written a batch at a time: a start re-states every school,
        # made at once 7.1 MB of a round's peak at 10,000 schools (tracemalloc).
        restated = attending = 0
        batch: list[str] = []
        done: list[tuple[str, bool | None]] = []

        def flush() -> None:
            nonlocal batch, done
            writer.write(batch)  # new lists after: a writer may keep the one it got
            self._wrote(done, now_ns)
            batch, done = [], []

        for mine in self._due(schools, now_ns):
            if len(batch) + len(mine) > WRITE_BATCH:
                flush()
            batch.extend(line(r) for r in mine)
            done.extend(_done(r) for r in mine)
            restated += mine[0].measurement == MEASUREMENT
            attending += mine[-1].measurement == ATTENTION
        if batch:
            flush()
        self._forget(schools)
        counted = [line(p) for p in rollup_readings(self.counts(schools, health), now_ns)]
        for at in range(0, len(counted), WRITE_BATCH):
            writer.write(counted[at:at + WRITE_BATCH])
        log.info("agent states: %d schools re-stated, %d attention points written, %d schools "
                 "needing attention, %d with a backlog, %d regions counted", restated,
                 attending, len(self.attention), len(self.backlogs), len(counted))
