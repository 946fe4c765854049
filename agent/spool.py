"""The agent's disk spool: every reading is kept here until it is safe.

Safe means stored: the collector's receipt says the database holds it (a
broker that crashes loses what it had acknowledged but not yet delivered,
so the broker's PUBACK alone is not enough). Readings the broker acked are
marked sent; if no receipt follows within a timeout they are sent again,
with the wait doubling each time so an outage is not flooded with copies.

SQLite in WAL mode survives a ``kill -9`` and a power cut on a router's flash
(a torn write rolls back to the last committed transaction). The spool also
hands out the per-agent sequence numbers, so they keep rising across restarts.
Bounded by count and age: past either, the oldest readings are dropped,
counted and logged, because an unbounded spool would fill a router's disk.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    sent REAL,                          -- when the broker acked it; NULL: not yet
    tries INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Spool:
    def __init__(self, path: Path, max_readings: int = 200_000,
                 max_age_seconds: float = 30 * 86400, *,
                 clock: Callable[[], float] = time.time) -> None:
        # Wall-clock time, as it is stored and must mean the same after a
        # reboot; a seam so tests check expiry and backoff without sleeping.
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL loses nothing on a process crash; on power loss at most the
        # last transaction, and it spares the router's flash an fsync per reading.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.max_readings = max_readings
        self.max_age_seconds = max_age_seconds
        self._next_seq = self._meta("next_seq") or 1 + (self._db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM spool").fetchone()[0])
        self.dropped = self._meta("dropped")

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def append(self, topic: str, encode: Callable[[int], bytes]) -> int:
        """Store one reading; ``encode(seq)`` builds its payload with its sequence number."""
        with self._lock:
            seq = self._next_seq
            payload = encode(seq)
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute("INSERT INTO spool (seq, topic, payload, created) "
                                 "VALUES (?, ?, ?, ?)", (seq, topic, payload, self._clock()))
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('next_seq', ?)",
                                 (seq + 1,))
            self._next_seq = seq + 1
            if seq % 1000 == 0:
                self._enforce_bounds()
            return seq

    def remove(self, seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM spool WHERE seq = ?", (seq,))

    def after(self, seq: int, limit: int) -> list[tuple[int, str, bytes]]:
        """Up to ``limit`` unsent readings with a sequence number above ``seq``, oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT seq, topic, payload FROM spool WHERE seq > ? AND sent IS NULL "
                "ORDER BY seq LIMIT ?", (seq, limit)).fetchall()

    def mark_sent(self, seq: int) -> None:
        with self._lock:
            self._db.execute("UPDATE spool SET sent = ?, tries = tries + 1 WHERE seq = ?",
                             (self._clock(), seq))

    def confirm(self, ranges: list[tuple[int, int]]) -> int:
        """Forget readings the collector stored; returns how many were still here."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            return sum(self._db.execute("DELETE FROM spool WHERE seq BETWEEN ? AND ?",
                                        r).rowcount for r in ranges)

    def resend_unconfirmed(self, timeout: float) -> int:
        """Mark sent readings without a receipt for ``timeout`` * 2^(tries-1) s as unsent."""
        with self._lock:
            return self._db.execute(
                "UPDATE spool SET sent = NULL WHERE sent IS NOT NULL AND "
                "sent < ? - ? * (1 << MIN(MAX(tries - 1, 0), 8))",
                (self._clock(), timeout)).rowcount

    def unsent(self) -> int:
        """Readings the broker has not acknowledged yet."""
        with self._lock:
            return int(self._db.execute(
                "SELECT COUNT(*) FROM spool WHERE sent IS NULL").fetchone()[0])

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def _enforce_bounds(self) -> None:
        cutoff = self._clock() - self.max_age_seconds
        with self._db:
            self._db.execute("BEGIN")
            old = self._db.execute("DELETE FROM spool WHERE created < ?", (cutoff,)).rowcount
            over = self._db.execute(
                "DELETE FROM spool WHERE seq <= (SELECT MAX(seq) FROM spool) - ?",
                (self.max_readings,)).rowcount
            if old or over:
                self.dropped += old + over
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('dropped', ?)",
                                 (self.dropped,))
        if old or over:
            log.warning("spool full: dropped %d readings older than %.0f days and %d over "
                        "the %d-reading bound (%d dropped in all)", old,
                        self.max_age_seconds / 86400, over, self.max_readings, self.dropped)

    def close(self) -> None:
        with self._lock:
            self._db.close()
