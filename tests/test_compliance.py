"""A simulated county, end to end: registry, readings through Mosquitto into
influxd, verdicts, alerts on transitions only, and the regional report.

Every figure is asserted exactly. Alerts arrive over MQTT and, through
apprise's json:// channel, at a real local HTTP endpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from collector.judge.quality import QUALITY_TARGETS
from collector.judge.rollups import ALL_TARGETS
from collector.national.wire import decode
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import (
    Hook,
    Listener,
    influx1_storage,
    judging_toml,
    publisher_client,
    registry_file,
    running_collector,
)

# Integration tier: a real Mosquitto and influxd, the CLI as a process.
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
SCHOOLS = {  # id: (county, type, classes)
    "a-pass": ("370102", "primary", 3),
    "b-fail": ("370102", "junior", 3),
    "c-inconclusive": ("370102", "senior", 2),
    "d-silent-never": ("370102", "primary", 2),
    "e-slow-port": ("370103", "primary", 2),
    "f-noisy": ("370103", "senior", 2),
    "g-teaching-point": ("370103", "teaching_point", 1),
    "h-few-ports": ("370103", "primary", 4),
}
HOUR = 3600 * 10**9


def ident(sid: str) -> Identity:
    return Identity("37", "3701", SCHOOLS[sid][0], sid)


def registry_csv(path: Path) -> Path:
    return registry_file(path, [
        f"{sid},学校{sid},37,山东省,3701,济南市,{county},县{county},{kind},{classes},1000"
        for sid, (county, kind, classes) in SCHOOLS.items()])


class County:
    """Publishes readings for the simulated schools through the real broker."""

    def __init__(self, port: int) -> None:
        self.client = publisher_client(port)
        self.seq = 0

    def send(self, sid: str, measurement: str, fields: dict[str, Any],
             tags: dict[str, str] | None = None, ago_ns: int = 0) -> None:
        self.seq += 1
        reading = Reading(measurement, fields, tags or {}, time.time_ns() - ago_ns - self.seq)
        self.client.publish(ident(sid).topic(measurement),
                            encode(ident(sid), reading, self.seq), qos=1).wait_for_publish(5)

    def tests(self, sid: str, mbps: list[float], result: str = "ok") -> None:
        for i, m in enumerate(mbps):  # oldest first, newest last
            self.send(sid, "wan_throughput", {"download_bps": m * 1e6, "result": result},
                      {"method": "iperf3"}, ago_ns=(len(mbps) - i) * 60 * 10**9)

    def rooms(self, sid: str, speeds: list[float]) -> None:
        for i, s in enumerate(speeds):
            self.send(sid, "classroom_link", {"link_speed_mbps": s, "oper_up": s > 0,
                                              "result": "ok"}, {"classroom": f"r{i}"})

    def alive(self, sid: str, ago_ns: int = 0, probe: str = "wan_link",
              result: str = "ok") -> None:
        self.send(sid, "probe_run", {"duration_seconds": 0.1, "result": result},
                  {"probe": probe}, ago_ns)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def evaluate(config: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "collector.cli", "evaluate", "-c", str(config)],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return out.stdout


def verdicts(influxd: Influxd, db: str) -> dict[tuple[str, str], tuple[str, Any]]:
    rows = influxd.rows("SELECT last(status) AS status, last(value) AS value FROM compliance "
                        "GROUP BY school, target", db)
    return {(r["school"], r["target"]): (r["status"], r["value"]) for r in rows}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker of its own: retained status messages other tests left on the
    shared one would count as unknown schools here."""
    with Mosquitto(tmp_path / "broker").running() as service:
        yield service


