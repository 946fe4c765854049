"""Benchmark: polling a large wireless controller, against net-snmp's snmpbulkwalk.

A big campus AC manages 500-2000 APs. The walk is CONSTRUCTED (a Huawei
hwWlanApTable of N APs, a VAP per radio and two radios per AP; or an H3C WX
with its status, object, brief-info, radio and radio-association tables,
string-indexed; built from the MIB layout, served by snmpsim on loopback);
the reference is net-snmp's C ``snmpbulkwalk`` reading the same filled
columns from the same snmpsim, and the probe's own budget
(``controller_deadline``, 40 s by default).

Run: python -m tests.bench.bench_wifi_controller [huawei|h3c] [N ...]
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
from agent.probes.wifi.controllers.h3c import H3c
from agent.probes.wifi.controllers.huawei import AP_TABLE, RADIO_TABLE, VAP_TABLE, Huawei
from agent.probes.wifi.controllers.poll import poll_all
from tests.wifi_support import snmpsim

# Column -> table, as a real AC answers them: AP table, one VAP per radio, two radios per AP.
COLUMNS = [(AP_TABLE, c) for c in ("4", "5", "6", "44")] \
    + [(VAP_TABLE, c) for c in ("9", "10")] \
    + [(RADIO_TABLE, c) for c in ("5", "6", "7", "24", "25")]


Rows = list[tuple[str, int, str, str, str]]
H3C = "1.3.6.1.4.1.25506.2.75.2"
H3C_COLUMNS = [(f"{H3C}.1.{t}.1", c) for t, cols in (
    (1, ("4", "5", "8")), (2, ("7", "8")), (12, ("18", "21", "25")),
    (3, ("4", "5", "11", "25", "26"))) for c in cols] + [(f"{H3C}.2.8.1", "6")]


def s_index(text: str) -> str:
    return ".".join(str(p) for p in (len(text), *text.encode()))


def build_h3c(n: int) -> Rows:
    rows: Rows = []
    for i in range(n):
        name, sid, oid = f"AP-{i:04d}", s_index(f"SN{i:08d}"), s_index(f"OBJ{i:06d}")
        run = i % 10 != 0
        rows += [(f"{H3C}.1.1.1", 4, sid, "2", "5" if run else "1"),
                 (f"{H3C}.1.1.1", 5, sid, "4", name), (f"{H3C}.1.1.1", 8, sid, "2", "1"),
                 (f"{H3C}.1.12.1", 18, s_index(name), "2", "1"),
                 (f"{H3C}.1.12.1", 21, s_index(name), "2", str(i % 40)),
                 (f"{H3C}.1.12.1", 25, s_index(name), "2", "1" if run else "2")]
        if not run:
            continue  # the object and radio tables list running APs only
        rows += [(f"{H3C}.1.2.1", 7, oid, "2", str(i % 40)), (f"{H3C}.1.2.1", 8, oid, "4", name)]
        for radio, (modes, channel) in enumerate([(22, 6), (33, 149)], 1):
            r = f"{oid}.{radio}"
            rows += [(f"{H3C}.1.3.1", 4, r, "2", "1"), (f"{H3C}.1.3.1", 5, r, "2", str(channel)),
                     (f"{H3C}.1.3.1", 11, r, "66", str(modes)), (f"{H3C}.1.3.1", 25, r, "2", "1"),
                     (f"{H3C}.1.3.1", 26, r, "2", str(i % 100)),
                     (f"{H3C}.2.8.1", 6, r, "2", str(i % 20))]
    return rows


def build(n: int, path: Path, vendor: str = "huawei") -> None:
    rows: Rows = build_h3c(n) if vendor == "h3c" else []
    for i in range(n if vendor == "huawei" else 0):
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


def reference(port: int, columns: list[tuple[str, str]]) -> float:
    started = time.perf_counter()
    for table, column in columns:
        subprocess.run(["snmpbulkwalk", "-v2c", "-c", "big", "-Cr25", "-On", "-Oq",
                        f"127.0.0.1:{port}", f"{table}.{column}"], check=True,
                       capture_output=True)
    return time.perf_counter() - started


def bench(n: int, vendor: str = "huawei") -> None:
    columns = H3C_COLUMNS if vendor == "h3c" else COLUMNS
    walked = len((H3c if vendor == "h3c" else Huawei).generations[0].columns)
    with tempfile.TemporaryDirectory() as tmp:
        walk = Path(tmp) / "big.snmprec"
        build(n, walk, vendor)
        with snmpsim({"big": walk}) as port:
            opts = build_section(ControllerSection, {
                "vendor": vendor, "host": "127.0.0.1", "port": port, "community": "big",
                "timeout": 5.0, "retries": 1, "max_repetitions": 25})
            # The reference runs before and after the probe, so neither gains from
            # snmpsim having warmed up on the other.
            ref_before = reference(port, columns)
            started = time.perf_counter()
            [poll] = asyncio.run(poll_all({"ac": opts}, deadline=300))
            ours = time.perf_counter() - started
            assert poll.result == "ok" and len(poll.aps) == n, (poll.result, len(poll.aps))
            online = sum(a.state == "online" for a in poll.aps)
            radios = sum(len(a.radios) for a in poll.aps)
            ref = (ref_before + reference(port, columns)) / 2
    print(f"{vendor} {n:5d} APs ({online} online, {radios} radios; "
          f"{walked} columns walked): probe walk {ours:6.2f} s | "
          f"reference snmpbulkwalk of the {len(columns)} filled columns {ref:6.2f} s | "
          f"ratio {ours / ref:4.2f} | probe budget 40 s (controller_deadline)")


if __name__ == "__main__":
    args = sys.argv[1:]
    vendor = args.pop(0) if args and args[0] in ("huawei", "h3c") else "huawei"
    for n in [int(a) for a in args] or [200, 1000]:
        bench(n, vendor)
