"""When school summaries are computed again: a school's first summary and a verdict's
change of status at once; other news (a newer reading every round) waits up to LAST_EVERY_NS,
and the schools a start writes in one round come up again spread over the next rounds."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from collector.judge import summary
from collector.judge.registry import School
from collector.judge.rules import Verdict
from collector.judge.summary import LAST_EVERY_NS, Summaries
from collector.judge.targets import Indicators

MIN = 60 * 10**9
NOW = 1_780_000_000 * 10**9
ROUND = MIN * 11 // 2  # five minutes apart, plus a round's own time


class Reporting:
    """A judge whose every school has a newer reading every round."""

    def __init__(self, schools: list[School]) -> None:
        self.fresh = {s.school_id for s in schools}
        self.moved: set[str] = set()  # a verdict's status changed
        # Only the windows' lock is taken: facts() is replaced below.
        self.windows = SimpleNamespace(lock=threading.Lock())

    def verdicts_of(self, sid: str) -> list[Verdict]:
        return []


def school(i: int) -> School:
    return School(f"s{i:05d}", "学校", "37", "山东省", "3701", "济南市", "370102", "县",
                  "primary", 30, 1000.0)


def test_other_news_waits_and_first_summaries_come_up_again_spread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[str] = []

    def facts(windows: Any, sid: str, now_ns: int, cfg: Indicators) -> dict[str, Any]:
        computed.append(sid)
        return {"last_ns": now_ns}  # a newer reading each time: written when computed

    monkeypatch.setattr(summary, "facts", facts)
    schools = [school(i) for i in range(3000)]
    judge = Reporting(schools)
    summaries = Summaries(Indicators())

    def round_at(now_ns: int, changed: frozenset[str] = frozenset()) -> list[str]:
        computed.clear()
        judge.moved = set(changed)
        lines = [ln for batch in summaries.due(judge, schools, now_ns)  # type: ignore[arg-type]
                 for ln in batch]
        assert len(lines) == len(computed)  # each computed one changed: written
        return list(computed)

    assert len(round_at(NOW)) == len(schools)  # first summaries: all at once
    # Rounds five and a half minutes apart: each school comes up again within
    # LAST_EVERY_NS (three rounds), a share of them each round, not all in one.
    seen: dict[str, int] = {}
    for r in range(1, 4):
        for sid in round_at(NOW + r * ROUND):
            assert sid not in seen
            seen[sid] = r
    assert len(seen) == len(schools)
    shares = [sum(r == k for r in seen.values()) / len(schools) for k in (1, 2, 3)]
    assert all(0.2 < share < 0.45 for share in shares), shares
    # From then on each is computed every third round, the share staying spread.
    for r in range(4, 10):
        again = round_at(NOW + r * ROUND)
        assert 0.2 < len(again) / len(schools) < 0.45
        assert all((r - seen[sid]) % 3 == 0 for sid in again)

    # A school whose verdict changed status is computed at once, however recently written;
    # the others that round are those whose wait is over.
    moved = frozenset(s.school_id for s in schools[:5])
    at = NOW + 10 * ROUND
    waited = {sid for sid, r in seen.items() if (10 - r) % 3 == 0}
    assert set(round_at(at, moved)) == moved | waited
    # Written just now: their next newer reading waits its whole LAST_EVERY_NS.
    assert not set(round_at(at + LAST_EVERY_NS - 1)) & moved
    assert set(round_at(at + LAST_EVERY_NS)) >= moved
