"""Judge each registered school against each target, from the stored readings.

Verdicts: pass, fail, inconclusive (only readings the gateway itself could
not produce, e.g. CPU-bound speed tests), no_data. Several readings decide,
never one: the median of the last N, or M of the last N missing the target.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from collector.judge.reader import InfluxQLReader, Row
from collector.judge.registry import School
from collector.judge.targets import Targets

TARGETS = ("exit_bandwidth", "classroom_links", "wifi", "ipv6")


@dataclass(frozen=True, slots=True)  # one per school (and target), kept
class Verdict:
    school: School
    target: str          # one of TARGETS, or "all"
    status: str          # pass, fail, inconclusive, no_data
    value: float | None  # the judged figure (Mbps, share, level)
    threshold: float
    readings: int        # how many readings (or classrooms) the verdict rests on
    detail: str = ""
    uplink: str = ""     # path-quality verdicts are per uplink (contract vocabulary)


class Rule(NamedTuple):
    """How several readings decide, as Targets' fields of the same names."""

    method: str
    window: int
    breaches: int


def judge(values: list[float], threshold: float, t: Targets | Rule) -> tuple[str, float]:
    """Verdict over the newest ``t.window`` values (newest first)."""
    recent = values[: t.window]
    middle = _median(recent)
    if t.method == "m_of_n":
        misses = sum(v < threshold for v in recent)
        return ("fail" if misses >= min(t.breaches, len(recent)) else "pass"), middle
    return ("pass" if middle >= threshold else "fail"), middle


def _median(values: list[float]) -> float:
    # statistics.median's figure, without its type checks: called for every
    # classroom of every school each round.
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def _by_school(rows: Iterable[Row], key: str = "school") -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        out[row[key]].append(row)
    return out


# A classroom port poll as the rules read it: (link_speed_mbps, oper_up, result).
# A tuple, not a row: a province's round judges millions of them.
Poll = tuple[float | None, bool | None, str | None]
POLL_FIELDS = ("link_speed_mbps", "oper_up", "result")


def polls(rows: Iterable[Row]) -> tuple[Poll, ...]:
    return tuple([(r["link_speed_mbps"], r["oper_up"], r.get("result")) for r in rows])


@dataclass(frozen=True)
class Evidence:
    """Each school's newest rows of each kind (newest first), as the queries give them."""

    tests: dict[str, list[Row]]   # wan_throughput: download_bps, result
    links: dict[str, list[Row]]   # wan_link: the newest link_speed_mbps > 0
    ports: dict[str, dict[str, tuple[Poll, ...]]]  # classroom_link, per school per classroom
    wifi: dict[str, list[Row]]    # wifi_coverage: coverage_share
    ipv6: dict[str, list[Row]]    # ipv6: level


def verdicts(schools: Iterable[School], targets: dict[str, Targets],
             evidence: Evidence) -> list[Verdict]:
    """Every target's verdict and the summary, for each school, from its evidence."""
    out = []
    for school in schools:
        t = targets[school.school_type]
        sid = school.school_id
        per_school = [
            _exit(school, t, evidence.tests.get(sid, []), evidence.links.get(sid, [])),
            _classrooms(school, t, evidence.ports.get(sid, {})),
            _simple(school, "wifi", [r["coverage_share"] for r in evidence.wifi.get(sid, [])],
                    t.wifi_coverage_share, t),
            _simple(school, "ipv6", [r["level"] for r in evidence.ipv6.get(sid, [])],
                    float(t.ipv6_level), t),
        ]
        out += per_school
        out.append(summary(school, per_school))
    return out


