"""Distinct series per school and measurement, bounded as the schema declares.

InfluxDB keeps every series (measurement + tag set) in its index for good, and
caps distinct values per tag (``max-values-per-tag``, 100,000 by default): a
school that invents a new ``classroom`` tag per reading would exhaust that
for every school and make the rules' queries huge. So each school may have
at most ``max_series`` (times ``[limits] series_scale``) tag combinations
per measurement; a reading with one more is refused for good
(``too_many_series``, receipted as refused: resending cannot help).

Memory is bounded whatever a school sends: a set per school and measurement
never holds more than its bound plus its ``seed_after``, and at most ``max_schools``
schools are tracked (with a registry, only registered schools get this far).

A restart must not hand every school its whole bound again, but loading every
school's series at start would cost one query per school. So a school's stored
series for a measurement are loaded from the database (``seed``) only when it
first shows more than ``seed_after`` series there in this process, an eighth of
the measurement's bound (at least 16): an ordinary school never costs a query,
and after a restart a school can add at most that many series beyond what the
database shows before the check knows them all. At a fixed 16, every school
with more than 16 classroom ports, APs or radios cost one (``SHOW SERIES``, in
the pipeline thread) after every restart, and a backlog of 40 readings a school
drained at about half the rate (0.14 of ``mosquitto_sub``'s, against 0.26;
bench_ingest_headroom).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agent.contract.schema import Measurement
from collector.errors import CollectorError

log = logging.getLogger(__name__)

TagSet = tuple[tuple[str, str], ...]
# (school, measurement, at most) -> the tag sets stored for it
Seed = Callable[[str, str, int], Iterable[TagSet]]
Query = Callable[[str], list[dict[str, Any]]]
MAX_SCHOOLS = 100_000
SEED_AFTER = 16  # the least seed_after
SEED_SHARE = 8  # seed_after: the bound over this


def tag_set(tags: Mapping[str, str]) -> TagSet:
    return tuple(sorted(tags.items()))


class SeriesBounds:
    def __init__(self, schema: Mapping[str, Measurement], scale: float = 1.0,
                 seed: Seed | None = None, seed_after: int | None = None,
                 max_schools: int = MAX_SCHOOLS) -> None:
        self.limits = {name: max(1, int(spec.max_series * scale))
                       for name, spec in schema.items()}
        self.seed = seed
        self.seed_after = {name: max(SEED_AFTER, limit // SEED_SHARE) if seed_after is None
                           else seed_after for name, limit in self.limits.items()}
        self.max_schools = max_schools
        # school -> measurement -> hashes of the tag sets seen or stored (as frozensets)
        self._known: dict[str, dict[str, set[int]]] = {}
        self._seeded: set[tuple[str, str]] = set()
        self.seeds = 0  # queries made to load a school's stored series
        self._untracked_logged = False

    def admit(self, school: str, measurement: str, tags: Mapping[str, str]) -> bool:
        """Whether this reading's tag set is known or may be added; adds it."""
        limit = self.limits.get(measurement)
        if limit is None:
            return True  # not an agent measurement: the schema check refuses it
        per_school = self._known.get(school)
        if per_school is None:
            if len(self._known) >= self.max_schools:
                if not self._untracked_logged:
                    self._untracked_logged = True
                    log.warning("more than %d schools: series of further schools are not "
                                "bounded (configure a registry)", self.max_schools)
                return True
            per_school = self._known[school] = {}
        known = per_school.get(measurement)
        if known is None:
            known = per_school[measurement] = set()
        # Unordered: sorting each reading's tags into a TagSet cost more than the rest
        # of this check; a seed's TagSet gives the same hash (``_load``).
        key = hash(frozenset(tags.items()))
        if key in known:
            return True
        if len(known) >= self.seed_after[measurement] and (school, measurement) \
                not in self._seeded:
            self._load(school, measurement, known, limit)
            if key in known:
                return True
        if len(known) >= limit:
            return False
        known.add(key)
        return True

    def _load(self, school: str, measurement: str, known: set[int], limit: int) -> None:
        self._seeded.add((school, measurement))
        if self.seed is None:
            return
        self.seeds += 1
        try:
            stored = list(self.seed(school, measurement, limit))
        except CollectorError as err:  # the database is down: count from what is seen here
            log.warning("could not load %s's stored %s series: %s", school, measurement, err)
            return
        # The stored ones first (at most ``limit``), then the few seen here:
        # a school near its bound keeps every series it already has.
        known.update(hash(frozenset(tags)) for tags in stored[:limit])


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _split(text: str, sep: str) -> list[str]:
    """Split a series key at ``sep`` not escaped by a backslash, unescaping."""
    parts, current, chars = [], [], iter(text)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            if nxt in ", =":
                current.append(nxt)
            else:
                current.append(char + nxt)
        elif char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_key(key: str, wanted: Mapping[str, object]) -> TagSet:
    """A series key (``m,k=v,...`` as SHOW SERIES prints it) as the tag set
    a school sends: only the measurement's own tags, not the region's."""
    pairs = []
    for item in _split(key, ",")[1:]:
        name, _, value = item.partition("=")
        if name in wanted:
            pairs.append((name, value))
    return tuple(sorted(pairs))


def influx_seed(query: Query, schema: Mapping[str, Measurement]) -> Seed:
    """Load a school's stored series through InfluxQL's SHOW SERIES."""
    def seed(school: str, measurement: str, limit: int) -> list[TagSet]:
        result = query(f"SHOW SERIES FROM \"{measurement}\" "
                       f"WHERE \"school\" = '{_quote(school)}' LIMIT {int(limit)}")
        wanted = schema[measurement].tags
        return [parse_key(row[0], wanted) for series in result
                for row in series.get("values", [])]
    return seed
