"""Readings built for the edges of dashboard time ranges, and what each panel must show.

Four schools, stored as the collector stores them (region tags, numbers as
floats):

* ``a``: online for 100 days (its only status change is older than the
  90-day range); meets every target but Wi-Fi (one area uncovered).
* ``b``: offline for 30 days (last will); judged ``no_data`` since then.
* ``c``: went offline 5 hours ago; fails every target.
* ``d``: online since 36 hours ago; inconclusive exit and Wi-Fi, no area
  uncovered, IPv6 level 4.
* ``e``: online for 60 days but for an outage from 30 to 9 hours ago (its
  agent offline, then back); fails Wi-Fi only, IPv6 level 2.

Spools: ``c``'s heartbeats show 900 unsent readings for the last 2 days of its
agent's life (a backlog it keeps once offline), ``d``'s 2,400 for the last 20
hours, ``a``'s 100 (below a backlog) throughout.

Nobody passes Wi-Fi (a 0% share and a 0% line) and nobody is at IPv6 level 3.
The judge writes every school's verdicts, and the counties', cities' and provinces'
roll-ups of them, every 6 hours (with each judged school's agent state, and
for those needing attention, their ``agent_attention`` points); agents send readings
hourly (the last 10 days of each online period). Expected values are computed
here from the same timeline in plain Python, independent of InfluxQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from agent.contract.reading import FieldValue, Reading
from collector.judge import agentstate, registry, rollups, rules

MINUTE = 60 * 1000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
JUDGE_EVERY = 6 * HOUR
VERDICT_LOOKBACK = 25 * HOUR   # collector.grafana.influxql.VERDICT_LOOKBACK
READING_LOOKBACK = 7 * DAY     # collector.grafana.influxql.READING_LOOKBACK
TARGETS = ("exit_bandwidth", "classroom_links", "wifi", "ipv6")
AREAS = ("教学楼A", "办公楼", "操场")


@dataclass(frozen=True)
class School:
    sid: str
    province: str
    city: str
    county: str
    online: tuple[int, int]          # ms before now: came online, went offline (0: still)
    judged_since: int                # ms before now
    statuses: dict[str, str]         # per target, "all" derived
    speeds: tuple[int, ...]
    uncovered: frozenset[str]
    ipv6_level: int
    earlier: dict[str, str] = field(default_factory=dict)  # statuses before ``changed``
    changed: int = 0                 # ms before now
    spool: tuple[int, int] = (0, 0)  # unsent readings its heartbeats show from ms before now
    outage: tuple[int, int] = (0, 0)  # ms before now: went offline, came back (0, 0: none)

    def spool_depth(self, now: int, ts: int) -> int:
        depth, since = self.spool
        return depth if ts >= now - since else 0

    def backlog_at(self, now: int, ts: int) -> tuple[int, int]:
        """The backlog the judge re-states at round ``ts`` (0, 0: none): its newest
        heartbeat's, since the first heartbeat of its run."""
        beats = [t for t in self.reading_times(now) if t <= ts]
        if not beats or self.spool_depth(now, beats[-1]) < agentstate.BACKLOG:
            return 0, 0
        return self.spool[0], min(t for t in beats if self.spool_depth(now, t))

    def backlog(self, now: int, end: int) -> tuple[int, int] | None:
        """The backlog the dashboards show as of ``end`` (None: no re-statement)."""
        times = [t for t in self.verdict_times(now) if end - VERDICT_LOOKBACK < t <= end]
        return self.backlog_at(now, times[-1]) if times else None

    @property
    def failing(self) -> frozenset[str]:
        """Probes the judge finds failing (c's runs all end in error)."""
        return frozenset({"wan_link"}) if self.sid == "c" else frozenset()

    @property
    def tags(self) -> dict[str, str]:
        return {"school": self.sid, "province": self.province, "city": self.city,
                "county": self.county}

    def status_changes(self, now: int) -> list[tuple[int, str]]:
        came, went = self.online
        out = [(now - came, "online")]
        if self.outage[0]:
            out += [(now - self.outage[0], "offline"), (now - self.outage[1], "online")]
        if went:
            out.append((now - went, "offline"))
        return out

    def state_at(self, now: int, end: int) -> str | None:
        seen = [s for t, s in self.status_changes(now) if t <= end]
        return seen[-1] if seen else None

    def change_at(self, now: int, end: int) -> tuple[str, int]:
        """The agent's state as of ``end`` and when it began ("never", 0: no status yet)."""
        seen = [(s, t) for t, s in self.status_changes(now) if t <= end]
        return seen[-1] if seen else ("never", 0)

    def agent_state(self, now: int, end: int) -> tuple[str, int] | None:
        """The agent state (and since when) the dashboards show as of ``end``: as the
        judge re-stated it at its newest round within the lookback."""
        times = [t for t in self.verdict_times(now) if end - VERDICT_LOOKBACK < t <= end]
        return self.change_at(now, times[-1]) if times else None

    def verdict_times(self, now: int) -> list[int]:
        # A few minutes off the hour, so that no point sits on a range's edge.
        return [t - 7 * MINUTE for t in range(now - self.judged_since + JUDGE_EVERY, now + 1,
                                              JUDGE_EVERY)]

    def verdicts_at(self, now: int, ts: int) -> dict[str, str]:
        base = self.earlier if self.earlier and ts < now - self.changed else self.statuses
        seen = set(base.values())
        overall = ("fail" if "fail" in seen else "pass" if seen == {"pass"}
                   else "inconclusive" if "inconclusive" in seen else "no_data")
        return {**base, "all": overall}

    def verdict(self, now: int, end: int, target: str) -> str | None:
        """The status a state panel shows as of ``end``: newest within the lookback."""
        times = [t for t in self.verdict_times(now) if end - VERDICT_LOOKBACK < t <= end]
        return self.verdicts_at(now, times[-1])[target] if times else None

    def reading_times(self, now: int) -> list[int]:
        came, went = self.online
        start = max(now - came, now - went - 10 * DAY)
        away = range(now - self.outage[0], now - self.outage[1])  # empty without an outage
        return [t - 3 * MINUTE for t in range(start + HOUR, now - went + 1, HOUR)
                if t - 3 * MINUTE not in away]

    def reports(self, now: int, end: int) -> bool:
        """Has a reading within the reading lookback before ``end``."""
        return any(end - READING_LOOKBACK < t <= end for t in self.reading_times(now))


