"""The collector's TOML config: typed sections, validated at load like the agent's."""

from __future__ import annotations

import dataclasses
import hashlib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

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
from agent.contract.wire import MAX_PAYLOAD_BYTES, REGION


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
    # Where the deployment keeps its long-term aggregates (deploy/influxdb makes
    # "longterm"); reports read the indicator roll-ups' daily ones from it for a
    # date whose raw ones have aged out. Empty: none.
    longterm_policy: str = opt("longterm", matches(r"[A-Za-z0-9_-]*",
                                                   "letters, digits, _ or -"))
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
class Limits:
    """Per-school bounds (collector.ingest.limits), sized from the probes'
    default intervals at the schema's series bounds: 4,000 classroom ports
    and 256 switches every 5 min (851/min), 1,000 Wi-Fi areas and 16
    controllers (203/min), 8 WAN links every minute, 64 IPv6 targets every
    30 min, probe runs and heartbeats (~10/min): ~1,070 readings a minute at
    most; a large real school (150 classrooms, 60 areas) sends ~50. 6,000 a
    minute is 5.6x the most, so a day's backlog (the spool keeps 200,000)
    drains at >= 4,900/min of accepted resends, and one school can add at
    most 100 readings/s to everyone's load."""

    enabled: bool = opt(True)
    # Refused for now, not for good: not receipted, so the agent resends later.
    readings_per_minute: int = opt(6000, between(10, 10_000_000))
    # Readings are ~300-2,000 bytes; 1 KiB each at the readings bound, and
    # never below two of the largest payloads.
    bytes_per_minute: int = opt(6 * 1024 * 1024, between(2 * MAX_PAYLOAD_BYTES + 2048, 1 << 40))
    # Multiplies each measurement's max_series from the schema (distinct tag
    # combinations one school may have), e.g. 2 for schools past 4,000 classrooms.
    series_scale: float = opt(1.0, between(0.01, 100))
    # Dead letters are a sample for people to read: beyond this per school
    # and minute a refusal is only counted, so a flood is not copied out.
    dead_letters_per_minute: int = opt(60, between(0, 1_000_000))


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
    # The judging windows, saved at a clean stop and resumed at the next start.
    state_file: str = opt("")
    # Path-quality verdicts are a week's percentiles (collector.judge.quality):
    # re-queried this often, not every round (0: every round).
    quality_refresh_minutes: float = opt(60.0, between(0, 1440))


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


def _provinces(value: list[str]) -> str | None:
    bad = [v for v in value if not REGION.fullmatch(str(v))]
    return f"not region codes: {', '.join(map(str, bad))}" if bad else None


@section
class National:
    # A province's collector: publish each round's roll-ups on {topic}/{province}
    # (a Mosquitto bridge forwards them to the national broker).
    publish: bool = opt(False)
    topic: str = opt("schoolnet-rollup/v1", matches(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*",
                                                    "letters, digits, _ - and /"))
    # The national collector (``schoolnet-collector national``): store roll-ups
    # from these provinces only.
    provinces: list[str] = opt([], _provinces)


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
    limits: Limits = opt()
    # Compliance: who is registered, what the targets are, where alerts go.
    registry: RegistrySection = opt()
    targets: TargetsSection = opt()
    alerts: Alerts = opt()
    digest: Digest = opt()
    logging: Logging = opt()
    national: National = opt()
    file: str = not_a_key("")

    def problems(self) -> list[Problem]:
        if self.targets.file and not self.registry.file:
            return [(("registry", "file"), "is required to judge schools against targets")]
        if self.digest.schedule and not (self.targets.file and self.alerts.urls):
            return [(("digest", "schedule"), "needs [targets] file and [alerts] urls to "
                     "send the digest through")]
        return []


def load(path: str | Path) -> CollectorConfig:
    data, src = configschema.load_toml(path)
    anchor_paths(data, Path(path).resolve().parent)
    cfg = configschema.check(data, CollectorConfig, src)
    src.raise_errors()
    return dataclasses.replace(typing.cast(CollectorConfig, cfg), file=str(path))


def anchor_paths(table: dict[str, Any], base: Path) -> None:
    """Relative file and directory names (keys ending in ``file`` or ``_dir``)
    are the config file's neighbours, wherever the command was started from."""
    for key, value in table.items():
        if isinstance(value, dict):
            anchor_paths(value, base)
        elif (key.endswith("file") or key.endswith("_dir")) and isinstance(value, str) \
                and value and not Path(value).is_absolute():
            table[key] = str(base / value)


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
