"""The education network ladder in namespaces: school -> county -> city -> province, and an ISP.

::

    school --edu--> county --> city --> province
       \\                                  /
        +---isp--> isp -------------------+

Every node but the school runs the real reflector (``schoolnet-collector
reflector``). Impairments, since this kernel has no netem: loss by nftables
``numgen random`` drops in the county node (counted, per direction and
target), delay and jitter by the TUN delay line (``tests.ipv6_delayline``)
from the school into the county node, and a deep tbf queue on the school's
edu uplink for bufferbloat. Names carry the test's process id; everything is
removed in ``close``, even after a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.netns import start_in, stop_all
from tests.support import AGENT_HEAD

REPO = Path(__file__).resolve().parent.parent
SCHOOL, COUNTY_V4, CITY_V4, PROVINCE_V4 = "198.18.1.1", "198.18.1.2", "198.18.2.2", "198.18.3.2"
ISP_SRC = "198.18.9.1"
PLATFORM_V4 = "198.18.5.2"  # the education platform, hosted beside the province node
TARGETS = {"county": COUNTY_V4, "city": CITY_V4, "province": PROVINCE_V4,
           "platform": PLATFORM_V4}
# (namespace a, its address, namespace b, its address): /30 links.
LINKS = (("school", "198.18.1.1", "county", "198.18.1.2"),
         ("county", "198.18.2.1", "city", "198.18.2.2"),
         ("city", "198.18.3.1", "province", "198.18.3.2"),
         ("school", "198.18.9.1", "isp", "198.18.9.2"),
         ("isp", "198.18.4.1", "province", "198.18.4.2"))
ROUTES = {
    "school": [("default", "198.18.1.2")],
    "county": [("default", "198.18.2.2")],
    "city": [("198.18.1.0/30", "198.18.2.1"), ("default", "198.18.3.2")],
    "province": [("198.18.1.0/30", "198.18.3.1"), ("198.18.2.0/30", "198.18.3.1"),
                 ("198.18.9.0/30", "198.18.4.1")],
    "isp": [("198.18.3.0/30", "198.18.4.2"), ("198.18.5.0/30", "198.18.4.2")],
}


def sh(*cmd: str, check: bool = True, stdin: str | None = None) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, input=stdin)
    if check and done.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")
    return done.stdout


class Ladder:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        tag = os.getpid() % 100000
        self.names = {n: f"lq{tag}{n[:3]}" for n in ("school", "county", "city", "province",
                                                      "isp")}
        self.procs: list[subprocess.Popen[str]] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def ns(self, node: str, *cmd: str, stdin: str | None = None) -> str:
        return sh("ip", "netns", "exec", self.names[node], *cmd, stdin=stdin)

    def start(self, node: str, *cmd: str, ready: str) -> subprocess.Popen[str]:
        return start_in(self.procs, self.names[node], *cmd, ready=ready)

    def _build(self) -> None:
        for node, name in self.names.items():
            sh("ip", "netns", "add", name)
            self.ns(node, "ip", "link", "set", "lo", "up")
            for key in ("ip_forward", "conf.all.rp_filter", "conf.default.rp_filter"):
                value = "1" if key == "ip_forward" else "0"
                self.ns(node, "sysctl", "-qw", f"net.ipv4.{key}={value}")
        for i, (a, a_addr, b, b_addr) in enumerate(LINKS):
            a_if, b_if = f"to{b[:3]}{i}", f"to{a[:3]}{i}"
            sh("ip", "link", "add", a_if, "netns", self.names[a], "type", "veth",
               "peer", "name", b_if, "netns", self.names[b])
            for node, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
                self.ns(node, "ip", "addr", "add", f"{addr}/30", "dev", ifname)
                self.ns(node, "ip", "link", "set", ifname, "up")
        for node, routes in ROUTES.items():
            for dest, via in routes:
                self.ns(node, "ip", "route", "add", dest, "via", via)
        self.ns("province", "ip", "addr", "add", f"{PLATFORM_V4}/32", "dev", "lo")
        # The ISP uplink: traffic from its address leaves through it (policy routing).
        self.ns("school", "ip", "rule", "add", "from", ISP_SRC, "table", "109")
        self.ns("school", "ip", "route", "add", "default", "via", "198.18.9.2", "table", "109")
        # Packets of each direction per node, to prove which way a test went.
        for node in ("county", "isp"):
            self.nft(node, """table inet ladder_count {
              counter to_reflector {}
              counter from_reflector {}
              chain count { type filter hook prerouting priority -400;
                udp dport 862 counter name to_reflector
                udp sport 862 counter name from_reflector
              }
            }""")
        for node in ("county", "city", "province", "isp"):
            # The default listen address: one socket for IPv4 and IPv6.
            self.start(node, sys.executable, "-m", "collector.cli", "reflector",
                       "--rate", "200", "--burst", "400", ready="listening")

    def nft(self, node: str, ruleset: str) -> None:
        self.ns(node, "nft", "-f", "-", stdin=ruleset)

    def counter(self, node: str, table: str, name: str) -> int:
        out = json.loads(self.ns(node, "nft", "-j", "list", "counter", "inet", table, name))
        return int(next(i["counter"]["packets"] for i in out["nftables"] if "counter" in i))

    def drop(self, forward: dict[str, int], backward: dict[str, int]) -> None:
        """Drop per mille of the test packets to (forward) and from (backward) each target,
        in the county node, counting what was dropped."""
        rules, counters = [], []
        for direction, per_target in (("fwd", forward), ("back", backward)):
            for target, per_mille in per_target.items():
                addr = TARGETS[target]
                match = (f"ip daddr {addr} udp dport 862" if direction == "fwd"
                         else f"ip saddr {addr} udp sport 862")
                rules.append(f"{match} numgen random mod 1000 < {per_mille} "
                             f"counter name {direction}_{target} drop")
                counters.append(f"counter {direction}_{target} {{}}")
        self.nft("county", "table inet ladder_loss {\n" + "\n".join(counters)
                 + "\n chain pre { type filter hook prerouting priority -300;\n"
                 + "\n".join(rules) + "\n}\n}")

    def dropped(self, direction: str, target: str) -> int:
        return self.counter("county", "ladder_loss", f"{direction}_{target}")

    def delay(self, ms: float, jitter_ms: float = 0.0, targets: tuple[str, ...] = ()) -> None:
        """Delay the school's packets to ``targets`` by ``ms`` (+ jitter) on the way out."""
        self.start("school", sys.executable, "-m", "tests.ipv6_delayline", self.names["county"],
                   str(ms), str(jitter_ms), ready="ready")
        self.ns("county", "ip", "link", "set", "dly1", "up")
        self.ns("school", "ip", "link", "set", "dly0", "up")
        for target in targets:
            self.ns("school", "ip", "route", "add", TARGETS[target], "dev", "dly0",
                    "src", SCHOOL)

    def once(self, probe: str, probes: str, name: str = "agent.toml") -> list[dict[str, Any]]:
        """Run ``schoolnet-agent once --probe PROBE --json`` in the school with the config
        tables ``probes``; its readings."""
        config = self.tmp / name
        config.write_text(AGENT_HEAD + f"""tls = false
[agent]
state_dir = "{self.tmp / 'state'}"
{probes}""", encoding="utf-8")
        out = self.ns("school", sys.executable, "-m", "agent.cli", "once", "-c", str(config),
                      "--probe", probe, "--json")
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def probe(self, targets: str, *, rate: float = 10, seconds: float = 10,
              extra: str = "") -> list[dict[str, Any]]:
        """Run the path_quality probe in the school against ``targets``; its readings."""
        return self.once("path_quality", f"""[probes.path_quality]
packets_per_second = {rate}
sample_seconds = {seconds}
timeout = {seconds + 60}
class_hours = []
{extra}
{targets}
""")

    def close(self) -> None:
        stop_all(self.procs)
        for name in self.names.values():
            sh("ip", "netns", "del", name, check=False)


def target_table(name: str, host: str, level: str, source: str = "",
                 uplink: str = "default") -> str:
    return (f'[probes.path_quality.targets.{name}]\nhost = "{host}"\nlevel = "{level}"\n'
            f'source = "{source}"\nuplink = "{uplink}"\n')
