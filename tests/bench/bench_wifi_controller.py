"""Benchmark: polling a large wireless controller, against net-snmp's snmpbulkwalk.

A big campus AC manages 500-2000 APs. The walk is CONSTRUCTED (a Huawei
hwWlanApTable of N APs, a VAP per radio and two radios per AP, built from the
MIB layout, served by snmpsim on loopback); the reference is net-snmp's C
``snmpbulkwalk`` reading the same filled columns from the same snmpsim, and
the probe's own budget (``controller_deadline``, 40 s by default).

Run: python -m tests.bench.bench_wifi_controller [N ...]
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.contract.configschema import build as build_section
from agent.probes.wifi.controllers import ControllerSection
from agent.probes.wifi.controllers.huawei import AP_TABLE, RADIO_TABLE, VAP_TABLE, Huawei
from agent.probes.wifi.controllers.poll import poll_all
from tests.wifi_support import snmpsim

# Column -> table, as a real AC answers them: AP table, one VAP per radio, two radios per AP.
COLUMNS = [(AP_TABLE, c) for c in ("4", "5", "6", "44")] \
    + [(VAP_TABLE, c) for c in ("9", "10")] \
    + [(RADIO_TABLE, c) for c in ("5", "6", "7", "24", "25")]


def build(n: int, path: Path) -> None:
    rows = []
    for i in range(n):
        idx = f"0.224.252.{i // 256 % 256}.{i % 256}.{i // 65536}"
        rows += [(AP_TABLE, 4, idx, "4", f"AP-{i:04d}"),
                 (AP_TABLE, 5, idx, "4", f"group-{i // 50}"),
                 (AP_TABLE, 6, idx, "2", "8" if i % 10 else "4"),
                 (AP_TABLE, 44, idx, "2", str(i % 40))]
        for radio, (band, channel) in enumerate([(1, 6), (2, 149)]):
            r = f"{idx}.{radio}"
            rows += [(VAP_TABLE, 9, f"{r}.1", "2", str(i % 20)),
                     (VAP_TABLE, 10, f"{r}.1", "2", "1"),
                     (RADIO_TABLE, 5, r, "2", str(band)), (RADIO_TABLE, 6, r, "2", "1"),
                     (RADIO_TABLE, 7, r, "66", str(channel)), (RADIO_TABLE, 24, r, "2", "-95"),
                     (RADIO_TABLE, 25, r, "66", str(i % 100))]

    def key(row: tuple[str, int, str, str, str]) -> tuple[int, ...]:
        return tuple(int(p) for p in f"{row[0]}.{row[1]}.{row[2]}".split("."))
    lines = ["# CONSTRUCTED benchmark walk, values invented"]
    lines += [f"{table}.{col}.{idx}|{tag}|{val}"
              for table, col, idx, tag, val in sorted(rows, key=key)]
    path.write_text("\n".join(lines) + "\n")


def reference(port: int) -> float:
    started = time.perf_counter()
    for table, column in COLUMNS:
        subprocess.run(["snmpbulkwalk", "-v2c", "-c", "big", "-Cr25", "-On", "-Oq",
                        f"127.0.0.1:{port}", f"{table}.{column}"], check=True,
                       capture_output=True)
    return time.perf_counter() - started


def bench(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        walk = Path(tmp) / "big.snmprec"
        build(n, walk)
        with snmpsim({"big": walk}) as port:
            opts = build_section(ControllerSection, {
                "vendor": "huawei", "host": "127.0.0.1", "port": port, "community": "big",
                "timeout": 5.0, "retries": 1, "max_repetitions": 25})
            # The reference runs before and after the probe, so neither gains from
            # snmpsim having warmed up on the other.
            ref_before = reference(port)
            started = time.perf_counter()
            [poll] = asyncio.run(poll_all({"ac": opts}, deadline=300))
            ours = time.perf_counter() - started
            assert poll.result == "ok" and len(poll.aps) == n, (poll.result, len(poll.aps))
            online = sum(a.state == "online" for a in poll.aps)
            radios = sum(len(a.radios) for a in poll.aps)
            ref = (ref_before + reference(port)) / 2
    print(f"{n:5d} APs ({online} online, {radios} radios; "
          f"{len(Huawei.generations[0].columns)} columns walked): probe walk {ours:6.2f} s | "
          f"reference snmpbulkwalk of the {len(COLUMNS)} filled columns {ref:6.2f} s | "
          f"ratio {ours / ref:4.2f} | probe budget 40 s (controller_deadline)")


if __name__ == "__main__":
    for n in [int(a) for a in sys.argv[1:]] or [200, 1000]:
        bench(n)
