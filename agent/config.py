"""The agent's TOML config: typed sections, loading and validation.

Every key is checked at load; each unknown key or bad value is reported
naming file, line and key. Nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.contract.configschema import (
    Opt,
    Source,
    Table,
    between,
    check,
    load_toml,
    matches,
    one_of,
    opt,
    positive,
    section,
)
from agent.contract.mqttconfig import MqttConfig
from agent.contract.schools import SCHOOL_TYPES
from agent.contract.wire import REGION, SCHOOL_ID, Identity
from agent.probes import REGISTRY, Probe, probe_class

_REGION = matches(REGION.pattern, "an ASCII region code or slug")


def region_code_problems(province: str, city: str, county: str
                         ) -> list[tuple[tuple[str, ...], str]]:
    """Codes that contradict each other, when all three are national
    (GB/T 2260) codes: 2, 4 and 6 digits, each starting with the one above."""
    if not (province.isdigit() and len(province) == 2 and city.isdigit() and len(city) == 4
            and county.isdigit() and len(county) == 6):
        return []
    out: list[tuple[tuple[str, ...], str]] = []
    if not city.startswith(province):
        out.append((("city",), f"city code {city} is not in province {province} (a city code "
                    "starts with its province's; set check_region_codes = false if your "
                    "registry uses other codes)"))
    if not county.startswith(city):
        out.append((("county",), f"county code {county} is not in city {city} (a county code "
                    "starts with its city's)"))
    return out


@section
class SchoolSection:
    id: str = opt(check=matches(SCHOOL_ID.pattern, "ASCII letters, digits, . _ -"))
    name: str = opt("")
    province: str = opt(check=_REGION)
    city: str = opt(check=_REGION)
    county: str = opt(check=_REGION)
    type: str = opt("primary", one_of(*SCHOOL_TYPES))
    # GB/T 2260 codes nest (county 370102 lies in city 3701, in province 37);
    # false for registries that use other codes or slugs.
    check_region_codes: bool = opt(True)

    def problems(self) -> list[tuple[tuple[str, ...], str]]:
        if not self.check_region_codes:
            return []
        return region_code_problems(self.province, self.city, self.county)


@section
class AgentMqtt(MqttConfig):
    max_inflight: int = opt(100, between(1, 65535))
    # Keep readings until the collector confirms it stored them: a broker
    # killed without saving loses what it had acknowledged.
    receipts: bool = opt(True)
    receipt_timeout: float = opt(60.0, between(1, 86400))


@section
class AgentSection:
    state_dir: str = opt("/var/lib/schoolnet-agent")
    heartbeat_interval: float = opt(300.0, between(10, 86400))
    log_level: str = opt("info", one_of("debug", "info", "warning", "error"))
    spool_max_readings: int = opt(200_000, between(100, 50_000_000))
    spool_max_age_days: float = opt(30.0, between(1, 365))
    # While the disk takes no writes (full, read-only), readings wait in
    # memory up to this many; past it the oldest are dropped and counted.
    spool_memory_max_readings: int = opt(10_000, between(100, 1_000_000))
    # Seconds between run's one-line summary (readings made, published, stored).
    summary_interval: float = opt(600.0, between(10, 86400))


@section
class AgentFile:
    school: SchoolSection = opt()
    mqtt: AgentMqtt = opt()
    agent: AgentSection = opt()
    # Each checked against its probe's own options once the probe is known.
    probes: dict[str, Any] = opt()


@dataclass(frozen=True)
class ProbeConfig:
    name: str
    cls: type[Probe]
    interval: float
    timeout: float
    opts: Any  # the probe's own Options section


@dataclass(frozen=True)
class AgentConfig:
    file: str
    identity: Identity
    school: SchoolSection
    mqtt: AgentMqtt
    agent: AgentSection
    probes: list[ProbeConfig]

    @property
    def state_dir(self) -> Path:
        return Path(self.agent.state_dir)


def _probe(name: str, raw: Any, src: Source) -> ProbeConfig | None:
    path = ("probes", name)
    if name not in REGISTRY:
        src.report(path, "unknown probe; known: " + ", ".join(sorted(REGISTRY)))
        return None
    if not isinstance(raw, dict):
        src.report(path, f"must be a table, got {raw!r}")
        return None
    cls = probe_class(name)
    # Keys every probe table accepts besides its own; defaults are the probe's.
    common = {"enabled": Opt(bool, True),
              "interval": Opt(float, cls.default_interval, between(1, 86400)),
              "timeout": Opt(float, cls.default_timeout, positive)}
    before = len(src.errors)
    shared = check({k: v for k, v in raw.items() if k in common}, Table(common), src, path)
    opts = check({k: v for k, v in raw.items() if k not in common}, cls.Options, src, path)
    if len(src.errors) > before or not shared["enabled"]:
        return None
    return ProbeConfig(name, cls, shared["interval"], shared["timeout"], opts)


def load(path: str | Path) -> AgentConfig:
    data, src = load_toml(path)
    cfg = check(data, AgentFile, src)
    probes = data.get("probes", {})
    enabled = [p for name, raw in probes.items()
               if (p := _probe(name, raw, src))] if isinstance(probes, dict) else []
    src.raise_errors()
    school = cfg.school
    identity = Identity(school.province, school.city, school.county, school.id)
    return AgentConfig(src.file, identity, school, cfg.mqtt, cfg.agent, enabled)
