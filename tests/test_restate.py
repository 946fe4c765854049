"""Collector-written points are written when they change and re-stated within the lookback."""

from __future__ import annotations

from collector.grafana.influxql import VERDICT_LOOKBACK
from collector.judge.restate import RESTATE_NS, Restatements

HOUR = 3600 * 10**9


def test_written_on_change_and_restated_before_the_lookback() -> None:
    written = Restatements()
    assert written.due("s1", "pass", 0)
    written.wrote("s1", "pass", 0)
    assert not written.due("s1", "pass", HOUR)
    assert written.due("s1", "fail", HOUR)  # changed: at once
    # Unchanged, it is re-stated at most RESTATE_NS after the write, and the
    # dashboards' lookback is more than twice that (one missed write is fine).
    assert written.due("s1", "pass", RESTATE_NS)
    assert int(VERDICT_LOOKBACK.rstrip("h")) * HOUR > 2 * RESTATE_NS


def test_restatements_of_schools_first_written_together_are_spread() -> None:
    written = Restatements()
    for i in range(1000):
        written.wrote(f"s{i:06d}", 1, 0)
    # Stepping through 12 h in 5-minute rounds: no round re-states more than a
    # few percent of the schools, and every school is re-stated within 12 h.
    per_round, last = [], 0
    for step in range(1, 145):
        now = step * 5 * 60 * 10**9
        due = [k for k in written.written if written.due(k, 1, now)]
        per_round.append(len(due))
        for key in due:
            written.wrote(key, 1, 10**30)  # counted once
        last = now if due else last
    assert sum(per_round) == 1000 and max(per_round) < 50
    assert last <= RESTATE_NS


def test_forgotten_keys_are_written_again() -> None:
    written = Restatements()
    written.wrote("s1", 1, 0)
    written.wrote("s2", 1, 0)
    written.forget(["s2"])
    assert written.due("s1", 1, HOUR) and not written.due("s2", 1, HOUR)
