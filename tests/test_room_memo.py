"""Classroom statuses are remembered by their polls and rule (collector.judge.rules.rooms):
the remembered status must be the one the rule gives, whatever was judged before."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.judge import rules
from collector.judge.rules import Poll, Rule, room_status, rooms
from collector.judge.targets import load as load_targets

REPO = Path(__file__).resolve().parents[1]
SHIPPED = next(iter(load_targets(REPO / "configs/targets.toml").values()))

POLL = st.tuples(st.sampled_from([None, 0.0, 10.0, 100.0, 99.9, 1000.0, 10, 100, 1000]),
                 st.sampled_from([None, True, False]),
                 st.sampled_from([None, "ok", "inconclusive", "error"]))
# Targets carry breaches whatever their method.
RULE = st.one_of(
    st.builds(Rule, st.sampled_from(["median", "m_of_n"]), st.integers(1, 4),
              st.integers(1, 3)),
    st.builds(lambda m, w, b: replace(SHIPPED, method=m, window=w, breaches=b),
              st.sampled_from(["median", "m_of_n"]), st.integers(1, 4), st.integers(1, 3)))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(POLL, min_size=1, max_size=6).map(tuple), min_size=1, max_size=8),
       st.lists(st.tuples(st.sampled_from([10.0, 100.0, 1000.0]), RULE), min_size=2,
                max_size=8))
def test_remembered_rooms_judge_as_the_rule(per_room: list[tuple[Poll, ...]],
                                            rules_: list[tuple[float, Rule]]) -> None:
    # The same polls under several thresholds and rules, the memory shared by them
    # all: one's answer must never come back for another.
    for mbps, rule in rules_:
        expected = [room_status(p, mbps, rule) for p in per_room]
        assert rooms(per_room, mbps, rule) == (expected.count("pass"),
                                               expected.count("unknown"))


def test_memory_is_bounded() -> None:
    rules._ROOMS.clear()
    rule = Rule("median", 5, 0)
    for n in range(rules.ROOMS_MEMO + 10):
        rooms([((float(n), True, "ok"),)], 100.0, rule)
    assert 0 < len(rules._ROOMS) <= rules.ROOMS_MEMO
