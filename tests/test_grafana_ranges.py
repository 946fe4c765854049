"""Every panel and alert query over several time ranges, the way Grafana 11 sends them.

The queries are expanded by tests/grafana_emulation.py (an emulation of
Grafana's macros and variable formatting, not Grafana) and run against influxd
1.6.7 holding tests/grafana_world.py's readings, built for the edges: an agent
whose only status change is older than 90 days, one offline for 30 days, one
that went offline 5 hours ago, one online for 36 hours. The ranges include one
that starts after the last status change, one that ends in the past and one
that ends before an agent first connected; each state panel must show, for
every range, the state as of the range's end (agent states: as the judge
re-stated them at its last round before it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from agent.contract.configschema import build
from collector.config import Storage
from collector.grafana import alerting, dashboards
from collector.ingest.lineproto import line
from collector.ingest.writer import InfluxV1Writer
from tests.grafana_emulation import Range, alert_query, panel_query
from tests.grafana_world import (
    BY_ID,
    DAY,
    HOUR,
    SCHOOLS,
    TARGETS,
    VERDICT_LOOKBACK,
    School,
    readings,
)
from tests.services import Influxd

NOW = time.time_ns() // 1_000_000  # the world's "now"; every range is resolved against it
RANGES = [Range.relative(r, now_ms=NOW) for r in ("now-1h", "now-2d", "now-7d", "now-90d")] + [
    Range("after the last status change", NOW - 4 * HOUR, NOW - HOUR),
    Range("ending before c went offline", NOW - 8 * DAY, NOW - 6 * HOUR),
    Range("ending before b first connected", NOW - 70 * DAY, NOW - 50 * DAY)]
SELECTIONS: dict[str, dict[str, Sequence[str] | str]] = {
    "All": {"province": "All", "city": "All", "county": "All"},
    "single": {"province": "All", "city": "All", "county": ["k2"]},
    "multi": {"province": ["p1", "p2"], "city": "All", "county": ["k1", "k3"]},
}
# Every county chosen one by one: the per-school agent tables list them all.
EVERY_COUNTY = {"province": "All", "city": "All", "county": sorted({s.county for s in SCHOOLS})}
CASES = [(r, name) for r in RANGES for name in SELECTIONS]
IDS = [f"{r.name}/{name}" for r, name in CASES]


@pytest.fixture(scope="module")
def db(influxd: Influxd) -> Iterator[str]:
    name = "grafana_ranges"
    influxd.create_db(name)
    writer = InfluxV1Writer(build(Storage, {"kind": "influxdb1", "url": influxd.url,
                                            "database": name, "timeout_seconds": 30}))
    lines = [line(r) for r in readings(NOW)]
    for start in range(0, len(lines), 5000):
        writer.write(lines[start:start + 5000])
    yield name
    influxd.query(f'DROP DATABASE "{name}"', method="POST")


def chosen_schools(selection: Mapping[str, Sequence[str] | str]) -> list[School]:
    def ok(tag: str, value: str) -> bool:
        pick = selection[tag]
        return pick == "All" or value in pick
    return [s for s in SCHOOLS
            if ok("province", s.province) and ok("city", s.city) and ok("county", s.county)]


def show(influxd: Influxd, db: str, board: dict[str, Any], title: str, rng: Range,
         chosen: Mapping[str, Sequence[str] | str], ref: int = 0) -> list[dict[str, Any]]:
    """The series one panel target returns, its query expanded as Grafana would."""
    panel = next(p for p in board["panels"] if p["title"].startswith(title))
    query = panel_query(panel["targets"][ref]["query"], rng, board["templating"]["list"],
                        chosen, panel.get("interval", ""))
    return influxd.query(query, db, method="POST")


def single(series: list[dict[str, Any]]) -> Any:
    """The one number a stat panel shows (None: Grafana's "No data")."""
    values = [v for s in series for row in s["values"] for v in row[1:]]
    assert len(values) <= 1, series
    return values[0] if values else None


def by_tag(series: list[dict[str, Any]], tag: str) -> dict[str, dict[str, Any]]:
    return {s["tags"][tag]: dict(zip(s["columns"][1:], s["values"][-1][1:], strict=True))
            for s in series}


def by_column(series: list[dict[str, Any]], column: str) -> dict[str, dict[str, Any]]:
    """A table's rows keyed by one of its columns (the tables with a row per school
    return them as one series)."""
    rows = [dict(zip(s["columns"], row, strict=True)) for s in series for row in s["values"]]
    keyed = {row.pop(column): row for row in rows}
    assert len(keyed) == len(rows), rows
    for row in keyed.values():
        del row["time"]
    return keyed


def attention_by_county(schools: list[School], end: int) -> dict[str, dict[str, int]]:
    """The table by county as of ``end``: per county, its newest round's agent counts
    within the lookback (as rollup_points wrote them), if any school needed attention."""
    out = {}
    for county in {s.county for s in schools}:
        mine = [s for s in schools if s.county == county]
        rounds = [t for s in mine for t in s.verdict_times(NOW)
                  if end - VERDICT_LOOKBACK < t <= end]
        if not rounds:
            continue
        judged = [s for s in mine if max(rounds) in s.verdict_times(NOW)]
        states = [s.change_at(NOW, max(rounds))[0] for s in judged]
        depths = [s.backlog_at(NOW, max(rounds))[0] for s in judged]
        row = {"offline": states.count("offline"), "never": states.count("never"),
               "backlogged": sum(d > 0 for d in depths), "unsent": sum(depths),
               "schools": len(judged)}
        if row["offline"] or row["never"] or row["backlogged"]:
            out[county] = row
    return out


def share(statuses: list[str | None]) -> float | None:
    known = [s for s in statuses if s is not None]
    return known.count("pass") / len(known) if known else None


@pytest.mark.integration
@pytest.mark.parametrize(("rng", "selection"), CASES, ids=IDS)
def test_every_panel_query_runs(influxd: Influxd, db: str, rng: Range, selection: str) -> None:
    for board in dashboards.all_dashboards():
        chosen = {**SELECTIONS[selection], "level": "county", "school": "c"}
        for panel in board["panels"]:
            for n, _ in enumerate(panel["targets"]):
                show(influxd, db, board, panel["title"], rng, chosen, n)  # raises on an error


@pytest.mark.integration
@pytest.mark.parametrize(("rng", "selection"), CASES, ids=IDS)
def test_state_panels_show_the_state_at_the_range_end(influxd: Influxd, db: str, rng: Range,
                                                      selection: str) -> None:
    chosen = {**SELECTIONS[selection], "level": "province"}
    schools = chosen_schools(chosen)
    end = rng.to_ms
    agents = dashboards.agents()
    judged = {s.sid: s.agent_state(NOW, end) for s in schools if s.agent_state(NOW, end)}
    for n, state in enumerate(("offline", "never")):
        want = sum(st == state for st, _ in judged.values())
        assert single(show(influxd, db, agents, "Agents offline now", rng, chosen, n)) == (
            want if judged else None), state
    # The per-school tables list the schools of the chosen cities or counties only;
    # with every one chosen, the table by county counts them.
    narrowed = chosen["city"] != "All" or chosen["county"] != "All"
    states = by_column(show(influxd, db, agents, "Agents offline or never", rng, chosen),
                       "school")
    # since: the status change's time in epoch ms; none for an agent never connected.
    # Online agents are left out, e's too once back from its outage.
    assert {k: (v["state"], v["since"]) for k, v in states.items()} == ({
        sid: (st, since or None) for sid, (st, since) in judged.items() if st != "online"}
        if narrowed else {})
    counties = by_column(show(influxd, db, agents, "Agents needing attention", rng, chosen),
                         "county")
    assert counties == attention_by_county(schools, end)
    # Per bucket with a round: the chosen schools whose probe keeps failing (c, wan_link).
    failing = [dict(zip(s["columns"], row, strict=True))
               for s in show(influxd, db, agents, "Schools whose probe", rng, chosen)
               for row in s["values"]]
    c_judged = any(rng.from_ms <= t <= end for t in BY_ID["c"].verdict_times(NOW))
    assert {row["wan_link"] for row in failing} <= {0, 1}
    assert any(row["wan_link"] == 1 for row in failing) == (BY_ID["c"] in schools and c_judged)
    assert all(row["wifi"] == 0 for row in failing)
    # Backlogs as the judge re-stated them at its last round before the range's end,
    # schools without one left out (a's 100 unsent readings are no backlog).
    backlogs = by_column(show(influxd, db, agents, "Spool backlogs per school", rng, chosen),
                         "school")
    want_backlogs = {}
    for s in schools:
        backlog, agent = s.backlog(NOW, end), s.agent_state(NOW, end)
        if backlog and agent and backlog[0]:
            want_backlogs[s.sid] = (*backlog, agent[0])
    assert {k: (v["backlog"], v["since"], v["state"]) for k, v in backlogs.items()} == (
        want_backlogs if narrowed else {})
    # A line per chosen county whose roll-ups fall in the range, its newest point the
    # last round's count (and unsent readings) in the range.
    rounds = sorted({t for s in schools for t in s.verdict_times(NOW)
                     if rng.from_ms <= t <= end})
    last = [s for s in schools if rounds and rounds[-1] in s.verdict_times(NOW)]
    for title, field in (("Schools not getting", 0), ("Unsent readings", 1)):
        lines = {s["tags"]["county"]: s["values"][-1][1]
                 for s in show(influxd, db, agents, title, rng, chosen)}
        per_county = dict.fromkeys((s.county for s in last), 0)
        for s in last:
            depth = s.backlog_at(NOW, rounds[-1])[0]
            per_county[s.county] += (depth if field else 1) if depth else 0
        assert lines == per_county, title
    beats = by_tag(show(influxd, db, agents, "Last heartbeat", rng, chosen), "school")
    assert set(beats) == {s.sid for s in schools if any(t <= end for t in s.reading_times(NOW))}

    overview = dashboards.overview()
    for n, target in enumerate(TARGETS):
        want = share([s.verdict(NOW, end, target) for s in schools])
        got = single(show(influxd, db, overview, overview["panels"][n]["title"], rng, chosen))
        assert got == (pytest.approx(want) if want is not None else None), target
        bars = show(influxd, db, overview, "Share of schools meeting", rng, chosen)
        regions = {s["tags"]["province"]: s["values"][-1][1] for s in bars
                   if s["tags"]["target"] == target}
        assert regions == {p: pytest.approx(share(
            [s.verdict(NOW, end, target) for s in schools if s.province == p]))
            for p in {s.province for s in schools if s.verdict(NOW, end, target)}}
    for level in ("province", "city", "county"):
        table = by_tag(show(influxd, db, overview, "Schools by overall status", rng,
                            {**chosen, "level": level}), level)
        assert set(table) == {getattr(s, level) for s in schools if s.verdict(NOW, end, "all")}
        for region, row in table.items():
            mine = [s.verdict(NOW, end, "all") for s in schools if getattr(s, level) == region]
            counts = {st: mine.count(st) for st in ("pass", "fail", "inconclusive", "no_data")}
            assert row == {**counts, "schools": sum(counts.values()),
                           "share": pytest.approx(share(mine))}, region

    reporting = [s for s in schools if s.reports(NOW, end)]
    bars = show(influxd, db, dashboards.ipv6(), "Schools by IPv6 level", rng, chosen)
    levels = [v for s in bars for row in s["values"] for v in row[1:]]
    assert levels == ([sum(s.ipv6_level == n for s in reporting) for n in range(5)]
                      if reporting else [])
    uncovered = by_tag(show(influxd, db, dashboards.wifi(), "Required areas without", rng,
                            chosen), "school")
    assert {k: v["uncovered"] for k, v in uncovered.items()} == {
        s.sid: len(s.uncovered) for s in reporting}


@pytest.mark.integration
def test_spool_backlogs_show_who_is_behind_and_since_when(influxd: Influxd, db: str) -> None:
    agents, rng = dashboards.agents(), RANGES[1]
    table = by_column(show(influxd, db, agents, "Spool backlogs per school", rng,
                           EVERY_COUNTY), "school")
    d_began = min(t for t in BY_ID["d"].reading_times(NOW) if t >= NOW - 20 * HOUR)
    c_began = min(t for t in BY_ID["c"].reading_times(NOW) if t >= NOW - 53 * HOUR)
    # c's agent went offline with 900 unsent readings: it keeps them, and says so.
    assert {k: (v["backlog"], v["since"], v["state"]) for k, v in table.items()} == {
        "c": (900, c_began, "offline"), "d": (2400, d_began, "online")}
    lines = {s["tags"]["county"]: [row[1] for row in s["values"]]
             for s in show(influxd, db, agents, "Schools not getting", rng, SELECTIONS["All"])}
    assert set(lines) == {"k1", "k2", "k3"} and set(lines["k1"]) == {0}
    # d's backlog began 20 h ago: its county's line rises from 0 to 1 within the 2 days.
    assert lines["k3"][0] == 0 and lines["k3"][-1] == 1


@pytest.mark.integration
def test_attention_tables_leave_out_an_agent_back_online(influxd: Influxd, db: str) -> None:
    agents, rng = dashboards.agents(), RANGES[1]
    # e's offline points of its outage (30 to 9 h ago) are within the lookback: the
    # tables show a school by its newest point, which closed its attention.
    held = influxd.query(f'SELECT "state", "attention" FROM "agent_attention" '
                         f"WHERE \"school\" = 'e' AND time > {NOW - 25 * HOUR}ms", db)
    points = [row[1:] for row in held[0]["values"]]
    assert ["offline", True] in points and points[-1] == ["online", False]
    away = by_column(show(influxd, db, agents, "Agents offline or never", rng,
                          EVERY_COUNTY), "school")
    assert {k: v["state"] for k, v in away.items()} == {"b": "offline", "c": "offline"}
    behind = by_column(show(influxd, db, agents, "Spool backlogs per school", rng,
                            EVERY_COUNTY), "school")
    assert set(behind) == {"c", "d"} and behind["d"]["state"] == "online"


@pytest.mark.integration
@pytest.mark.parametrize("rng", RANGES, ids=[r.name for r in RANGES])
@pytest.mark.parametrize("sid", ["a", "c", "d"])
def test_school_panels_show_its_latest_state(influxd: Influxd, db: str, rng: Range,
                                             sid: str) -> None:
    school, end = BY_ID[sid], rng.to_ms
    chosen = {**SELECTIONS["All"], "school": sid}
    rows = by_tag(show(influxd, db, dashboards.school(), "Compliance of", rng, chosen), "target")
    assert {t: r["status"] for t, r in rows.items()} == {
        t: school.verdict(NOW, end, t) for t in (*TARGETS, "all") if school.verdict(NOW, end, t)}
    rooms = dashboards.classrooms()
    at_100 = single(show(influxd, db, rooms, "Classrooms at", rng, chosen))
    below = single(show(influxd, db, rooms, "Classrooms below", rng, chosen))
    if school.reports(NOW, end):
        speeds = school.speeds
        assert at_100 == pytest.approx(sum(v >= 100 for v in speeds) / len(speeds))
        assert below == sum(v < 100 for v in speeds)  # 0 is shown as 0
    else:
        assert at_100 is None and below is None


@pytest.mark.integration
@pytest.mark.parametrize("rng", RANGES[1:4], ids=[r.name for r in RANGES[1:4]])
def test_share_over_time_draws_a_zero_line(influxd: Influxd, db: str, rng: Range) -> None:
    overview = dashboards.overview()
    lines = {TARGETS[n]: [row[1] for s in show(influxd, db, overview, "Share meeting each",
                                                rng, SELECTIONS["All"], n) for row in s["values"]]
             for n in range(len(TARGETS))}
    assert lines["wifi"] and set(lines["wifi"]) == {0}  # nobody passes: a 0% line
    assert all(0 <= v <= 1 for values in lines.values() for v in values)
    # One point per day with verdicts (the panel's minimum interval is 1d), none before.
    days = min(rng.to_ms - rng.from_ms, 100 * DAY) // DAY
    assert days <= len(lines["exit_bandwidth"]) <= days + 1


@pytest.mark.integration
def test_alert_rules_fire_for_the_schools_in_trouble_now(influxd: Influxd, db: str) -> None:
    found = {}
    for rule in alerting.rules():
        series = influxd.query(alert_query(rule, NOW), db, method="POST")
        assert all(s["tags"]["province"] and s["tags"]["county"] for s in series)
        assert all(row[1] == 1 for s in series for row in s["values"])
        found[rule["uid"]] = {(s["tags"]["school"], s["tags"].get("target", ""))
                              for s in series}
    assert found["schoolnet-below-target"] == {
        (s.sid, t) for s in SCHOOLS for t in TARGETS if s.verdict(NOW, NOW, t) == "fail"}
    assert found["schoolnet-school-silent"] == {("b", "")}
    # b has been offline for 30 days, far beyond any window the rule could carry.
    assert found["schoolnet-agent-offline"] == {("b", ""), ("c", "")}
