"""Class minutes counted from the stream (collector.judge.classminutes) against a
plain count of the same readings, and the verdicts judged from them."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.judge import quality
from collector.judge.classminutes import HEAD, RECENT, ClassMinutes, Limit, limits_of
from collector.judge.registry import School
from collector.judge.targets import load as load_targets

REPO = Path(__file__).resolve().parents[1]
SHIPPED = load_targets(REPO / "configs/targets.toml")
# Two types that differ in every limit and in their window of days.
TARGETS = {**SHIPPED, "teaching_point": replace(
    SHIPPED["teaching_point"], quality_days=2.5, interactive_rtt_p95_ms=120,
    ladder_county_rtt_ms=25, ladder_loss_share=0.02, interactive_pdv_ms=30)}
OFFSET = 8 * 3600  # east of UTC, as China: local midnight is 16:00 UTC
DAY = 86400 * 10**9
MIN = 60 * 10**9
NOW = 20_000 * DAY + 10 * 3600 * 10**9  # 18:00 local on a day far from 1970


def school(sid: str, school_type: str) -> School:
    return School(sid, sid, "37", "p", "3701", "c", "370102", "x", school_type, 10, 1000.0)


def reading(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], int]:
    tags = {"uplink": values["uplink"], "level": values["level"], "target": values["target"]}
    fields = {k: values[k] for k in ("class_hours", "sent", "rtt_p95_seconds", "pdv_seconds",
                                     "loss_share", "up_share") if values[k] is not None}
    return tags, fields, NOW - values["ago_min"] * MIN - values["ns"]


def numbered(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each reading its own instant (two readings of one path and instant are one
    point in the database): only a reading sent again repeats one."""
    return [{**v, "ns": i} for i, v in enumerate(values)]


def near(limits: list[float]) -> st.SearchStrategy[float | None]:
    """Figures at, just under and just over the limits, and anywhere."""
    exact = st.sampled_from(limits)
    return st.one_of(st.none(), exact, exact.map(lambda x: x * 1.000001),
                     st.floats(0, 0.5))


READINGS = st.lists(st.fixed_dictionaries({
    "ago_min": st.integers(0, 10 * 1440), "ns": st.just(0),
    "uplink": st.sampled_from(["edu", "isp"]),
    "level": st.sampled_from(["county", "city", "province", "platform", "internet"]),
    "target": st.sampled_from(["a", "b"]),
    "class_hours": st.sampled_from([True, True, False]),
    "sent": st.sampled_from([600, 600, None]),
    "rtt_p95_seconds": near([0.02, 0.025, 0.04, 0.06, 0.12, 0.2]),
    "pdv_seconds": near([0.03, 0.05]),
    "loss_share": near([0.01, 0.02]),
    "up_share": st.one_of(st.none(), st.integers(0, 64).map(lambda n: n / 64)),
    "again": st.booleans(),  # its receipt is lost: sent again a few readings later
}), max_size=120).map(numbered)


def fed(values: list[dict[str, Any]]) -> ClassMinutes:
    minutes = ClassMinutes(TARGETS, OFFSET)
    pending: list[dict[str, Any]] = []
    for v in values:
        minutes.add("s", *reading(v))
        if v["again"]:
            pending.append(v)
        if len(pending) > 3:
            minutes.add("s", *reading(pending.pop(0)))
    for v in pending:
        minutes.add("s", *reading(v))
    return minutes


