"""CPU per reading of the collector's pipeline thread and the receipts it
groups, for this tree and for others, with no broker and no database.

    python -m tests.bench.bench_ingest_cpu [--rounds R] [--n N] [--before REF ...]

The drain in bench_ingest_headroom is set by the database as much as by the
collector, and on a shared machine its rates move by 2x between rounds; this
is the collector's own share, steadier: the same backlog as there (registry
and per-school series bounds on) goes through ``Pipeline.prepare`` and
``store`` a batch of 1,000 at a time into a writer that keeps nothing, and
CPU time is counted. Each ``--before`` ref's ``agent`` and ``collector`` are
exported and run in their own process beside this tree's, rounds
alternating; the table gives each variant's best and median round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class _Discard:
    def write(self, lines: list[str]) -> None:
        pass

    def close(self) -> None:
        pass


def child(n: int) -> None:
    """One pass in this process, with whichever collector PYTHONPATH gives."""
    from agent.contract.measurements import SCHEMA
    from collector.ingest.pipeline import Pipeline
    from collector.ingest.receipts import Receipts
    from collector.ingest.series import SeriesBounds
    from collector.ingest.transport import Message
    from collector.ingest.validate import Validator
    from collector.judge.registry import Registry
    from tests.bench.bench_ingest_headroom import payloads, registry

    tmp = tempfile.mkdtemp()
    schools = Registry(registry(Path(tmp)))  # read again while checking: kept to the end
    now = time.time_ns()
    messages = [Message(topic, payload, i % 65535 + 1, 1, now)
                for i, (topic, payload) in enumerate(payloads(n, now - 10**12))]
    receipts = Receipts(lambda _topic, _body: None, 1.0)
    pipe = Pipeline(Validator(64 * 1024, 300 * 10**9, 35 * 86400 * 10**9, schools), _Discard(),
                    lambda _: None, lambda *_: None, receipt=receipts.add,
                    series=SeriesBounds(SCHEMA))
    start = time.process_time()
    for i in range(0, n, 1000):
        pipe.store(pipe.prepare(messages[i:i + 1000]))
    took = time.process_time() - start
    shutil.rmtree(tmp)
    if pipe.stats.stored != n:
        raise SystemExit(f"not all stored: {pipe.stats.summary()}")
    print(took / n * 1e6)


def measure(src: Path, n: int) -> float:
    # The ref's agent and collector first; the bench's backlog from this tree.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(src), str(ROOT)]))}
    out = subprocess.run([sys.executable, str(Path(__file__)), "--child", str(n)], env=env,
                         cwd=src, check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--n", type=int, default=40000)
    parser.add_argument("--before", action="append", default=[])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    from tests.bench.bench_ingest_headroom import export

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        variants = [(ref, export(ref, tmp)) for ref in args.before] + [("this tree", ROOT)]
        try:
            cpu: dict[str, list[float]] = {label: [] for label, _ in variants}
            for r in range(args.rounds):
                order = variants[r % len(variants):] + variants[:r % len(variants)]
                for label, src in order:
                    cpu[label].append(measure(src, args.n))
                print(f"round {r + 1}: " + "; ".join(f"{label} {cpu[label][-1]:.1f} us"
                                                     for label, _ in variants), flush=True)
        finally:
            for _, src in variants:
                if src != ROOT:
                    shutil.rmtree(src)
    first = next(iter(cpu.values()))
    print(f"\n{args.n} readings a pass, batches of 1,000, registry and series bounds on")
    print(f"{'collector':<24} {'best us':>8} {'median us':>10} {'vs first':>9}")
    for label, values in cpu.items():
        paired = statistics.median(v / f for v, f in zip(values, first, strict=True))
        print(f"{label:<24} {min(values):>8.1f} {statistics.median(values):>10.1f} "
              f"{paired:>9.2f}")


if __name__ == "__main__":
    main()
