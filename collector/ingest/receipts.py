"""Receipts to agents, coalesced per school.

A receipt per school per stored batch cost the collector a sixth of its time
when thousands of schools drained a backlog at once; gathering them for a
second or two sends one per school per interval instead, well inside the
agents' receipt timeout. A receipt carries what was stored and, by reason,
what was refused for good, and by reason what was held (not stored for a
reason the centre can fix; the agent keeps those and resends them later); a
reading the database refused is in none, so its agent resends it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from agent.contract.wire import Identity, encode_receipts


class Receipts:
    def __init__(self, publish: Callable[[str, bytes], object], interval: float) -> None:
        self.publish = publish
        self.interval = interval
        self._pending: dict[Identity, list[int]] = {}
        self._refused: dict[Identity, dict[str, list[int]]] = {}
        self._held: dict[Identity, dict[str, list[int]]] = {}
        self._lock = threading.Lock()

    def add(self, stored: dict[Identity, list[int]],
            refused: dict[Identity, dict[str, list[int]]] | None = None,
            held: dict[Identity, dict[str, list[int]]] | None = None) -> None:
        """A batch's receipts by school (``pipeline.Receipt``); its lists are kept."""
        with self._lock:
            pending = self._pending
            for identity, seqs in stored.items():
                mine = pending.get(identity)
                if mine is None:
                    pending[identity] = seqs
                else:
                    mine.extend(seqs)
            for why, into in ((refused, self._refused), (held, self._held)):
                for identity, reasons in (why or {}).items():
                    pending.setdefault(identity, [])  # a receipt even with none stored
                    mine_why = into.setdefault(identity, {})
                    for reason, seqs in reasons.items():
                        mine_why.setdefault(reason, []).extend(seqs)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            refused, self._refused = self._refused, {}
            held, self._held = self._held, {}
        now = time.time_ns()
        for identity, seqs in pending.items():
            for body in encode_receipts(seqs, refused.get(identity), held.get(identity), now):
                self.publish(identity.receipt_topic, body)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self.flush()
