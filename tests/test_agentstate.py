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
from collector.ingest.lineproto import line
from collector.ingest.writer import InfluxV1Writer
from collector.judge import agentstate
from collector.judge.agentstate import RESTATE_NS, AgentStates, State
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.rollups import Region
from collector.judge.rules import Health
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
        return {k: v for k, v in counted[region].items() if not k.startswith("failing_")}
    assert states(Region("county", "p1", "c1", "k1")) == {"online": 1, "offline": 1, "never": 0}
    assert states(Region("city", "p1", "c1")) == {"online": 1, "offline": 1, "never": 1}
    assert states(Region("province", "p2")) == {"online": 1, "offline": 0, "never": 0}
    rows = {tuple(sorted(r.tags.items())): r.fields
            for r in agentstate.rollup_readings(counted, 5)}
    assert rows[(("level", "province"), ("province", "p1"))] == {
        "schools": 3, "online": 1, "offline": 1, "never": 1,
        **{f"failing_{p}": 0 for p in agentstate.PROBES}}


def test_failing_probes_are_counted_per_probe_and_region() -> None:
    counted = agentstate.tally(
        [("p1", "c1", "k1", "online"), ("p1", "c1", "k2", "online")],
        [("p1", "c1", "k1", frozenset({"wifi", "ipv6"})), ("p1", "c1", "k2", frozenset({"wifi"})),
         ("p1", "c1", "k2", frozenset({"made_up"}))])  # only the contract's probe names
    assert counted[Region("city", "p1", "c1")]["failing_wifi"] == 2
    assert counted[Region("county", "p1", "c1", "k1")]["failing_ipv6"] == 1
    assert "failing_made_up" not in counted[Region("county", "p1", "c1", "k2")]


def test_a_state_is_written_when_it_changes_or_grows_old_and_never_otherwise() -> None:
    states = AgentStates(InfluxQLReader(UNREACHABLE))
    now = 1_800_000_000 * 10**9
    states.known["a"] = State("online", now - 3 * DAY, "0.1.0")
    first = states.due(SCHOOLS, now)
    assert {r.tags["school"]: r.fields["state"] for r in first} == {
        "a": "online", "b": "never", "c": "never", "d": "never"}
    assert first[0].fields["since"] == (now - 3 * DAY) // 1_000_000
    assert "since" not in first[1].fields  # never connected: no time to show
    assert states.due(SCHOOLS, now + HOUR) == []
    states.known["b"] = State("offline", now + HOUR, "0.1.0")
    assert [r.tags["school"] for r in states.due(SCHOOLS, now + 2 * HOUR)] == ["b"]
    # Re-stated within the dashboards' 25 h lookback, however long nothing changed.
    assert len(states.due(SCHOOLS, now + RESTATE_NS)) == 3
    assert len(states.due(SCHOOLS, now + 2 * HOUR + RESTATE_NS)) == 1
    states.due(SCHOOLS[1:], now + 3 * RESTATE_NS)
    assert "a" not in states.written and "a" not in states.known  # no longer registered


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
    again.refresh(SCHOOLS, now + 4 * HOUR)
    assert {sid: s.state for sid, s in again.known.items()} == {
        "a": "online", "b": "online", "c": "offline", "d": "offline"}
    assert [r.tags["school"] for r in again.due(SCHOOLS, now + 4 * HOUR)] == ["d"]
