"""wan_link's optional upstream poll: the WAN port of the school's router, over SNMP.

Where the agent box sits beside the router instead of being it, its own
counters see only its own traffic. The router's IF-MIB sees the school's:
ifHighSpeed, ifOperStatus and the 64-bit ifHCInOctets/ifHCOutOctets.

Counters are judged against sysUpTime. A reboot resets both: no rate for that
interval. A 64-bit counter that steps backwards without a reboot wrapped (or
started near 2^64, as some firmware does) if one wrap gives a rate the link
can carry, else it was cleared. sysUpTime itself is a 32-bit TimeTicks and
wraps after 497 days, which is not a reboot.

Routers refresh their counters every few seconds (net-snmp every 3 s), so a
poll can return a value seconds old. Each poll therefore repeats the GET
until the counters move and takes that answer, whose age is then at most one
retry (0.1 s): a 5 s window is accurate to about 2% instead of 60%.

Config (inside ``[probes.wan_link]``; pysnmp comes with the extra "snmp")::

    [probes.wan_link.upstream]   # optional: when this box is not the router
    host = ""                # the router; "" = off
    community = "public"     # or version = "3" with user, auth_*/priv_* keys
    interface = "GigabitEthernet0/0/0"  # ifName, ifAlias, ifDescr or ifIndex of the WAN port
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from agent.contract.configschema import Problem, opt, section
from agent.contract.reading import FieldValue, Reading
from agent.snmp.target import SnmpTargetSection

log = logging.getLogger(__name__)
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
NAMES = {"name": "1.3.6.1.2.1.31.1.1.1.1", "alias": "1.3.6.1.2.1.31.1.1.1.18",
         "descr": "1.3.6.1.2.1.2.2.1.2"}
PER_PORT = {"oper": "1.3.6.1.2.1.2.2.1.8", "high_speed": "1.3.6.1.2.1.31.1.1.1.15",
            "in64": "1.3.6.1.2.1.31.1.1.1.6", "out64": "1.3.6.1.2.1.31.1.1.1.10"}
C64, TICKS32 = 2**64, 2**32


@section
class UpstreamSection(SnmpTargetSection):
    # Unlike a switch table, the whole table is optional: no host, no upstream poll.
    host: str = opt("")
    interface: str = opt("")

    def problems(self) -> list[Problem]:
        if not self.host:
            return []
        problems = super().problems()
        if not self.interface:
            problems.append((("interface",), "names the router's WAN port; required"))
        return problems


@dataclass(frozen=True)
class Poll:
    at: float  # time.monotonic() when the answer arrived
    uptime_ticks: int | None
    rx: int
    tx: int
    speed_mbps: int | None
    oper_up: bool | None


def uptime_advance(before: int, after: int) -> float:
    """Seconds sysUpTime moved, across one TimeTicks wrap."""
    return ((after - before) % TICKS32) / 100.0


def rebooted(before: Poll, after: Poll) -> bool:
    """sysUpTime did not keep pace with the wall clock (half of it, less 2 s of slack)."""
    if before.uptime_ticks is None or after.uptime_ticks is None:
        return False
    elapsed = after.at - before.at
    advanced = uptime_advance(before.uptime_ticks, after.uptime_ticks)
    # A backwards step that one wrap explains only counts as a wrap when the
    # wrapped advance matches the time that passed; otherwise the box rebooted.
    return abs(advanced - elapsed) > elapsed * 0.5 + 2.0


def delta64(before: int, after: int, elapsed: float,
            speed_mbps: int | None) -> tuple[int | None, bool]:
    """Octets moved and whether the counter wrapped; None when it was cleared."""
    if after >= before:
        return after - before, False
    wrapped = after + C64 - before
    if speed_mbps and elapsed > 0 and wrapped * 8 / elapsed <= speed_mbps * 1e6 * 1.05:
        return wrapped, True
    return None, False


class UpstreamPoller:
    """One router WAN port; keeps the last poll between readings."""

    def __init__(self, opts: UpstreamSection, contracted_mbps: float,
                 sample_seconds: float) -> None:
        self.target = opts.target
        self.interface = opts.interface
        self.contracted = contracted_mbps
        self.sample_seconds = sample_seconds
        self._index: int | None = None
        self._name = self.interface
        self._last: Poll | None = None

    def collect(self) -> Reading:
        # wan_link's collect runs in a worker thread, so a private loop is fine.
        return asyncio.run(self._collect())

    async def _collect(self) -> Reading:
        from agent.snmp.client import SnmpClient

        fields: dict[str, FieldValue] = {}
        if self.contracted:
            fields["contracted_mbps"] = self.contracted
        async with SnmpClient() as client:
            now = await self._fresh_poll(client, fields)
            if isinstance(now, Poll) and self._last is None and self.sample_seconds:
                await asyncio.sleep(self.sample_seconds)
                self._last, now = now, await self._fresh_poll(client, fields)
        tags = {"iface": self._name[:128] or "unknown", "source": "snmp"}
        if not isinstance(now, Poll):
            fields["result"] = now
            return Reading("wan_link", fields, tags)
        before, self._last = self._last, now
        if now.speed_mbps:
            fields["link_speed_mbps"] = now.speed_mbps
        if now.oper_up is not None:
            fields["oper_up"] = now.oper_up
        fields.update(self._rates(before, now))
        fields["result"] = "ok" if now.oper_up is not False else "unreachable"
        return Reading("wan_link", fields, tags)

    def _rates(self, before: Poll | None, now: Poll) -> dict[str, FieldValue]:
        if before is None:
            return {}
        if rebooted(before, now):
            log.info("%s rebooted (sysUpTime reset); no rate this interval", self.target.label)
            return {"counter_reset": True, "device_rebooted": True}
        elapsed = now.at - before.at
        rx, rx_wrap = delta64(before.rx, now.rx, elapsed, now.speed_mbps)
        tx, tx_wrap = delta64(before.tx, now.tx, elapsed, now.speed_mbps)
        if rx is None or tx is None or elapsed <= 0:
            return {"counter_reset": True}
        out: dict[str, FieldValue] = {"rx_bps": round(rx * 8 / elapsed, 1),
                                      "tx_bps": round(tx * 8 / elapsed, 1)}
        if rx_wrap or tx_wrap:
            out["counter_wrapped"] = True
        if self.contracted:
            out["utilisation"] = round(max(rx, tx) * 8 / elapsed / (self.contracted * 1e6), 4)
        return out

    async def _fresh_poll(self, client: Any, fields: dict[str, FieldValue],
                          retry: float = 0.1, patience: float = 4.0) -> Poll | str:
        """A poll taken just after the router refreshed its counters (see above)."""
        first = await self._poll(client, fields)
        if not isinstance(first, Poll):
            return first
        deadline = first.at + patience
        latest: Poll | str = first
        while time.monotonic() < deadline:
            await asyncio.sleep(retry)
            latest = await self._poll(client, fields)
            if not isinstance(latest, Poll):
                return latest
            if (latest.rx, latest.tx) != (first.rx, first.tx):
                return latest
        return latest  # an idle port: the counters had nothing to show

    async def _poll(self, client: Any, fields: dict[str, FieldValue]) -> Poll | str:
        for attempt in range(2):
            if self._index is None:
                found = await self._find(client)
                if isinstance(found, str):
                    return found
            oids = [SYS_UPTIME, *(f"{oid}.{self._index}" for oid in PER_PORT.values())]
            got = await client.get(self.target, oids)
            at = time.monotonic()
            if got.result not in ("ok", "unavailable"):
                fields["error"] = got.detail[:200]
                return str(got.result)
            values = [got.values.get(oid) for oid in oids]
            uptime, oper, speed, rx, tx = values
            if isinstance(rx, int) and isinstance(tx, int):
                return Poll(at, uptime if isinstance(uptime, int) else None, rx, tx,
                            speed if isinstance(speed, int) else None,
                            None if not isinstance(oper, int) else oper == 1)
            # The index moved (router rebooted and renumbered): look it up again once.
            self._index = None
            if attempt:
                fields["error"] = "no ifHCInOctets/ifHCOutOctets for this interface"
        return "unavailable"

    async def _find(self, client: Any) -> int | str:
        walked = await client.walk(self.target, NAMES, deadline=self.target.timeout * 4)
        if walked.result not in ("ok", "partial"):
            return str(walked.result)
        from agent.snmp.client import text

        wanted = self.interface
        for (index, *_), row in sorted(walked.rows.items()):
            names = [text(row.get(k)) for k in ("name", "alias", "descr")]
            if wanted in names or wanted == str(index):
                self._index, self._name = index, names[0] or names[2] or str(index)
                return index
        log.warning("%s has no interface named %r", self.target.label, wanted)
        return "unavailable"
