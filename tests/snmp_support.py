"""Real SNMP agents for the tests (snmpd, snmpsim) and helpers to run classroom_links on them.

snmpd (Debian ``snmpd``) runs in the foreground as our child with its own
config, persistent dir and log in a temp dir; ``override`` lines present
chosen speeds and states. A network namespace (unique name, removed in
teardown) holds veth "ports" with real kernel counters. snmpsim (PyPI)
serves recorded walks of real switches on a loopback port.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.contract.wire import Identity

V3_USER = "schoolnet"
V3_AUTH_KEY = "auth-key-0123"
V3_PRIV_KEY = "priv-key-0123"
SNMPD = "/usr/sbin/snmpd"
IDENTITY = Identity("37", "3701", "370102", "370102-0001")
# No MIB files on this machine (Debian's are non-free); numeric OIDs only, quietly.
QUIET_ENV = {"MIBS": "", "MIBDIRS": "/nonexistent"}


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Snmpd:
    """One running snmpd; ``restart()`` resets its sysUpTime like a rebooted switch."""

    conf: Path
    workdir: Path
    port: int
    netns: str | None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.workdir / "snmpd.log"
        cmd = [SNMPD, "-f", "-C", "-c", str(self.conf), "-Lf", str(log),
               "-p", str(self.workdir / "snmpd.pid")]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        env = {**os.environ, **QUIET_ENV, "SNMP_PERSISTENT_DIR": str(self.workdir / "persist")}
        log.write_text("")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while "NET-SNMP version" not in log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"snmpd did not start: {log.read_text(errors='replace')}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the agent stays bound but answers nothing, like a hung switch."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def running_snmpd(workdir: Path, extra: str = "", *, netns: str | None = None,
                  address: str = "127.0.0.1", community: str = "public",
                  port: int | None = None) -> Iterator[Snmpd]:
    workdir.mkdir(parents=True, exist_ok=True)
    if port is None:
        port = free_udp_port() if netns is None else 161
    conf = workdir / "snmpd.conf"
    # tests-rw writes the overridden values and snmpd's own cache timeouts.
    listen = f"udp6:[{address}]:{port}" if ":" in address else f"udp:{address}:{port}"
    conf.write_text("\n".join([
        f"agentAddress {listen}", f"rocommunity {community} default",
        f"rocommunity6 {community} default",
        "rwcommunity tests-rw default", f"rouser {V3_USER} priv",
        f'createUser {V3_USER} SHA "{V3_AUTH_KEY}" AES "{V3_PRIV_KEY}"', extra, ""]))
    agent = Snmpd(conf, workdir, port, netns)
    agent.start()
    try:
        yield agent
    finally:
        if agent.proc and agent.proc.poll() is None:
            agent.resume()
        agent.stop()


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, capture_output=True)


@contextlib.contextmanager
def netns(prefix: str = "snt") -> Iterator[str]:
    """A fresh network namespace with lo up; deleted (with its links) on exit."""
    name = f"{prefix}{os.getpid()}_{time.monotonic_ns() % 1_000_000}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


FIXTURES = Path(__file__).parent / "fixtures" / "snmp"


def _snmpsim_command() -> list[str]:
    beside = Path(sys.executable).with_name("snmpsim-command-responder")
    found = str(beside) if beside.exists() else shutil.which("snmpsim-command-responder")
    if not found:
        raise RuntimeError("snmpsim-command-responder not found: pip install snmpsim pysmi")
    return [found]


@contextlib.contextmanager
def running_snmpsim(workdir: Path, recordings: dict[str, Path]) -> Iterator[int]:
    """snmpsim serving each recording under its community name; yields the UDP port."""
    data, cache = workdir / "data", workdir / "cache"
    data.mkdir(parents=True, exist_ok=True)
    cache.mkdir(exist_ok=True)
    for community, source in recordings.items():
        shutil.copyfile(source, data / f"{community}.snmprec")
    port = free_udp_port()
    log = workdir / "snmpsim.log"
    # As root snmpsim wants to drop to a user that cannot read a pyenv Python
    # under /root; the tests run it as they are, inside their own temp dir.
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*_snmpsim_command(), f"--data-dir={data}", f"--cache-dir={cache}",
             f"--agent-udpv4-endpoint=127.0.0.1:{port}", "--log-level=error"],
            env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "Listening at UDP/IPv4 endpoint" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"snmpsim did not start: {log.read_text(errors='replace')}")
            time.sleep(0.05)
        # snmpsim has dropped the first request right after it began listening
        # (seen here: no answer in 30 s, every later one answered at once), and
        # it indexes a recording on first use. The tests poll with short timeouts and no
        # retries, so every recording is warmed with net-snmp's own client.
        for community in recordings:
            subprocess.run(["snmpgetnext", "-v2c", "-c", community, "-t", "2", "-r", "10",
                            f"127.0.0.1:{port}", ".1.3.6"], check=True, capture_output=True,
                           timeout=60)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class School:
    """A netns standing in for a school's access switch: veth ports with real counters.

    ``uplink`` is a veth whose other end is on the host, so the tests reach
    snmpd at ``switch_addr`` and can push real traffic through that port.
    """

    ns: str
    host_addr: str
    switch_addr: str
    ifindex: dict[str, int]


def _ifindex(ns: str) -> dict[str, int]:
    out = subprocess.run(["ip", "-n", ns, "-j", "link"], check=True, capture_output=True,
                         text=True).stdout
    return {link["ifname"]: link["ifindex"] for link in json.loads(out)}


_made: list[int] = []


@contextlib.contextmanager
def school_netns(ports: dict[str, bool]) -> Iterator[School]:
    """``ports`` maps a port name to whether its link is up (its veth peer up)."""
    pid = os.getpid()
    _made.append(pid)
    # A /30 of 198.18.0.0/15 (RFC 2544 benchmarking space) picked by pid and a
    # counter, so runs side by side on one machine do not collide; nothing
    # outside the netns uses it.
    block = ipaddress.IPv4Address("198.18.0.0") + 4 * ((pid * 8 + len(_made)) % 32768)
    host_addr, switch_addr = str(block + 1), str(block + 2)
    host_if = f"snth{pid % 100000}_{len(_made) % 100}"
    with netns("snt") as ns:
        try:
            run("ip", "link", "add", host_if, "type", "veth", "peer", "name", "uplink",
                "netns", ns)
            run("ip", "addr", "add", f"{host_addr}/30", "dev", host_if)
            run("ip", "link", "set", host_if, "up")
            run("ip", "-n", ns, "addr", "add", f"{switch_addr}/30", "dev", "uplink")
            run("ip", "-n", ns, "link", "set", "uplink", "up")
            for name, up in ports.items():
                run("ip", "-n", ns, "link", "add", name, "type", "veth", "peer", "name",
                    f"{name}p")
                run("ip", "-n", ns, "link", "set", name, "up")
                if up:
                    run("ip", "-n", ns, "link", "set", f"{name}p", "up")
            yield School(ns, host_addr, switch_addr, _ifindex(ns))
        finally:
            subprocess.run(["ip", "link", "del", host_if], check=False, capture_output=True)


def snmp_set(host: str, port: int, oid: str, value: object, community: str = "tests-rw") -> None:
    """SNMP SET with pysnmp (net-snmp's snmpset cannot write a Counter32)."""
    import asyncio

    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        set_cmd,
    )

    async def main() -> None:
        engine = SnmpEngine()
        try:
            target = await UdpTransportTarget.create((host, port), timeout=2, retries=1)
            err, status, _index, _binds = await set_cmd(
                engine, CommunityData(community), target, ContextData(),
                ObjectType(ObjectIdentity(oid), value))
            if err or status:
                raise RuntimeError(f"SET {oid} failed: {err or status}")
        finally:
            engine.close_dispatcher()
    asyncio.run(main())


def probe_opts(raw: dict[str, Any]) -> Any:
    """classroom_links options checked exactly as config loading checks them."""
    from agent.contract.configschema import build
    from agent.probes.classroom_links.map import Options

    return build(Options, raw)


def make_probe(raw: dict[str, Any], state_dir: Path) -> Any:
    from agent.probes import ProbeContext
    from agent.probes.classroom_links.probe import ClassroomLinks

    return ClassroomLinks(probe_opts(raw), ProbeContext(IDENTITY, "primary", state_dir))


def collect(probe: Any) -> list[Any]:
    """Run one poll and push every reading through the wire contract both ways."""
    import asyncio

    from agent.contract.wire import decode, encode

    readings = asyncio.run(probe.collect())
    for seq, reading in enumerate(readings):
        decode(IDENTITY.topic(reading.measurement), encode(IDENTITY, reading, seq))
    return list(readings)


def by_classroom(readings: list[Any]) -> dict[str, Any]:
    return {r.tags["classroom"]: r for r in readings if r.measurement == "classroom_link"}


def summary(readings: list[Any]) -> Any:
    (found,) = [r for r in readings if r.measurement == "classroom_summary"]
    return found
