"""Latency under load (bufferbloat): RTT before and during the bandwidth test.

A thread samples the round trip ``every`` seconds: first for ``idle_seconds``
before the test (the idle figure), then for as long as the test runs (the
loaded figure). Two kinds of target:

* the test server, by TCP connect time to its port (the SYN / SYN-ACK round
  trip; no privileges, nothing on the server but a closed connection);
* a STAMP reflector (``latency_node``, e.g. the county node), by one 44-byte
  test packet per sample, when configured.

The bufferbloat figure is the mean loaded RTT (DSLReports averages the
"uplift" over the loaded samples) minus the idle median (a robust baseline),
graded as DSLReports' speed test (and Waveform's bufferbloat test) grade the
same increase: A+ < 5 ms, A < 30 ms, B < 60 ms, C < 200 ms, D < 400 ms, F
beyond. The built-in tester stops a direction once its rate is stable, which
can be before a deep queue has filled: ``min_seconds`` loads the link for
longer.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.contract.reading import FieldValue
from agent.contract.stamp import ReflectedPacket, SenderPacket, ntp_now

Sample = Callable[[], float | None]  # one round trip in seconds, None if lost
GRADES = ((0.005, "A+"), (0.030, "A"), (0.060, "B"), (0.200, "C"), (0.400, "D"))


def grade(increase_seconds: float) -> str:
    return next((g for limit, g in GRADES if increase_seconds < limit), "F")


def tcp_connect(host: str, port: int, timeout: float, source: str = "") -> Sample:
    def sample() -> float | None:
        start = time.perf_counter()
        try:
            with socket.create_connection((host, port), timeout=timeout,
                                          source_address=(source, 0) if source else None):
                return time.perf_counter() - start
        except OSError:
            return None
    return sample


def stamp(host: str, port: int, timeout: float, source: str = "") -> Sample:
    seq = 0

    def sample() -> float | None:
        nonlocal seq
        seq += 1
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
            with socket.socket(info[0], socket.SOCK_DGRAM) as sock:
                if source:
                    sock.bind((source, 0))
                sock.settimeout(timeout)
                sock.connect(info[4])
                start = time.perf_counter()
                sock.send(SenderPacket(seq, ntp_now()).pack())
                while True:
                    answer = ReflectedPacket.unpack(sock.recv(2048))
                    if answer is not None and answer.sender_seq == seq:
                        return max(0.0, time.perf_counter() - start - answer.turnaround_seconds)
        except OSError:
            return None
    return sample


class LoadedLatency:
    """Samples each target in one thread; ``mark_loaded`` splits idle from loaded."""

    def __init__(self, targets: dict[str, Sample], every: float = 0.1) -> None:
        self.targets, self.every = targets, every
        self.idle: dict[str, list[float | None]] = {name: [] for name in targets}
        self.loaded: dict[str, list[float | None]] = {name: [] for name in targets}
        self._phase = self.idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="loaded-latency")

    def _run(self) -> None:
        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            phase = self._phase
            for name, sample in self.targets.items():
                phase[name].append(sample())
            n += 1
            # Isochronous: a slow sample does not push every later one back.
            self._stop.wait(max(0.0, start + n * self.every - time.monotonic()))

    def start_idle(self, seconds: float) -> None:
        self._thread.start()
        time.sleep(seconds)

    def mark_loaded(self) -> None:
        self._phase = self.loaded

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def fields(self) -> dict[str, FieldValue]:
        out: dict[str, FieldValue] = {}
        graded = False
        for name in self.targets:  # the server first, then the node
            prefix = "" if name == "server" else f"{name}_"
            idle = [s for s in self.idle[name] if s is not None]
            loaded = [s for s in self.loaded[name] if s is not None]
            out[f"{prefix}loaded_rtt_samples"] = len(self.loaded[name])
            out[f"{prefix}loaded_rtt_lost"] = len(self.loaded[name]) - len(loaded)
            if not idle or not loaded:
                continue
            idle_rtt, loaded_rtt = statistics.median(idle), statistics.fmean(loaded)
            bloat = max(0.0, loaded_rtt - idle_rtt)
            ordered = sorted(loaded)
            out.update({f"{prefix}idle_rtt_seconds": idle_rtt,
                        f"{prefix}loaded_rtt_seconds": loaded_rtt,
                        f"{prefix}loaded_rtt_p95_seconds": ordered[
                            max(0, -(-len(ordered) * 95 // 100) - 1)],
                        f"{prefix}bufferbloat_seconds": bloat})
            if not graded:
                out["bufferbloat_grade"] = grade(bloat)
                graded = True
        return out


def node_address(value: str) -> tuple[str, int]:
    """``host`` or ``host:port`` (``[v6]:port``) of a STAMP reflector."""
    from agent.contract.stamp import PORT

    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else PORT
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port)
    return value, PORT


def node_problem(value: Any) -> str | None:
    if not value:
        return None
    try:
        host, port = node_address(str(value))
    except ValueError:
        return "must be host or host:port of a STAMP reflector"
    return None if host and 0 < port < 65536 else "must be host or host:port of a STAMP reflector"
