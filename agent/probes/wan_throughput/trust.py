"""Can a throughput result be trusted? CPU load and other WAN traffic during the test.

A gateway whose CPU was saturated measured itself, not the link, so such a
result is ``inconclusive``. Traffic from the school's own users shares the
link during the test; the interface counters show how much, and the reading
reports it so a low figure at 10:00 can be told from a slow link.

The system is read through ``ps`` (psutil, or an object with the same
``cpu_times``/``net_io_counters``/``net_if_addrs``/``Process``), so tests
give the arithmetic recorded counters.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

import psutil

from agent.contract.reading import FieldValue

log = logging.getLogger(__name__)
# Interface counters include Ethernet/IP/TCP headers the payload count does
# not (about 4.5% at MTU 1500) and the ACKs flowing the other way (about 2%).
HEADER_ALLOWANCE = 0.05
ACK_ALLOWANCE = 0.03


def interface_for(host: str, ps: Any = psutil) -> str | None:
    """The local interface the kernel would use to reach ``host`` (no packet is sent)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        info = socket.getaddrinfo(host, 9, family, socket.SOCK_DGRAM)[0]
        with socket.socket(info[0], socket.SOCK_DGRAM) as sock:
            sock.connect(info[4])  # UDP connect only picks a route
            local = sock.getsockname()[0]
    except OSError:
        return None
    for name, addrs in ps.net_if_addrs().items():
        if any(a.address.split("%")[0] == local for a in addrs):
            return name
    return None


def _busy(before: Any, after: Any) -> float:
    total = sum(after) - sum(before)
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    return max(0.0, min(1.0, 1 - idle / total)) if total > 0 else 0.0


def cpu_limited(busy_share: float, agent_cores: float, limit: float) -> bool:
    """Did the gateway's CPU, not the link, set the pace?

    Every core busy is the plain case. The agent using a whole core of its
    own is the other: Python's testers are bound to about one core by the
    GIL, so on a 4-core router they can cap the rate while the box looks 25%
    busy. One pegged core elsewhere alone is not enough (softirq spreads).
    """
    return busy_share >= limit or agent_cores >= limit


@dataclass
class _Snap:
    at: float
    cpus: list[Any]
    proc: float
    rx: int | None
    tx: int | None


class TrustMonitor:
    """``start()`` before the test, ``finish(test_rx, test_tx)`` after it."""

    def __init__(self, iface: str | None, cpu_limit_share: float = 0.9,
                 ps: Any = psutil) -> None:
        self.iface = iface
        self.cpu_limit_share = cpu_limit_share
        self.ps = ps
        self._proc = ps.Process()
        self._start: _Snap | None = None

    def _snap(self) -> _Snap:
        times = self._proc.cpu_times()
        rx = tx = None
        if self.iface:
            counters = self.ps.net_io_counters(pernic=True, nowrap=False).get(self.iface)
            if counters is not None:
                rx, tx = counters.bytes_recv, counters.bytes_sent
        return _Snap(time.monotonic(), self.ps.cpu_times(percpu=True),
                     times.user + times.system, rx, tx)

    def start(self) -> None:
        self._start = self._snap()

    def finish(self, test_rx: int, test_tx: int) -> dict[str, FieldValue]:
        assert self._start is not None, "start() first"
        a, b = self._start, self._snap()
        elapsed = b.at - a.at
        cores = [_busy(x, y) for x, y in zip(a.cpus, b.cpus, strict=True)]
        busy = sum(cores) / len(cores) if cores else 0.0
        agent = (b.proc - a.proc) / elapsed / max(1, len(cores)) if elapsed > 0 else 0.0
        fields: dict[str, FieldValue] = {
            "cpu_busy_share": round(busy, 4),
            "cpu_max_core_share": round(max(cores, default=0.0), 4),
            "agent_cpu_share": round(min(1.0, agent), 4),
            "cpu_limited": cpu_limited(busy, agent * len(cores), self.cpu_limit_share),
        }
        if self.iface:
            fields["iface"] = self.iface
        if a.rx is not None and b.rx is not None and a.tx is not None and b.tx is not None \
                and elapsed > 0:
            drx, dtx = b.rx - a.rx, b.tx - a.tx
            if drx >= 0 and dtx >= 0:
                other_rx = drx - test_rx * (1 + HEADER_ALLOWANCE) - test_tx * ACK_ALLOWANCE
                other_tx = dtx - test_tx * (1 + HEADER_ALLOWANCE) - test_rx * ACK_ALLOWANCE
                fields["iface_rx_bytes"] = drx
                fields["iface_tx_bytes"] = dtx
                fields["other_rx_bps"] = round(max(0.0, other_rx) * 8 / elapsed, 1)
                fields["other_tx_bps"] = round(max(0.0, other_tx) * 8 / elapsed, 1)
        return fields
