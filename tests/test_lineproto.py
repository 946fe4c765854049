"""Line protocol escaping: awkward values written to a real influxd and read back."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.contract.configschema import build
from agent.contract.reading import Reading
from collector.config import Storage
from collector.ingest.lineproto import line
from collector.ingest.writer import InfluxV1Writer
from tests.services import Influxd

# Integration tier: a real influxd.
pytestmark = pytest.mark.integration


def writer_for(influxd: Influxd, database: str) -> InfluxV1Writer:
    return InfluxV1Writer(build(Storage, {"kind": "influxdb1", "url": influxd.url,
                                         "database": database, "timeout_seconds": 5.0}))


def test_awkward_values_round_trip(influxd: Influxd, database: str) -> None:
    tags = {"classroom": "高一(3)班, east wing=A", "switch": "sw 1\\core"}
    fields = {"note": 'say "hi" \\ bye, a=b', "link_speed_mbps": 100, "oper_up": True,
              "ratio_share": 0.000012}
    reading = Reading("classroom_link", fields, tags, 1_700_000_000_123_456_789)
    writer = writer_for(influxd, database)
    writer.write([line(reading)])
    rows = influxd.rows("SELECT * FROM classroom_link", database)
    assert len(rows) == 1
    row = rows[0]
    assert row["time"] == 1_700_000_000_123_456_789
    assert (row["classroom"], row["switch"]) == (tags["classroom"], tags["switch"])
    assert row["note"] == fields["note"]
    assert row["link_speed_mbps"] == 100.0 and row["oper_up"] is True
    assert row["ratio_share"] == 0.000012  # repr() writes 1.2e-05; influxd parses it


# What the wire contract lets through: NAME keys, printable tag values that do
# not end in a backslash, printable string fields.
_printable = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
                     min_size=1, max_size=12)
_tag_values = _printable.filter(lambda v: v.isprintable() and not v.endswith("\\"))
_keys = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(_keys, _tag_values, min_size=1, max_size=3),
       st.dictionaries(_keys, _printable.filter(str.isprintable), max_size=2),
       st.dictionaries(_keys, st.floats(-1e9, 1e9) | st.integers(-10**6, 10**6), max_size=2))
def test_any_wire_valid_reading_round_trips(influxd: Influxd, database: str,
                                            tags: dict[str, str], texts: dict[str, str],
                                            numbers: dict[str, float]) -> None:
    # Field names say their type, so examples never conflict with each other.
    fields = {**{f"s_{k}": v for k, v in texts.items()},
              **{f"n_{k}": v for k, v in numbers.items()}, "n": 1.0}
    ts = time.time_ns()
    reading = Reading("rt", fields, {f"t_{k}": v for k, v in tags.items()}, ts)
    writer = writer_for(influxd, database)
    writer.write([line(reading)])
    rows = influxd.rows(f"SELECT * FROM rt WHERE time = {ts}", database)
    assert len(rows) == 1
    got = {k: v for k, v in rows[0].items() if v is not None and k != "time"}
    assert got == {**reading.tags, **{k: v if isinstance(v, str) else float(v)
                                       for k, v in fields.items()}}
