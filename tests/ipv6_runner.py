"""Run the ipv6 probe once from a config file and print its readings as JSON lines.

The tests start this inside the school gateway's network namespace
(``ip netns exec NS python -m tests.ipv6_runner CONFIG``), optionally without
CAP_NET_RAW, so the probe sees exactly that namespace's interfaces, routes
and capabilities, as it would on a real gateway.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import tempfile
from pathlib import Path

from agent import config
from agent.contract.wire import encode
from agent.probes import ProbeContext


def main(path: str) -> None:
    cfg = config.load(path)
    (probe_cfg,) = [p for p in cfg.probes if p.name == "ipv6"]
    with tempfile.TemporaryDirectory() as state:
        probe = probe_cfg.cls(probe_cfg.opts, ProbeContext(cfg.identity, "primary", Path(state)))
        result = probe.collect()
        readings = asyncio.run(result) if inspect.isawaitable(result) else result
    for seq, reading in enumerate(readings):
        # Topic and encoded payload: the test decodes them with the strict
        # decoder the collector uses, so anything off-contract fails there.
        payload = encode(cfg.identity, reading, seq).decode()
        sys.stdout.write(f"{cfg.identity.topic(reading.measurement)}\t{payload}\n")


if __name__ == "__main__":
    main(sys.argv[1])