def test_county_verdicts_alerts_and_report(tmp_path: Path, broker: Mosquitto,
                                           influxd: Influxd, database: str, unique: str,
                                           webhook: int) -> None:
    extra = f"""
[alerts]
topic_prefix = "alerts-{unique}"
urls = ["json://127.0.0.1:{webhook}/hook"]
language = "en"
state_file = "{tmp_path / 'alerts.json'}"
[national]
publish = true
topic = "rollup-{unique}"
"""
    config = judging_toml(tmp_path, broker.port, influx1_storage(influxd.url, database),
                          unique, registry_csv(tmp_path / "schools.csv"), extra=extra)
    alerts = Listener(broker.port, f"alerts-{unique}/#")
    national = Listener(broker.port, f"rollup-{unique}/#")  # what a bridge would forward
    with running_collector(config) as collector:
        county = County(broker.port)
        county.tests("a-pass", [950, 940, 960, 955, 945])
        county.send("a-pass", "wan_link", {"link_speed_mbps": 1000, "result": "ok"},
                    {"iface": "eth0"})
        county.rooms("a-pass", [1000, 1000, 100])
        county.send("a-pass", "wifi_coverage", {"coverage_share": 1.0, "result": "ok"})
        county.send("a-pass", "ipv6", {"level": 4, "result": "ok"})
        county.alive("a-pass")
        county.tests("b-fail", [400, 420, 390])
        county.rooms("b-fail", [1000, 10, 1000])
        county.send("b-fail", "wifi_coverage", {"coverage_share": 0.5, "result": "ok"})
        county.send("b-fail", "ipv6", {"level": 1, "result": "ok"})
        county.alive("b-fail", ago_ns=2 * HOUR)  # reported, then went quiet
        county.tests("c-inconclusive", [300, 310], result="inconclusive")
        county.alive("c-inconclusive")
        county.send("c-inconclusive", "agent_x", {"result": "ok"})  # not in the schema
        county.send("e-slow-port", "wan_link", {"link_speed_mbps": 100, "result": "ok"},
                    {"iface": "eth0"})
        county.tests("e-slow-port", [950])
        county.tests("f-noisy", [950, 300, 960, 940, 200])  # median 940
        county.tests("g-teaching-point", [90, 85, 88])  # 100 Mbps target at 80%
        county.rooms("h-few-ports", [1000, 1000])  # 4 classes registered
        for _ in range(3):
            county.alive("h-few-ports", probe="classroom_links", result="timeout")
        # Spoofs: an unregistered school, and a registered one under another county.
        county.client.publish("schoolnet/v1/37/3701/370102/x-unknown/ipv6",
                              encode(Identity("37", "3701", "370102", "x-unknown"),
                                     Reading("ipv6", {"level": 4}), 1), qos=1)
        wrong = Identity("37", "3701", "370199", "a-pass")
        county.client.publish(wrong.topic("ipv6"), encode(wrong, Reading("ipv6", {"level": 0}),
                                                          2), qos=1)
        wait_for(lambda: collector.pipeline.stats.received >= county.seq + 2, 20, "readings")
        rejected = dict(collector.pipeline.stats.rejected)
        county.close()
    assert rejected == {"unknown_school": 1, "region_mismatch": 1, "unknown_measurement": 1}

    out = evaluate(config)
    v = verdicts(influxd, database)
    assert v[("a-pass", "exit_bandwidth")] == ("pass", 950.0)
    assert v[("a-pass", "classroom_links")] == ("pass", 1.0)
    assert v[("a-pass", "wifi")] == ("pass", 1.0)
    assert v[("a-pass", "ipv6")] == ("pass", 4.0)
    assert v[("a-pass", "all")] == ("pass", 4.0)
    assert v[("b-fail", "exit_bandwidth")] == ("fail", 400.0)
    assert v[("b-fail", "classroom_links")] == ("fail", round(2 / 3, 4))
    assert v[("b-fail", "wifi")] == ("fail", 0.5)
    assert v[("b-fail", "ipv6")] == ("fail", 1.0)
    assert v[("c-inconclusive", "exit_bandwidth")] == ("inconclusive", None)
    assert v[("c-inconclusive", "all")][0] == "inconclusive"
    assert v[("d-silent-never", "all")] == ("no_data", 0.0)
    assert v[("e-slow-port", "exit_bandwidth")] == ("fail", 100.0)
    assert v[("f-noisy", "exit_bandwidth")] == ("pass", 940.0)
    assert v[("g-teaching-point", "exit_bandwidth")] == ("pass", 88.0)
    assert v[("h-few-ports", "classroom_links")] == ("fail", 0.5)
    assert "b-fail" in out and "alert(s) sent" in out
    # The round's roll-ups count the same verdicts, per county, city and province.
    every = influxd.rows("SELECT * FROM rollup", database)
    rolled = [r for r in every if r["target"] in ALL_TARGETS]
    assert len(rolled) == (2 + 1 + 1) * 5
    # Path quality is counted too (each school once, by its best uplink), for the
    # province's own dashboards only.
    quality = [r for r in every if r["target"] in QUALITY_TARGETS]
    assert len(quality) == len(every) - len(rolled) == (2 + 1 + 1) * 3
    assert all(r["schools"] == sum(r["level"] != "county" or county == r["county"]
                                   for county, _, _ in SCHOOLS.values()) for r in quality)
    for r in rolled:
        mine = [v[(sid, r["target"])][0] for sid, (county, _, _) in SCHOOLS.items()
                if r["level"] != "county" or county == r["county"]]
        assert [r[st] for st in ("schools", "pass", "fail", "inconclusive", "no_data")] == [
            len(mine), *(mine.count(st) for st in ("pass", "fail", "inconclusive", "no_data"))]
    # ... and the same figures went out for the national tier, one message per region.
    sent = wait_for(lambda: national.messages if len(national.messages) >= 4 else None, 10,
                    "roll-ups for the national tier")
    decoded = [p for topic, body, _ in sent
               for p in decode(topic, body, f"rollup-{unique}", frozenset({"37"}))]
    assert sorted((p.tags.get("county", ""), p.tags["level"], p.tags["target"],
                   p.fields["pass"], p.fields["schools"]) for p in decoded) == sorted(
        (r["county"] or "", r["level"], r["target"], r["pass"], r["schools"]) for r in rolled)
    national.close()

    expected_first = {("below_target", "b-fail", t) for t in
                      ("exit_bandwidth", "classroom_links", "wifi", "ipv6")} | {
        ("below_target", "e-slow-port", "exit_bandwidth"),
        ("below_target", "h-few-ports", "classroom_links"),
        ("silent", "b-fail", ""),
        ("probe_failing", "h-few-ports", "classroom_links")}
    got = wait_for(lambda: {(a["kind"], a["school_id"], a["subject"]) for a in alerts.json()}
                   if len(alerts.messages) >= len(expected_first) else None, 10, "alerts")
    assert got == expected_first
    assert {(b["title"], b["message"]) for b in Hook.bodies} >= {
        ("schoolnet-audit silent", "学校b-fail (b-fail) agent is silent: last reading "
         + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(
             min(r["time"] for r in influxd.rows(
                 "SELECT * FROM probe_run WHERE school = 'b-fail'", database)) / 1e9)))}
    assert len(Hook.bodies) == len(expected_first)

    # Second round: b-fail's exit recovers, it reports again, h's probe works;
    # a-pass's agent goes offline (last will). Nothing else is repeated.
    county = County(broker.port)
    with running_collector(config):
        county.tests("b-fail", [990, 980, 985, 970, 975])
        county.alive("b-fail")
        county.alive("h-few-ports", probe="classroom_links")
        county.client.publish(ident("a-pass").status_topic, json.dumps(
            {"v": 1, "school_id": "a-pass", "state": "offline", "ts": time.time_ns(),
             "agent_version": "0.1.0"}).encode(), qos=1, retain=True).wait_for_publish(5)
        wait_for(lambda: influxd.rows("SELECT * FROM agent_status", database), 10, "status")
        time.sleep(0.5)
    county.close()
    alerts.messages.clear()
    evaluate(config)
    second = {("recovered", "b-fail", "exit_bandwidth"), ("back_online", "b-fail", ""),
              ("probe_recovered", "h-few-ports", "classroom_links"), ("silent", "a-pass", "")}
    got = wait_for(lambda: {(a["kind"], a["school_id"], a["subject"]) for a in alerts.json()}
                   if len(alerts.messages) >= len(second) else None, 10, "second alerts")
    time.sleep(0.3)
    assert got == second and len(alerts.messages) == len(second)
    alerts.close()

    # The report: every registered school counts, reported or not.
    report = subprocess.run([sys.executable, "-m", "collector.cli", "report", "-c", str(config),
                          "--level", "county", "--format", "json", "--lang", "en"],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert report.returncode == 0, report.stderr
    rows = {r["code"]: r["indicators"] for r in json.loads(report.stdout)["rows"]
            if r["part"] == "all"}

    def met(code: str, key: str) -> tuple[int, float]:
        return rows[code][key]["met"], rows[code][key]["share"]
    # "Connected": a reading in the period, whatever was judged; d-silent-never sent none.
    assert rows["370102"]["connected"] == {"met": 3, "of": 4, "share": 0.75}
    assert met("370102", "verdict_exit_bandwidth") == (2, 0.5)
    assert met("370102", "verdict_ipv6") == (1, 0.25)
    assert rows["370103"]["connected"] == {"met": 4, "of": 4, "share": 1.0}
    assert met("370103", "verdict_exit_bandwidth") == (2, 0.5)
    assert met("370103", "verdict_classroom_links") == (0, 0.0)
    # One tier for every type: the 教学点's 88 Mbps meets ≥100M (≥ 0.8 × 100); e-slow-port's
    # 950 Mbps tests on a 100 Mbps port meet ≥100M but never ≥1G; f-noisy (940) meets both.
    assert met("370103", "exit_100")[0] == 3 and met("370103", "exit_1000")[0] == 1
