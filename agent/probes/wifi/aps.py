"""What a wireless controller says about its APs, vendor-neutral.

Each vendor module turns its own table into :class:`ApState` rows; everything
after that (matching APs to areas, merging an HA pair) works on these rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from agent.probes.wifi.radios import Radio, radios_serve

ONLINE = "online"
OFFLINE = "offline"
# A standby controller of an HA pair lists every AP it would take over. Such
# a row says nothing about whether the AP works, so it is never "down".
STANDBY = "standby"

_RANK = {ONLINE: 2, OFFLINE: 1, STANDBY: 0}


@dataclass(frozen=True)
class ApState:
    name: str
    state: str  # ONLINE, OFFLINE or STANDBY
    group: str = ""
    clients: int | None = None
    controller: str = ""
    # Set for an AP the controller no longer lists, kept from the inventory
    # (agent.probes.wifi.inventory): when it was last seen in a table.
    last_seen_ns: int | None = None
    # Its radios, where the MIB lists them (see agent.probes.wifi.radios).
    radios: tuple[Radio, ...] = ()

    @property
    def serving(self) -> bool:
        """Online, and its radios (where known) serve the band that matters."""
        return self.state == ONLINE and radios_serve(self.radios) is not False

    @property
    def remembered(self) -> bool:
        return self.last_seen_ns is not None

    def with_state(self, state: str) -> ApState:
        return replace(self, state=state)


def merge_ha(reports: Iterable[ApState]) -> dict[str, ApState]:
    """One state per AP name across all controllers.

    The most informative report wins: online beats offline beats standby, so
    the active controller's word counts and the standby's copy is ignored.
    A group learnt from any report is kept.
    """
    merged: dict[str, ApState] = {}
    for ap in reports:
        old = merged.get(ap.name)
        if old is None or _RANK[ap.state] > _RANK[old.state]:
            group = ap.group or (old.group if old else "")
            merged[ap.name] = replace(ap, group=group)
        elif not old.group and ap.group:
            merged[ap.name] = replace(old, group=ap.group)
    return merged
