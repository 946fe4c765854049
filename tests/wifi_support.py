"""Helpers for the Wi-Fi tests: snmpsim serving controller walks, configs, probe runs.

No real Wi-Fi radio and no real wireless controller exist on these machines:
controllers are snmpsim (a real SNMP agent from PyPI) serving the recorded
Huawei AC6605 walk and the constructed tables in tests/fixtures/wifi/snmp;
scans are recorded ``iw`` output from tests/fixtures/wifi/iw.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.config import load
from agent.contract.reading import Reading
from agent.contract.wire import Identity, decode, encode
from agent.probes import ProbeContext
from agent.probes.wifi.probe import Wifi
from tests.snmp_support import running_snmpsim
from tests.support import AGENT_HEAD

FIXTURES = Path(__file__).parent / "fixtures" / "wifi"
IW = FIXTURES / "iw"
SNMP = FIXTURES / "snmp"
IDENTITY = Identity("37", "3701", "370102", "370102-0001")


@contextlib.contextmanager
def snmpsim(walks: dict[str, Path]) -> Iterator[int]:
    """snmpsim on a free loopback port; each walk is served under community = its key."""
    with tempfile.TemporaryDirectory(prefix="wifisim") as tmp, \
            running_snmpsim(Path(tmp), walks) as port:
        yield port


BASE = AGENT_HEAD + """
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


SCAN1 = IW / "jc_centos-7.7_iw-scan1.txt"

# What iw prints on stderr when a scan cannot start (its "command failed:
# <strerror> (<-errno>)" format) and the exit codes it gives for them.
BUSY = (240, "", "command failed: Device or resource busy (-16)\n")
NO_DEVICE = (237, "", "command failed: No such device (-19)\n")
NOT_PERMITTED = (255, "", "command failed: Operation not permitted (-1)\n")
NO_NL80211 = (1, "", "nl80211 not found.\n")


class ReplayIw:
    """Runs "iw" without a radio or a process: answers each command with RECORDED
    output. ``scan`` is what ``iw dev IF scan`` gives, (exit code, stdout,
    stderr), or an exception to raise as running it would; ``scan dump``
    answers with the recorded scan."""

    def __init__(self, scan: tuple[int, str, str] | BaseException | None = None,
                 dump: Path = SCAN1) -> None:
        self.dump = (0, dump.read_text(encoding="utf-8"), "")
        self.scan = self.dump if scan is None else scan
        self.calls: list[list[str]] = []

    def __call__(self, cmd: list[str], timeout: float) -> tuple[int, str, str]:
        self.calls.append(cmd)
        answer = self.dump if cmd[-1] == "dump" else self.scan
        if isinstance(answer, BaseException):
            raise answer
        return answer


def collect(probe: Wifi) -> list[Reading]:
    readings = asyncio.run(probe.collect())
    for seq, r in enumerate(readings):
        # Every reading must pass the wire contract the collector enforces.
        decode(IDENTITY.topic(r.measurement), encode(IDENTITY, r, seq))
    return readings


def by(readings: list[Reading], measurement: str, **tags: str) -> list[Reading]:
    return [r for r in readings if r.measurement == measurement
            and all(r.tags.get(k) == v for k, v in tags.items())]


def one(readings: list[Reading], measurement: str, **tags: str) -> dict[str, Any]:
    [r] = by(readings, measurement, **tags)
    return r.fields
