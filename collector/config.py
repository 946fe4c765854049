"""The collector's TOML config, validated at load like the agent's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import MQTT
from agent.confschema import (
    Opt,
    Table,
    between,
    check,
    load_toml,
    matches,
    one_of,
    optional_file,
    positive,
)
from agent.wire import MAX_PAYLOAD_BYTES


def _strings(value: list[object]) -> str | None:
    return None if all(isinstance(v, str) and v for v in value) else "must be a list of URLs"


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
        # Receipts to agents are gathered per school for this long (keep it
        # well below the agents' receipt_timeout).
        "receipt_interval_seconds": Opt(float, 2.0, between(0.01, 30)),
        # Processes that split the traffic (a shared subscription); about one per core.
        "workers": Opt(int, 1, between(1, 64)),
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
    # Compliance: who is registered, what the targets are, where alerts go.
    "registry": Table({"file": Opt(str, "", optional_file)}),
    "targets": Table({
        "file": Opt(str, "", optional_file),
        "evaluate_interval_seconds": Opt(float, 300.0, between(10, 86400)),
    }),
    "alerts": Table({
        "topic_prefix": Opt(str, "schoolnet/alerts"),
        "urls": Opt(list, [], _strings),
        "language": Opt(str, "zh", one_of("zh", "en")),
        "max_per_hour": Opt(int, 60, between(1, 100_000)),
        "state_file": Opt(str, ""),
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
    registry: dict[str, Any]
    targets: dict[str, Any]
    alerts: dict[str, Any]
    logging: dict[str, Any]


def load(path: str | Path) -> CollectorConfig:
    data, src = load_toml(path)
    cfg = check(data, SCHEMA, src)
    storage = cfg["storage"]
    if storage["kind"] == "influxdb2" and not storage["token"]:
        raise src.error(("storage", "token"), "is required for kind = \"influxdb2\"")
    if storage["kind"] == "influxdb2" and not storage["org"]:
        raise src.error(("storage", "org"), "is required for kind = \"influxdb2\"")
    if cfg["targets"]["file"] and not cfg["registry"]["file"]:
        raise src.error(("registry", "file"), "is required to judge schools against targets")
    return CollectorConfig(src.file, cfg["mqtt"], storage, cfg["batch"], cfg["validation"],
                           cfg["registry"], cfg["targets"], cfg["alerts"], cfg["logging"])
