"""A collector fed 1,000 malformed or spoofed messages among 1,000 good ones.

Real Mosquitto, real influxd: every good reading is stored, every bad one is
rejected with a counted reason and dead-lettered, and the collector keeps going.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import (
    Listener,
    collector_toml,
    influx1_storage,
    publisher_client,
    running_collector,
)
from tests.test_wire import BAD

# Integration tier: a real Mosquitto and influxd.
pytestmark = pytest.mark.integration

GOOD = 1000


def test_thousand_bad_among_thousand_good(tmp_path: Path, broker: Mosquitto, influxd: Influxd,
                                           database: str, unique: str) -> None:
    identity = Identity("37", "3701", "370102", f"mix-{unique}")
    bad = [(reason, topic.replace("370102-0001", identity.school_id), payload)
           for reason, topic, payload in BAD if topic.startswith("schoolnet/v1/")]
    bad = [(r, t, p.replace(b"370102-0001", identity.school_id.encode())
            if r != "school_mismatch" else p) for r, t, p in bad]
    dead = Listener(broker.port, "schoolnet/deadletter/#")
    # Every refusal is dead-lettered here, not the usual sample of 60 a minute.
    cfg = collector_toml(tmp_path, broker.port, influx1_storage(influxd.url, database), unique,
                         "[limits]\ndead_letters_per_minute = 1000000")
    expected: Counter[str] = Counter()
    base = time.time_ns() - 10**12
    with running_collector(cfg) as collector:
        client = publisher_client(broker.port)
        for i in range(GOOD):
            reading = Reading("wan_link", {"rx_bps": float(i), "result": "ok"},
                              {"iface": "eth0"}, base + i * 1000)
            client.publish(identity.topic("wan_link"), encode(identity, reading, i + 1), qos=1)
            reason, topic, payload = bad[i % len(bad)]
            expected[reason] += 1
            client.publish(topic, payload, qos=1)
        wait_for(lambda: collector.pipeline.stats.received >= 2 * GOOD, 60,
                 "all messages processed", interval=0.2)
        # Still alive and storing after the flood.
        late = Reading("wan_link", {"rx_bps": 1e9, "result": "ok"}, {"iface": "eth0"},
                       base + 10**9)
        client.publish(identity.topic("wan_link"), encode(identity, late, GOOD + 1),
                       qos=1).wait_for_publish(5)
        wait_for(lambda: collector.pipeline.stats.stored >= GOOD + 1, 20, "late reading")
        stats = collector.pipeline.stats
        client.disconnect()
        client.loop_stop()
    wait_for(lambda: len(dead.messages) >= GOOD, 20, "dead letters")
    dead.close()
    rows = influxd.rows(f"SELECT count(rx_bps), sum(rx_bps) FROM wan_link "
                        f"WHERE school = '{identity.school_id}'", database)
    assert rows[0]["count"] == GOOD + 1
    assert rows[0]["sum"] == sum(range(GOOD)) + 1e9
    # Statuses other tests left retained on the shared broker are stored too.
    assert stats.stored - stats.statuses == GOOD + 1
    assert dict(stats.rejected) == dict(expected)
    letters = [json.loads(p) for _, p, _ in dead.messages]
    assert Counter(letter["reason"] for letter in letters) == expected
    assert all(t == f"schoolnet/deadletter/{json.loads(p)['reason']}"
               for t, p, _ in dead.messages)
