"""Targets per school type, loaded from targets.toml and checked like every config."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from agent.contract.configschema import (
    Opt,
    Table,
    between,
    check,
    load_toml,
    one_of,
    opt,
    positive,
    schema_of,
    section,
)
from agent.contract.schools import SCHOOL_TYPES


@dataclass(frozen=True)
class Targets:
    exit_mbps: float
    throughput_share: float
    classroom_mbps: float
    classroom_share: float
    wifi_coverage_share: float
    ipv6_level: int
    window: int
    method: str
    breaches: int
    max_age_days: float
    silent_after_minutes: float
    probe_failing_runs: int
    # Path quality during class hours (collector.judge.quality).
    interactive_rtt_p95_ms: float
    interactive_pdv_ms: float
    interactive_loss_share: float
    ready_share: float
    ladder_county_rtt_ms: float
    ladder_city_rtt_ms: float
    ladder_province_rtt_ms: float
    ladder_loss_share: float
    availability_share: float
    quality_days: float
    quality_min_minutes: int


KEYS: dict[str, Opt] = {
    "exit_mbps": Opt(float, 1000.0, positive),
    "throughput_share": Opt(float, 0.8, between(0.1, 1.0)),
    "classroom_mbps": Opt(float, 100.0, positive),
    "classroom_share": Opt(float, 1.0, between(0.0, 1.0)),
    "wifi_coverage_share": Opt(float, 1.0, between(0.0, 1.0)),
    "ipv6_level": Opt(int, 3, between(0, 4)),
    "window": Opt(int, 5, between(1, 100)),
    "method": Opt(str, "median", one_of("median", "m_of_n")),
    "breaches": Opt(int, 3, between(1, 100)),
    "max_age_days": Opt(float, 30.0, positive),
    "silent_after_minutes": Opt(float, 30.0, positive),
    "probe_failing_runs": Opt(int, 3, between(1, 1000)),
    "interactive_rtt_p95_ms": Opt(float, 200.0, positive),
    "interactive_pdv_ms": Opt(float, 50.0, positive),
    "interactive_loss_share": Opt(float, 0.01, between(0.0, 1.0)),
    "ready_share": Opt(float, 0.95, between(0.5, 1.0)),
    "ladder_county_rtt_ms": Opt(float, 20.0, positive),
    "ladder_city_rtt_ms": Opt(float, 40.0, positive),
    "ladder_province_rtt_ms": Opt(float, 60.0, positive),
    "ladder_loss_share": Opt(float, 0.01, between(0.0, 1.0)),
    "availability_share": Opt(float, 0.99, between(0.0, 1.0)),
    "quality_days": Opt(float, 7.0, between(0.01, 90)),
    "quality_min_minutes": Opt(int, 60, between(1, 100_000)),
}


def _tiers(value: list[float]) -> str | None:
    if not value or any(not 0 < v <= 100_000 for v in value):
        return "must list one or more speeds between 0 and 100000 Mbps"
    return None


@section
class Indicators:
    """The shares officials publish, the same for every school type (an added
    view: the per-type verdicts above still decide alerts)."""

    exit_tiers_mbps: tuple[float, ...] = opt((100.0, 1000.0), _tiers)
    throughput_share: float = opt(0.8, between(0.1, 1.0))
    classroom_mbps: float = opt(100.0, positive)
    contract_share: float = opt(0.8, between(0.1, 1.0))
    window: int = opt(5, between(1, 100))
    period_days: float = opt(30.0, between(1, 3660))


OVERRIDE = Table({k: Opt(v.kind, None, v.check) for k, v in KEYS.items()})
SCHEMA = Table({"defaults": Table(KEYS),
                "types": Table({t: OVERRIDE for t in SCHOOL_TYPES}),
                "indicators": schema_of(Indicators)})


def load(path: str | Path) -> dict[str, Targets]:
    """Targets for every school type, defaults merged with the type's overrides."""
    data, src = load_toml(path)
    cfg = check(data, SCHEMA, src)
    src.raise_errors()  # a bad value must be reported, not reach the merge below
    defaults = cfg["defaults"]
    if defaults["breaches"] > defaults["window"]:
        raise src.error(("defaults", "breaches"), "must not exceed window")
    out = {}
    for school_type in SCHOOL_TYPES:
        overrides = {k: v for k, v in cfg["types"][school_type].items() if v is not None}
        merged = {**defaults, **overrides}
        out[school_type] = Targets(**{f.name: merged[f.name] for f in fields(Targets)})
    return out


def load_indicators(path: str | Path) -> Indicators:
    """The ``[indicators]`` table (defaults when the file has none)."""
    data, src = load_toml(path)
    cfg = check(data, SCHEMA, src)
    src.raise_errors()
    indicators = cfg["indicators"]
    assert isinstance(indicators, Indicators)
    return indicators
