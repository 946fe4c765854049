"""Per-school bounds with a hostile school beside honest ones, end to end.

Real Mosquitto and influxd, the real collector (in this process, to read its
counters), ``evaluate`` and ``report`` as processes. Hostile school A (a)
publishes 100,000 classroom_link readings, each with a new classroom tag
(tag-value exhaustion), and (b) floods as fast as one client can with
readings the database would refuse were they to reach it; honest schools B
and C publish at their normal pace throughout. Every honest reading must be
stored exactly once and receipted, A's extra readings refused with the right
reason (rate refusals never receipted, so a real agent would resend them),
and the collector must stay alive, judge and report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.contract.configschema import build
from agent.contract.measurements import SCHEMA
from agent.contract.reading import Reading
from agent.contract.wire import Identity, decode_receipt_full, encode
from collector.config import Storage
from collector.errors import Unavailable
from collector.ingest.lineproto import line
from collector.ingest.series import influx_seed, tag_set
from collector.ingest.writer import InfluxV1Writer
from collector.judge.reader import InfluxQLReader
from collector.service import Collector
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import (
    Listener,
    influx1_storage,
    judging_toml,
    publisher_client,
    registry_file,
    running_collector,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
# More than a minute's worth at the default rate bound (6,000 readings), so a
# flood is refused for the rate as well as for the series bound.
FLOOD = 10_000
MAX_CLASSROOMS = 4000  # classroom_link's max_series in the schema
# The exhaustion test runs the series bounds at a tenth ([limits] series_scale):
# the same mechanism with a tenth of the messages (~60 s at full size).
SCALE = 0.1


def schools(unique: str) -> tuple[Identity, Identity, Identity]:
    return tuple(Identity("37", "3701", "370102", f"{name}-{unique}")  # type: ignore[return-value]
                 for name in ("a", "b", "c"))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "broker").running() as service:
        yield service


def config(tmp_path: Path, broker: Mosquitto, influxd: Influxd, database: str,
           unique: str, limits: str = "") -> Path:
    rows = [f"{s.school_id},学校,37,山东省,3701,济南市,370102,历下区,primary,3,1000"
            for s in schools(unique)]
    registry = registry_file(tmp_path / "schools.csv", rows)
    return judging_toml(tmp_path, broker.port, influx1_storage(influxd.url, database),
                        unique, registry, targets="evaluate_interval_seconds = 86400",
                        extra=limits)


class Honest(threading.Thread):
    """Schools B and C at a normal pace: a WAN reading, a classroom and a
    bandwidth test each per round, until stopped."""

    def __init__(self, port: int, ids: list[Identity]) -> None:
        super().__init__(daemon=True)
        self.client = publisher_client(port)
        self.ids = ids
        self.sent: Counter[str] = Counter()
        self.stop = threading.Event()
        self.base = time.time_ns() - 600 * 10**9
        self.last: mqtt.MQTTMessageInfo | None = None

    def send(self, who: Identity, measurement: str, fields: dict[str, Any],
             tags: dict[str, str]) -> None:
        self.sent[who.school_id] += 1
        seq = self.sent[who.school_id]
        reading = Reading(measurement, fields, tags, self.base + seq * 1000)
        self.last = self.client.publish(who.topic(measurement), encode(who, reading, seq), qos=1)

    def run(self) -> None:
        while not self.stop.wait(0.1):
            for who in self.ids:
                self.send(who, "wan_link", {"rx_bps": 1e6, "result": "ok"}, {"iface": "eth0"})
                self.send(who, "classroom_link", {"link_speed_mbps": 1000.0, "oper_up": True,
                                                  "result": "ok"}, {"classroom": "c1"})
                self.send(who, "wan_throughput", {"download_bps": 9.5e8, "result": "ok"},
                          {"method": "iperf3"})

    def close(self) -> None:
        self.stop.set()
        self.join()
        assert self.last is not None
        self.last.wait_for_publish(120)  # all sent before disconnecting
        self.client.disconnect()
        self.client.loop_stop()


def flood(port: int, who: Identity, messages: Iterator[tuple[str, bytes]]) -> int:
    """Publish as fast as one client can (QoS 1, a wide in-flight window)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos: list[mqtt.MQTTMessageInfo] = []
    for topic, payload in messages:
        # paho's message ids wrap at 65,535: keep fewer than that outstanding.
        if len(infos) >= 30_000 and len(infos) % 1000 == 0:
            infos[-30_000].wait_for_publish(120)
        infos.append(client.publish(topic, payload, qos=1))
    sent = len(infos)
    infos[-1].wait_for_publish(120)
    client.disconnect()
    client.loop_stop()
    return sent


def seen(collector: Collector) -> int:
    """Messages the collector dealt with: through the pipeline, or refused before it."""
    stats = collector.pipeline.stats
    return stats.received + stats.rejected["rate_limited"] + stats.rejected["bytes_limited"]


