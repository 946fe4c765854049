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

from agent.contract.configschema import Problem, between, opt, section
from agent.probes.classroom_links.ifmib import NOT_A_PORT, Port
from agent.snmp.target import SnmpTargetSection


def _patterns(value: Any) -> str | None:
    if not isinstance(value, list) or \
            not all(isinstance(p, str) and p.strip() for p in value):
        return "must be a list of non-empty patterns such as \"教室*\""
    return None


def _tag_value(value: str) -> str | None:
    if not value or len(value) > 128 or not value.isprintable():
        return "must be 1-128 printable characters (it becomes a tag)"
    return None


@section
class SwitchSection(SnmpTargetSection):
    """``[probes.classroom_links.switches.NAME]``: the SNMP keys and these."""

    building: str = opt("")  # default building for classrooms discovered on this switch
    alias_patterns: list[str] | None = opt(None, _patterns)  # overrides the probe-wide list

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if self.building and (bad := _tag_value(self.building)) is not None:
            out.append((("building",), bad))
        for (key,), msg in super().problems():
            # An empty key was probably never written: name the table, whose line exists.
            written = bool(getattr(self, str(key)))
            out.append(((key,), msg) if written else ((), f"{key} {msg}"))
        return out


@section
class ClassroomSection:
    """``[probes.classroom_links.classrooms."NAME"]``: where one classroom is plugged in."""

    switch: str = opt()
    port: str | int = opt()  # ifName (or ifAlias, ifDescr) as text; ifIndex as a number
    building: str = opt("")
    floor: int | None = opt(None, between(-10, 200))

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if self.building and (bad := _tag_value(self.building)) is not None:
            out.append((("building",), bad))
        port = self.port
        if (isinstance(port, int) and port < 1) or \
                (isinstance(port, str) and _tag_value(port.strip()) is not None):
            out.append((("port",),
                        "must be an ifName (1-128 printable characters) or an ifIndex >= 1"))
        return out


@section
class Options:
    """``[probes.classroom_links]``."""

    min_speed_mbps: float = opt(100.0, between(1, 1e6))
    alias_patterns: list[str] = opt([], _patterns)
    discover: bool = opt(True)
    sample_seconds: float = opt(2.0, between(0, 60))
    max_parallel_switches: int = opt(16, between(1, 256))
    switch_deadline: float = opt(20.0, between(1, 600))
    switches: dict[str, SwitchSection] = opt()
    classrooms: dict[str, ClassroomSection] = opt()

    def problems(self) -> list[Problem]:
        problems: list[Problem] = []
        switches = self.switches
        if not switches:
            problems.append((("switches",), "needs at least one switch table"))
        for name in switches:
            if (bad := _tag_value(name)) is not None:
                problems.append((("switches", name), f"switch name {bad}"))
        seen: dict[tuple[str, str | int], str] = {}
        for room, spec in self.classrooms.items():
            if (bad := _tag_value(room)) is not None:
                problems.append((("classrooms", room), f"classroom name {bad}"))
            if spec.switch not in switches:
                known = ", ".join(sorted(switches)) or "none"
                problems.append((("classrooms", room, "switch"),
                                 f"names no switch table (known: {known})"))
            slot = (spec.switch, spec.port)
            if slot in seen:
                problems.append((("classrooms", room, "port"),
                                 f"is already the port of classroom {seen[slot]!r}"))
            seen[slot] = room
        has_patterns = self.alias_patterns or any(s.alias_patterns for s in switches.values())
        if not self.classrooms and not has_patterns:
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


def match_switch(switch: str, switch_opts: SwitchSection, probe_opts: Options,
                 ports: Mapping[int, Port]) -> tuple[list[Match], int]:
    """Classrooms on one switch, and how many pattern-matching ports stay unmapped."""
    out: list[Match] = []
    taken: set[int] = set()
    for room, spec in probe_opts.classrooms.items():
        if spec.switch != switch:
            continue
        port, problem = find_port(spec.port, ports)
        building = spec.building or switch_opts.building
        out.append(Match(Classroom(room, switch, building, spec.floor, "map"), port, problem,
                         str(spec.port)))
        if port is not None:
            taken.add(port.index)
    patterns = switch_opts.alias_patterns
    if patterns is None:
        patterns = probe_opts.alias_patterns
    unmapped = 0
    for port in sorted(ports.values(), key=lambda p: p.index):
        if port.index in taken or port.if_type in NOT_A_PORT \
                or not matches_any(port.alias, patterns):
            continue
        if probe_opts.discover:
            found = Classroom(port.alias[:128], switch, switch_opts.building, None, "alias")
            out.append(Match(found, port))
        else:
            unmapped += 1
    return out, unmapped
