"""A simulated county (or province) for judging: a registry and the readings
its agents send, with what real schools do to the evidence: tests that fail or
are CPU-bound, ports down or of unknown speed, classrooms on two ports,
readings resent after a lost receipt, spooled ones arriving late and out of
order, readings older than ``max_age_days``, silent schools, last wills."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode, encode_status
from collector.ingest.transport import Message

HEADER = ("school_id,name,province_code,province_name,city_code,city_name,county_code,"
          "county_name,school_type,classes,contracted_mbps\n")
TYPES = ("primary", "junior", "senior", "nine_year", "teaching_point", "vocational")
MINUTE = 60 * 10**9
DAY = 86400 * 10**9
PROBES = ("wan_link", "wan_throughput", "classroom_links", "wifi", "ipv6")


@dataclass(frozen=True)
class SimSchool:
    identity: Identity
    school_type: str
    classes: int
    mood: str  # good, poor, flaky, silent, gone


def county(n: int, seed: int = 19, cities: int = 1, classes: int = 0) -> list[SimSchool]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        city = f"37{(i % cities) + 1:02d}"
        county_code = f"{city}{(i // 50) % 20 + 1:02d}"
        mood = rng.choices(("good", "poor", "flaky", "silent", "gone"), (5, 2, 3, 1, 1))[0]
        out.append(SimSchool(Identity("37", city, county_code, f"s{i:06d}"),
                             rng.choice(TYPES), classes or rng.randint(1, 12), mood))
    return out


def registry_csv(schools: list[SimSchool], path: Path) -> Path:
    rows = [f"{s.identity.school_id},学校,37,山东省,{s.identity.city},市,{s.identity.county},"
            f"县,{s.school_type},{s.classes},1000" for s in schools]
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _round(s: SimSchool, rng: random.Random, ts: int) -> Iterator[Reading]:
    """One round of a school's probes (five minutes of an agent's readings)."""
    good = s.mood == "good" or (s.mood == "flaky" and rng.random() < 0.6)
    if rng.random() < 0.8:
        speed = rng.choice((1000.0, 1000.0, 100.0, 0.0) if s.mood != "good" else (1000.0,))
        yield Reading("wan_link", {"link_speed_mbps": speed, "oper_up": speed > 0},
                      {"iface": rng.choice(("eth0", "eth0", "eth1"))}, ts)
    if rng.random() < 0.5:
        result = rng.choice(("ok", "ok", "inconclusive", "timeout")) if not good else "ok"
        fields: dict[str, float | str | bool] = {"result": result}
        if result == "ok":
            fields["download_bps"] = rng.uniform(6e8, 9.6e8) if good else rng.uniform(5e7, 9e8)
        yield Reading("wan_throughput", fields, {"method": "http", "server": "ns1"}, ts + 1)
    for room in range(s.classes + rng.choice((0, 0, 1)) - rng.choice((0, 0, 1))):
        ports = ("1", "2") if room % 5 == 4 else ("1",)  # some classrooms have two ports
        for port in ports:
            f: dict[str, float | str | bool] = {}
            roll = rng.random()
            if roll < 0.05:
                f["result"] = "inconclusive"
            elif roll < 0.1:
                f["oper_up"] = False
            else:
                f["oper_up"] = True
                f["link_speed_mbps"] = 1000.0 if good or rng.random() < 0.5 else 10.0
                f["result"] = "ok"
            yield Reading("classroom_link", f, {"classroom": f"c{room}", "switch": "sw1",
                                                "port": f"{room}/{port}"}, ts + 2)
    if rng.random() < 0.7:
        yield Reading("wifi_coverage", {"coverage_share": 1.0 if good else rng.random(),
                                        "result": "ok"}, {}, ts + 3)
    if rng.random() < 0.3:
        yield Reading("ipv6", {"level": 3 if good else rng.randint(0, 4)}, {}, ts + 4)
    for i, probe in enumerate(PROBES):
        ok = good or rng.random() < 0.3
        yield Reading("probe_run", {"result": "ok" if ok else "error",
                                    "duration_seconds": rng.uniform(0.1, 20)},
                      {"probe": probe}, ts + 5 + i)


def messages(schools: list[SimSchool], start_ns: int, rounds: int, step_ns: int = 5 * MINUTE,
             seed: int = 7, hostile: bool = True) -> list[Message]:
    """Every school's readings over ``rounds`` rounds from ``start_ns``, as the
    broker would deliver them: resends, late and shuffled backlogs included."""
    rng = random.Random(seed)
    out: list[Message] = []
    seq = 0
    for s in schools:
        if s.mood == "silent":
            rounds_here = rounds // 3  # went quiet long ago
        elif s.mood == "gone":
            rounds_here = 0
        else:
            rounds_here = rounds
        mine: list[Message] = []
        if hostile and rng.random() < 0.2:  # readings older than max_age_days
            old = Reading("ipv6", {"level": 4}, {}, start_ns - 32 * DAY)
            seq += 1
            mine.append(Message(s.identity.topic("ipv6"), encode(s.identity, old, seq)))
        for r in range(rounds_here):
            for reading in _round(s, rng, start_ns + r * step_ns):
                seq += 1
                msg = Message(s.identity.topic(reading.measurement),
                              encode(s.identity, reading, seq))
                mine.append(msg)
                if hostile and rng.random() < 0.03:  # a lost receipt: sent again
                    mine.append(Message(msg.topic, msg.payload))
        if rounds_here and rng.random() < 0.3:
            state = "offline" if s.mood != "good" else "online"
            at = start_ns + rounds_here * step_ns
            mine.append(Message(s.identity.status_topic,
                                encode_status(s.identity, state, at, "0.1"),
                                received_ns=at))
        if hostile and rng.random() < 0.3:  # a spooled backlog, delivered shuffled
            rng.shuffle(mine)
        out += mine
    return out
