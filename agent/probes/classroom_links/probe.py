"""Probe ``classroom_links``: 百兆进班, each classroom port's speed, state and use, over SNMP.

Walks IF-MIB on every configured switch (GETBULK, one request in flight per
switch, at most ``max_parallel_switches`` switches at once) and reports one
``classroom_link`` reading per classroom, one ``classroom_switch`` reading per
switch (how polling it went) and one ``classroom_summary`` for the school.
A switch that times out, refuses the credentials or lacks columns becomes a
result code on its readings; the other switches are polled all the same.

The documented config block is ``sample.toml`` beside this module; the keys
and their checks are in :mod:`agent.probes.classroom_links.map`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace

from agent.contract.reading import Reading
from agent.probes import Probe, ProbeContext
from agent.probes.classroom_links import map as cmap
from agent.probes.classroom_links.ifmib import (
    COLUMNS,
    COUNTER_COLUMNS,
    FALLBACK_COLUMNS,
    SYS_UPTIME,
    Port,
    Sample,
    fallback_columns,
    flapping,
    judge_speed,
    reported_mbps,
)
from agent.probes.classroom_links.report import classroom_reading, summary_reading, switch_reading
from agent.snmp.client import SnmpClient
from agent.snmp.target import Target

log = logging.getLogger(__name__)


@dataclass
class SwitchPoll:
    """One switch's answer: its ports with one or two counter samples each."""

    name: str
    result: str = "ok"
    detail: str = ""
    ports: dict[int, Port] = field(default_factory=dict)
    uptime: int | None = None
    at: float = 0.0
    first: dict[int, Sample] = field(default_factory=dict)  # within-poll baseline (first poll)
    requests: int = 0
    elapsed_seconds: float = 0.0


def sample(port: Port, uptime: int | None, at: float) -> Sample:
    return Sample(uptime, at, port.in_octets, port.out_octets, port.counter_bits,
                  port.discontinuity, reported_mbps(port), judge_speed(port).mbps,
                  port.last_change)


