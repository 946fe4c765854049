"""The spool keeps readings across restarts and kill -9, counts what its bounds drop,
and treats a disk that takes no writes and a damaged file as conditions, not crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.spool import Spool
from tests.simclock import SimClock


def test_sequence_rises_across_restarts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    seqs = [spool.append("t", lambda s: str(s).encode()) for _ in range(3)]
    for seq in seqs:
        spool.remove(seq)  # all delivered: the table is empty
    spool.close()
    spool = Spool(tmp_path / "s.db")
    assert spool.append("t", lambda s: b"x") == seqs[-1] + 1
    assert [row[0] for row in spool.after(0, 10)] == [seqs[-1] + 1]


def test_oldest_dropped_and_counted_past_the_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_readings=500)
    for _ in range(2000):
        spool.append("t", lambda s: b"x")
    assert spool.depth() == 500
    assert spool.dropped == 1500
    assert spool.after(0, 1)[0][0] == 1501  # the newest are kept
    spool.close()
    assert Spool(tmp_path / "s.db").dropped == 1500


def test_old_readings_expire(tmp_path: Path) -> None:
    clock = SimClock()
    spool = Spool(tmp_path / "s.db", max_age_seconds=86400, clock=clock)
    spool.append("t", lambda s: b"old")
    clock.advance(86400.5)
    for _ in range(999):
        spool.append("t", lambda s: b"new")
    assert spool.dropped == 1 and spool.depth() == 999
    assert spool.after(0, 1)[0][2] == b"new"


WRITER = """
import sys
from pathlib import Path
from agent.spool import Spool
from tests.simclock import SimClock
spool = Spool(Path(sys.argv[1]))
n = 0
while True:
    spool.append("t", lambda s: b"payload")
    n += 1
    if n == 200:
        print("ready", flush=True)
