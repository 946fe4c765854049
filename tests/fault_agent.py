"""A numbered-reading agent for fault tests: the real spool and publisher, fed fast.

    python -m tests.fault_agent HOST PORT STATE_DIR SCHOOL COUNT RATE

Publishes readings n = 1..COUNT (measurement ``agent``, field ``published`` = n) at RATE per
second through agent.spool + agent.publisher, then waits until the broker
acknowledged all of them, and exits 0 (1 if it gave up after 120 s).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from agent.config import AgentMqtt
from agent.contract.configschema import build
from agent.contract.reading import Reading
from agent.contract.wire import Identity
from agent.publisher import Publisher
from agent.spool import Spool


def main() -> int:
    host, port, state, school, count, rate = sys.argv[1:7]
    identity = Identity("37", "3701", "370102", school)
    cfg = build(AgentMqtt, {"host": host, "port": int(port), "tls": False,
                            "client_id": f"fault-{school}", "keepalive": 5,
                            "receipt_timeout": 3.0})
    spool = Spool(Path(state) / "spool.sqlite3")
    publisher = Publisher(cfg, identity, spool)
    publisher.start()
    base = time.time_ns() - 10**10
    interval = 1 / float(rate)
    next_at = time.monotonic()
    for n in range(1, int(count) + 1):
        publisher.submit(Reading("agent", {"published": n, "result": "ok"}, {}, base + n * 1000))
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    print("submitted", flush=True)
    drained = publisher.wait_drained(120)
    publisher.stop()
    spool.close()
    return 0 if drained else 1


if __name__ == "__main__":
    sys.exit(main())
