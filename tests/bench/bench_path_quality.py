"""Benchmark of path_quality on the namespace ladder (not collected by pytest).

Run as root: ``python -m tests.bench.bench_path_quality``. Prints, each beside
its reference measured in the same run:

1. accuracy: the probe and ``ping`` run at the same time from the school to
   the county node (20 ms delay + 0..10 ms jitter by the delay line) and the
   province node (2% of packets dropped each way by nftables, ICMP and STAMP
   alike, and counted): median RTT and loss of each, against the injected
   delay and the counted drops;
2. cost on the gateway: CPU (share of one core) and peak RSS of a process
   running the probe at 10 packets/s to 4 targets for 30 s, against the same
   process holding the same modules and sleeping (the goal: < 1% of one
   core and < 8 MB extra RSS).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.ladder_net import REPO, TARGETS, Ladder

SECONDS = 30
PROBE = """
import asyncio, json, sys
from pathlib import Path
import agent.runtime  # what the daemon holds anyway
from agent.contract.configschema import build
from agent.contract.wire import Identity
from agent.probes import ProbeContext
from agent.probes.path_quality.probe import PathQuality, PathQualityOptions
targets = json.loads(sys.argv[2])
opts = build(PathQualityOptions, {"sample_seconds": float(sys.argv[1]), "class_hours": [],
    "packets_per_second": 10, "targets": {n: {"host": h, "level": n} for n, h in targets.items()}})
ctx = ProbeContext(Identity("37", "3701", "370102", "370102-0001"), "primary", Path("/tmp"))
if sys.argv[3] == "probe":
    out = asyncio.run(PathQuality(opts, ctx).collect())
    print(json.dumps({r.tags["target"]: r.fields for r in out if r.measurement == "path_quality"}))
else:
    import time
    time.sleep(float(sys.argv[1]) + 1)
    print("{}")
"""


def measured(net: Ladder, *args: str) -> tuple[float, float, float, dict[str, dict]]:
    """(wall s, CPU s, peak RSS MiB, readings) of one probe process in the school."""
    start = time.monotonic()
    proc = subprocess.Popen(["ip", "netns", "exec", net.names["school"], sys.executable, "-c",
                             PROBE, *args], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    return (time.monotonic() - start, usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024, json.loads(out))


def ping(net: Ladder, host: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(["ip", "netns", "exec", net.names["school"], "ping", "-n", "-i",
                             "0.1", "-c", str(count), "-W", "1", host],
                            stdout=subprocess.PIPE, text=True)


def ping_figures(proc: subprocess.Popen[str]) -> tuple[float, float]:
    """(median RTT s, loss share) from ping's per-packet lines."""
    out, _ = proc.communicate(timeout=120)
    rtts = [float(m) / 1000 for m in re.findall(r"time=([\d.]+) ms", out)]
    sent = int(re.search(r"(\d+) packets transmitted", out)[1])  # type: ignore[index]
    return statistics.median(rtts), 1 - len(rtts) / sent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        net = Ladder(Path(tmp))
        try:
            net.delay(20, 10, targets=("county",))
            province = TARGETS["province"]
            net.drop(forward={"province": 20}, backward={"province": 20})
            net.nft("county", "table inet pingloss { counter ping_out {}\n counter ping_back {}\n"
                    " chain pre { type filter hook prerouting priority -300;\n"
                    f" ip daddr {province} icmp type echo-request numgen random mod 1000 < 20 "
                    "counter name ping_out drop\n"
                    f" ip saddr {province} icmp type echo-reply numgen random mod 1000 < 20 "
                    "counter name ping_back drop\n }\n}")
            four = {n: TARGETS[n] for n in ("county", "city", "province", "platform")}
            pings = {n: ping(net, TARGETS[n], SECONDS * 10) for n in ("county", "province")}
            _, _, _, got = measured(net, str(SECONDS), json.dumps(four), "probe")
            print(f"1. accuracy, {SECONDS} s at 10/s, probe and ping at the same time")
            for name in ("county", "province"):
                p_rtt, p_loss = ping_figures(pings[name])
                f = got[name]
                print(f"   {name:9} probe median {f['rtt_median_seconds'] * 1000:7.2f} ms, "
                      f"ping {p_rtt * 1000:7.2f} ms (ratio {f['rtt_median_seconds'] / p_rtt:.3f});"
                      f" loss probe {f['loss_share']:.2%}, ping {p_loss:.2%}")
            drops = (net.dropped("fwd", "province") + net.dropped("back", "province")) / \
                got["province"]["sent"]
            print(f"   province counted STAMP drops {drops:.2%} "
                  f"(probe fwd {got['province']['loss_forward_share']:.2%} "
                  f"+ back {got['province']['loss_backward_share']:.2%}); injected county "
                  f"delay 20 ms + U(0,10) ms: expected median ~25 ms, jitter "
                  f"{got['county']['jitter_seconds'] * 1000:.2f} ms (expected ~3.33)")
            wall, cpu, rss, _ = measured(net, str(SECONDS), json.dumps(four), "probe")
            bwall, bcpu, brss, _ = measured(net, str(SECONDS), json.dumps(four), "idle")
            print(f"2. cost, 10 packets/s to 4 targets for {SECONDS} s")
            print(f"   probe: CPU {cpu:.2f} s in {wall:.1f} s = {cpu / wall:.2%} of one core, "
                  f"peak RSS {rss:.1f} MiB")
            print(f"   same modules, sleeping: CPU {bcpu:.2f} s in {bwall:.1f} s, "
                  f"peak RSS {brss:.1f} MiB")
            print(f"   extra: CPU {(cpu - bcpu) / wall:.2%} of one core, RSS {rss - brss:+.1f} MiB"
                  " (goal < 1% and < 8 MB)")
        finally:
            net.close()


if __name__ == "__main__":
    main()
