"""The agent process under spool faults a gateway meets: a full disk, a damaged
spool file, and receipts it did not earn, against a real Mosquitto.

The disk is a real 1 MiB tmpfs filled to the last byte; the damaged file is a
real spool with pages overwritten; the receipts come from another client with
the collector's rights.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode, encode_receipt
from agent.spool import Spool
from tests.services import Mosquitto, wait_for
from tests.support import Listener

pytestmark = pytest.mark.integration

SCHOOL = Identity("37", "3701", "370102", "spool-1")
PROBES = """
[probes.wan_link]
interval = 1
interface = "lo"
sample_seconds = 0.1
"""


def write_config(tmp: Path, port: int, state: Path, probes: str = PROBES,
                 username: str = "") -> Path:
    path = tmp / "agent.toml"
    path.write_text(f"""
[school]
id = "{SCHOOL.school_id}"
province = "37"
city = "3701"
county = "370102"
[mqtt]
host = "127.0.0.1"
port = {port}
tls = false
username = "{username}"
[agent]
state_dir = "{state}"
heartbeat_interval = 10
spool_memory_max_readings = 1000
{probes}
""", encoding="utf-8")
    return path


class Agent:
    """``schoolnet-agent -v run`` as a process, its log in a file."""

    def __init__(self, config: Path) -> None:
        self.log = config.parent / "agent.log"
        self.start_at = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent.cli", "-v", "run", "-c", str(config)],
                stdout=subprocess.DEVNULL, stderr=out)

    def text(self) -> str:
        return self.log.read_bytes()[self.start_at:].decode(errors="replace")

    def wait_log(self, words: str, count: int = 1, timeout: float = 30) -> None:
        wait_for(lambda: self.text().count(words) >= count or self.proc.poll() is not None,
                 timeout, f"agent log: {words!r}")
        assert self.proc.poll() is None, f"agent exited {self.proc.returncode}:\n" \
            + self.text()[-3000:]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = -9
        assert code == 0, f"agent exit {code}:\n{self.text()[-3000:]}"
        assert "Traceback" not in self.text(), self.text()[-3000:]


def health(listener: Listener) -> list[dict[str, Any]]:
    """The agent's own health readings (not the numbered ones a test spooled)."""
    return [m["fields"] for m in listener.json()
            if m.get("measurement") == "agent" and "spool_full" in m["fields"]]


def seqs(listener: Listener) -> set[int]:
    return {m["seq"] for m in listener.json() if "seq" in m}


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


def rows(path: Path) -> list[tuple[int, int]]:
    """(seq, tries) of every reading in a spool file."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT seq, tries FROM spool ORDER BY seq").fetchall()


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


ACL = """user school-a
topic write schoolnet/v1/37/3701/370102/spool-1/#
topic read schoolnet/receipts/v1/37/3701/370102/spool-1

user collector
topic readwrite #
"""


def collector_client(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="forger",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set("collector")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_retained_and_forged_receipts_delete_no_unsent_reading(tmp_path: Path) -> None:
    (tmp_path / "acl").write_text(ACL)
    # Mosquitto 2.0.11 with max_queued_messages 0 (the helper's default) drops
    # the connection of a client whose publish the ACL denies, instead of
    # sending the PUBACK that says so; a bound keeps the connection up.
    broker = Mosquitto(tmp_path / "broker",
                       f"acl_file {tmp_path / 'acl'}\nmax_queued_messages 100000")
    broker.start()
    forger = collector_client(broker.port)
    try:
        # A receipt for everything, retained: before the fix, every connect deleted the spool.
        forger.publish(SCHOOL.receipt_topic, encode_receipt(list(range(1, 5001))), qos=1,
                       retain=True).wait_for_publish(10)
        state = tmp_path / "state"
        spool = Spool(state / "spool.sqlite3")
        other = Identity("37", "3701", "370102", "spool-2")  # the ACL refuses these
        for n in range(200):
            owner = other if n % 2 == 0 else SCHOOL  # odd seqs: another school's
            reading = Reading("agent", {"published": n, "result": "ok"}, {}, 10**18 + n)
            spool.append(owner.topic("agent"),
                         lambda seq, o=owner, r=reading: encode(o, r, seq))
        spool.close()
        config = write_config(tmp_path, broker.port, state, probes="", username="school-a")
        agent = Agent(config)
        try:
            agent.wait_log("broker rejected reading seq", count=100)
            agent.wait_log("ignoring a retained receipt")
            # Live, not retained, from a client with the collector's rights, for
            # the readings the broker refused (never sent) and more to come.
            unsent = list(range(1, 201, 2))
            forger.publish(SCHOOL.receipt_topic, encode_receipt(
                unsent + list(range(202, 5001)), {"field_type": unsent}), qos=1
            ).wait_for_publish(10)
            agent.wait_log("receipt: 0 of the readings it names were sent")
        finally:
            agent.stop()
        # Again: the sent half now has tries > 0, and the retained receipt comes
        # back on this connect; it must not delete them either.
        agent = Agent(config)
        try:
            agent.wait_log("broker rejected reading seq", count=100)
            agent.wait_log("ignoring a retained receipt")
        finally:
            agent.stop()
    finally:
        forger.disconnect()
        forger.loop_stop()
        broker.stop()
    tries = dict(rows(state / "spool.sqlite3"))
    assert set(range(1, 201)) <= set(tries), sorted(set(range(1, 201)) - set(tries))
    # The school's own half was sent (and kept); the refused half never was.
    assert all(tries[s] >= 1 for s in range(2, 201, 2)), tries
    assert all(tries[s] == 0 for s in range(1, 201, 2)), tries


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
