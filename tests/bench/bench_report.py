"""``schoolnet-collector report`` at province scale: time and peak memory.

    python -m tests.bench.bench_report [SCHOOLS]      # default 50000

The simulated province of tests/report_province.py (three cities, nine
counties, 教学点 among them) with readings over two 30-day periods in a fresh
influxd 1.6.7; then, as processes: the county summary, the summary compared
with the earlier period, the whole ledger as xlsx and as CSV below target,
and one county's summary. Target: under 10 s and 500 MB each.

Reference, measured in the same run: the same InfluxQL queries the report
sends, fetched and JSON-decoded with nothing else done (the database's share
of the time); the ratio column is the report's time over it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from collector.judge.targets import Indicators
from collector.report.period import parse
from tests import report_province as sim
from tests.services import Influxd
from tests.support import collector_toml, influx1_storage

REPO = Path(__file__).resolve().parents[2]
# VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across exec, so a child
# forked from this (large) process would report this process's size.
PEAK = ("import runpy, sys\nsys.argv = ['schoolnet-collector', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('collector.cli', run_name='__main__')\nfinally:\n"
        "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "    print('PEAK_KB', hwm.split()[1], file=sys.stderr)\n")


def queries(as_of: str) -> list[str]:
    """The queries collector.report.facts sends (kept in step by hand)."""
    when = parse(as_of, 30, time.time_ns()).where()
    n = Indicators().window
    q = [("duration_seconds", "probe_run", "school, probe", 1, ""),
         ("download_bps, result", "wan_throughput", "school", n * 3, ""),
         ("link_speed_mbps", "wan_link", "school", 1, " AND link_speed_mbps > 0"),
         ("link_speed_mbps, oper_up, result", "classroom_link", "school, classroom", n, ""),
         ("covered, required", "wifi_area", "school, area, area_kind", 1, ""),
         ("level", "ipv6", "school", 1, " AND level >= 0"),
         ("status, value, threshold, detail", "compliance", "school, target", 1, "")]
    return [f'SELECT {s} FROM "{m}" WHERE {when}{c} GROUP BY {g} ORDER BY time DESC LIMIT {lim}'
            for s, m, g, lim, c in q]


def reference(url: str, db: str, as_of: str) -> float:
    began = time.perf_counter()
    for q in queries(as_of):
        params = urllib.parse.urlencode({"db": db, "q": q, "epoch": "ns"})
        with urllib.request.urlopen(f"{url}/query?{params}", timeout=600) as resp:
            json.load(resp)
    return time.perf_counter() - began


def timed(config: Path, *args: str) -> tuple[float, float]:
    began = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PEAK, "report", "-c", str(config), *args],
                         capture_output=True, text=True, cwd=REPO, timeout=1200)
    elapsed = time.perf_counter() - began
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    peak = next(int(line.split()[1]) for line in out.stderr.splitlines()
                if line.startswith("PEAK_KB"))
    return elapsed, peak / 1024


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = Influxd(tmp / "influxd")
        server.workdir.mkdir(exist_ok=True)
        server.start(timeout=60)
        try:
            server.create_db("bench")
            began = time.perf_counter()
            schools = sim.province(n)
            points = 0
            for start in range(0, n, 2000):
                lines = sim.lines(schools[start:start + 2000])
                points += len(lines)
                sim.write(server.url, "bench", lines)
            print(f"{n} schools, {points} points written in "
                  f"{time.perf_counter() - began:.1f} s")
            registry = sim.write_files(tmp, schools)
            del schools  # the reports are timed alone
            targets = tmp / "targets.toml"
            targets.write_text((REPO / "configs/targets.toml").read_text(encoding="utf-8"),
                               encoding="utf-8")
            config = collector_toml(tmp, 1883, influx1_storage(server.url, "bench"), "bench",
                                    f'[registry]\nfile = "{registry}"\n'
                                    f'[targets]\nfile = "{targets}"\n')
            ref = reference(server.url, "bench", "2026-09-30")
            print(f"reference: the report's 7 queries fetched and decoded: {ref:.2f} s")
            print(f"{'report':<44} {'seconds':>8} {'x ref':>6} {'peak MB':>8}")
            for name, args in (
                    ("one county's summary (--region, table)", ["--as-of", "2026-09-30",
                                                                 "--region", "370102"]),
                    ("county summary (table)", ["--as-of", "2026-09-30"]),
                    ("county summary --compare (json)", ["--as-of", "2026-09-30", "--compare",
                                                         "2026-03-31", "--format", "json"]),
                    ("ledger, every school (xlsx)", ["--as-of", "2026-09-30", "--view",
                                                     "ledger", "--format", "xlsx", "-o",
                                                     str(tmp / "l.xlsx")]),
                    ("ledger --below (csv)", ["--as-of", "2026-09-30", "--view", "ledger",
                                              "--below", "--format", "csv"])):
                seconds, peak = timed(config, *args)
                print(f"{name:<44} {seconds:8.2f} {seconds / ref:6.2f} {peak:8.0f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