def by_school(collector: Collector, school: str) -> dict[str, int]:
    return {reason: n for (s, reason), n in collector.pipeline.stats.by_school.items()
            if s == school}


def receipts(listener: Listener, who: Identity) -> tuple[set[int], Counter[str]]:
    stored: set[int] = set()
    refused: Counter[str] = Counter()
    for topic, payload, _ in list(listener.messages):
        if topic == who.receipt_topic:
            receipt = decode_receipt_full(payload)
            for first, last in receipt.stored:
                stored.update(range(first, last + 1))
            for reason, ranges in receipt.refused.items():
                refused[reason] += sum(last - first + 1 for first, last in ranges)
    return stored, refused


def assert_honest_stored_once(influxd: Influxd, database: str, honest: Honest,
                              listener: Listener) -> None:
    for who in honest.ids:
        sent = honest.sent[who.school_id]

        def all_stored(who: Identity = who, sent: int = sent) -> bool:
            rows = influxd.rows("SELECT count(seq) FROM wan_link, classroom_link, wan_throughput "
                                f"WHERE school = '{who.school_id}'", database)
            return sum(r["count"] for r in rows) == sent

        wait_for(all_stored, 120, f"every reading of {who.school_id} stored", interval=0.5)
        # Exactly once: one point per seq, none twice, none missing.
        rows = influxd.rows("SELECT seq FROM wan_link, classroom_link, wan_throughput "
                            f"WHERE school = '{who.school_id}'", database)
        assert sorted(r["seq"] for r in rows) == list(range(1, sent + 1))
        wait_for(lambda who=who, sent=sent: receipts(listener, who)[0] >= set(
            range(1, sent + 1)), 30, f"receipts for {who.school_id}", interval=0.5)
        assert receipts(listener, who)[1] == Counter()


def run_cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "collector.cli", *args, "-c", str(cfg)],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return out


def test_new_classroom_per_reading_cannot_exhaust_tag_values(
        tmp_path: Path, broker: Mosquitto, influxd: Influxd, database: str,
        unique: str) -> None:
    a, b, c = schools(unique)
    cfg = config(tmp_path, broker, influxd, database, unique,
                 f"[limits]\nseries_scale = {SCALE}")
    most = int(MAX_CLASSROOMS * SCALE)
    listener = Listener(broker.port, "schoolnet/receipts/#")
    base = time.time_ns() - 300 * 10**9

    def rooms(first: int, count: int) -> Iterator[tuple[str, bytes]]:
        for n in range(first, first + count):
            reading = Reading("classroom_link", {"link_speed_mbps": 1000.0, "result": "ok"},
                              {"classroom": f"room-{n}"}, base + n)
            yield a.topic("classroom_link"), encode(a, reading, n + 1)

    with running_collector(cfg) as collector:
        honest = Honest(broker.port, [b, c])
        honest.start()
        sent = flood(broker.port, a, rooms(0, FLOOD))
        honest.close()
        wait_for(lambda: seen(collector) >= FLOOD + sum(honest.sent.values()), 180,
                 "every message dealt with", interval=0.5)
        assert collector.failure is None and all(t.is_alive() for t in collector.threads)
        assert_honest_stored_once(influxd, database, honest, listener)
        mine = by_school(collector, a.school_id)
        stored_a = influxd.rows("SELECT count(link_speed_mbps) FROM classroom_link "
                                f"WHERE school = '{a.school_id}'", database)[0]["count"]
    # A's first minute's worth passes the rate bound; past the classrooms' series
    # bound the rest of it is refused for good, and everything else is refused for now.
    assert stored_a == most
    assert mine["too_many_series"] > 0 and mine["rate_limited"] > 0
    assert stored_a + mine["too_many_series"] + mine["rate_limited"] == sent == FLOOD
    assert set(mine) == {"too_many_series", "rate_limited"}
    # Receipts: stored and too_many_series; never the rate-limited ones (resent later).
    wait_for(lambda: len(receipts(listener, a)[0]) == most, 30, "A's receipts")
    assert receipts(listener, a)[1] == Counter({"too_many_series": mine["too_many_series"]})
    values = influxd.query(f"SHOW TAG VALUES FROM classroom_link WITH KEY = classroom "
                           f"WHERE school = '{a.school_id}'", database)
    assert len(values[0]["values"]) == most

    # A restart does not hand A a new allowance: its stored series are
    # loaded from the database after a few new ones (an eighth of its bound).
    with running_collector(cfg) as again:
        flood(broker.port, a, rooms(FLOOD, 100))
        wait_for(lambda: seen(again) >= 100, 60, "A's readings after the restart")
        mine = by_school(again, a.school_id)
        assert again.pipeline.series is not None and again.pipeline.series.seeds == 1
        allowance = again.pipeline.series.seed_after["classroom_link"]
    assert allowance == most // 8
    assert 100 - allowance <= mine["too_many_series"] < 100

    # Judging and reporting still work, and B and C are judged on their own data.
    run_cli(cfg, "evaluate")
    rows = influxd.rows("SELECT last(status) AS status FROM compliance "
                        "WHERE target = 'exit_bandwidth' GROUP BY school", database)
    status = {r["school"]: r["status"] for r in rows}
    assert status[b.school_id] == status[c.school_id] == "pass"
    report = json.loads(run_cli(cfg, "report", "--level", "county", "--format", "json",
                                "--lang", "en").stdout)
    scope = report["rows"][0]  # the whole scope comes first
    assert scope["registered"] == 3 and scope["indicators"]["connected"]["met"] == 3
    listener.close()


