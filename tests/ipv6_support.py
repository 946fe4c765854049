"""Real IPv6 networks in namespaces for the ipv6 probe's tests.

A World is three namespaces joined by veth pairs, every peer a real daemon:

    isp (upstream)  --veth--  gw (school gateway, runs the probe)  --veth--  cli (LAN host)
    dnsmasq: A/AAAA           radvd on lan0: RA, prefix, RDNSS, M/O
    tests.ipv6_httpd: sites   dnsmasq on lan0: DHCPv6 + DNS (forwards to isp)

Addresses are documentation ranges (2001:db8::/32, 198.51.100.0/24,
203.0.113.0/24) and exist only inside these namespaces. Every namespace
name carries the test process id; teardown kills the daemons and deletes
the namespaces, whatever happened.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from agent.contract.measurements import COLLECTOR_MEASUREMENTS, SCHEMA
from agent.contract.schema import check_reading
from agent.contract.wire import decode
from tests.netns import start_in, stop_all

REPO = Path(__file__).resolve().parent.parent
_counter = itertools.count()

ISP_V4, GW_V4 = "198.51.100.1", "198.51.100.2"
ISP_V6, GW_V6 = "2001:db8:1::1", "2001:db8:1::2"
LAN_V6, LAN_PREFIX, DELEGATED = "2001:db8:100::1", "2001:db8:100::/64", "2001:db8:100::/56"
# Services on the isp side: name -> (IPv4, IPv6)
SITES = {
    "national.edu.test": ("203.0.113.10", "2001:db8:e::10"),
    "provincial.edu.test": ("203.0.113.20", "2001:db8:e::20"),
    "www.school.edu.test": ("203.0.113.30", "2001:db8:e::30"),
}
SCHOOL_SITE = "www.school.edu.test"


@dataclass
class Scenario:
    wan_v6: bool = True               # gateway has a global WAN address and a v6 default route
    v6_route: bool = True             # ... and that default route (False: address only)
    delegated: bool = True            # an unreachable route for a delegated /56 is installed
    radvd: str = "gw"                 # who sends RAs on the LAN: "gw", "cli" or "" (nobody)
    m_flag: bool = False
    o_flag: bool = True
    autonomous: bool = True           # prefix A flag (SLAAC)
    rdnss: bool = True
    dhcpv6: bool = True               # dnsmasq answers DHCPv6 on the LAN
    site_aaaa: bool = True            # DNS publishes AAAA for the school site
    site_listens_v6: bool = True      # the school site's server listens on IPv6
    v6_delay_ms: int = 0              # delay on IPv6 only, gw -> the sites
    https: bool = False               # the school site serves HTTPS (cert: World.cert)
    extra: dict[str, Any] = field(default_factory=dict)


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {out.returncode}: {out.stderr.strip()}")
    return out


class World:
    def __init__(self, tmp: Path, scenario: Scenario) -> None:
        self.tmp = tmp
        self.sc = scenario
        tag = f"v6t{os.getpid()}x{next(_counter)}"
        self.isp, self.gw, self.cli = f"{tag}isp", f"{tag}gw", f"{tag}cli"
        self.procs: list[subprocess.Popen[str]] = []
        self.started = 0.0  # time.monotonic() when the daemons were up

    # -- lifecycle -------------------------------------------------------
    def __enter__(self) -> World:
        try:
            self._build()
            self.started = time.monotonic()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        stop_all(self.procs)
        for ns in (self.isp, self.gw, self.cli):
            sh("ip", "netns", "del", ns, check=False)

    def ns(self, ns: str, *cmd: str) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", ns, *cmd)

    def start(self, ns: str, *cmd: str, ready: str | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start a daemon in ``ns``; wait for ``ready`` on its stdout if given."""
        return start_in(self.procs, ns, *cmd, ready=ready, env=env)

    # -- the network -----------------------------------------------------
    def _build(self) -> None:
        sc = self.sc
        for ns in (self.isp, self.gw, self.cli):
            sh("ip", "netns", "add", ns)
            # DAD would leave fresh addresses tentative for a second or more.
            for key in ("default.accept_dad", "all.accept_dad"):
                self.ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{key}=0")
            self.ns(ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "wan0", "netns", self.gw, "type", "veth",
           "peer", "name", "down0", "netns", self.isp)
        sh("ip", "link", "add", "lan0", "netns", self.gw, "type", "veth",
           "peer", "name", "eth0", "netns", self.cli)
        isp = lambda *c: self.ns(self.isp, *c)  # noqa: E731
        gw = lambda *c: self.ns(self.gw, *c)  # noqa: E731
        cli = lambda *c: self.ns(self.cli, *c)  # noqa: E731
        isp("ip", "link", "set", "down0", "up")
        gw("ip", "link", "set", "wan0", "up")
        gw("ip", "link", "set", "lan0", "up")
        cli("ip", "link", "set", "eth0", "up")
        isp("ip", "addr", "add", f"{ISP_V4}/24", "dev", "down0")
        gw("ip", "addr", "add", f"{GW_V4}/24", "dev", "wan0")
        gw("ip", "route", "add", "default", "via", ISP_V4)
        gw("ip", "addr", "add", "192.168.100.1/24", "dev", "lan0")
        for v4, v6 in SITES.values():
            # On lo: this kernel has no dummy interfaces, and lo serves as well.
            isp("ip", "addr", "add", f"{v4}/32", "dev", "lo")
            isp("ip", "-6", "addr", "add", f"{v6}/128", "dev", "lo", "nodad")
        isp("ip", "-6", "addr", "add", f"{ISP_V6}/64", "dev", "down0", "nodad")
        if sc.wan_v6:
            gw("ip", "-6", "addr", "add", f"{GW_V6}/64", "dev", "wan0", "nodad")
            if sc.v6_route:
                gw("ip", "-6", "route", "add", "default", "via", ISP_V6)
            gw("ip", "-6", "addr", "add", f"{LAN_V6}/64", "dev", "lan0", "nodad")
            if sc.delegated:
                gw("ip", "-6", "route", "add", "unreachable", DELEGATED)
        else:
            # An IPv4-only ISP: not even the upstream's v6 address is on-link.
            isp("ip", "-6", "addr", "del", f"{ISP_V6}/64", "dev", "down0")
        if sc.v6_delay_ms:
            self._delay_v6(sc.v6_delay_ms)
        self._isp_services()
        self._lan_services()

    def _delay_v6(self, ms: int) -> None:
        """Delay IPv6 from gw to the sites only, so v6 is measurably worse than v4.

        tc netem is not in this kernel; tests.ipv6_delayline does it with TUN.
        """
        self.start(self.gw, sys.executable, "-m", "tests.ipv6_delayline", self.isp, str(ms),
                   ready="ready")
        # Receiving end first: dly0 starts sending (MLD, RS) as soon as it is up.
        self.ns(self.isp, "ip", "link", "set", "dly1", "up")
        self.ns(self.gw, "ip", "link", "set", "dly0", "up")
        self.ns(self.gw, "ip", "-6", "route", "add", "2001:db8:e::/64", "dev", "dly0")

    def _isp_services(self) -> None:
        sc = self.sc
        records = []
        for name, (v4, v6) in SITES.items():
            publish_v6 = sc.site_aaaa or name != SCHOOL_SITE
            records.append(f"--host-record={name},{v4}" + (f",{v6}" if publish_v6 else ""))
        listen = [ISP_V4] + ([ISP_V6] if self.sc.wan_v6 else [])
        self.start(self.isp, "dnsmasq", "-k", "-C", "/dev/null", "-u", "root",
                   "--pid-file=" + str(self.tmp / "isp-dnsmasq.pid"), "--bind-interfaces",
                   *[f"--listen-address={a}" for a in listen], "--no-resolv", "--no-hosts",
                   "--local=/test/", "--log-facility=-", *records)
        binds = []
        for name, (v4, v6) in SITES.items():
            tls = "tls:" if sc.https and name == SCHOOL_SITE else ""
            port = 443 if tls else 80
            binds.append(f"{tls}{v4}:{port}")
            if sc.site_listens_v6 or name != SCHOOL_SITE:
                binds.append(f"{tls}[{v6}]:{port}")
        if sc.https:
            self._make_cert()
        self.start(self.isp, sys.executable, "-m", "tests.ipv6_httpd", *binds, ready="ready",
                   env={**os.environ, "IPV6_TEST_CERT": str(self.cert),
                        "IPV6_TEST_KEY": str(self.tmp / "site.key")})
        self._wait_port(self.isp, ISP_V4, 53)

    @property
    def cert(self) -> Path:
        return self.tmp / "site.crt"

    def _make_cert(self) -> None:
        """A self-signed certificate for the school site; tests pass it as ca_file."""
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
           "-subj", f"/CN={SCHOOL_SITE}", "-addext", f"subjectAltName=DNS:{SCHOOL_SITE}",
           "-keyout", str(self.tmp / "site.key"), "-out", str(self.cert))

    def _lan_services(self) -> None:
        sc = self.sc
        if sc.radvd == "gw" or sc.dhcpv6:
            self.ns(self.gw, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        if sc.dhcpv6 and sc.wan_v6:
            self.start(self.gw, "dnsmasq", "-k", "-C", "/dev/null", "-u", "root",
                       "--pid-file=" + str(self.tmp / "lan-dnsmasq.pid"),
                       "--interface=lan0", "--bind-interfaces", "--no-resolv", "--no-hosts",
                       f"--server={ISP_V4}", "--log-facility=-",
                       "--dhcp-leasefile=" + str(self.tmp / "leases"),
                       "--dhcp-range=::100,::1ff,constructor:lan0,64,1h")
            self._wait_port(self.gw, LAN_V6, 53)
        if sc.radvd:
            where = self.gw if sc.radvd == "gw" else self.cli
            iface = "lan0" if sc.radvd == "gw" else "eth0"
            if where == self.cli:
                self.ns(self.cli, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
            conf = self.tmp / f"radvd-{sc.radvd}.conf"
            conf.write_text(self.radvd_conf(iface))
            conf.chmod(0o600)
            pid = self.tmp / f"radvd-{sc.radvd}.pid"
            self.start(where, "radvd", "-n", "-C", str(conf), "-p", str(pid), "-m", "stderr")
            deadline = time.monotonic() + 10
            while not pid.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert pid.exists(), "radvd did not start"

    def radvd_conf(self, iface: str) -> str:
        sc = self.sc
        onoff = lambda flag: "on" if flag else "off"  # noqa: E731
        rdnss = f"RDNSS {LAN_V6} {{ }};" if sc.rdnss else ""
        return textwrap.dedent(f"""\
            interface {iface} {{
              AdvSendAdvert on;
              AdvManagedFlag {onoff(sc.m_flag)};
              AdvOtherConfigFlag {onoff(sc.o_flag)};
              MinRtrAdvInterval 200; MaxRtrAdvInterval 600;
              prefix {LAN_PREFIX} {{ AdvOnLink on; AdvAutonomous {onoff(sc.autonomous)}; }};
              {rdnss}
            }};
            """)

    def _wait_port(self, ns: str, addr: str, port: int) -> None:
        probe = (f"import socket,sys,time\nend=time.time()+10\nwhile time.time()<end:\n"
                 f" try:\n  socket.create_connection(('{addr}',{port}),0.5).close(); sys.exit(0)\n"
                 f" except OSError: time.sleep(0.05)\nsys.exit(1)")
        self.ns(ns, sys.executable, "-c", probe)

    # -- running the probe -----------------------------------------------
    def config(self, targets: tuple[str, ...] = ("national", "provincial", "school_site"),
               **opts: Any) -> Path:
        """An agent config whose ipv6 probe looks only at this world's addresses."""
        probe: dict[str, Any] = {"lan_interface": "lan0", "resolvers": [ISP_V4],
                                 "ra_wait_seconds": 1.5, "dhcpv6_wait_seconds": 1.0,
                                 "connect_timeout_seconds": 1.0}
        probe.update(opts)
        lines = ["[school]", 'id = "370102-0001"', 'province = "37"', 'city = "3701"',
                 'county = "370102"', "", "[mqtt]", 'host = "127.0.0.1"', "",
                 "[probes.ipv6]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in probe.items()]
        for name, host, role in (("national", "national.edu.test", "platform"),
                                 ("provincial", "provincial.edu.test", "platform"),
                                 ("school_site", SCHOOL_SITE, "school_site")):
            if name not in targets:
                continue
            scheme = "https" if self.sc.https and host == SCHOOL_SITE else "http"
            lines += ["", f"[probes.ipv6.targets.{name}]", f'url = "{scheme}://{host}/"',
                      f'role = "{role}"']
        path = self.tmp / "agent.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def run_probe(self, drop_cap: str = "", targets: tuple[str, ...] | None = None,
                  **opts: Any) -> dict[str, Any]:
        """Run the probe in the gateway namespace; readings by measurement (targets by name).

        ``drop_cap`` (e.g. "net_raw") runs it without that capability, as an
        agent started by systemd without AmbientCapabilities would be.
        """
        cmd = ["ip", "netns", "exec", self.gw]
        if drop_cap:
            cmd += ["setpriv", f"--inh-caps=-{drop_cap}", f"--bounding-set=-{drop_cap}"]
        config = self.config(targets, **opts) if targets else self.config(**opts)
        cmd += [sys.executable, "-m", "tests.ipv6_runner", str(config)]
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        readings: dict[str, Any] = {}
        for line in out.stdout.splitlines():
            topic, _, payload = line.partition("\t")
            reading = decode(topic, payload.encode()).reading  # the collector's strict check
            # ... and the measurement schema, as the agent's scheduler checks it.
            check_reading(SCHEMA, COLLECTOR_MEASUREMENTS, reading)
            key = reading.tags.get("target", reading.measurement)
            readings[key] = reading
        return readings
