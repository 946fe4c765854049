"""The spool keeps readings across restarts and kill -9, and counts what its bounds drop."""

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
