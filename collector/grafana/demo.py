"""Constructed demo data for the dashboards: invented schools, plausible readings.

Nothing here was measured. It holds every measurement the dashboards and
alerts query, stored the way the collector stores readings (region tags on
every point, numbers as floats), for the last few days up to now. Schools
differ on purpose: some miss the exit target, some classrooms are at 10 or
100 Mbps, some Wi-Fi areas are uncovered, IPv6 levels span 0-4, and a few
agents went silent (last will ``offline``, compliance ``no_data``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from agent.contract.reading import FieldValue, Reading
from collector.judge import agentstate, rollups

HOUR_NS = 3600 * 10**9
# province -> city -> counties (GB/T 2260 codes of real places; the schools are invented)
REGIONS = {"37": {"3701": ["370102", "370103"], "3702": ["370202"]},
           "11": {"1101": ["110101", "110102"]}}
AREAS = (("教学楼A", "teaching"), ("办公楼", "office"), ("操场", "activity"))
IPV6_CHECKS = ("wan_global_addr", "default_route", "tcp_v6", "lan_ra", "lan_dhcpv6",
               "school_site_aaaa")


@dataclass
class School:
    sid: str
    province: str
    city: str
    county: str
    download_mbps: float
    classroom_speeds: list[int]
    uncovered: set[str]
    ipv6_level: int
    silent: bool
    cpu_limited: bool  # its gateway could not drive the test: exit is inconclusive
    behind: bool = False  # its readings stop getting through 12 h before its last heartbeat

    @property
    def tags(self) -> dict[str, str]:
        return {"school": self.sid, "province": self.province, "city": self.city,
                "county": self.county}

    def statuses(self) -> dict[str, str]:
        """What the compliance rules would say (the demo's own, simplified)."""
        if self.silent:
            return dict.fromkeys(("exit_bandwidth", "classroom_links", "wifi", "ipv6", "all"),
                                 "no_data")
        exit_ok = "pass" if self.download_mbps >= 800 else "fail"
        out = {"exit_bandwidth": "inconclusive" if self.cpu_limited else exit_ok,
               "classroom_links": "pass" if min(self.classroom_speeds) >= 100 else "fail",
               "wifi": "fail" if self.uncovered else "pass",
               "ipv6": "pass" if self.ipv6_level >= 2 else "fail"}
        seen = set(out.values())
        # As collector.judge.rules.summary judges the four together.
        out["all"] = ("fail" if "fail" in seen else "pass" if seen == {"pass"}
                      else "inconclusive" if "inconclusive" in seen else "no_data")
        return out


def schools() -> list[School]:
    """15 schools in 5 counties; the n-th school's faults follow from n, so that
    every status (pass, fail, inconclusive, no_data) occurs in the overview."""
    out = []
    n = 0
    for province, cities in REGIONS.items():
        for city, counties in cities.items():
            for county in counties:
                for _ in range(3):
                    n += 1
                    out.append(School(
                        f"{county}-{n:04d}", province, city, county,
                        download_mbps=610.0 if n % 4 == 2 else 940.0 - n,
                        classroom_speeds=[1000] * (2 + n % 4) + ([10, 100] if n % 3 == 0
                                                                 else [100]),
                        uncovered={"操场"} if n % 5 == 4 else set(),
                        ipv6_level=n % 5, silent=n % 7 == 3, cpu_limited=n % 6 == 1,
                        behind=n % 6 == 4))
    return out


def _r(measurement: str, school: School, fields: dict[str, FieldValue], ts: int,
       **tags: str) -> Reading:
    return Reading(measurement, fields, {**school.tags, **tags}, ts)


def _hourly(s: School, ts: int, rng: random.Random, hour: int, backlog: int
            ) -> Iterator[Reading]:
    yield _r("wan_link", s, {"link_speed_mbps": 1000.0, "contracted_mbps": 1000.0,
                             "rx_bps": rng.uniform(50e6, 400e6), "tx_bps": rng.uniform(5e6, 80e6),
                             "utilisation": rng.uniform(0.05, 0.4), "oper_up": True,
                             "result": "ok"}, ts, iface="eth0")
    yield _r("agent", s, {"version": "0.1.0", "uptime_seconds": 3600.0 * hour,
                          "spool_depth": float(backlog or rng.choice([0, 0, 0, 12])),
                          "probe_errors": 0.0, "result": "ok"}, ts)
    for probe in ("wan_link", "classroom_links", "wifi", "ipv6"):
        result = "timeout" if rng.random() < 0.05 else "ok"
        yield _r("probe_run", s, {"duration_seconds": rng.uniform(0.1, 3.0), "readings": 1.0,
                                  "result": result}, ts, probe=probe)


def _six_hourly(s: School, ts: int, rng: random.Random) -> Iterator[Reading]:
    down = s.download_mbps * rng.uniform(0.97, 1.02) * 1e6
    idle, bloat = rng.uniform(0.002, 0.02), rng.choice([0.003, 0.02, 0.25])
    yield _r("wan_throughput", s, {"download_bps": down, "upload_bps": down * 0.9,
                                   "rtt_seconds": idle,
                                   "jitter_seconds": rng.uniform(0.0001, 0.002),
                                   "bytes_used": down * 2.5, "result": "ok",
                                   "idle_rtt_seconds": idle, "loaded_rtt_seconds": idle + bloat,
                                   "bufferbloat_seconds": bloat}, ts,
             method="http", server="county")
    for n, speed in enumerate(s.classroom_speeds, 1):
        yield _r("classroom_link", s, {"link_speed_mbps": float(speed), "oper_up": True,
                                       "rx_bps": rng.uniform(0, speed * 2e5),
                                       "tx_bps": rng.uniform(0, speed * 1e5), "result": "ok"},
                 ts, classroom=f"{n}班", switch="sw1", port=f"GE0/0/{n}")
    speeds = s.classroom_speeds
    meeting = sum(v >= 100 for v in speeds)
    yield _r("classroom_summary", s, {
        "classrooms": float(len(speeds)), "classrooms_meeting": float(meeting),
        "classrooms_below": float(len(speeds) - meeting), "classrooms_down": 0.0,
        "classrooms_unknown": 0.0, "meeting_share": meeting / len(speeds), "result": "ok"}, ts)
    for area, kind in AREAS:
        covered = area not in s.uncovered
        yield _r("wifi_area", s, {"covered": covered, "required": True,
                                  "aps_online": 2.0 if covered else 0.0, "aps_total": 2.0,
                                  "clients": float(rng.randint(0, 60)) if covered else 0.0,
                                  "best_signal_dbm": rng.uniform(-60, -45) if covered else -80.0,
                                  "result": "ok"}, ts, area=area, area_kind=kind)
    yield _r("wifi_coverage", s, {"required_areas": float(len(AREAS)),
                                  "covered_areas": float(len(AREAS) - len(s.uncovered)),
                                  "coverage_share": 1.0 - len(s.uncovered) / len(AREAS),
                                  "result": "ok"}, ts)
    checks = {c: n < s.ipv6_level + 1 for n, c in enumerate(IPV6_CHECKS)}
    yield _r("ipv6", s, {"level": float(s.ipv6_level), "level_name": f"level{s.ipv6_level}",
                         **checks, "failing": ",".join(c for c, ok in checks.items() if not ok),
                         "result": "ok"}, ts)


LEVEL_RTT = {"county": 0.004, "city": 0.012, "province": 0.025, "platform": 0.04}


def _path_quality(s: School, ts: int, rng: random.Random, n: int) -> Iterator[Reading]:
    """One class-hour minute per level; every fifth school's county link is lossy."""
    lossy = n % 5 == 0
    for level, rtt in LEVEL_RTT.items():
        loss = 0.03 if lossy and level == "county" else rng.uniform(0, 0.002)
        yield _r("path_quality", s, {
            "sent": 500, "received": round(500 * (1 - loss)), "loss_share": loss,
            "rtt_min_seconds": rtt, "rtt_median_seconds": rtt * 1.1,
            "rtt_p95_seconds": rtt * rng.uniform(1.2, 2.0),
            "jitter_seconds": rng.uniform(0.0002, 0.003), "pdv_seconds": rtt * 0.5,
            "up": True, "up_share": 1.0 if not lossy else 0.97, "class_hours": True,
            "result": "ok"}, ts, target=level, level=level, uplink="edu")
    if lossy or n % 3 == 1:
        yield _r("path_outage", s, {"duration_seconds": 95.0, "lost_packets": 950,
                                    "ongoing": False, "result": "ok"}, ts - 600 * 10**9,
                 target="county", level="county", uplink="edu")


def quality_statuses(s: School, n: int) -> dict[str, str]:
    """The path-quality verdicts of the n-th school (index in ``schools()``)."""
    lossy = n % 5 == 0
    return {t: "no_data" if s.silent else "fail" if lossy and t != "interactive_classroom"
            else "pass" for t in ("interactive_classroom", "edu_ladder",
                                  "class_hours_availability")}


def _quality_compliance(s: School, ts: int, n: int) -> Iterator[Reading]:
    lossy = n % 5 == 0
    statuses = quality_statuses(s, n)
    for target, value, threshold in (
            ("interactive_classroom", 0.99, 0.95),  # the lowest share of minutes meeting
            ("edu_ladder", 2.0 if lossy else 3.0, 3.0),
            ("class_hours_availability", 0.97 if lossy else 1.0, 0.99)):
        status = statuses[target]
        fields: dict[str, FieldValue] = {"status": status, "pass": status == "pass",
                                         "threshold": threshold, "readings": 60.0,
                                         "detail": "uplink edu"}
        if not s.silent:
            fields["value"] = value
        yield _r("compliance", s, fields, ts, target=target, uplink="edu")


def _compliance(s: School, ts: int) -> Iterator[Reading]:
    """Verdicts shaped as collector.judge.evaluate.compliance_point writes them."""
    statuses = s.statuses()
    speeds = s.classroom_speeds
    values = {"exit_bandwidth": (s.download_mbps, 800.0),
              "classroom_links": (sum(v >= 100 for v in speeds) / len(speeds), 1.0),
              "wifi": (1.0 - len(s.uncovered) / len(AREAS), 1.0),
              "ipv6": (float(s.ipv6_level), 2.0),
              "all": (float(sum(v == "pass" for t, v in statuses.items() if t != "all")), 4.0)}
    for target, status in statuses.items():
        value, threshold = values[target]
        fields: dict[str, FieldValue] = {"status": status, "pass": status == "pass",
                                         "threshold": threshold, "readings": 4.0}
        if status not in ("no_data", "inconclusive") or target == "all":
            fields["value"] = value
        yield _r("compliance", s, fields, ts, target=target)


def readings(days: int = 3, now_ns: int | None = None, seed: int = 7) -> list[Reading]:
    """Every demo reading, oldest first, ending at now."""
    now = now_ns or time.time_ns()

    def end_of(s: School) -> int:
        return now - 48 * HOUR_NS if s.silent else now

    def backlog(s: School, ts: int) -> tuple[int, int]:
        """A school behind: its spool, and since when (0, 0: none), as of ``ts``."""
        began = end_of(s) - 12 * HOUR_NS
        if not s.behind or ts < began:
            return 0, 0
        return 600 + 100 * ((min(ts, end_of(s)) - began) // HOUR_NS), began
    rng = random.Random(seed)
    out: list[Reading] = []
    for n, s in enumerate(schools()):
        start = now - days * 24 * HOUR_NS
        # A silent school stopped reporting two days ago; its last will said offline.
        end = end_of(s)
        out.append(_r("agent_status", s, {"online": True, "state": "online",
                                          "agent_version": "0.1.0"}, start))
        if s.silent:
            out.append(_r("agent_status", s, {"online": False, "state": "offline",
                                              "agent_version": "0.1.0"}, end))
        for hour in range(days * 24):
            ts = start + hour * HOUR_NS + rng.randint(0, 10**9)
            if ts < end:
                out.extend(_hourly(s, ts, rng, hour, backlog(s, ts)[0]))
                out.extend(_path_quality(s, ts, rng, n))
                if hour % 6 == 0:
                    out.extend(_six_hourly(s, ts, rng))
            if hour % 6 == 5:  # the rules judge every school, reporting or not
                out.extend(_compliance(s, ts))
                out.extend(_quality_compliance(s, ts, n))
    # The collector's roll-ups of each round's verdicts, as rollups.record writes them.
    every = schools()
    attending: set[str] = set()
    for hour in range(5, days * 24, 6):
        ts = now - days * 24 * HOUR_NS + hour * HOUR_NS + 2 * 10**9
        out.extend(rollups.readings(rollups.tally(
            (s.province, s.city, s.county, target, status)
            for n, s in enumerate(every)
            for target, status in (*s.statuses().items(), *quality_statuses(s, n).items())),
            ts))
        # And its re-statement of every agent's state, with their counts.
        states = {s.sid: ("offline", end_of(s)) if s.silent and ts >= end_of(s)
                  else ("online", now - days * 24 * HOUR_NS) for s in every}
        behind = {s.sid: agentstate.Backlog(*backlog(s, ts)) for s in every}
        out.extend(_r(agentstate.MEASUREMENT, s, agentstate.fields(
            *states[s.sid], "0.1.0", behind[s.sid]), ts) for s in every)
        # The schools needing attention with them, and a closing point for one that left.
        for s in every:
            attention = agentstate.attention_due(agentstate.needs_attention(
                states[s.sid][0], behind[s.sid]), True, s.sid in attending)
            if attention is not None:
                out.append(_r(agentstate.ATTENTION, s, {**agentstate.fields(
                    *states[s.sid], "0.1.0", behind[s.sid]), "attention": attention}, ts))
                if attention:
                    attending.add(s.sid)
                else:
                    attending.discard(s.sid)
        out.extend(agentstate.rollup_readings(agentstate.tally(
            ((s.province, s.city, s.county, states[s.sid][0]) for s in every), (),
            ((s.province, s.city, s.county, behind[s.sid].depth) for s in every)), ts))
    return out
