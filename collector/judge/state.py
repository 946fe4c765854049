"""Each school's judging window, kept from the stream of stored readings.

The rules need only the newest few readings of each kind per school (per
classroom, per probe), never the history: this keeps exactly those, updated as
the pipeline confirms each batch stored, so a round judges from memory and
only the schools whose evidence changed or whose readings age out. Entries
mirror what the database holds: keyed by time and tag set, so a resent
reading (a lost receipt) overwrites itself as it does in InfluxDB, and
late spooled readings fall into their place by time. The window is rebuilt
from the database with bounded queries (a chunk of schools at a time, the
newest rows per series) when no saved copy can be trusted.

A province's windows stay in memory all the while, so they are packed: each
school is one Pack, a list of references to shared, interned value sets (run,
series key, field values) beside a 2-byte index per entry into the school's
table of distinct times, ordered by run (kind, group), time, series key.
Classroom polls repeat within a school and across schools, so a value set is
stored once; a school's polls of one instant share a time. bench_judging
(30 classrooms): ~2.3 KB a school at 30 minutes of readings, ~2.7 KB with
full windows, where int64 times took ~3.0 and ~3.4 KB and per-classroom lists
of entry tuples ~27 KB (README, "Judging at scale"). A bandwidth test's figure
is its own, so it is kept flat beside the entries (8 bytes) and the rest of
its value set is shared: with every figure its own, ~2.1 KB a school less
than a value set per test.
"""

from __future__ import annotations

import bisect
import functools
import logging
import sys
import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any

from agent.contract.measurements import SCHEMA
from collector.judge.rules import POLL_FIELDS, Evidence, Poll, Row
from collector.judge.targets import Targets

log = logging.getLogger(__name__)

REGION_TAGS = frozenset({"province", "city", "county", "school"})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})


@dataclass(frozen=True)
class Kind:
    """One kind of evidence, as the rules' query selects it."""

    name: str
    measurement: str
    fields: tuple[str, ...]
    group: str           # tag splitting a school's rows further ("" none)
    give: int            # newest rows the rules see
    keep: int            # newest rows kept (more than give where an overwrite can drop one)
    positive: str = ""   # a field that must be > 0 for the row to count
    # A field whose number is each reading's own (a bandwidth test's figure):
    # kept flat in the school's Pack, 8 bytes, so the rest of the value set
    # repeats and is shared like any other kind's.
    figure: str = ""

    @functools.cached_property
    def figure_at(self) -> int:
        """The figure's place in the kind's field values (-1: none)."""
        return self.fields.index(self.figure) if self.figure else -1

    @functools.cached_property
    def tags(self) -> tuple[str, ...]:
        """The measurement's own tags, whose values tell two series apart."""
        return tuple(sorted(set(SCHEMA[self.measurement].tags) - {self.group})
                     ) if self.measurement in SCHEMA else ()

    @functools.cached_property
    def keyed(self) -> tuple[str, ...]:
        """The tags in a series key besides the region's: own ones and the group."""
        return (*self.tags, self.group) if self.group else self.tags

    def counts(self, fields: dict[str, Any]) -> bool:
        """Whether InfluxDB would return this point for the query (a selected field set)."""
        if self.positive:
            value = fields.get(self.positive)
            return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        return any(fields.get(f) is not None for f in self.fields)


def kinds(targets: dict[str, Targets]) -> tuple[Kind, ...]:
    window = max(t.window for t in targets.values())
    runs = max(t.probe_failing_runs for t in targets.values())
    return (
        # First: kinds with a figure come before all others (Windows).
        Kind("tests", "wan_throughput", ("download_bps", "result"), "", window * 3, window * 3,
             figure="download_bps"),
        Kind("links", "wan_link", ("link_speed_mbps",), "", 1, window, "link_speed_mbps"),
        Kind("ports", "classroom_link", POLL_FIELDS, "classroom", window, window),
        Kind("wifi", "wifi_coverage", ("coverage_share",), "", window, window),
        Kind("ipv6", "ipv6", ("level",), "", window, window),
        Kind("runs", "probe_run", ("result",), "probe", runs, runs),
        Kind("seen", "probe_run", ("duration_seconds",), "", 1, 2),
        Kind("status", "agent_status", ("state",), "", 1, 2),
        # Not judged: the report's Wi-Fi areas (collector.judge.summary), the newest
        # reading per area; two kept so an area re-tagged to another kind keeps both.
        Kind("areas", "wifi_area", ("covered", "required"), "area", 2, 2),
    )


