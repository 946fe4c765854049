"""The collector's TOML config: typed sections, validated at load like the agent's."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

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
    # The account evaluate and report query with (READ): the writer above
    # holds WRITE only. Empty: queries use username/password.
    read_username: str = opt("")
    read_password: str = opt("")
    # influxdb2: InfluxDB 2.x/3.x through influxdb-client
    token: str = opt("")
    org: str = opt("")
    bucket: str = opt("schoolnet")
    # A token with read access to the bucket, for InfluxQL queries; empty: token.
    read_token: str = opt("")

    def reader(self) -> tuple[str, str, str]:
        """(username, password, token) the queries use."""
        token = self.read_token or self.token
        if self.read_username:
            return self.read_username, self.read_password, token
        return self.username, self.password, token

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if self.read_password and not self.read_username:
            out.append((("read_username",), "is required when read_password is set"))
        if self.kind != "influxdb2":
            return out
        return out + [((key,), 'is required for kind = "influxdb2"')
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
    # A reload that would drop more than this share of the schools is taken
    # for a broken edit (a truncated export) and refused; a restart accepts it.
    max_drop_share: float = opt(0.2, between(0, 1))


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
    # Shares of the hourly budget, so one school's (or county's) flood of
    # alerts cannot hold back another's.
    max_per_school_per_hour: int = opt(6, between(1, 100_000))
    max_per_county_per_hour: int = opt(20, between(1, 100_000))
    state_file: str = opt("")


@section
class Digest:
    """The county/city summary and the schools below target, sent on a schedule
    through the [alerts] urls (apprise)."""

    schedule: str = opt("", one_of("", "daily", "weekly", "monthly"))  # "": never
    level: str = opt("county", one_of("province", "city", "county"))
    region: str = opt("")          # "": every school in the registry
    language: str = opt("zh", one_of("zh", "en"))
    max_schools: int = opt(30, between(0, 1000))  # schools below target listed by name
    # Remembers the last period sent, so a restart does not send it again.
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
    digest: Digest = opt()
    logging: Logging = opt()
    file: str = not_a_key("")

    def problems(self) -> list[Problem]:
        if self.targets.file and not self.registry.file:
            return [(("registry", "file"), "is required to judge schools against targets")]
        if self.digest.schedule and not (self.targets.file and self.alerts.urls):
            return [(("digest", "schedule"), "needs [targets] file and [alerts] urls to "
                     "send the digest through")]
        return []


def load(path: str | Path) -> CollectorConfig:
    cfg = configschema.load(path, CollectorConfig)
    return dataclasses.replace(cfg, file=str(path))


def secret_group(mqtt: CollectorMqtt) -> str:
    """The instances' default shared-subscription group: a name only holders of
    the collector's password can derive. Mosquitto's ACL file does not check
    subscriptions and groups span listeners, so a school that guessed the group
    would be handed its turn of every reading (which the ACL then withholds)."""
    if not mqtt.password:
        return mqtt.client_id
    digest = hashlib.sha256(f"{mqtt.username}\0{mqtt.password}".encode()).hexdigest()
    return f"{mqtt.client_id}-{digest[:24]}"


def instance(cfg: CollectorConfig, name: str) -> CollectorConfig:
    """The view of one of several processes started from one config (systemd's
    ``schoolnet-collector@NAME``): its own client id and session, one shared
    group to split the traffic, and only instance "1" judging compliance (once
    per round, not once per process)."""
    mqtt = dataclasses.replace(cfg.mqtt, client_id=f"{cfg.mqtt.client_id}-{name}",
                               share_group=cfg.mqtt.share_group or secret_group(cfg.mqtt))
    targets = cfg.targets if name == "1" else dataclasses.replace(cfg.targets, file="")
    return dataclasses.replace(cfg, mqtt=mqtt, targets=targets)
