"""IPv6 readiness levels (IPv6 规模部署) from individual checks.

    0  none: no global IPv6 address on the WAN
    1  WAN address: the WAN holds a global unicast address (2000::/3)
    2  IPv6 internet: an IPv6 default route, and a platform target (national or
       provincial education platform) answers TCP over IPv6
    3  LAN clients get IPv6: a Router Advertisement with a router lifetime on
       the LAN, a usable prefix (SLAAC, or DHCPv6 addresses when M is set),
       DHCPv6 answering when M or O says it should, and an IPv6 DNS server
       (RDNSS or DHCPv6) that answers over IPv6
    4  services over IPv6: every school-site target has AAAA records and
       serves HTTP(S) over IPv6

Levels are cumulative: a school is at the highest level whose checks, and
those of every level below, all pass. A check is True (passed), False (failed)
or None (could not be run here, e.g. no CAP_NET_RAW for the LAN check); a
level with an unrun check cannot be claimed, and the check is listed as
unchecked rather than failing so dashboards tell "broken" from "not measured".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.contract.reading import FieldValue

LEVEL_CHECKS: dict[int, tuple[str, ...]] = {
    1: ("wan_global_addr",),
    2: ("default_route", "tcp_v6"),
    3: ("lan_ra", "lan_prefix", "lan_dhcpv6", "lan_dns_v6"),
    4: ("school_site_aaaa", "school_site_http_v6"),
}
LEVEL_NAMES = {0: "none", 1: "wan_address", 2: "v6_internet", 3: "lan_clients",
               4: "services"}
ALL_CHECKS = tuple(c for checks in LEVEL_CHECKS.values() for c in checks)


@dataclass
class Evidence:
    """What one part of the probe (WAN, targets, LAN) found: reading fields and
    check states. Each part returns its own; the probe combines them in order,
    so a later part may refine a field an earlier one set."""

    fields: dict[str, FieldValue] = field(default_factory=dict)
    checks: dict[str, bool | None] = field(default_factory=dict)

    def add(self, other: Evidence) -> Evidence:
        self.fields.update(other.fields)
        self.checks.update(other.checks)
        return self


@dataclass(frozen=True)
class Grade:
    level: int
    failing: tuple[str, ...]
    unchecked: tuple[str, ...]

    @property
    def name(self) -> str:
        return LEVEL_NAMES[self.level]


def grade(checks: Mapping[str, bool | None]) -> Grade:
    """The level these checks prove; a check absent from ``checks`` does not apply.

    (lan_dhcpv6 applies only when an RA sets M or O.)
    """
    unknown = set(checks) - set(ALL_CHECKS)
    if unknown:
        raise ValueError(f"unknown checks: {sorted(unknown)}")
    level = 0
    for candidate in sorted(LEVEL_CHECKS):
        states = [checks[c] for c in LEVEL_CHECKS[candidate] if c in checks]
        if all(state is True for state in states):
            level = candidate
        else:
            break
    failing = tuple(c for c in ALL_CHECKS if checks.get(c, True) is False)
    unchecked = tuple(c for c in ALL_CHECKS if c in checks and checks[c] is None)
    return Grade(level, failing, unchecked)
