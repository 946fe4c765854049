"""``schoolnet-collector report`` at province scale: time and peak memory.

    python -m tests.bench.bench_report [SCHOOLS] [--raw all|one|none] [--keep DIR]
    # default 50000 schools, --raw all

The simulated province of tests/report_province.py (three cities, nine
counties, 教学点 among them) with readings over two 30-day periods in a fresh
influxd 1.6.7, and the per-school summaries and per-county indicator roll-ups a
collector judging at the end of each period would have written (computed
through judging windows from the same readings; their cost is printed). Then,
as processes: the county summary, the summary compared with the earlier
period, the whole ledger as xlsx and as CSV below target, and one county's
summary. Target: under 10 s and 500 MB each.

Each report runs as it would by default (the summary views from the roll-ups,
the ledgers from the summaries) and, as references measured in the same run,
with --from-summaries (the summary views counted from every school's summary,
as before the roll-ups) and --from-readings (every school's facts from raw
readings, as before the summaries); their outputs (but the workbook's) must be
equal.
``--raw one`` runs the raw reference for the county summary only (at 50,000
schools each raw report takes minutes), ``none`` for none. Also printed: the
report's 7 raw InfluxQL queries fetched and JSON-decoded with nothing else
done (the database's share of a raw report).

``--keep DIR`` keeps the database, registry and targets in DIR and, when DIR
already holds a province (of the same size), reuses it instead of building it
again: building 50,000 schools takes many minutes, the reports seconds.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from collector.judge.registry import School as RegisteredSchool
from collector.judge.registry import load as load_registry
from collector.judge.targets import Indicators
from collector.judge.targets import load as load_targets
from collector.report.period import parse
from collector.report.stored_rollup import Tally
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


def timed(config: Path, *args: str) -> tuple[float, float, str]:
    began = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PEAK, "report", "-c", str(config), *args],
                         capture_output=True, text=True, cwd=REPO, timeout=3600)
    elapsed = time.perf_counter() - began
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    peak = next(int(line.split()[1]) for line in out.stderr.splitlines()
                if line.startswith("PEAK_KB"))
    return elapsed, peak / 1024, out.stdout


def build(server: Influxd, tmp: Path, n: int) -> None:
    """The province's readings and summaries in a new database, its files in tmp."""
    server.create_db("bench")
    began = time.perf_counter()
    schools = sim.province(n)
    points = 0
    for start in range(0, n, 2000):
        lines = sim.lines(schools[start:start + 2000])
        points += len(lines)
        sim.write(server.url, "bench", lines)
    print(f"{n} schools, {points} points written in {time.perf_counter() - began:.1f} s")
    registry = sim.write_files(tmp, schools)
    targets = tmp / "targets.toml"
    targets.write_text((REPO / "configs/targets.toml").read_text(encoding="utf-8"),
                       encoding="utf-8")
    registered, judged = load_registry(registry), load_targets(targets)
    cpu = write = tally_cpu = 0.0
    for day in (sim.EARLY, sim.LATE):
        # As the collector's round: each school's marks kept as its summary is made,
        # then the units' counts.
        tally, kept = Tally(Indicators()), {}

        def keep(school: RegisteredSchool, text: str,
                 tally: Tally = tally, kept: dict[str, tuple[object]] = kept) -> None:
            began = time.process_time()
            kept[school.school_id] = (tally.keep(school, text),)
            nonlocal tally_cpu
            tally_cpu += time.process_time() - began

        for start in range(0, n, 2000):
            lines, seconds = sim.summaries(registered, schools[start:start + 2000],
                                           day, Indicators(), judged, keep)
            cpu += seconds
            began = time.perf_counter()
            sim.write(server.url, "bench", lines)
            write += time.perf_counter() - began
        began = time.process_time()
        counts = tally.due(list(registered.values()), registered, kept, sim.round_at(day))
        tally_cpu += time.process_time() - began
        sim.write(server.url, "bench", [text for _, _, text in counts])
    print(f"summaries of {n} schools at each period's end: computed from judging "
          f"windows and encoded {cpu / 2:.2f} s CPU, written {write / 2:.2f} s (per period); "
          f"the indicator roll-ups' marks and {len(counts)} units' counts "
          f"{tally_cpu / 2:.2f} s CPU")


