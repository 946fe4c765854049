"""What ejabberd's MQTT 5 broker (mod_mqtt, Debian's ejabberd 23.01) does, found
with paho against a real instance; each finding is an assertion here, so an
ejabberd that changes is noticed.

- Accounts: every client logs in as a registered user (``ejabberdctl
  register``; ``user`` or ``user@host``); a session is (user, client id).
  An unknown user gets CONNACK 0x87 (not authorized).
- CONNACK properties: Session Expiry Interval = the smaller of the client's
  and ``session_expiry`` (default 5 minutes!); Server Keep Alive echoes the
  client's keepalive (it never imposes its own); Topic Alias Maximum =
  ``max_topic_aliases`` (100); Shared Subscription Available = 0; an
  Assigned Client Identifier only for an empty client id. No Receive
  Maximum, Maximum Packet Size, Retain Available or Wildcard Subscription
  Available (so: 65535, unlimited, yes, yes).
- Persistent sessions: a resumed session (clean start off) gets what was
  queued while it was away, whole and in order.
- Queue limit: ``max_queue`` (default 5000) messages per offline session,
  plus one in flight. One more and ejabberd drops the whole queue *and the
  session*: the next
  CONNECT finds no session and nothing is delivered. ``queue_type: file``
  only moves the queue out of RAM.
- Receive Maximum: ignored; ejabberd keeps exactly ONE QoS 1 message in
  flight per session and sends the next only after its PUBACK.
- QoS 1 redelivery: the unacked message comes back with DUP set when the
  session resumes on a new connection, before anything else.
- Broker restart: sessions live in processes and RAM tables, so a restart
  loses them all: subscriptions, queues and unacked messages. Retained
  messages are on disc and survive.
- Shared subscriptions: a ``$share/...`` filter is answered with DISCONNECT
  0x9E (shared subscriptions not supported), not a SUBACK.
- ``max_topic_depth`` (default 8): a deeper filter is refused in the SUBACK
  (0x8F); the project's topics have 7 levels.
- Retained messages: kept, delivered with the retain flag to new
  subscribers, cleared by an empty retained publish.
- Will: published when a client vanishes, not after a DISCONNECT.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.ejabberd_support import Recorder, publish
from tests.services import Ejabberd, wait_for

pytestmark = pytest.mark.integration

NOT_AUTHORIZED, TOPIC_FILTER_INVALID, SHARED_NOT_SUPPORTED = 0x87, 0x8F, 0x9E


def test_connack_properties(ejabberd: Ejabberd, unique: str) -> None:
    named = Recorder(ejabberd, f"c-{unique}", session_expiry=3600, keepalive=17,
                     receive_maximum=10)
    assigned = Recorder(ejabberd, "", session_expiry=10**8)
    refused = Recorder(ejabberd, f"x-{unique}", user="nobody")
    named.close()
    assigned.close()
    assert named.connack == (False, 0, {"SessionExpiryInterval": 3600, "ServerKeepAlive": 17,
                                        "TopicAliasMaximum": 100,
                                        "SharedSubscriptionAvailable": 0})
    props = assigned.connack[2] if assigned.connack else {}
    assert props["SessionExpiryInterval"] == 7 * 86400  # capped by session_expiry
    assert props["AssignedClientIdentifier"]
    assert refused.connack and refused.connack[1] == NOT_AUTHORIZED


def test_backlog_queued_while_away_arrives_whole_and_in_order(ejabberd: Ejabberd,
                                                              unique: str) -> None:
    away = Recorder(ejabberd, f"b-{unique}", clean_start=False)
    away.subscribe(f"b/{unique}/#")
    away.close()
    sent = [b"%d" % i for i in range(50)]
    publish(ejabberd, f"b/{unique}/x", sent)
    back = Recorder(ejabberd, f"b-{unique}", clean_start=False)
    try:
        wait_for(lambda: len(back.payloads()) == 50, 10, "the backlog")
        assert back.connack and back.connack[0]  # session present
        assert back.payloads() == sent
    finally:
        back.close()


def test_one_unacked_message_at_a_time_whatever_the_receive_maximum(
        ejabberd: Ejabberd, unique: str) -> None:
    sub = Recorder(ejabberd, f"r-{unique}", receive_maximum=10, manual_ack=True)
    try:
        sub.subscribe(f"r/{unique}/#")
        publish(ejabberd, f"r/{unique}/x", [b"%d" % i for i in range(20)])
        wait_for(lambda: sub.payloads(), 10, "the first message")
        time.sleep(1.0)
        assert sub.payloads() == [b"0"]  # not 10
        sub.ack()
        wait_for(lambda: len(sub.payloads()) == 2, 10, "the next after one PUBACK")
        time.sleep(0.5)
        assert len(sub.payloads()) == 2
        while len(sub.payloads()) < 20:
            count = len(sub.payloads())
            sub.ack()
            wait_for(lambda n=count: len(sub.payloads()) > n, 10, f"more than {count}")
        assert sub.payloads() == [b"%d" % i for i in range(20)]
    finally:
        sub.close()


def test_unacked_message_comes_back_with_dup_after_a_reconnect(ejabberd: Ejabberd,
                                                               unique: str) -> None:
    first = Recorder(ejabberd, f"d-{unique}", clean_start=False, manual_ack=True)
    first.subscribe(f"d/{unique}/#")
    publish(ejabberd, f"d/{unique}/x", [b"a", b"b", b"c"])
    wait_for(lambda: first.payloads() == [b"a"], 10, "the one in flight")
    first.close()
    second = Recorder(ejabberd, f"d-{unique}", clean_start=False, manual_ack=True)
    try:
        wait_for(lambda: second.payloads() == [b"a"], 10, "redelivery")
        assert second.messages[0].dup
        second.ack()
        wait_for(lambda: len(second.payloads()) == 2, 10, "the next")
        assert second.payloads() == [b"a", b"b"]
        assert not second.messages[1].dup
    finally:
        second.close()


def test_one_message_past_max_queue_ends_the_session(tmp_path: Path) -> None:
    with Ejabberd(tmp_path, max_queue=100).running() as small:
        # The first message sits in the session's one in-flight slot, the
        # rest in its queue: 101 fit.
        for name, count in (("fits", 101), ("overflows", 102)):
            away = Recorder(small, name, clean_start=False)
            away.subscribe(f"q/{name}/#")
            away.close()
            publish(small, f"q/{name}/x", [b"%d" % i for i in range(count)])
            back = Recorder(small, name, clean_start=False)
            time.sleep(1.0)
            back.close()
            if count == 101:
                assert back.connack and back.connack[0]
                assert len(back.payloads()) == 101
            else:  # queue and session gone: not even the first 101 remain
                assert back.connack and not back.connack[0]
                assert back.payloads() == []


def test_a_shared_subscription_is_answered_with_disconnect(ejabberd: Ejabberd,
                                                           unique: str) -> None:
    sub = Recorder(ejabberd, f"s-{unique}")
    try:
        sub.client.subscribe(f"$share/g/s/{unique}/#", qos=1)
        wait_for(lambda: sub.disconnects, 10, "DISCONNECT")
        assert sub.disconnects[0] == SHARED_NOT_SUPPORTED
        assert sub.subacks == []
    finally:
        sub.close()


def test_topic_depth(ejabberd: Ejabberd, unique: str) -> None:
    sub = Recorder(ejabberd, f"t-{unique}")
    try:
        sub.subscribe(f"{unique}/v1/a/b/c/d/e/f/#")  # 9 levels
        sub.subscribe(f"{unique}/v1/+/+/+/+/+")  # 7, as the collector's readings
        assert sub.subacks == [TOPIC_FILTER_INVALID, 1]
        topic = f"{unique}/v1/37/3701/370102/370102-0001/wan_link"  # the project's 7
        publish(ejabberd, topic, [b"x"])
        wait_for(lambda: sub.payloads() == [b"x"], 10, "a 7-level topic")
        assert sub.messages[0].topic == topic
    finally:
        sub.close()


def test_retained_message_kept_and_cleared(ejabberd: Ejabberd, unique: str) -> None:
    publish(ejabberd, f"k/{unique}/status", [b"online"], retain=True)
    late = Recorder(ejabberd, f"k1-{unique}")
    late.subscribe(f"k/{unique}/#")
    wait_for(lambda: late.payloads() == [b"online"], 10, "the retained message")
    assert late.messages[0].retain
    late.close()
    publish(ejabberd, f"k/{unique}/status", [b""], retain=True)
    later = Recorder(ejabberd, f"k2-{unique}")
    later.subscribe(f"k/{unique}/#")
    time.sleep(0.5)
    later.close()
    assert later.payloads() == []


def test_will_goes_out_when_a_client_vanishes_only(ejabberd: Ejabberd, unique: str) -> None:
    watcher = Recorder(ejabberd, f"w-{unique}")
    watcher.subscribe(f"w/{unique}/#")
    try:
        polite = Recorder(ejabberd, f"w1-{unique}", will=(f"w/{unique}/polite", b"gone"))
        polite.close()
        crashed = Recorder(ejabberd, f"w2-{unique}", will=(f"w/{unique}/crashed", b"gone"))
        crashed.drop()
        wait_for(lambda: watcher.messages, 10, "the will")
        time.sleep(0.5)
        assert [m.topic for m in watcher.messages] == [f"w/{unique}/crashed"]
    finally:
        watcher.close()


def test_a_restart_loses_sessions_but_keeps_retained(ejabberd: Ejabberd, unique: str) -> None:
    publish(ejabberd, f"z/{unique}/status", [b"online"], retain=True)
    sub = Recorder(ejabberd, f"z-{unique}", clean_start=False, manual_ack=True)
    sub.subscribe(f"z/{unique}/x")
    publish(ejabberd, f"z/{unique}/x", [b"unacked", b"queued"])
    wait_for(lambda: sub.payloads() == [b"unacked"], 10, "one in flight")
    sub.client.loop_stop()
    ejabberd.stop()
    ejabberd.start()
    back = Recorder(ejabberd, f"z-{unique}", clean_start=False, manual_ack=True)
    late = Recorder(ejabberd, f"z2-{unique}")
    late.subscribe(f"z/{unique}/#")
    time.sleep(1.0)
    back.close()
    late.close()
    assert back.connack and not back.connack[0]  # no session after the restart
    assert back.payloads() == []
    assert late.payloads() == [b"online"]
