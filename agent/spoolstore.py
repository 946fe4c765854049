"""One SQLite spool database, on disk or in memory: the spool's SQL and nothing else.

Every method may raise ``sqlite3.Error`` (or ``OSError``); the spool decides
what a failure means (a full disk, a corrupt file). A failed write rolls back
whole, so a reading is either stored with its sequence number or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    sent REAL,                          -- when the broker acked it; NULL: not yet
    tries INTEGER NOT NULL DEFAULT 0    -- broker acks so far; 0: never sent
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
MEMORY = ":memory:"
# seq, topic, payload, created, sent, tries
Row = tuple[int, str, bytes, float, float | None, int]


class CorruptError(Exception):
    """The file opened but SQLite's own check found it damaged."""


def salvage(path: Path) -> list[Row]:
    """Every well-formed row a damaged spool still yields.

    A damaged page ends a scan, so the scan starts again past it, leaping
    ahead in doubling steps until a read succeeds (or nothing is left).
    """
    got: list[Row] = []
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return got
    last, step = 0, 1
    try:
        while step < 2**62:
            try:
                for row in db.execute("SELECT seq, topic, payload, created, sent, tries "
                                      "FROM spool WHERE seq > ? ORDER BY seq", (last,)):
                    if _well_formed(row):
                        got.append(row)
                        last, step = row[0], 1
                return got
            except sqlite3.Error:
                last, step = last + step, step * 2
        return got
    finally:
        db.close()


def _well_formed(row: tuple[object, ...]) -> bool:
    seq, topic, payload, created, sent, tries = row
    return (isinstance(seq, int) and seq > 0 and isinstance(topic, str)
            and isinstance(payload, bytes) and isinstance(created, (int, float))
            and (sent is None or isinstance(sent, (int, float))) and isinstance(tries, int))


class Store:
    def __init__(self, target: str, *, check: bool = False) -> None:
        self.db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        try:
            if target != MEMORY:
                self.db.execute("PRAGMA journal_mode=WAL")
                # NORMAL loses nothing on a process crash; on power loss at most the
                # last transaction, and it spares the router's flash an fsync per reading.
                self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            if check:
                # Reads every page once: damage found now is handled at start,
                # not by whichever thread happens to touch the page later.
                verdict = self.db.execute("PRAGMA quick_check(1)").fetchone()[0]
                if verdict != "ok":
                    raise CorruptError(f"quick_check: {verdict}")
        except BaseException:
            self.close()
            raise

    @contextmanager
    def _tx(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            # A COMMIT that failed on a full disk leaves the transaction open.
            if self.db.in_transaction:
                with suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise

    def checkpoint(self) -> None:
        """Copy the WAL into the file and truncate it: on a full disk the WAL
        may be what holds the space."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def meta(self, key: str) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def span(self) -> int:
        """Highest seq - lowest + 1: never below the row count, and cheap."""
        low, high = self.db.execute(  # one aggregate each: both use the key
            "SELECT (SELECT MIN(seq) FROM spool), (SELECT MAX(seq) FROM spool)").fetchone()
        return 0 if low is None else int(high) - int(low) + 1

    def max_seq(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM spool").fetchone()[0])

    def insert(self, rows: list[Row], next_seq: int, dropped: int | None = None) -> None:
        """Store rows and the counters in one transaction: all or nothing."""
        with self._tx():
            self.db.executemany("INSERT OR REPLACE INTO spool VALUES (?, ?, ?, ?, ?, ?)", rows)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('next_seq', ?)", (next_seq,))
            if dropped is not None:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('dropped', ?)",
                                (dropped,))

    def rows(self) -> list[Row]:
        return self.db.execute("SELECT * FROM spool ORDER BY seq").fetchall()

    def clear(self) -> None:
        self.db.execute("DELETE FROM spool")

    def remove(self, seq: int) -> None:
        self.db.execute("DELETE FROM spool WHERE seq = ?", (seq,))

    def after(self, seq: int, limit: int) -> list[tuple[int, str, bytes]]:
        return self.db.execute(
            "SELECT seq, topic, payload FROM spool WHERE seq > ? AND sent IS NULL "
            "ORDER BY seq LIMIT ?", (seq, limit)).fetchall()

    def mark_sent(self, seq: int, now: float) -> None:
        self.db.execute("UPDATE spool SET sent = ?, tries = tries + 1 WHERE seq = ?",
                        (now, seq))

    def confirm(self, ranges: list[tuple[int, int]]) -> int:
        # Only readings the broker acked at least once (on this connection or
        # an earlier one: tries is stored): a receipt for a reading never sent
        # is forged or replayed, and must not delete it.
        with self._tx():
            return sum(self.db.execute("DELETE FROM spool WHERE seq BETWEEN ? AND ? "
                                       "AND tries > 0", r).rowcount for r in ranges)

    def resend(self, now: float, timeout: float) -> int:
        return self.db.execute(
            "UPDATE spool SET sent = NULL WHERE sent IS NOT NULL AND "
            "sent < ? - ? * (1 << MIN(MAX(tries - 1, 0), 8))", (now, timeout)).rowcount

    def unsent(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM spool WHERE sent IS NULL")
                   .fetchone()[0])

    def depth(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def bound(self, cutoff: float, max_readings: int, dropped: int) -> tuple[int, int]:
        """Drop readings created before ``cutoff`` and all but the newest
        ``max_readings``; returns how many of each."""
        with self._tx():
            old = self.db.execute("DELETE FROM spool WHERE created < ?", (cutoff,)).rowcount
            over = self.drop_oldest(max_readings)
            if old or over:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('dropped', ?)",
                                (dropped + old + over,))
        return old, over

    def drop_oldest(self, keep: int) -> int:
        """Keep the newest ``keep`` readings. By count, not by seq distance:
        numbering jumps ahead after a corrupt spool was replaced."""
        return self.db.execute(
            "DELETE FROM spool WHERE seq < (SELECT seq FROM spool ORDER BY seq DESC "
            "LIMIT 1 OFFSET ?)", (keep - 1,)).rowcount

    def close(self) -> None:
        with suppress(sqlite3.Error):
            self.db.close()
