"""The real collector against ejabberd's mod_mqtt: agent → ejabberd → collector
→ influxd, and how fast a backlog drains when the broker keeps one message in
flight (tests/test_ejabberd_broker.py): the collector closes a batch when it
holds ``receive_maximum`` messages or after ``max_delay_seconds``, so with the
default receive maximum every message waits out the delay alone, and with
``receive_maximum = 1`` it is written at once.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from tests.ejabberd_support import Recorder
from tests.services import Ejabberd, Influxd, wait_for
from tests.support import agent_toml, collector_toml, influx1_storage, running_collector
from tests.test_end_to_end import PROBES, run_agent_once

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)


def login(path: Path, section: str, user: str, password: str) -> Path:
    """Give a config's [mqtt] table an ejabberd account."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(section, f'{section}username = "{user}"\n'
                                          f'password = "{password}"\n', 1), encoding="utf-8")
    return path


def collector_config(tmp: Path, broker: Ejabberd, influxd: Influxd, database: str,
                     client_id: str, extra: str = "") -> Path:
    path = collector_toml(tmp, broker.port, influx1_storage(influxd.url, database), client_id)
    path.write_text(path.read_text(encoding="utf-8").replace("[mqtt]\n", f"[mqtt]\n{extra}"),
                    encoding="utf-8")
    return login(path, "[mqtt]\n", "collector", broker.password)


def test_reading_reaches_influxdb_through_ejabberd(tmp_path: Path, ejabberd: Ejabberd,
                                                   influxd: Influxd, database: str,
                                                   unique: str) -> None:
    cfg = collector_config(tmp_path, ejabberd, influxd, database, unique)
    agent = login(agent_toml(tmp_path, ejabberd.port, PROBES), "tls = false\n", "school",
                  ejabberd.password)
    with running_collector(cfg) as collector:
        printed = run_agent_once(agent)
        wan = next(r for r in printed if r["measurement"] == "wan_link")
        rows = wait_for(lambda: influxd.rows("SELECT * FROM wan_link", database), 10,
                        "wan_link row")
        wait_for(lambda: influxd.rows("SELECT * FROM agent_status", database), 10,
                 "status rows")
    assert [row["time"] for row in rows] == [wan["ts"]]
    assert rows[0]["rx_bps"] == float(wan["fields"]["rx_bps"])
    assert collector.pipeline.stats.rejected == {}


def drain_seconds(tmp: Path, broker: Ejabberd, influxd: Influxd, database: str,
                  client_id: str, extra: str, count: int) -> tuple[float, int]:
    """Seconds for a restarted collector to store ``count`` readings queued
    while it was away, and the batches it wrote them in."""
    school = Identity("37", "3701", "370102", f"e-{client_id}")
    # Only this school's readings: earlier tests' retained statuses would
    # otherwise share a batch with a reading now and then.
    cfg = collector_config(tmp, broker, influxd, database, client_id,
                           f'{extra}topic = "{school.prefix}/#"\n')
    with running_collector(cfg):
        pass  # the session, with its subscription, waits for the collector
    base = time.time_ns() - 10**11
    sender = Recorder(broker, "", user="school")
    sender.publish(school.topic("wan_link"), [
        encode(school, Reading("wan_link", {"rx_bps": float(n), "result": "ok"}, {}, base + n),
               n + 1) for n in range(count)])
    sender.close()
    started = time.monotonic()
    query = f"SELECT count(rx_bps) FROM wan_link WHERE school = '{school.school_id}'"
    with running_collector(cfg) as collector:
        wait_for(lambda: influxd.rows(query, database)[0]["count"] == count, 60, "all stored",
                 interval=0.02)
        elapsed = time.monotonic() - started
        # The database shows a batch a moment before the pipeline counts it.
        wait_for(lambda: collector.pipeline.stats.stored >= count, 30, "all counted")
        batches = collector.pipeline.stats.batches
    return elapsed, batches


def test_receive_maximum_1_drains_a_backlog_without_waiting_out_the_batch_delay(
        tmp_path: Path, ejabberd: Ejabberd, influxd: Influxd, database: str,
        unique: str) -> None:
    count = 100  # max_delay_seconds is 0.05 in these tests' collector config
    slow, slow_batches = drain_seconds(tmp_path, ejabberd, influxd, database, f"{unique}a",
                                       "", count)
    fast, fast_batches = drain_seconds(tmp_path, ejabberd, influxd, database, f"{unique}b",
                                       "receive_maximum = 1\n", count)
    log.info("ejabberd backlog of %d: %.2f s at receive maximum 1000, %.2f s at 1",
             count, slow, fast)
    assert slow_batches == fast_batches == count  # one message per batch either way
    assert slow >= count * 0.05  # each waited out the batch delay
    assert fast < slow / 2
