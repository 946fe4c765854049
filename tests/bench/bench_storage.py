"""Storage per school per year on influxd 1.6.7: raw readings and the long-term aggregates.

    python -m tests.bench.bench_storage [SCHOOLS] [DAYS]

Constructed readings with the real measurement and field names, at the
shipped probe intervals (configs/agent.example.toml): wan_link every 60 s,
30 classroom ports, the classroom summary, 10 Wi-Fi areas, the coverage
summary and the agent heartbeat every 300 s, IPv6 every 1800 s, 6 bandwidth
tests a day, one probe_run per probe run, and the judge's 5 verdicts every
300 s. Values vary as real ones do (traffic counters, speeds that change now
and then), since compression depends on it.

The database is set up by deploy/influxdb/bootstrap-influxdb1.sh; the
long-term aggregates are made by running each continuous query's SELECT ...
INTO over the written days (the README's backfill). Sizes are the shards'
TSM files after influxd's full compaction. Reference, in the same run: the
bytes of line protocol written (what the collector sends), so the ratio says
how well the engine compresses these readings on this machine.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from agent.contract.reading import FieldValue, Reading
from collector.ingest.lineproto import line
from tests.deploy_support import REPO
from tests.services import Influxd, wait_for

DAY_S = 86_400
TARGETS = ("exit_bandwidth", "classroom_links", "wifi", "ipv6", "all")
PROBES = ("wan_link", "classroom_links", "wifi", "ipv6", "wan_throughput")


def school_day(n: int, day0: int, rnd: random.Random) -> Iterator[Reading]:
    tags = {"school": f"s{n:05d}", "province": "37", "city": "3701", "county": f"37010{n % 5}"}

    def r(m: str, f: dict[str, FieldValue], ts: int, **extra: str) -> Reading:
        return Reading(m, f, {**tags, **extra}, (day0 + ts) * 10**9)

    for t in range(0, DAY_S, 60):
        rx = rnd.uniform(1e7, 6e8)
        yield r("wan_link", {"link_speed_mbps": 1000.0, "contracted_mbps": 1000.0,
                             "oper_up": True, "rx_bps": rx, "tx_bps": rx / 5,
                             "utilisation": rx / 1e9, "rx_peak_bps": rx * 1.4,
                             "tx_peak_bps": rx / 3, "samples": 6, "result": "ok"}, t,
                iface="eth0", source="snmp")
        yield r("probe_run", {"duration_seconds": rnd.uniform(0.05, 0.3), "readings": 1,
                              "result": "ok"}, t, probe="wan_link")
    for t in range(0, DAY_S, 300):
        for c in range(30):
            speed = 1000.0 if (c + t // 43_200) % 17 else 100.0
            yield r("classroom_link", {"link_speed_mbps": speed, "oper_up": True,
                                       "admin_up": True, "meets_target": True,
                                       "rx_bps": rnd.uniform(0, 5e7), "tx_bps": rnd.uniform(0, 5e6),
                                       "status": "ok", "result": "ok"}, t,
                    classroom=f"{c // 6 + 1}-{c % 6 + 1}", switch="sw1", port=f"GE0/0/{c + 1}")
        yield r("classroom_summary", {"classrooms": 30, "classrooms_meeting": 30,
                                      "meeting_share": 1.0, "min_speed_mbps": 100.0,
                                      "switches": 1, "result": "ok"}, t)
        for a in range(10):
            yield r("wifi_area", {"covered": True, "required": a < 8, "aps_online": 2,
                                  "aps_total": 2, "clients": rnd.randint(0, 60),
                                  "best_signal_dbm": -float(rnd.randint(45, 70)),
                                  "result": "ok"}, t, area=f"area{a}", area_kind="teaching")
        yield r("wifi_coverage", {"required_areas": 8, "covered_areas": 8,
                                  "coverage_share": 1.0, "result": "ok"}, t)
        yield r("agent", {"version": "0.1.0", "uptime_seconds": float(t), "spool_depth": 0,
                          "probe_errors": 0, "published": t // 10, "result": "ok"}, t)
        for probe in PROBES[1:3]:
            yield r("probe_run", {"duration_seconds": rnd.uniform(0.5, 3), "readings": 31,
                                  "result": "ok"}, t, probe=probe)
        for target in TARGETS:
            yield r("compliance", {"status": "pass", "pass": True, "value": 940.0,
                                   "threshold": 800.0, "readings": 5}, t, target=target)
    for t in range(0, DAY_S, 1800):
        yield r("ipv6", {"level": 3, "level_name": "lan", "result": "ok",
                         "wan_global_addrs": 1, "tcp_v6": True, "lan_ra": True}, t)
        yield r("probe_run", {"duration_seconds": 2.0, "readings": 4, "result": "ok"}, t,
                probe="ipv6")
    for t in range(3600, DAY_S, 4 * 3600):
        down = rnd.uniform(8.5e8, 9.5e8)
        yield r("wan_throughput", {"download_bps": down, "upload_bps": down / 2,
                                   "rtt_seconds": rnd.uniform(0.004, 0.02),
                                   "jitter_seconds": 0.001, "bytes_used": 2e8, "streams": 4,
                                   "duration_seconds": 8.0, "cpu_limited": False,
                                   "result": "ok"}, t, method="http", server="county")
        yield r("probe_run", {"duration_seconds": 9.0, "readings": 1, "result": "ok"}, t,
                probe="wan_throughput")


def tsm_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.tsm"))


def compacted(data: Path, wal: Path) -> bool:
    """Every shard in one TSM file and nothing left in the WAL."""
    shards = [d for d in data.glob("*/*/*") if d.is_dir() and d.parent.name != "_series"]
    wal_left = sum(p.stat().st_size for p in wal.rglob("*.wal"))
    return bool(shards) and wal_left == 0 and all(
        len(list(s.glob("*.tsm"))) == 1 for s in shards)


def query(server: Influxd, q: str) -> dict:
    data = urllib.parse.urlencode({"q": q, "db": "schoolnet"}).encode()
    with urllib.request.urlopen(urllib.request.Request(server.url + "/query", data),
                                timeout=600) as resp:
        return dict(json.load(resp))


def main(schools: int = 10, days: int = 7) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = Influxd(Path(tmp))
        server.conf.write_text(server.conf.read_text().replace(
            '  query-log-enabled = false\n', '  query-log-enabled = false\n'
            '  cache-snapshot-write-cold-duration = "2s"\n'
            '  compact-full-write-cold-duration = "5s"\n'))
        with server.running():
            env = {**os.environ, "INFLUX_URL": server.url, "INFLUX_ADMIN_PASSWORD": "x",
                   "COLLECTOR_PASSWORD": "x", "READER_PASSWORD": "x", "GRAFANA_PASSWORD": "x"}
            subprocess.run(["sh", str(REPO / "deploy/influxdb/bootstrap-influxdb1.sh")],
                           env=env, check=True, capture_output=True, timeout=120)
            rnd = random.Random(19)
            day0 = (time.time_ns() // 10**9 // DAY_S - days - 1) * DAY_S
            sent = points = 0
            for n in range(schools):
                for d in range(days):
                    lines = [line(r) for r in school_day(n, day0 + d * DAY_S, rnd)]
                    body = "\n".join(lines).encode()
                    sent += len(body)
                    points += len(lines)
                    urllib.request.urlopen(urllib.request.Request(
                        f"{server.url}/write?db=schoolnet", body), timeout=120).read()
            window = f"WHERE time >= {day0}s AND time < {day0 + days * DAY_S}s GROUP BY"
            cqs = query(server, "SHOW CONTINUOUS QUERIES")["results"][0]["series"]
            for series in cqs:
                for _name, body_text in series["values"]:
                    select = body_text.split(" BEGIN ", 1)[1].rsplit(" END", 1)[0]
                    query(server, select.replace("GROUP BY", window, 1))
            data, wal = Path(tmp) / "data", Path(tmp) / "wal"
            wait_for(lambda: compacted(data, wal), 600, "full compaction", interval=5.0)
            raw = tsm_bytes(data / "schoolnet/schoolnet")
            long = tsm_bytes(data / "schoolnet/longterm")
            index = sum(p.stat().st_size for p in (data / "schoolnet/_series").rglob("*")
                        if p.is_file())
        per_school_day_raw = raw / (schools * days)
        per_school_day_long = long / (schools * days)
        print(f"{schools} schools x {days} days: {points:,} points, {sent / 1e6:.1f} MB of "
              f"line protocol (reference)")
        print(f"raw on disk: {raw / 1e6:.2f} MB = {raw / sent:.3f} of the line protocol, "
              f"{raw / points:.2f} bytes/point")
        # The series file is preallocated in 4 MiB segments per partition: it
        # grows with the number of series, not with history.
        print(f"series file (all policies, preallocated): {index / 1e6:.1f} MB")
        print(f"per school: raw {per_school_day_raw / 1e3:.0f} kB/day = "
              f"{per_school_day_raw * 365 / 1e6:.1f} MB/year; kept 90 days: "
              f"{per_school_day_raw * 90 / 1e6:.1f} MB")
        print(f"per school: aggregates {per_school_day_long / 1e3:.1f} kB/day = "
              f"{per_school_day_long * 365 / 1e6:.2f} MB/year "
              f"({long / raw:.4f} of raw); kept 5 years: "
              f"{per_school_day_long * 1830 / 1e6:.1f} MB")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
