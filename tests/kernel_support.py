"""A psutil stand-in holding what the kernel said, for the probes' ``ps`` seam.

It answers the calls the probes make with tuples of psutil's own field names
(psutil 7 on this machine), so a test can replay recorded or constructed
counters and addresses without root, a real interface or waiting.
"""

from __future__ import annotations

import socket
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Any

import psutil

snetio = namedtuple("snetio", "bytes_sent bytes_recv packets_sent packets_recv "
                              "errin errout dropin dropout")
snicstats = namedtuple("snicstats", "isup duplex speed mtu flags")
snicaddr = namedtuple("snicaddr", "family address netmask broadcast ptp")
scputimes = namedtuple("scputimes", "user nice system idle iowait irq softirq steal guest "
                                    "guest_nice")
pcputimes = namedtuple("pcputimes", "user system children_user children_system iowait")


def io(rx: int, tx: int) -> snetio:
    return snetio(tx, rx, 0, 0, 0, 0, 0, 0)


def up(speed: int = 1000, mtu: int = 1500, duplex: int = psutil.NIC_DUPLEX_FULL) -> snicstats:
    return snicstats(True, duplex, speed, mtu, "up,broadcast,running,multicast")


def v4(address: str, netmask: str = "255.255.255.0") -> snicaddr:
    return snicaddr(socket.AF_INET, address, netmask, None, None)


def v6(address: str, netmask: str = "ffff:ffff:ffff:ffff::") -> snicaddr:
    return snicaddr(socket.AF_INET6, address, netmask, None, None)


def cpu(busy: float, total: float = 100.0) -> scputimes:
    """One core's cumulative times with ``busy`` of ``total`` seconds not idle."""
    return scputimes(busy, 0.0, 0.0, total - busy, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass
class RecordedKernel:
    counters: dict[str, snetio] = field(default_factory=dict)
    stats: dict[str, snicstats] = field(default_factory=dict)
    addrs: dict[str, list[snicaddr]] = field(default_factory=dict)
    cpus: list[scputimes] = field(default_factory=list)
    process: pcputimes = field(default_factory=lambda: pcputimes(0.0, 0.0, 0.0, 0.0, 0.0))

    def net_io_counters(self, pernic: bool = False, nowrap: bool = True) -> dict[str, snetio]:
        assert pernic and not nowrap, "the probes read raw per-interface counters"
        return dict(self.counters)

    def net_if_stats(self) -> dict[str, snicstats]:
        return dict(self.stats)

    def net_if_addrs(self) -> dict[str, list[snicaddr]]:
        return {name: list(addrs) for name, addrs in self.addrs.items()}

    def cpu_times(self, percpu: bool = False) -> list[scputimes]:
        assert percpu
        return list(self.cpus)

    def Process(self) -> Any:  # psutil's name
        kernel = self

        class _Process:
            def cpu_times(self) -> pcputimes:
                return kernel.process
        return _Process()