def counted(values: list[dict[str, Any]], school_type: str
            ) -> dict[tuple[str, str], tuple[int, dict[Limit, int], int, float]]:
    """The same readings counted plainly: once each, class minutes measured, in days."""
    t = TARGETS[school_type]
    today = (NOW // 10**9 + OFFSET) // 86400
    first = today - int(-(-t.quality_days // 1)) + 1
    out: dict[tuple[str, str], tuple[int, dict[Limit, int], int, float]] = {}
    for v in values:
        _, fields, ts = reading(v)
        if (ts // 10**9 + OFFSET) // 86400 < first or not fields.get("class_hours") \
                or fields.get("sent") is None:
            continue
        minutes, met, n_up, up = out.get((v["uplink"], v["level"]), (0, {}, 0, 0.0))
        for lim in limits_of(t).get(v["level"], ()):
            value = fields.get(lim.field)
            met[lim] = met.get(lim, 0) + (value is not None and value <= lim.bound)
        if "up_share" in fields:
            n_up, up = n_up + 1, up + fields["up_share"]
        out[(v["uplink"], v["level"])] = (minutes + 1, met, n_up, up)
    return out


def same(minutes: ClassMinutes, values: list[dict[str, Any]]) -> None:
    for school_type in ("primary", "teaching_point"):
        mine = minutes.figures(school("s", school_type), NOW)
        plain = counted(values, school_type)
        assert set(mine) == set(plain)
        for key, (n, met, n_up, up) in plain.items():
            figures = mine[key]
            assert (figures.minutes, figures.up_minutes) == (n, n_up), key
            assert {lim: figures.met[lim] for lim in met} == met, key
            assert figures.up == (up / n_up if n_up else 0.0)


@settings(max_examples=150, deadline=None)
@given(READINGS)
def test_counts_are_a_plain_count_of_each_reading_once(values: list[dict[str, Any]]) -> None:
    minutes = fed(values)
    same(minutes, values)
    # Saved and resumed, counts and the memory of recent readings go on alike.
    resumed = ClassMinutes(TARGETS, OFFSET)
    resumed.resume(pickle.loads(pickle.dumps(minutes.state())))
    for v in values[-3:]:
        resumed.add("s", *reading(v))  # sent again after the restart
    same(resumed, values)


@settings(max_examples=80, deadline=None)
@given(READINGS, READINGS)
def test_merged_counts_are_the_counts_of_both(first: list[dict[str, Any]],
                                             second: list[dict[str, Any]]) -> None:
    # A rebuild adds the database's counts to what the stream counted meanwhile.
    second = [{**v, "ns": v["ns"] + len(first)} for v in second]  # other readings
    minutes = fed(first)
    minutes.merge(fed(second))
    same(minutes, first + second)


def minutes_of(sid: str, meeting: int, failing: int, level: str = "platform",
               day_ago: int = 0) -> list[tuple[dict[str, Any], dict[str, Any], int]]:
    out = []
    for i in range(meeting + failing):
        rtt = 0.03 if i < meeting else 0.5
        fields = {"class_hours": True, "sent": 600, "rtt_p95_seconds": rtt,
                  "pdv_seconds": 0.004, "loss_share": 0.0, "up_share": 1.0}
        out.append(({"uplink": "edu", "level": level, "target": "t"}, fields,
                    NOW - day_ago * DAY - (i + 1) * MIN))
    return out


def test_a_figure_meets_when_it_did_in_ready_share_of_the_minutes() -> None:
    minutes = ClassMinutes(SHIPPED, OFFSET)
    for sid, meeting in (("s95", 95), ("s94", 94)):
        for r in minutes_of(sid, meeting, 100 - meeting):
            minutes.add(sid, *r)
    v = {sid: quality.evaluate(minutes, [school(sid, "primary")], SHIPPED, NOW)[0]
         for sid in ("s95", "s94")}
    assert (v["s95"].status, v["s95"].value, v["s95"].threshold) == ("pass", 0.95, 0.95)
    assert (v["s94"].status, v["s94"].value) == ("fail", 0.94)
    assert "RTT p95 <= 200 ms in 94.0%" in v["s94"].detail
    assert "PDV <= 50 ms in 100.0%" in v["s94"].detail


def test_days_age_out_and_schools_leave() -> None:
    minutes = ClassMinutes(SHIPPED, OFFSET)
    for r in minutes_of("old", 80, 0, day_ago=6) + minutes_of("old", 0, 80, day_ago=7):
        minutes.add("old", *r)
    for r in minutes_of("gone", 80, 0):
        minutes.add("gone", *r)
    # quality_days = 7: today and the six days before; the seventh day back is out.
    assert minutes.figures(school("old", "primary"), NOW)[("edu", "platform")].minutes == 80
    def day_rows() -> int:
        return (len(minutes.rows["old"]) - HEAD) // minutes.width

    assert day_rows() == 2
    minutes.prune(NOW, ["old"])
    assert "gone" not in minutes.rows and day_rows() == 1
    # A reading older than every window is not counted at all.
    minutes.add("old", *minutes_of("old", 1, 0, day_ago=30)[0], minutes.oldest_day(NOW))
    assert day_rows() == 1


def test_a_reading_sent_again_is_counted_once_while_remembered() -> None:
    minutes = ClassMinutes(SHIPPED, OFFSET)
    first, *others = minutes_of("s", 1 + RECENT, 0)
    for r in [first, *others[:RECENT - 1], first]:  # again within its last RECENT
        minutes.add("s", *r)
    assert minutes.figures(school("s", "primary"), NOW)[("edu", "platform")].minutes == RECENT


def test_counts_kept_for_a_shorter_window_are_not_resumed_for_a_longer_one() -> None:
    # Days beyond the old window were never kept: resuming would judge on fewer.
    longer = {k: replace(t, quality_days=14) for k, t in SHIPPED.items()}
    assert ClassMinutes(SHIPPED, OFFSET).shape() != ClassMinutes(longer, OFFSET).shape()
    assert ClassMinutes(SHIPPED, OFFSET).shape() == ClassMinutes(SHIPPED, OFFSET).shape()