class Rules:
    def __init__(self, reader: InfluxQLReader, targets: dict[str, Targets]) -> None:
        self.reader = reader
        self.targets = targets

    def _recent(self, select: str, measurement: str, where: str, group: str,
                limit: int, age_days: float) -> list[Row]:
        cond = f"time > now() - {int(age_days * 86400)}s" + (f" AND {where}" if where else "")
        return self.reader.rows(f'SELECT {select} FROM "{measurement}" WHERE {cond} '
                                f"GROUP BY {group} ORDER BY time DESC LIMIT {limit}")

    def evaluate(self, schools: Iterable[School]) -> list[Verdict]:
        """Today's path: one query per kind of evidence over every school's window."""
        # One query per kind of evidence for all schools, not one per school.
        window = max(t.window for t in self.targets.values())
        age = max(t.max_age_days for t in self.targets.values())
        evidence = Evidence(
            _by_school(self._recent("download_bps, result", "wan_throughput", "", "school",
                                    window * 3, age)),
            _by_school(self._recent("link_speed_mbps", "wan_link",
                                    "link_speed_mbps > 0", "school", 1, age)),
            {sid: {room: polls(room_rows) for room, room_rows in
                   _by_school(rows, "classroom").items()}
             for sid, rows in _by_school(self._recent(
                 ", ".join(POLL_FIELDS), "classroom_link", "", "school, classroom", window,
                 age)).items()},
            _by_school(self._recent("coverage_share", "wifi_coverage", "", "school",
                                    window, age)),
            _by_school(self._recent("level", "ipv6", "", "school", window, age)))
        return verdicts(schools, self.targets, evidence)


def _exit(school: School, t: Targets, tests: list[Row], links: list[Row]) -> Verdict:
    threshold = t.exit_mbps * t.throughput_share
    port = links[0]["link_speed_mbps"] if links else None
    if port is not None and port < t.exit_mbps:
        # A port slower than the target can never carry it, whatever a test says.
        return Verdict(school, "exit_bandwidth", "fail", float(port), threshold, 1,
                       f"WAN port negotiated {port:g} Mbps")
    ok = [r["download_bps"] / 1e6 for r in tests
          if r["result"] == "ok" and r["download_bps"] is not None]
    if not ok:
        status = "inconclusive" if tests else "no_data"
        return Verdict(school, "exit_bandwidth", status, None, threshold, len(tests))
    status, value = judge(ok, threshold, t)
    return Verdict(school, "exit_bandwidth", status, round(value, 1), threshold,
                   min(len(ok), t.window))


def room_status(room_polls: tuple[Poll, ...], mbps: float, t: Targets | Rule) -> str:
    """One classroom's status from its newest polls (newest first): pass, fail, or
    unknown when it has only inconclusive ones."""
    # A speed the switch cannot really have is inconclusive: it neither
    # passes nor fails the room.
    trusted = [p for p in room_polls if p[2] != "inconclusive"]
    if not trusted:
        return "unknown"
    speeds = [(speed or 0.0) if up is not False else 0.0 for speed, up, _ in trusted]
    return judge(speeds, mbps, t)[0]


# Each room's status, by its polls and the rule that judges them. A province's
# round judges ~1.5 million rooms, and negotiated speeds take a few values
# (10/100/1000 Mbps, up or down), so most rooms' polls are ones already judged.
# Equal polls judge alike whatever their types (the schema makes oper_up a bool).
_ROOMS: dict[tuple[float, str, int, int, tuple[Poll, ...]], str] = {}
ROOMS_MEMO = 20_000  # distinct entries remembered (~5 MB); beyond, start afresh


def rooms(per_room: Iterable[tuple[Poll, ...]], mbps: float, t: Targets | Rule
          ) -> tuple[int, int]:
    """How many of the rooms meet ``mbps`` by the rule, and how many are unknown."""
    meeting = unknown = 0
    rule = (mbps, t.method, t.window, t.breaches)
    for room_polls in per_room:
        key = (*rule, room_polls)
        status = _ROOMS.get(key)
        if status is None:
            if len(_ROOMS) >= ROOMS_MEMO:
                _ROOMS.clear()
            status = _ROOMS[key] = room_status(room_polls, mbps, t)
        unknown += status == "unknown"
        meeting += status == "pass"
    return meeting, unknown


def _classrooms(school: School, t: Targets, per_room: dict[str, tuple[Poll, ...]]) -> Verdict:
    meeting, unknown = rooms(per_room.values(), t.classroom_mbps, t)
    if not per_room:
        return Verdict(school, "classroom_links", "no_data", None, t.classroom_share, 0)
    # Classes the registry counts but no switch port reports cannot pass.
    total = max(len(per_room), school.classes)
    share = meeting / total
    status = ("pass" if share >= t.classroom_share
              else "inconclusive" if (meeting + unknown) / total >= t.classroom_share
              else "fail")
    return Verdict(school, "classroom_links", status, round(share, 4), t.classroom_share,
                   len(per_room), f"{meeting} of {total} classes at >= "
                   f"{t.classroom_mbps:g} Mbps" + (f", {unknown} unknown" if unknown
                                                   else ""))

