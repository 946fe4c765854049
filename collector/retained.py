"""Retained messages: only a school's ``…/status`` may be kept by the broker.

Mosquitto 2.0.11 can switch retaining off only for the whole broker
(``retain_available false``), which would also drop the agents' retained
birth and last-will status, and its ACL cannot tell a retained publish from
another. So the collector enforces it: it subscribes with Retain As
Published, and any other retained message it receives, live or stored from
before, is dead-lettered (reason ``retained``), acked, and deleted from the
broker by publishing an empty retained message to its topic. A school that
stores thousands of them fills the broker's memory only until the collector
sees them, and a restarted collector is not handed them again. Each one is
charged to its school's rate bounds like a reading (collector.ingest.limits):
it is always deleted, but past the bound it is only counted, not
dead-lettered, and it uses up the school's own allowance, so a retained
flood costs no more than the school's normal bound.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.contract.errors import WireError
from agent.contract.wire import parse_topic
from collector.ingest.transport import Deliver, Message

log = logging.getLogger(__name__)
REASON = "retained"


def retain_allowed(topic: str) -> bool:
    try:
        _, name = parse_topic(topic)
    except WireError:
        return False
    return name == "status"


class RetainedGuard:
    """Sits between the transport and the pipeline, in the transport's thread."""

    def __init__(self, clear: Callable[[str], None], ack: Callable[[list[Message]], None],
                 dead_letter: Callable[[Message, str, str], None],
                 charge: Callable[[Message], str | None] | None = None,
                 count: Callable[[str, str], None] | None = None) -> None:
        self.clear = clear
        self.charge = charge
        self.count = count  # per-school reject stats: (topic, reason)
        self.ack = ack
        self.dead_letter = dead_letter
        self.cleared = 0

    def filter(self, deliver: Deliver) -> Deliver:
        def guarded(messages: list[Message]) -> None:
            passed: list[Message] = []
            for message in messages:
                if not message.retain or retain_allowed(message.topic):
                    passed.append(message)
                elif not message.payload:
                    # Our own deletion (or a school's) coming back: nothing to keep.
                    self.ack([message])
                else:
                    self.cleared += 1
                    if self.count is not None:
                        self.count(message.topic, REASON)
                    log.debug("cleared a retained message on %s", message.topic[:120])
                    self.clear(message.topic)
                    if self.charge is None or self.charge(message) is None:
                        self.dead_letter(message, REASON, "only status may be retained; "
                                         "deleted from the broker")
                    self.ack([message])
            if passed:
                deliver(passed)
        return guarded
