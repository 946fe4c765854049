"""Agent states re-stated by the collector: what is written when, counted per region, and
kept from the change log across rounds and restarts (against a real influxd)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from agent.contract.configschema import build
from agent.contract.reading import Reading
from collector.config import Storage
from collector.grafana import dashboards
from collector.ingest.lineproto import line
from collector.ingest.writer import InfluxV1Writer
from collector.judge import agentstate
from collector.judge.agentstate import BACKLOG, RESTATE_NS, AgentStates, Backlog, State
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.rollups import Region
from collector.judge.rules import Health
from tests.grafana_emulation import Range, panel_query
from tests.services import Influxd

HOUR = 3600 * 10**9
DAY = 24 * HOUR
UNREACHABLE = build(Storage, {"kind": "influxdb1", "url": "http://127.0.0.1:1"})


def school(sid: str, county: str = "k1", city: str = "c1", province: str = "p1") -> School:
    return School(sid, sid, province, province, city, city, county, county, "primary", 10,
                  1000.0)


SCHOOLS = [school("a"), school("b"), school("c", "k2"), school("d", "k3", "c2", "p2")]


def test_counts_sum_counties_into_cities_and_provinces() -> None:
    counted = agentstate.tally([("p1", "c1", "k1", "online"), ("p1", "c1", "k1", "offline"),
                                ("p1", "c1", "k2", "never"), ("p2", "c2", "k3", "online")])
    def states(region: Region) -> dict[str, int]:
        return {k: counted[region][k] for k in agentstate.STATES}
    assert states(Region("county", "p1", "c1", "k1")) == {"online": 1, "offline": 1, "never": 0}
    assert states(Region("city", "p1", "c1")) == {"online": 1, "offline": 1, "never": 1}
    assert states(Region("province", "p2")) == {"online": 1, "offline": 0, "never": 0}
    rows = {tuple(sorted(r.tags.items())): r.fields
            for r in agentstate.rollup_readings(counted, 5)}
    assert rows[(("level", "province"), ("province", "p1"))] == {
        "schools": 3, "online": 1, "offline": 1, "never": 1,
        **{f"failing_{p}": 0 for p in agentstate.PROBES}, "backlogged": 0, "unsent": 0}


def test_backlogs_are_counted_with_their_unsent_readings() -> None:
    counted = agentstate.tally(
        [("p1", "c1", "k1", "online"), ("p1", "c1", "k1", "offline"),
         ("p1", "c2", "k2", "online")],
        backlogs=[("p1", "c1", "k1", 800), ("p1", "c1", "k1", 2000), ("p1", "c2", "k2", 600)])
    assert counted[Region("county", "p1", "c1", "k1")]["backlogged"] == 2
    assert counted[Region("county", "p1", "c1", "k1")]["unsent"] == 2800
    assert counted[Region("province", "p1")]["backlogged"] == 3
    assert counted[Region("province", "p1")]["unsent"] == 3400
    assert counted[Region("city", "p1", "c2")]["online"] == 1


def test_failing_probes_are_counted_per_probe_and_region() -> None:
    counted = agentstate.tally(
        [("p1", "c1", "k1", "online"), ("p1", "c1", "k2", "online")],
        [("p1", "c1", "k1", frozenset({"wifi", "ipv6"})), ("p1", "c1", "k2", frozenset({"wifi"})),
         ("p1", "c1", "k2", frozenset({"made_up"}))])  # only the contract's probe names
    assert counted[Region("city", "p1", "c1")]["failing_wifi"] == 2
    assert counted[Region("county", "p1", "c1", "k1")]["failing_ipv6"] == 1
    assert "failing_made_up" not in counted[Region("county", "p1", "c1", "k2")]


def of(readings: list[Reading], measurement: str = agentstate.MEASUREMENT) -> list[Reading]:
    return [r for r in readings if r.measurement == measurement]


def test_a_state_is_written_when_it_changes_or_grows_old_and_never_otherwise() -> None:
    states = AgentStates(InfluxQLReader(UNREACHABLE))
    now = 1_800_000_000 * 10**9
    states.known["a"] = State("online", now - 3 * DAY, "0.1.0")
    first = of(states.due(SCHOOLS, now))
    assert {r.tags["school"]: r.fields["state"] for r in first} == {
        "a": "online", "b": "never", "c": "never", "d": "never"}
    assert first[0].fields["since"] == (now - 3 * DAY) // 1_000_000
    assert "since" not in first[1].fields  # never connected: no time to show
    assert states.due(SCHOOLS, now + HOUR) == []
    states.known["b"] = State("offline", now + HOUR, "0.1.0")
    assert [r.tags["school"] for r in of(states.due(SCHOOLS, now + 2 * HOUR))] == ["b"]
    # Re-stated within the dashboards' 25 h lookback, however long nothing changed.
    assert len(of(states.due(SCHOOLS, now + RESTATE_NS))) == 3
    assert len(of(states.due(SCHOOLS, now + 2 * HOUR + RESTATE_NS))) == 1
    # A backlog appearing, growing or clearing is a change; the same one is not.
    states.backlogs["c"] = Backlog(900, now + 3 * HOUR)
    written = of(states.due(SCHOOLS, now + 3 * HOUR))
    assert [(r.tags["school"], r.fields["backlog"], r.fields["backlog_since"])
            for r in written] == [("c", 900, (now + 3 * HOUR) // 1_000_000)]
    assert of(states.due(SCHOOLS, now + 4 * HOUR)) == []
    states.backlogs["c"] = Backlog(1500, now + 3 * HOUR)
    assert [r.fields["backlog"] for r in of(states.due(SCHOOLS, now + 5 * HOUR))] == [1500]
    del states.backlogs["c"]
    cleared = of(states.due(SCHOOLS, now + 6 * HOUR))
    assert [r.fields["backlog"] for r in cleared] == [0]
    assert "backlog_since" not in cleared[0].fields
    states.backlogs["a"] = Backlog(700, now)
    states.due(SCHOOLS[1:], now + 3 * RESTATE_NS)
    assert "a" not in states.written and "a" not in states.known  # no longer registered
    assert "a" not in states.backlogs and "a" not in states.attention


def attention(readings: list[Reading]) -> dict[str, tuple[object, ...]]:
    return {r.tags["school"]: (r.fields["attention"], r.fields["state"], r.fields["backlog"])
            for r in of(readings, agentstate.ATTENTION)}


def test_attention_is_written_on_entering_changing_restating_and_leaving() -> None:
    states = AgentStates(InfluxQLReader(UNREACHABLE))
    now = 1_800_000_000 * 10**9
    states.known.update(a=State("online", now - DAY, "0.1.0"),
                        b=State("offline", now - HOUR, "0.1.0"))
    first = states.due(SCHOOLS, now)
    # Offline and never connected; a's online agent is not written at all.
    assert attention(first) == {"b": (True, "offline", 0), "c": (True, "never", 0),
                                "d": (True, "never", 0)}
    # The same fields as agent_state (since, version), and the flag.
    assert of(first, agentstate.ATTENTION)[0].fields == {
        **of(first)[1].fields, "attention": True}
    assert states.attention == {"b", "c", "d"}
    assert states.due(SCHOOLS, now + HOUR) == []
    # An online agent with a backlog enters; a change of its backlog is written again.
    states.backlogs["a"] = Backlog(900, now + HOUR)
    assert attention(states.due(SCHOOLS, now + 2 * HOUR)) == {"a": (True, "online", 900)}
    states.backlogs["a"] = Backlog(1500, now + HOUR)
    assert attention(states.due(SCHOOLS, now + 3 * HOUR)) == {"a": (True, "online", 1500)}
    # Re-stated with agent_state while it stays; left alone for schools never in it.
    restated = states.due(SCHOOLS, now + RESTATE_NS)
    assert [r.tags["school"] for r in of(restated)] == ["b", "c", "d"]
    assert attention(restated) == {"b": (True, "offline", 0), "c": (True, "never", 0),
                                   "d": (True, "never", 0)}
    # Leaving: one closing point, online without a backlog, then nothing more.
    states.known["b"] = State("online", now + RESTATE_NS + HOUR, "0.1.0")
    del states.backlogs["a"]
    left = states.due(SCHOOLS, now + RESTATE_NS + 2 * HOUR)
    assert attention(left) == {"a": (False, "online", 0), "b": (False, "online", 0)}
    assert "backlog_since" not in of(left, agentstate.ATTENTION)[0].fields
    assert states.attention == {"c", "d"}
    assert attention(states.due(SCHOOLS, now + 3 * RESTATE_NS)) == {
        "c": (True, "never", 0), "d": (True, "never", 0)}
    # A school needing attention that has no point yet (a database from before this
    # measurement) gets one although its agent_state is not due.
    states.attention.discard("c")
    assert [(r.measurement, r.tags["school"]) for r in states.due(
        SCHOOLS, now + 3 * RESTATE_NS + HOUR)] == [(agentstate.ATTENTION, "c")]


@pytest.fixture
def db(influxd: Influxd) -> Iterator[tuple[InfluxQLReader, InfluxV1Writer]]:
    name = f"agents_{uuid.uuid4().hex[:8]}"
    influxd.create_db(name)
    storage = build(Storage, {"kind": "influxdb1", "url": influxd.url, "database": name,
                              "timeout_seconds": 30})
    yield InfluxQLReader(storage), InfluxV1Writer(storage)
    influxd.query(f'DROP DATABASE "{name}"', method="POST")


def status(s: School, state: str, ts: int) -> str:
    return line(Reading("agent_status", {"online": state == "online", "state": state,
                                         "agent_version": "0.1.0"},
                        s.identity.region_tags(), ts))


def stored(reader: InfluxQLReader) -> list[dict[str, object]]:
    return reader.rows(f'SELECT "state", "since" FROM "{agentstate.MEASUREMENT}" GROUP BY school')


@pytest.mark.integration
def test_states_follow_the_change_log_across_rounds_and_restarts(
        db: tuple[InfluxQLReader, InfluxV1Writer]) -> None:
    reader, writer = db
    now = time.time_ns()
    a, b, c, d = SCHOOLS
    # a's only change is older than the raw readings' 90 days; c went offline 3 h ago.
    writer.write([status(a, "online", now - 120 * DAY), status(c, "online", now - 10 * DAY),
                  status(c, "offline", now - 3 * HOUR), status(d, "online", now - DAY)])
    states = AgentStates(reader)
    health = {"c": Health(True, None, frozenset({"wan_link", "not_a_probe"}))}
    states.record(SCHOOLS, now, writer, health)
    rows = {r["school"]: (r["state"], r["since"]) for r in stored(reader)}
    assert rows == {"a": ("online", (now - 120 * DAY) // 10**6), "b": ("never", None),
                    "c": ("offline", (now - 3 * HOUR) // 10**6),
                    "d": ("online", (now - DAY) // 10**6)}
    counts = {r["county"]: (r["online"], r["offline"], r["never"], r["failing_wan_link"])
              for r in reader.rows(
                  f'SELECT * FROM "{agentstate.ROLLUP}" WHERE "level" = \'county\'')}
    assert counts == {"k1": (1, 0, 1, 0), "k2": (0, 1, 0, 1), "k3": (1, 0, 0, 0)}

    # b connects between rounds: the next round reads only the changes since the last.
    writer.write([status(b, "online", now + HOUR)])
    states.record(SCHOOLS, now + 2 * HOUR, writer, {})
    assert len(stored(reader)) == 5 and states.known["b"] == State(
        "online", (now + HOUR) // 10**6 * 10**6, "0.1.0")

    # A restarted collector starts from the re-statements (d's old change still counts
    # as the one it re-stated) and writes nothing that did not change.
    writer.write([status(d, "offline", now + 3 * HOUR)])
    again = AgentStates(reader)
    again.beats_every_ns = 0
    again.refresh(SCHOOLS, now + 4 * HOUR)
    assert {sid: s.state for sid, s in again.known.items()} == {
        "a": "online", "b": "online", "c": "offline", "d": "offline"}
    # Nor attention points: b's closed at the second round, c's holds.
    assert again.attention == {"c"}
    assert [(r.measurement, r.tags["school"]) for r in again.due(SCHOOLS, now + 4 * HOUR)] == [
        (agentstate.MEASUREMENT, "d"), (agentstate.ATTENTION, "d")]


def heartbeat(s: School, depth: int, ts: int) -> str:
    return line(Reading("agent", {"spool_depth": depth, "uptime_seconds": 60.0,
                                  "version": "0.1.0"}, s.identity.region_tags(), ts))


def backlogs(reader: InfluxQLReader) -> dict[str, tuple[int, object]]:
    """Each school's newest re-stated backlog and since when."""
    return {r["school"]: (r["backlog"], r["backlog_since"]) for r in reader.rows(
        f'SELECT last("backlog") AS "backlog", "backlog_since" FROM "{agentstate.MEASUREMENT}" '
        "GROUP BY school")}


