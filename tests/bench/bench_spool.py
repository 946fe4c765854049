"""What the spool's fault handling costs, against plain SQLite in the same run.

    python -m tests.bench.bench_spool [N]

- append: ``Spool.append`` on disk, and in memory (the full-disk fallback),
  against the same INSERT + counter UPDATE in one transaction on a bare
  sqlite3 connection with the same pragmas (the reference).
- open: opening an N-row spool (``quick_check`` reads every page, to find a
  damaged file at start) against a bare connection's ``COUNT(*)``.
- corrupt: opening an N-row spool with three damaged pages (move aside,
  salvage, fresh spool) against the clean open.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from agent.spool import Spool

PAYLOAD = b'{"v":1,"school_id":"370102-0001","measurement":"wan_link","fields":{}}' * 3


def bare_appends(path: Path, n: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE spool (seq INTEGER PRIMARY KEY, topic TEXT, payload BLOB, "
               "created REAL, sent REAL, tries INTEGER)")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER)")
    start = time.perf_counter()
    for seq in range(1, n + 1):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO spool VALUES (?, 't', ?, ?, NULL, 0)",
                   (seq, PAYLOAD, time.time()))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('next_seq', ?)", (seq + 1,))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def spool_appends(spool: Spool, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        spool.append("t", lambda s: PAYLOAD)
    return time.perf_counter() - start


def timed_open(path: Path) -> tuple[float, Spool]:
    start = time.perf_counter()
    spool = Spool(path)
    return time.perf_counter() - start, spool


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Best of three, interleaved: the machine is shared, so one slow pass
        # must not decide a ratio.
        ref = on_disk = in_memory = float("inf")
        for rep in range(3):
            ref = min(ref, bare_appends(root / f"bare{rep}.db", n))
            disk = Spool(root / f"spool{rep}.sqlite3", max_readings=10 * n)
            on_disk = min(on_disk, spool_appends(disk, n))
            disk.close()
            blocked = root / f"blocked{rep}"
            blocked.write_bytes(b"")  # a file where the state dir should be: no disk
            memory = Spool(blocked / "spool.sqlite3", memory_max_readings=n)
            in_memory = min(in_memory, spool_appends(memory, n))
            memory.close()
        print(f"append, {n} readings (readings/s, best of 3; ratio to bare sqlite3)")
        for name, seconds in (("bare sqlite3 (reference)", ref), ("Spool on disk", on_disk),
                              ("Spool in memory (disk full)", in_memory)):
            print(f"  {name:30} {n / seconds:>10,.0f}/s  {ref / seconds:5.2f}x")

        start = time.perf_counter()
        db = sqlite3.connect(root / "bare0.db")
        db.execute("SELECT COUNT(*) FROM spool").fetchone()
        db.close()
        count_ref = time.perf_counter() - start
        clean, spool = timed_open(root / "spool0.sqlite3")
        spool.close()
        with (root / "spool0.sqlite3").open("r+b") as f:
            for page in (n // 100, n // 50, n // 25):
                f.seek(page * 4096)
                f.write(os.urandom(4096))
        damaged, spool = timed_open(root / "spool0.sqlite3")
        kept = spool.depth()
        spool.close()
        print(f"open, {n}-row spool (ms; ratio to a bare COUNT(*) in this run)")
        for name, seconds in (("bare COUNT(*) (reference)", count_ref),
                              ("Spool open + quick_check", clean),
                              ("Spool open, 3 damaged pages", damaged)):
            print(f"  {name:30} {seconds * 1000:>10.1f} ms  {seconds / count_ref:6.1f}x")
        print(f"  damaged spool: {kept} of {n} readings kept")


if __name__ == "__main__":
    main()
