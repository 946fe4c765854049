"""Outage windows from the packets' fates: when a path went silent, and for how long.

An outage is a run of at least ``min_seconds`` in which no test packet was
answered. It starts at the first unanswered packet's send time and ends at
the next answered one. Each is reported as a ``path_outage`` reading stamped
with its start, so while it lasts every probe run re-sends the same point with
a longer duration (the database keeps one point per start), and the last one
says ``ongoing = false``. A gap between sessions longer than ``max_gap_seconds``
(the agent stopped, class hours ended) closes an outage at the last packet
sent, rather than stretching it over time nobody measured. The trackers are
kept in the state directory, so an agent restarted within the gap continues
the outage (same start, same point) instead of leaving it "ongoing" for ever.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from agent.contract.reading import Reading

log = logging.getLogger(__name__)


@dataclass
class OutageTracker:
    min_seconds: float
    max_gap_seconds: float
    down_since: int = 0      # ns; 0 = up
    last_sent: int = 0       # ns, the last packet fed
    lost: int = 0

    def _reading(self, tags: dict[str, str], end: int, ongoing: bool) -> Reading:
        return Reading("path_outage", {
            "duration_seconds": (end - self.down_since) / 1e9, "lost_packets": self.lost,
            "ongoing": ongoing, "result": "ok"}, dict(tags), ts_ns=self.down_since)

    def _long_enough(self, end: int) -> bool:
        return bool(self.down_since) and end - self.down_since >= self.min_seconds * 1e9

    def feed(self, sent_ns: list[int], answered: list[bool],
             tags: dict[str, str]) -> list[Reading]:
        """Readings for outages that ended in this session, or still go on at its end."""
        out: list[Reading] = []
        if sent_ns and self.last_sent and \
                sent_ns[0] - self.last_sent > self.max_gap_seconds * 1e9:
            if self._long_enough(self.last_sent):
                out.append(self._reading(tags, self.last_sent, False))
            self.down_since, self.lost = 0, 0
        for at, ok in zip(sent_ns, answered, strict=True):
            if ok:
                if self._long_enough(at):
                    out.append(self._reading(tags, at, False))
                self.down_since, self.lost = 0, 0
            else:
                self.down_since = self.down_since or at
                self.lost += 1
            self.last_sent = at
        if self._long_enough(self.last_sent):
            out.append(self._reading(tags, self.last_sent, True))
        return out


def load_state(path: Path, trackers: dict[str, OutageTracker]) -> None:
    """Continue the outages a previous agent process was tracking (absent or bad: none)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(saved, dict):
        return
    for name, tracker in trackers.items():
        entry = saved.get(name)
        if isinstance(entry, dict) and all(isinstance(entry.get(k), int)
                                           for k in ("down_since", "last_sent", "lost")):
            tracker.down_since, tracker.last_sent = entry["down_since"], entry["last_sent"]
            tracker.lost = entry["lost"]


def save_state(path: Path, trackers: dict[str, OutageTracker]) -> None:
    data = {name: {"down_since": t.down_since, "last_sent": t.last_sent, "lost": t.lost}
            for name, t in trackers.items()}
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:  # a full disk costs an outage's continuity, not the reading
        log.warning("path_quality state not saved to %s: %s", path, err)
