"""The collector's store-then-ack pipeline against a real influxd.

Acks are counted directly: a message is acked exactly when it is stored or
rejected for good, never while the database is down.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from agent.contract.configschema import build
from agent.contract.reading import Reading
from agent.contract.wire import MAX_PAYLOAD_BYTES, Identity, encode
from collector.config import Storage
from collector.ingest.pipeline import Pipeline, Why
from collector.ingest.transport import Message
from collector.ingest.validate import Validator
from collector.ingest.writer import InfluxV1Writer
from tests.services import Influxd, wait_for

# Integration tier: a real influxd.
pytestmark = pytest.mark.integration

ID = Identity("37", "3701", "370102", "pipe-1")


def storage(url: str, db: str) -> Storage:
    return build(Storage, {"kind": "influxdb1", "url": url, "database": db,
                           "timeout_seconds": 5.0})


def message(seq: int, fields: dict[str, float | str], ts: int) -> Message:
    reading = Reading("classroom_link", fields, {"classroom": f"c{seq % 7}"}, ts)
    return Message(ID.topic("classroom_link"), encode(ID, reading, seq), mid=seq)


class Recorder:
    def __init__(self) -> None:
        self.acked: list[int] = []
        self.dead: list[tuple[int, str]] = []

    def ack(self, messages: list[Message]) -> None:
        self.acked.extend(m.mid for m in messages)

    def dead_letter(self, m: Message, reason: str, detail: str) -> None:
        self.dead.append((m.mid, reason))


def pipeline(url: str, db: str, rec: Recorder) -> Pipeline:
    return Pipeline(Validator(MAX_PAYLOAD_BYTES, 300 * 10**9, 35 * 86400 * 10**9),
                    InfluxV1Writer(storage(url, db)), rec.ack, rec.dead_letter,
                    max_backoff=0.5)


def poison(influxd: Influxd, database: str, field: str, ts: int) -> None:
    """A field stored as a string before the schema existed: the database now
    refuses that field as a number, whoever sends it."""
    InfluxV1Writer(storage(influxd.url, database)).write(
        [f'classroom_link,school=old {field}="x" {ts}'])


def test_refused_line_is_isolated_and_not_receipted(influxd: Influxd, database: str) -> None:
    rec = Recorder()
    receipts: list[list[int]] = []
    base = time.time_ns() - 10**11
    poison(influxd, database, "rx_bps", base)
    batch = [message(i, {"link_speed_mbps": 100.0}, base + i) for i in range(64)]
    batch[37] = message(37, {"link_speed_mbps": 100.0, "rx_bps": 5.0}, base + 37)
    pipe = Pipeline(Validator(MAX_PAYLOAD_BYTES, 300 * 10**9, 35 * 86400 * 10**9),
                    InfluxV1Writer(storage(influxd.url, database)), rec.ack, rec.dead_letter,
                    receipt=lambda stored, *_: receipts.extend(stored.values()))
    pipe.process(batch)
    assert rec.dead == [(37, "db_refused")]
    assert sorted(rec.acked) == list(range(64))
    # Not stored, so not receipted: the agent resends it.
    assert sorted(s for r in receipts for s in r) == [i for i in range(64) if i != 37]
    assert pipe.stats.by_school[(ID.school_id, "db_refused")] == 1
    rows = influxd.rows("SELECT count(link_speed_mbps) FROM classroom_link", database)
    assert rows[0]["count"] == 63


def test_bisection_of_a_refused_batch_is_bounded(influxd: Influxd, database: str) -> None:
    rec = Recorder()
    base = time.time_ns() - 10**11
    poison(influxd, database, "tx_bps", base)
    bad = {3, 20, 41, 60}
    batch = [message(i, {"link_speed_mbps": 100.0, **({"tx_bps": 1.0} if i in bad else {})},
                     base + i) for i in range(64)]
    pipe = Pipeline(Validator(MAX_PAYLOAD_BYTES, 300 * 10**9, 35 * 86400 * 10**9),
                    InfluxV1Writer(storage(influxd.url, database)), rec.ack, rec.dead_letter,
                    max_backoff=0.1, max_splits=4)
    pipe.process(batch)
    # Each pass spends at most 4 splits, then holds the rest and retries.
    assert pipe.stats.held >= 1
    assert pipe.stats.splits <= 4 * (pipe.stats.held + 1)
    assert sorted(mid for mid, _ in rec.dead) == sorted(bad)
    assert sorted(rec.acked) == list(range(64))
    rows = influxd.rows("SELECT count(link_speed_mbps) FROM classroom_link", database)
    assert rows[0]["count"] == 60


def test_database_outage_holds_acks_until_stored(tmp_path: Path) -> None:
    db = Influxd(tmp_path / "influxd")
    db.start(timeout=60)
    db.create_db("outage")
    rec = Recorder()
    pipe = pipeline(db.url, "outage", rec)
    base = time.time_ns() - 10**11
    db.stop()
    batch = [message(i, {"link_speed_mbps": 1000.0}, base + i) for i in range(500)]
    worker = threading.Thread(target=pipe.process, args=(batch, threading.Event()))
    worker.start()
    time.sleep(3)
    assert rec.acked == []  # nothing acked while the database is down
    assert pipe.stats.write_failures >= 2
    db.start(timeout=60)
    worker.join(30)
    assert not worker.is_alive()
    assert sorted(rec.acked) == list(range(500)) and rec.dead == []
    rows = wait_for(lambda: db.rows("SELECT count(link_speed_mbps) FROM classroom_link",
                                    "outage"), 10, "rows")
    assert rows[0]["count"] == 500
    # Redelivery after a crash writes the same points again: they overwrite themselves.
    pipe.process(batch[:100])
    rows = db.rows("SELECT count(link_speed_mbps) FROM classroom_link", "outage")
    assert rows[0]["count"] == 500
    db.stop()


def test_readings_refused_for_their_time_are_receipted(influxd: Influxd, database: str) -> None:
    """A gateway whose clock is years off must hear that its readings will never
    be stored, or it would resend them until its spool expires them."""
    rec = Recorder()
    receipts: list[tuple[dict[Identity, list[int]], dict[Identity, Why] | None]] = []
    pipe = Pipeline(Validator(MAX_PAYLOAD_BYTES, 300 * 10**9, 35 * 86400 * 10**9),
                    InfluxV1Writer(storage(influxd.url, database)), rec.ack, rec.dead_letter,
                    receipt=lambda stored, refused=None, held=None: receipts.append(
                        (stored, refused)))
    now = time.time_ns()
    pipe.process([message(1, {"link_speed_mbps": 100.0}, now - 10**9),
                  message(2, {"link_speed_mbps": 100.0}, 86400 * 10**9),  # 1970
                  Message(ID.topic("classroom_link"), b"{not json", mid=3)])
    assert rec.dead == [(2, "ts_past"), (3, "not_json")]
    assert sorted(rec.acked) == [1, 2, 3]
    # Stored and refused-for-good apart, the refusal with its reason; the
    # unreadable one has no number to confirm.
    assert receipts == [({ID: [1]}, {ID: {"ts_past": [2]}})]


class Overlapping:
    """The real writer, holding the first write until a second one is stored (so
    the later batch is confirmed first), and counting what the database confirmed
    (to check no ack runs ahead of it)."""

    def __init__(self, inner: InfluxV1Writer) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.in_flight = self.peak = self.confirmed = self.calls = 0
        self.second_stored = threading.Event()

    def write(self, lines: list[str]) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            first = self.calls == 0
            self.calls += 1
        if first:
            # With one write thread no second write starts: this waits it out.
            self.second_stored.wait(5)
        try:
            self.inner.write(lines)
            with self.lock:
                self.confirmed += len(lines)
        finally:
            with self.lock:
                self.in_flight -= 1
            if not first:
                self.second_stored.set()

    def close(self) -> None:
        self.inner.close()


def test_two_writes_in_flight_ack_only_what_is_stored(influxd: Influxd, database: str) -> None:
    writer = Overlapping(InfluxV1Writer(storage(influxd.url, database)))
    acked: list[int] = []
    ahead: list[int] = []  # acks counted past what the database had confirmed

    def ack(messages: list[Message]) -> None:
        with writer.lock:
            acked.extend(m.mid for m in messages)
            if len(acked) > writer.confirmed:
                ahead.append(len(acked) - writer.confirmed)

    pipe = Pipeline(Validator(MAX_PAYLOAD_BYTES, 300 * 10**9, 35 * 86400 * 10**9),
                    writer, ack, lambda *_: None)
    base = time.time_ns() - 10**11
    pipe.submit([message(i, {"link_speed_mbps": 1000.0}, base + i) for i in range(30)])
    stop = threading.Event()
    worker = threading.Thread(target=pipe.run, args=(stop, 10))  # batches of 10
    worker.start()
    try:
        wait_for(lambda: len(acked) == 30, 20, "every reading acked")
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
    assert writer.peak == 2  # the second batch was written while the first was
    # In the order the messages came, though the second batch was stored first.
    assert ahead == [] and acked == list(range(30))
    rows = influxd.rows("SELECT count(link_speed_mbps) FROM classroom_link", database)
    assert rows[0]["count"] == 30
