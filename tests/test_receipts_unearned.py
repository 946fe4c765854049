"""Receipts the agent did not earn delete nothing it has not sent: a retained
receipt for everything, and a live one for readings the broker refused, from
another client with the collector's rights, against a real Mosquitto with an ACL.
"""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode, encode_receipt
from agent.spool import Spool
from tests.agent_process import SCHOOL, Agent, rows, write_config
from tests.services import Mosquitto

pytestmark = pytest.mark.integration

# The school may publish only its own readings and read only its own receipts.
ACL = """user school-a
topic write schoolnet/v1/37/3701/370102/spool-1/#
topic read schoolnet/receipts/v1/37/3701/370102/spool-1

user collector
topic readwrite #
"""


def collector_client(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="forger",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set("collector")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_retained_and_forged_receipts_delete_no_unsent_reading(tmp_path: Path) -> None:
    (tmp_path / "acl").write_text(ACL)
    # Mosquitto 2.0.11 with max_queued_messages 0 (the helper's default) drops
    # the connection of a client whose publish the ACL denies, instead of
    # sending the PUBACK that says so; a bound keeps the connection up.
    broker = Mosquitto(tmp_path / "broker",
                       f"acl_file {tmp_path / 'acl'}\nmax_queued_messages 100000")
    broker.start()
    forger = collector_client(broker.port)
    try:
        # A receipt for everything, retained: before the fix, every connect deleted the spool.
        forger.publish(SCHOOL.receipt_topic, encode_receipt(list(range(1, 5001))), qos=1,
                       retain=True).wait_for_publish(10)
        state = tmp_path / "state"
        spool = Spool(state / "spool.sqlite3")
        other = Identity("37", "3701", "370102", "spool-2")  # the ACL refuses these
        for n in range(200):
            owner = other if n % 2 == 0 else SCHOOL  # odd seqs: another school's
            reading = Reading("agent", {"published": n, "result": "ok"}, {}, 10**18 + n)
            spool.append(owner.topic("agent"),
                         lambda seq, o=owner, r=reading: encode(o, r, seq))
        spool.close()
        config = write_config(tmp_path, broker.port, state, probes="", username="school-a")
        agent = Agent(config)
        try:
            agent.wait_log("broker rejected reading seq", count=100)
            agent.wait_log("ignoring a retained receipt")
            # Live, not retained, from a client with the collector's rights, for
            # the readings the broker refused (never sent) and more to come.
            unsent = list(range(1, 201, 2))
            forger.publish(SCHOOL.receipt_topic, encode_receipt(
                unsent + list(range(202, 5001)), {"field_type": unsent}), qos=1
            ).wait_for_publish(10)
            agent.wait_log("receipt: 0 of the readings it names were sent")
        finally:
            agent.stop()
        # Again: the sent half now has tries > 0, and the retained receipt comes
        # back on this connect; it must not delete them either.
        agent = Agent(config)
        try:
            agent.wait_log("broker rejected reading seq", count=100)
            agent.wait_log("ignoring a retained receipt")
        finally:
            agent.stop()
    finally:
        forger.disconnect()
        forger.loop_stop()
        broker.stop()
    tries = dict(rows(state / "spool.sqlite3"))
    assert set(range(1, 201)) <= set(tries), sorted(set(range(1, 201)) - set(tries))
    # The school's own half was sent (and kept); the refused half never was.
    assert all(tries[s] >= 1 for s in range(2, 201, 2)), tries
    assert all(tries[s] == 0 for s in range(1, 201, 2)), tries
