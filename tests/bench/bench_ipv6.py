"""Benchmark of the ipv6 probe in the test namespaces (not collected by pytest).

Run as root: ``python -m tests.bench.bench_ipv6``. Prints, each beside its reference:

1. one full probe run (3 targets, LAN check): wall time, CPU time and peak RSS,
   against the probe's default timeout and interval (duty cycle), and the same
   run without the LAN check (scapy never imported) to show what scapy costs;
2. how fast the RA answering our Router Solicitation arrives, from radvd on the
   gateway itself and from radvd on another LAN host, against RFC 4861's
   MAX_RA_DELAY_TIME (0.5 s) and the default ra_wait_seconds (3 s);
3. CPU time of a 3 s RA listen while the LAN carries a flood of non-RA
   multicast, with the kernel BPF filter and without it (every frame then
   goes through scapy's dissector in Python).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.probes.ipv6.probe import Ipv6
from tests.ipv6_support import REPO, Scenario, World

RUNS = 5
LISTEN = """
import sys
from agent.probes.ipv6 import lan as ipv6_lan
if sys.argv[1] == "nofilter":
    ipv6_lan._attach_ra_filter = lambda sock, iface, sysfs=None: None
result = ipv6_lan.listen("lan0", 3.0, grace=10.0)
print(result.result, len(result.adverts))
"""
FLOOD = """
import socket, time
idx = socket.if_nametoindex("eth0")
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
end, n = time.time() + 4, 0
while time.time() < end:
    s.sendto(b"x" * 64, ("ff02::1", 9, 0, idx)); n += 1
print(n)
"""


def measured(cmd: list[str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MiB, stdout) of one child process."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, out
    return (time.monotonic() - start, usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024, out)


def probe_runs(world: World, **opts: object) -> list[tuple[float, float, float, str]]:
    cmd = ["ip", "netns", "exec", world.gw, sys.executable, "-m", "tests.ipv6_runner",
           str(world.config(**opts))]
    return [measured(cmd) for _ in range(RUNS)]


def ra_seconds(runs: list[tuple[float, float, float, str]]) -> list[float]:
    out = []
    for *_, stdout in runs:
        line = next(ln for ln in stdout.splitlines() if ln.split("\t")[0].endswith("/ipv6"))
        out.append(json.loads(line.split("\t", 1)[1])["fields"]["ra_seconds"])
    return out


def med(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, World(Path(tmp), Scenario()) as world:
        time.sleep(3.5)  # past radvd's start-up RA: every RA heard is an answer to our RS
        full = probe_runs(world, ra_wait_seconds=3.0)
        no_lan = probe_runs(world, lan_interface="")
        wall, cpu, rss = (med([r[i] for r in full]) for i in range(3))
        print(f"1. full probe run, median of {RUNS}: wall {wall:.2f} s, CPU {cpu:.2f} s, "
              f"peak RSS {rss:.1f} MiB")
        print(f"   reference: default timeout {Ipv6.default_timeout:.0f} s, interval "
              f"{Ipv6.default_interval:.0f} s -> duty cycle "
              f"{med([r[0] for r in full]) / Ipv6.default_interval:.4%}")
        print(f"   without LAN check (no scapy): wall {med([r[0] for r in no_lan]):.2f} s, "
              f"CPU {med([r[1] for r in no_lan]):.2f} s, "
              f"peak RSS {med([r[2] for r in no_lan]):.1f} MiB")
        local = ra_seconds(full)
    with tempfile.TemporaryDirectory() as tmp, \
            World(Path(tmp), Scenario(radvd="cli", dhcpv6=False, o_flag=False)) as world:
        time.sleep(3.5)
        remote = ra_seconds(probe_runs(world, ra_wait_seconds=3.0))
        print(f"2. RA after our RS, median (max) of {RUNS}: radvd on the gateway "
              f"{med(local) * 1000:.1f} ms ({max(local) * 1000:.1f}), radvd on a LAN host "
              f"{med(remote) * 1000:.1f} ms ({max(remote) * 1000:.1f})")
        print("   reference: RFC 4861 MAX_RA_DELAY_TIME 500 ms; default ra_wait_seconds 3000 ms"
              "; radvd MinDelayBetweenRAs 3000 ms")
    with tempfile.TemporaryDirectory() as tmp, \
            World(Path(tmp), Scenario(radvd="", dhcpv6=False)) as world:
        figures = {}
        for mode in ("filter", "nofilter"):
            flood = subprocess.Popen(["ip", "netns", "exec", world.cli, sys.executable, "-c",
                                      FLOOD], stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)
            _, cpu, _, out = measured(["ip", "netns", "exec", world.gw, sys.executable, "-c",
                                       LISTEN, mode])
            sent = int(flood.communicate()[0])
            figures[mode] = (cpu, sent / 4, out.split()[0])
        print(f"3. 3 s RA listen under a non-RA multicast flood "
              f"(~{figures['filter'][1]:,.0f} / {figures['nofilter'][1]:,.0f} pkt/s): "
              f"CPU {figures['filter'][0]:.2f} s with the BPF filter "
              f"(result {figures['filter'][2]})")
        print(f"   reference: the same listen without the filter: CPU "
              f"{figures['nofilter'][0]:.2f} s (result {figures['nofilter'][2]})")


if __name__ == "__main__":
    main()
