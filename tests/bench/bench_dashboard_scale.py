"""Every dashboard panel at a province's scale, and the overview at a country's.

    python -m tests.bench.bench_dashboard_scale \
        [SCHOOLS [ROLLUP_ONLY_SCHOOLS [INDEX [BOARDS [night]]]]]

Defaults: 50,000 schools in full, then 200,000 with roll-ups only, on influxd's
default in-memory series index (INDEX ``tsi1``: the disk-based one), every
dashboard (BOARDS: a comma-separated list of dashboard uids without their
``schoolnet-`` prefix, e.g. ``agents``, to measure only those, ``all`` for every
one; ROLLUP_ONLY_SCHOOLS 0 skips the country's scale; ``night``: the agents'
states of a night on which every school switched its gateway off, below).
Schools sit in counties of 400, eight counties to a city, 125 counties (50,000 schools) to
a province. Each panel is queried as Grafana would send it
(tests/grafana_emulation.py) over its dashboard's default range, with the
choices a user makes at that scale:

* overview: every region, grouped by province;
* agent health: its stats and its table of counties needing attention over
  every region (as a province's network centre opens them), its per-school lists
  and lines for one county, and its tables of the schools needing attention
  (read from ``agent_attention``) for one county, one city (3,200 schools) and
  every region (which they answer with no row);
* IPv6 and Wi-Fi: their per-school lists for one county;
* school, classrooms, Wi-Fi, connection quality: one school (the quality
  dashboard's shares over every region, grouped by province).

Data, written as line protocol straight to influxd:

* roll-ups (``rollup``, ``agent_rollup``) of every judging round at the
  shipped ``evaluate_interval_seconds`` (300 s) for 7 days, built by
  collector.judge.rollups / agentstate as the collector writes them;
* every school: its verdicts of the last day (4 rounds, where the collector
  writes 288: per-school verdict panels only get slower in reality), its agent
  status changes (a reconnect every 3 days for 90 days, every 7th agent offline
  for the last 30), its re-stated agent state of the last 25 h (every round for
  the one school in 50 with a spool backlog; another 7th of the agents was
  offline 20 h ago and back 8 h ago) and, for the schools needing attention in
  that time, their ``agent_attention`` points as collector.judge.agentstate
  decides them (a closing point for the agents back online); with ``night``,
  every school's gateway went off 28 h ago, came back 14 h ago and went off
  again 4 h ago, so every school needs attention now (as it does at night where
  gateways are switched off, or at a rollout before the agents are installed),
  and one point
  per series of the measurements the per-school panels read, so the series
  index holds a province;
* the chosen county: 2 days of heartbeats and probe runs, 7 days of IPv6 and
  Wi-Fi readings, at the shipped probe intervals;
* the chosen school: 7 days of everything at the shipped intervals.

Beside the agent-health panels, the spool panel they replaced (a line per
school from every heartbeat of the county), and the per-school tables as they
read every school's ``agent_state`` before ``agent_attention`` (for one county
and every region), as before figures on the same data and load.

Reference, measured in the same run beside every panel: one raw InfluxQL
query over the roll-ups (every county's roll-up rows of target ``all`` over
the last day). Each time is the median of three loads, in wall seconds and in
seconds of influxd's CPU.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.contract.reading import FieldValue, Reading
from collector.grafana import dashboards
from collector.grafana.influxql import q, region_filter, series, verdict_window, where
from collector.ingest.lineproto import line
from collector.judge import agentstate, rollups
from collector.judge.quality import QUALITY_TARGETS
from tests.grafana_emulation import Range, panel_query
from tests.services import Influxd

S = 10**9
MINUTE, HOUR, DAY = 60 * S, 3600 * S, 86400 * S
ROUND = 300 * S  # evaluate_interval_seconds' default
PER_COUNTY, PER_CITY, PER_PROVINCE = 400, 8, 125
PORTS, AREAS = 30, ("teach1", "teach2", "teach3", "office", "hall", "yard")
PROBES = {"wan_link": 60, "path_quality": 60, "classroom_links": 300, "wifi": 300,
          "ipv6": 1800, "wan_throughput": 300}
STATUSES = ("pass", "pass", "fail", "inconclusive", "no_data")
CHOSEN_CITY, CHOSEN_COUNTY, CHOSEN_SCHOOL = "c0", "k0", "s000000"
ALL = {"province": "All", "city": "All", "county": "All"}
# The agent-health spool panel as it was before the collector wrote backlogs (a line
# per school from every heartbeat), measured beside the panels that replaced it.
FORMER_SPOOL = {"type": "timeseries", "title": "Spool depth per school, from every heartbeat "
                "(former panel)", "interval": "15m", "targets": [{"query": series(
                    "agent", [(f"max({q('spool_depth')})", "spool")], ["school"],
                    school=False)}]}
# The per-school agent tables as they read every school's agent_state, before the
# collector wrote agent_attention.
_STATE_WHERE = where(region_filter(), window=verdict_window())
FORMER_TABLES = [
    {"type": "table", "title": "Agent status per school, from every school's agent_state "
     "(former panel)", "targets": [{"query": (
         f"SELECT last({q('state')}) AS {q('state')}, {q('since')}, {q('agent_version')} "
         f"FROM {q(agentstate.MEASUREMENT)}{_STATE_WHERE} GROUP BY {q('school')}")}]},
    {"type": "table", "title": "Spool backlogs per school, from every school's agent_state "
     "(former panel)", "targets": [{"query": (
         f"SELECT {q('backlog')}, {q('since')}, {q('state')} FROM (SELECT "
         f"last({q('backlog')}) AS {q('backlog')}, {q('backlog_since')} AS {q('since')}, "
         f"{q('state')} FROM {q(agentstate.MEASUREMENT)}{_STATE_WHERE} GROUP BY "
         f"{q('school')}) WHERE {q('backlog')} > 0 GROUP BY {q('school')}")}]},
]
REFERENCE = ("SELECT \"pass\", \"schools\" FROM \"rollup\" WHERE \"level\" = 'county' AND "
             "\"target\" = 'all' AND time > ${__to}ms - 1d AND time <= ${__to}ms")


def region(n: int) -> dict[str, str]:
    county = n // PER_COUNTY
    return {"province": f"p{county // PER_PROVINCE}", "city": f"c{county // PER_CITY}",
            "county": f"k{county}", "school": f"s{n:06d}"}


def at(reading: Reading, times: Iterable[int]) -> Iterator[str]:
    """One series' lines at the given times (its key and fields encoded once)."""
    prefix = line(Reading(reading.measurement, reading.fields, reading.tags, 0))[:-2]
    for ts in times:
        yield f"{prefix} {ts}"


