"""Runs each probe on its own interval, times it and contains its failures.

A probe that raises, hangs or returns garbage costs only its own reading: the
scheduler logs it, reports a ``probe_run`` reading with the outcome and goes
on with the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from agent.config import ProbeConfig
from agent.contract.measurements import COLLECTOR_MEASUREMENTS, SCHEMA
from agent.contract.reading import Reading
from agent.contract.schema import check_reading
from agent.contract.wire import WireError, check_fields, check_tags
from agent.probes import Probe, ProbeContext

log = logging.getLogger(__name__)
Sink = Callable[[Reading], object]
Clock = Callable[[], float]
# Waits until the stop event is set or the given seconds have passed.
Wait = Callable[[asyncio.Event, float], Awaitable[None]]


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


@dataclass
class ProbeStats:
    runs: int = 0
    errors: int = 0
    readings: int = 0
    last_duration: float = 0.0
    last_result: str = "never"


@dataclass
class Scheduled:
    config: ProbeConfig
    probe: Probe
    stats: ProbeStats = field(default_factory=ProbeStats)


class Scheduler:
    """``clock`` and ``wait`` are the scheduler's only view of time, so tests can
    check cadence and overruns on a simulated clock instead of sleeping."""

    def __init__(self, probes: Iterable[ProbeConfig], ctx: ProbeContext, *,
                 clock: Clock = time.monotonic, wait: Wait = wait_or_stop) -> None:
        self.items = [Scheduled(p, p.cls(p.opts, ctx)) for p in probes]
        self._clock = clock
        self._wait = wait

    @property
    def errors(self) -> int:
        return sum(item.stats.errors for item in self.items)

    @property
    def readings(self) -> int:
        """Readings the probes made (not counting their probe_run readings)."""
        return sum(item.stats.readings for item in self.items)

    async def run_one(self, item: Scheduled) -> list[Reading]:
        """Run one probe once; returns its readings plus a ``probe_run`` reading."""
        name, timeout = item.config.name, item.config.timeout
        start = self._clock()
        readings: list[Reading] = []
        failed = True  # the probe itself misbehaved, as opposed to reporting a failure
        reason = ""
        try:
            collect = item.probe.collect
            if inspect.iscoroutinefunction(collect):
                readings = await asyncio.wait_for(collect(), timeout)
            else:
                # A thread cannot be killed on timeout; the probe's own socket
                # timeouts must end it. The scheduler stops waiting regardless.
                readings = await asyncio.wait_for(asyncio.to_thread(collect), timeout)  # type: ignore[arg-type]
            outcome = _check_readings(name, readings)
            failed = outcome == "invalid"
        except asyncio.TimeoutError:
            log.warning("probe %s timed out after %.1f s", name, timeout)
            outcome, reason = "timeout", f"no result within {timeout:g} s"
        except ModuleNotFoundError as err:
            # An extra not installed: one line that says how, not a traceback a cycle.
            reason = f"module {err.name!r} is not installed"
            log.error("probe %s cannot run: %s (schoolnet-agent check-config names the pip "
                      "command)", name, reason)
            outcome = "error"
        except PermissionError as err:
            # Raw sockets and radio scans need privileges a plain user lacks:
            # one line a run that says which, not a traceback.
            reason = f"not permitted: {err.strerror or err}"
            log.error("probe %s cannot run: %s; run the agent as its service (the unit "
                      "grants CAP_NET_RAW) or as root (schoolnet-agent status lists what each "
                      "probe needs)", name, reason)
            outcome = "error"
        except Exception as err:  # a probe bug must not stop the agent
            log.exception("probe %s failed", name)
            outcome, reason = "error", f"{type(err).__name__}: {err}"
        if failed:
            readings = []
        duration = self._clock() - start
        stats = item.stats
        stats.runs += 1
        stats.last_duration = duration
        stats.last_result = outcome
        stats.errors += failed
        stats.readings += len(readings)
        fields: dict[str, float | int | bool | str] = {
            "duration_seconds": round(duration, 4), "readings": len(readings),
            "result": outcome}
        if reason:
            fields["reason"] = " ".join(reason.split())[:MAX_REASON]
        run = Reading("probe_run", fields, {"probe": name})
        return [*readings, run]

    async def run_once(self, only: str | None = None) -> list[Reading]:
        items = [i for i in self.items if only is None or i.config.name == only]
        results = await asyncio.gather(*(self.run_one(i) for i in items))
        return [r for batch in results for r in batch]

    async def run_forever(self, sink: Sink, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._loop(item, sink, stop) for item in self.items))

    async def _loop(self, item: Scheduled, sink: Sink, stop: asyncio.Event) -> None:
        interval = item.config.interval
        next_at = self._clock()
        while not stop.is_set():
            for reading in await self.run_one(item):
                sink(reading)
            next_at = next_slot(next_at, self._clock(), interval)
            await self._wait(stop, max(0.0, next_at - self._clock()))


MAX_REASON = 200  # probe_run's reason field, as the measurement schema bounds it


def next_slot(due: float, now: float, interval: float) -> float:
    """The next start after a run that was due at ``due`` and ended at ``now``.

    Keep a fixed cadence; if a run overran, skip the missed slots instead of
    running back to back.
    """
    return due + interval * max(1, int((now - due) // interval) + 1)


def _worst(readings: list[Reading]) -> str:
    results = {r.result for r in readings}
    return "ok" if results <= {"ok"} else "partial" if "ok" in results else sorted(results)[0]


def _check_readings(name: str, readings: object) -> str:
    """'ok' when every reading fits the wire contract and the measurement
    schema (the collector would refuse it otherwise), else 'invalid'."""
    if not isinstance(readings, list) or not all(isinstance(r, Reading) for r in readings):
        log.error("probe %s returned %r, not a list of readings", name, type(readings))
        return "invalid"
    for reading in readings:
        try:
            check_tags(reading.tags)
            check_fields(reading.fields)
            check_reading(SCHEMA, COLLECTOR_MEASUREMENTS, reading)
        except WireError as err:
            log.error("probe %s produced an invalid %s reading: %s", name,
                      reading.measurement, err)
            return "invalid"
    return _worst(readings)
