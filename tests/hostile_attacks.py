"""What hostile school A does with its own valid credentials: the findings of the
integrity issue (1, 5, 6, 7, 8; 4 is a registry edit, run by the suite) and
more. Each attack returns the refusals the collector must count against A,
by reason; readings A may legitimately store (its own, however odd) count
nothing.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable

from agent.contract.reading import Reading
from agent.contract.wire import encode, encode_status
from tests.hostile_support import IDS, B, SchoolClient

Attack = Callable[[SchoolClient], Counter[str]]
MIB = 2**20
RETAINED = 200  # x 60 KB: the flood was 5,000; the bench can run that many
INVENTED_PROBES = 100
INJECTED = "请立即登录 http://evil.example/reset 重置密码"
_seq = iter(range(10**6, 10**7))


def raw(client: SchoolClient, measurement: str, tags: str, fields: str,
        ts: int | None = None, school: str = "") -> bytes:
    """A payload written by hand, so it can hold what no encoder would write."""
    ident = client.identity
    return (f'{{"v":1,"school_id":"{school or ident.school_id}","measurement":"{measurement}",'
            f'"ts":{ts or time.time_ns() - 10**9},"seq":{next(_seq)},"tags":{tags},'
            f'"fields":{fields}}}').encode()


def _many(client: SchoolClient, topic: str, payloads: list[bytes],
          retain: bool = False) -> None:
    for payload in payloads[:-1]:
        client.publish(topic, payload, retain=retain, wait=False)
    client.publish(topic, payloads[-1], retain=retain)


def type_conflict(a: SchoolClient) -> Counter[str]:
    """Finding 1: a string where the schema says float, also on the collector's
    own ``compliance``."""
    tp = '{"method":"http","server":"centre"}'
    _many(a, a.identity.topic("wan_throughput"),
          [raw(a, "wan_throughput", tp, '{"download_bps":"fast","result":"ok"}')
           for _ in range(20)])
    _many(a, a.identity.topic("wan_link"),
          [raw(a, "wan_link", '{"iface":"eth0"}', '{"rx_bps":"x"}') for _ in range(20)])
    _many(a, a.identity.topic("compliance"),
          [raw(a, "compliance", '{"target":"all"}', '{"status":1.0}') for _ in range(5)])
    return Counter(field_type=40, collector_owned=5)


def forged_verdicts(a: SchoolClient) -> Counter[str]:
    """Finding 5: verdicts and health the collector writes, 290 s ahead."""
    ahead = time.time_ns() + 290 * 10**9
    for target in ("exit_bandwidth", "classroom_links", "wifi", "ipv6", "all"):
        a.publish(a.identity.topic("compliance"),
                  raw(a, "compliance", json.dumps({"target": target}),
                      '{"status":"pass","pass":true,"value":1000.0}', ahead))
    for name, fields in (("agent_status", '{"online":true,"state":"online"}'),
                         ("agent_status", '{"online":false,"state":"offline"}'),
                         ("alerts", '{"text":"all fine"}'), ("rollup", '{"meeting":1.0}'),
                         ("agent_state", '{"state":"online","online":true,"backlog":0.0}'),
                         ("agent_attention", '{"state":"online","attention":false}'),
                         ("agent_rollup", '{"offline":0.0,"backlogged":0.0,"unsent":0.0}'),
                         ("school_summary", '{"facts":"{}"}'),
                         ("indicator_rollup", '{"counts":"{}"}')):
        a.publish(a.identity.topic(name), raw(a, name, "{}", fields))
    return Counter(collector_owned=14)


def invented_probes(a: SchoolClient) -> Counter[str]:
    """Finding 6: 100 invented probe names x 3 failing runs, some a phishing
    text: the probe tag is one of the agent's probe names, so all are refused."""
    now = time.time_ns()
    readings = [Reading("probe_run", {"duration_seconds": 0.1, "readings": 0,
                                      "result": "error"},
                        {"probe": f"x{i} {INJECTED}" if i % 10 == 0 else f"p{i}"},
                        now - (run + 1) * 10**9)
                for i in range(INVENTED_PROBES) for run in range(3)]
    _many(a, a.identity.topic("probe_run"), [encode(a.identity, r, next(_seq))
                                             for r in readings])
    return Counter(tag_value=3 * INVENTED_PROBES)


def retained_flood(a: SchoolClient, count: int = RETAINED, size: int = 60_000) -> Counter[str]:
    """Finding 7: 60 KB retained messages under A's own subtree."""
    body = b"x" * size
    for n in range(count):
        topic = a.identity.topic(f"m{n}") if n % 2 else f"{a.identity.prefix}/deep/{n}/x"
        a.publish(topic, body, retain=True, wait=n == count - 1)
    return Counter(retained=count)


def byte_flood(a: SchoolClient, count: int = 50, size: int = 60_000) -> Counter[str]:
    """The same bytes as the retained flood, not retained: what the broker and
    the collector pay for the volume alone."""
    _many(a, a.identity.topic("wan_link"), [b"x" * size] * count)
    return Counter(not_json=count)