SCHOOLS = (
    School("a", "p1", "c1", "k1", (100 * DAY, 0), 100 * DAY,
           {"exit_bandwidth": "pass", "classroom_links": "pass", "wifi": "fail", "ipv6": "pass"},
           (1000, 100), frozenset({"操场"}), 2, spool=(100, 100 * DAY)),
    School("b", "p1", "c1", "k1", (40 * DAY, 30 * DAY), 100 * DAY,
           dict.fromkeys(TARGETS, "no_data"), (1000, 1000), frozenset(), 1,
           earlier={"exit_bandwidth": "pass", "classroom_links": "pass", "wifi": "fail",
                    "ipv6": "fail"}, changed=30 * DAY),
    School("c", "p1", "c1", "k2", (10 * DAY, 5 * HOUR), 10 * DAY,
           dict.fromkeys(TARGETS, "fail"), (1000, 10), frozenset({"操场", "办公楼"}), 0,
           spool=(900, 5 * HOUR + 2 * DAY)),
    School("d", "p2", "c2", "k3", (36 * HOUR, 0), 36 * HOUR,
           {"exit_bandwidth": "inconclusive", "classroom_links": "pass", "wifi": "inconclusive",
            "ipv6": "pass"}, (1000, 1000, 100), frozenset(), 4, spool=(2400, 20 * HOUR)),
    School("e", "p2", "c2", "k3", (60 * DAY, 0), 60 * DAY,
           {"exit_bandwidth": "pass", "classroom_links": "pass", "wifi": "fail", "ipv6": "pass"},
           (1000, 1000), frozenset({"操场"}), 2, outage=(30 * HOUR, 9 * HOUR)),
)
BY_ID = {s.sid: s for s in SCHOOLS}


def _r(measurement: str, s: School, fields: dict[str, FieldValue], ts_ms: int,
       **tags: str) -> Reading:
    return Reading(measurement, fields, {**s.tags, **tags}, ts_ms * 1_000_000)


