"""Class minutes counted per school, uplink, level and day: what the path-quality
verdicts (collector.judge.quality) are judged from.

A verdict asks whether a figure (a minute's p95 RTT, its PDV, its loss) met its
limit in at least ``ready_share`` of the class-hour minutes of the last
``quality_days``. That needs, per day, only how many class minutes there were and
how many met each limit, not the minutes themselves. Counted as readings are
stored, a province's verdicts cost the same whatever the week holds: asking
InfluxDB for a week's percentiles instead took ~0.12 s a school on this kind of
machine (about 100 minutes a refresh at 50,000 schools; bench_class_minutes).

* Days are the collector's local calendar days (classes never span midnight);
  ``quality_days`` is rounded up to whole days: today and the days before it.
* Each limit any school type asks of a level is counted, so a school judged
  under another type needs nothing new; changed targets start afresh.
* A minute without ``sent`` is not a measured minute (InfluxDB's ``count(sent)``
  decides the same when the counts are rebuilt from it); a figure missing from a
  measured minute did not meet its limit.
* Counts are not idempotent, and an agent sends a reading again when its
  receipt is lost (after its ``receipt_timeout``, 60 s by default): each school
  remembers its last ``RECENT`` path readings counted, and one of them coming
  again is not counted again. One sent again later than that counts twice.
  Readings are counted once the database confirms them, and a clean stop saves
  the counts; after a crash they are rebuilt from the database (``rebuild``).

Memory: per school one array of unsigned shorts holding its ring of recent
readings and a row per (uplink, level, day) with its counts and the sum of its
uptime shares (a double's bytes, read and written with ``struct``): ~0.7 KB a
school with four levels over a week of five school days (bench_class_minutes).
The (uplink, level) pairs, vocabularies of the contract (at most 6 x 5), are
kept once for every school. Four objects a school (its pairs, rows, sums and
ring) took 1.1 KB, and more in a running collector, where each reading's
decoded strings are new objects.
"""

from __future__ import annotations

import functools
import math
import struct
import time
import zlib
from array import array
from collections.abc import Iterable, Sequence
from operator import add
from typing import Any, NamedTuple

from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.targets import Targets

DAY_S = 86400
# Path readings a school remembers to know one sent again: 8 minutes of 4 levels.
RECENT = 32
# A school's one array of unsigned shorts: the next place in its ring of recent
# readings, the ring (32-bit keys, two shorts each), then its day rows.
HEAD = 1 + 2 * RECENT
_RING = struct.Struct(f"={RECENT}I")
_KEY = struct.Struct("=I")
_SUM = struct.Struct("=d")
# A row: slot (index in ``keys``: the (uplink, level) pairs), day, the sum of its
# uptime shares (a double's eight bytes in four shorts), minutes, minutes with an
# uptime share, then one count per limit.
SLOT, DAY, UP, MINUTES, N_UP, OK = 0, 1, 2, 6, 7, 8
MAX_COUNT = 0xFFFF  # unsigned shorts: a day has 1,440 minutes a target

RTT, PDV, LOSS = "rtt_p95_seconds", "pdv_seconds", "loss_share"


class Limit(NamedTuple):
    """A figure met when at most ``bound`` (seconds, or a share)."""

    field: str
    bound: float


@functools.cache
def limits_of(t: Targets) -> dict[str, tuple[Limit, ...]]:
    """Per level, the limits one school type's verdicts judge: (RTT, loss) for the
    ladder's levels, (RTT, PDV, loss) for the platform."""
    ladder = {"county": t.ladder_county_rtt_ms, "city": t.ladder_city_rtt_ms,
              "province": t.ladder_province_rtt_ms}
    out: dict[str, tuple[Limit, ...]] = {
        level: (Limit(RTT, ms / 1000), Limit(LOSS, t.ladder_loss_share))
           for level, ms in ladder.items()}
    out["platform"] = (Limit(RTT, t.interactive_rtt_p95_ms / 1000),
                       Limit(PDV, t.interactive_pdv_ms / 1000),
                       Limit(LOSS, t.interactive_loss_share))
    return out


def local_offset_s() -> int:
    """Seconds east of UTC of the collector's local time, now."""
    return time.localtime().tm_gmtoff


class Figures(NamedTuple):
    """One uplink and level's class minutes over a school's window of days."""

    minutes: int
    met: dict[Limit, int]  # minutes meeting each limit
    up_minutes: int        # minutes with an uptime share
    up: float              # their mean uptime share (0 without)

    def share(self, limit: Limit) -> float:
        return self.met.get(limit, 0) / self.minutes if self.minutes else 0.0


