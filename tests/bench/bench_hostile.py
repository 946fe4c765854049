"""Honest school B's receipt latency while hostile school A attacks, against B's
latency without A measured just before, in the same run.

    python -m tests.bench.bench_hostile [READINGS_PER_PHASE]

The shipped broker config (TLS, per-school ACL), real influxd 1.6.7 and
``schoolnet-collector run`` as its own process. B sends a reading every 0.1 s
(seconds apart on a real gateway: this is a dense probe) and times each from
its publish to the collector's receipt that says it is stored. For each
attack in ``tests/hostile_attacks.py`` (and the registry row of 9 of 11
columns) a baseline phase without A, then a phase with A repeating the attack
as fast as its one connection allows; printed: p50 and p95 of both and their
ratios (goal: within 2x).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import psutil

from tests.hostile_attacks import ATTACKS
from tests.hostile_support import (
    A,
    Arena,
    B,
    SchoolClient,
    arena,
    collector_config,
    honest_reading,
    retained_under,
)
from tests.services import Influxd, wait_for

REPO = Path(__file__).resolve().parents[2]
PACE = 0.1
BAD_ROW = "370102-0009,半行,37,山东省,3701,济南市,370102,历下区,primary\n"


def percentiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return statistics.median(values), cuts[18]


class Honest:
    """School B, sending one reading every PACE seconds, numbered across phases."""

    def __init__(self, where: Arena) -> None:
        self.client = SchoolClient(where, B, "bench-honest-b")
        self.seq = 0
        self.first = 1
        self.t0 = time.time_ns() - 3600 * 10**9

    def warm_up(self) -> None:
        """Until the collector has subscribed (what comes before is not queued
        for it) and stored a first batch."""
        def stored() -> bool:
            self.seq += 1
            self.client.send(honest_reading(B, self.seq, self.t0), self.seq)
            time.sleep(0.5)
            return bool(self.client.receipt_times())
        wait_for(stored, 60, "the collector storing B's readings", interval=0)
        self.first = self.seq + 1  # those before the subscription were never queued
        self.phase(10)

    def phase(self, n: int) -> tuple[float, float, int]:
        sent: dict[int, float] = {}
        for _ in range(n):
            self.seq += 1
            reading = honest_reading(B, self.seq, self.t0)
            sent[self.seq] = time.monotonic()
            self.client.send(reading, self.seq, wait=False)
            time.sleep(PACE)
        wait_for(lambda: set(sent) <= set(self.client.receipt_times()), 120,
                 "B's receipts", interval=0.05)
        got = self.client.receipt_times()
        p50, p95 = percentiles([got[s] - t for s, t in sent.items()])
        return p50, p95, len(sent)


def hostile_process(where: Arena, name: str) -> subprocess.Popen[str]:
    """School A in a process of its own, so its client does not share the
    interpreter that times B."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.bench.bench_hostile", "attack", name,
         str(where.broker.port), str(where.etc), where.passwords[A], str(where.registry)],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def attacker(name: str, port: str, etc: str, password: str, registry: str) -> None:
    """The child: repeat one attack until SIGTERM, then print how many messages it sent."""
    where = cast(Arena, SimpleNamespace(broker=SimpleNamespace(port=int(port)), etc=Path(etc),
                                        passwords={A: password}, registry=Path(registry)))
    attack = {**ATTACKS, "registry_row": registry_row(where)}[name]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    a = SchoolClient(where, A, f"bench-hostile-{os.getpid()}")
    while not stop.is_set():
        attack(a)
    print(a.sent, flush=True)
    a.close()


def registry_row(where: Arena) -> Callable[[SchoolClient], object]:
    good = where.registry.read_text(encoding="utf-8")

    def attack(a: SchoolClient) -> None:
        where.registry.write_text(good + BAD_ROW, encoding="utf-8")
        time.sleep(1.0)
        a.online()
        where.registry.write_text(good, encoding="utf-8")
        time.sleep(1.0)
    return attack


def main() -> None:
    per_phase = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with tempfile.TemporaryDirectory() as tmp_dir, arena() as where, \
            Influxd(Path(tmp_dir) / "influx").running() as influxd:
        influxd.create_db("bench")
        cfg = collector_config(where, Path(tmp_dir) / "collector.toml", "bench", influxd.url,
                               byte_bound=True)
        log = (Path(tmp_dir) / "collector.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "run", "-c", str(cfg)],
                                cwd=REPO, stderr=log, env={**os.environ, "PYTHONPATH": str(REPO)})
        honest = Honest(where)
        try:
            honest.warm_up()
            attacks = [*ATTACKS, "registry_row"]
            print(f"honest school B, {per_phase} readings per phase, one every {PACE} s; "
                  "receipt latency in seconds")
            print(f"{'attack':<16} {'base p50':>9} {'base p95':>9} {'att p50':>9} "
                  f"{'att p95':>9} {'x p50':>6} {'x p95':>6} {'A msgs':>7}")
            for name in attacks:
                b50, b95, _ = honest.phase(per_phase)
                child = hostile_process(where, name)
                time.sleep(1.0)  # connected and attacking
                h50, h95, _ = honest.phase(per_phase)
                child.terminate()
                out, _ = child.communicate(timeout=120)
                print(f"{name:<16} {b50:>9.3f} {b95:>9.3f} {h50:>9.3f} {h95:>9.3f} "
                      f"{h50 / b50:>6.2f} {h95 / b95:>6.2f} {out.strip():>7}", flush=True)
            assert proc.poll() is None, "the collector died"
            assert where.broker.proc is not None
            print(f"afterwards the broker holds {len(retained_under(where, A))} retained "
                  f"message(s) under A (its status); broker RSS "
                  f"{psutil.Process(where.broker.proc.pid).memory_info().rss / 2**20:.0f} MiB")
            measured = set(range(honest.first, honest.seq + 1))
            print(f"collector alive after every attack (pid {proc.pid}); B: "
                  f"{len(measured & honest.client.receipted())} of {len(measured)} readings "
                  "receipted")
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()
            honest.client.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["attack"]:
        attacker(*sys.argv[2:7])
    else:
        main()