PORTS, RUNS, SEEN, STATUS = 2, 5, 6, 7  # places in kinds() read by name


_SERIES: dict[tuple[str, tuple[Any, ...]], str] = {}
SERIES_CACHE = 100_000  # distinct tag layouts remembered; beyond, start afresh


def series(kind: Kind, tags: dict[str, Any]) -> str:
    """The point's series key as InfluxDB orders it, region values left out (they
    are one school's in every key compared), so equal layouts share one string."""
    values = tuple(tags.get(k) for k in kind.keyed)
    known = _SERIES.get((kind.name, values))
    if known is not None:
        return known
    names = sorted({*REGION_TAGS, *(k for k, v in zip(kind.keyed, values, strict=True) if v)})
    key = sys.intern(",".join(
        f"{k}=" if k in REGION_TAGS else f"{k}={str(tags[k]).translate(_KEY)}" for k in names))
    if len(_SERIES) >= SERIES_CACHE:
        _SERIES.clear()
    _SERIES[(kind.name, values)] = key
    return key


_VALUES: dict[tuple[type, Any], Any] = {}


def _intern(value: Any) -> Any:
    # Results, states, port speeds repeat millions of times: one object each
    # (keyed with the type: 1 == 1.0 == True, yet each must keep its own).
    if isinstance(value, str):
        return sys.intern(value)
    if value is None or isinstance(value, bool):
        return value
    key = (type(value), value)
    known = _VALUES.get(key)
    if known is None:
        if len(_VALUES) >= SERIES_CACHE:
            _VALUES.clear()
        known = _VALUES[key] = value
    return known


# A run is one kind's entries of one group (a classroom, a probe; "" for the
# kinds not split further): (kind's place in kinds(), group value).
Run = tuple[int, str]
# A value set is everything an entry holds but its time: (run, series key, the
# kind's field values, their types). Classroom polls, probe results and port
# speeds repeat within a school and across schools, so one interned tuple
# serves every entry that has it. The types take part in equality because
# 1 == 1.0 == True, yet each entry must give back the value it was given.
# A kind's figure (Kind.figure) is no part of it: FLAT stands in its place.
ValueSet = tuple[Run, str, tuple[Any, ...], tuple[type, ...]]
_RUN = itemgetter(0)
_VALUES_OF = itemgetter(2)  # a value set's field values
# An entry as Windows.newest gives it: (time, series key, the kind's field values).
Entry = tuple[int, str, tuple[Any, ...]]


class _Flat:
    """Stands in a value set for a figure kept flat in the school's Pack."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "FLAT"  # pickled by name: one object, compared by identity

    def __repr__(self) -> str:
        return "FLAT"


FLAT = _Flat()
# Ints a double holds exactly: a bandwidth in bit/s is far below.
_EXACT_INT = 2**53


def flat(value: Any) -> float | None:
    """The figure as kept flat, None where a double would not give it back as
    it came (None, a bool, a string, an int past 2**53: kept in the value set)."""
    kind = type(value)
    if kind is float:
        return float(value)
    if kind is int and -_EXACT_INT <= value <= _EXACT_INT:
        return float(value)
    return None


def given(values: tuple[Any, ...], types: tuple[type, ...], at: int,
          figure: float) -> tuple[Any, ...]:
    """An entry's field values as they were given, its flat figure back in place."""
    if at < 0 or values[at] is not FLAT:
        return values
    out = list(values)
    out[at] = figure if types[at] is float else int(figure)
    return tuple(out)


_EXACT = sys.getsizeof([])
_EXACT_FIGS = sys.getsizeof(array("d"))
_TYPES: dict[tuple[type, ...], tuple[type, ...]] = {}
_SETS: dict[ValueSet, ValueSet] = {}
SETS_CACHE = 100_000  # distinct value sets remembered; beyond, start afresh


