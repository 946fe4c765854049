"""The collector's decode-and-check of one reading: the stdlib JSON decoder with
the wire and schema checks (what the collector runs) against msgspec decoding
into typed structs in one pass, when msgspec is installed.

    python -m tests.bench.bench_schema_decode [N]

msgspec's typed decode covers types and unknown keys only; the ranges, string
bounds and vocabularies still need the schema's checks, and its errors are
messages, not the reason codes the dead letters and receipts carry.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode, parse_topic
from collector.ingest.validate import Validator

try:
    import msgspec
except ImportError:  # optional: only this comparison needs it
    msgspec = None

if msgspec is not None:
    class WanLinkFields(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
        rx_bps: float | None = None
        tx_bps: float | None = None
        link_speed_mbps: float | None = None
        result: str | None = None

    class WanLinkTags(msgspec.Struct, forbid_unknown_fields=True):
        iface: str | None = None

    class Envelope(msgspec.Struct, forbid_unknown_fields=True):
        v: int
        school_id: str
        measurement: str
        ts: int
        seq: int
        tags: WanLinkTags
        fields: WanLinkFields


ID = Identity("37", "3701", "370102", "s1")


def payloads(n: int) -> list[tuple[str, bytes]]:
    now = time.time_ns()
    return [(ID.topic("wan_link"), encode(ID, Reading(
        "wan_link", {"rx_bps": float(i), "tx_bps": 1e6, "link_speed_mbps": 1000,
                     "result": "ok"}, {"iface": "eth0"}, now), i)) for i in range(n)]


def rate(label: str, fn: Any, items: list[tuple[str, bytes]]) -> float:
    started = time.perf_counter()
    for topic, payload in items:
        fn(topic, payload)
    per_s = len(items) / (time.perf_counter() - started)
    print(f"{label:58s} {per_s:>12,.0f}/s")
    return per_s


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    items = payloads(n)
    validator = Validator(64 * 1024, 300 * 10**9, 35 * 86400 * 10**9)
    now = time.time_ns()
    base = rate("stdlib json + wire checks + schema (collector today)",
                lambda t, p: validator.check(t, p, now), items)
    if msgspec is None:
        print("msgspec not installed: no comparison")
        return

    decoder = msgspec.json.Decoder(Envelope)

    def typed(topic: str, payload: bytes) -> None:
        parse_topic(topic)
        decoder.decode(payload)

    fast = rate("msgspec typed decode (types and unknown keys only)", typed, items)
    print(f"msgspec / stdlib: {fast / base:.2f}x for the decode step alone")


if __name__ == "__main__":
    main()
