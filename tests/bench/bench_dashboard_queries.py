"""How long the region overview's queries take on influxd 1.6.7 as schools grow.

    python -m tests.bench.bench_dashboard_queries [SCHOOLS ...]

For each size: constructed compliance verdicts (5 targets, every 6 h for 7
days, as collector.judge.evaluate writes them) for SCHOOLS schools spread over 4
provinces, 16 cities and 64 counties; then every query of the overview
dashboard with all regions chosen, grouped by county, over 7 days. Reference:
Grafana's default data source timeout is 30 s, and a panel that takes more
than ~1 s makes the dashboard feel broken; the right-hand column is the
slowest panel's share of that 1 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from agent.contract.reading import Reading
from collector.grafana import dashboards
from collector.ingest.lineproto import line
from tests.services import Influxd

HOUR_NS = 3600 * 10**9
TARGETS = ("exit_bandwidth", "classroom_links", "wifi", "ipv6", "all")
STATUSES = ("pass", "pass", "fail", "inconclusive", "no_data")
BUDGET_SECONDS = 1.0


def verdicts(schools: int, now_ns: int) -> list[str]:
    lines = []
    for n in range(schools):
        county = n % 64
        tags = {"province": f"p{county // 16}", "city": f"c{county // 4}",
                "county": f"k{county}", "school": f"s{n:06d}"}
        for step in range(7 * 4):
            ts = now_ns - (step * 6 + 1) * HOUR_NS
            for t, target in enumerate(TARGETS):
                status = STATUSES[(n + t + step) % len(STATUSES)]
                lines.append(line(Reading("compliance", {
                    "status": status, "pass": status == "pass", "value": 900.0,
                    "threshold": 800.0, "readings": 4.0}, {**tags, "target": target}, ts)))
    return lines


def substitute(query: str, interval: str) -> str:
    for name, value in (("$timeFilter", "time > now() - 7d"), ("$__interval", interval),
                        ("${level}", "county"), ("$level", "county"), ("$province", ".*"),
                        ("$city", ".*"), ("$county", ".*")):
        query = query.replace(name, value)
    return query


def run(schools: int) -> tuple[int, float, float, str]:
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
            timings = []
            for panel in dashboards.overview()["panels"]:
                began = time.perf_counter()
                for target in panel["targets"]:
                    # Grafana: 7 days over ~1000 px is ~10 min, raised to the panel's minimum.
                    query = substitute(target["query"], panel.get("interval") or "10m")
                    assert server.query(query, "bench", method="POST")
                timings.append((time.perf_counter() - began, panel["title"]))
        finally:
            server.stop()
    slowest, title = max(timings)
    return len(lines), sum(t for t, _ in timings), slowest, title


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [1000, 4000]
    print(f"{'schools':>8} {'points':>9} {'dashboard s':>12} {'slowest panel s':>16} "
          f"{'of 1 s budget':>14}  slowest panel")
    for schools in sizes:
        points, total, slowest, title = run(schools)
        print(f"{schools:>8} {points:>9} {total:>12.2f} {slowest:>16.2f} "
              f"{slowest / BUDGET_SECONDS:>13.0%}  {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
