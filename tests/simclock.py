"""Simulated time for code with a clock seam (the scheduler, the spool).

Like node_exporter's ``--path.procfs`` fixtures, it lets the pure logic run in
the fast tier: time moves only when the test or the code's own waits move it,
so cadence, expiry and backoff are checked exactly and without sleeping.
"""

from __future__ import annotations

import asyncio


class SimClock:
    """A clock that stands still until ``advance`` moves it."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SimTime(SimClock):
    """Clock and wait for a Scheduler with ``loops`` probe loops.

    Time stands still while any loop is running a probe and jumps to the
    earliest wake-up once every loop waits, as if the probes took no time
    (a probe that should take time calls ``advance`` itself). Past ``until``
    the stop event is set, which ends ``run_forever``.
    """

    def __init__(self, loops: int, until: float) -> None:
        super().__init__(0.0)
        self.loops = loops
        self.until = until
        self._wakes: list[float] = []

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        wake = self.now + seconds
        self._wakes.append(wake)
        try:
            while self.now < wake and not stop.is_set():
                if len(self._wakes) == self.loops and wake == min(self._wakes):
                    if wake > self.until:
                        stop.set()
                    else:
                        self.now = wake
                else:
                    # Another loop is still running its probe (in a thread).
                    await asyncio.sleep(0.001)
        finally:
            self._wakes.remove(wake)