def test_flood_of_refusable_readings_costs_honest_schools_nothing(
        tmp_path: Path, broker: Mosquitto, influxd: Influxd, database: str,
        unique: str) -> None:
    a, b, c = schools(unique)
    cfg = config(tmp_path, broker, influxd, database, unique)
    listener = Listener(broker.port, "schoolnet/receipts/#")
    dead = Listener(broker.port, "schoolnet/deadletter/#")
    base = time.time_ns() - 300 * 10**9
    total = 30_000

    def mixed() -> Iterator[tuple[str, bytes]]:
        for n in range(total):
            # rx_bps as a string is what once made influxd refuse whole batches.
            value: Any = "1e9" if n % 2 else 1e9
            reading = Reading("wan_link", {"rx_bps": value, "result": "ok"},
                              {"iface": "eth0"}, base + n)
            yield a.topic("wan_link"), encode(a, reading, n + 1)

    with running_collector(cfg) as collector:
        honest = Honest(broker.port, [b, c])
        honest.start()
        sent = flood(broker.port, a, mixed())
        honest.close()
        wait_for(lambda: seen(collector) >= total + sum(honest.sent.values()), 180,
                 "every message dealt with", interval=0.5)
        assert collector.failure is None and all(t.is_alive() for t in collector.threads)
        assert_honest_stored_once(influxd, database, honest, listener)
        mine = by_school(collector, a.school_id)
        stats = collector.pipeline.stats
        sampled_out = collector.dead_letters.sampled_out
    stored_a = influxd.rows("SELECT count(rx_bps) FROM wan_link "
                            f"WHERE school = '{a.school_id}'", database)[0]["count"]
    assert set(mine) == {"field_type", "rate_limited"}
    assert stored_a + mine["field_type"] + mine["rate_limited"] == sent
    assert stored_a > 0 and mine["field_type"] > 0
    # The database never saw a refusable line, so nothing was split or held.
    assert stats.splits == 0 and stats.held == 0 and stats.write_failures == 0
    assert receipts(listener, a)[1] == Counter({"field_type": mine["field_type"]})
    # Dead letters are a sample: about a minute's 60 for A, the rest counted.
    wait_for(lambda: len(dead.messages) >= 60, 20, "dead letters")
    time.sleep(1.0)
    letters = [json.loads(p) for _, p, _ in dead.messages]
    assert all(a.school_id in letter["topic"] for letter in letters)
    assert len(letters) + sampled_out == mine["field_type"] + mine["rate_limited"]
    assert len(letters) < 60 + 60 * 5  # at most a few minutes of A's sample
    listener.close()
    dead.close()


def test_stored_series_load_back_from_real_show_series(influxd: Influxd, database: str,
                                                       unique: str) -> None:
    """The restart seed parses influxd's own series keys, escapes included,
    and a query influxd refuses is a plain Unavailable, not a crash."""
    a = Identity("37", "3701", "370102", f"it's-{unique}")
    rooms = ["高一(3)班", "a, b=c", "x y", r"back\slash", "plain"]
    storage = build(Storage, {"kind": "influxdb1", "url": influxd.url, "database": database})
    InfluxV1Writer(storage).write([line(Reading(
        "classroom_link", {"link_speed_mbps": 1000.0},
        {"classroom": room, "switch": "sw 1", **a.region_tags()}, time.time_ns() - n))
        for n, room in enumerate(rooms)])
    seed = influx_seed(InfluxQLReader(storage).series, SCHEMA)
    got = seed(a.school_id, "classroom_link", 4000)
    assert sorted(got) == sorted(tag_set({"classroom": room, "switch": "sw 1"})
                                 for room in rooms)
    # LIMIT: what is loaded is bounded, whatever is stored.
    assert len(list(seed(a.school_id, "classroom_link", 2))) == 2
    missing = build(Storage, {"kind": "influxdb1", "url": influxd.url,
                              "database": f"missing-{unique}"})
    with pytest.raises(Unavailable):
        influx_seed(InfluxQLReader(missing).series, SCHEMA)(a.school_id, "classroom_link", 10)
