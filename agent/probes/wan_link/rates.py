"""Continuous rx/tx rate sampling of one interface, for peaks and percentiles.

A reading every 60 s carries the mean rate over the minute; a school whose
exit is saturated for 10 s at a time looks half-used by the mean. A daemon
thread reads the kernel counters every ``every`` seconds (psutil, no traffic)
and keeps the per-sample rates until the probe takes them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
Counters = Callable[[str], tuple[int, int] | None]
MAX_SAMPLES = 100_000  # a day at 1 s: bounded memory if nobody drains


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (the 95th of 300 one-second samples is the 285th)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def psutil_counters(iface: str) -> tuple[int, int] | None:
    import psutil

    c = psutil.net_io_counters(pernic=True, nowrap=False).get(iface)
    return (c.bytes_recv, c.bytes_sent) if c is not None else None


class RateSampler(threading.Thread):
    def __init__(self, iface: str, every: float, counters: Counters = psutil_counters) -> None:
        super().__init__(daemon=True, name=f"rate-sampler-{iface}")
        self.iface, self.every, self.counters = iface, every, counters
        self._lock = threading.Lock()
        self._rates: list[tuple[float, float]] = []
        self.resets = 0
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        last = self.counters(self.iface)
        last_at = time.monotonic()
        next_at = last_at + self.every
        while not self._stop_event.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.every
            now = self.counters(self.iface)
            at = time.monotonic()
            if now is not None and last is not None:
                drx, dtx = now[0] - last[0], now[1] - last[1]
                if drx < 0 or dtx < 0:
                    with self._lock:
                        self.resets += 1  # counters restarted: this sample has no rate
                elif at > last_at:
                    with self._lock:
                        if len(self._rates) < MAX_SAMPLES:
                            self._rates.append((drx * 8 / (at - last_at),
                                                dtx * 8 / (at - last_at)))
            last, last_at = now, at

    def take(self) -> list[tuple[float, float]]:
        """The rates sampled since the last call (and forget them)."""
        with self._lock:
            rates, self._rates = self._rates, []
        return rates


def summary(rates: list[tuple[float, float]]) -> dict[str, float | int]:
    if not rates:
        return {}
    rx = [r[0] for r in rates]
    tx = [r[1] for r in rates]
    return {"rx_peak_bps": round(max(rx), 1), "tx_peak_bps": round(max(tx), 1),
            "rx_p95_bps": round(percentile(rx, 0.95), 1),
            "tx_p95_bps": round(percentile(tx, 0.95), 1), "samples": len(rates)}
