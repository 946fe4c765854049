"""One collector draining a QoS 1 backlog, as a share of ``mosquitto_sub``
draining the same backlog in the same round, for this tree and for others.

    python -m tests.bench.bench_ingest_headroom [--rounds R] [--n N]
        [--before REF ...] [--profile FILE]

Each ``--before`` is a git ref whose collector is exported to a temp dir and
run beside this tree's, so both are measured against the same reference on
the same (shared, loaded) machine. Every round measures the reference and
then each variant in an order that rotates from round to round; the table
gives the median of the per-round ratios, the range, and the median of each
round's ratio of a variant's drain to the first variant's, and the
collector's CPU per reading. ``--profile`` records this tree's collector
with py-spy during one extra drain (a speedscope file).

The collector runs as deployed: a registry listing every school, the
per-school bounds on, receive maximum 1000, readings of several
measurements and tag sets. Each drain starts the collector afresh, as after
an outage; the default 40 readings a school show it more classroom ports
than a school's first few (the per-school series bound loads a school's
stored series once it has seen that many), as a real backlog does: at 20 a
school, a cost every restart pays went unmeasured.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from collector.ingest.lineproto import encode_checked
from collector.ingest.validate import Validator
from tests.bench.bench_collector import c_client_drain, count, publish_all, services
from tests.services import Influxd, wait_for
from tests.support import collector_toml, influx1_storage

ROOT = Path(__file__).resolve().parents[2]
SCHOOLS = [Identity("37", "3701", f"3701{c:02d}", f"s{c:02d}{i:04d}")
           for c in range(10) for i in range(200)]


def readings(i: int, ts: int) -> Reading:
    """A mix like a school's: WAN link, classroom ports, Wi-Fi areas."""
    kind = i % 4
    if kind == 0:
        return Reading("wan_link", {"rx_bps": float(i), "tx_bps": 1e6, "link_speed_mbps": 1000,
                                    "result": "ok"}, {"iface": "eth0"}, ts)
    if kind == 3:
        return Reading("wifi_area", {"aps_online": 3, "aps_total": 3, "clients": i % 40,
                                     "best_signal_dbm": -55.0, "covered": True},
                       {"area": f"a{i % 7}", "area_kind": "teaching"}, ts)
    return Reading("classroom_link", {"link_speed_mbps": 1000, "oper_up": True,
                                      "rx_bps": float(i), "tx_bps": 2e5},
                   {"classroom": f"c{i % 30}", "switch": "sw1", "port": f"g0/{i % 30}"}, ts)