def value_set(run: Run, key: str, values: tuple[Any, ...],
              types: tuple[type, ...] | None = None) -> ValueSet:
    """The shared value set for these values (equal values of other types stay
    apart); ``types``: of the values as given, where FLAT stands in for one."""
    if types is None:
        types = tuple(map(type, values))
    wanted = (run, key, values, _TYPES.setdefault(types, types))
    known = _SETS.get(wanted)
    if known is not None:
        return known
    if len(_SETS) >= SETS_CACHE:
        # Forgetting only costs sharing: entries keep the tuples they hold.
        _SETS.clear()
    known = ((run[0], sys.intern(run[1])), key, tuple(_intern(v) for v in values), wanted[3])
    _SETS[known] = known
    return known


class Pack:
    """One school's entries of every kind, in flat sequences: the index of each
    entry's time in a table of the school's distinct times (``stamps``) and its
    value set, entry by entry. A school's readings of one instant share a time
    (its 30 classroom polls, a round's probe runs), so an entry's time costs 2
    bytes, not 8, and the table holds a few dozen. Entries are ordered by run,
    then time, then series key: each run's entries end with its newest, and
    read backwards they are InfluxDB's ORDER BY time DESC (readings of one
    instant in several series, a classroom's two ports, come in descending
    series-key order). One set of containers a school, not one list a
    classroom: ~10 bytes an entry, not a tuple and its timestamp.

    The kinds with a figure come first in kinds(), so their entries are the
    first ones: ``figs[i]`` is entry i's figure (8 bytes, where a value set of
    its own took ~150), for i below ``len(figs)``."""

    __slots__ = ("at", "figs", "sets", "stamps")

    def __init__(self, stamps: array[int] | None = None, at: array[int] | None = None,
                 sets: list[ValueSet] | None = None, figs: array[float] | None = None
                 ) -> None:
        self.stamps = stamps if stamps is not None else array("q")
        self.at = at if at is not None else array("H")
        self.sets = sets if sets is not None else []
        self.figs = figs if figs is not None else array("d")

    def __getstate__(self) -> tuple[array[int], array[int], list[ValueSet], array[float]]:
        return self.stamps, self.at, self.sets, self.figs

    def __setstate__(self, state: tuple[array[int], array[int], list[ValueSet],
                                        array[float]]) -> None:
        self.stamps, self.at, self.sets, self.figs = state

    @property
    def times(self) -> list[int]:
        """Every entry's time, entry by entry."""
        return list(map(self.stamps.__getitem__, self.at))

    def time(self, i: int) -> int:
        return self.stamps[self.at[i]]

    def stamp(self, ts_ns: int) -> int:
        """The time's place in the table, added if new; unused times are dropped
        once they are as many as the entries (an entry's place never moves)."""
        stamps = self.stamps
        if stamps and stamps[-1] == ts_ns:  # a reading of the instant just added
            return len(stamps) - 1
        try:
            return stamps.index(ts_ns)
        except ValueError:
            pass
        if len(stamps) >= max(32, 2 * len(self.at)):
            self.pack([self.time(i) for i in range(len(self.at))])
            stamps = self.stamps
        stamps.append(ts_ns)
        if len(stamps) > 0xFFFF and self.at.typecode == "H":
            self.at = array("I", self.at)  # more distinct times than 2 bytes tell apart
        return len(stamps) - 1

    def pack(self, times: list[int]) -> None:
        """Entries' times given afresh, the table holding only those, exact sizes."""
        table = sorted(set(times))
        place = {t: i for i, t in enumerate(table)}
        self.stamps = array("q", table)
        self.at = array("H" if len(table) <= 0xFFFF else "I", map(place.__getitem__, times))

    def bisect_left(self, ts_ns: int, lo: int, hi: int) -> int:
        return bisect.bisect_left(self.at, ts_ns, lo, hi, key=self.stamps.__getitem__)

    def bisect_right(self, ts_ns: int, lo: int, hi: int) -> int:
        return bisect.bisect_right(self.at, ts_ns, lo, hi, key=self.stamps.__getitem__)

    def run(self, run: Run) -> tuple[int, int]:
        """Where the run's entries are: [lo, hi)."""
        lo = bisect.bisect_left(self.sets, run, key=_RUN)
        return lo, bisect.bisect_right(self.sets, run, lo, key=_RUN)


