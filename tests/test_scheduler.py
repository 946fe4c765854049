"""One failing, hanging or misbehaving probe never stops the others."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agent.config import ProbeConfig
from agent.contract.reading import Reading
from agent.contract.wire import Identity
from agent.probes import Probe, ProbeContext
from agent.scheduler import Scheduler, next_slot
from tests.simclock import SimTime

CTX = ProbeContext(Identity("37", "3701", "370102", "s1"), "primary", Path("/tmp"))
# The stand-in probes below carry real probe names: probe_run's probe tag is
# one of the contract's probe names (agent/contract/probes.py).


class Good(Probe):
    name = "wan_link"
    calls: ClassVar[list[float]] = []

    def collect(self) -> list[Reading]:
        Good.calls.append(time.monotonic())
        return [Reading("wan_link", {"rx_bps": 1.0, "result": "ok"}, {"iface": "eth0"})]


class Raises(Probe):
    name = "wan_throughput"

    def collect(self) -> list[Reading]:
        raise RuntimeError("probe bug")


class Hangs(Probe):
    name = "ipv6"

    async def collect(self) -> list[Reading]:
        await asyncio.sleep(60)
        return []


class Invalid(Probe):
    name = "classroom_links"

    def collect(self) -> Any:
        return [Reading("wan_link", {"rx_bps": -1.0})]


class Timeout(Probe):
    name = "wifi"

    def collect(self) -> list[Reading]:
        return [Reading("wan_throughput", {"result": "timeout"})]


def item(cls: type[Probe], interval: float = 60.0, timeout: float = 0.5) -> ProbeConfig:
    return ProbeConfig(cls.name, cls, interval, timeout, {})


def test_failures_are_contained() -> None:
    scheduler = Scheduler([item(Good), item(Raises), item(Hangs), item(Invalid),
                           item(Timeout)], CTX)
    started = time.monotonic()
    readings = asyncio.run(scheduler.run_once())
    assert time.monotonic() - started < 5  # the hanging probe was cut off at its timeout
    runs = {r.tags["probe"]: r.fields["result"] for r in readings
            if r.measurement == "probe_run"}
    assert runs == {"wan_link": "ok", "wan_throughput": "error", "ipv6": "timeout",
                    "classroom_links": "invalid", "wifi": "timeout"}
    data = [r.measurement for r in readings if r.measurement != "probe_run"]
    # Bad readings are dropped at the source; an expected failure is still data.
    assert data == ["wan_link", "wan_throughput"]
    assert scheduler.errors == 3


class Undeclared(Probe):
    name = "wan_link"

    def collect(self) -> list[Reading]:
        # Fine by the generic checks, but a field the schema does not declare,
        # which every collector would refuse.
        return [Reading("wan_link", {"rx_bps": 1.0, "rx_errors": 3}, {"iface": "eth0"})]


class Mistyped(Probe):
    name = "wifi"

    def collect(self) -> list[Reading]:
        return [Reading("wan_link", {"mtu": 1500.0}, {"iface": "eth0"})]


def test_a_reading_outside_the_schema_is_a_probe_error_at_the_source(
        caplog: pytest.LogCaptureFixture) -> None:
    scheduler = Scheduler([item(Undeclared), item(Mistyped)], CTX)
    readings = asyncio.run(scheduler.run_once())
    assert [(r.measurement, r.fields["result"]) for r in readings] == [
        ("probe_run", "invalid"), ("probe_run", "invalid")]
    assert scheduler.errors == 2
    assert "unknown_field" in caplog.text and "field_type" in caplog.text


def run_simulated(scheduler: Scheduler, sim: SimTime) -> list[tuple[float, Reading]]:
    """Run the scheduler until ``sim.until``; each reading with the time it was sunk."""
    sunk: list[tuple[float, Reading]] = []

    async def run() -> None:
        await scheduler.run_forever(lambda r: sunk.append((sim.now, r)), asyncio.Event())

    asyncio.run(run())
    return sunk


def runs(sunk: list[tuple[float, Reading]], probe: str) -> list[tuple[float, Any]]:
    return [(at, r.fields) for at, r in sunk
            if r.measurement == "probe_run" and r.tags["probe"] == probe]


def test_each_probe_keeps_its_own_interval() -> None:
    sim = SimTime(loops=3, until=3.5)
    scheduler = Scheduler([item(Good, interval=1.0), item(Raises, interval=1.0),
                           item(Timeout, interval=1.5)], CTX, clock=sim, wait=sim.wait)
    sunk = run_simulated(scheduler, sim)
    assert [at for at, _ in runs(sunk, "wan_link")] == [0.0, 1.0, 2.0, 3.0]
    assert [at for at, _ in runs(sunk, "wifi")] == [0.0, 1.5, 3.0]
    assert scheduler.items[1].stats.errors == 4
    assert all(fields["duration_seconds"] == 0 for _, fields in runs(sunk, "wan_link"))


class Slow(Probe):
    """Takes 2.5 s of simulated time, longer than its 1 s interval."""

    name = "wifi"

    def collect(self) -> list[Reading]:
        self.opts["sim"].advance(2.5)
        return [Reading("wifi_coverage", {"result": "ok"})]


def test_an_overrun_skips_the_missed_slots() -> None:
    sim = SimTime(loops=1, until=7.0)
    probe = ProbeConfig(Slow.name, Slow, 1.0, 10.0, {"sim": sim})
    sunk = run_simulated(Scheduler([probe], CTX, clock=sim, wait=sim.wait), sim)
    # Started at 0, 3 and 6 (the next whole slot), never back to back at 2.5.
    assert runs(sunk, "wifi") == [(at + 2.5, {"duration_seconds": 2.5, "readings": 1,
                                              "result": "ok"}) for at in (0.0, 3.0, 6.0)]


def test_next_slot() -> None:
    assert next_slot(10.0, 10.2, 1.0) == 11.0  # on time
    assert next_slot(10.0, 11.0, 1.0) == 12.0  # ended exactly at the next slot
    assert next_slot(10.0, 13.7, 1.0) == 14.0  # overran: 11, 12 and 13 are skipped


@pytest.mark.integration
def test_cadence_on_the_real_clock() -> None:
    """The defaults (monotonic clock, the event loop's timer) keep the same cadence."""
    Good.calls.clear()
    scheduler = Scheduler([item(Good, interval=1.0), item(Raises, interval=1.0)], CTX)

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(3.5, stop.set)
        await scheduler.run_forever(lambda r: None, stop)

    asyncio.run(run())
    assert len(Good.calls) == 4  # at 0, 1, 2 and 3 s
    gaps = [b - a for a, b in zip(Good.calls, Good.calls[1:], strict=False)]
    assert all(0.9 < gap < 1.2 for gap in gaps), gaps
    assert scheduler.items[1].stats.errors == 4