def _simple(school: School, target: str, values: list[float | None],
            threshold: float, t: Targets) -> Verdict:
    present = [float(v) for v in values if v is not None]
    if not present:
        return Verdict(school, target, "no_data", None, threshold, 0)
    status, value = judge(present, threshold, t)
    return Verdict(school, target, status, value, threshold, min(len(present), t.window))


def summary(school: School, verdicts: list[Verdict]) -> Verdict:
    statuses = {v.status for v in verdicts}
    status = ("fail" if "fail" in statuses else "pass" if statuses == {"pass"}
              else "inconclusive" if "inconclusive" in statuses else "no_data")
    passing = sum(v.status == "pass" for v in verdicts)
    return Verdict(school, "all", status, float(passing), float(len(verdicts)),
                   sum(v.readings for v in verdicts))


@dataclass(frozen=True, slots=True)  # one per school (and target), kept
class Health:
    """Whether a school still reports, and which of its probes keep failing."""

    silent: bool
    last_seen_ns: int | None
    failing_probes: frozenset[str]
    # (level, uplink) of paths down right now; both from contract vocabularies.
    outages: frozenset[tuple[str, str]] = frozenset()


# Results that mean "a probe did its job" even if the news was bad or the
# feature does not exist on this gateway.
FINE = frozenset({"ok", "partial", "unavailable", "inconclusive"})
# Most schools have no failing probe: one empty set for all of them (216 bytes
# each otherwise, kept per school between rounds).
NONE_FAILING: frozenset[str] = frozenset()


def health(reader: InfluxQLReader, schools: list[School], targets: dict[str, Targets],
           now_ns: int) -> dict[str, Health]:
    days = max(t.max_age_days for t in targets.values())
    runs_needed = max(t.probe_failing_runs for t in targets.values())
    age = f"time > now() - {int(days * 86400)}s"
    seen = {r["school"]: r["time"] for r in reader.rows(
        f'SELECT last(duration_seconds) FROM "probe_run" WHERE {age} GROUP BY school')}
    status = {r["school"]: r for r in reader.rows(
        f'SELECT last(state) AS state FROM "agent_status" WHERE {age} GROUP BY school')}
    runs = reader.rows(f'SELECT result FROM "probe_run" WHERE {age} GROUP BY school, probe '
                       f"ORDER BY time DESC LIMIT {runs_needed}")
    return health_from(schools, targets, now_ns, seen, status, _group(runs, ("school", "probe")))


def health_from(schools: list[School], targets: dict[str, Targets], now_ns: int,
                seen: dict[str, int], status: dict[str, Row],
                runs: dict[tuple[str, str], list[Row]]) -> dict[str, Health]:
    """Health from each school's last probe run, last agent status and newest
    runs per probe (newest first)."""
    runs_needed = max(t.probe_failing_runs for t in targets.values())
    kinds = {s.school_id: targets[s.school_type] for s in schools}
    failing: dict[str, set[str]] = defaultdict(set)
    for (sid, probe), rows in runs.items():
        n = kinds[sid].probe_failing_runs if sid in kinds else runs_needed
        if len(rows) >= n and not any(r["result"] in FINE for r in rows[:n]):
            failing[sid].add(probe)
    out = {}
    for school in schools:
        sid = school.school_id
        t = kinds[sid]
        last = seen.get(sid)
        st = status.get(sid)
        stale = last is not None and now_ns - last > t.silent_after_minutes * 60e9
        # The broker's last will (or a clean stop) says offline at once.
        offline = st is not None and st["state"] == "offline" and (last is None
                                                                    or st["time"] >= last)
        probes = failing.get(sid)
        out[sid] = Health(stale or offline, last,
                          frozenset(probes) if probes else NONE_FAILING)
    return out


def _group(rows: Iterable[Row], keys: tuple[str, str]) -> dict[tuple[str, str], list[Row]]:
    out: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        out[(row[keys[0]], row[keys[1]])].append(row)
    return out
