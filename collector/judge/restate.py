"""When a point the collector writes each round must actually be written again.

A province's verdicts are 400,000 points a round at 50,000 schools, nearly all
the same as the round before; writing them took influxd most of a round on the
collector's two cores. A point is therefore written when its content changed,
and otherwise re-stated once per ``RESTATE_NS``, so the newest point of every
key is never older than the dashboards' and alert rules' 25 h lookback
(``collector.grafana.influxql.VERDICT_LOOKBACK``). Each key's re-statement
comes up to a quarter of that early, by a fixed share of its own, so the
schools first written in one round are not all re-stated in one round again.
What was written is remembered in memory only: a restarted collector writes
everything once.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Iterable

RESTATE_NS = 12 * 3600 * 10**9  # half the 25 h lookback: one missed write is fine
SPREAD_NS = RESTATE_NS // 4
_LOW = (1 << 64) - 1  # the content's hash, below when it is next due


def spread(key: str, span_ns: int) -> int:
    """A share of ``span_ns`` fixed for the key (crc32, the same in every process)."""
    return zlib.crc32(key.encode()) * span_ns >> 32  # crc32 is 32 bits: scaled, not wrapped


class Restatements:
    """Per key (a school): the hash of the content last written and when it is next
    due, in one int: ~50 bytes a key, where a tuple of the two took ~130 (a
    collector keeps two of these a school: 8 MB at 50,000 schools)."""

    def __init__(self) -> None:
        self.written: dict[str, int] = {}

    def due(self, key: str, content: Hashable, now_ns: int) -> bool:
        last = self.written.get(key)
        return last is None or last & _LOW != hash(content) & _LOW or now_ns >= last >> 64

    def wrote(self, key: str, content: Hashable, now_ns: int) -> None:
        due = now_ns + RESTATE_NS - spread(key, SPREAD_NS)
        self.written[key] = due << 64 | hash(content) & _LOW

    def forget(self, keep: Iterable[str]) -> None:
        """Drop keys no longer wanted (schools no longer registered)."""
        keep = set(keep)
        for key in [k for k in self.written if k not in keep]:
            del self.written[key]
