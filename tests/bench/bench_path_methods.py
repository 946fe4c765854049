"""Ways to measure path quality: the STAMP probe, ``irtt`` or icmplib (not collected by pytest).

Run as root: ``python -m tests.bench.bench_path_methods``. On the namespace
ladder, at the same time and at 10 packets/s to the same 4 targets (county,
city, province, platform), runs:

* the ``path_quality`` probe (STAMP) against ``schoolnet-collector reflector``;
* ``irtt client`` (one process per target) against ``irtt server``;
* icmplib (ICMP echo, answered by the targets' kernels), as its own
  ``multiping`` and as ``async_ping`` on an isochronous schedule.

Impairments, the same for all three: 20 ms + U(0, 10) ms delay by the delay
line to the county node (expected median ~25 ms, mean absolute IPDV ~3.3 ms),
and 2% of each method's packets dropped each way to the province node by
nftables, counted per method and direction. Prints per method and target the
RTT median/p95, jitter (mean absolute IPDV of adjacent packets, RFC 5481
4.1, computed the same way from each method's per-packet RTTs), loss (and by
direction where the method can tell), the agent-side CPU share and peak RSS,
and the network centre's side (what runs there, its peak RSS) -- each beside
its reference: the injected delay, the counted drops, and a Python process
holding the agent's modules and sleeping.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.bench.bench_path_quality import PROBE
from tests.ladder_net import REPO, TARGETS, Ladder

SECONDS = 30
RATE = 10
FOUR = ("county", "city", "province", "platform")
IRTT_PORT = 2112
DROP_PER_MILLE = 20
# icmplib two ways: its multiping (stop-and-wait: the next echo leaves an interval after
# the previous reply, or after the timeout), and async_ping(count=1) sent on our own
# isochronous schedule, which is what 10 packets/s takes. icmplib pairs a reply with its
# request by ICMP id and sequence alone, so every target (and, isochronously, every packet)
# gets an id of its own; the two ways use separate id ranges, so nftables drops and counts
# each one's packets separately. multiping itself passes one id to all targets, hence
# async_ping per target, which is all multiping does.
ICMP = """
import asyncio, json, sys, time
import agent.runtime  # what the daemon holds anyway
from icmplib import async_ping
seconds, targets, mode = float(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
count = int(seconds * 10)
start = time.monotonic()
async def one(addr, at, ident):
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    return await async_ping(addr, count=1, timeout=1, privileged=True, id=ident)
async def main():
    addrs = list(targets.values())
    if mode == "multiping":
        hosts = await asyncio.gather(*(async_ping(a, count=count, interval=0.1, timeout=1,
                                       privileged=True, id=%(multi)d + i)
                                       for i, a in enumerate(addrs)))
        return {h.address: (h.packets_sent, h.rtts) for h in hosts}
    tasks = {a: [asyncio.create_task(one(a, start + i / 10, %(iso)d + t * count + i))
                 for i in range(count)] for t, a in enumerate(addrs)}
    done = {a: [await t for t in ts] for a, ts in tasks.items()}
    return {a: (len(hs), [r for h in hs for r in h.rtts]) for a, hs in done.items()}
got = asyncio.run(main())
wall = time.monotonic() - start
names = {h: n for n, h in targets.items()}
print(json.dumps({names[a]: {"sent": sent, "received": len(rtts),
                  "rtts": [r / 1000 for r in rtts], "wall": wall}
                  for a, (sent, rtts) in got.items()}))
"""
ICMP_IDS = {"multiping": (4000, 4099), "iso": (20000, 29999)}
ICMP = ICMP % {"multi": ICMP_IDS["multiping"][0], "iso": ICMP_IDS["iso"][0]}


def nearest_rank(ordered: list[float], share: float) -> float:
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def ipdv(series: list[float | None]) -> float:
    """Mean absolute difference of adjacent packets' RTTs (both received)."""
    diffs = [abs(b - a) for a, b in itertools.pairwise(series) if a is not None and b is not None]
    return statistics.fmean(diffs) if diffs else float("nan")


def figures(series: list[float | None]) -> dict[str, float]:
    got = sorted(r for r in series if r is not None)
    return {"median": statistics.median(got), "p95": nearest_rank(got, 0.95),
            "jitter": ipdv(series), "loss": 1 - len(got) / len(series)}


class Run:
    """One process in the school namespace, reaped as soon as it ends (so its wall time is
    its own, whatever order the results are read in)."""

    def __init__(self, net: Ladder, *cmd: str) -> None:
        self.start = time.monotonic()
        self.proc = subprocess.Popen(["ip", "netns", "exec", net.names["school"], *cmd],
                                     cwd=REPO, stdout=subprocess.PIPE, text=True)
        self.result: tuple[float, float, float, Any] | None = None
        self.thread = threading.Thread(target=self._reap)
        self.thread.start()

    def _reap(self) -> None:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        _, status, usage = os.wait4(self.proc.pid, 0)
        wall = time.monotonic() - self.start
        assert os.waitstatus_to_exitcode(status) == 0, out[-2000:]
        self.result = (wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                       json.loads(out))

    def finish(self) -> tuple[float, float, float, Any]:
        """(wall s, CPU s, peak RSS MiB, parsed JSON output)."""
        self.thread.join()
        assert self.result is not None, "the process failed (see above)"
        return self.result


def peak_rss(pid: int) -> float:
    """VmHWM of a running process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def impair(net: Ladder) -> None:
    net.delay(20, 10, targets=("county",))
    net.drop(forward={"province": DROP_PER_MILLE}, backward={"province": DROP_PER_MILLE})
    addr, mod = TARGETS["province"], f"numgen random mod 1000 < {DROP_PER_MILLE}"
    matches = {"irtt_fwd": f"ip daddr {addr} udp dport {IRTT_PORT}",
               "irtt_back": f"ip saddr {addr} udp sport {IRTT_PORT}"}
    for mode, (low, high) in ICMP_IDS.items():
        ids = f"icmp id {low}-{high}"
        matches[f"{mode}_fwd"] = f"ip daddr {addr} icmp type echo-request {ids}"
        matches[f"{mode}_back"] = f"ip saddr {addr} icmp type echo-reply {ids}"
    net.nft("county", "table inet method_loss {\n"
            + "".join(f" counter {name} {{}}\n" for name in matches)
            + " chain pre { type filter hook prerouting priority -300;\n"
            + "".join(f" {match} {mod} counter name {name} drop\n"
                      for name, match in matches.items())
            + " }\n}")


def irtt_series(report: dict[str, Any]) -> tuple[list[float | None], float, float]:
    """Per-packet RTTs (None: lost), upstream and downstream loss shares."""
    series: list[float | None] = []
    for rt in report["round_trips"]:
        series.append(None if rt["lost"] != "false" else rt["delay"]["rtt"] / 1e9)
    stats = report["stats"]
    return (series, stats["upstream_loss_percent"] / 100,
            stats["downstream_loss_percent"] / 100)


def row(method: str, name: str, f: dict[str, float], split: str, extra: str = "") -> None:
    print(f"   {method:13} {name:9} median {f['median'] * 1000:6.2f} ms  p95 "
          f"{f['p95'] * 1000:6.2f} ms  jitter {f['jitter'] * 1000:5.2f} ms  loss "
          f"{f['loss']:6.2%}  {split}{extra}")


def icmp_row(mode: str, name: str, h: dict[str, Any]) -> None:
    f = figures(h["rtts"])  # which packets were lost is unknown: jitter over the replies
    f["loss"] = (h["sent"] - h["received"]) / h["sent"]
    row(f"icmplib {mode}", name, f, "no direction split",
        f"  sent {h['sent']} in {h['wall']:.1f} s = {h['sent'] / h['wall']:.1f}/s")


Result = tuple[float, float, float, Any]


def report(net: Ladder, probe: Result, icmp: dict[str, Result], idle: Result,
           irtt: dict[str, Result], centre: dict[str, float]) -> None:
    print(f"Path-quality methods, {SECONDS} s at {RATE} packets/s to 4 targets, "
          "all at the same time")
    print("   reference: county 20 ms + U(0,10) ms => median ~25 ms, p95 ~29.5 ms, "
          f"jitter ~3.33 ms; province {DROP_PER_MILLE / 10:.0f}% dropped each way "
          "=> ~3.96% round-trip loss")
    for name in FOUR:
        f = probe[3][name]
        row("stamp", name, {"median": f["rtt_median_seconds"], "p95": f["rtt_p95_seconds"],
                            "jitter": f.get("jitter_seconds", float("nan")),
                            "loss": f["loss_share"]},
            f"fwd {f['loss_forward_share']:.2%} back {f['loss_backward_share']:.2%}",
            f"  sent {f['sent']}")
        series, up, down = irtt_series(irtt[name][3])
        row("irtt", name, figures(series), f"fwd {up:.2%} back {down:.2%}",
            f"  sent {len(series)}")
        for mode, done in icmp.items():
            icmp_row(mode, name, done[3][name])
    counted = {"stamp": (net.dropped("fwd", "province"), net.dropped("back", "province"))}
    for m in ("irtt", *ICMP_IDS):
        counted[m] = (net.counter("county", "method_loss", f"{m}_fwd"),
                      net.counter("county", "method_loss", f"{m}_back"))
    sent = {"stamp": probe[3]["province"]["sent"],
            "irtt": len(irtt_series(irtt["province"][3])[0]),
            **{m: done[3]["province"]["sent"] for m, done in icmp.items()}}
    print("   counted drops to/from province (nftables): "
          + "; ".join(f"{m} fwd {fw} back {bk} of {sent[m]} sent = {(fw + bk) / sent[m]:.2%}"
                      for m, (fw, bk) in counted.items()))
    b_wall, b_cpu, b_rss, _ = idle
    print("   agent side (reference: Python with the agent's modules, sleeping: "
          f"CPU {b_cpu:.2f} s in {b_wall:.1f} s, peak RSS {b_rss:.1f} MiB)")
    for label, (wall, cpu, rss, _) in (("stamp", probe),
                                       *((f"icmplib {m}", d) for m, d in icmp.items())):
        print(f"   {label:17} CPU {(cpu - b_cpu) / wall:6.2%} of one core extra, "
              f"RSS {rss - b_rss:+5.1f} MiB extra (in-process)")
    t_cpu = sum(d[1] for d in irtt.values())
    t_wall = max(d[0] for d in irtt.values())
    t_rss = sum(d[2] for d in irtt.values())
    print(f"   {'irtt':17} CPU {t_cpu / t_wall:6.2%} of one core, RSS {t_rss:5.1f} MiB "
          f"(4 extra processes, binary {Path('/usr/bin/irtt').stat().st_size / 2**20:.1f} MiB)")
    print("   icmplib needs a raw socket (root / CAP_NET_RAW) or an unprivileged ICMP socket "
          "(net.ipv4.ping_group_range)")
    print("   network centre: stamp -> schoolnet-collector reflector, peak RSS "
          f"{centre['reflector']:.1f} MiB; irtt -> irtt server, peak RSS "
          f"{centre['irtt server']:.1f} MiB; icmplib -> nothing (the kernel answers echo)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        net = Ladder(Path(tmp))
        try:
            impair(net)
            servers = {node: net.start(node, "irtt", "server", "-b", f":{IRTT_PORT}",
                                       # without it, answers to the platform address (a
                                       # second address of the host) never arrive
                                       "--set-src-ip",
                                       ready="starting IPv4 listener")
                       for node in ("county", "city", "province")}
            four = json.dumps({n: TARGETS[n] for n in FOUR})
            probe = Run(net, sys.executable, "-c", PROBE, str(SECONDS), four, "probe")
            icmp = {m: Run(net, sys.executable, "-c", ICMP, str(SECONDS), four, m)
                    for m in ICMP_IDS}
            idle = Run(net, sys.executable, "-c", PROBE, str(SECONDS), four, "idle")
            irtts = {n: Run(net, "irtt", "client", "-i", f"{1000 // RATE}ms", "-d",
                            f"{SECONDS}s", "--wait=1s", "-Q", "-o", "-",
                            f"{TARGETS[n]}:{IRTT_PORT}") for n in FOUR}
            reflector = next(p for p in net.procs if isinstance(p.args, list)
                             and "reflector" in p.args and net.names["province"] in p.args)
            results = (probe.finish(), {m: r.finish() for m, r in icmp.items()},
                       idle.finish(), {n: r.finish() for n, r in irtts.items()})
            centre = {"reflector": peak_rss(reflector.pid),
                      "irtt server": peak_rss(servers["province"].pid)}
            report(net, *results, centre)
        finally:
            net.close()


if __name__ == "__main__":
    main()
