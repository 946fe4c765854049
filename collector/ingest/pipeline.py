"""Validate → store → acknowledge, in batches, never acking what is not stored.

Messages arrive from the broker unacknowledged. Each batch is validated; a
reject is dead-lettered and acked at once (it will never become valid), good
readings are written together and acked only after the database confirmed
the write, then a receipt tells each agent which of its readings are safe, so
it can forget them (a broker crash can lose what it acked but had not yet
delivered; the agent resends whatever gets no receipt). If the database
refuses a batch's content, the batch is split in halves until the bad line is
isolated, so one bad reading never blocks the
rest. If the database is down, nothing is acked and the same batch is retried
with backoff; the broker keeps the rest queued.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.contract.reading import Reading
from agent.contract.wire import Envelope, Identity, Status, WireError
from collector.errors import BadData, Unavailable
from collector.ingest.lineproto import line
from collector.ingest.transport import Message
from collector.ingest.validate import Refused, Validator
from collector.ingest.writer import Writer

log = logging.getLogger(__name__)


Ack = Callable[[list[Message]], None]
DeadLetter = Callable[[Message, str, str], None]
Receipt = Callable[[Identity, list[int]], None]


@dataclass
class Stats:
    received: int = 0
    stored: int = 0
    statuses: int = 0
    batches: int = 0
    write_failures: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.rejected.items())) or "none"
        return (f"received={self.received} stored={self.stored} statuses={self.statuses} "
                f"rejected={sum(self.rejected.values())} ({reasons}) batches={self.batches} "
                f"write_failures={self.write_failures}")


def to_point(item: Envelope | Status, received_ns: int) -> Reading:
    tags = item.identity.region_tags()
    if isinstance(item, Status):
        # The broker sends the last will when the agent vanishes, long after
        # the will was written, so arrival time is the honest timestamp here.
        fields: dict[str, float | int | bool | str] = {
            "online": item.state == "online", "state": item.state,
            "agent_version": item.agent_version}
        return Reading("agent_status", fields, tags, received_ns)
    reading = item.reading
    return Reading(reading.measurement, {**reading.fields, "seq": item.seq},
                   {**reading.tags, **tags}, reading.ts_ns)


class Pipeline:
    def __init__(self, validator: Validator, writer: Writer, ack: Ack,
                 dead_letter: DeadLetter, max_points: int = 5000,
                 max_delay: float = 0.2, max_backoff: float = 30.0,
                 receipt: Receipt | None = None) -> None:
        self.validator = validator
        self.writer = writer
        self.ack = ack
        self.dead_letter = dead_letter
        self.max_points = max_points
        self.max_delay = max_delay
        self.max_backoff = max_backoff
        self.receipt = receipt
        self.queue: queue.Queue[list[Message]] = queue.Queue()
        self.queued = 0  # messages submitted and not yet taken into a batch
        self._carry: list[Message] = []  # taken from the queue beyond a batch's limit
        self.stats = Stats()
        self._stats_lock = threading.Lock()

    def submit(self, messages: list[Message]) -> None:
        """Called from the MQTT thread for each chunk of messages; never blocks."""
        with self._stats_lock:
            self.queued += len(messages)
        self.queue.put(messages)

    def _reject(self, message: Message, reason: str, detail: str) -> None:
        with self._stats_lock:
            self.stats.rejected[reason] += 1
        log.debug("rejected %s: %s %s", message.topic[:120], reason, detail)
        self.dead_letter(message, reason, detail)
        self.ack([message])

    def process(self, batch: list[Message], stop: threading.Event | None = None) -> None:
        """Validate and store one batch; returns once every message is acked
        (or ``stop`` is set while the database is down)."""
        good: list[tuple[Message, str]] = []
        readings: dict[int, Envelope] = {}  # id(message) -> its decoded reading
        done: set[int] = set()  # id() of messages acked so far
        statuses = 0
        for message in batch:
            try:
                item = self.validator.check(message.topic, message.payload, message.received_ns)
            except WireError as err:
                self._reject(message, err.reason, err.detail)
                if isinstance(err, Refused):
                    # A well-formed reading refused for good (e.g. a gateway
                    # clock years off): the receipt stops endless resending.
                    readings[id(message)] = err.envelope
                    done.add(id(message))
                continue
            if isinstance(item, Envelope):
                readings[id(message)] = item
            statuses += isinstance(item, Status)
            good.append((message, line(to_point(item, message.received_ns))))
        with self._stats_lock:
            self.stats.received += len(batch)
            self.stats.statuses += statuses
        try:
            self._store_all(good, done, stop)
        finally:
            self._send_receipts([e for key, e in readings.items() if key in done])

    def _store_all(self, good: list[tuple[Message, str]], done: set[int],
                   stop: threading.Event | None) -> None:
        backoff = 0.5
        while pending := [item for item in good if id(item[0]) not in done]:
            try:
                self._store(pending, done)
            except Unavailable as err:
                with self._stats_lock:
                    self.stats.write_failures += 1
                log.warning("database unavailable (%s); holding %d readings, retry in %.1f s",
                            err, len(pending), backoff)
                if stop is not None and stop.wait(backoff):
                    return  # unacked: the broker redelivers them to the next run
                if stop is None:
                    time.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _send_receipts(self, stored: list[Envelope]) -> None:
        if self.receipt is None or not stored:
            return
        by_school: dict[Identity, list[int]] = {}
        for envelope in stored:
            by_school.setdefault(envelope.identity, []).append(envelope.seq)
        for identity, seqs in by_school.items():
            self.receipt(identity, seqs)

    def _store(self, items: list[tuple[Message, str]], done: set[int]) -> None:
        """Write items and ack them; on refused content, halve until the bad line is alone."""
        try:
            self.writer.write([text for _, text in items])
        except BadData as err:
            if len(items) == 1:
                self._reject(items[0][0], "db_refused", str(err))
                done.add(id(items[0][0]))
                return
            half = len(items) // 2
            self._store(items[:half], done)
            self._store(items[half:], done)
            return
        with self._stats_lock:
            self.stats.batches += 1
            self.stats.stored += len(items)
        self.ack([message for message, _ in items])
        done.update(id(message) for message, _ in items)

    def next_batch(self, stop: threading.Event, limit: int) -> list[Message]:
        """Block for the first messages, then gather more for up to ``max_delay``."""
        batch, self._carry = self._carry, []
        while not batch and not stop.is_set():
            try:
                batch = list(self.queue.get(timeout=0.2))
            except queue.Empty:
                continue
        deadline = time.monotonic() + self.max_delay
        while batch and len(batch) < limit:
            remaining = deadline - time.monotonic()
            try:
                batch += (self.queue.get(timeout=remaining) if remaining > 0
                          else self.queue.get_nowait())
            except queue.Empty:
                break
        batch, self._carry = batch[:limit], batch[limit:]
        with self._stats_lock:
            self.queued -= len(batch)
        return batch

    def run(self, stop: threading.Event, receive_maximum: int) -> None:
        # The broker sends at most ``receive_maximum`` unacked messages, so a
        # batch that big is all there will be until this one is acked.
        batch_limit = min(self.max_points, receive_maximum)
        while not stop.is_set():
            batch = self.next_batch(stop, batch_limit)
            if batch:
                self.process(batch, stop)
