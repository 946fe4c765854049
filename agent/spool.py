"""The agent's spool: every reading is kept here until it is safe.

Safe means stored: the collector's receipt says the database holds it (a
broker that crashes loses what it had acknowledged but not yet delivered,
so the broker's PUBACK alone is not enough). Readings the broker acked are
marked sent; if no receipt follows within a timeout they are sent again,
with the wait doubling each time so an outage is not flooded with copies.
A receipt deletes only readings the broker acked at least once, so a forged
or replayed one cannot delete a reading that was never sent.

SQLite in WAL mode survives a ``kill -9`` and a power cut on a router's flash
(a torn write rolls back to the last committed transaction). The spool also
hands out the per-agent sequence numbers, so they keep rising across restarts.
Bounded by count and age: past either, the oldest readings are dropped,
counted and logged, because an unbounded spool would fill a router's disk.

A disk that takes no writes (full, or read-only) and a damaged file are
conditions, not crashes:

* Full: new readings wait in memory, at most ``memory_max_readings`` (the
  oldest are dropped past that and counted in ``dropped``), and are sent
  from there. Every ``retry_seconds`` the spool tries the disk again; once
  it takes writes, the readings in memory move to it.
* Corrupt (SQLite's own check, at open or on any later access): the file is
  renamed ``spool.sqlite3.corrupt-<UTC time>`` and kept for inspection, the
  rows that can still be read are kept, and a fresh spool starts. Its
  numbering starts above any number the old file could have used (the
  wall clock in milliseconds), so no late receipt matches a new reading.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from agent.spoolstore import MEMORY, CorruptError, Row, Store, salvage

log = logging.getLogger(__name__)
T = TypeVar("T")
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_FAULTS = (sqlite3.Error, OSError, CorruptError)


def is_corrupt(err: BaseException) -> bool:
    code = getattr(err, "sqlite_errorcode", None)
    return isinstance(err, CorruptError) or (isinstance(code, int)
                                              and code & 0xFF in _CORRUPT_CODES)


def one_line(err: BaseException) -> str:
    """SQLite's check reports span lines; a log message is one."""
    return " ".join(str(err).split())[:300]


