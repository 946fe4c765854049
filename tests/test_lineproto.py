"""Line protocol escaping: awkward values written to a real influxd and read back."""

from __future__ import annotations

from agent.reading import Reading
from collector.lineproto import line
from collector.writer import InfluxV1Writer
from tests.services import Influxd


def test_awkward_values_round_trip(influxd: Influxd, database: str) -> None:
    tags = {"classroom": "高一(3)班, east wing=A", "switch": "sw 1\\core"}
    fields = {"note": 'say "hi" \\ bye, a=b', "link_speed_mbps": 100, "oper_up": True,
              "ratio_share": 0.000012}
    reading = Reading("classroom_link", fields, tags, 1_700_000_000_123_456_789)
    writer = InfluxV1Writer({"url": influxd.url, "database": database, "retention_policy": "",
                             "username": "", "password": "", "timeout_seconds": 5.0})
    writer.write([line(reading)])
    rows = influxd.rows("SELECT * FROM classroom_link", database)
    assert len(rows) == 1
    row = rows[0]
    assert row["time"] == 1_700_000_000_123_456_789
    assert (row["classroom"], row["switch"]) == (tags["classroom"], tags["switch"])
    assert row["note"] == fields["note"]
    assert row["link_speed_mbps"] == 100.0 and row["oper_up"] is True
    assert row["ratio_share"] == 0.000012  # repr() writes 1.2e-05; influxd parses it
