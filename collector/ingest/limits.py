"""Per-school rate bounds, checked before a message is decoded.

Each school (the school id in the topic; the broker's ACL lets an account
publish only under its own) has two token buckets: readings and bytes per
minute, each holding one minute's allowance. A message past either bound is
refused here, in the transport's thread, before any JSON is decoded: counted
(``rate_limited``, ``bytes_limited``), acknowledged to the broker so it does
not hold everyone's receive window, and *not* receipted, so the agent keeps
the reading and resends it after its receipt timeout. A flood thus costs one
dict lookup and two float updates per message, and a school draining a
day's backlog is slowed, never refused for good.

Dead letters are for people to read, so each school gets at most
``dead_letters_per_minute`` of them; past that a refusal is only counted
(``Stats.sampled_out``): a flood of 10,000 a second is not copied out again.

Memory stays bounded whatever school ids arrive: a full bucket is the same
as a new one, so full buckets are dropped when there are too many, and if
that is not enough, further schools share one bucket.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from collector.config import Limits
from collector.ingest.pipeline import DeadLetter
from collector.ingest.stats import school_of
from collector.ingest.transport import Deliver, Message

log = logging.getLogger(__name__)

MAX_KEYS = 100_000
SHARED = "(shared)"
Count = Callable[[str, str], None]


class Buckets:
    """Token buckets per key: ``per_minute`` items and ``bytes_per_minute``
    bytes (0: unbounded), each refilling continuously up to a minute's worth."""

    def __init__(self, per_minute: float, bytes_per_minute: float = 0,
                 max_keys: int = MAX_KEYS) -> None:
        self.cap, self.rate = float(per_minute), per_minute / 60.0
        self.bcap, self.brate = float(bytes_per_minute), bytes_per_minute / 60.0
        self.max_keys = max_keys
        self._state: dict[str, list[float]] = {}  # key -> [items, bytes, last refill]
        self._pruned_at = float("-inf")

    def __len__(self) -> int:
        return len(self._state)

    def take(self, key: str, size: int, now: float) -> str | None:
        """Take one item of ``size`` bytes; the bound it would pass, or None."""
        state = self._state.get(key)
        if state is None:
            state = self._new(key, now)
        elapsed = now - state[2]
        if elapsed > 0:
            state[0] = min(self.cap, state[0] + elapsed * self.rate)
            state[1] = min(self.bcap, state[1] + elapsed * self.brate)
            state[2] = now
        if state[0] < 1.0:
            return "rate_limited"
        if self.bcap:
            if state[1] < size:
                return "bytes_limited"
            state[1] -= size
        state[0] -= 1.0
        return None

    def _new(self, key: str, now: float) -> list[float]:
        if len(self._state) >= self.max_keys:
            if now - self._pruned_at >= 1.0:
                self._prune(now)
            if len(self._state) >= self.max_keys:
                shared = self._state.get(SHARED)
                if shared is None:
                    shared = self._state[SHARED] = [self.cap, self.bcap, now]
                return shared
        state = self._state[key] = [self.cap, self.bcap, now]
        return state

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled: they are as good as new."""
        self._pruned_at = now
        full = [key for key, (items, size, at) in self._state.items()
                if items + (now - at) * self.rate >= self.cap
                and size + (now - at) * self.brate >= self.bcap]
        for key in full:
            del self._state[key]
        log.info("rate buckets: %d full ones dropped, %d kept", len(full), len(self._state))


class SchoolBounds:
    """Sits between the transport and the pipeline, in the transport's thread."""

    def __init__(self, cfg: Limits, ack: Callable[[list[Message]], None], count: Count,
                 clock: Callable[[], float] = time.monotonic,
                 dead_letter: DeadLetter | None = None) -> None:
        self.enabled = cfg.enabled
        self.buckets = Buckets(cfg.readings_per_minute, cfg.bytes_per_minute)
        self.ack = ack
        self.count = count
        self.dead_letter = dead_letter  # a DeadLetterSample: the flood is not copied out
        self.clock = clock
        self._lock = threading.Lock()

    def charge(self, message: Message) -> str | None:
        """Charge a message to its school's budget; the bound it passes, or None."""
        if not self.enabled:
            return None
        with self._lock:  # the transport's thread, and the retained guard's
            reason = self.buckets.take(_school(message.topic),
                                       len(message.payload) + len(message.topic), self.clock())
        if reason is not None:
            self.count(school_of(message.topic), reason)
        return reason

    def filter(self, deliver: Deliver) -> Deliver:
        if not self.enabled:
            return deliver

        def bounded(messages: list[Message]) -> None:
            passed: list[Message] = []
            refused: list[tuple[Message, str]] = []
            take, now = self.buckets.take, self.clock()
            with self._lock:
                for message in messages:
                    topic = message.topic
                    reason = take(_school(topic), len(message.payload) + len(topic), now)
                    if reason is None:
                        passed.append(message)
                    else:
                        refused.append((message, reason))
            if refused:
                for message, reason in refused:
                    self.count(school_of(message.topic), reason)
                    if self.dead_letter is not None:
                        self.dead_letter(message, reason, "over the school's bound; not "
                                         "receipted, the agent sends it again later")
                # Acked so the broker sends on; not receipted, so the agent resends.
                self.ack([message for message, _ in refused])
            if passed:
                deliver(passed)
        return bounded


def _school(topic: str) -> str:
    """The topic's school id, as a bucket key (no cleaning: only a dict key)."""
    parts = topic.split("/", 6)
    return parts[5] if len(parts) == 7 else ""


class DeadLetterSample:
    """At most ``per_minute`` dead letters per school; the rest are counted."""

    def __init__(self, per_minute: int, dead_letter: DeadLetter,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.buckets = Buckets(per_minute)
        self.dead_letter = dead_letter
        self.clock = clock
        self.sampled_out = 0
        self._lock = threading.Lock()  # the pipeline's and the transport's threads

    def __call__(self, message: Message, reason: str, detail: str) -> None:
        with self._lock:
            passed = self.buckets.take(_school(message.topic), 0, self.clock()) is None
            if not passed:
                self.sampled_out += 1
        if passed:
            self.dead_letter(message, reason, detail)
