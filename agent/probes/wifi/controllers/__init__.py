"""Wireless controller AP tables behind one interface.

A vendor is a :class:`ControllerMib`: its firmware ``generations`` (each the
table columns and scalars to walk, by role) tried in order, and a ``decode``
that turns the walked columns of the generation found into vendor-neutral
:class:`~agent.probes.wifi.aps.ApState` rows plus what the controller says
about itself (HA state, its own AP counts). Adding a vendor is one module
with one subclass plus one line in ``VENDORS``; the subclass's ``sample`` is
a controller table for that vendor, which the tests load. Walking itself is
the SNMP client's job (``agent.probes.wifi.controllers.poll``).

Scalars are walked as one-row columns (their OID without the ``.0``), so one
GETBULK walk per generation reads tables and scalars together.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from agent.contract.configschema import one_of, opt, section
from agent.devicetext import device_text
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


@dataclass(frozen=True)
class Generation:
    """One firmware generation's MIB: the columns (and scalars) to walk, by role."""

    name: str
    columns: Mapping[str, str]
    # Roles whose rows show this generation answers; none of them: try the next.
    keys: tuple[str, ...]


@dataclass
class Decoded:
    """What one walk of a controller says."""

    aps: list[ApState] = field(default_factory=list)
    # From the MIB: True when this controller is the standby of an HA pair,
    # None when it does not say.
    standby: bool | None = None
    # The controller's own counts, for the cross-check (None: not offered).
    ctl_total: int | None = None
    ctl_online: int | None = None


class ControllerMib:
    vendor: ClassVar[str]
    # Newest first: the poller uses the first one whose key columns have rows.
    generations: ClassVar[Sequence[Generation]]
    # The body of a [probes.wifi.controllers.NAME] table for this vendor.
    sample: ClassVar[str]

    def decode(self, generation: Generation, cols: Columns, controller: str) -> Decoded:
        raise NotImplementedError


def vendor_class(name: str) -> type[ControllerMib]:
    """Import and return the vendor registered as ``name`` (KeyError if none)."""
    cls: type[ControllerMib] = pkgutil.resolve_name(VENDORS[name])
    return cls


def vendor_mib(name: str) -> ControllerMib:
    return vendor_class(name)()


def as_backup(aps: list[ApState]) -> list[ApState]:
    """Reports of a controller that is the backup of an HA pair.

    A backup lists the APs it would take over as not connected; that is
    not an AP being down, so such rows become STANDBY. Its ONLINE rows stay
    (after a failover the backup is the one serving).
    """
    return [a.with_state(STANDBY) if a.state == OFFLINE else a for a in aps]


def text(value: int | str | None) -> str:
    return "" if value is None else str(value).strip("\x00").strip()


def number(value: int | str | None) -> int | None:
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def scalar(cols: Columns, role: str) -> int | None:
    """A scalar walked as a one-row column (row ``0``)."""
    return number(cols.get(role, {}).get("0"))


def string_index(index: str) -> str:
    """An OCTET STRING table index (length, then one sub-id per byte) as text.

    H3C indexes its AP tables by the AP's id or name this way. "" when the
    index is not that shape or the bytes are not text.
    """
    try:
        parts = [int(p) for p in index.split(".")]
    except ValueError:
        return ""
    if not parts or parts[0] != len(parts) - 1 or any(not 0 <= p < 256 for p in parts[1:]):
        return ""
    return text(device_text(bytes(parts[1:])))
