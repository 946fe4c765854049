"""How long the overview and agent-health queries take on influxd 1.6.7 as schools grow.

    python -m tests.bench.bench_dashboard_queries [SCHOOLS ...]

For each size: constructed compliance verdicts (5 targets, every 6 h for 7
days, as collector.judge.evaluate writes them) with each round's regional
roll-ups (what the overview reads) and agent status changes (a
reconnect every 3 days for 90 days, every 7th agent offline for the last 30)
for SCHOOLS schools spread over 4 provinces, 16 cities and 64 counties; then
every query of the overview and agent-health dashboards with all regions
chosen, grouped by county, over the last 7 days, expanded as Grafana would
(tests/grafana_emulation.py). The agents' state queries read the newest status
with no lower time bound.

Reference, measured in the same run: one plain scan of the range's verdicts
(``count(status)`` over 7 days); the ratio column is the slowest panel's time
over it. Grafana's data source timeout is 30 s, and a panel slower than ~1 s
makes a dashboard feel broken.
"""

from __future__ import annotations

import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from agent.contract.reading import Reading
from collector.grafana import dashboards, influxql
from collector.ingest.lineproto import line
from collector.judge import rollups
from collector.judge.registry import School
from collector.judge.rules import Verdict
from tests.grafana_emulation import Range, panel_query
from tests.services import Influxd

HOUR_NS = 3600 * 10**9
TARGETS = ("exit_bandwidth", "classroom_links", "wifi", "ipv6", "all")
STATUSES = ("pass", "pass", "fail", "inconclusive", "no_data")
CHOSEN = {"province": "All", "city": "All", "county": "All", "level": "county"}
REFERENCE = 'SELECT count("status") FROM "compliance" WHERE $timeFilter'


def verdicts(schools: int, now_ns: int) -> list[str]:
    lines = []
    registered: list[School] = []
    rounds: dict[int, list[Verdict]] = defaultdict(list)
    for n in range(schools):
        county = n % 64
        tags = {"province": f"p{county // 16}", "city": f"c{county // 4}",
                "county": f"k{county}", "school": f"s{n:06d}"}
        for day in range(90, 0, -3):
            offline = n % 7 == 0 and day <= 30
            if offline and day < 30:
                continue
            lines.append(line(Reading("agent_status", {
                "online": not offline, "state": "offline" if offline else "online",
                "agent_version": "0.1.0"}, tags, now_ns - day * 24 * HOUR_NS)))
        school = School(tags["school"], "", tags["province"], "", tags["city"], "",
                        tags["county"], "", "primary", 30, 1000.0)
        registered.append(school)
        for step in range(7 * 4):
            ts = now_ns - (step * 6 + 1) * HOUR_NS
            for t, target in enumerate(TARGETS):
                status = STATUSES[(n + t + step) % len(STATUSES)]
                lines.append(line(Reading("compliance", {
                    "status": status, "pass": status == "pass", "value": 900.0,
                    "threshold": 800.0, "readings": 4.0}, {**tags, "target": target}, ts)))
                rounds[ts].append(Verdict(school, target, status, 900.0, 800.0, 4))
    # The judge's roll-ups of each round (what the overview reads).
    for ts, judged in rounds.items():
        lines += [line(p) for p in rollups.points(judged, registered, ts)]
    return lines


def run(schools: int) -> tuple[int, float, float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        server = Influxd(Path(tmp))
        server.start(timeout=60)
        try:
            server.create_db("bench")
            lines = verdicts(schools, time.time_ns())
            for start in range(0, len(lines), 5000):
                req = urllib.request.Request(f"{server.url}/write?db=bench",
                                             "\n".join(lines[start:start + 5000]).encode(),
                                             method="POST")
                urllib.request.urlopen(req, timeout=60).read()
            rng = Range.relative("now-7d")
            began = time.perf_counter()
            server.query(panel_query(REFERENCE, rng, [], {}), "bench", method="POST")
            reference = time.perf_counter() - began
            timings = []
            for board in (dashboards.overview(), dashboards.agents()):
                variables = board["templating"]["list"]
                for panel in board["panels"]:
                    began = time.perf_counter()
                    for target in panel["targets"]:
                        query = panel_query(target["query"], rng, variables, CHOSEN,
                                            panel.get("interval", ""))
                        server.query(query, "bench", method="POST")
                    timings.append((time.perf_counter() - began, panel["title"]))
            before = []
            for query in (influxql.share_query("exit_bandwidth", ""),
                          influxql.status_table_query("all", dashboards.LEVEL)):
                began = time.perf_counter()
                server.query(panel_query(query, rng, dashboards.overview()["templating"]["list"],
                                         CHOSEN), "bench", method="POST")
                before.append(time.perf_counter() - began)
        finally:
            server.stop()
    for took, title in timings:
        print(f"    {took:7.3f} s  {title}")
    print(f"    {before[0]:7.3f} s  (before the roll-ups: the same share from every school's "
          f"verdicts)\n    {before[1]:7.3f} s  (before: the status table from them)")
    slowest, title = max(timings)
    return len(lines), reference, sum(t for t, _ in timings), slowest, title


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [1000, 4000]
    print(f"{'schools':>8} {'points':>9} {'reference s':>12} {'both boards s':>14} "
          f"{'slowest panel s':>16} {'ratio':>6}  slowest panel")
    for schools in sizes:
        points, reference, total, slowest, title = run(schools)
        print(f"{schools:>8} {points:>9} {reference:>12.3f} {total:>14.2f} {slowest:>16.2f} "
              f"{slowest / reference:>6.1f}  {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