class Spool:
    def __init__(self, path: Path, max_readings: int = 200_000,
                 max_age_seconds: float = 30 * 86400, *, memory_max_readings: int = 10_000,
                 retry_seconds: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        # Wall-clock time, as it is stored and must mean the same after a
        # reboot; a seam so tests check expiry and backoff without sleeping.
        self._clock = clock
        self.path = path
        self.max_readings = max_readings
        self.max_age_seconds = max_age_seconds
        self.memory_max_readings = memory_max_readings
        self.retry_seconds = retry_seconds
        self.full = False  # the disk takes no writes: new readings wait in memory
        self.corrupt = False  # a damaged spool file was moved aside during this run
        self.dropped = 0
        self.changes = 0  # bumped when readings move between memory and disk
        self._lock = threading.RLock()
        self._memory = Store(MEMORY)
        self._disk: Store | None = None
        self._next_seq = 1
        self._numbered = False  # whether _next_seq is known to be above every used number
        self._retry_at = 0.0
        self._overflowing = False
        with self._lock:
            self._open_disk()

    # -- the disk and its faults -------------------------------------------------

    def _open_disk(self, fresh: bool = False) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            disk = Store(str(self.path), check=True)
            try:
                next_seq = disk.meta("next_seq") or disk.max_seq() + 1
                dropped = disk.meta("dropped")
            except BaseException:
                disk.close()
                raise
        except _FAULTS as err:
            if is_corrupt(err) and not fresh:
                return self._quarantine(err)
            self._cannot_write(err)
            if not self._numbered:
                # Where the file's numbering stood is unknown: start above it.
                self._next_seq, self._numbered = max(self._next_seq, self._floor()), True
            return False
        self._disk = disk
        self._next_seq, self._numbered = max(self._next_seq, next_seq), True
        self.dropped = max(self.dropped, dropped)
        return True

    def _floor(self) -> int:
        return int(self._clock() * 1000)

    def _cannot_write(self, err: BaseException) -> None:
        self._retry_at = self._clock() + self.retry_seconds
        if not self.full:
            self.full = True
            log.error("spool %s takes no writes (%s): readings wait in memory, at most %d "
                      "(the oldest are dropped past that), until the disk has space again; "
                      "free space in %s", self.path, one_line(err), self.memory_max_readings,
                      self.path.parent)

    def _quarantine(self, err: BaseException) -> bool:
        """Move a damaged spool aside, keep what can still be read, start afresh."""
        if self._disk is not None:
            self._disk.close()
            self._disk = None
        rows = salvage(self.path)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            os.replace(self.path, aside)
            wal = Path(f"{self.path}-wal")
            if wal.exists() and wal.stat().st_size:
                os.replace(wal, f"{aside}-wal")  # its frames belong to the damaged file
            wal.unlink(missing_ok=True)
            Path(f"{self.path}-shm").unlink(missing_ok=True)
        except OSError as move_err:
            log.error("spool %s is corrupt (%s) and cannot be moved aside (%s); readings "
                      "wait in memory until it can", self.path, one_line(err), move_err)
            self._cannot_write(move_err)
            return False
        self.corrupt = True
        top = max((r[0] for r in rows), default=0)
        self._next_seq = max(self._next_seq, self._floor(), top + 1)
        self._numbered = True
        self._memory.insert(rows, self._next_seq, self.dropped)
        log.error("spool %s is corrupt (%s): moved it aside to %s for inspection and started "
                  "a fresh spool; kept the %d readings that could still be read",
                  self.path, one_line(err), aside.name, len(rows))
        self.changes += 1
        return self._open_disk(fresh=True) and self._flush_memory()

    def _on_disk(self, op: Callable[[Store], T], default: T) -> T:
        if self._disk is None:
            return default
        try:
            return op(self._disk)
        except _FAULTS as err:
            if is_corrupt(err):
                self._quarantine(err)
            else:
                self._cannot_write(err)
            return default

    def _write(self, rows: list[Row], counters: bool = True) -> bool:
        def write(disk: Store) -> bool:
            disk.insert(rows, self._next_seq, self.dropped if counters else None)
            return True
        return self._on_disk(write, False)

    def _flush_memory(self) -> bool:
        """Move the readings waiting in memory to the disk; False if it refused."""
        rows = self._memory.rows()
        if not self._write(rows):
            return False
        self._memory.clear()
        if self.full:
            self.full = self._overflowing = False
            log.warning("spool %s takes writes again: moved the %d readings waiting in "
                        "memory to it (%d dropped in all)", self.path, len(rows), self.dropped)
        self.changes += 1
        return True

    def maintain(self) -> None:
        """While the disk takes no writes, try it again every ``retry_seconds``."""
        with self._lock:
            if not self.full or self._clock() < self._retry_at:
                return
            self._retry_at = self._clock() + self.retry_seconds
            if self._disk is None and not self._open_disk():
                return
            self._on_disk(lambda d: d.checkpoint(), None)
            self._flush_memory()

    # -- readings ----------------------------------------------------------------

    def append(self, topic: str, encode: Callable[[int], bytes]) -> int:
        """Store one reading; ``encode(seq)`` builds its payload with its sequence number."""
        with self._lock:
            seq = self._next_seq
            row: Row = (seq, topic, encode(seq), self._clock(), None, 0)
            self._next_seq = seq + 1
            if not self.full and self._write([row], counters=False):
                if seq % 1000 == 0:
                    self._enforce_bounds()
                return seq
            self._memory.insert([row], seq + 1)
            if not self.full and self._disk is not None:
                self._flush_memory()  # the failure was a corrupt file, now replaced
            self._bound_memory()
            return seq

    def _bound_memory(self) -> None:
        if self._memory.span() <= self.memory_max_readings:
            return  # cannot be over the bound; spares a scan per reading
        over = self._memory.drop_oldest(self.memory_max_readings)
        if over:
            self.dropped += over
            if not self._overflowing:
                self._overflowing = True
                log.warning("spool: %d readings are waiting in memory, the bound while the "
                            "disk is unwritable; dropping the oldest (%d dropped in all)",
                            self.memory_max_readings, self.dropped)

    def remove(self, seq: int) -> None:
        with self._lock:
            self._on_disk(lambda d: d.remove(seq), None)
            self._memory.remove(seq)

    def after(self, seq: int, limit: int) -> list[tuple[int, str, bytes]]:
        """Up to ``limit`` unsent readings with a sequence number above ``seq``, oldest first."""
        with self._lock:
            none: list[tuple[int, str, bytes]] = []
            rows = self._on_disk(lambda d: d.after(seq, limit), none)
            return sorted(rows + self._memory.after(seq, limit))[:limit]

    def mark_sent(self, seq: int) -> None:
        with self._lock:
            now = self._clock()
            self._on_disk(lambda d: d.mark_sent(seq, now), None)
            self._memory.mark_sent(seq, now)

    def confirm(self, ranges: list[tuple[int, int]]) -> int:
        """Forget sent readings the collector stored; returns how many were here."""
        with self._lock:
            return self._on_disk(lambda d: d.confirm(ranges), 0) + self._memory.confirm(ranges)

    def resend_unconfirmed(self, timeout: float) -> int:
        """Mark sent readings without a receipt for ``timeout`` * 2^(tries-1) s as unsent."""
        with self._lock:
            now = self._clock()
            return (self._on_disk(lambda d: d.resend(now, timeout), 0)
                    + self._memory.resend(now, timeout))

    def unsent(self) -> int:
        """Readings the broker has not acknowledged yet."""
        with self._lock:
            return self._on_disk(lambda d: d.unsent(), 0) + self._memory.unsent()

    def depth(self) -> int:
        with self._lock:
            return self._on_disk(lambda d: d.depth(), 0) + self._memory.depth()

    def in_memory(self) -> int:
        """Readings waiting in memory because the disk takes no writes."""
        with self._lock:
            return self._memory.depth()

    def _enforce_bounds(self) -> None:
        cutoff = self._clock() - self.max_age_seconds
        old, over = self._on_disk(lambda d: d.bound(cutoff, self.max_readings, self.dropped),
                                  (0, 0))
        if old or over:
            self.dropped += old + over
            log.warning("spool bound reached: dropped %d readings older than %.0f days and %d over "
                        "the %d-reading bound (%d dropped in all)", old,
                        self.max_age_seconds / 86400, over, self.max_readings, self.dropped)

    def close(self) -> None:
        with self._lock:
            if self._memory.depth() and self._disk is None:
                self._open_disk()  # space may have returned since the last try
            if self._memory.depth() and not self._flush_memory():
                log.warning("%d readings waiting in memory are lost: spool %s takes no writes",
                            self._memory.depth(), self.path)
            if self._disk is not None:
                self._disk.close()
            self._memory.close()
