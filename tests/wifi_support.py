"""Helpers for the Wi-Fi tests: snmpsim serving controller walks, configs, probe runs.

No real Wi-Fi radio and no real wireless controller exist on these machines:
controllers are snmpsim (a real SNMP agent from PyPI) serving the recorded
Huawei AC6605 walk and the constructed tables in tests/fixtures/wifi/snmp;
scans are recorded ``iw`` output from tests/fixtures/wifi/iw.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.config import load
from agent.probes import ProbeContext
from agent.probes.wifi import Wifi
from agent.reading import Reading
from agent.wire import Identity, encode

FIXTURES = Path(__file__).parent / "fixtures" / "wifi"
IW = FIXTURES / "iw"
SNMP = FIXTURES / "snmp"
IDENTITY = Identity("37", "3701", "370102", "370102-0001")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def responder() -> str:
    beside = Path(sys.executable).with_name("snmpsim-command-responder")
    found = str(beside) if beside.exists() else shutil.which("snmpsim-command-responder")
    if not found:
        raise RuntimeError("snmpsim-command-responder not installed (pip install snmpsim pysmi)")
    return found


@contextlib.contextmanager
def snmpsim(walks: dict[str, Path]) -> Iterator[int]:
    """snmpsim on a free loopback port; each walk is served under community = its key."""
    with tempfile.TemporaryDirectory(prefix="wifisim") as tmp:
        data, cache = Path(tmp) / "data", Path(tmp) / "cache"
        data.mkdir()
        cache.mkdir()
        for community, path in walks.items():
            shutil.copyfile(path, data / f"{community}.snmprec")
        port = free_udp_port()
        log = Path(tmp) / "log"
        # snmpsim drops root privileges unless told which user to be; as an
        # unprivileged user it could not import the rest of this Python here.
        cmd = [responder(), f"--data-dir={data}", f"--cache-dir={cache}",
               f"--agent-udpv4-endpoint=127.0.0.1:{port}",
               "--process-user=root", "--process-group=root"]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while "Listening at" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("snmpsim did not start:\n" + log.read_text()[-2000:])
                time.sleep(0.05)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


BASE = """\
[school]
id = "370102-0001"
province = "37"
city = "3701"
county = "370102"

[mqtt]
host = "127.0.0.1"

[agent]
state_dir = "{state_dir}"
"""


def write_config(tmp: Path, probe_toml: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "agent.toml"
    state = tmp / "state"
    path.write_text(BASE.format(state_dir=state) + "\n" + textwrap.dedent(probe_toml),
                    encoding="utf-8")
    return path


def make_probe(tmp: Path, probe_toml: str) -> Wifi:
    """Load the TOML through the real config loader and build the probe from it."""
    cfg = load(write_config(tmp, probe_toml))
    [pc] = [p for p in cfg.probes if p.name == "wifi"]
    probe = Wifi(pc.opts, ProbeContext(cfg.identity, "primary", cfg.state_dir))
    assert isinstance(probe, Wifi)
    return probe


def collect(probe: Wifi) -> list[Reading]:
    readings = asyncio.run(probe.collect())
    for seq, r in enumerate(readings):
        # Every reading must pass the wire contract the collector enforces.
        from agent.wire import decode
        decode(IDENTITY.topic(r.measurement), encode(IDENTITY, r, seq))
    return readings


def by(readings: list[Reading], measurement: str, **tags: str) -> list[Reading]:
    return [r for r in readings if r.measurement == measurement
            and all(r.tags.get(k) == v for k, v in tags.items())]


def one(readings: list[Reading], measurement: str, **tags: str) -> dict[str, Any]:
    [r] = by(readings, measurement, **tags)
    return r.fields
