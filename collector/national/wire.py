"""Roll-ups between tiers: one MQTT message per region and round, and its strict decoding.

A province's collector publishes each region's roll-up (all targets in one
message) on ``{prefix}/{province}`` at QoS 1; a Mosquitto bridge forwards that
topic to the national broker. The national collector trusts a province for
its own roll-ups only: the topic's province must be one it was configured
with, and every message must name that province, carry only counts (shares
are recomputed from them), and stay within the bounds below. Anything else is
refused with a reason and never stored.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from agent.contract.reading import Reading
from agent.contract.wire import REGION
from collector.judge.rollups import ALL_TARGETS, LEVELS, MEASUREMENT, STATUSES, fields

VERSION = 1
MAX_BYTES = 8192
# Above any real region (the largest provinces have ~40,000 schools).
MAX_SCHOOLS = 10_000_000
# Nanoseconds since the epoch, 2001 to 2286: a wrong unit is refused, not stored.
MIN_TS, MAX_TS = 10**18, 10**19 - 1


class Refused(ValueError):
    """A roll-up message the national collector will not store; ``reason`` is a short slug."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


Publish = Callable[[str, bytes], None]


def encode(points: Iterable[Reading]) -> list[tuple[str, bytes]]:
    """Group one round's roll-up points by region: (province, payload) per region."""
    regions: dict[tuple[tuple[str, str], ...], dict[str, list[int]]] = defaultdict(dict)
    stamp: dict[tuple[tuple[str, str], ...], int] = {}
    for p in points:
        key = tuple(sorted((k, v) for k, v in p.tags.items() if k != "target"))
        regions[key][p.tags["target"]] = [int(p.fields[st]) for st in STATUSES]
        stamp[key] = p.ts_ns
    out = []
    for key, targets in regions.items():
        tags = dict(key)
        body = {"v": VERSION, "ts": stamp[key], **tags, "counts": targets}
        out.append((tags["province"], json.dumps(body, separators=(",", ":")).encode()))
    return out


def publisher(publish: Publish, prefix: str) -> Callable[[list[Reading]], None]:
    """The evaluator's roll-up sink on a province's collector."""
    def send(points: list[Reading]) -> None:
        for province, payload in encode(points):
            publish(f"{prefix}/{province}", payload)
    return send


def _region(body: dict[str, Any], province: str) -> dict[str, str]:
    level = body.get("level")
    if level not in LEVELS:
        raise Refused("level", f"level {level!r} is not one of {', '.join(LEVELS)}")
    if body.get("province") != province:
        raise Refused("province", f"names province {body.get('province')!r}, "
                                  f"not the topic's {province!r}")
    depth = LEVELS.index(level) + 1
    tags = {"level": level}
    for name in LEVELS[:depth]:
        value = body.get(name)
        if not isinstance(value, str) or not REGION.fullmatch(value):
            raise Refused("region", f"{name} {value!r} is not a region code")
        tags[name] = value
    for name in LEVELS[depth:]:
        if name in body:
            raise Refused("region", f"a {level} roll-up carries {name}")
    return tags


def decode(topic: str, payload: bytes, prefix: str, provinces: frozenset[str]
           ) -> list[Reading]:
    """The roll-up points of one message, or Refused naming what is wrong."""
    parts = topic.split("/")
    if topic.rsplit("/", 1)[0] != prefix or len(parts) != prefix.count("/") + 2:
        raise Refused("topic", f"{topic!r} is not {prefix}/<province>")
    province = parts[-1]
    if province not in provinces:
        raise Refused("province", f"province {province!r} is not configured here")
    if len(payload) > MAX_BYTES:
        raise Refused("size", f"{len(payload)} bytes, more than {MAX_BYTES}")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as err:
        raise Refused("json", str(err)) from None
    if not isinstance(body, dict):
        raise Refused("json", "not a JSON object")
    if body.get("v") != VERSION:
        raise Refused("version", f"version {body.get('v')!r}, this collector reads {VERSION}")
    extra = set(body) - {"v", "ts", "counts", *LEVELS, "level"}
    if extra:
        raise Refused("unknown_key", ", ".join(sorted(extra)))
    tags = _region(body, province)
    ts = body.get("ts")
    if type(ts) is not int or not MIN_TS <= ts <= MAX_TS:
        raise Refused("ts", f"{ts!r} is not a time in nanoseconds")
    counts = body.get("counts")
    if not isinstance(counts, dict) or not counts:
        raise Refused("counts", "counts must be an object of targets")
    out = []
    for target, row in counts.items():
        if target not in ALL_TARGETS:
            raise Refused("target", f"unknown target {target!r}")
        if (not isinstance(row, list) or len(row) != len(STATUSES)
                or not all(type(n) is int and 0 <= n <= MAX_SCHOOLS for n in row)):
            raise Refused("counts", f"{target}: want {len(STATUSES)} counts "
                                    f"({', '.join(STATUSES)}) between 0 and {MAX_SCHOOLS}")
        out.append(Reading(MEASUREMENT, fields(dict(zip(STATUSES, row, strict=True))),
                           {**tags, "target": target}, ts))
    return out
