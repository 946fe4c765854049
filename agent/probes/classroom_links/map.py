"""The ``classroom_links`` config: switches, the classroom map, alias discovery, and matching.

A classroom is either listed (``[probes.classroom_links.classrooms."高一(3)班"]``
with its switch and port) or discovered: any port whose ifAlias matches one of
``alias_patterns`` (shell-style, case-insensitive: ``classroom-*``, ``教室*``,
``*班``) becomes a classroom named by that alias, so a school with 60
classrooms labelled on the switch need not list them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.contract.configschema import Opt, Table, between
from agent.probes.classroom_links.ifmib import NOT_A_PORT, Port
from agent.snmp.target import SNMP_TARGET_OPTIONS, target_problems

Problem = tuple[tuple[str | int, ...], str]


def _patterns(value: Any) -> str | None:
    if not isinstance(value, list) or \
            not all(isinstance(p, str) and p.strip() for p in value):
        return "must be a list of non-empty patterns such as \"教室*\""
    return None


SWITCH = Table({
    **SNMP_TARGET_OPTIONS,
    "building": Opt(str, ""),  # default building for classrooms discovered on this switch
    "alias_patterns": Opt(list, None, _patterns),  # overrides the probe-wide list
})
CLASSROOM = Table({
    "switch": Opt(str),
    "port": Opt((str, int)),  # ifName (or ifAlias, ifDescr) as text; ifIndex as a number
    "building": Opt(str, ""),
    "floor": Opt(int, None, between(-10, 200)),
})
OPTIONS: dict[str, Opt | Table] = {
    "min_speed_mbps": Opt(float, 100.0, between(1, 1e6)),
    "alias_patterns": Opt(list, [], _patterns),
    "discover": Opt(bool, True),
    "sample_seconds": Opt(float, 2.0, between(0, 60)),
    "max_parallel_switches": Opt(int, 16, between(1, 256)),
    "switch_deadline": Opt(float, 20.0, between(1, 600)),
    "switches": Table(item=SWITCH),
    "classrooms": Table(item=CLASSROOM),
}


def _tag_value(value: str) -> str | None:
    if not value or len(value) > 128 or not value.isprintable():
        return "must be 1-128 printable characters (it becomes a tag)"
    return None


def check_options(opts: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    switches: Mapping[str, Any] = opts["switches"]
    if not switches:
        problems.append((("switches",), "needs at least one switch table"))
    for name, switch in switches.items():
        if (bad := _tag_value(name)) is not None:
            problems.append((("switches", name), f"switch name {bad}"))
        if switch["building"] and (bad := _tag_value(switch["building"])) is not None:
            problems.append((("switches", name, "building"), bad))
        for key, msg in target_problems(switch):
            # An empty key was probably never written: name the table, whose line exists.
            path = ("switches", name, key) if switch.get(key) else ("switches", name)
            problems.append((path, msg if switch.get(key) else f"{key} {msg}"))
    seen: dict[tuple[str, str | int], str] = {}
    for room, spec in opts["classrooms"].items():
        if (bad := _tag_value(room)) is not None:
            problems.append((("classrooms", room), f"classroom name {bad}"))
        if spec["switch"] not in switches:
            known = ", ".join(sorted(switches)) or "none"
            problems.append((("classrooms", room, "switch"),
                             f"names no switch table (known: {known})"))
        if spec["building"] and (bad := _tag_value(spec["building"])) is not None:
            problems.append((("classrooms", room, "building"), bad))
        port = spec["port"]
        if (isinstance(port, int) and port < 1) or \
                (isinstance(port, str) and _tag_value(port.strip()) is not None):
            problems.append((("classrooms", room, "port"),
                             "must be an ifName (1-128 printable characters) or an ifIndex >= 1"))
        slot = (spec["switch"], port)
        if slot in seen:
            problems.append((("classrooms", room, "port"),
                             f"is already the port of classroom {seen[slot]!r}"))
        seen[slot] = room
    has_patterns = opts["alias_patterns"] or any(s["alias_patterns"] for s in switches.values())
    if not opts["classrooms"] and not has_patterns:
        problems.append((("classrooms",), "list classrooms or set alias_patterns to find them"))
    return problems


@dataclass(frozen=True)
class Classroom:
    name: str
    switch: str
    building: str
    floor: int | None
    source: str  # "map" (listed in the config) or "alias" (discovered)


@dataclass(frozen=True)
class Match:
    classroom: Classroom
    port: Port | None
    problem: str = ""  # port_not_found, port_ambiguous, switch_failed
    wanted: str = ""  # the port as configured, to tag a classroom whose port was not found


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` are wildcards; everything else is literal, brackets too, since
    real aliases read ``[Access;PortDot1X]`` and ``高一(3)班``."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL)


def matches_any(alias: str, patterns: Iterable[str]) -> bool:
    return bool(alias) and any(pattern_regex(p).fullmatch(alias) for p in patterns)


def find_port(spec: str | int, ports: Mapping[int, Port]) -> tuple[Port | None, str]:
    """ifIndex for a number; for text ifName, then ifAlias, then ifDescr, exact first."""
    if isinstance(spec, int):
        port = ports.get(spec)
        return (port, "") if port else (None, "port_not_found")
    for key in ("name", "alias", "descr"):
        hits = [p for p in ports.values() if getattr(p, key) == spec]
        if len(hits) == 1:
            return hits[0], ""
        if len(hits) > 1:
            return None, "port_ambiguous"
    folded = spec.casefold()
    hits = [p for p in ports.values() if p.name.casefold() == folded]
    if len(hits) == 1:
        return hits[0], ""
    return None, "port_ambiguous" if hits else "port_not_found"


def match_switch(switch: str, switch_opts: Mapping[str, Any], probe_opts: Mapping[str, Any],
                 ports: Mapping[int, Port]) -> tuple[list[Match], int]:
    """Classrooms on one switch, and how many pattern-matching ports stay unmapped."""
    out: list[Match] = []
    taken: set[int] = set()
    for room, spec in probe_opts["classrooms"].items():
        if spec["switch"] != switch:
            continue
        port, problem = find_port(spec["port"], ports)
        building = spec["building"] or switch_opts["building"]
        out.append(Match(Classroom(room, switch, building, spec["floor"], "map"), port, problem,
                         str(spec["port"])))
        if port is not None:
            taken.add(port.index)
    patterns = switch_opts["alias_patterns"]
    if patterns is None:
        patterns = probe_opts["alias_patterns"]
    unmapped = 0
    for port in sorted(ports.values(), key=lambda p: p.index):
        if port.index in taken or port.if_type in NOT_A_PORT \
                or not matches_any(port.alias, patterns):
            continue
        if probe_opts["discover"]:
            room = Classroom(port.alias[:128], switch, switch_opts["building"], None, "alias")
            out.append(Match(room, port))
        else:
            unmapped += 1
    return out, unmapped
