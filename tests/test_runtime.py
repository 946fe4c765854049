"""The agent's own health reading, from the spool and the counters it is given."""

from __future__ import annotations

from pathlib import Path

from agent import __version__
from agent.contract.wire import Identity, decode, encode
from agent.runtime import health
from agent.spool import Spool

ID = Identity("37", "3701", "370102", "370102-0001")


def test_health_reports_the_spool_and_counters_and_fits_the_wire(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_readings=2)
    for _ in range(1000):  # the bound is enforced every 1000 readings
        spool.append("t", lambda s: b"x")
    reading = health(3600.04, spool, probe_errors=3, published=997)
    assert reading.measurement == "agent" and reading.tags == {}
    assert reading.fields == {"version": __version__, "uptime_seconds": 3600.0,
                              "spool_depth": 2, "spool_dropped": 998, "probe_errors": 3,
                              "published": 997, "spool_full": False, "spool_corrupt": False,
                              "spool_memory": 0, "result": "ok"}
    envelope = decode(ID.topic("agent"), encode(ID, reading, 1))
    assert envelope.reading.fields == reading.fields