class ClassMinutes:
    """Per school: one array of its recent readings and day rows."""

    def __init__(self, targets: dict[str, Targets], offset_s: int | None = None) -> None:
        self.offset_s = local_offset_s() if offset_s is None else offset_s
        # Every limit any type asks of a level, in one order: a row's counts.
        merged: dict[str, list[Limit]] = {}
        for t in targets.values():
            for level, limits in limits_of(t).items():
                merged.setdefault(level, [])
                merged[level] += [lim for lim in limits if lim not in merged[level]]
        self.limits = {level: tuple(sorted(lims)) for level, lims in merged.items()}
        self.width = OK + max((len(v) for v in self.limits.values()), default=0)
        self.days = {name: math.ceil(t.quality_days) for name, t in targets.items()}
        self.keep_days = max(self.days.values(), default=1)
        # The (uplink, level) pairs a row's slot names, the same for every school.
        self.keys: list[tuple[str, str]] = []
        self.slot_of: dict[tuple[str, str], int] = {}
        self.rows: dict[str, array[int]] = {}

    def shape(self) -> tuple[Any, ...]:
        """What counts kept for other targets (or another time zone) differ in."""
        return (self.offset_s, sorted(self.limits.items()), self.width, self.keep_days)

    def state(self) -> tuple[Any, ...]:
        """What a clean stop saves (``resume`` takes it back)."""
        return self.keys, self.rows

    def resume(self, state: tuple[Any, ...]) -> None:
        self.keys, self.rows = state
        self.slot_of = {key: slot for slot, key in enumerate(self.keys)}

    def day(self, ts_ns: int) -> int:
        return (ts_ns // 1_000_000_000 + self.offset_s) // DAY_S

    def day_start_ns(self, day: int) -> int:
        return (day * DAY_S - self.offset_s) * 1_000_000_000

    # -- counting ------------------------------------------------------------
    def _school(self, sid: str) -> array[int]:
        rows = self.rows.get(sid)
        if rows is None:
            rows = self.rows[sid] = array("H", bytes(2 * HEAD))
        return rows

    def _row(self, sid: str, uplink: str, level: str, day: int) -> tuple[array[int], int]:
        """The array and offset of this slot's row for ``day``, made when missing."""
        key = (uplink, level)
        slot = self.slot_of.get(key)
        if slot is None:
            # Bounded by the contract's vocabularies: a slot fits a short.
            slot = self.slot_of[key] = len(self.keys)
            self.keys.append(key)
        rows, width = self._school(sid), self.width
        # Today's rows are the last ones: look from the end.
        for at in range(len(rows) - width, HEAD - 1, -width):
            if rows[at] == slot and rows[at + DAY] == day:
                return rows, at
        at = len(rows)
        rows.extend([slot, day] + [0] * (width - 2))  # a sum of 0.0 is eight zero bytes
        return rows, at

    @staticmethod
    def _add_up(rows: array[int], at: int, up: float) -> None:
        where = 2 * (at + UP)
        _SUM.pack_into(rows, where, _SUM.unpack_from(rows, where)[0] + up)

    def add(self, sid: str, tags: dict[str, Any], fields: dict[str, Any], ts_ns: int,
            oldest_day: int | None = None) -> None:
        """One stored path_quality reading (ignored unless a measured class minute)."""
        if fields.get("class_hours") is not True or fields.get("sent") is None:
            return
        day = self.day(ts_ns)
        if oldest_day is not None and day < oldest_day:
            return
        level = tags.get("level", "")
        # A CRC, not hash(): a string's is another after a restart, and the ring is
        # saved. 32 bits: a reading taken for another of the last 32 once in 10^8.
        path = f"{tags.get('target')}|{tags.get('uplink')}|{level}".encode()
        if self._again(sid, zlib.crc32(ts_ns.to_bytes(8, "little"), zlib.crc32(path))):
            return
        rows, at = self._row(sid, tags.get("uplink", ""), level, day)
        if rows[at + MINUTES] == MAX_COUNT:
            return  # a school flooding one day only saturates its own counts
        rows[at + MINUTES] += 1
        up = fields.get("up_share")
        if isinstance(up, int | float) and not isinstance(up, bool):
            rows[at + N_UP] += 1
            self._add_up(rows, at, up)
        for i, limit in enumerate(self.limits.get(level, ())):
            value = fields.get(limit.field)
            if (isinstance(value, int | float) and not isinstance(value, bool)
                    and value <= limit.bound):
                rows[at + OK + i] += 1

    def _again(self, sid: str, key: int) -> bool:
        """Whether this school counted the reading of ``key`` lately; remembers it."""
        rows = self._school(sid)
        key = key or 1  # 0 is an empty place
        if key in _RING.unpack_from(rows, 2):
            return True
        _KEY.pack_into(rows, 2 + 4 * rows[0], key)
        rows[0] = (rows[0] + 1) % RECENT
        return False

    def oldest_day(self, now_ns: int) -> int:
        """The first day any school's window still holds."""
        return self.day(now_ns) - self.keep_days + 1

    def prune(self, now_ns: int, keep: Iterable[str]) -> None:
        """Drop days no window holds any more, and schools no longer registered."""
        oldest, width = self.oldest_day(now_ns), self.width
        registered = set(keep)
        for sid in list(self.rows):
            rows = self.rows[sid]
            if sid in registered and all(rows[at + DAY] >= oldest
                                         for at in range(HEAD, len(rows), width)):
                continue
            kept = rows[:HEAD]
            if sid in registered:
                for at in range(HEAD, len(rows), width):
                    if rows[at + DAY] >= oldest:
                        kept.extend(rows[at:at + width])
            if len(kept) > HEAD:
                self.rows[sid] = kept
            else:
                self.forget([sid])

    # -- reading -------------------------------------------------------------
    def figures(self, school: School, now_ns: int) -> dict[tuple[str, str], Figures]:
        """(uplink, level) -> the school's figures over its type's window of days."""
        rows = self.rows.get(school.school_id)
        if rows is None:
            return {}
        width = self.width
        first = self.day(now_ns) - self.days.get(school.school_type, self.keep_days) + 1
        # Per slot: its counts from MINUTES on, summed a row at a time in C (map).
        sums: dict[int, list[int]] = {}
        up: dict[int, float] = {}
        for at in range(HEAD, len(rows), width):
            if rows[at + DAY] >= first:
                slot = rows[at]
                counts = rows[at + MINUTES:at + width]
                ups = _SUM.unpack_from(rows, 2 * (at + UP))[0]
                if slot in sums:
                    sums[slot] = list(map(add, sums[slot], counts))
                    up[slot] += ups
                else:
                    sums[slot], up[slot] = list(counts), ups
        out = {}
        for slot, s in sums.items():
            uplink, level = self.keys[slot]
            met = dict(zip(self.limits.get(level, ()), s[OK - MINUTES:], strict=False))
            n_up = s[N_UP - MINUTES]
            out[(uplink, level)] = Figures(s[0], met, n_up, up[slot] / n_up if n_up else 0.0)
        return out

    def forget(self, sids: Iterable[str]) -> None:
        for sid in sids:
            self.rows.pop(sid, None)

    def merge(self, other: ClassMinutes) -> None:
        """Add ``other``'s counts (kept for the same targets) to these."""
        width = self.width
        for sid, rows in other.rows.items():
            for at in range(HEAD, len(rows), width):
                uplink, level = other.keys[rows[at]]
                into, to = self._row(sid, uplink, level, rows[at + DAY])
                for i in range(MINUTES, width):
                    into[to + i] = min(into[to + i] + rows[at + i], MAX_COUNT)
                self._add_up(into, to, _SUM.unpack_from(rows, 2 * (at + UP))[0])

    # -- rebuilding from the database -----------------------------------------
    def rebuild(self, reader: InfluxQLReader, schools: Sequence[School], where: str,
                now_ns: int) -> None:
        """Add the database's counts of these schools (``where``: an InfluxQL
        condition selecting at least their series, e.g. their counties)."""
        ids = {s.school_id for s in schools}
        oldest = self.oldest_day(now_ns)
        span = (f"class_hours = true AND time >= {self.day_start_ns(oldest)} AND ({where})")
        group = f"GROUP BY school, uplink, level, time(1d, {(-self.offset_s) % DAY_S}s) fill(none)"
        for row in reader.rows(f'SELECT count(sent) AS minutes, count(up_share) AS n_up, '
                               f'sum(up_share) AS up FROM "path_quality" WHERE {span} {group}'):
            if row["school"] in ids and row["minutes"]:
                rows, at = self._row(row["school"], row.get("uplink") or "",
                                     row.get("level") or "", self.day(row["time"]))
                rows[at + MINUTES] = min(rows[at + MINUTES] + row["minutes"], MAX_COUNT)
                rows[at + N_UP] = min(rows[at + N_UP] + (row["n_up"] or 0), MAX_COUNT)
                self._add_up(rows, at, row["up"] or 0.0)
        # One query per limit, for every level that has it.
        levels_of: dict[Limit, list[str]] = {}
        for level, limits in self.limits.items():
            for lim in limits:
                levels_of.setdefault(lim, []).append(level)
        for lim, levels in sorted(levels_of.items()):
            which = " OR ".join(f"level = '{lvl}'" for lvl in levels)
            for row in reader.rows(
                    f'SELECT count(sent) AS ok FROM "path_quality" WHERE {span} AND ({which}) '
                    f'AND "{lim.field}" <= {lim.bound!r} {group}'):
                level = row.get("level") or ""
                if row["school"] in ids and row["ok"] and lim in self.limits.get(level, ()):
                    rows, at = self._row(row["school"], row.get("uplink") or "", level,
                                         self.day(row["time"]))
                    i = at + OK + self.limits[level].index(lim)
                    rows[i] = min(rows[i] + row["ok"], MAX_COUNT)
