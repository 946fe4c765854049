"""The collector's TOML config: typed sections, validated at load like the agent's."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from agent.contract import configschema
from agent.contract.configschema import (
    Problem,
    between,
    matches,
    not_a_key,
    one_of,
    opt,
    optional_file,
    positive,
    section,
)
from agent.contract.mqttconfig import MqttConfig
from agent.contract.wire import MAX_PAYLOAD_BYTES


def _urls(value: list[str]) -> str | None:
    return None if all(value) else "must be a list of URLs"


@section
class CollectorMqtt(MqttConfig):
    RETIRED: ClassVar[Mapping[str, str]] = {
        "workers": "removed: run one schoolnet-collector@N.service instance per process"}
    port: int = opt(1883, between(1, 65535))
    tls: bool = opt(False)
    client_id: str = opt("schoolnet-collector")
    topic: str = opt("schoolnet/v1/#")
    # Collectors sharing a group split the schools' traffic between them.
    share_group: str = opt("", matches(r"[A-Za-z0-9_-]*", "letters, digits, _ or -"))
    dead_letter_prefix: str = opt("schoolnet/deadletter")
    # Sent in CONNECT: how many unacknowledged readings the broker may send at once.
    receive_maximum: int = opt(1000, between(1, 65535))
    # Receipts to agents are gathered per school for this long (keep it
    # well below the agents' receipt_timeout).
    receipt_interval_seconds: float = opt(2.0, between(0.01, 30))
    # "lean": the collector's own MQTT 5 subscriber (collector.ingest.mqtt5);
    # "paho": paho-mqtt, slower, the conservative choice.
    transport: str = opt("lean", one_of("lean", "paho"))


@section
class Storage:
    kind: str = opt(check=one_of("influxdb1", "influxdb2"))
    url: str = opt(check=matches(r"https?://\S+", "an http:// or https:// URL"))
    timeout_seconds: float = opt(10.0, positive)
    # influxdb1: the v1 HTTP API (/write, InfluxQL)
    database: str = opt("schoolnet")
    retention_policy: str = opt("")
    username: str = opt("")
    password: str = opt("")
    # influxdb2: InfluxDB 2.x/3.x through influxdb-client
    token: str = opt("")
    org: str = opt("")
    bucket: str = opt("schoolnet")

    def problems(self) -> list[Problem]:
        if self.kind != "influxdb2":
            return []
        return [((key,), 'is required for kind = "influxdb2"')
                for key in ("token", "org") if not getattr(self, key)]


@section
class Batch:
    max_points: int = opt(5000, between(1, 100_000))
    max_delay_seconds: float = opt(0.2, between(0.001, 60))
    max_backoff_seconds: float = opt(30.0, between(0.1, 3600))


@section
class Validation:
    max_payload_bytes: int = opt(MAX_PAYLOAD_BYTES, between(256, 1024 * 1024))
    max_future_seconds: float = opt(300.0, between(0, 86400))
    # Agents replay their spool after an outage, so accept a month-old reading.
    max_age_days: float = opt(35.0, between(1, 3650))


@section
class RegistrySection:
    file: str = opt("", optional_file)


@section
class TargetsSection:
    file: str = opt("", optional_file)
    evaluate_interval_seconds: float = opt(300.0, between(10, 86400))


@section
class Alerts:
    topic_prefix: str = opt("schoolnet/alerts")
    urls: list[str] = opt([], _urls)
    language: str = opt("zh", one_of("zh", "en"))
    max_per_hour: int = opt(60, between(1, 100_000))
    state_file: str = opt("")


@section
class Logging:
    level: str = opt("info", one_of("debug", "info", "warning", "error"))
    stats_interval_seconds: float = opt(60.0, positive)


@section
class CollectorConfig:
    mqtt: CollectorMqtt = opt()
    storage: Storage = opt()
    batch: Batch = opt()
    validation: Validation = opt()
    # Compliance: who is registered, what the targets are, where alerts go.
    registry: RegistrySection = opt()
    targets: TargetsSection = opt()
    alerts: Alerts = opt()
    logging: Logging = opt()
    file: str = not_a_key("")

    def problems(self) -> list[Problem]:
        if self.targets.file and not self.registry.file:
            return [(("registry", "file"), "is required to judge schools against targets")]
        return []


def load(path: str | Path) -> CollectorConfig:
    cfg = configschema.load(path, CollectorConfig)
    return dataclasses.replace(cfg, file=str(path))


def instance(cfg: CollectorConfig, name: str) -> CollectorConfig:
    """The view of one of several processes started from one config (systemd's
    ``schoolnet-collector@NAME``): its own client id and session, one shared
    group to split the traffic, and only instance "1" judging compliance (once
    per round, not once per process)."""
    mqtt = dataclasses.replace(cfg.mqtt, client_id=f"{cfg.mqtt.client_id}-{name}",
                               share_group=cfg.mqtt.share_group or cfg.mqtt.client_id)
    targets = cfg.targets if name == "1" else dataclasses.replace(cfg.targets, file="")
    return dataclasses.replace(cfg, mqtt=mqtt, targets=targets)
