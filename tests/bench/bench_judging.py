"""What a judging round costs as a province and its history grow (influxd 1.6.7).

    python -m tests.bench.bench_judging [SCHOOLS:ROUNDS ...] [--memory] [--unique] [--path]

A synthetic province: SCHOOLS schools of 30 classes each (real field names,
the shipped configs/targets.toml), ROUNDS five-minute rounds of history (6 =
30 minutes: each round every classroom port, the WAN port, five probe runs,
a third of the rounds a bandwidth test and Wi-Fi, every sixth IPv6). For each
size, each path runs in a child process of its own (CPU and peak RSS are
the child's), as one ``Evaluator.run_once`` (judging, alert transitions,
compliance points written):

  query    today's path: every school's window queried every round
  rebuild  windows rebuilt with bounded queries (first round after a crash,
           and what ``schoolnet-collector evaluate`` does)
  stream   windows fed from the stored readings; first round judges every
           school, then one more round of readings arrives and the steady
           round judges again, as of five minutes after the first ended

Then the county report and every overview/agent-health dashboard panel over
the written verdicts. Reference, same run: one raw InfluxQL query,
``SELECT count(status) FROM compliance`` over the last hour. ``--memory``
sizes run only the stream path (its steady round never queries the
database), for sizes whose history would take too long to load here.

``--unique`` makes every bandwidth test's figure its own, as real ones are
(otherwise 1,000 figures repeat across schools and their value sets are shared).

``--path`` makes every school measure path quality too (four levels, one
uplink) and feeds the stream path a week of its class minutes: 13 minutes a
level and school day, so its verdicts are judged (60 minutes at least) with
figures of their own; the counts and resend ring hold what a week of every
minute would (a count is a number). Its strings are made afresh per reading,
as decoding a message makes them.

The stream path is fed in-process (~10-15 us a reading: 50,000 schools x 48
rounds would take most of an hour), so it is fed only the readings that can
still be in a window after the history: per measurement the newest ``keep``
rounds in which it comes (a bandwidth test every third round and a keep of 15:
the last 45 rounds; classroom polls: the last 5). Older ones would be dropped
on arrival or pushed out by newer ones (the windows keep bounds), so the
windows the rounds judge are the same; ``fed`` counts the readings fed.
The windows fill at 48 rounds (IPv6, every sixth round, keep 5: 30 rounds).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.contract.reading import Reading
from agent.contract.wire import Envelope, Identity
from tests.support import influx1_storage, judging_toml

REPO = Path(__file__).resolve().parents[2]
MINUTE = 60 * 10**9
INTERVAL_NS = 5 * MINUTE  # the shipped evaluate_interval_seconds
PROBES = ("wan_link", "wan_throughput", "classroom_links", "wifi", "ipv6")
CLASSES = 30
UNIQUE_ENV = "BENCH_JUDGING_UNIQUE"
UNIQUE = os.environ.get(UNIQUE_ENV) == "1"
PATH_ENV = "BENCH_JUDGING_PATH"
PATH = os.environ.get(PATH_ENV) == "1"
PATH_LEVELS = ("county", "city", "province", "platform")
# Every how many rounds school_round gives a measurement (1 when not listed).
EVERY = {"wan_throughput": 3, "wifi_coverage": 3, "ipv6": 6}


def identity(n: int) -> Identity:
    county = n // 200
    return Identity("37", f"37{county // 20 % 100:02d}", f"37{county % 10000:04d}", f"s{n:06d}")


def school_round(n: int, r: int, ts: int, age: int = 0,
                 back: dict[str, int] | None = None) -> Iterator[Reading]:
    """School n's readings of round r (deterministic: the same for every path);
    given ``back``, only those of measurements kept at least ``age`` rounds back."""
    def wanted(measurement: str) -> bool:
        return back is None or age <= back.get(measurement, 0)

    h = (n * 7919 + r * 104729) % 1000
    if wanted("wan_link"):
        yield Reading("wan_link", {"link_speed_mbps": 100.0 if n % 11 == 0 else 1000.0,
                                   "oper_up": True, "result": "ok"}, {"iface": "eth0"}, ts)
    if r % 3 == 0:
        if wanted("wan_throughput"):
            bps = 5e8 + h * 5e5 + (n + r / 256 if UNIQUE else 0)
            yield Reading("wan_throughput", {"download_bps": bps, "result": "ok"},
                          {"method": "http", "server": "ns1"}, ts + 1)
        if wanted("wifi_coverage"):
            yield Reading("wifi_coverage", {"coverage_share": 1.0 if h % 4 else 0.75,
                                            "result": "ok"}, {}, ts + 2)
    if r % 6 == 0 and wanted("ipv6"):
        yield Reading("ipv6", {"level": 3 if n % 5 else 1, "result": "ok"}, {}, ts + 3)
    if wanted("classroom_link"):
        for c in range(CLASSES):
            slow = (n + c + r) % 97 == 0
            yield Reading("classroom_link", {"link_speed_mbps": 10.0 if slow else 1000.0,
                                             "oper_up": True, "result": "ok"},
                          {"classroom": f"c{c}", "switch": "sw1", "port": f"1/{c}"}, ts + 4)
    if wanted("probe_run"):
        for i, probe in enumerate(PROBES):
            yield Reading("probe_run", {"result": "error" if n % 13 == 0 else "ok",
                                        "duration_seconds": 1.5}, {"probe": probe}, ts + 5 + i)


def class_minutes(now_ns: int) -> list[int]:
    """The class minutes a school's week of path readings is fed as: 13 of each school
    day of the last seven (from 10:00 local), enough for verdicts (60 minutes)."""
    offset = time.localtime().tm_gmtoff
    today = (now_ns // 10**9 + offset) // 86400
    return [((day * 86400 + 10 * 3600) - offset) * 10**9 + m * MINUTE
            for day in range(today - 6, today + 1)
            if (day + 3) % 7 < 5  # 1970-01-01 was a Thursday: Monday is 0
            for m in range(13)]


def fresh(text: str) -> str:
    """A string equal to ``text`` but its own object."""
    return text.encode().decode()


def path_readings(n: int, minutes: list[int]) -> Iterator[Reading]:
    for ts in minutes:
        for level in PATH_LEVELS:
            rtt = 0.003 + (n * 31 + ts // MINUTE) % 50 / 1000
            # Decoding a message makes each string afresh.
            yield Reading("path_quality", {
                "sent": 600, "received": 598, "loss_share": 0.004, "rtt_p95_seconds": rtt,
                "pdv_seconds": rtt / 5, "up": True, "up_share": 0.998, "class_hours": True,
                "result": "ok"}, {"uplink": fresh("default"), "level": fresh(level),
                                  "target": f"{level}-node"}, ts)


def registry(schools: int, path: Path) -> None:
    head = ("school_id,name,province_code,province_name,city_code,city_name,county_code,"
            "county_name,school_type,classes,contracted_mbps\n")
    rows = []
    for n in range(schools):
        i = identity(n)
        kind = "teaching_point" if n % 9 == 0 else "primary"
        rows.append(f"{i.school_id},学校,37,山东省,{i.city},市,{i.county},县,{kind},{CLASSES},1000")
    path.write_text(head + "\n".join(rows) + "\n", encoding="utf-8")


def start_ns(rounds: int) -> int:
    return time.time_ns() - (rounds + 1) * 5 * MINUTE


def load(url: str, schools: int, rounds: int, t0: int) -> int:
    from collector.ingest.lineproto import line

    points, chunk = 0, []
    for n in range(schools):
        tags = identity(n).region_tags()
        for r in range(rounds):
            for reading in school_round(n, r, t0 + r * 5 * MINUTE):
                chunk.append(line(Reading(reading.measurement, reading.fields,
                                          {**reading.tags, **tags}, reading.ts_ns)))
        if len(chunk) >= 20000 or n == schools - 1:
            urllib.request.urlopen(urllib.request.Request(
                f"{url}/write?db=bench&precision=ns", "\n".join(chunk).encode(),
                method="POST"), timeout=300).read()
            points += len(chunk)
            chunk = []
    return points


def config(tmp: Path, url: str) -> Path:
    storage = influx1_storage(url, "bench") + "\ntimeout_seconds = 600"
    return judging_toml(tmp, 1883, storage, "bench", tmp / "schools.csv",
                        extra=f'[alerts]\nstate_file = "{tmp}/alerts.json"\nmax_per_hour = 100000')


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def child(mode: str, cfg_path: str, schools: int, rounds: int, t0: int) -> dict[str, Any]:
    """One path's rounds in this process; figures as JSON."""
    from collector import config
    from collector.ingest.writer import make_writer
    from collector.judge.evaluate import Evaluator
    from collector.judge.reader import InfluxQLReader
    from collector.judge.rounds import QueryJudge, WindowJudge

    spent = [0.0]
    series = InfluxQLReader.series

    def timed(self: InfluxQLReader, query: str) -> list[dict[str, Any]]:
        began = time.perf_counter()
        try:
            return series(self, query)
        finally:
            spent[0] += time.perf_counter() - began
    InfluxQLReader.series = timed  # type: ignore[method-assign]

    cfg = config.load(cfg_path)
    writer = make_writer(cfg.storage)
    written = [0.0]
    write = writer.write

    def timed_write(lines: list[str]) -> None:
        began = time.perf_counter()
        try:
            write(lines)
        finally:
            written[0] += time.perf_counter() - began
    writer.write = timed_write  # type: ignore[method-assign]
    ev = Evaluator(cfg, writer, [])
    out: dict[str, Any] = {}
    if mode == "query":
        ev.judge = QueryJudge(ev.reader, ev.targets)
    elif mode == "rebuild":
        ev.judge = WindowJudge(ev.reader, ev.targets, streamed=False)
    else:
        judge = WindowJudge(ev.reader, ev.targets)
        judge.ready = True
        ev.judge = judge
        began, cpu = time.perf_counter(), _cpu()
        fed = feed(judge, schools, range(rounds), t0)
        if PATH:
            minutes = class_minutes(time.time_ns())
            for n in range(schools):
                i = identity(n)
                path = [(Envelope(i, 0, r), r.ts_ns) for r in path_readings(n, minutes)]
                judge.feed(path)
                fed += len(path)
        out["feed_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["feed_s"], out["feed_per_reading_us"] = (time.perf_counter() - began,
                                                     (_cpu() - cpu) / fed * 1e6)
        out["fed"] = fed
    rounds_run = ["first", "steady"] if mode == "stream" else ["first"]
    now = time.time_ns()
    for name in rounds_run:
        if name == "steady":
            # One more round of readings (every school reports every five minutes),
            # judged when the service would: the interval after the first round ended
            # (what waits for time to pass, such as summaries, is due as it would be).
            feed(ev.judge, schools, [rounds], t0)  # type: ignore[arg-type]
            now += INTERVAL_NS + int(out["first"]["wall_s"] * 1e9)
        spent[0] = written[0] = 0.0
        began, cpu = time.perf_counter(), _cpu()
        ev.run_once(now)
        out[name] = {"wall_s": time.perf_counter() - began, "cpu_s": _cpu() - cpu,
                     "db_s": spent[0], "write_s": written[0],
                     "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                     "judged": getattr(ev.judge, "judged", schools),
                     "verdicts_written": ev.written}
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def horizons(judge: Any) -> dict[str, int]:
    """Per measurement, how many rounds back a reading can still be in a window."""
    out: dict[str, int] = {}
    for kind in judge.windows.kinds:
        rounds = kind.keep * EVERY.get(kind.measurement, 1)
        out[kind.measurement] = max(out.get(kind.measurement, 0), rounds)
    return out