"""


@pytest.mark.integration
def test_survives_kill_9_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    spool = Spool(path)
    rows = spool.after(0, 10**9)
    seqs = [row[0] for row in rows]
    assert len(seqs) >= 200
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no torn row
    assert all(row[2] == b"payload" for row in rows)
    assert spool.append("t", lambda s: b"x") == seqs[-1] + 1


def test_sent_readings_wait_for_a_receipt_and_are_resent_with_backoff(tmp_path: Path) -> None:
    clock = SimClock()
    spool = Spool(tmp_path / "s.db", clock=clock)
    seqs = [spool.append("t", lambda s: b"x") for _ in range(5)]
    for seq in seqs:
        spool.mark_sent(seq)
    assert spool.after(0, 10) == [] and spool.depth() == 5  # acked by the broker, kept
    assert spool.confirm([(1, 2), (4, 4)]) == 3
    assert spool.depth() == 2
    clock.advance(0.25)
    assert spool.resend_unconfirmed(0.2) == 2  # no receipt within 0.2 s: send again
    assert [row[0] for row in spool.after(0, 10)] == [3, 5]
    spool.mark_sent(3)  # second try: the wait doubles to 0.4 s
    clock.advance(0.25)
    assert spool.resend_unconfirmed(0.2) == 0
    clock.advance(0.2)
    assert spool.resend_unconfirmed(0.2) == 1


def test_a_receipt_deletes_only_readings_the_broker_acked(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    seqs = [spool.append("t", lambda s: b"x") for _ in range(10)]
    for seq in seqs[:4]:
        spool.mark_sent(seq)
    # A forged or replayed receipt for everything: only the four sent go.
    assert spool.confirm([(1, 10**9)]) == 4
    assert [row[0] for row in spool.after(0, 100)] == seqs[4:]
    spool.close()
    spool = Spool(tmp_path / "s.db")  # "sent" is stored: a later run honours it
    spool.mark_sent(seqs[4])
    spool.close()
    spool = Spool(tmp_path / "s.db")
    assert spool.confirm([(seqs[4], seqs[5])]) == 1 and spool.depth() == 5


def test_unwritable_state_dir_keeps_readings_in_memory_bounded_then_moves_them(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = SimClock()
    blocker = tmp_path / "state"
    blocker.write_bytes(b"")  # a file where the directory should be: nothing can be written
    spool = Spool(blocker / "spool.sqlite3", memory_max_readings=100, retry_seconds=5,
                  clock=clock)
    assert spool.full and not spool.corrupt
    seqs = [spool.append("t", lambda s: str(s).encode()) for _ in range(150)]
    assert seqs == list(range(seqs[0], seqs[0] + 150))
    assert seqs[0] >= int(clock() * 1000)  # numbering unknown: starts above any used
    assert spool.in_memory() == spool.depth() == 100 and spool.dropped == 50
    assert [row[0] for row in spool.after(0, 1)] == [seqs[50]]  # the oldest were dropped
    spool.mark_sent(seqs[50])
    assert spool.confirm([(seqs[50], seqs[50])]) == 1  # sent from memory, receipted
    lines = [r.getMessage() for r in caplog.records if r.name == "agent.spool"]
    assert len([m for m in lines if "takes no writes" in m and "free space in" in m]) == 1, lines
    assert len([m for m in lines if "dropping the oldest" in m]) == 1, lines
    blocker.unlink()
    blocker.mkdir()  # space returns
    spool.maintain()
    assert spool.full  # not before retry_seconds
    clock.advance(5)
    spool.maintain()
    assert not spool.full and spool.in_memory() == 0 and spool.depth() == 99
    spool.close()
    spool = Spool(blocker / "spool.sqlite3")
    assert spool.depth() == 99 and spool.dropped == 50
    assert spool.append("t", lambda s: b"x") == seqs[-1] + 1


def test_a_garbage_spool_is_moved_aside_and_a_fresh_one_starts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "spool.sqlite3"
    garbage = os.urandom(50_000)
    path.write_bytes(garbage)
    clock = SimClock()
    spool = Spool(path, clock=clock)
    assert spool.corrupt and not spool.full
    aside = list(tmp_path.glob("spool.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    seq = spool.append("t", lambda s: b"x")
    assert seq >= int(clock() * 1000) and spool.depth() == 1
    spool.close()
    assert Spool(path).depth() == 1  # the fresh spool is on disk
    assert any("is corrupt" in r.getMessage() and "moved it aside" in r.getMessage()
               for r in caplog.records)


def damage(path: Path, pages: list[int], page_size: int = 4096) -> None:
    with path.open("r+b") as f:
        for page in pages:
            f.seek(page * page_size)
            f.write(os.urandom(page_size))


def test_damaged_pages_are_found_at_open_and_readable_rows_kept(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path)
    for _ in range(3000):
        spool.append("schoolnet/v1/t", lambda s: b"x" * 100)
    spool.close()  # checkpoints the WAL into the file
    damage(path, [30, 60, 90])
    spool = Spool(path)
    assert spool.corrupt
    kept = spool.depth()
    assert 2500 < kept < 3000  # all but the damaged pages (and a little past each)
    assert [row[0] for row in spool.after(0, 3)] == [1, 2, 3]
    assert spool.append("t", lambda s: b"x") > 3000
    spool.close()
    assert len(list(tmp_path.glob("spool.sqlite3.corrupt-*"))) == 1
    assert Spool(path).depth() == kept + 1


def test_damage_met_after_open_is_handled_by_the_call_that_meets_it(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path)
    for _ in range(12_000):  # more pages than SQLite's page cache keeps
        spool.append("schoolnet/v1/t", lambda s: b"x" * 300)
    spool.close()
    spool = Spool(path)
    assert not spool.corrupt
    damage(path, [5, 10, 15])  # pages the open's check read and the cache has since let go
    spool.mark_sent(12_000)
    spool.depth()  # counting reads every page and meets the damage: no exception
    assert spool.corrupt and spool.depth() > 11_000
    assert [row[0] for row in spool.after(0, 3)] == [1, 2, 3]
    assert spool.append("t", lambda s: b"x") > 12_000
    spool.close()
