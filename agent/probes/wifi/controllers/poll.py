"""Poll wireless controllers over SNMP with the shared client (agent.snmp.client).

Each controller is walked once per run, all of them at the same time; a
controller that does not answer is a ``result`` in its reading, never an
exception, and the others still count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.contract.reading import FieldValue, Reading
from agent.probes.wifi.aps import ONLINE, STANDBY, ApState
from agent.probes.wifi.controllers import ControllerSection, as_backup, vendor_mib

if TYPE_CHECKING:
    from agent.snmp.client import SnmpClient

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

    @property
    def usable(self) -> bool:
        return self.result in ("ok", "partial")

    def reading(self, ts_ns: int) -> Reading:
        fields: dict[str, FieldValue] = {"result": self.result, "role": self.role,
                                         "duration_seconds": round(self.elapsed_seconds, 3)}
        if self.usable:
            fields["aps"] = len(self.aps)
            fields["aps_online"] = sum(1 for a in self.aps if a.state == ONLINE)
            fields["aps_standby"] = sum(1 for a in self.aps if a.state == STANDBY)
            fields["clients"] = sum(a.clients or 0 for a in self.aps if a.state == ONLINE)
        if self.detail:
            fields["detail"] = self.detail[:200]
        return Reading("wifi_controller", fields, {"controller": self.name, "vendor": self.vendor},
                       ts_ns)


def columns_by_role(rows: Mapping[tuple[int, ...], Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The client's ``rows[index][role]`` turned into ``cols[role][index]`` for decoders."""
    from agent.snmp.client import text

    cols: dict[str, dict[str, Any]] = {}
    for index, row in rows.items():
        key = ".".join(str(i) for i in index)
        for role, value in row.items():
            cols.setdefault(role, {})[key] = text(value) if isinstance(value, bytes) else value
    return cols


async def poll_one(client: SnmpClient, name: str, opts: ControllerSection,
                   deadline: float) -> ControllerPoll:
    mib = vendor_mib(opts.vendor)
    walk = await client.walk(opts.target, mib.columns, deadline=deadline)
    poll = ControllerPoll(name, mib.vendor, opts.role, walk.result,
                          detail=walk.detail, elapsed_seconds=walk.elapsed_seconds)
    if poll.usable:
        poll.aps = mib.decode(columns_by_role(walk.rows), name)
        if poll.role == "backup":
            poll.aps = as_backup(poll.aps)
    log.debug("controller %s (%s): %s, %d APs", name, mib.vendor, walk.result, len(poll.aps))
    return poll


async def poll_all(controllers: Mapping[str, ControllerSection],
                   deadline: float) -> list[ControllerPoll]:
    if not controllers:
        return []
    from agent.snmp.client import SnmpClient

    async with SnmpClient() as client:
        return list(await asyncio.gather(*(poll_one(client, name, opts, deadline)
                                           for name, opts in controllers.items())))
