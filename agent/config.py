"""The agent's TOML config: schema, loading and validation.

Every key is checked at load; an unknown key or a bad value raises
ConfigError naming file, line and key. Nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.confschema import (
    Opt,
    Source,
    Table,
    between,
    check,
    check_value,
    load_toml,
    matches,
    one_of,
    optional_file,
    positive,
)
from agent.probes import REGISTRY, Probe, probe_class
from agent.wire import REGION, SCHOOL_ID, Identity

SCHOOL_TYPES = ("primary", "junior", "senior", "nine_year", "twelve_year", "vocational",
                "teaching_point", "special")

MQTT = Table({
    "host": Opt(str),
    "port": Opt(int, 8883, between(1, 65535)),
    "tls": Opt(bool, True),
    "ca_file": Opt(str, "", optional_file),
    "cert_file": Opt(str, "", optional_file),
    "key_file": Opt(str, "", optional_file),
    "username": Opt(str, ""),
    "password": Opt(str, ""),
    "client_id": Opt(str, ""),
    "keepalive": Opt(int, 60, between(5, 3600)),
    "max_inflight": Opt(int, 100, between(1, 65535)),
})

SCHEMA = Table({
    "school": Table({
        "id": Opt(str, check=matches(SCHOOL_ID.pattern, "ASCII letters, digits, . _ -")),
        "name": Opt(str, ""),
        "province": Opt(str, check=matches(REGION.pattern, "an ASCII region code or slug")),
        "city": Opt(str, check=matches(REGION.pattern, "an ASCII region code or slug")),
        "county": Opt(str, check=matches(REGION.pattern, "an ASCII region code or slug")),
        "type": Opt(str, "primary", one_of(*SCHOOL_TYPES)),
    }),
    "mqtt": MQTT,
    "agent": Table({
        "state_dir": Opt(str, "/var/lib/schoolnet-agent"),
        "heartbeat_interval": Opt(float, 300.0, between(10, 86400)),
        "log_level": Opt(str, "info", one_of("debug", "info", "warning", "error")),
        "spool_max_readings": Opt(int, 200_000, between(100, 50_000_000)),
        "spool_max_age_days": Opt(float, 30.0, between(1, 365)),
    }),
    "probes": Table(item=Opt(dict)),  # each checked against its probe's schema below
})

@dataclass(frozen=True)
class ProbeConfig:
    name: str
    cls: type[Probe]
    interval: float
    timeout: float
    opts: dict[str, Any]


@dataclass(frozen=True)
class AgentConfig:
    file: str
    identity: Identity
    school: dict[str, Any]
    mqtt: dict[str, Any]
    agent: dict[str, Any]
    probes: list[ProbeConfig]

    @property
    def state_dir(self) -> Path:
        return Path(self.agent["state_dir"])


def _probe(name: str, raw: dict[str, Any], src: Source) -> ProbeConfig | None:
    if name not in REGISTRY:
        raise src.error(("probes", name), "unknown probe; known: " + ", ".join(sorted(REGISTRY)))
    cls = probe_class(name)
    # Keys every probe table accepts besides its own; defaults are the probe's.
    common = {"enabled": Opt(bool, True),
              "interval": Opt(float, cls.default_interval, between(1, 86400)),
              "timeout": Opt(float, cls.default_timeout, positive)}
    opts = check_value(raw, Table({**common, **cls.options}), src, ("probes", name))
    for path, message in cls.check_options(opts):
        raise src.error(("probes", name, *path), message)
    if not opts.pop("enabled"):
        return None
    return ProbeConfig(name, cls, opts.pop("interval"), opts.pop("timeout"), opts)


def load(path: str | Path) -> AgentConfig:
    data, src = load_toml(path)
    cfg = check(data, SCHEMA, src)
    if cfg["mqtt"]["cert_file"] and not cfg["mqtt"]["key_file"]:
        raise src.error(("mqtt", "key_file"), "is required when cert_file is set")
    school = cfg["school"]
    identity = Identity(school["province"], school["city"], school["county"], school["id"])
    probes = [p for name, raw in cfg["probes"].items() if (p := _probe(name, raw, src))]
    return AgentConfig(src.file, identity, school, cfg["mqtt"], cfg["agent"], probes)
