"""Probe registry.

A probe is a package ``agent/probes/NAME/`` holding a class with a ``name``,
an ``Options`` section for its config table ``[probes.NAME]`` (documented in
the package's ``sample.toml``) and a ``collect()`` (plain or ``async``)
returning readings. Registering a probe is one line in ``REGISTRY`` below; modules are
imported only when a config enables them, so a router never loads scapy or
pysnmp for a probe it does not run.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from agent.contract.reading import Reading
from agent.contract.wire import Identity

# The order is the example config's: the exit (passive, then active) first.
REGISTRY: dict[str, str] = {
    "wan_link": "agent.probes.wan_link.probe:WanLink",
    "wan_throughput": "agent.probes.wan_throughput.probe:WanThroughput",
    "path_quality": "agent.probes.path_quality.probe:PathQuality",
    "ipv6": "agent.probes.ipv6.probe:Ipv6",
    "classroom_links": "agent.probes.classroom_links.probe:ClassroomLinks",
    "wifi": "agent.probes.wifi.probe:Wifi",
}


@dataclass(frozen=True)
class ProbeContext:
    identity: Identity
    school_type: str
    state_dir: Path
    # Run by a person (``once``): probes with schedules of their own run now.
    interactive: bool = False


class Probe:
    name: ClassVar[str]
    # The probe's config keys, cross-key checks in its ``problems()``.
    Options: ClassVar[type]
    default_interval: ClassVar[float] = 60.0
    default_timeout: ClassVar[float] = 30.0

    def __init__(self, opts: Any, ctx: ProbeContext) -> None:
        # The checked ``Options`` instance; a probe narrows it with
        # ``opts: Options`` in its class body.
        self.opts: Any = opts
        self.ctx = ctx

    def collect(self) -> list[Reading] | Awaitable[list[Reading]]:
        raise NotImplementedError


def probe_class(name: str) -> type[Probe]:
    """Import and return the probe registered as ``name`` (KeyError if none)."""
    cls: type[Probe] = pkgutil.resolve_name(REGISTRY[name])
    return cls