class Windows:
    """Every school's newest evidence; thread-safe (the pipeline feeds, a round reads)."""

    def __init__(self, targets: dict[str, Targets]) -> None:
        self.kinds = kinds(targets)
        self.age_ns = int(max(t.max_age_days for t in targets.values()) * 86400) * 10**9
        self.by_measurement: dict[str, list[tuple[int, Kind]]] = {}
        for i, kind in enumerate(self.kinds):
            self.by_measurement.setdefault(kind.measurement, []).append((i, kind))
        # The kinds with a figure: the first ``flat`` (a Pack's figs are its first entries').
        self.flat = next((i for i, k in enumerate(self.kinds) if not k.figure), len(self.kinds))
        if any(k.figure for k in self.kinds[self.flat:]):
            raise ValueError("kinds with a figure must come before all others")
        self.schools: dict[str, Pack] = {}
        self.changed: set[str] = set()
        self.lock = threading.Lock()

    def measurements(self) -> frozenset[str]:
        return frozenset(self.by_measurement)

    def add(self, school: str, measurement: str, tags: dict[str, Any],
            fields: dict[str, Any], ts_ns: int) -> None:
        """One stored point (its full tag set and fields, as written)."""
        for i, kind in self.by_measurement.get(measurement, ()):
            self._put(school, i, kind, tags.get(kind.group, "") if kind.group else "",
                      series(kind, tags), fields, ts_ns, overwrite=True)

    def add_row(self, index: int, row: Row) -> None:
        """One row of a rebuild query (group tags merged in, as reader.rows gives)."""
        kind = self.kinds[index]
        self._put(row["school"], index, kind, (row.get(kind.group) or "") if kind.group else "",
                  series(kind, row), row, row["time"], overwrite=False)

    def _put(self, school: str, index: int, kind: Kind, group: str, key: str,
             fields: dict[str, Any], ts_ns: int, overwrite: bool) -> None:
        pack = self.schools.get(school)
        run = (index, group)
        lo = hi = at = 0
        if pack is not None:
            sets, stamps, where = pack.sets, pack.stamps, pack.at
            lo, hi = pack.run(run)
            # Readings mostly come newest last: past the run's newest, no search.
            at = hi if hi > lo and stamps[where[hi - 1]] < ts_ns else pack.bisect_left(
                ts_ns, lo, hi)
            while at < hi and stamps[where[at]] == ts_ns and sets[at][1] < key:
                at += 1  # one instant in several series: by series key
            if at < hi and stamps[where[at]] == ts_ns and sets[at][1] == key:
                if not overwrite:
                    return  # the stream's copy is as new as the database's
                # InfluxDB merges a rewritten point's fields into the old ones.
                old = dict(zip(kind.fields, self.values(pack, at), strict=True))
                fields = {**old, **{k: v for k, v in fields.items() if v is not None}}
                del where[at], sets[at]
                if index < self.flat:
                    del pack.figs[at]
                hi -= 1
                self.changed.add(school)
            elif at == lo and hi - lo >= kind.keep:
                return  # older than everything kept: never evidence again
        if not kind.counts(fields):
            return
        values = tuple([fields.get(f) for f in kind.fields])
        figure, j = None, kind.figure_at
        if j >= 0 and (figure := flat(values[j])) is not None:
            entry = value_set(run, key, (*values[:j], FLAT, *values[j + 1:]),
                              tuple(map(type, values)))
        else:
            entry = value_set(run, key, values)
        figs = index < self.flat  # the run's entries have a place in pack.figs
        if pack is None:
            pack = self.schools[school] = Pack()
        elif hi - lo == kind.keep and at > lo:
            # A full run's oldest makes room first: the containers keep their size.
            del pack.at[lo], pack.sets[lo]
            if figs:
                del pack.figs[lo]
            at -= 1
            hi -= 1
        place = pack.stamp(ts_ns)  # before the insert: it may renumber the table
        pack.at.insert(at, place)
        pack.sets.insert(at, entry)
        if figs:
            pack.figs.insert(at, 0.0 if figure is None else figure)
        over = hi + 1 - lo - kind.keep
        if over > 0:
            del pack.at[lo:lo + over], pack.sets[lo:lo + over]
            if figs:
                del pack.figs[lo:lo + over]
        self.changed.add(school)

    def values(self, pack: Pack, i: int) -> tuple[Any, ...]:
        """Entry i's field values as they were given."""
        entry = pack.sets[i]
        if i >= len(pack.figs):
            return entry[2]
        return given(entry[2], entry[3], self.kinds[entry[0][0]].figure_at, pack.figs[i])

    def take_changed(self) -> set[str]:
        with self.lock:
            changed, self.changed = self.changed, set()
        return changed

    def forget(self, keep: Iterable[str]) -> int:
        """Drop the windows of schools no longer registered; how many."""
        keep = set(keep)
        with self.lock:
            gone = [sid for sid in self.schools if sid not in keep]
            for sid in gone:
                del self.schools[sid]
        return len(gone)

    def evidence(self, sids: Iterable[str], now_ns: int) -> tuple[Evidence, dict[str, int],
                                                                   dict[str, Row],
                                                                   dict[tuple[str, str],
                                                                        list[Row]]]:
        """What the rules' queries would return for these schools at ``now_ns``:
        the evidence, last seen, last agent status, newest runs per probe."""
        since = now_ns - self.age_ns
        ev = Evidence({}, {}, {}, {}, {})
        # The kinds whose rows the rules take as a list per school, by place.
        per_kind = {0: ev.tests, 1: ev.links, 3: ev.wifi, 4: ev.ipv6}
        seen: dict[str, int] = {}
        status: dict[str, Row] = {}
        runs: dict[tuple[str, str], list[Row]] = {}
        kinds = self.kinds
        # The report's Wi-Fi areas are not judged: none given.
        gives = [0 if kind.name == "areas" else kind.give for kind in kinds]
        bisect_right = bisect.bisect_right
        with self.lock:
            for sid in sids:
                pack = self.schools.get(sid)
                if pack is None:
                    continue
                stamps, where = pack.stamps, pack.at
                ts = stamps.__getitem__
                rooms: dict[str, tuple[Poll, ...]] = {}
                end = 0
                for (index, group), run in groupby(pack.sets, _RUN):
                    # Each run's newest ``give`` entries after the query's time
                    # bound, newest first; rows carry only what the rules read
                    # (the round's hottest loop).
                    start = end
                    entries = list(run)
                    end = start + len(entries)
                    first = end - gives[index]
                    if first < start:
                        first = start
                    if first < end and stamps[where[first]] <= since:
                        # Only a run reaching past the time bound needs searching.
                        first = bisect_right(where, since, first, end, key=ts)
                    if first >= end:
                        continue
                    newest = entries[first - start:]
                    newest.reverse()
                    if index == PORTS:  # the kind's fields are POLL_FIELDS: values are the poll
                        rooms[group] = tuple(map(_VALUES_OF, newest))
                    elif (target := per_kind.get(index)) is not None:
                        fields = kinds[index].fields
                        rows = target[sid] = [dict(zip(fields, entry[2], strict=True))
                                              for entry in newest]
                        if index < self.flat:  # the figures back in their place
                            figure, j = kinds[index].figure, kinds[index].figure_at
                            figs = pack.figs
                            for i, got, entry in zip(range(end - 1, first - 1, -1), rows,
                                                     newest, strict=True):
                                if got[figure] is FLAT:
                                    got[figure] = figs[i] if entry[3][j] is float else int(
                                        figs[i])
                    elif index == RUNS:
                        fields = kinds[index].fields
                        probe_rows: list[Row] = []
                        for entry in newest:
                            row: Row = dict(zip(fields, entry[2], strict=True))
                            row["probe"] = group
                            probe_rows.append(row)
                        runs[(sid, group)] = probe_rows
                    elif index == SEEN:
                        seen[sid] = stamps[where[end - 1]]
                    elif index == STATUS:
                        # Only agent status is judged by its time, and only the newest.
                        row = dict(zip(kinds[index].fields, newest[0][2], strict=True))
                        row["time"] = stamps[where[end - 1]]
                        status[sid] = row
                if rooms:
                    ev.ports[sid] = rooms
        return ev, seen, status, runs

    def newest(self, sid: str, since_ns: int, gives: list[int | None]
               ) -> tuple[list[dict[str, list[Entry]]], dict[str, tuple[int, tuple[Poll, ...]]]]:
        """Per kind (by place), its newest ``gives[place]`` entries (None: all kept;
        0: none) after ``since_ns``, per group, newest first, each (time, series key,
        the kind's field values); classroom polls apart, per classroom its newest
        poll's time and the polls (newest first), as the rules take them. For readers
        other than the rules (collector.judge.summary); one pass over the school's
        entries, as :meth:`evidence`. The caller holds the lock."""
        out: list[dict[str, list[Entry]]] = [{} for _ in self.kinds]
        rooms: dict[str, tuple[int, tuple[Poll, ...]]] = {}
        pack = self.schools.get(sid)
        if pack is None:
            return out, rooms
        stamps, where = pack.stamps, pack.at
        ts = stamps.__getitem__
        end = 0
        for (index, group), run in groupby(pack.sets, _RUN):
            entries = list(run)
            start = end
            end = start + len(entries)
            give = gives[index]
            if give == 0:
                continue
            first = start if give is None or end - give < start else end - give
            if first < end and stamps[where[first]] <= since_ns:
                first = bisect.bisect_right(where, since_ns, first, end, key=ts)
            if first >= end:
                continue
            if index == PORTS:  # 30 a school: only the newest time is read of them
                newest = entries[first - start:]
                newest.reverse()
                rooms[group] = (stamps[where[end - 1]], tuple(map(_VALUES_OF, newest)))
            elif index < self.flat:
                j, figs = self.kinds[index].figure_at, pack.figs
                out[index][group] = [(stamps[where[i]], entry[1],
                                      given(entry[2], entry[3], j, figs[i]))
                                     for i in range(end - 1, first - 1, -1)
                                     for entry in (entries[i - start],)]
            else:
                out[index][group] = [(stamps[where[i]], entries[i - start][1],
                                      entries[i - start][2])
                                     for i in range(end - 1, first - 1, -1)]
        return out, rooms

    def deadline(self, sid: str, now_ns: int) -> int | None:
        """When the oldest reading of the school still evidence ages out (its window
        changes then); readings already past it are dropped, as time only moves on."""
        since = now_ns - self.age_ns
        with self.lock:
            pack = self.schools.get(sid)
            if pack is None or not pack.at:
                return None
            used = set(pack.at)
            if sys.getsizeof(pack.figs) > _EXACT_FIGS + 8 * len(pack.figs):
                pack.figs = array("d", pack.figs)  # as the list below; alone, it is cheap
            if (sys.getsizeof(pack.sets) > _EXACT + 9 * len(pack.sets)
                    or len(pack.stamps) > len(used) * 5 // 4 + 4):
                # Room left from the runs' filling up (a list grows by an eighth), or
                # times no entry has any more (each round's readings push out the
                # oldest): full runs now take one entry for one, so exact sizes last.
                pack.sets = pack.sets[:]
                pack.pack(pack.times)
                used = set(range(len(pack.stamps)))
            stamps = pack.stamps
            oldest = min(map(stamps.__getitem__, used))
            if oldest <= since:
                times = pack.times
                # Each run's aged entries are its oldest: dropping every entry
                # at or before the bound drops a prefix of each run.
                kept = [i for i, t in enumerate(times) if t > since]
                pack.sets = [pack.sets[i] for i in kept]
                # Kept entries keep their order: those with a figure stay first.
                figs = pack.figs
                pack.figs = array("d", [figs[i] for i in kept if i < len(figs)])
                pack.pack([times[i] for i in kept])
                if not kept:
                    return None
                oldest = min(times[i] for i in kept)
        return oldest + self.age_ns
