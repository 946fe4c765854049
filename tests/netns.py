"""Network namespaces, veth pairs and daemons in namespaces for tests that need a real link.

Names carry the test process id so parallel runs never collide; everything
made here is removed again, even when a test fails.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_ids = itertools.count()


def ip(*args: str, ns: str | None = None) -> str:
    cmd = ["ip", *(["-n", ns] if ns else []), *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@dataclass(frozen=True)
class VethLink:
    ns: str          # the namespace holding the far end
    host_if: str     # near end, in this (the agent's) namespace
    peer_if: str     # far end, inside ``ns``
    host_addr: str
    peer_addr: str


@contextmanager
def veth_link(prefix: str = "198.18") -> Iterator[VethLink]:
    """A veth pair from here into a fresh namespace, addressed /30 in 198.18.0.0/15,
    the range set aside for benchmarking (RFC 2544)."""
    n = next(_ids)
    tag = f"{os.getpid() % 100000}{n}"
    link = VethLink(f"snw{tag}", f"snw{tag}a", f"snw{tag}b",
                    f"{prefix}.{n % 250}.1", f"{prefix}.{n % 250}.2")
    ip("netns", "add", link.ns)
    try:
        ip("link", "add", link.host_if, "type", "veth", "peer", "name", link.peer_if)
        ip("link", "set", link.peer_if, "netns", link.ns)
        ip("addr", "add", f"{link.host_addr}/30", "dev", link.host_if)
        ip("link", "set", link.host_if, "up")
        ip("addr", "add", f"{link.peer_addr}/30", "dev", link.peer_if, ns=link.ns)
        ip("link", "set", link.peer_if, "up", ns=link.ns)
        ip("link", "set", "lo", "up", ns=link.ns)
        yield link
    finally:
        subprocess.run(["ip", "link", "del", link.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", link.ns], capture_output=True)


def start_in(procs: list[subprocess.Popen[str]], ns: str, *cmd: str, ready: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start a daemon in namespace ``ns``; wait for ``ready`` on its stdout if given.

    It joins ``procs`` before the wait, so ``stop_all`` ends it even if it never gets ready.
    """
    proc = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], cwd=REPO, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)
    procs.append(proc)
    if ready is not None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if ready in line:
                break
        else:
            raise RuntimeError(f"{cmd[0]} in {ns} exited before it was ready")
    return proc


def stop_all(procs: list[subprocess.Popen[str]]) -> None:
    """Terminate the daemons, and kill any still running 10 s later."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
