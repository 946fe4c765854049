"""The pipeline's counters: what was received, stored and rejected, and for
which school, bounded whatever school ids arrive."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# Bounds the per-school counters, whatever school ids arrive.
MAX_SCHOOL_KEYS = 10_000
OTHER = "(other)"
LOG_EVERY = 600.0  # seconds between log lines for one school's rejection reason


def safe_text(text: str, limit: int = 500) -> str:
    """Any string made safe to encode as UTF-8 and to log on one line."""
    text = text[:limit]
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def school_of(topic: str) -> str:
    parts = topic.split("/", 6)
    return safe_text(parts[5], 64) if len(parts) == 7 else "(no school)"


@dataclass
class Stats:
    received: int = 0
    stored: int = 0
    statuses: int = 0
    batches: int = 0
    write_failures: int = 0
    splits: int = 0  # halvings of batches the database refused
    held: int = 0  # times a refused batch's split budget ran out and the rest was held
    rejected: Counter[str] = field(default_factory=Counter)
    # (school id, reason) -> count; at most MAX_SCHOOL_KEYS schools, then "(other)".
    by_school: Counter[tuple[str, str]] = field(default_factory=Counter)
    _schools: set[str] = field(default_factory=set)
    # (school, reason) -> (when last logged, count then): one line per pair per
    # LOG_EVERY seconds names the school without a flood repeating it.
    _logged: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)

    def count(self, school: str, reason: str) -> None:
        self.rejected[reason] += 1
        if school not in self._schools:
            if len(self._schools) >= MAX_SCHOOL_KEYS:
                school = OTHER
            else:
                self._schools.add(school)
        key = (school, reason)
        self.by_school[key] += 1
        now, total = time.monotonic(), self.by_school[key]
        last = self._logged.get(key)
        if last is None or now - last[0] >= LOG_EVERY:
            self._logged[key] = (now, total)
            since = total - (last[1] if last else 0)
            log.warning("school %s: %d readings rejected (%s)%s", school, since, reason,
                        f" in the last {now - last[0]:.0f} s" if last else "")

    def summary(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.rejected.items())) or "none"
        worst = ", ".join(f"{s}:{r}={n}" for (s, r), n in self.by_school.most_common(3))
        return (f"received={self.received} stored={self.stored} statuses={self.statuses} "
                f"rejected={sum(self.rejected.values())} ({reasons}) batches={self.batches} "
                f"write_failures={self.write_failures} splits={self.splits} held={self.held}"
                + (f" top_rejected=[{worst}]" if worst else ""))
