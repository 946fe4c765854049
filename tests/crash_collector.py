"""The real collector with a fault waiting in one of its threads, for crash tests.

    python -m tests.crash_collector CONFIG FAULT TRIGGER_FILE

Runs ``schoolnet-collector run -c CONFIG`` in this process after arming FAULT:
once TRIGGER_FILE exists, the named thread's next step raises (or, for
``hang``, blocks forever), as a bug or a wedge would.

- ``mqtt-in``: the transport's I/O thread, on the next data from the broker
- ``pipeline``: the pipeline thread, on the next batch it validates
- ``writer``: the pipeline's write thread, on the next batch it stores
- ``receipts``: the receipts thread, on its next flush
- ``evaluate``: the evaluator thread, on its next round
- ``hang``: the pipeline blocks on the next batch it validates (the watchdog must notice)
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from collector import cli
from collector.ingest.mqtt5 import LeanSubscriber
from collector.ingest.pipeline import Pipeline
from collector.ingest.receipts import Receipts
from collector.judge.evaluate import Evaluator

TARGETS: dict[str, tuple[type, str]] = {
    "mqtt-in": (LeanSubscriber, "_handle"),
    "pipeline": (Pipeline, "prepare"),
    "writer": (Pipeline, "store"),
    "receipts": (Receipts, "flush"),
    "evaluate": (Evaluator, "run_once"),
    "hang": (Pipeline, "prepare"),
}


def arm(fault: str, trigger: str) -> None:
    cls, name = TARGETS[fault]
    original: Callable[..., Any] = getattr(cls, name)

    def faulty(self: Any, *args: Any, **kwargs: Any) -> Any:
        if os.path.exists(trigger):
            if fault == "hang":
                threading.Event().wait()
            raise RuntimeError(f"injected fault in {fault}")
        return original(self, *args, **kwargs)

    setattr(cls, name, faulty)


def main() -> int:
    config, fault, trigger = sys.argv[1:4]
    arm(fault, trigger)
    return cli.main(["run", "-c", config])


if __name__ == "__main__":
    sys.exit(main())
