"""The packed judging windows keep exactly what per-group sorted lists of entry
tuples kept (the layout they replaced, as a small model here), through
overwrites, merges, late readings, rebuild rows, keep bounds and ageing; equal
values of other types stay apart; value sets are shared between
schools, a bandwidth test's figure kept apart from them; saved windows come
back as they were; a saved file of another shape is refused, not trusted."""

from __future__ import annotations

import bisect
import logging
import pickle
import random
from pathlib import Path
from typing import Any

import pytest

from agent.contract.configschema import build
from collector.config import Storage
from collector.judge.reader import InfluxQLReader
from collector.judge.rounds import STATE_VERSION, WindowJudge
from collector.judge.state import Kind, Windows, series
from collector.judge.targets import load as load_targets

REPO = Path(__file__).resolve().parents[1]
TARGETS = load_targets(REPO / "configs/targets.toml")
DAY = 86400 * 10**9
NOW = 1_800_000_000 * 10**9

Model = dict[tuple[str, int, str], list[tuple[Any, ...]]]


def model_put(model: Model, changed: set[str], school: str, index: int, kind: Kind,
              group: str, key: str, fields: dict[str, Any], ts: int, overwrite: bool) -> None:
    """The per-group list of (time, series, *values) the packing replaced."""
    entries = model.get((school, index, group))
    at = 0
    if entries is not None:
        at = bisect.bisect_left(entries, (ts, key))
        if at < len(entries) and entries[at][:2] == (ts, key):
            if not overwrite:
                return
            old = dict(zip(kind.fields, entries[at][2:], strict=True))
            fields = {**old, **{k: v for k, v in fields.items() if v is not None}}
            del entries[at]
            changed.add(school)
        elif at == 0 and len(entries) >= kind.keep:
            return
    if not kind.counts(fields):
        return
    if entries is None:
        entries = model[(school, index, group)] = []
    entries.insert(at, (ts, key, *(fields.get(f) for f in kind.fields)))
    del entries[:-kind.keep]
    changed.add(school)


def model_deadline(model: Model, school: str, since: int, age: int) -> int | None:
    oldest = []
    for (sid, _, _), entries in model.items():
        if sid == school:
            entries[:] = [e for e in entries if e[0] > since]
            oldest += [e[0] for e in entries[:1]]
    return min(oldest) + age if oldest else None


def content(windows: Windows, school: str) -> list[tuple[Any, ...]]:
    pack = windows.schools.get(school)
    return [] if pack is None else [
        (s[0][0], s[0][1], t, s[1], v, tuple(map(type, v)))
        for i, (t, s) in enumerate(zip(pack.times, pack.sets, strict=True))
        for v in [windows.values(pack, i)]]


def model_content(model: Model, school: str) -> list[tuple[Any, ...]]:
    return [(index, group, e[0], e[1], e[2:], tuple(map(type, e[2:])))
            for (sid, index, group), entries in sorted(model.items()) if sid == school
            for e in entries]


