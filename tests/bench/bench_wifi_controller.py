"""Benchmark: polling a large wireless controller, against net-snmp's snmpbulkwalk.

A big campus AC manages 500-2000 APs. The walk is CONSTRUCTED (a Huawei
hwWlanApTable of N APs built from the MIB layout, served by snmpsim on
loopback); the reference is net-snmp's C ``snmpbulkwalk`` reading the same
columns from the same snmpsim, and the probe's own budget (default timeout
60 s, deadline 48 s for the walks).

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
from agent.probes.wifi.controllers.huawei import AP_TABLE, Huawei
from agent.probes.wifi.controllers.poll import poll_all
from tests.wifi_support import snmpsim


def build(n: int, path: Path) -> None:
    rows = []
    for i in range(n):
        idx = f"0.224.252.{i // 256 % 256}.{i % 256}.{i // 65536}"
        rows += [(4, idx, "4", f"AP-{i:04d}"), (5, idx, "4", f"group-{i // 50}"),
                 (6, idx, "2", "8" if i % 10 else "4"), (44, idx, "2", str(i % 40))]

    def key(row: tuple[int, str, str, str]) -> tuple[int, ...]:
        return (row[0], *(int(p) for p in row[1].split(".")))
    lines = ["# CONSTRUCTED benchmark walk, values invented"]
    lines += [f"{AP_TABLE}.{col}.{idx}|{tag}|{val}" for col, idx, tag, val in sorted(rows, key=key)]
    path.write_text("\n".join(lines) + "\n")


def bench(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        walk = Path(tmp) / "big.snmprec"
        build(n, walk)
        with snmpsim({"big": walk}) as port:
            opts = build_section(ControllerSection, {
                "vendor": "huawei", "host": "127.0.0.1", "port": port, "community": "big",
                "timeout": 5.0, "retries": 1, "max_repetitions": 25})
            started = time.perf_counter()
            [poll] = asyncio.run(poll_all({"ac": opts}, deadline=300))
            ours = time.perf_counter() - started
            assert poll.result == "ok" and len(poll.aps) == n, (poll.result, len(poll.aps))
            online = sum(a.state == "online" for a in poll.aps)
            started = time.perf_counter()
            for column in ("4", "5", "6", "44"):
                subprocess.run(["snmpbulkwalk", "-v2c", "-c", "big", "-Cr25", "-On", "-Oq",
                                f"127.0.0.1:{port}", f"{AP_TABLE}.{column}"], check=True,
                               capture_output=True)
            ref = time.perf_counter() - started
    print(f"{n:5d} APs ({online} online, {len(Huawei.generations[0].columns)} columns): probe walk "
          f"{ours:6.2f} s | reference snmpbulkwalk x4 columns {ref:6.2f} s | "
          f"probe budget 48 s (timeout 60 s)")


if __name__ == "__main__":
    for n in [int(a) for a in sys.argv[1:]] or [200, 1000]:
        bench(n)
