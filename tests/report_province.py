"""A simulated province for the report tests and the 50,000-school bench: a registry over
several cities and counties (教学点 included), readings over two periods written to a real
influxd, and what every indicator should be, computed from the plan, not from the database.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.contract.schools import SCHOOL_TYPES
from collector.ingest.lineproto import line
from collector.judge import summary
from collector.judge.registry import School as RegisteredSchool
from collector.judge.rules import Verdict
from collector.judge.state import Windows
from collector.judge.targets import Indicators, Targets

HEADER = ("school_id,name,province_code,province_name,city_code,city_name,county_code,"
          "county_name,school_type,classes,contracted_mbps\n")
CITIES = {"3701": "济南市", "3702": "青岛市", "3703": "淄博市"}
KINDS = ("teaching", "office", "activity")
# The as-of dates of the two periods (their ends); the period is 30 days.
EARLY, LATE = dt.date(2026, 3, 31), dt.date(2026, 9, 30)
LONGEST = ("山东省济南市历下区泉城路街道办事处辖区内第一实验小学"
           "（含东校区、西校区及南部山区教学点）联合体")


@dataclass
class Plan:
    """What one school sent in one period (empty: silent)."""

    silent: bool = True
    # Mbps, oldest first; None: an inconclusive test
    tests: list[float | None] = field(default_factory=list)
    port: float | None = None
    rooms: list[float] = field(default_factory=list)          # each reported classroom's Mbps
    wifi: dict[str, list[bool]] = field(default_factory=dict)  # kind: covered per required area
    ipv6: int | None = None
    verdict: str | None = None                                # the stored "all" verdict


@dataclass
class School:
    sid: str
    name: str
    city: str
    county: str
    kind: str
    classes: int
    contracted: float
    plans: dict[dt.date, Plan] = field(default_factory=dict)


def province(n: int, seed: int = 16) -> list[School]:
    rng = random.Random(seed)
    counties = [(c, f"{c}{i:02d}") for c in CITIES for i in range(1, 4)]
    out = []
    for i in range(n):
        city, county = counties[i % len(counties)]
        kind = "teaching_point" if i % 7 == 3 else rng.choice(
            [t for t in SCHOOL_TYPES if t != "teaching_point"])
        name = LONGEST if i == 5 else f"{CITIES[city]}{county[-2:]}县第{i}学校"
        classes = rng.randint(1, 4) if kind == "teaching_point" else rng.randint(2, 8)
        school = School(f"{county}-{i:05d}", name, city, county, kind, classes,
                        float(rng.choice([0, 100, 300, 1000, 1000])))
        for day, better in ((EARLY, False), (LATE, True)):
            school.plans[day] = _plan(rng, school, better)
        out.append(school)
    return out


def _plan(rng: random.Random, school: School, better: bool) -> Plan:
    if rng.random() < (0.06 if better else 0.2):
        return Plan()
    speeds = [60, 95, 150, 420, 850, 960] if better else [40, 85, 90, 150, 420, 900]
    tests: list[float | None] = [float(rng.choice(speeds)) for _ in range(rng.choice(
        [0, 1, 3, 3, 6]))]
    if not tests and rng.random() < 0.5:
        tests = [None]
    elif tests and rng.random() < 0.2:
        tests.insert(rng.randrange(len(tests)), None)
    rooms = [float(rng.choice([100, 1000, 1000, 10] if better else [10, 100, 1000]))
             for _ in range(rng.choice([0, school.classes, school.classes,
                                        max(0, school.classes - 1)]))]
    wifi = {k: [rng.random() < (0.85 if better else 0.5) for _ in range(rng.choice([0, 1, 2]))]
            for k in KINDS}
    return Plan(False, tests, rng.choice([None, 100.0, 1000.0, 1000.0]), rooms,
                {k: v for k, v in wifi.items() if v}, rng.choice([None, 0, 1, 2, 3, 4]),
                rng.choice([None, "pass", "fail", "inconclusive"]))


def registry_csv(schools: list[School]) -> str:
    return HEADER + "".join(
        f"{s.sid},{s.name},37,山东省,{s.city},{CITIES[s.city]},{s.county},{s.county}区,"
        f"{s.kind},{s.classes},{s.contracted:g}\n" for s in schools)


def lines(schools: list[School]) -> list[str]:
    """Line protocol for every plan, 10-20 days before its period's end, plus readings
    just outside each period that must not count."""
    out = []
    for s in schools:
        tags = f"school={s.sid},province=37,city={s.city},county={s.county}"
        for day, plan in s.plans.items():
            end = dt.datetime.combine(day, dt.time(), dt.UTC)
            t = int((end - dt.timedelta(days=20)).timestamp()) * 10**9
            # 31 days before the end: outside the 30-day period.
            out.append(f"ipv6,{tags} level=4i,result=\"ok\" "
                       f"{int((end - dt.timedelta(days=31)).timestamp()) * 10**9}")
            if plan.silent:
                continue
            probes = {"wan_link"}
            for i, mbps in enumerate(plan.tests):
                probes.add("wan_throughput")
                field_ = (f"download_bps={mbps * 1e6},result=\"ok\"" if mbps is not None
                          else "result=\"inconclusive\",cpu_limited=true")
                out.append(f"wan_throughput,{tags},method=http,server=a {field_} "
                           f"{t + i * 3600 * 10**9}")
            if plan.port is not None:
                out.append(f"wan_link,{tags},iface=eth0 link_speed_mbps={plan.port},"
                           f"result=\"ok\" {t}")
            for i, mbps in enumerate(plan.rooms):
                probes.add("classroom_links")
                out.append(f"classroom_link,{tags},classroom=c{i},switch=sw,port=p{i} "
                           f"link_speed_mbps={mbps},oper_up=true,result=\"ok\" {t}")
            for kind, areas in plan.wifi.items():
                probes.add("wifi")
                for i, covered in enumerate(areas):
                    out.append(f"wifi_area,{tags},area={kind}{i},area_kind={kind} "
                               f"covered={str(covered).lower()},required=true {t}")
            # An area nobody must cover never counts.
            out.append(f"wifi_area,{tags},area=store,area_kind=other covered=false,"
                       f"required=false {t}")
            if plan.ipv6 is not None:
                probes.add("ipv6")
                out.append(f"ipv6,{tags} level={plan.ipv6}i,result=\"ok\" {t}")
            out += [f"probe_run,{tags},probe={p} duration_seconds=1.5,result=\"ok\" {t}"
                    for p in sorted(probes)]
            if plan.verdict:
                out.append(f"compliance,{tags},target=all status=\"{plan.verdict}\","
                           f"value=2,threshold=4 {t}")
    return out


def write(url: str, db: str, data: list[str], batch: int = 5000) -> None:
    for i in range(0, len(data), batch):
        body = "\n".join(data[i:i + batch]).encode()
        urllib.request.urlopen(urllib.request.Request(
            f"{url}/write?db={db}&precision=ns", body, method="POST"), timeout=120)


def _fields(text: str) -> dict[str, Any]:
    # The plan's field sets only: numbers, ints, booleans, quoted words without commas.
    out: dict[str, Any] = {}
    for item in text.split(","):
        key, value = item.split("=", 1)
        out[key] = (value[1:-1] if value.startswith('"') else value == "true"
                    if value in ("true", "false") else int(value[:-1])
                    if value.endswith("i") else float(value))
    return out


def round_at(day: dt.date) -> int:
    """When the collector's round before a report as of ``day`` ran: an hour before."""
    return int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp()
               ) * 10**9 - 3600 * 10**9


