"""The doctor's round trip: log in, publish one health reading on this
school's own topic, and wait for the collector's receipt.

The reading goes through the spool like any other (so its sequence number
follows the daemon's and a receipt can never name another reading), and it
is a real ``agent`` reading, harmless to store.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from agent.advice import advice
from agent.config import AgentConfig
from agent.publisher import Publisher
from agent.runtime import health
from agent.spool import Spool

MAX_CLOCK_OFFSET = 60.0  # seconds; the collector refuses readings well off its clock
# (key, ok, detail, fix, remedy code, its particulars), as doctor.Check takes them
CheckTuple = tuple[str, "bool | None", str, str, str, dict[str, str]]


def _oldest_unsent(spool: Spool) -> float | None:
    rows = spool.after(0, 1)
    if not rows:
        return None
    try:
        return float(json.loads(rows[0][2])["ts"]) / 1e9
    except (ValueError, KeyError, TypeError):
        return None


def _wait(done: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def round_trip(cfg: AgentConfig, spool_dir: Path, timeout: float
               ) -> tuple[list[CheckTuple], float | None, int]:
    """(checks, when the oldest unsent reading was made, spool depth)."""
    spool = Spool(spool_dir / "spool.sqlite3", cfg.agent.spool_max_readings,
                  cfg.agent.spool_max_age_days * 86400,
                  memory_max_readings=cfg.agent.spool_memory_max_readings)
    try:
        oldest = _oldest_unsent(spool)
        found = _exchange(cfg, spool, timeout)
        return found, oldest, spool.depth()  # a held test reading stays, as any held one
    finally:
        spool.close()


def _exchange(cfg: AgentConfig, spool: Spool, timeout: float) -> list[CheckTuple]:
    m = cfg.mqtt
    publisher = Publisher(m, cfg.identity, spool)
    publisher.start()
    try:
        connected = _wait(lambda: publisher.connected() or publisher.link.kind,
                          timeout) and publisher.connected()
        if not connected:
            text = publisher.link.message or f"no answer to the MQTT login within {timeout:g} s"
            what, _, fix = text.rpartition(": ")
            where = {"where": f"{m.host}:{m.port}"}
            return [("login", False, what or text, fix, publisher.link.kind or "", where)]
        out: list[CheckTuple] = [("login", True, f"as {m.username or '(no username)'}", "", "",
                                  {})]
        seq = publisher.submit(health(0.0, spool, 0, 0))
        if not _wait(lambda: publisher.published or publisher.rejected_by_broker, timeout) \
                or publisher.rejected_by_broker:
            return [*out, ("acl", False, f"the broker did not accept a reading on "
                           f"{cfg.identity.topic('agent')} "
                           f"({publisher.rejected_by_broker or 'no acknowledgement'})",
                           "the account may publish only under its own school's topic: make "
                           "[school] id and region codes match the account issued to you", "acl",
                           {})]
        out.append(("acl", True, f"published on {cfg.identity.topic('agent')} (seq {seq})", "",
                    "", {}))
        if not m.receipts:
            return [*out, ("receipt", None, "receipts are off ([mqtt] receipts = false)", "", "",
                           {})]
        got = _wait(lambda: publisher.confirmed or publisher.held or publisher.refusals,
                    timeout)
        out.append(_receipt_check(cfg, publisher, got, timeout))
        if publisher.clock_offset is not None:
            offset = publisher.clock_offset
            fine = abs(offset) <= MAX_CLOCK_OFFSET
            out.append(("clock", fine, f"this clock is {offset:+.1f} s off the collector's",
                        "" if fine else "enable NTP: timedatectl set-ntp true",
                        "" if fine else "clock", {}))
        return out
    finally:
        publisher.stop()


def _receipt_check(cfg: AgentConfig, publisher: Publisher, got: bool,
                   timeout: float) -> CheckTuple:
    i = cfg.identity
    school = {"school": i.school_id, "region": f"{i.province}/{i.city}/{i.county}"}
    if publisher.held:
        reason = next(iter(publisher.held))
        return ("receipt", False, f"the collector did not store the reading ({reason})",
                advice(reason, cfg.identity), reason, school)
    if publisher.refusals:
        reason = next(iter(publisher.refusals))
        return ("receipt", False, f"the collector refused the reading ({reason})",
                advice(reason, cfg.identity), reason, school)
    if got:
        return ("receipt", True, "the collector confirmed the test reading is stored", "", "", {})
    return ("receipt", False, f"no receipt from the collector within {timeout:g} s",
            "the broker took the reading but no collector answered: ask the network centre "
            "whether the collector runs", "no_receipt", {})