def feed(judge: Any, schools: int, rounds: Any, t0: int) -> int:
    back = horizons(judge)
    end = max(rounds) + 1
    rounds = [r for r in rounds if end - r <= max(back.values())]
    fed = 0
    for n in range(schools):
        i = identity(n)
        items = [(Envelope(i, 0, reading), reading.ts_ns) for r in rounds
                 for reading in school_round(n, r, t0 + r * 5 * MINUTE, end - r, back)]
        judge.feed(items)
        fed += len(items)
    return fed


def run_child(mode: str, cfg: Path, schools: int, rounds: int, t0: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "tests.bench.bench_judging", "--child", mode,
                           str(cfg), str(schools), str(rounds), str(t0)], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ,
                                                               "PYTHONPATH": str(REPO)})
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def query_s(server: Any, query: str) -> float:
    # Not server.query: its 10 s timeout is shorter than a count over 50,000
    # schools' verdicts takes on a loaded machine.
    body = urllib.parse.urlencode({"q": query, "db": "bench", "epoch": "ns"}).encode()
    began = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(f"{server.url}/query", body,
                                                       method="POST"), timeout=300) as resp:
        answer = json.load(resp)
    if "error" in answer["results"][0]:
        raise OSError(answer["results"][0]["error"])
    return time.perf_counter() - began


