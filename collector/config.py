"""The collector's TOML config, validated at load like the agent's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import MQTT
from agent.confschema import Opt, Table, between, check, load_toml, matches, one_of, positive
from agent.wire import MAX_PAYLOAD_BYTES

SCHEMA = Table({
    "mqtt": Table({
        **MQTT.schema,
        "port": Opt(int, 1883, between(1, 65535)),
        "tls": Opt(bool, False),
        "client_id": Opt(str, "schoolnet-collector"),
        "topic": Opt(str, "schoolnet/v1/#"),
        # Collectors sharing a group split the schools' traffic between them.
        "share_group": Opt(str, "", matches(r"[A-Za-z0-9_-]*", "letters, digits, _ or -")),
        "dead_letter_prefix": Opt(str, "schoolnet/deadletter"),
        "receive_maximum": Opt(int, 1000, between(1, 65535)),
    }),
    "storage": Table({
        "kind": Opt(str, check=one_of("influxdb1", "influxdb2")),
        "url": Opt(str, check=matches(r"https?://\S+", "an http:// or https:// URL")),
        "timeout_seconds": Opt(float, 10.0, positive),
        # influxdb1: the v1 HTTP API (/write, InfluxQL)
        "database": Opt(str, "schoolnet"),
        "retention_policy": Opt(str, ""),
        "username": Opt(str, ""),
        "password": Opt(str, ""),
        # influxdb2: InfluxDB 2.x/3.x through influxdb-client
        "token": Opt(str, ""),
        "org": Opt(str, ""),
        "bucket": Opt(str, "schoolnet"),
    }),
    "batch": Table({
        "max_points": Opt(int, 5000, between(1, 100_000)),
        "max_delay_seconds": Opt(float, 0.2, between(0.001, 60)),
        "max_backoff_seconds": Opt(float, 30.0, between(0.1, 3600)),
    }),
    "validation": Table({
        "max_payload_bytes": Opt(int, MAX_PAYLOAD_BYTES, between(256, 1024 * 1024)),
        "max_future_seconds": Opt(float, 300.0, between(0, 86400)),
        # Agents replay their spool after an outage, so accept a month-old reading.
        "max_age_days": Opt(float, 35.0, between(1, 3650)),
    }),
    "logging": Table({
        "level": Opt(str, "info", one_of("debug", "info", "warning", "error")),
        "stats_interval_seconds": Opt(float, 60.0, positive),
    }),
})


@dataclass(frozen=True)
class CollectorConfig:
    file: str
    mqtt: dict[str, Any]
    storage: dict[str, Any]
    batch: dict[str, Any]
    validation: dict[str, Any]
    logging: dict[str, Any]


def load(path: str | Path) -> CollectorConfig:
    data, src = load_toml(path)
    cfg = check(data, SCHEMA, src)
    storage = cfg["storage"]
    if storage["kind"] == "influxdb2" and not storage["token"]:
        raise src.error(("storage", "token"), "is required for kind = \"influxdb2\"")
    if storage["kind"] == "influxdb2" and not storage["org"]:
        raise src.error(("storage", "org"), "is required for kind = \"influxdb2\"")
    return CollectorConfig(src.file, cfg["mqtt"], storage, cfg["batch"], cfg["validation"],
                           cfg["logging"])
