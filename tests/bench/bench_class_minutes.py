"""Path-quality verdicts at a province's scale: counted from the stream, against
asking InfluxDB for a week's percentiles (not collected by pytest).

    python -m tests.bench.bench_class_minutes [DB_SCHOOLS [PROVINCE_SCHOOLS]]

Defaults: 10 schools in influxd, 50,000 in the province. Every school measures
four levels (county, city, province, platform) every minute for 7 days, class
hours 08:00-16:00 local, Monday to Friday.
Prints, in one run:

1. reference: the query the collector ran before (each school's week of class
   minutes, as percentiles per school, uplink and level), on DB_SCHOOLS schools;
2. the same schools' class minutes counted by the database (what a collector
   that lost its counts, or the one-off ``evaluate``, now asks: per-day counts
   a chunk of counties at a time);
3. counting from the stream: microseconds a reading (``ClassMinutes.add``);
4. the province: PROVINCE_SCHOOLS schools' counts (each school's arrays copied
   from a fed school), their memory (tracemalloc, and RSS growth), and one
   round of their path-quality verdicts (seconds; what the collector does every
   ``quality_refresh_minutes``).

Ratios are a school's cost on each path against the reference's cost a school.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import tempfile
import time
import tracemalloc
import urllib.parse
import urllib.request
from array import array
from pathlib import Path

from agent.contract.configschema import build
from collector.config import Storage
from collector.judge import quality
from collector.judge.classminutes import HEAD, ClassMinutes
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.rounds import quality_from_database
from collector.judge.targets import load as load_targets
from tests.services import Influxd

REPO = Path(__file__).resolve().parents[2]
TARGETS = load_targets(REPO / "configs/targets.toml")
LEVELS = ("county", "city", "province", "platform")
DAYS = 7
MIN = 60 * 10**9


def school(i: int) -> School:
    return School(f"s{i:06d}", "学校", "37", "p", "3701", "c", f"3701{i // 400:04d}", "x",
                  "primary", 30, 1000.0)


def minutes(i: int, now_ns: int, offset_s: int):  # type: ignore[no-untyped-def]
    """One school's week of path readings: (tags, fields, ts)."""
    rng = random.Random(i)
    start = now_ns // MIN * MIN
    for m in range(DAYS * 1440):
        ts = start - m * MIN
        local = ts // 10**9 + offset_s
        hour = local % 86400 // 3600
        weekday = (local // 86400 + 3) % 7  # 1970-01-01 was a Thursday: Monday is 0
        for level in LEVELS:
            rtt = 0.003 + rng.random() * 0.05
            yield ({"uplink": "default", "level": level, "target": f"{level}-node"},
                   {"sent": 600, "received": 598, "loss_share": rng.random() * 0.012,
                    "rtt_p95_seconds": rtt, "pdv_seconds": rtt / 5, "up": True,
                    "up_share": 1.0, "class_hours": 8 <= hour < 16 and weekday < 5,
                    "result": "ok"}, ts)


def line(s: School, tags: dict[str, str], fields: dict[str, object], ts: int) -> str:
    f = ",".join(f"{k}={v!r}" if isinstance(v, float) else
                 f"{k}={'true' if v else 'false'}" if isinstance(v, bool) else
                 f"{k}={v}i" if isinstance(v, int) else f'{k}="{v}"' for k, v in fields.items())
    region = {"school": s.school_id, "county": s.county, "city": s.city,
              "province": s.province}
    t = ",".join(f"{k}={v}" for k, v in sorted({**tags, **region}.items()))
    return f"path_quality,{t} {f} {ts}"


def old_figures_query(share: float, days: float) -> str:
    """The collector's query before class minutes were counted (kept as the reference)."""
    pct = round(share * 100, 3)
    return (f"SELECT count(sent) AS minutes, percentile(rtt_p95_seconds, {pct:g}) AS rtt, "
            f"percentile(pdv_seconds, {pct:g}) AS pdv, percentile(loss_share, {pct:g}) AS loss, "
            f'mean(up_share) AS up FROM "path_quality" WHERE class_hours = true AND '
            f"time > now() - {int(days * 86400)}s GROUP BY school, uplink, level")


def timed(fn):  # type: ignore[no-untyped-def]
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    db_schools = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    province = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    now = time.time_ns()
    counts = ClassMinutes(TARGETS)
    feed: list[tuple[str, dict[str, str], dict[str, object], int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Influxd(Path(tmp) / "influxd")
        db.start(timeout=120)
        try:
            db.create_db("bench")
            for i in range(db_schools):
                sid = school(i).school_id
                lines = []
                for tags, fields, ts in minutes(i, now, counts.offset_s):
                    lines.append(line(school(i), tags, fields, ts))
                    feed.append((sid, tags, fields, ts))
                for at in range(0, len(lines), 50_000):
                    body = "\n".join(lines[at:at + 50_000]).encode()
                    urllib.request.urlopen(urllib.request.Request(
                        f"{db.url}/write?db=bench&precision=ns", body, method="POST"),
                        timeout=300).read()
            print(f"# {db_schools} schools x {DAYS} days x {len(LEVELS)} levels, every minute: "
                  f"{len(feed):,} readings ({sum(f[2]['class_hours'] for f in feed):,} in class)",
                  flush=True)
            storage = build(Storage, {"kind": "influxdb1", "url": db.url, "database": "bench",
                                      "timeout_seconds": 600.0})
            reader = InfluxQLReader(storage)
            schools = [school(i) for i in range(db_schools)]
            query = urllib.parse.urlencode({"db": "bench", "q": old_figures_query(0.95, DAYS)})
            _, ref_wall, _ = timed(lambda: json.load(urllib.request.urlopen(
                f"{db.url}/query?{query}", timeout=600)))
            counted, db_wall, db_cpu = timed(
                lambda: quality_from_database(reader, TARGETS, schools, now))
        finally:
            db.stop()
    print(f"reference (percentile query, before): {ref_wall:.2f} s = "
          f"{ref_wall / db_schools:.3f} s a school", flush=True)
    print(f"counted by the database (rebuild / one-off evaluate): {db_wall:.2f} s wall "
          f"({db_cpu:.2f} s collector CPU) = {db_wall / ref_wall:.2f}x the reference", flush=True)

    oldest = counts.oldest_day(now)
    _, _, add_cpu = timed(lambda: [counts.add(*r, oldest) for r in feed])
    per_reading = add_cpu / len(feed) * 1e6
    stream = quality.evaluate(counts, schools, TARGETS, now)
    assert stream == counted, "the stream's counts and the database's differ"
    print(f"counted from the stream: {per_reading:.2f} us CPU a reading; a school's week "
          f"({len(feed) // db_schools:,} readings) {add_cpu / db_schools:.3f} s, spread over "
          f"the week; verdicts identical to the database's: {len(stream)}", flush=True)

    # The province: each school's arrays copied from a fed school's.
    sample = counts.rows[schools[0].school_id]
    tracemalloc.start()
    rss0 = rss_mb()
    big = ClassMinutes(TARGETS)
    big.resume((counts.keys, {}))
    for i in range(province):
        sid = school(i).school_id
        big.rows[sid] = array("H", counts.rows[schools[i % db_schools].school_id])
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grown = rss_mb() - rss0
    everyone = [school(i) for i in range(province)]
    verdicts, v_wall, v_cpu = timed(lambda: quality.evaluate(big, everyone, TARGETS, now))
    per_school_ref = ref_wall / db_schools
    rows = (len(sample) - HEAD) // big.width
    print(f"province of {province:,}: counts {traced / 2**20:.1f} MB traced "
          f"({traced / province:.0f} B a school, {rows} day rows), RSS "
          f"+{grown:.1f} MB; a round of verdicts {v_wall:.2f} s wall / {v_cpu:.2f} s CPU "
          f"({len(verdicts):,} verdicts) = {v_wall / province * 1e6:.0f} us a school, "
          f"{per_school_ref / (v_wall / province):,.0f}x less than the reference's "
          f"{per_school_ref:.3f} s a school (which would take "
          f"{per_school_ref * province / 60:.0f} min)", flush=True)


if __name__ == "__main__":
    main()