def after(server: Any, cfg: Path) -> dict[str, Any]:
    """Report and dashboard panels over the verdicts the rounds wrote."""
    from collector.grafana import dashboards
    from tests.grafana_emulation import Range, panel_query

    rng = Range.relative("now-1h")
    reference = query_s(server, 'SELECT count("status") FROM "compliance" '
                                "WHERE time > now() - 1h")
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "collector.cli", "report", "-c", str(cfg),
                           "--level", "county", "-o", os.devnull], cwd=REPO,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    report = time.perf_counter() - began if done.returncode == 0 else float("nan")
    chosen = {"province": "All", "city": "All", "county": "All", "level": "county"}
    panels = []
    try:
        for board in (dashboards.overview(), dashboards.agents()):
            variables = board["templating"]["list"]
            for panel in board["panels"]:
                t = sum(query_s(server, panel_query(target["query"], rng, variables, chosen,
                                                    panel.get("interval", "")))
                        for target in panel["targets"])
                panels.append((t, panel["title"]))
    except OSError as err:  # a loaded machine: keep the reference and the report
        print(f"# panels not measured: {err}", flush=True)
    return {"reference_s": reference, "report_s": report, "panels": sorted(panels)[::-1]}


def size(schools: int, rounds: int, memory_only: bool) -> None:
    from tests.services import Influxd

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = Influxd(tmp / "db")
        server.start(timeout=120)
        try:
            server.create_db("bench")
            registry(schools, tmp / "schools.csv")
            cfg = config(tmp, server.url)
            t0 = start_ns(rounds)
            points = 0
            if not memory_only:
                began = time.perf_counter()
                points = load(server.url, schools, rounds, t0)
                print(f"# {schools} schools, {rounds} rounds: {points} points loaded in "
                      f"{time.perf_counter() - began:.0f} s", flush=True)
            modes = ["stream"] if memory_only else ["query", "rebuild", "stream"]
            for mode in modes:
                result = run_child(mode, cfg, schools, rounds, t0)
                print(json.dumps({"schools": schools, "rounds": rounds, "points": points,
                                  "mode": mode, **result}), flush=True)
            try:
                extra = after(server, cfg)
            except OSError as err:  # a loaded machine: say so, keep the rounds' figures
                print(f"# report and panels not measured: {err}", flush=True)
                return
            top = extra["panels"][:3]
            print(json.dumps({"schools": schools, "rounds": rounds, "mode": "after",
                              "reference_s": round(extra["reference_s"], 3),
                              "report_s": round(extra["report_s"], 2),
                              "slowest_panels": [(round(t, 2), n) for t, n in top]}),
                  flush=True)
        finally:
            server.stop()


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--child":
        mode, cfg, schools, rounds, t0 = argv[1:6]
        print(json.dumps(child(mode, cfg, int(schools), int(rounds), int(t0))))
        return 0
    memory = "--memory" in argv  # every size given: the stream path only
    if "--unique" in argv:
        os.environ[UNIQUE_ENV] = "1"  # the children's readings too
    if "--path" in argv:
        os.environ[PATH_ENV] = "1"
    for spec in [a for a in argv if a not in ("--memory", "--unique", "--path")] or ["5000:6"]:
        schools, rounds = (int(x) for x in spec.split(":"))
        size(schools, rounds, memory)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
