"""Each school's agent state (online, offline, never connected), re-stated by the collector.

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

The states come from ``agent_status`` itself: at start, from the newest
re-statements (bounded) and, only for schools without one, their newest change
(unbounded, a chunk of counties per query, once); then at each round only the
changes stored since the previous round.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from agent.contract.probes import PROBE_NAMES
from agent.contract.reading import FieldValue, Reading
from collector.ingest.lineproto import line
from collector.ingest.writer import Writer
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.rollups import Region
from collector.judge.rules import Health

log = logging.getLogger(__name__)

MEASUREMENT = "agent_state"
ROLLUP = "agent_rollup"
STATES = ("online", "offline", "never")
PROBES = tuple(sorted(PROBE_NAMES))
RESTATE_NS = 12 * 3600 * 10**9  # half the dashboards' 25 h lookback: one missed write is fine
# Changes are stamped on arrival and stored a batch later (or after a database
# outage, much later): each round re-reads this much before the previous one.
OVERLAP_S = 3600
STATE_LOOKBACK_S = 25 * 3600
COUNTY_CHUNK = 20  # counties per query when reading the newest changes without a bound


@dataclass(frozen=True)
class State:
    state: str          # one of STATES
    since_ns: int = 0   # when the agent's status changed to it (0: never connected)
    version: str = ""


NEVER = State("never")


def fields(state: str, since_ns: int, version: str = "") -> dict[str, FieldValue]:
    out: dict[str, FieldValue] = {"state": state, "online": state == "online"}
    if since_ns:
        # Epoch milliseconds: what Grafana shows as a date.
        out["since"] = since_ns // 1_000_000
    if version:
        out["agent_version"] = version[:32]
    return out


def tally(rows: Iterable[tuple[str, str, str, str]],
          failing: Iterable[tuple[str, str, str, frozenset[str]]] = ()
          ) -> dict[Region, dict[str, int]]:
    """Schools per state and region from (province, city, county, state) rows, and per
    failing probe from (province, city, county, failing probes) rows."""
    per_county: Counter[tuple[str, str, str, str]] = Counter(rows)
    for province, city, county, probes in failing:
        per_county.update((province, city, county, f"failing_{p}") for p in probes
                          if p in PROBE_NAMES)
    out: dict[Region, dict[str, int]] = {}
    for (province, city, county, key), n in per_county.items():
        for region in (Region("province", province), Region("city", province, city),
                       Region("county", province, city, county)):
            counts = out.setdefault(region, dict.fromkeys(
                (*STATES, *(f"failing_{p}" for p in PROBES)), 0))
            counts[key] += n
    return out


def rollup_readings(counted: Mapping[Region, Mapping[str, int]], now_ns: int) -> list[Reading]:
    return [Reading(ROLLUP, {"schools": sum(counts[st] for st in STATES), **counts},
                    region.tags(), now_ns)
            for region, counts in sorted(counted.items())]


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


class AgentStates:
    """Every registered school's agent state, kept between rounds."""

    def __init__(self, reader: InfluxQLReader) -> None:
        self.reader = reader
        self.known: dict[str, State] = {}
        self.written: dict[str, tuple[State, int]] = {}  # what agent_state holds, and when
        self.checked_ns: int | None = None  # changes up to here are in ``known``

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

    def _start(self, schools: Sequence[School], now_ns: int) -> None:
        for row in self.reader.rows(
                f'SELECT last("state") AS "state", "since", "agent_version" FROM "{MEASUREMENT}" '
                f"WHERE time > {now_ns - STATE_LOOKBACK_S * 10**9} GROUP BY school"):
            if row.get("state") in STATES:
                since = int(row["since"]) * 1_000_000 if row.get("since") is not None else 0
                state = State(row["state"], since, str(row.get("agent_version") or ""))
                self._take(row["school"], state)
                self.written[row["school"]] = (state, int(row["time"]))
        # Changes since the oldest of those re-statements; schools without one (a
        # first start, or a collector stopped for more than a day) need their
        # newest change however old, once.
        self._changes(f"time > {now_ns - (STATE_LOOKBACK_S + OVERLAP_S) * 10**9}")
        missing = sorted({s.county for s in schools if s.school_id not in self.written})
        for at in range(0, len(missing), COUNTY_CHUNK):
            counties = " OR ".join(f"\"county\" = '{_quote(c)}'"
                                   for c in missing[at:at + COUNTY_CHUNK])
            self._changes(f"time <= {now_ns} AND ({counties})")

    def refresh(self, schools: Sequence[School], now_ns: int) -> None:
        """Take the agent status changes stored since the last round."""
        if self.checked_ns is None:
            self._start(schools, now_ns)
        else:
            self._changes(f"time > {self.checked_ns - OVERLAP_S * 10**9}")
        self.checked_ns = now_ns

    def due(self, schools: Sequence[School], now_ns: int) -> list[Reading]:
        """The re-statements this round needs; counted as written."""
        out = []
        for school in schools:
            sid = school.school_id
            state = self.known.get(sid, NEVER)
            last = self.written.get(sid)
            if last is None or last[0] != state or now_ns - last[1] >= RESTATE_NS:
                out.append(Reading(MEASUREMENT, fields(state.state, state.since_ns,
                                                       state.version),
                                   school.identity.region_tags(), now_ns))
                self.written[sid] = (state, now_ns)
        registered = {s.school_id for s in schools}
        for sid in [sid for sid in self.written if sid not in registered]:
            del self.written[sid]
            self.known.pop(sid, None)
        return out

    def counts(self, schools: Sequence[School], health: Mapping[str, Health]
               ) -> dict[Region, dict[str, int]]:
        failing = [(s.province, s.city, s.county, health[s.school_id].failing_probes)
                   for s in schools if s.school_id in health]
        return tally(((s.province, s.city, s.county,
                       self.known.get(s.school_id, NEVER).state) for s in schools), failing)

    def record(self, schools: Sequence[School], now_ns: int, writer: Writer | None,
               health: Mapping[str, Health]) -> None:
        """One round: take new changes, write the due re-statements and the counts
        (no writer: a dry run, which writes nothing)."""
        if writer is None:
            return
        self.refresh(schools, now_ns)
        restated = [line(p) for p in self.due(schools, now_ns)]
        counted = [line(p) for p in rollup_readings(self.counts(schools, health), now_ns)]
        points = restated + counted
        for at in range(0, len(points), 5000):
            writer.write(points[at:at + 5000])
        log.info("agent states: %d schools re-stated, %d regions counted", len(restated),
                 len(counted))