def _hourly(s: School, ts: int, now: int) -> Iterator[Reading]:
    yield _r("agent", s, {"uptime_seconds": 3600.0, "spool_depth": float(s.spool_depth(now, ts)),
                          "probe_errors": 0.0, "version": "0.1.0", "result": "ok"}, ts)
    yield _r("probe_run", s, {"duration_seconds": 1.0, "readings": 1.0,
                              "result": "error" if s.sid == "c" else "ok"}, ts, probe="wan")
    yield _r("wan_throughput", s, {"download_bps": 9e8, "upload_bps": 5e8, "rtt_seconds": 0.01,
                                   "jitter_seconds": 0.001, "result": "ok"}, ts,
             method="http", server="county")
    yield _r("wan_link", s, {"rx_bps": 1e8, "tx_bps": 5e7, "contracted_mbps": 1000.0,
                             "result": "ok"}, ts, iface="wan", source="snmp")
    for n, speed in enumerate(s.speeds, 1):
        yield _r("classroom_link", s, {"link_speed_mbps": float(speed), "oper_up": True,
                                       "rx_bps": 1e6, "tx_bps": 1e6, "result": "ok"}, ts,
                 classroom=f"{n}班", switch="sw1", port=f"GE0/0/{n}")
    yield _r("classroom_summary", s, {
        "classrooms": float(len(s.speeds)),
        "classrooms_meeting": float(sum(v >= 100 for v in s.speeds)),
        "classrooms_below": float(sum(v < 100 for v in s.speeds)),
        "classrooms_down": 0.0, "classrooms_unknown": 0.0, "result": "ok"}, ts)
    for area in AREAS:
        covered = area not in s.uncovered
        yield _r("wifi_area", s, {"covered": covered, "required": True, "clients": 10.0,
                                  "aps_online": 1.0, "aps_total": 1.0, "result": "ok",
                                  "best_signal_dbm": -50.0 if covered else -85.0}, ts,
                 area=area, area_kind="teaching")
    yield _r("wifi_coverage", s, {"required_areas": float(len(AREAS)),
                                  "covered_areas": float(len(AREAS) - len(s.uncovered)),
                                  "areas_no_data": 0.0, "result": "ok"}, ts)
    yield _r("ipv6", s, {"level": float(s.ipv6_level), "level_name": f"level{s.ipv6_level}",
                         "result": "ok"}, ts)


def registered(s: School) -> registry.School:
    return registry.School(s.sid, s.sid, s.province, s.province, s.city, s.city, s.county,
                           s.county, "primary", len(s.speeds), 1000.0)


def rollup_points(now: int) -> list[Reading]:
    """The roll-ups the judge writes at each round, from the schools judged in it, and
    its re-statement of each judged school's agent state with their counts (every
    round: the collector re-states it less often, which the dashboards cannot tell)."""
    out: list[Reading] = []
    attending: set[str] = set()
    for ts in sorted({t for s in SCHOOLS for t in s.verdict_times(now)}):
        judged = [s for s in SCHOOLS if ts in s.verdict_times(now)]
        verdicts = [rules.Verdict(registered(s), target, status, None, 1.0, 4)
                    for s in judged for target, status in s.verdicts_at(now, ts).items()]
        out += rollups.points(verdicts, [registered(s) for s in judged], ts * 1_000_000)
        states = {s.sid: s.change_at(now, ts) for s in judged}
        backlogs = {s.sid: s.backlog_at(now, ts) for s in judged}
        out += [_r(agentstate.MEASUREMENT, s, agentstate.fields(
            states[s.sid][0], states[s.sid][1] * 1_000_000, "0.1.0",
            agentstate.Backlog(backlogs[s.sid][0], backlogs[s.sid][1] * 1_000_000)), ts)
            for s in judged]
        for s in judged:
            backlog = agentstate.Backlog(backlogs[s.sid][0], backlogs[s.sid][1] * 1_000_000)
            attention = agentstate.attention_due(
                agentstate.needs_attention(states[s.sid][0], backlog), True, s.sid in attending)
            if attention is not None:
                out.append(_r(agentstate.ATTENTION, s, {**agentstate.fields(
                    states[s.sid][0], states[s.sid][1] * 1_000_000, "0.1.0", backlog),
                    "attention": attention}, ts))
                if attention:
                    attending.add(s.sid)
                else:
                    attending.discard(s.sid)
        out += agentstate.rollup_readings(agentstate.tally(
            ((s.province, s.city, s.county, states[s.sid][0]) for s in judged),
            [(s.province, s.city, s.county, s.failing) for s in judged],
            [(s.province, s.city, s.county, backlogs[s.sid][0]) for s in judged]),
            ts * 1_000_000)
    return out


def readings(now: int) -> list[Reading]:
    out: list[Reading] = rollup_points(now)
    for s in SCHOOLS:
        for ts, state in s.status_changes(now):
            out.append(_r("agent_status", s, {"online": state == "online", "state": state,
                                              "agent_version": "0.1.0"}, ts))
        for ts in s.verdict_times(now):
            for target, status in s.verdicts_at(now, ts).items():
                out.append(_r("compliance", s, {"status": status, "pass": status == "pass",
                                                "threshold": 1.0, "readings": 4.0}, ts,
                              target=target))
        for ts in s.reading_times(now):
            out.extend(_hourly(s, ts, now))
    return out
