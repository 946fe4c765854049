"""The agent process under spool faults a gateway meets, a full disk and a
damaged spool file, against a real Mosquitto.

The disk is a real 1 MiB tmpfs filled to the last byte; the damaged file is a
real spool with pages overwritten (unearned receipts: test_receipts_unearned).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import encode
from agent.spool import Spool
from tests.agent_process import SCHOOL, Agent, health, rows, seqs, write_config
from tests.services import Mosquitto, wait_for
from tests.support import Listener

pytestmark = pytest.mark.integration


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, as a router's state partition that has filled up."""
    mount = tmp_path / "state"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
                   check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write zeros until the filesystem refuses another byte."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


def test_full_disk_agent_runs_from_memory_and_drains_when_space_returns(
        tmp_path: Path, tiny_disk: Path, broker: Mosquitto) -> None:
    filler = fill(tiny_disk)
    listener = Listener(broker.port, SCHOOL.prefix + "/#")
    agent = Agent(write_config(tmp_path, broker.port, tiny_disk))
    try:
        agent.wait_log("takes no writes")
        # It runs, keeps publishing, and says why in its own health reading.
        full = wait_for(lambda: [h for h in health(listener)
                                 if h["spool_full"] and h["spool_memory"] >= 5], 30,
                        "a health reading with spool_full and readings in memory")[0]
        assert full["result"] == "ok" and full["spool_dropped"] == 0
        assert len(seqs(listener)) >= 10  # probe readings, sent from memory
        assert not (tiny_disk / "spool.sqlite3").exists() \
            or (tiny_disk / "spool.sqlite3").stat().st_size == 0
        filler.unlink()  # space returns
        agent.wait_log("takes writes again: moved the")
        wait_for(lambda: [h for h in health(listener) if not h["spool_full"]], 30,
                 "a health reading after space returned")
        after = next(h for h in health(listener) if not h["spool_full"])
        assert after["spool_memory"] == 0 and after["spool_dropped"] == 0
    finally:
        agent.stop()
        listener.close()
    text = agent.text()
    assert text.count("takes no writes") == 1, text[-3000:]  # one clear line, not a flood
    assert "free space in " + str(tiny_disk) in text
    # No collector ran: every reading waits for its receipt, now on the disk,
    # and every reading the broker saw is there (the disk numbering has no gap).
    kept = [seq for seq, _ in rows(tiny_disk / "spool.sqlite3")]
    assert seqs(listener) <= set(kept), sorted(seqs(listener) - set(kept))
    assert kept == list(range(kept[0], kept[0] + len(kept))), kept


def damaged_spool(path: Path) -> bytes:
    spool = Spool(path)
    for n in range(3000):
        reading = Reading("agent", {"published": n, "result": "ok"}, {}, 10**18 + n)
        spool.append(SCHOOL.topic("agent"), lambda seq, r=reading: encode(SCHOOL, r, seq))
    spool.close()
    with path.open("r+b") as f:
        for page in (40, 80, 120):
            f.seek(page * 4096)
            f.write(os.urandom(4096))
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["garbage", "damaged_pages"])
def test_corrupt_spool_is_moved_aside_and_the_agent_keeps_publishing(
        tmp_path: Path, broker: Mosquitto, kind: str) -> None:
    state = tmp_path / "state"
    state.mkdir()
    path = state / "spool.sqlite3"
    if kind == "garbage":
        path.write_bytes(os.urandom(40_000))
        original = path.read_bytes()
    else:
        original = damaged_spool(path)
    listener = Listener(broker.port, SCHOOL.prefix + "/#")
    agent = Agent(write_config(tmp_path, broker.port, state))
    try:
        agent.wait_log("moved it aside to spool.sqlite3.corrupt-")
        wait_for(lambda: [h for h in health(listener) if h["spool_corrupt"]], 30,
                 "a health reading with spool_corrupt")
        wait_for(lambda: len([s for s in seqs(listener) if s > 10**12]) >= 5, 30,
                 "new readings from the fresh spool")
    finally:
        agent.stop()
        listener.close()
    text = agent.text()
    assert text.count("is corrupt") == 1, text[-3000:]
    aside = [p for p in state.glob("spool.sqlite3.corrupt-*") if not p.name.endswith("-wal")]
    assert len(aside) == 1 and aside[0].read_bytes() == original  # kept for inspection
    fresh = [seq for seq, _ in rows(path)]
    assert fresh and min(s for s in fresh if s > 3000) > 10**12  # above any old number
    if kind == "damaged_pages":
        # The readable old readings were kept and sent.
        old = {s for s in seqs(listener) if s <= 3000}
        assert len(old) > 2500, len(old)
        assert "kept the " in text and "readings that could still be read" in text


def test_disk_filling_while_running_costs_nothing_and_every_call_returns(
        tiny_disk: Path) -> None:
    spool = Spool(tiny_disk / "spool.sqlite3", memory_max_readings=5000, retry_seconds=0)
    first = [spool.append("t", lambda s: b"x" * 200) for _ in range(50)]
    for seq in first[:10]:
        spool.mark_sent(seq)
    filler = fill(tiny_disk)
    more = [spool.append("t", lambda s: b"y" * 200) for _ in range(300)]
    assert spool.full and spool.in_memory() > 0
    # What the publisher does while the disk is full: none of it raises.
    for seq in more[:20] + first[10:20]:
        spool.mark_sent(seq)
    assert spool.confirm([(first[0], first[4])]) >= 0
    spool.resend_unconfirmed(60)
    assert len(spool.after(0, 10_000)) >= 300 - 20
    filler.unlink()
    spool.maintain()
    assert not spool.full and spool.in_memory() == 0
    kept = [seq for seq, _ in rows(tiny_disk / "spool.sqlite3")]
    spool.close()
    # Nothing appended was lost; at most the five receipted ones are gone.
    assert set(first[5:] + more) <= set(kept)
    assert spool.dropped == 0
