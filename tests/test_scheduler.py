"""One failing, hanging or misbehaving probe never stops the others."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, ClassVar

from agent.config import ProbeConfig
from agent.contract.reading import Reading
from agent.contract.wire import Identity
from agent.probes import Probe, ProbeContext
from agent.scheduler import Scheduler

CTX = ProbeContext(Identity("37", "3701", "370102", "s1"), "primary", Path("/tmp"))


class Good(Probe):
    name = "good"
    calls: ClassVar[list[float]] = []

    def collect(self) -> list[Reading]:
        Good.calls.append(time.monotonic())
        return [Reading("good", {"value_bps": 1.0, "result": "ok"})]


class Raises(Probe):
    name = "raises"

    def collect(self) -> list[Reading]:
        raise RuntimeError("probe bug")


class Hangs(Probe):
    name = "hangs"

    async def collect(self) -> list[Reading]:
        await asyncio.sleep(60)
        return []


class Invalid(Probe):
    name = "invalid"

    def collect(self) -> Any:
        return [Reading("invalid", {"rx_bps": -1.0})]


class Timeout(Probe):
    name = "timeout_result"

    def collect(self) -> list[Reading]:
        return [Reading("thing", {"result": "timeout"})]


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
    assert runs == {"good": "ok", "raises": "error", "hangs": "timeout",
                    "invalid": "invalid", "timeout_result": "timeout"}
    data = [r.measurement for r in readings if r.measurement != "probe_run"]
    # Bad readings are dropped at the source; an expected failure is still data.
    assert data == ["good", "thing"]
    assert scheduler.errors == 3


def test_each_probe_keeps_its_own_interval() -> None:
    Good.calls.clear()
    scheduler = Scheduler([item(Good, interval=1.0), item(Raises, interval=1.0)], CTX)
    sunk: list[Reading] = []

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(3.5, stop.set)
        await scheduler.run_forever(sunk.append, stop)

    asyncio.run(run())
    assert len(Good.calls) == 4  # at 0, 1, 2 and 3 s
    gaps = [b - a for a, b in zip(Good.calls, Good.calls[1:], strict=False)]
    assert all(0.9 < gap < 1.2 for gap in gaps), gaps
    assert scheduler.items[1].stats.errors == 4
