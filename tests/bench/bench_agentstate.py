"""What reading the spool backlogs adds to a judging round's agent states, at a province's scale.

    python -m tests.bench.bench_agentstate [SCHOOLS]

SCHOOLS (default 50,000) registered schools in counties of 400, in influxd 1.6.7
(in-memory index): each school's agent status change, its re-stated agent state,
and two hours of heartbeats at the agent's default 5-minute interval (one
school in 50 with a spool backlog). Then ``AgentStates.record`` as the
collector runs it: the first round after a start, and steady rounds 5 minutes
apart, each after a new round of heartbeats arrived (one school in 500 starting
a backlog in it, one in 500 clearing one), for as long as heartbeats are read
once (``BEATS_EVERY_S``: three rounds).

Per round: wall seconds, the collector's CPU seconds and influxd's, for the
status part (the queries a round made before backlogs: the change log, and at
a start the re-statements) and the backlog part (the newest heartbeats, and
for the schools whose backlog is new their heartbeats of the window), and the
whole round (its writes included). The backlog queries' ratios are against the
rest of the same round (its status queries, counts and writes) and against a
reference run right after it: every school's newest heartbeat over the window
the round would read (one series per school, decoded). Steady figures are the
mean of those rounds: what a round costs on average.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from agent.contract.configschema import build
from agent.contract.reading import Reading
from collector.config import Storage
from collector.ingest.lineproto import line
from collector.ingest.writer import InfluxV1Writer
from collector.judge import agentstate
from collector.judge.reader import InfluxQLReader, Row
from collector.judge.registry import School
from tests.bench.bench_dashboard_scale import write
from tests.services import Influxd

S = 10**9
MINUTE, HOUR, DAY = 60 * S, 3600 * S, 86400 * S
BEAT = 5 * MINUTE
PER_COUNTY = 400


def school(n: int) -> School:
    county = n // PER_COUNTY
    return School(f"s{n:06d}", f"s{n:06d}", f"p{county // 125}", f"p{county // 125}",
                  f"c{county // 8}", f"c{county // 8}", f"k{county}", f"k{county}",
                  "primary", 30, 1000.0)


def depth(n: int, step: int) -> int:
    """School n's spool depth at heartbeat round ``step``: one in 50 behind; in each
    measured round one in 500 starts a backlog and one in 500 clears one."""
    if n % 500 == 3:
        return 700 if step % 2 else 2
    if n % 500 == 11:
        return 2 if step % 2 else 900
    return 600 + 10 * step + n % 1000 if n % 50 == 7 else n % 5


def history(schools: list[School], now: int) -> Iterator[str]:
    for n, s in enumerate(schools):
        tags = s.identity.region_tags()
        yield line(Reading("agent_status", {"online": True, "state": "online",
                                            "agent_version": "0.1.0"}, tags, now - 3 * DAY))
        yield line(Reading(agentstate.MEASUREMENT, agentstate.fields(
            "online", now - 3 * DAY, "0.1.0"), tags, now - 8 * HOUR))
        for step, ts in enumerate(range(now - 2 * HOUR + BEAT, now + 1, BEAT)):
            yield from beat(s, n, step - 24, ts)


def beat(s: School, n: int, step: int, ts: int) -> Iterator[str]:
    yield line(Reading("agent", {"spool_depth": float(depth(n, step)), "uptime_seconds": 60.0,
                                 "version": "0.1.0"}, s.identity.region_tags(),
                       ts - n % 240 * S))


class Measured(InfluxQLReader):
    """The reader, with each query's wall, own CPU and influxd CPU seconds added up under
    "backlog" (heartbeat queries) or "status"."""

    def __init__(self, storage: Storage, pid: int) -> None:
        super().__init__(storage)
        self.stat = Path(f"/proc/{pid}/stat")
        self.spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])

    def server_cpu(self) -> float:
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rows(self, query: str) -> list[Row]:
        wall, cpu, server = time.perf_counter(), time.process_time(), self.server_cpu()
        out = super().rows(query)
        part = self.spent['backlog' if 'FROM "agent" ' in query else 'status']
        part[0] += time.perf_counter() - wall
        part[1] += time.process_time() - cpu
        part[2] += self.server_cpu() - server
        return out


def measured_round(states: agentstate.AgentStates, reader: Measured, schools: list[School],
                   now: int, writer: InfluxV1Writer) -> dict[str, list[float]]:
    reader.spent.clear()
    since = (states.beats_ns or now) - agentstate.OVERLAP_S * S  # the heartbeats its read takes
    wall, cpu, server = time.perf_counter(), time.process_time(), reader.server_cpu()
    states.record(schools, now, writer, {})
    reader.spent["round"] = [time.perf_counter() - wall, time.process_time() - cpu,
                             reader.server_cpu() - server]
    out = {k: list(reader.spent[k]) for k in ("status", "backlog", "round")}
    # Reference: every school's newest heartbeat over the same window, decoded.
    reader.spent.clear()
    reader.rows(f'SELECT last("spool_depth") FROM "agent" WHERE time > {since} GROUP BY school')
    out["reference"] = list(reader.spent["backlog"])
    return out


def show(name: str, spent: dict[str, list[float]], backlogs: int) -> None:
    status, backlog, whole, ref = (spent["status"], spent["backlog"], spent["round"],
                                   spent["reference"])
    rest = [w - b for w, b in zip(whole, backlog, strict=True)]
    print(f"  {name:<13} round {whole[0]:6.2f} s wall, {whole[1]:5.2f} + {whole[2]:5.2f} CPU s"
          f" (collector + influxd) | status queries {status[0]:5.2f} s, {status[1]:5.2f} + "
          f"{status[2]:5.2f} | backlog queries {backlog[0]:5.2f} s, {backlog[1]:5.2f} + "
          f"{backlog[2]:5.2f}: {backlog[0] / rest[0]:4.2f}x the rest of the round's wall, "
          f"{sum(backlog[1:]) / max(sum(rest[1:]), 0.01):4.2f}x its CPU; "
          f"{backlog[0] / ref[0]:4.2f}x the reference's wall, "
          f"{sum(backlog[1:]) / max(sum(ref[1:]), 0.01):4.2f}x its CPU | reference "
          f"{ref[0]:5.2f} s, {ref[1]:5.2f} + {ref[2]:5.2f} | {backlogs} schools with a backlog",
          flush=True)


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 50_000
    schools = [school(n) for n in range(count)]
    now = time.time_ns() - 20 * MINUTE
    with tempfile.TemporaryDirectory() as tmp:
        server = Influxd(Path(tmp))
        # Loading shares these cores with other work: a slow write is waited for,
        # not refused (influxd's default is 10 s).
        server.conf.write_text(server.conf.read_text()
                               + '[coordinator]\n  write-timeout = "300s"\n')
        server.start(timeout=60)
        try:
            server.create_db("bench")
            began = time.perf_counter()
            points = write(server, history(schools, now))
            print(f"{count} schools: {points} points in {time.perf_counter() - began:.0f} s",
                  flush=True)
            assert server.proc is not None
            storage = build(Storage, {"kind": "influxdb1", "url": server.url,
                                      "database": "bench", "timeout_seconds": 300})
            reader, writer = Measured(storage, server.proc.pid), InfluxV1Writer(storage)
            states = agentstate.AgentStates(reader)
            show("first round", measured_round(states, reader, schools, now, writer),
                 len(states.backlogs))
            steady = []
            for step in range(1, agentstate.BEATS_EVERY_S * S // BEAT + 1):
                ts = now + step * BEAT
                write(server, (text for n, s in enumerate(schools)
                              for text in beat(s, n, step, ts)))
                spent = measured_round(states, reader, schools, ts, writer)
                show(f"steady {step}", spent, len(states.backlogs))
                steady.append(spent)
            # Heartbeats are read at most every BEATS_EVERY_S: the mean over that
            # many rounds is what a round costs on average.
            mean = {k: [sum(r[k][i] for r in steady) / len(steady) for i in range(3)]
                    for k in ("status", "backlog", "round", "reference")}
            show("steady mean", mean, len(states.backlogs))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