def main(n: int, raw: str, keep: Path | None) -> None:
    with contextlib.ExitStack() as stack:
        if keep is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            tmp = keep.resolve()
            tmp.mkdir(parents=True, exist_ok=True)
        # Written last when building, so its presence means the province is complete.
        built = tmp / f"built-{n}"
        other = [p.name for p in tmp.glob("built-*") if p != built]
        if other:
            raise SystemExit(f"{tmp} holds another province ({other[0]}): keep each size apart")
        server = Influxd(tmp / "influxd")
        server.workdir.mkdir(exist_ok=True)
        server.start(timeout=60)
        try:
            if built.exists():
                print(f"{n} schools: the province kept in {tmp} reused")
            else:
                build(server, tmp, n)
                if keep is not None:
                    built.touch()
            registry, targets = tmp / "schools.csv", tmp / "targets.toml"
            config = collector_toml(tmp, 1883, influx1_storage(server.url, "bench"), "bench",
                                    f'[registry]\nfile = "{registry}"\n'
                                    f'[targets]\nfile = "{targets}"\n')
            ref = reference(server.url, "bench", "2026-09-30")
            print(f"the report's 7 raw queries fetched and decoded: {ref:.2f} s")
            print(f"{'report':<44} {'seconds':>8} {'peak MB':>8} {'summ. s':>8} "
                  f"{'summ. MB':>8} {'x summ.':>7} {'raw s':>8} {'raw MB':>8} {'x raw':>6}")
            for i, (name, args) in enumerate((
                    ("county summary (table)", ["--as-of", "2026-09-30"]),
                    ("one county's summary (--region, table)", ["--as-of", "2026-09-30",
                                                                 "--region", "370102"]),
                    ("county summary --compare (json)", ["--as-of", "2026-09-30", "--compare",
                                                         "2026-03-31", "--format", "json"]),
                    ("ledger, every school (xlsx)", ["--as-of", "2026-09-30", "--view",
                                                     "ledger", "--format", "xlsx", "-o",
                                                     str(tmp / "l.xlsx")]),
                    ("ledger --below (csv)", ["--as-of", "2026-09-30", "--view", "ledger",
                                              "--below", "--format", "csv"]))):
                seconds, peak, out = timed(config, *args)
                row = f"{name:<44} {seconds:8.2f} {peak:8.0f}"
                if "ledger" not in args:
                    # The counts from every school's summary, as before the roll-ups.
                    sum_s, sum_peak, sum_out = timed(config, *args, "--from-summaries")
                    if out != sum_out:
                        raise SystemExit(f"{name}: the report from the indicator roll-ups "
                                         "differs from the report from summaries")
                    row += f" {sum_s:8.2f} {sum_peak:8.0f} {seconds / sum_s:7.2f}"
                else:
                    row += f" {'':8} {'':8} {'':7}"
                if raw == "all" or (raw == "one" and i == 0):
                    raw_s, raw_peak, raw_out = timed(config, *args, "--from-readings")
                    if out != raw_out:
                        raise SystemExit(f"{name}: the report from summaries differs from "
                                         "the report from raw readings")
                    row += f" {raw_s:8.2f} {raw_peak:8.0f} {seconds / raw_s:6.2f}"
                print(row, flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    mode, kept = "all", None
    if "--raw" in args:
        at = args.index("--raw")
        mode = args[at + 1]
        del args[at:at + 2]
    if "--keep" in args:
        at = args.index("--keep")
        kept = Path(args[at + 1])
        del args[at:at + 2]
    main(int(args[0]) if args else 50_000, mode, kept)
