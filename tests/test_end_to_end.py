"""agent → Mosquitto → collector → InfluxDB, with every part real.

The agent runs as its console script (`schoolnet-agent once --publish`); the
stored points are read back with InfluxQL (influxd 1.6.7) and through
VictoriaMetrics' export API (the v2 write path through influxdb-client), and
compared value by value with what the agent printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.services import Influxd, Mosquitto, VictoriaMetrics, wait_for
from tests.support import SCHOOL, agent_toml, collector_toml, influx1_storage, running_collector

# Integration tier: a real Mosquitto, influxd and VictoriaMetrics.
pytestmark = pytest.mark.integration

PROBES = """
[probes.wan_link]
interface = "lo"
contracted_mbps = 1000
sample_seconds = 0.2
"""
REGION = {"school": SCHOOL["id"], "province": SCHOOL["province"], "city": SCHOOL["city"],
          "county": SCHOOL["county"]}


def run_agent_once(config: Path) -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "agent.cli", "once", "-c", str(config),
                          "--json", "--publish", "--timeout", "20"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_reading_reaches_influxdb_v1_exactly(tmp_path: Path, broker: Mosquitto,
                                            influxd: Influxd, database: str,
                                            unique: str) -> None:
    cfg = collector_toml(tmp_path, broker.port, influx1_storage(influxd.url, database), unique)
    with running_collector(cfg) as collector:
        printed = run_agent_once(agent_toml(tmp_path, broker.port, PROBES))
        wan = next(r for r in printed if r["measurement"] == "wan_link")
        rows = wait_for(lambda: influxd.rows("SELECT * FROM wan_link", database), 10,
                        "wan_link row")
        wait_for(lambda: influxd.rows("SELECT * FROM agent_status", database), 10,
                 "status rows")
    assert len(rows) == 1
    row = rows[0]
    assert row["time"] == wan["ts"]  # the agent's timestamp, to the nanosecond
    assert {k: row[k] for k in ("iface", *REGION)} == {"iface": "lo", **REGION}
    for key, value in wan["fields"].items():
        expected = float(value) if isinstance(value, int) and not isinstance(value, bool) \
            else value
        assert row[key] == expected, key
    assert "link_speed_mbps" not in row  # loopback has no negotiated speed
    assert row["contracted_mbps"] == 1000.0 and row["result"] == "ok"
    assert row["seq"] >= 1
    runs = influxd.rows("SELECT * FROM probe_run", database)
    assert [(r["probe"], r["result"]) for r in runs] == [("wan_link", "ok")]
    assert collector.pipeline.stats.rejected == {}
    # The birth message and the clean shutdown's offline status, both retained.
    states = [r["state"] for r in influxd.rows("SELECT * FROM agent_status", database)]
    assert "online" in states


def test_reading_reaches_v2_write_api(tmp_path: Path, broker: Mosquitto,
                                      victoria: VictoriaMetrics, unique: str) -> None:
    school = {"id": f"v2-{unique}"}
    storage = (f'kind = "influxdb2"\nurl = "{victoria.url}"\ntoken = "test-token"\n'
               f'org = "edu"\nbucket = "schoolnet"')
    cfg = collector_toml(tmp_path, broker.port, storage, unique)
    with running_collector(cfg) as collector:
        printed = run_agent_once(agent_toml(tmp_path, broker.port, PROBES, school))
        wan = next(r for r in printed if r["measurement"] == "wan_link")
        selector = f'{{__name__=~"wan_link_.*",school="{school["id"]}"}}'
        series = wait_for(lambda: victoria.export(selector), 15, "series in VictoriaMetrics")
    assert collector.pipeline.stats.rejected == {}
    by_name = {s["metric"]["__name__"]: s for s in series}
    # VictoriaMetrics keeps numbers only and stores milliseconds.
    numeric = {k: v for k, v in wan["fields"].items() if not isinstance(v, str)}
    for key, value in numeric.items():
        stored = by_name[f"wan_link_{key}"]
        assert stored["values"] == [float(value)], key
        assert stored["timestamps"] == [wan["ts"] // 1_000_000], key
        labels = stored["metric"]
        assert labels["iface"] == "lo"
        assert {k: labels[k] for k in REGION} == {**REGION, "school": school["id"]}


def test_site_survey_command_publishes_the_area(tmp_path: Path, broker: Mosquitto,
                                                influxd: Influxd, database: str,
                                                unique: str) -> None:
    """`schoolnet-agent survey` on a laptop: recorded real `iw` scans stand in for
    the radio (no Wi-Fi hardware here); the area reading travels to InfluxDB."""
    scan = Path(__file__).parent / "fixtures/wifi/iw/jc_centos-7.7_iw-scan1.txt"
    probes = """
[probes.wifi]
ssids = ["Hoeheitsgebiet"]
[probes.wifi.areas."教学楼A"]
kind = "teaching"
aps = ["JXL-A-*"]
"""
    config = agent_toml(tmp_path, broker.port, probes, {"id": f"survey-{unique}"})
    cfg = collector_toml(tmp_path, broker.port, influx1_storage(influxd.url, database), unique)
    with running_collector(cfg):
        out = subprocess.run([sys.executable, "-m", "agent.cli", "survey", "-c", str(config),
                              "--area", "教学楼A", "--from-file", str(scan)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        rows = wait_for(lambda: influxd.rows("SELECT * FROM wifi_area", database), 10,
                        "survey reading")
    assert "Hoeheitsgebiet" in out.stdout
    assert len(rows) == 1
    row = rows[0]
    assert (row["area"], row["area_kind"], row["school"]) == ("教学楼A", "teaching",
                                                              f"survey-{unique}")
    assert row["source"] == "survey"
    assert row["best_signal_dbm"] == -57  # the recording: "signal: -57.00 dBm"