def summaries(registered: dict[str, RegisteredSchool], schools: list[School], day: dt.date,
              cfg: Indicators, targets: dict[str, Targets],
              keep: Callable[[RegisteredSchool, str], None] | None = None
              ) -> tuple[list[str], float]:
    """The school_summary lines a collector judging at the end of ``day``'s period would
    write (its round at :func:`round_at`): these schools' readings through judging
    windows, the stored "all" verdicts as the round's verdicts; and the CPU seconds of
    computing and encoding them from the windows (a round's share). ``keep`` is given
    each school and its summary's facts text, as ``Summaries.keep`` is."""
    at = round_at(day)
    windows = Windows(targets)
    verdicts: dict[str, Verdict] = {}
    for text in lines(schools):
        head, fields, ts = text.split(" ")
        if int(ts) > at:
            continue
        measurement, *pairs = head.split(",")
        tags = dict(p.split("=", 1) for p in pairs)
        values = _fields(fields)
        if measurement == "compliance":
            if int(ts) > at - windows.age_ns:
                verdicts[tags["school"]] = Verdict(
                    registered[tags["school"]], tags["target"], values["status"],
                    values["value"], values["threshold"], 0)
        else:
            windows.add(tags["school"], measurement, tags, values, int(ts))
    out = []
    began = time.process_time()
    for s in schools:
        school = registered[s.sid]
        v = [verdicts[s.sid]] if s.sid in verdicts else []
        made = summary.summary_point(school, cfg, summary.facts(windows, s.sid, at, cfg), v,
                                     at)
        out.append(line(made))
        if keep is not None:
            keep(school, str(made.fields["facts"]))
    return out, time.process_time() - began


def write_files(tmp: Path, schools: list[School]) -> Path:
    registry = tmp / "schools.csv"
    registry.write_text(registry_csv(schools), encoding="utf-8")
    return registry


# -- what the report must say, from the plans ------------------------------------

def expected(school: School, day: dt.date) -> dict[str, bool | None]:
    """Per indicator: met (True/False), or None where it does not apply."""
    plan = school.plans[day]
    good = [t for t in plan.tests if t is not None][-5:]
    median = statistics.median(good) if good else None
    out: dict[str, bool | None] = {"connected": not plan.silent}
    for tier in (100, 1000):
        out[f"exit_{tier}"] = median is not None and median >= tier * 0.8 and (
            plan.port is None or plan.port >= tier)
    classes = max(school.classes, len(plan.rooms))
    out["classrooms"] = bool(plan.rooms) and sum(r >= 100 for r in plan.rooms) >= classes
    for kind in KINDS:
        out[f"wifi_{kind}"] = kind in plan.wifi and all(plan.wifi[kind])
    out["contract"] = (None if not school.contracted else
                       median is not None and median >= 0.8 * school.contracted)
    for level in range(5):
        out[f"ipv6_level_{level}"] = plan.ipv6 == level
    out["ipv6_unknown"] = plan.ipv6 is None
    out["verdict_all"] = plan.verdict == "pass"
    return out

ZH_TYPES = {"primary": "小学", "junior": "初中", "senior": "高中", "nine_year": "九年一贯制",
            "twelve_year": "十二年一贯制", "vocational": "中职", "teaching_point": "教学点",
            "special": "特殊教育"}