class ClassroomLinks(Probe):
    name = "classroom_links"
    Options = cmap.Options
    opts: cmap.Options
    default_interval = 300.0
    default_timeout = 60.0

    def __init__(self, opts: cmap.Options, ctx: ProbeContext) -> None:
        super().__init__(opts, ctx)
        self._history: dict[tuple[str, int], Sample] = {}
        self._flap_until: dict[tuple[str, int], int] = {}
        self._polls = 0

    async def collect(self) -> list[Reading]:
        ts = time.time_ns()
        self._polls += 1
        gate = asyncio.Semaphore(self.opts.max_parallel_switches)
        async with SnmpClient() as client:
            polls = await asyncio.gather(*(
                self._guarded_poll(client, gate, name, sw)
                for name, sw in self.opts.switches.items()))
        readings: list[Reading] = []
        statuses: list[tuple[str, str, str]] = []  # (classroom, source, status)
        unmapped = 0
        for poll in polls:
            sw_opts = self.opts.switches[poll.name]
            matches, extra = cmap.match_switch(poll.name, sw_opts, self.opts, poll.ports) \
                if poll.result in ("ok", "partial") else (self._listed(poll.name), 0)
            unmapped += extra
            for match in matches:
                reading = self._classroom(poll, match, ts)
                readings.append(reading)
                statuses.append((match.classroom.name, match.classroom.source,
                                 str(reading.fields["status"])))
            readings.append(switch_reading(poll, len(matches), ts))
        readings.append(summary_reading(polls, statuses, unmapped,
                                        self.opts.min_speed_mbps, ts))
        return readings

    def _listed(self, switch: str) -> list[cmap.Match]:
        """The listed classrooms of a switch that did not answer: reported, not dropped."""
        out = []
        for room, spec in self.opts.classrooms.items():
            if spec.switch == switch:
                building = spec.building or self.opts.switches[switch].building
                out.append(cmap.Match(cmap.Classroom(room, switch, building, spec.floor, "map"),
                                      None, "switch_failed", str(spec.port)))
        return out

    async def _guarded_poll(self, client: SnmpClient, gate: asyncio.Semaphore, name: str,
                            sw: cmap.SwitchSection) -> SwitchPoll:
        async with gate:
            started = time.monotonic()
            poll = SwitchPoll(name)
            try:
                await asyncio.wait_for(self._poll(client, sw.target, poll),
                                       self.opts.switch_deadline)
            except asyncio.TimeoutError:
                poll.result = "partial" if poll.ports else "timeout"
                poll.detail = f"switch poll not finished within {self.opts.switch_deadline:g} s"
            poll.elapsed_seconds = round(time.monotonic() - started, 3)
            if poll.result != "ok":
                log.warning("classroom switch %s: %s (%s)", name, poll.result, poll.detail)
            return poll

    async def _poll(self, client: SnmpClient, target: Target, poll: SwitchPoll) -> None:
        up = await client.get(target, [SYS_UPTIME])
        poll.requests += 1
        if up.result not in ("ok", "unavailable"):
            # The cheap GET first: a dead or misconfigured switch costs one timeout, not a walk.
            poll.result, poll.detail = up.result, up.detail
            return
        table = await client.walk(target, COLUMNS)
        poll.requests += table.requests
        extra = fallback_columns(table.rows) if table.result == "ok" else {}
        if extra:
            more = await client.walk(target, extra)
            poll.requests += more.requests
            for idx, row in more.rows.items():
                table.rows.setdefault(idx, {}).update(row)
            table.missing = [m for m in table.missing if m not in extra]
        poll.at = time.monotonic()
        uptime = up.values.get(SYS_UPTIME)
        poll.uptime = uptime if isinstance(uptime, int) else None
        poll.ports = {idx[0]: Port.from_row(idx[0], row)
                      for idx, row in table.rows.items() if len(idx) == 1}
        poll.result, poll.detail = table.result, table.detail
        if table.result == "unavailable" or not poll.ports:
            poll.result, poll.detail = "unavailable", table.detail or "no IF-MIB rows"
            return
        if table.missing:
            poll.detail = (poll.detail + " missing columns: " + ",".join(table.missing)).strip()
        fresh = not any(key[0] == poll.name for key in self._history)
        if fresh and self.opts.sample_seconds > 0 and table.result == "ok":
            await self._second_sample(client, target, poll)

    async def _second_sample(self, client: SnmpClient, target: Target, poll: SwitchPoll) -> None:
        """First poll of a switch: sample counters twice so the first reading has rates."""
        poll.first = {i: sample(p, poll.uptime, poll.at) for i, p in poll.ports.items()}
        await asyncio.sleep(self.opts.sample_seconds)
        up = await client.get(target, [SYS_UPTIME])
        columns = dict(COUNTER_COLUMNS)
        if any(p.counter_bits == 32 for p in poll.ports.values()):
            columns.update({k: FALLBACK_COLUMNS[k] for k in ("in32", "out32")})
        again = await client.walk(target, columns)
        poll.requests += 1 + again.requests
        if up.result != "ok" or again.result != "ok":
            poll.first = {}
            return
        poll.at = time.monotonic()
        uptime = up.values.get(SYS_UPTIME)
        poll.uptime = uptime if isinstance(uptime, int) else None
        for idx, row in again.rows.items():
            old = poll.ports.get(idx[0])
            if old is None or len(idx) != 1:
                continue
            new = Port.from_row(idx[0], row)
            poll.ports[idx[0]] = replace(old, in_octets=new.in_octets, out_octets=new.out_octets,
                                         counter_bits=new.counter_bits,
                                         discontinuity=new.discontinuity)

    def _classroom(self, poll: SwitchPoll, match: cmap.Match, ts: int) -> Reading:
        port = match.port
        if port is None:
            return classroom_reading(poll, match, None, None, ts, self.opts.min_speed_mbps)
        key = (poll.name, port.index)
        now = sample(port, poll.uptime, poll.at)
        before = poll.first.get(port.index) or self._history.get(key)
        self._history[key] = now
        if before is not None and flapping(before, now):
            # Keep distrusting it for a few polls: a speed that jumps once will jump again.
            log.info("switch %s port %s: speed changed without a link change", poll.name,
                     port.label)
            self._flap_until[key] = self._polls + 3
        flapped = self._flap_until.get(key, 0) > self._polls
        return classroom_reading(poll, match, before, now, ts, self.opts.min_speed_mbps,
                                 flapped=flapped)
