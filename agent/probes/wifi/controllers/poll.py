"""Poll wireless controllers over SNMP with the shared client (agent.snmp.client).

Each controller is walked once per run, all of them at the same time; a
controller that does not answer is a ``result`` in its reading, never an
exception, and the others still count. A vendor's firmware generations are
tried newest first; the one that answered is recorded in the reading. The
APs listed are reconciled with the remembered inventory, so an AP that left
the tables still counts, as down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.contract.reading import FieldValue, Reading
from agent.probes.wifi.aps import OFFLINE, ONLINE, STANDBY, ApState
from agent.probes.wifi.controllers import ControllerSection, Decoded, as_backup, vendor_mib

if TYPE_CHECKING:
    from agent.probes.wifi.inventory import Inventory
    from agent.snmp.client import SnmpClient, WalkResult

log = logging.getLogger(__name__)


@dataclass
class ControllerPoll:
    name: str
    vendor: str
    role: str
    result: str
    aps: list[ApState] = field(default_factory=list)
    detail: str = ""
    elapsed_seconds: float = 0.0
    generation: str = ""
    decoded: Decoded | None = None

    @property
    def usable(self) -> bool:
        return self.result in ("ok", "partial")

    def reading(self, ts_ns: int) -> Reading:
        fields: dict[str, FieldValue] = {"result": self.result, "role": self.role,
                                         "duration_seconds": round(self.elapsed_seconds, 3)}
        if self.generation:
            fields["generation"] = self.generation
        if self.decoded is not None and self.decoded.standby is not None:
            fields["ha_state"] = "standby" if self.decoded.standby else "active"
        if self.usable:
            listed = [a for a in self.aps if not a.remembered]
            remembered = len(self.aps) - len(listed)
            online = sum(1 for a in self.aps if a.state == ONLINE)
            fields["aps"] = len(self.aps)
            fields["aps_online"] = online
            fields["aps_standby"] = sum(1 for a in self.aps if a.state == STANDBY)
            fields["aps_down"] = sum(1 for a in self.aps if a.state == OFFLINE)
            fields["aps_remembered"] = remembered
            fields["clients"] = sum(a.clients or 0 for a in self.aps if a.state == ONLINE)
            fields.update(self.cross_check(len(listed), online, remembered))
        if self.detail:
            fields["detail"] = self.detail[:200]
        return Reading("wifi_controller", fields, {"controller": self.name, "vendor": self.vendor},
                       ts_ns)

    def cross_check(self, listed: int, online: int, remembered: int) -> dict[str, FieldValue]:
        """The controller's own counts against the tables; the gap the inventory cannot explain.

        An AP the controller counts but its tables do not list may be one the
        inventory remembers; beyond that, the tables and the counters disagree.
        """
        dec = self.decoded
        if dec is None or (dec.ctl_total is None and dec.ctl_online is None):
            return {}
        out: dict[str, FieldValue] = {}
        gap = 0
        if dec.ctl_online is not None:
            out["ctl_aps_online"] = dec.ctl_online
            gap = max(gap, abs(dec.ctl_online - online))
        if dec.ctl_total is not None:
            out["ctl_aps_total"] = dec.ctl_total
            gap = max(gap, abs(dec.ctl_total - listed) - remembered)
        out["count_gap"] = max(gap, 0)
        out["counts_agree"] = out["count_gap"] == 0
        return out


def columns_by_role(rows: Mapping[tuple[int, ...], Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The client's ``rows[index][role]`` turned into ``cols[role][index]`` for decoders."""
    from agent.snmp.client import text

    cols: dict[str, dict[str, Any]] = {}
    for index, row in rows.items():
        key = ".".join(str(i) for i in index)
        for role, value in row.items():
            cols.setdefault(role, {})[key] = text(value) if isinstance(value, bytes) else value
    return cols


async def poll_one(client: SnmpClient, name: str, opts: ControllerSection, deadline: float,
                   inventory: Inventory | None = None, now_ns: int | None = None
                   ) -> ControllerPoll:
    mib = vendor_mib(opts.vendor)
    started = time.monotonic()
    walk: WalkResult | None = None
    found = None
    for generation in mib.generations:
        left = max(deadline - (time.monotonic() - started), 0.1)
        walk = await client.walk(opts.target, generation.columns, deadline=left)
        if any(key in row for row in walk.rows.values() for key in generation.keys):
            found = generation
            break
        if walk.result not in ("ok", "unavailable"):
            break  # no answer or an error: an older MIB would fare no better
    assert walk is not None
    result, detail = walk.result, walk.detail
    if found is None and result == "ok":
        result, detail = "unavailable", "no AP table of any known firmware generation"
    elif found is None and result == "partial":
        # Cut short before any AP row: nothing to judge, which is not "partial".
        result = "timeout" if "not finished" in detail else "error"
    poll = ControllerPoll(name, mib.vendor, opts.role, result, detail=detail,
                          elapsed_seconds=time.monotonic() - started,
                          generation=found.name if found else "")
    if found is not None and poll.usable:
        poll.decoded = mib.decode(found, columns_by_role(walk.rows), name)
        poll.aps = poll.decoded.aps
        if inventory is not None:
            poll.aps = inventory.reconcile(name, poll.aps, now_ns or time.time_ns(),
                                           complete=poll.result == "ok")
        if poll.role == "backup" or poll.decoded.standby:
            poll.aps = as_backup(poll.aps)
    log.debug("controller %s (%s, %s): %s, %d APs", name, mib.vendor, poll.generation,
              poll.result, len(poll.aps))
    return poll


async def poll_all(controllers: Mapping[str, ControllerSection], deadline: float,
                   inventory: Inventory | None = None,
                   now_ns: int | None = None) -> list[ControllerPoll]:
    if not controllers:
        return []
    from agent.snmp.client import SnmpClient

    async with SnmpClient() as client:
        polls = list(await asyncio.gather(*(poll_one(client, name, opts, deadline, inventory,
                                                     now_ns)
                                            for name, opts in controllers.items())))
    if inventory is not None:
        try:
            inventory.save()
        except OSError as err:
            # The readings still stand; only the memory of this poll is lost.
            log.warning("could not save the AP inventory %s: %s", inventory.path, err)
    return polls
