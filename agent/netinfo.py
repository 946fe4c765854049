"""What the gateway's own kernel says about its network, shared by several probes.

Each reader takes the file it parses as an argument (default: the live
``/proc`` one), so tests give it recorded contents without root.
"""

from __future__ import annotations

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