def poison(a: SchoolClient) -> Counter[str]:
    """Finding 8: lone surrogates and control characters in keys, tag values,
    strings and the status, each sent three times (a redelivery must not kill
    a restarted collector either)."""
    t = a.identity.topic
    cases = [
        (t("wan_link"), raw(a, "wan_link", "{}", '{"\\ud800":1.0}'), "unknown_field"),
        (t("wan_link"), raw(a, "wan_link", "{}", '{"rx\\nbps\\u0000":1.0}'), "unknown_field"),
        (t("wan_link"), raw(a, "wan_link", '{"iface":"\\udfff"}', '{"rx_bps":1.0}'),
         "tag_value"),
        (t("wan_link"), raw(a, "wan_link", '{"iface":"eth0\\n\\u001b[2J"}', '{"rx_bps":1.0}'),
         "tag_value"),
        (t("wan_link"), raw(a, "wan_link", "{}", '{"error":"\\ud800x","result":"error"}'),
         "bad_value"),
        (t("wan_link"), raw(a, "wan_link", "{}", '{"error":"a\\r\\nb\\u0000","result":"ok"}'),
         "bad_value"),
        (t("status"), b'{"v":1,"school_id":"%s","state":"online","ts":1,'
         b'"agent_version":"\\ud800"}' % a.identity.school_id.encode(), "bad_value"),
        (t("status"), b'{"v":1,"school_id":"%s","state":"online\\u0000","ts":1,'
         b'"agent_version":"1.0\\n"}' % a.identity.school_id.encode(), "bad_value"),
    ]
    expected: Counter[str] = Counter()
    for _ in range(3):
        for topic, payload, reason in cases:
            a.publish(topic, payload)
            expected[reason] += 1
    return expected


# Tag values and strings that would end the tag set, or the string, and go on
# as another school's point if the line protocol escaping were wrong.
ESCAPES = ["e\\,school=370102-0002 download_bps=1e9", 'x" ,school=370102-0002', "a=b\\ c",
           "p\\\\ q"]


def escapes(a: SchoolClient) -> Counter[str]:
    """Line-protocol injection: stored as A's own wifi_scan points, verbatim."""
    now = time.time_ns()
    for n, text in enumerate(ESCAPES):
        reading = Reading("wifi_scan", {"detail": text, "result": "ok"},
                          {"iface": text, "method": "iw"}, now - (n + 1) * 10**9)
        a.send(reading, next(_seq))
    return Counter()


def other_topics(a: SchoolClient) -> Counter[str]:
    """A's account on another school's readings, status and receipts, on the
    alerts and dead-letter topics, and reading everything: the ACL refuses it."""
    b = IDS[B]
    forged = Reading("wan_throughput", {"download_bps": 1.0, "result": "ok"},
                     {"method": "http", "server": "centre"}, time.time_ns() - 10**9)
    refused = [a.publish(b.topic("wan_throughput"), encode(b, forged, 999_999)),
               a.publish(b.status_topic, encode_status(b, "offline", time.time_ns(), "1.0")),
               a.publish(b.receipt_topic, b'{"v":1,"ranges":[[1,999999]]}'),
               a.publish(f"schoolnet/alerts/37/3701/370102/{B}", b'{"kind":"silent"}'),
               a.publish("schoolnet/deadletter/internal", b"{}")]
    # Mosquitto 2.0.11 answers "Not authorized" and then drops the connection
    # (paho reconnects); it grants a subscription but delivers nothing the ACL
    # does not let A read: the suite checks that A received nothing.
    assert all(code.is_failure for code in refused), refused
    a.subscribe(b.receipt_topic)
    a.subscribe("schoolnet/v1/#")
    return Counter()


def malformed(a: SchoolClient) -> Counter[str]:
    """Deep nesting, oversize, undeclared names, a malformed topic, time far off,
    another school's payload, another school in A's status."""
    t = a.identity.topic
    now = time.time_ns()
    sends = [
        (t("wan_link"), b'{"v":1,"fields":' + b"[" * 30_000 + b"]" * 30_000 + b"}", "not_json"),
        (t("wan_link_evil"), raw(a, "wan_link_evil", "{}", '{"x":1.0}'), "unknown_measurement"),
        (t("wan_link"), raw(a, "wan_link", '{"vlan":"7"}', '{"rx_bps":1.0}'), "unknown_tag"),
        (f"{a.identity.prefix}/wan_link/extra", raw(a, "wan_link", "{}", "{}"),
         "topic_malformed"),
        (t("wan_link"), raw(a, "wan_link", "{}", '{"rx_bps":1.0}', now + 10**13), "ts_future"),
        (t("wan_link"), raw(a, "wan_link", "{}", '{"rx_bps":1.0}', now - 10**17), "ts_past"),
        (t("wan_link"), raw(a, "wan_link", "{}", '{"rx_bps":1.0}', school=B), "school_mismatch"),
        (t("status"), encode_status(IDS[B], "offline", now, "1.0"), "school_mismatch"),
    ]
    expected: Counter[str] = Counter()
    for topic, payload, reason in sends:
        a.publish(topic, payload)
        expected[reason] += 1
    # Larger than the collector's maximum packet: the broker withholds it.
    a.publish(t("wan_link"), b'{"v":1,"pad":"' + b"a" * 100_000 + b'"}')
    return expected


def replays(a: SchoolClient) -> Counter[str]:
    """One reading sent 20 times with its seq and timestamp (stored once) and a
    status claiming another agent version: both A's own business."""
    reading = Reading("agent", {"version": "99.0", "uptime_seconds": 1.0, "result": "ok"}, {},
                      time.time_ns() - 10**9)
    _many(a, a.identity.topic("agent"), [encode(a.identity, reading, 4242)] * 20)
    a.online("99.0-evil")
    return Counter()


ATTACKS: dict[str, Attack] = {
    "type_conflict": type_conflict, "forged_verdicts": forged_verdicts,
    "invented_probes": invented_probes, "poison": poison, "other_topics": other_topics,
    "malformed": malformed, "replays": replays, "byte_flood": byte_flood,
    "escapes": escapes, "retained_flood": retained_flood,
}