def reading(rng: random.Random) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A point with few distinct times, series and values: collisions are the point."""
    speed = rng.choice([1000.0, 1000, True, 100.0, 0.0, None])
    choice = rng.randrange(5)
    if choice == 0:  # two ports in each of three classrooms
        return ("classroom_link", {"classroom": f"c{rng.randrange(3)}",
                                   "port": f"1/{rng.randrange(2)}"},
                {"link_speed_mbps": speed, "oper_up": rng.choice([True, False, None]),
                 "result": rng.choice(["ok", "inconclusive", None])})
    if choice == 1:  # the positive filter
        return "wan_link", {"iface": "eth0"}, {"link_speed_mbps": speed}
    if choice == 2:  # two kinds from one measurement: per probe and per school
        return ("probe_run", {"probe": rng.choice(["wifi", "ipv6", "wan_link"])},
                {"result": rng.choice(["ok", "error"]),
                 "duration_seconds": rng.choice([1.5, None])})
    if choice == 3:
        return "wifi_coverage", {}, {"coverage_share": rng.choice([1.0, 1, 0.5])}
    # A bandwidth test's figure, kept flat: its own, or one a double cannot give back.
    figure = rng.choice([rng.random() * 1e9, rng.randrange(10**9), 2**53, -0.0, 1.0, True,
                         None, 2**53 + 1, -(2**63), 10**30])
    return ("wan_throughput", {"server": rng.choice(["ns1", "ns2"])},
            {"download_bps": figure, "result": rng.choice(["ok", "timeout", None])})


@pytest.mark.parametrize("seed", range(4))
def test_packing_keeps_what_per_group_lists_kept(seed: int) -> None:
    rng = random.Random(seed)
    windows = Windows(TARGETS)
    model: Model = {}
    changed: set[str] = set()
    now = NOW
    for step in range(2000):
        school = rng.choice(["a", "b"])
        measurement, tags, fields = reading(rng)
        # Mostly new readings, some resent or late, a few from before the age bound.
        ts = now - rng.choice([0, 0, 1, 2, 3, 50, 40 * 86400]) * 10**9
        rebuilt = rng.random() < 0.2
        for index, kind in windows.by_measurement[measurement]:
            group = tags.get(kind.group, "") if kind.group else ""
            model_put(model, changed, school, index, kind, group, series(kind, tags),
                      dict(fields), ts, overwrite=not rebuilt)
            if rebuilt:  # a rebuild query's row: tags merged in, its own time
                windows.add_row(index, {**fields, **tags, "school": school, "time": ts})
        if not rebuilt:
            windows.add(school, measurement, tags, fields, ts)
        assert windows.take_changed() == changed, step
        changed.clear()
        if step % 50 == 49:
            now += rng.choice([1, 10 * DAY])
            due = []
            for sid in ("a", "b"):
                due.append(windows.deadline(sid, now))
                assert due[-1] == model_deadline(model, sid, now - windows.age_ns,
                                                 windows.age_ns)
            if rng.random() < 0.5 and any(due):
                # A round at a deadline: the oldest entry sits on the age bound.
                now = min(d for d in due if d)
                for sid in ("a", "b"):
                    assert windows.deadline(sid, now) == model_deadline(
                        model, sid, now - windows.age_ns, windows.age_ns)
        for sid in ("a", "b"):
            assert content(windows, sid) == model_content(model, sid), step
        now += 10**9


def test_evidence_reads_each_run_newest_first_within_the_bounds() -> None:
    windows = Windows(TARGETS)
    window = max(t.window for t in TARGETS.values())
    for i in range(window + 3):  # more polls than the window, two ports in c1
        for port in ("1/1", "1/2"):
            windows.add("a", "classroom_link", {"classroom": "c1", "port": port},
                        {"link_speed_mbps": float(i), "oper_up": True, "result": "ok"},
                        NOW + i)
    windows.add("a", "classroom_link", {"classroom": "c2", "port": "1/3"},
                {"link_speed_mbps": 5.0, "oper_up": True, "result": "ok"}, NOW - 40 * DAY)
    windows.add("a", "agent_status", {}, {"state": "online"}, NOW + 1)
    windows.add("a", "agent_status", {}, {"state": "offline"}, NOW + 2)
    ev, seen, status, runs = windows.evidence(["a", "b"], NOW + 10)
    polls = ev.ports["a"]["c1"]
    assert len(polls) == window  # c2's only poll is past the age bound
    assert set(ev.ports["a"]) == {"c1"}
    # Newest first; one instant's two ports in descending series-key order.
    assert [p[0] for p in polls] == [float(window + 2 - i // 2) for i in range(window)]
    assert status == {"a": {"state": "offline", "time": NOW + 2}}
    assert seen == {} and runs == {} and "b" not in ev.tests


def test_equal_values_of_other_types_stay_apart_and_sets_are_shared() -> None:
    windows = Windows(TARGETS)
    for school, value in (("a", 1.0), ("b", 1.0), ("c", 1), ("d", True)):
        windows.add(school, "wifi_coverage", {}, {"coverage_share": value}, NOW)
    sets = {sid: pack.sets[0] for sid, pack in windows.schools.items()}
    assert sets["a"] is sets["b"]  # one tuple for every school with these values
    ev = windows.evidence(["a", "c", "d"], NOW)[0]
    given = [ev.wifi[sid][0]["coverage_share"] for sid in ("a", "c", "d")]
    assert [type(v) for v in given] == [float, int, bool]


def test_bandwidth_figures_are_kept_apart_and_the_rest_is_shared() -> None:
    windows = Windows(TARGETS)
    figures = {"a": 512_345_678.25, "b": 498_000_001, "c": None}
    for school, figure in figures.items():
        windows.add(school, "wan_throughput", {"server": "ns1"},
                    {"download_bps": figure, "result": "ok"}, NOW)
    sets = {sid: pack.sets[0] for sid, pack in windows.schools.items()}
    assert sets["a"] is not sets["b"]  # a float and an int: other value sets
    windows.add("d", "wan_throughput", {"server": "ns1"},
                {"download_bps": 123.5, "result": "ok"}, NOW)
    assert windows.schools["d"].sets[0] is sets["a"]  # another figure, the same set
    ev = windows.evidence(list(figures), NOW)[0]
    given = {sid: rows[0]["download_bps"] for sid, rows in ev.tests.items()}
    assert given == figures and type(given["b"]) is int
    newest = windows.newest("a", NOW - DAY, [None] * len(windows.kinds))[0]
    assert newest[0][""] == [(NOW, sets["a"][1], (512_345_678.25, "ok"))]


def judge_with(state: Path) -> WindowJudge:
    unreachable = build(Storage, {"kind": "influxdb1", "url": "http://127.0.0.1:1"})
    return WindowJudge(InfluxQLReader(unreachable), TARGETS, str(state))


def test_saved_windows_of_another_shape_are_refused(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "windows.pickle"
    saving = judge_with(tmp_path / "none")
    saving.ready, saving.state_file = True, str(state)
    saving.windows.add("a", "ipv6", {}, {"level": 3}, NOW)
    for i, figure in enumerate((512_345_678.25, 498_000_001, 2**60 + 1)):
        saving.windows.add("a", "wan_throughput", {"server": "ns1"},
                           {"download_bps": figure, "result": "ok"}, NOW + i)
    saving.save()
    resumed = judge_with(state)
    ev = resumed.windows.evidence(["a"], NOW + 5)[0]
    assert resumed.ready and ev.ipv6 == {"a": [{"level": 3}]}
    assert [(r["download_bps"], type(r["download_bps"])) for r in ev.tests["a"]] == [
        (2**60 + 1, int), (498_000_001, int), (512_345_678.25, float)]
    # The previous layout (per kind, a dict of per-group lists of tuples).
    shape = (STATE_VERSION - 1, resumed.windows.kinds, resumed.windows.age_ns)
    old = {"a": [{} for _ in resumed.windows.kinds]}
    state.write_bytes(pickle.dumps((shape, old)))
    with caplog.at_level(logging.INFO):
        refused = judge_with(state)
    assert not refused.ready and refused.windows.schools == {}
    assert "kept for other targets" in caplog.text
    state.write_bytes(b"\x80\x05 not a pickle")
    assert not judge_with(state).ready
