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
"""

from __future__ import annotations

import bisect
import functools
import logging
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from agent.contract.measurements import SCHEMA
from collector.judge.rules import POLL_FIELDS, Evidence, Poll, Row
from collector.judge.targets import Targets

log = logging.getLogger(__name__)

# One entry: (time_ns, series, *selected field values); a sorted list of them
# ends with the newest. Read backwards it is InfluxDB's ORDER BY time DESC:
# readings of one instant in several series (a classroom's two ports) come in
# descending series-key order.
Entry = tuple[Any, ...]
REGION_TAGS = frozenset({"province", "city", "county", "school"})
_LAST_KEY = "\U0010ffff"  # sorts after every series key: (t, _LAST_KEY) follows all of t
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
        Kind("tests", "wan_throughput", ("download_bps", "result"), "", window * 3, window * 3),
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


RUNS, SEEN, STATUS = 5, 6, 7  # the health kinds' places in kinds()


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


def newest(entries: list[Entry], since_ns: int, give: int) -> list[Entry]:
    """The newest ``give`` entries after ``since_ns`` (the query's time bound), newest first."""
    after = bisect.bisect_right(entries, (since_ns, _LAST_KEY))
    return entries[max(after, len(entries) - give):][::-1]


class Windows:
    """Every school's newest evidence; thread-safe (the pipeline feeds, a round reads)."""

    def __init__(self, targets: dict[str, Targets]) -> None:
        self.kinds = kinds(targets)
        self.age_ns = int(max(t.max_age_days for t in targets.values()) * 86400) * 10**9
        self.by_measurement: dict[str, list[tuple[int, Kind]]] = {}
        for i, kind in enumerate(self.kinds):
            self.by_measurement.setdefault(kind.measurement, []).append((i, kind))
        # school -> per kind: group value -> entries
        self.schools: dict[str, list[dict[str, list[Entry]]]] = {}
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
        windows = self.schools.get(school)
        entries = None if windows is None else windows[index].get(group)
        at = 0
        if entries is not None:
            at = bisect.bisect_left(entries, (ts_ns, key))
            if at < len(entries) and entries[at][:2] == (ts_ns, key):
                if not overwrite:
                    return  # the stream's copy is as new as the database's
                # InfluxDB merges a rewritten point's fields into the old ones.
                old = dict(zip(kind.fields, entries[at][2:], strict=True))
                fields = {**old, **{k: v for k, v in fields.items() if v is not None}}
                del entries[at]
                self.changed.add(school)
            elif at == 0 and len(entries) >= kind.keep:
                return  # older than everything kept: never evidence again
        if not kind.counts(fields):
            return
        entry = (ts_ns, key, *(_intern(fields.get(f)) for f in kind.fields))
        if windows is None:
            windows = self.schools[school] = [{} for _ in self.kinds]
        if entries is None:
            entries = windows[index][sys.intern(group)] = []
        entries.insert(at, entry)
        del entries[:-kind.keep]
        self.changed.add(school)

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

    def _rows(self, sid: str, index: int, since_ns: int) -> Iterator[tuple[str, list[Row]]]:
        kind = self.kinds[index]
        windows = self.schools.get(sid)
        if windows is None:
            return
        # Rows carry only what the rules read (the round's hottest loop): the
        # school is the evidence's key, and only agent status is judged by its time.
        fields, group_tag, give = kind.fields, kind.group, kind.give
        timed = index in (SEEN, STATUS)
        for group, entries in windows[index].items():
            rows = []
            for entry in newest(entries, since_ns, give):
                row: Row = dict(zip(fields, entry[2:], strict=False))  # built from fields
                if timed:
                    row["time"] = entry[0]
                if group_tag:
                    row[group_tag] = group
                rows.append(row)
            if rows:
                yield group, rows

    def _polls(self, sid: str, index: int, since_ns: int) -> dict[str, list[Poll]]:
        """A school's newest classroom polls, per classroom: the entries' own values."""
        give = self.kinds[index].give
        out: dict[str, list[Poll]] = {}
        windows = self.schools.get(sid)
        for room, entries in windows[index].items() if windows is not None else ():
            # The kind's fields are POLL_FIELDS: an entry's values are the poll.
            polls = [entry[2:] for entry in newest(entries, since_ns, give)]
            if polls:
                out[room] = polls
        return out

    def evidence(self, sids: Iterable[str], now_ns: int) -> tuple[Evidence, dict[str, int],
                                                                   dict[str, Row],
                                                                   dict[tuple[str, str],
                                                                        list[Row]]]:
        """What the rules' queries would return for these schools at ``now_ns``:
        the evidence, last seen, last agent status, newest runs per probe."""
        since = now_ns - self.age_ns
        ev = Evidence({}, {}, {}, {}, {})
        per_kind = (ev.tests, ev.links, None, ev.wifi, ev.ipv6)
        seen: dict[str, int] = {}
        status: dict[str, Row] = {}
        runs: dict[tuple[str, str], list[Row]] = {}
        with self.lock:
            for sid in sids:
                for index, target in enumerate(per_kind):
                    if target is None:  # ports: the rules take polls per classroom
                        rooms = self._polls(sid, index, since)
                        if rooms:
                            ev.ports[sid] = rooms
                        continue
                    rows = [r for _, group_rows in self._rows(sid, index, since)
                            for r in group_rows]
                    if rows:
                        target[sid] = rows
                for probe, rows in self._rows(sid, RUNS, since):
                    runs[(sid, probe)] = rows
                for _, rows in self._rows(sid, SEEN, since):
                    seen[sid] = rows[0]["time"]
                for _, rows in self._rows(sid, STATUS, since):
                    status[sid] = rows[0]
        return ev, seen, status, runs

    def deadline(self, sid: str, now_ns: int) -> int | None:
        """When the oldest reading of the school still evidence ages out (its window
        changes then); readings already past it are dropped, as time only moves on."""
        since = now_ns - self.age_ns
        oldest = []
        with self.lock:
            for per_group in self.schools.get(sid, ()):
                for group, entries in list(per_group.items()):
                    gone = bisect.bisect_right(entries, (since, _LAST_KEY))
                    del entries[:gone]
                    if entries:
                        oldest.append(entries[0][0])
                    else:
                        del per_group[group]
        return min(oldest) + self.age_ns if oldest else None
