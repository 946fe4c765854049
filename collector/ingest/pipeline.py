"""Validate → store → acknowledge, in batches, never acking what is not stored.

Messages arrive from the broker unacknowledged. Each batch is validated; a
reject is dead-lettered and acked at once (it will never become valid), good
readings are written together and acked only after the database confirmed
the write, then a receipt tells each agent which of its readings are safe, so
it can forget them (a broker crash can lose what it acked but had not yet
delivered; the agent resends whatever gets no receipt). A receipt means
stored, or refused for good with the reason (schema, registry, time window).

Every field is written with the schema's type, so no school's data can make
the database refuse another's. Should the database still refuse a batch's
content, the batch is split in halves to isolate the bad line, at most
``max_splits`` times per batch so the cost is bounded; what is left is held
and retried with backoff. A line refused on its own (``db_refused``) is
dead-lettered and acked but never receipted: the agent resends it later.
If the database is down, nothing is acked and the same batch is retried with
backoff; the broker keeps the rest queued.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from agent.contract.wire import Envelope, Identity, Status, WireError
from collector.errors import BadData, Unavailable
from collector.ingest.lineproto import encode_checked
from collector.ingest.series import SeriesBounds
from collector.ingest.stats import Stats, safe_text, school_of
from collector.ingest.transport import Message
from collector.ingest.validate import Held, Refused, Validator
from collector.ingest.writer import Writer

log = logging.getLogger(__name__)


Ack = Callable[[list[Message]], None]
DeadLetter = Callable[[Message, str, str], None]

Why = dict[str, list[int]]  # reason -> the seqs it applies to


class Receipt(Protocol):
    """One batch's receipts, by school: the seqs stored, and by reason the seqs
    refused for good or held (the lists are the callee's to keep)."""

    def __call__(self, stored: dict[Identity, list[int]],
                 refused: dict[Identity, Why] | None = None,
                 held: dict[Identity, Why] | None = None) -> None: ...


@dataclass
class Prepared:
    """A validated batch: the lines to store and what to receipt once stored."""

    good: list[tuple[Message, str]]
    readings: dict[int, Envelope]  # id(message) -> its decoded reading
    refused: list[tuple[Envelope, str]]
    held: list[tuple[Envelope, str]]  # not stored, kept by the agent: registry, region
    # id(message) -> (its item, arrival), for on_stored; empty without it
    observed: dict[int, tuple[Envelope | Status, int]]
    # Batches written side by side ack in the order their messages came: this
    # one's acks wait for ``after`` (the batch before is done; None: written
    # alone), and ``done`` tells the batch after.
    after: threading.Event | None = None
    done: threading.Event | None = None


class Pipeline:
    def __init__(self, validator: Validator, writer: Writer, ack: Ack,
                 dead_letter: DeadLetter, max_points: int = 5000,
                 max_delay: float = 0.2, max_backoff: float = 30.0,
                 receipt: Receipt | None = None, max_splits: int = 32,
                 series: SeriesBounds | None = None, write_threads: int = 2) -> None:
        self.validator = validator
        self.writer = writer
        self.ack = ack
        self.dead_letter = dead_letter
        self.max_points = max_points
        self.max_delay = max_delay
        self.max_backoff = max_backoff
        self.receipt = receipt
        self.max_splits = max_splits
        self.series = series
        self.write_threads = write_threads
        self.queue: queue.Queue[list[Message]] = queue.Queue()
        self.queued = 0  # messages submitted and not yet taken into a batch
        self._carry: list[Message] = []  # taken from the queue beyond a batch's limit
        self.stats = Stats()
        self._stats_lock = threading.Lock()
        # Told of every item the database confirmed, with its arrival time.
        self.on_stored: Callable[[list[tuple[Envelope | Status, int]]], None] | None = None

    def submit(self, messages: list[Message]) -> None:
        """Called from the MQTT thread for each chunk of messages; never blocks."""
        with self._stats_lock:
            self.queued += len(messages)
        self.queue.put(messages)

    def count(self, school: str, reason: str) -> None:
        """Count a refusal made before the pipeline (thread-safe)."""
        with self._stats_lock:
            self.stats.count(school, reason)

    def _new_series(self, item: Envelope) -> bool:
        """Whether the reading's tag set is one more than its school may have."""
        reading = item.reading
        return self.series is not None and not self.series.admit(
            item.identity.school_id, reading.measurement, reading.tags)

    def _reject(self, message: Message, reason: str, detail: str) -> None:
        reason, detail = safe_text(reason, 64), safe_text(detail)
        self.count(school_of(message.topic), reason)
        log.debug("rejected %s: %s %s", safe_text(message.topic, 120), reason, detail)
        topic = safe_text(message.topic, 300)
        # The dead letter carries the topic as text: one the broker let through
        # but that is not encodable (a lone surrogate) is shown escaped instead.
        shown = message if topic == message.topic else dataclasses.replace(message, topic=topic)
        try:
            self.dead_letter(shown, reason, detail)
        except Exception:  # a dead-letter hiccup must not stop the storing of readings
            log.exception("could not dead-letter a %s message", reason)
        self.ack([message])

    def process(self, batch: list[Message], stop: threading.Event | None = None) -> None:
        """Validate and store one batch; returns once every message is acked
        (or ``stop`` is set while the database is down)."""
        self.store(self.prepare(batch), stop)

    def prepare(self, batch: list[Message]) -> Prepared:
        """Validate and encode a batch; rejects are dead-lettered and acked here."""
        good: list[tuple[Message, str]] = []
        readings: dict[int, Envelope] = {}  # id(message) -> its decoded reading
        refused: list[tuple[Envelope, str]] = []
        held: list[tuple[Envelope, str]] = []
        observed: dict[int, tuple[Envelope | Status, int]] = {}
        statuses = 0
        for message in batch:
            try:
                item, text = self.validator.check_line(message.topic, message.payload,
                                                       message.received_ns)
                if isinstance(item, Envelope) and self._new_series(item):
                    raise Refused("too_many_series", f"{item.reading.measurement}: more tag "
                                  "combinations than one school may have", item)
                if text is None:
                    text = encode_checked(item, message.received_ns)
            except Refused as err:
                # A well-formed reading refused for good (schema, registry, a
                # gateway clock years off): the receipt stops endless resending.
                self._reject(message, err.reason, err.detail)
                refused.append((err.envelope, safe_text(err.reason, 64)))
                continue
            except Held as err:
                # The receipt tells the school why; it keeps the reading.
                self._reject(message, err.reason, err.detail)
                held.append((err.envelope, safe_text(err.reason, 64)))
                continue
            except WireError as err:
                self._reject(message, err.reason, err.detail)
                continue
            except Exception as err:  # a bug here must cost one message, not the region
                log.exception("could not process a message on %s", safe_text(message.topic))
                self._reject(message, "internal", f"{type(err).__name__}: {err}")
                continue
            if isinstance(item, Envelope):
                readings[id(message)] = item
            statuses += isinstance(item, Status)
            good.append((message, text))
            if self.on_stored is not None:
                observed[id(message)] = (item, message.received_ns)
        with self._stats_lock:
            self.stats.received += len(batch)
            self.stats.statuses += statuses
        return Prepared(good, readings, refused, held, observed)

    def store(self, prepared: Prepared, stop: threading.Event | None = None) -> None:
        """Store a prepared batch, ack it, and receipt what was stored or refused."""
        stored: set[int] = set()  # id() of messages the database confirmed
        try:
            self._store_all(prepared.good, stored, stop, prepared.after)
        finally:
            if prepared.done is not None:  # acked, or given up at a stop
                prepared.done.set()
            self._send_receipts([e for key, e in prepared.readings.items() if key in stored],
                                prepared.refused, prepared.held)
            if self.on_stored is not None and stored:
                self.on_stored([item for key, item in prepared.observed.items()
                                if key in stored])

    def _store_all(self, good: list[tuple[Message, str]], stored: set[int],
                   stop: threading.Event | None, after: threading.Event | None = None
                   ) -> None:
        """Store every chunk; a chunk the database refuses is halved, at most
        ``max_splits`` times per pass. Chunks left when the budget is spent (or
        the database is down) are held and retried with backoff, so each pass
        makes progress and none costs more than ``max_splits + 1`` writes."""
        backoff = 0.5
        chunks: deque[list[tuple[Message, str]]] = deque([good] if good else [])
        while chunks:
            budget = self.max_splits
            try:
                while chunks:
                    chunk = chunks.popleft()
                    try:
                        self._write(chunk, stored, after)
                    except (BadData, UnicodeEncodeError) as err:
                        if len(chunk) == 1:
                            # Not receipted: the agent resends it, and it is
                            # stored once whatever the database disliked is fixed.
                            if after is not None:
                                after.wait()
                            self._reject(chunk[0][0], "db_refused", str(err))
                        elif budget > 0:
                            budget -= 1
                            with self._stats_lock:
                                self.stats.splits += 1
                            half = len(chunk) // 2
                            chunks.extendleft((chunk[half:], chunk[:half]))
                        else:
                            chunks.appendleft(chunk)
                            with self._stats_lock:
                                self.stats.held += 1
                            log.warning("database refused content; split budget spent, "
                                        "holding %d readings, retry in %.1f s",
                                        sum(map(len, chunks)), backoff)
                            break
            except Unavailable as err:
                chunks.appendleft(chunk)
                with self._stats_lock:
                    self.stats.write_failures += 1
                log.warning("database unavailable (%s); holding %d readings, retry in %.1f s",
                            err, sum(map(len, chunks)), backoff)
            if not chunks:
                return
            if stop is not None and stop.wait(backoff):
                return  # unacked: the broker redelivers them to the next run
            if stop is None:
                time.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _send_receipts(self, stored: list[Envelope], refused: list[tuple[Envelope, str]],
                       held: list[tuple[Envelope, str]]) -> None:
        if self.receipt is None or not (stored or refused or held):
            return
        # One call a batch, not one a school: a drain's batch holds a reading of
        # each of 1,000 schools, and a call (and lock) a school cost ~0.8 us a reading.
        seqs: dict[Identity, list[int]] = {}
        get = seqs.get
        for envelope in stored:
            mine = get(envelope.identity)
            if mine is None:
                seqs[envelope.identity] = [envelope.seq]
            else:
                mine.append(envelope.seq)
        self.receipt(seqs, _by_school(refused), _by_school(held))

    def _write(self, items: list[tuple[Message, str]], stored: set[int],
               after: threading.Event | None = None) -> None:
        """Write items and ack them; raises BadData or Unavailable as the writer does."""
        self.writer.write([text for _, text in items])
        stored.update(id(message) for message, _ in items)
        with self._stats_lock:
            self.stats.batches += 1
            self.stats.stored += len(items)
        # MQTT wants acks in the order the messages came: after the batch before.
        if after is not None:
            after.wait()
        self.ack([message for message, _ in items])

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
        """Prepare batches here while earlier ones are written in other
        threads: the database's time per write (most of a batch's) then
        overlaps the decoding of the next, instead of adding to it."""
        # The broker sends at most ``receive_maximum`` unacked messages, so a
        # batch that big is all there may be until one is acked. (Half that,
        # so the next half could arrive during a write, measured slower:
        # twice the writes, and Mosquitto sends past the window anyway.)
        batch_limit = min(self.max_points, receive_maximum)
        # Each writer holds one batch, and at most one more waits prepared:
        # what is held here stays bounded, and a database that is down stops
        # the intake. Two writes in flight, because one leaves influxd idle
        # between a response and the next request, and waiting on its disk.
        handoff: queue.Queue[Prepared | None] = queue.Queue(maxsize=1)
        writers = [threading.Thread(target=self._write_loop, args=(handoff, stop),
                                    name=f"pipeline-write-{i}", daemon=True)
                   for i in range(self.write_threads)]
        for writer in writers:
            writer.start()

        def all_alive() -> bool:
            return all(w.is_alive() for w in writers)

        def any_alive() -> bool:
            return any(w.is_alive() for w in writers)

        previous: threading.Event | None = None
        try:
            while not stop.is_set() and all_alive():
                batch = self.next_batch(stop, batch_limit)
                if batch:
                    prepared = self.prepare(batch)
                    prepared.after, prepared.done = previous, threading.Event()
                    previous = prepared.done
                    self._hand(handoff, prepared, all_alive)
        finally:
            for _ in writers:  # one end mark each, to whichever writers are left
                self._hand(handoff, None, any_alive)
            for writer in writers:
                writer.join()

    @staticmethod
    def _hand(handoff: queue.Queue[Prepared | None], item: Prepared | None,
              alive: Callable[[], bool]) -> None:
        # Once a writer is gone (a bug) no more batches are handed: the
        # process ends for a restart.
        while alive():
            try:
                handoff.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _write_loop(self, handoff: queue.Queue[Prepared | None], stop: threading.Event) -> None:
        while True:
            prepared = handoff.get()
            if prepared is None:
                return
            self.store(prepared, stop)


def _by_school(items: list[tuple[Envelope, str]]) -> dict[Identity, Why] | None:
    out: dict[Identity, Why] = {}
    for envelope, reason in items:
        out.setdefault(envelope.identity, {}).setdefault(reason, []).append(envelope.seq)
    return out or None
