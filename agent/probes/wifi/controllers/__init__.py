"""Wireless controller AP tables behind one interface.

A vendor is a :class:`ControllerMib`: the table columns to walk (by role:
name, group, state, clients, ...) and a ``decode`` that turns the walked
columns into vendor-neutral :class:`~agent.probes.wifi.aps.ApState` rows. Adding a
vendor is one module with one subclass plus one line in ``VENDORS``; the
subclass's ``sample`` is a controller table for that vendor, which the tests
load. Walking itself is the SNMP client's job
(``agent.probes.wifi.controllers.poll``).
"""

from __future__ import annotations

import pkgutil
from collections.abc import Mapping
from typing import ClassVar

from agent.contract.configschema import one_of, opt, section
from agent.probes.wifi.aps import OFFLINE, STANDBY, ApState
from agent.snmp.target import SnmpTargetSection

# role -> {row index suffix "a.b.c" -> value}; values are int or str.
Columns = Mapping[str, Mapping[str, int | str]]

VENDORS: dict[str, str] = {
    "huawei": "agent.probes.wifi.controllers.huawei:Huawei",
    "h3c": "agent.probes.wifi.controllers.h3c:H3c",
    "ruijie": "agent.probes.wifi.controllers.ruijie:Ruijie",
}


@section
class ControllerSection(SnmpTargetSection):
    """``[probes.wifi.controllers.NAME]``: the SNMP keys, the vendor and the HA role."""

    vendor: str = opt(check=one_of(*VENDORS))
    role: str = opt("primary", one_of("primary", "backup"))


class ControllerMib:
    vendor: ClassVar[str]
    # role -> column OID (dotted, no leading dot). Roles every vendor may
    # use: name, group, state, clients; a vendor adds its own as needed.
    columns: ClassVar[Mapping[str, str]]
    # The body of a [probes.wifi.controllers.NAME] table for this vendor.
    sample: ClassVar[str]

    def decode(self, cols: Columns, controller: str) -> list[ApState]:
        raise NotImplementedError


def vendor_class(name: str) -> type[ControllerMib]:
    """Import and return the vendor registered as ``name`` (KeyError if none)."""
    cls: type[ControllerMib] = pkgutil.resolve_name(VENDORS[name])
    return cls


def vendor_mib(name: str) -> ControllerMib:
    return vendor_class(name)()


def as_backup(aps: list[ApState]) -> list[ApState]:
    """Reports of a controller configured as the backup of an HA pair.

    A backup lists the APs it would take over as not connected; that is
    not an AP being down, so such rows become STANDBY. Its ONLINE rows stay
    (after a failover the backup is the one serving).
    """
    return [ApState(a.name, STANDBY, a.group, a.clients, a.controller) if a.state == OFFLINE
            else a for a in aps]


def text(value: int | str | None) -> str:
    return "" if value is None else str(value).strip("\x00").strip()


def number(value: int | str | None) -> int | None:
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None
