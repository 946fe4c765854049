"""Path-quality verdicts: interactive-classroom readiness, the education network ladder,
class-hour availability; and the outages going on now.

All three are judged per school and uplink over the class-hour minutes of the
last ``quality_days`` (readings of probe ``path_quality``), from the minutes
counted per day (collector.judge.classminutes): a figure meets its limit when it
did in at least ``ready_share`` of those minutes. A minute's figures are its p95
RTT, its PDV and its loss.

* ``interactive_classroom``: the platform targets' figures within
  ``interactive_*`` (ITU-T Y.1541 class 0 / G.1010, see configs/targets.toml);
  value = the lowest of the three shares of minutes, against ``ready_share``.
* ``edu_ladder``: the county, city and province nodes each within their RTT
  limit and ``ladder_loss_share``; value = levels meeting (of 3).
* ``class_hours_availability``: the lowest mean uptime share among the school's
  levels on that uplink, against ``availability_share``.

These verdicts stay out of the school's "all" summary, which is the policy
targets' (千兆进校, 百兆进班, 无线校园, IPv6): a school without reflectors to
measure against is not failed for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from collector.judge.classminutes import ClassMinutes, Figures, Limit, limits_of
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.rules import Health, Verdict
from collector.judge.targets import Targets

QUALITY_TARGETS = ("interactive_classroom", "edu_ladder", "class_hours_availability")
LADDER = ("county", "city", "province")
# Outages older than this without an update are left to the "silent" alert.
OUTAGE_FRESH_SECONDS = 600

Levels = dict[str, Figures]  # level -> that level's class minutes


def _ms(limit: Limit) -> str:
    return f"{limit.bound * 1000:g} ms"


def interactive(school: School, uplink: str, levels: Levels, t: Targets) -> Verdict:
    row = levels.get("platform")
    if row is None or row.minutes < t.quality_min_minutes:
        return Verdict(school, "interactive_classroom", "no_data", None, t.ready_share,
                       row.minutes if row else 0, f"uplink {uplink}", uplink)
    rtt, pdv, loss = limits_of(t)["platform"]
    shares = [row.share(rtt), row.share(pdv), row.share(loss)]
    ok = min(shares) >= t.ready_share
    detail = (f"uplink {uplink}: of {row.minutes} class minutes, RTT p95 <= {_ms(rtt)} in "
              f"{shares[0]:.1%}, PDV <= {_ms(pdv)} in {shares[1]:.1%}, loss <= "
              f"{loss.bound:.0%} in {shares[2]:.1%} (needs {t.ready_share:.0%})")
    return Verdict(school, "interactive_classroom", "pass" if ok else "fail",
                   round(min(shares), 5), t.ready_share, row.minutes, detail, uplink)


def ladder(school: School, uplink: str, levels: Levels, t: Targets) -> Verdict:
    parts, meeting, minutes, missing = [], 0, 0, []
    for level in LADDER:
        row = levels.get(level)
        if row is None or row.minutes < t.quality_min_minutes:
            missing.append(level)
            parts.append(f"{level} not measured")
            continue
        minutes += row.minutes
        rtt, loss = limits_of(t)[level]
        ok = min(row.share(rtt), row.share(loss)) >= t.ready_share
        meeting += ok
        parts.append(f"{level} <= {_ms(rtt)} in {row.share(rtt):.1%}, loss <= "
                     f"{loss.bound:.0%} in {row.share(loss):.1%} {'ok' if ok else 'FAIL'}")
    detail = f"uplink {uplink}: " + "; ".join(parts)
    if len(missing) == len(LADDER):
        status = "no_data"
    elif meeting + len(missing) < len(LADDER):
        status = "fail"  # a measured level misses its limit, whatever the others say
    else:
        status = "inconclusive" if missing else "pass"
    return Verdict(school, "edu_ladder", status, float(meeting) if status != "no_data" else None,
                   float(len(LADDER)), minutes, detail, uplink)


def availability(school: School, uplink: str, levels: Levels, t: Targets) -> Verdict:
    measured = {lvl: r for lvl, r in levels.items()
                if r.minutes >= t.quality_min_minutes and r.up_minutes}
    if not measured:
        return Verdict(school, "class_hours_availability", "no_data", None,
                       t.availability_share, 0, f"uplink {uplink}", uplink)
    worst = min(measured, key=lambda lvl: (measured[lvl].up, lvl))
    share = measured[worst].up
    status = "pass" if share >= t.availability_share else "fail"
    return Verdict(school, "class_hours_availability", status, round(share, 5),
                   t.availability_share, sum(r.minutes for r in measured.values()),
                   f"uplink {uplink}: lowest {worst} {share:.2%}", uplink)


def evaluate(minutes: ClassMinutes, schools: Iterable[School], targets: dict[str, Targets],
             now_ns: int) -> list[Verdict]:
    verdicts = []
    for school in schools:
        t = targets[school.school_type]
        grouped: dict[str, Levels] = defaultdict(dict)
        for (uplink, level), figures in minutes.figures(school, now_ns).items():
            grouped[uplink][level] = figures
        for uplink in sorted(grouped) or ["default"]:
            levels = grouped[uplink]
            verdicts += [interactive(school, uplink, levels, t), ladder(school, uplink, levels, t),
                         availability(school, uplink, levels, t)]
    return verdicts


def with_outages(reader: InfluxQLReader, states: dict[str, Health],
                 now_ns: int) -> dict[str, Health]:
    """``states`` with each school's outages going on now, as (level, uplink) pairs."""
    # The newest outage per path, with its own time (two last() would return time 0).
    rows = reader.rows('SELECT ongoing, duration_seconds AS seconds FROM "path_outage" '
                       "WHERE time > now() - 2d GROUP BY school, level, uplink "
                       "ORDER BY time DESC LIMIT 1")
    down: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in rows:
        # An outage's point is stamped with its start; its duration says how far
        # the agent has seen it. A stale "ongoing" is the agent gone silent.
        seen_until = row["time"] + (row["seconds"] or 0.0) * 1e9
        if row["ongoing"] is True and now_ns - seen_until < OUTAGE_FRESH_SECONDS * 1e9:
            down[row["school"]].add((row["level"], row["uplink"]))
    # A school with no outage now and none before keeps its Health object: a
    # province's schools would otherwise each get a copy and an empty set a round.
    return {sid: replace(h, outages=frozenset(down[sid])) if sid in down or h.outages else h
            for sid, h in states.items()}