def payloads(n: int, base_ns: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        school = SCHOOLS[i % len(SCHOOLS)]
        reading = readings(i // len(SCHOOLS), base_ns + i)
        out.append((school.topic(reading.measurement), encode(school, reading, i + 1)))
    return out


def registry(tmp: Path) -> Path:
    path = tmp / "registry.csv"
    rows = ["school_id,name,province_code,province_name,city_code,city_name,county_code,"
            "county_name,school_type,classes,contracted_mbps"] + [
        f"{s.school_id},School {s.school_id},{s.province},P,{s.city},C,{s.county},K,primary,"
        "30,1000" for s in SCHOOLS]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def export(ref: str, tmp: Path) -> Path:
    """The tree at ``ref``, as files a collector can run from."""
    out = tmp / f"src-{ref.replace('/', '_')}"
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "agent", "collector"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def config(tmp: Path, port: int, storage: str, name: str) -> Path:
    extra = (f'[logging]\nstats_interval_seconds = 3600\n[registry]\nfile = "{registry(tmp)}"\n')
    path = collector_toml(tmp, port, storage, name, extra)
    path.write_text(path.read_text().replace(
        "[mqtt]\n", "[mqtt]\nreceive_maximum = 1000\n").replace(
        "max_delay_seconds = 0.05", "max_delay_seconds = 0.1"))
    return path


def drain(db: Influxd, port: int, tmp: Path, src: Path, n: int, base: int, run: int,
          profile: Path | None = None) -> float:
    """Readings/s one collector run from ``src`` stores from a queued backlog."""
    name = f"h{run}"
    db.create_db(name)
    cfg = config(tmp, port, influx1_storage(db.url, name), f"bench-{name}")
    command = [sys.executable, "-m", "collector.cli", "run", "-c", str(cfg)]
    env = {**os.environ, "PYTHONPATH": str(src)}  # that tree's code, not this one's

    log = tmp / f"collector-{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=src, env=env, stdout=out, stderr=out)
    # Once subscribed, its session exists: readings queue at the broker while it is away.
    wait_for(lambda: b"subscribed to" in log.read_bytes() or proc.poll() is not None, 120,
             "the collector's subscription")
    proc.terminate()
    if proc.wait(30) not in (0, -signal.SIGTERM):
        raise SystemExit(f"{name}: the collector failed: {log.read_text()[-2000:]}")
    publish_all(port, payloads(n, base))
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=src, env=env, stdout=out, stderr=out)
    spy = None
    if profile:  # attached, so it can be stopped (and write its file) before the collector
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-o",
                                str(profile), "-f", "speedscope", "-r", "250", "--pid",
                                str(proc.pid)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        first, cpu0 = (0.0, 0), 0.0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            stored, now = points_written(db, name), time.monotonic()
            if stored and not first[0]:
                first, cpu0 = (now, stored), cpu_seconds(proc.pid)
            # A point written twice (a batch retried) counts twice: the
            # database's own count says whether all n are there.
            if stored >= n:
                cpu = cpu_seconds(proc.pid) - cpu0
                if count_all(db, name) >= n:
                    if first[1] >= n:
                        raise SystemExit("the backlog drained between two samples: use a "
                                         "larger N")
                    CPU.append(cpu / (n - first[1]))
                    return (n - first[1]) / max(now - first[0], 1e-6)
            time.sleep(0.02)
        raise SystemExit(f"{name}: {count_all(db, name)} of {n} stored in 600 s; "
                         f"{log.read_text()[-2000:]}")
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        proc.terminate()
        proc.wait(60)


CPU: list[float] = []  # the collector's CPU seconds per reading, drain by drain


def raw_write(db: Influxd, n: int, base: int, run: int, per_write: int = 1000) -> float:
    """Points/s influxd stores of such a backlog's lines written to it directly."""
    name = f"raw{run}"
    db.create_db(name)
    now = time.time_ns()
    validator = Validator(64 * 1024, 300 * 10**9, 35 * 86400 * 10**9)
    lines = [encode_checked(validator.check(topic, payload, now), now)
             for topic, payload in payloads(n, base)]
    conn = http.client.HTTPConnection("127.0.0.1", db.port, timeout=60)
    start = time.monotonic()
    for i in range(0, n, per_write):
        conn.request("POST", f"/write?db={name}&precision=ns",
                     "\n".join(lines[i:i + per_write]).encode())
        response = conn.getresponse()
        if response.status != 204:
            raise SystemExit(f"influxd refused a write: {response.read()[:300]!r}")
        response.read()
    took = time.monotonic() - start
    conn.close()
    return n / took


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def points_written(db: Influxd, name: str) -> int:
    """Points influxd took into ``name``'s shards, from its own counters.

    Polled during a drain instead of ``count_all``: a count over 32,000
    fresh series costs influxd about 300 ms of CPU at 40,000 points (about
    1 ms for these counters), so polling it ten times a second took most of
    a core from the writes being timed, and only during drains: the
    "influxd alone" writes were never polled.
    """
    with urllib.request.urlopen(db.url + "/debug/vars", timeout=10) as resp:
        stats = json.load(resp)
    return sum(int(v["values"].get("writePointsOk", 0)) for v in stats.values()
               if isinstance(v, dict) and v.get("name") == "shard"
               and v.get("tags", {}).get("database") == name)


def count_all(db: Influxd, name: str) -> int:
    total = count(db, name)
    for measurement, fld in (("classroom_link", "rx_bps"), ("wifi_area", "clients")):
        rows = db.rows(f"SELECT count({fld}) FROM {measurement}", name)
        total += int(rows[0]["count"]) if rows else 0
    return total


def table(refs: list[float], raws: list[float], ratios: dict[str, list[float]],
          cpu: dict[str, list[float]]) -> None:
    print(f"\nreference: mosquitto_sub median {statistics.median(refs):,.0f} msg/s "
          f"(range {min(refs):,.0f}-{max(refs):,.0f})")
    ceiling = [raw / ref for raw, ref in zip(raws, refs, strict=True)]
    print(f"influxd alone, the same lines: median {statistics.median(raws):,.0f} points/s, "
          f"ratio {statistics.median(ceiling):.3f} ({min(ceiling):.3f}-{max(ceiling):.3f})")
    first = next(iter(ratios.values()))
    print(f"{'collector':<24} {'median ratio':>13} {'range':>14} {'vs first':>9} "
          f"{'CPU us/reading':>15}")
    for label, values in ratios.items():
        # vs first: the median of each round's ratio of the two drains in that round
        paired = statistics.median(v / f for v, f in zip(values, first, strict=True))
        print(f"{label:<24} {statistics.median(values):>13.3f} "
              f"{min(values):>6.3f}-{max(values):<7.3f} {paired:>9.2f} "
              f"{statistics.median(cpu[label]) * 1e6:>15.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=80000)
    parser.add_argument("--before", action="append", default=[])
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    n = args.n
    with services() as (tmp, broker, db), contextlib.ExitStack() as stack:
        variants = [(ref, export(ref, tmp)) for ref in args.before] + [("this tree", ROOT)]
        stack.callback(lambda: [shutil.rmtree(s) for _, s in variants if s != ROOT])
        base, run = time.time_ns() - 10**12, 0
        ratios: dict[str, list[float]] = {label: [] for label, _ in variants}
        cpu: dict[str, list[float]] = {label: [] for label, _ in variants}
        refs: list[float] = []
        raws: list[float] = []
        print(f"{n} readings per drain, {len(SCHOOLS)} schools, one collector, "
              f"receive maximum 1000, registry and per-school bounds on")
        for r in range(args.rounds):
            run += 1
            ref = c_client_drain(broker.port, n, payloads(n, base + run * 10**9))
            refs.append(ref)
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            line = [f"round {r + 1}: mosquitto_sub {ref:,.0f} msg/s"]
            for label, src in order:
                run += 1
                rate = drain(db, broker.port, tmp, src, n, base + run * 10**9, run)
                ratios[label].append(rate / ref)
                cpu[label].append(CPU[-1])
                line.append(f"{label} {rate:,.0f}/s ({rate / ref:.3f}, {CPU[-1] * 1e6:.0f} us CPU)")
            # Last in the round, so influxd is not still taking in these points
            # under the first drain (the order of the drains rotates anyway).
            run += 1
            raws.append(raw_write(db, n, base + run * 10**9, run))
            line.append(f"influxd alone {raws[-1]:,.0f}/s ({raws[-1] / ref:.3f})")
            print("; ".join(line), flush=True)
        if refs:
            table(refs, raws, ratios, cpu)
        if args.profile:
            run += 1
            drain(db, broker.port, tmp, ROOT, n, base + run * 10**9, run, args.profile)
            print(f"profile written to {args.profile}")


if __name__ == "__main__":
    main()