def county_backlogs(reader: InfluxQLReader) -> dict[str, tuple[int, int]]:
    return {r["county"]: (r["backlogged"], r["unsent"]) for r in reader.rows(
        f'SELECT last("backlogged") AS "backlogged", last("unsent") AS "unsent" '
        f'FROM "{agentstate.ROLLUP}" WHERE "level" = \'county\' GROUP BY county')}


@pytest.mark.integration
def test_backlogs_follow_the_newest_heartbeats_across_rounds_and_restarts(
        db: tuple[InfluxQLReader, InfluxV1Writer]) -> None:
    reader, writer = db
    now = time.time_ns()
    a, b, c, d = SCHOOLS
    began = now - 20 * 60 * 10**9
    states = AgentStates(reader)
    states.beats_every_ns = 0  # these rounds follow each other closer than heartbeats are read
    # a's spool grows again after a backlog that cleared; b holds what a school in step
    # holds; c's backlog cleared.
    writer.write([heartbeat(a, 2000, now - 30 * 60 * 10**9), heartbeat(a, 3, now - 25 * 60 * 10**9),
                  heartbeat(a, BACKLOG, began), heartbeat(a, 900, now - 10 * 60 * 10**9),
                  heartbeat(a, 1200, now - 5 * 60 * 10**9),
                  heartbeat(b, BACKLOG - 1, now - 60 * 10**9),
                  heartbeat(c, 5000, now - 3 * HOUR), heartbeat(c, 0, now - 2 * HOUR)])
    states.record(SCHOOLS, now, writer, {})
    # since: the first heartbeat of the run that is still unbroken (a's earlier one cleared).
    first_seen = began // 10**6
    assert backlogs(reader) == {"a": (1200, first_seen), "b": (0, None), "c": (0, None),
                                "d": (0, None)}
    assert county_backlogs(reader) == {"k1": (1, 1200), "k2": (0, 0), "k3": (0, 0)}

    # Next round: a keeps its backlog (and its since) as it drains; d starts one.
    writer.write([heartbeat(a, 700, now + 4 * 60 * 10**9),
                  heartbeat(d, 3000, now + 3 * 60 * 10**9)])
    states.record(SCHOOLS, now + 5 * 60 * 10**9, writer, {})
    assert backlogs(reader) == {"a": (700, first_seen), "b": (0, None), "c": (0, None),
                                "d": (3000, (now + 3 * 60 * 10**9) // 10**6)}
    assert county_backlogs(reader) == {"k1": (1, 700), "k2": (0, 0), "k3": (1, 3000)}

    # Rounds are the resolution: a backlog that cleared and came back between two
    # rounds goes on as one; one cleared at a round is gone, and the next is new.
    writer.write([heartbeat(a, 5, now + 6 * 60 * 10**9), heartbeat(a, 800, now + 8 * 60 * 10**9)])
    states.record(SCHOOLS, now + 10 * 60 * 10**9, writer, {})
    assert backlogs(reader)["a"] == (800, first_seen)
    writer.write([heartbeat(a, 5, now + 11 * 60 * 10**9)])
    states.record(SCHOOLS, now + 12 * 60 * 10**9, writer, {})
    assert backlogs(reader)["a"] == (0, None)
    writer.write([heartbeat(a, 900, now + 13 * 60 * 10**9)])
    states.record(SCHOOLS, now + 14 * 60 * 10**9, writer, {})
    assert backlogs(reader)["a"] == (900, (now + 13 * 60 * 10**9) // 10**6)

    # A restarted collector takes the backlogs from its re-statements: d's agent went
    # silent (no heartbeat within the hour) and keeps its own; a's has cleared.
    writer.write([heartbeat(a, 10, now + 9 * 60 * 10**9)])
    again = AgentStates(reader)
    again.beats_every_ns = 0
    later = now + 2 * HOUR
    writer.write([heartbeat(a, 10, later - 60 * 10**9)])
    again.record(SCHOOLS, later, writer, {})
    assert again.backlogs == {"d": Backlog(3000, (now + 3 * 60 * 10**9) // 10**6 * 10**6)}
    assert backlogs(reader)["a"] == (0, None)
    assert county_backlogs(reader) == {"k1": (0, 0), "k2": (0, 0), "k3": (1, 3000)}


@pytest.mark.integration
def test_heartbeats_are_read_at_most_every_quarter_hour(
        db: tuple[InfluxQLReader, InfluxV1Writer]) -> None:
    reader, writer = db
    now = time.time_ns()
    a = SCHOOLS[0]
    states = AgentStates(reader)
    states.record(SCHOOLS, now, writer, {})
    writer.write([heartbeat(a, 900, now + 60 * 10**9)])
    states.record(SCHOOLS, now + agentstate.BEATS_EVERY_S * 10**9 - 1, writer, {})
    assert states.backlogs == {}
    # The next read takes everything stored since the last one (the round between
    # read none of it).
    states.record(SCHOOLS, now + agentstate.BEATS_EVERY_S * 10**9, writer, {})
    assert states.backlogs == {"a": Backlog(900, (now + 60 * 10**9) // 10**6 * 10**6)}


def table(reader: InfluxQLReader, title: str, end_ns: int) -> dict[str, dict[str, object]]:
    """An agent-health table's rows per school, its query expanded as Grafana would for a
    range ending at ``end_ns`` with every county chosen (the per-school tables list the
    chosen cities' or counties' schools only)."""
    board = dashboards.agents()
    panel = next(p for p in board["panels"] if p["title"].startswith(title))
    end_ms = -(-end_ns // 10**6)  # Grafana sends whole milliseconds: the point at end_ns is in
    query = panel_query(panel["targets"][0]["query"], Range("2d", end_ms - 2 * DAY // 10**6,
                                                            end_ms),
                        board["templating"]["list"], {
                            "province": "All", "city": "All",
                            "county": sorted({s.county for s in SCHOOLS})})
    return {row["school"]: row for row in reader.rows(query)}


def attention_points(reader: InfluxQLReader) -> dict[str, list[tuple[object, object]]]:
    return {sid: [(r["attention"], r["state"]) for r in rows] for sid, rows in _per_school(
        reader.rows(f'SELECT "attention", "state" FROM "{agentstate.ATTENTION}" '
                    "GROUP BY school")).items()}


def _per_school(rows: list[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        out.setdefault(str(row["school"]), []).append(row)
    return out


@pytest.mark.integration
def test_attention_tables_list_who_needs_it_across_rounds_and_a_restart(
        db: tuple[InfluxQLReader, InfluxV1Writer]) -> None:
    reader, writer = db
    now = time.time_ns()
    minute = 60 * 10**9
    a, b, c = SCHOOLS[:3]
    # a online, b went offline 3 h ago, c online with a backlog, d never connected.
    writer.write([status(a, "online", now - 10 * DAY), status(b, "online", now - 10 * DAY),
                  status(b, "offline", now - 3 * HOUR), status(c, "online", now - 10 * DAY),
                  heartbeat(a, 3, now - 10 * minute), heartbeat(c, 2000, now - 10 * minute)])
    states = AgentStates(reader)
    states.record(SCHOOLS, now, writer, {})
    away = table(reader, "Agents offline or never", now)
    assert {k: (v["state"], v["since"]) for k, v in away.items()} == {
        "b": ("offline", (now - 3 * HOUR) // 10**6), "d": ("never", None)}
    behind = table(reader, "Spool backlogs per school", now)
    assert {k: (v["backlog"], v["since"], v["state"]) for k, v in behind.items()} == {
        "c": (2000, (now - 10 * minute) // 10**6, "online")}

    # The collector stops; meanwhile b's agent comes back and c's spool drains.
    writer.write([status(b, "online", now + HOUR), heartbeat(c, 4, now + 90 * minute)])
    later = now + 2 * HOUR
    assert set(table(reader, "Agents offline or never", later)) == {"b", "d"}  # as of then
    again = AgentStates(reader)
    again.beats_every_ns = 0
    again.refresh(SCHOOLS, later)
    assert again.attention == {"b", "c", "d"}  # as its newest points say
    again.record(SCHOOLS, later, writer, {})
    assert again.attention == {"d"}
    # b's and c's points of the first round are within the lookback; their closing
    # points leave them out. d's, unchanged, was not written again.
    assert attention_points(reader) == {"b": [(True, "offline"), (False, "online")],
                                        "c": [(True, "online"), (False, "online")],
                                        "d": [(True, "never")]}
    assert set(table(reader, "Agents offline or never", later)) == {"d"}
    assert table(reader, "Spool backlogs per school", later) == {}
    # Ranges ending before the restart still show them as they were then.
    assert set(table(reader, "Agents offline or never", later - minute)) == {"b", "d"}


def restatement(s: School, state: State, backlog: Backlog, ts: int) -> str:
    return line(Reading(agentstate.MEASUREMENT, agentstate.fields(
        state.state, state.since_ns, state.version, backlog), s.identity.region_tags(), ts))


@pytest.mark.integration
def test_a_start_on_states_without_attention_points_writes_them(
        db: tuple[InfluxQLReader, InfluxV1Writer]) -> None:
    reader, writer = db
    now = time.time_ns()
    a, b, c, d = SCHOOLS
    since = (now - DAY) // 10**6 * 10**6
    # As a collector from before agent_attention left the database: re-statements only.
    writer.write([restatement(a, State("online", since, "0.1.0"), Backlog(), now - HOUR),
                  restatement(b, State("offline", since, "0.1.0"), Backlog(), now - HOUR),
                  restatement(c, State("online", since, "0.1.0"), Backlog(700, since),
                              now - HOUR),
                  restatement(d, State("never"), Backlog(), now - HOUR)])
    states = AgentStates(reader)
    states.record(SCHOOLS, now, writer, {})
    assert len(stored(reader)) == 4  # nothing changed: no agent_state written
    assert attention_points(reader) == {"b": [(True, "offline")], "c": [(True, "online")],
                                        "d": [(True, "never")]}
    assert set(table(reader, "Agents offline or never", now)) == {"b", "d"}
    assert {k: v["backlog"] for k, v in table(reader, "Spool backlogs", now).items()} == {
        "c": 700}
