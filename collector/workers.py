"""Several collector processes behind one service, for more than one core.

One Python process stores about 10,000 readings/s (the MQTT client and the
validation share one interpreter lock); processes in a shared-subscription
group split the broker's traffic between them and scale with the cores. The
parent only supervises: it starts ``workers`` children, restarts one that
dies, and stops them all on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from dataclasses import replace

from collector.config import CollectorConfig

log = logging.getLogger(__name__)


def worker_config(cfg: CollectorConfig, index: int) -> CollectorConfig:
    """Worker ``index``'s view: its own client id, a shared group, and only the
    first worker judging compliance (once per round, not once per worker)."""
    mqtt = replace(cfg.mqtt, client_id=f"{cfg.mqtt.client_id}-{index}",
                   share_group=cfg.mqtt.share_group or cfg.mqtt.client_id)
    targets = cfg.targets if index == 0 else replace(cfg.targets, file="")
    return replace(cfg, mqtt=mqtt, targets=targets)


def supervise(cfg: CollectorConfig, argv: list[str]) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def spawn(index: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "collector.cli", *argv,
                                 "--worker", str(index)])

    children = {i: spawn(i) for i in range(cfg.mqtt.workers)}
    log.info("started %d collector workers in shared group %s", len(children),
             cfg.mqtt.share_group or cfg.mqtt.client_id)
    while not stop.wait(1.0):
        for index, child in list(children.items()):
            code = child.poll()
            if code is not None:
                log.error("collector worker %d exited with %s; restarting it", index, code)
                children[index] = spawn(index)
    for child in children.values():
        child.terminate()
    for child in children.values():
        try:
            child.wait(60)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0
