"""Shaped WAN links for the wan_throughput tests and benchmarks.

The agent side is this process's namespace (the "school"); the far end of a
veth pair sits in a fresh namespace (the "server" side: the education network
centre) running iperf3 and the speed server. tc shapes each direction on its
sending interface: the school's egress is upload, the server's is download.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agent.contract.wire import Identity
from agent.probes import ProbeContext
from tests.netns import VethLink, veth_link
from tests.services import wait_for

ROOT = Path(__file__).resolve().parents[1]
CTX_IDENTITY = Identity("37", "3701", "370102", "s1")
SPEED_PORT = 8080
IPERF_PORT = 5201
SPEED_NET = "198.19"
# The school's token on every test speed server (a secret in real life).
TOKEN = "school-s1-test-token-0123456789"


def speed_config(path: Path, **server: object) -> Path:
    """A speed-server config file with TOKEN for client "s1" and ``server`` limits."""
    lines = ["[server]", *(f"{k} = {json.dumps(v)}" for k, v in server.items()),
             "[tokens]", f's1 = "{TOKEN}"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ctx(state_dir: Path) -> ProbeContext:
    return ProbeContext(CTX_IDENTITY, "primary", state_dir)


def shape(dev: str, rate_mbit: float, ns: str | None = None, delay_ms: float = 0,
          loss_percent: float = 0) -> None:
    """tbf at ``rate_mbit`` on ``dev``'s egress, with netem delay/loss under it."""
    pre = ["ip", "netns", "exec", ns] if ns else []
    # The bucket must hold a few ms of traffic or tbf under-delivers at high rates.
    burst = max(32_000, int(rate_mbit * 1e6 / 8 / 250))
    subprocess.run([*pre, "tc", "qdisc", "replace", "dev", dev, "root", "handle", "1:", "tbf",
                    "rate", f"{rate_mbit}mbit", "burst", str(burst), "latency", "100ms"],
                   check=True, capture_output=True)
    if delay_ms or loss_percent:
        # Needs sch_netem; this machine's kernel has none (CONFIG_NET_SCH_NETEM
        # is not set), so the tests use drop_randomly() for loss instead.
        subprocess.run([*pre, "tc", "qdisc", "add", "dev", dev, "parent", "1:1", "handle",
                        "10:", "netem", "delay", f"{delay_ms}ms", "loss", f"{loss_percent}%",
                        "limit", "100000"], check=True, capture_output=True)


def drop_randomly(ns: str, loss_percent: float) -> None:
    """Real packet loss both ways, by nftables inside the server namespace.

    Every Nth packet of each direction is dropped (``numgen inc``), not a
    random 1 in N: the count of random drops in a short test is itself
    random, so a test could not tell a loss that worked from one that did
    not. Counted, it is exact: drops == packets / N per direction, +-1.
    A "packet" here is what the stack hands veth: with segmentation offload
    one may carry up to 64 KB, and how much is merged depends on how busy the
    machine is, so a fixed count of drops for a test's bytes (the old check)
    could not hold either. Turning offload off (gso_max_segs 1) made each
    packet wire-sized but cost enough CPU that the tester's own guard called
    the result inconclusive on a loaded machine.
    """
    every = loss_every(loss_percent)
    rule = "counter drop" if every <= 1 else f"numgen inc mod {every} == 0 counter drop"
    # The first rule counts every packet, so a test can check the drop ratio.
    rules = (f"table inet snwloss {{\n"
             f" chain out {{ type filter hook output priority 0; counter; {rule}; }}\n"
             f" chain in {{ type filter hook input priority 0; counter; {rule}; }}\n}}\n")
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules, text=True,
                   check=True, capture_output=True)


def loss_every(loss_percent: float) -> int:
    """Drop one packet in this many for ``loss_percent``."""
    return max(1, round(100 / loss_percent))


@dataclass
class Wan:
    link: VethLink

    @property
    def speed_url(self) -> str:
        return f"http://{self.link.peer_addr}:{SPEED_PORT}/"

    @property
    def server(self) -> str:
        return self.link.peer_addr

    def shape(self, down_mbit: float, up_mbit: float, delay_ms: float = 0) -> None:
        # Half the delay each way, so the round trip gains delay_ms.
        shape(self.link.peer_if, down_mbit, self.link.ns, delay_ms / 2)
        shape(self.link.host_if, up_mbit, None, delay_ms / 2)

    def loss_counters(self) -> tuple[int, int]:
        """(packets seen, packets dropped) by drop_randomly() so far, both ways."""
        out = subprocess.run(["ip", "netns", "exec", self.link.ns, "nft", "list", "table",
                              "inet", "snwloss"], capture_output=True, text=True,
                             check=True).stdout
        seen = dropped = 0
        for line in out.splitlines():
            count = re.search(r"counter packets (\d+)", line)
            if count and "drop" in line:
                dropped += int(count.group(1))
            elif count:
                seen += int(count.group(1))
        return seen, dropped

    def iperf3(self, reverse: bool, seconds: float = 4, streams: int = 4) -> float:
        """The reference: iperf3's goodput in bit/s, first second omitted (slow start)."""
        cmd = ["iperf3", "-c", self.server, "-p", str(IPERF_PORT), "-J", "-t", str(seconds),
               "-O", "1", "-P", str(streams), *(["-R"] if reverse else [])]
        out = json.loads(subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                                        check=True).stdout)
        return float(out["end"]["sum_received"]["bits_per_second"])


def _port_ready(ns: str, port: int) -> bool:
    out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-ltnH", f"sport = :{port}"],
                         capture_output=True, text=True).stdout
    return bool(out.strip())


@contextmanager
def wan(down_mbit: float = 0, up_mbit: float = 0, delay_ms: float = 0,
        loss_percent: float = 0) -> Iterator[Wan]:
    """A school↔server link with the speed server and iperf3 listening in the server ns."""
    # 198.19 (also RFC 2544): other suites on a shared machine use veth_link's 198.18.
    with veth_link(SPEED_NET) as link, tempfile.TemporaryDirectory() as tmp:
        w = Wan(link)
        cfg = speed_config(Path(tmp) / "speed-server.toml")
        if down_mbit:
            w.shape(down_mbit, up_mbit or down_mbit, delay_ms)
        if loss_percent:
            drop_randomly(link.ns, loss_percent)
        pre = ["ip", "netns", "exec", link.ns]
        procs = [
            subprocess.Popen([*pre, sys.executable, "-m", "collector.cli", "speed-server",
                              "-c", str(cfg), "--listen", link.peer_addr,
                              "--port", str(SPEED_PORT)],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([*pre, "iperf3", "-s", "-B", link.peer_addr, "-p", str(IPERF_PORT)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        try:
            for port in (SPEED_PORT, IPERF_PORT):
                wait_for(lambda p=port: _port_ready(link.ns, p), 15, f"port {port} in {link.ns}")
            yield w
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            time.sleep(0.05)
