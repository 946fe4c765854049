"""What the gateway's own kernel says about its network, shared by several probes.

Each reader takes the file it parses as an argument (default: the live
``/proc`` one), so tests give it recorded contents without root. Also the
check for a source address a probe's test binds to.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path


def default_route_interface(route_file: Path = Path("/proc/net/route")) -> str | None:
    """The interface of the IPv4 default route with the lowest metric."""
    try:
        lines = route_file.read_text().splitlines()[1:]
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for line in lines:
        cols = line.split()
        # Destination 0.0.0.0 and mask 0 is the default route; flag 0x1 means up.
        if len(cols) >= 8 and cols[1] == "00000000" and cols[7] == "00000000" \
                and int(cols[3], 16) & 1:
            metric = int(cols[6])
            if best is None or metric < best[0]:
                best = (metric, cols[0])
    return best[1] if best else None


def source_address_problem(value: str) -> str | None:
    """Config check for a probe's ``source``: the local address its test binds to, so the
    test takes one uplink; empty leaves the choice to routing."""
    if not value:
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "must be an IP address of this gateway (or empty: let routing choose)"
    return None