def every(step_s: int, span_ns: int, now: int) -> range:
    return range(now - span_ns + step_s * S, now + 1, step_s * S)


def r(measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue],
      **extra: str) -> Reading:
    return Reading(measurement, dict(fields), {**tags, **extra}, 0)


def backlog(n: int, step: int = 0) -> int:
    """School n's spool backlog (one school in 50 has one, growing from round to round)."""
    return 600 + 100 * step + n % 1000 if n % 50 == 7 else 0


def round_rollups(schools: int, step: int) -> list[Reading]:
    """One round's roll-ups, as the collector writes them (statuses rotate per round)."""
    rows = []
    for n in range(schools):
        tags = region(n)
        for t, target in enumerate((*rollups.ALL_TARGETS, *QUALITY_TARGETS)):
            rows.append((tags["province"], tags["city"], tags["county"], target,
                         rollups.STATUSES[(n + t + step) % 4]))
    agents = agentstate.tally(((tags["province"], tags["city"], tags["county"],
                                ("online", "offline", "never")[(n + step) % 7 // 3])
                               for n in range(schools) for tags in [region(n)]), (),
                              ((tags["province"], tags["city"], tags["county"],
                                backlog(n, step)) for n in range(schools)
                               for tags in [region(n)]))
    return [*rollups.readings(rollups.tally(rows), 0), *agentstate.rollup_readings(agents, 0)]


def rollup_lines(schools: int, now: int) -> Iterator[str]:
    # Four variants of a round, repeated: the figures change, the series do not.
    variants = [round_rollups(schools, step) for step in range(4)]
    times = list(every(ROUND // S, 7 * DAY, now))
    for n, variant in enumerate(variants):
        for reading in variant:
            yield from at(reading, times[n::4])


def school_lines(schools: int, now: int, night: bool) -> Iterator[str]:
    """Every school's verdicts, agent status and state, and a point per series."""
    verdict_times = [now - k * 6 * HOUR for k in range(4)]
    for n in range(schools):
        tags = region(n)
        for t, target in enumerate((*rollups.ALL_TARGETS, *QUALITY_TARGETS)):
            status = STATUSES[(n + t) % len(STATUSES)]
            extra = {"uplink": "default"} if target in QUALITY_TARGETS else {}
            yield from at(r("compliance", tags, {"status": status, "pass": status == "pass",
                                                 "value": 900.0, "threshold": 800.0,
                                                 "readings": 4.0}, target=target, **extra),
                          verdict_times)
        offline = n % 7 == 0
        for day in range(90, 0, -3):
            state = "offline" if offline and day <= 30 else "online"
            if offline and day < 30:
                continue
            yield from at(r("agent_status", tags, {"online": state == "online", "state": state,
                                                   "agent_version": "0.1.0"}),
                          [now - day * DAY])
        yield from restatements(n, tags, now, night)
        yield from at(r("agent", tags, {"uptime_seconds": 3600.0, "spool_depth": 0.0,
                                        "probe_errors": 0.0, "version": "0.1.0"}),
                      [now - (31 if offline else 0) * DAY])
        yield from at(r("ipv6", tags, {"level": 2.0, "level_name": "level2"}), [now - HOUR])
        for area in AREAS:
            yield from at(r("wifi_area", tags, {"covered": area != "yard", "required": True,
                                                "clients": 10.0}, area=area,
                            area_kind="teaching"), [now - HOUR])
        yield from at(r("wifi_coverage", tags, {"required_areas": 6.0, "covered_areas": 5.0,
                                                "coverage_share": 0.8333}), [now - HOUR])
        yield from at(r("classroom_summary", tags, {"classrooms": 30.0,
                                                    "classrooms_meeting": 30.0,
                                                    "classrooms_below": 0.0}), [now - HOUR])
        for port in range(PORTS):
            yield from at(r("classroom_link", tags, {"link_speed_mbps": 1000.0,
                                                     "oper_up": True, "rx_bps": 1e6,
                                                     "tx_bps": 1e6},
                            classroom=f"c{port}", switch="sw1", port=f"GE0/0/{port}"),
                          [now - HOUR])


def restatements(n: int, tags: Mapping[str, str], now: int, night: bool = False
                 ) -> Iterator[str]:
    """School n's agent_state and agent_attention points of the last 25 h."""
    offline = n % 7 == 0
    state = "offline" if offline else "online"
    since = now - (30 if offline else 3) * DAY
    if night:
        # Switched off every evening: the state changes are its points.
        rounds = [(now - h * HOUR, st, now - h * HOUR, agentstate.CLEAR)
                  for h, st in ((28, "offline"), (14, "online"), (4, "offline"))]
    elif backlog(n):
        # Re-stated at every round while its backlog changes.
        rounds = [(ts, state, since, agentstate.Backlog(backlog(n, k), now - DAY))
                  for k, ts in enumerate(every(ROUND // S, 25 * HOUR, now))]
    elif n % 7 == 3:
        # Offline 20 h ago, back 8 h ago: the attention it needed closes.
        rounds = [(now - 20 * HOUR, "offline", now - 21 * HOUR, agentstate.CLEAR),
                  (now - 8 * HOUR, "online", now - 9 * HOUR, agentstate.CLEAR)]
    else:
        rounds = [(ts, state, since, agentstate.CLEAR) for ts in (now - 20 * HOUR,
                                                                  now - 8 * HOUR)]
    attending = False
    for ts, st, began, behind in rounds:
        values = agentstate.fields(st, began, "0.1.0", behind)
        yield from at(r(agentstate.MEASUREMENT, tags, values), [ts])
        attention = agentstate.attention_due(agentstate.needs_attention(st, behind), True,
                                             attending)
        if attention is not None:
            yield from at(r(agentstate.ATTENTION, tags, {**values, "attention": attention}),
                          [ts])
            attending = attention


def county_lines(now: int) -> Iterator[str]:
    """The chosen county's agent health and region-wide readings at the shipped intervals."""
    for n in range(PER_COUNTY):
        tags = region(n)
        yield from at(r("agent", tags, {"uptime_seconds": 3600.0, "spool_depth": 3.0,
                                        "probe_errors": 0.0, "version": "0.1.0"}),
                      every(300, 2 * DAY, now))
        for probe, interval in PROBES.items():
            for ok in (True, False):
                times = every(interval, 2 * DAY, now)
                # One run in 20 fails.
                picked = [t for k, t in enumerate(times) if (k % 20 != 0) == ok]
                yield from at(r("probe_run", tags, {"duration_seconds": 1.0,
                                                    "result": "ok" if ok else "timeout"},
                                probe=probe), picked)
        yield from at(r("ipv6", tags, {"level": 2.0, "level_name": "level2",
                                       "wan_global_addr": True, "failing": "lan_ra"}),
                      every(1800, 7 * DAY, now))
        for area in AREAS:
            yield from at(r("wifi_area", tags, {"covered": area != "yard", "required": True,
                                                "clients": 10.0, "aps_online": 1.0,
                                                "best_signal_dbm": -60.0},
                            area=area, area_kind="teaching"), every(300, 7 * DAY, now))
        yield from at(r("wifi_coverage", tags, {"required_areas": 6.0, "covered_areas": 5.0,
                                                "coverage_share": 0.8333}),
                      every(300, 7 * DAY, now))


def chosen_school_lines(now: int) -> Iterator[str]:
    tags = region(0)
    week = 7 * DAY
    yield from at(r("wan_link", tags, {"rx_bps": 1e8, "tx_bps": 5e7, "contracted_mbps": 1000.0},
                    iface="wan", source="snmp"), every(60, week, now))
    yield from at(r("wan_throughput", tags, {
        "download_bps": 9e8, "upload_bps": 5e8, "rtt_seconds": 0.01, "jitter_seconds": 0.001,
        "idle_rtt_seconds": 0.01, "loaded_rtt_seconds": 0.03, "bufferbloat_seconds": 0.02},
        method="http", server="county"), every(4 * 3600, week, now))
    for port in range(PORTS):
        yield from at(r("classroom_link", tags, {"link_speed_mbps": 1000.0, "oper_up": True,
                                                 "rx_bps": 1e6, "tx_bps": 1e6},
                        classroom=f"c{port}", switch="sw1", port=f"GE0/0/{port}"),
                      every(300, week, now))
    yield from at(r("classroom_summary", tags, {"classrooms": 30.0, "classrooms_meeting": 30.0,
                                                "classrooms_below": 0.0}), every(300, week, now))
    for level in ("county", "city", "province", "platform"):
        yield from at(r("path_quality", tags, {
            "rtt_p95_seconds": 0.02, "loss_share": 0.0, "jitter_seconds": 0.002,
            "up_share": 1.0, "class_hours": True, "sent": 50.0},
            target=f"{level}-node", level=level, uplink="default"), every(60, week, now))
        yield from at(r("path_outage", tags, {"duration_seconds": 120.0, "lost_packets": 40.0,
                                              "ongoing": False},
                        target=f"{level}-node", level=level, uplink="default"),
                      every(DAY // S, week, now))
    for target in (*rollups.ALL_TARGETS, *QUALITY_TARGETS):
        extra = {"uplink": "default"} if target in QUALITY_TARGETS else {}
        yield from at(r("compliance", tags, {"status": "pass", "pass": True, "value": 900.0,
                                             "threshold": 800.0, "readings": 4.0},
                        target=target, **extra), every(ROUND // S, week, now))


def write(server: Influxd, lines: Iterable[str], batch: int = 10_000) -> int:
    total, chunk = 0, []
    for text in lines:
        chunk.append(text)
        if len(chunk) == batch:
            total += _post(server, chunk)
            chunk = []
    return total + (_post(server, chunk) if chunk else 0)


def _post(server: Influxd, chunk: list[str]) -> int:
    req = urllib.request.Request(f"{server.url}/write?db=bench", "\n".join(chunk).encode(),
                                 method="POST")
    try:
        urllib.request.urlopen(req, timeout=120).read()
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"influxd refused a write: {err.read()[:300]!r}") from err
    return len(chunk)


def query(server: Influxd, text: str) -> int:
    """Run one query as Grafana's data source does (POST, ms epoch); the rows returned.
    Generous timeout: a slow panel is measured, not cut short."""
    body = urllib.parse.urlencode({"q": text, "db": "bench", "epoch": "ms"}).encode()
    req = urllib.request.Request(f"{server.url}/query", body, method="POST")
    with urllib.request.urlopen(req, timeout=600) as resp:
        result = json.load(resp)["results"][0]
    if "error" in result:
        raise RuntimeError(f"{result['error']}: {text}")
    return sum(len(s["values"]) for s in result.get("series", []))


def cpu_seconds(server: Influxd) -> float:
    """influxd's CPU time so far (user + system), 0 without its process."""
    if server.proc is None:
        return 0.0
    stat = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in stat[11:13]) / os.sysconf("SC_CLK_TCK")


def timed(server: Influxd, board: Mapping[str, Any], panel: Mapping[str, Any],
          chosen: Mapping[str, Sequence[str] | str], rng: Range) -> tuple[float, float]:
    """The median of three loads of the panel (other work shares these 2 cores), in
    seconds of wall time and of influxd's CPU."""
    took, cpu = [], []
    for _ in range(3):
        began, began_cpu = time.perf_counter(), cpu_seconds(server)
        for target in panel["targets"]:
            query(server, panel_query(target["query"], rng, board["templating"]["list"],
                                      chosen, panel.get("interval", "")))
        took.append(time.perf_counter() - began)
        cpu.append(cpu_seconds(server) - began_cpu)
    return sorted(took)[1], sorted(cpu)[1]


def settle(server: Influxd, limit: float = 300.0) -> float:
    """Wait until influxd has compacted what was just written (under 5% of a core over
    2 s): a dashboard is read long after its data arrived. The seconds waited."""
    stat = Path(f"/proc/{server.proc.pid}/stat") if server.proc else None
    began = time.perf_counter()
    while stat is not None and time.perf_counter() - began < limit:
        before = sum(int(v) for v in stat.read_text().rsplit(")", 1)[1].split()[11:13])
        time.sleep(2)
        after = sum(int(v) for v in stat.read_text().rsplit(")", 1)[1].split()[11:13])
        if (after - before) / os.sysconf("SC_CLK_TCK") < 0.1:
            break
    return time.perf_counter() - began


def choices(board: Mapping[str, Any], panel: Mapping[str, Any]) -> dict[str, Any]:
    """What a user picks for this panel at a province's scale (see the module text)."""
    names = {v["name"] for v in board["templating"]["list"]}
    chosen: dict[str, Any] = {**ALL, "level": "province"}
    if "school" in names:
        chosen["school"] = CHOSEN_SCHOOL
    # The table by county (from the agent roll-ups) counts every region's schools.
    queries = " ".join(t["query"] for t in panel["targets"])
    per_school_list = panel["type"] == "timeseries" or (
        panel["type"] == "table" and f'FROM {q(agentstate.ROLLUP)}' not in queries)
    if board["uid"] in ("schoolnet-agents", "schoolnet-ipv6", "schoolnet-wifi") and (
            per_school_list or board["uid"] == "schoolnet-ipv6"):
        chosen["county"] = [CHOSEN_COUNTY]
    return chosen


def picks(board: Mapping[str, Any], panel: Mapping[str, Any]
          ) -> list[tuple[dict[str, Any], str]]:
    """The choices a panel is measured with: the user's (see the module text), and for
    the tables of agents needing attention (and their former panels) one city and every
    region too (those list no school: the table by county counts them)."""
    chosen = choices(board, panel)
    queries = " ".join(t["query"] for t in panel["targets"])
    if panel["type"] == "table" and (f'FROM {q(agentstate.ATTENTION)}' in queries
                                     or panel in FORMER_TABLES):
        return [(chosen, " (one county)"), ({**chosen, **ALL, "city": [CHOSEN_CITY]},
                                            " (one city)"),
                ({**chosen, **ALL}, " (every region)")]
    return [(chosen, "")]


def reference(server: Influxd, rng: Range) -> tuple[float, float]:
    return timed(server, {"templating": {"list": []}}, {"targets": [{"query": REFERENCE}]}, {},
                 rng)


def measure(schools: int, rollups_only: bool, index: str, only: Sequence[str] = (),
            night: bool = False) -> tuple[int, float, list[tuple[float, float, str]]]:
    now = time.time_ns()
    with tempfile.TemporaryDirectory() as tmp:
        server = Influxd(Path(tmp))
        # A province holds more series than influxd's default limit of a million
        # (50,000 schools x 30 classroom ports alone make 1.5 million).
        server.conf.write_text(server.conf.read_text().replace(
            "[data]\n", "[data]\n  max-series-per-database = 0\n  max-values-per-tag = 0\n"
                         f'  index-version = "{index}"\n')
            # Loading shares these cores with other work: a slow write is waited
            # for, not refused (influxd's default is 10 s).
            + '[coordinator]\n  write-timeout = "300s"\n')
        server.start(timeout=60)
        try:
            server.create_db("bench")
            began = time.perf_counter()
            points = write(server, rollup_lines(schools, now))
            if not rollups_only:
                points += write(server, school_lines(schools, now, night))
                points += write(server, county_lines(now))
                points += write(server, chosen_school_lines(now))
            wrote = time.perf_counter() - began
            print(f"  {schools} schools ({index} index): {points} points written in {wrote:.0f} s, "
                  f"compacted in {settle(server):.0f} s more", flush=True)
            # The reference is measured again beside every panel: other work on
            # these cores comes and goes, and a ratio should see the same load.
            refs, timings = [], []
            boards = [dashboards.overview()] if rollups_only else dashboards.all_dashboards()
            boards = [b for b in boards
                      if not only or b["uid"].removeprefix("schoolnet-") in only]
            for board in boards:
                rng = Range.relative(board["time"]["from"])
                extra = ([FORMER_SPOOL, *FORMER_TABLES] if board["uid"] == "schoolnet-agents"
                         else [])
                for panel in [*board["panels"], *extra]:
                    if rollups_only and panel["type"] == "table":
                        continue  # grouped by county at a country's scale: not a province view
                    for chosen, label in picks(board, panel):
                        ref, ref_cpu = reference(server, Range.relative("now-1d"))
                        took, cpu = timed(server, board, panel, chosen, rng)
                        refs.append(ref)
                        timings.append((took, ref, f"{board['uid'].removeprefix('schoolnet-')}: "
                                                   f"{panel['title']}{label}"))
                        print(f"    {took:7.3f} s  {took / ref:7.1f}x  (reference {ref:.3f} s)"
                              f"  influxd CPU {cpu:6.2f} s (reference {ref_cpu:.2f} s)"
                              f"  {timings[-1][2]}", flush=True)
            ref = sorted(refs)[len(refs) // 2]
        finally:
            server.stop()
    return points, ref, timings


def main(argv: list[str]) -> int:
    full = int(argv[0]) if argv else 50_000
    country = int(argv[1]) if len(argv) > 1 else 200_000
    index = argv[2] if len(argv) > 2 else "inmem"
    only = argv[3].split(",") if len(argv) > 3 and argv[3] != "all" else []
    night = len(argv) > 4 and argv[4] == "night"
    summary = []
    for schools, country_scale in ((full, False), (country, True)):
        if not schools:
            continue
        points, ref, timings = measure(schools, country_scale, index, only, night)
        if not timings:
            continue
        slowest, slowest_ref, title = max(timings)
        over = sum(t > 1.0 for t, _, _ in timings)
        worst = max(t / r for t, r, _ in timings)
        summary.append((schools, points, ref, slowest, slowest / slowest_ref, worst, title,
                        over, len(timings)))
    print(f"{'schools':>8} {'points':>10} {'reference s':>12} {'slowest s':>10} {'ratio':>6} "
          f"{'worst ratio':>12} {'over 1 s':>9}  slowest panel")
    for schools, points, ref, slowest, ratio, worst, title, over, n in summary:
        print(f"{schools:>8} {points:>10} {ref:>12.3f} {slowest:>10.3f} {ratio:>6.1f} "
              f"{worst:>12.1f} {over:>4} of {n:<3}  {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
