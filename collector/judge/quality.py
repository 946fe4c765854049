"""Path-quality verdicts: interactive-classroom readiness, the education network ladder,
class-hour availability; and the outages going on now.

All three are judged per school and uplink over the class-hour minutes of the
last ``quality_days`` (readings of probe ``path_quality``). One InfluxQL query
serves every school: per school, uplink and level, the ``ready_share``
percentile of each minute's p95 RTT, PDV and loss (the figure met in that
share of minutes) and the mean uptime share.

* ``interactive_classroom``: the platform targets' figures within
  ``interactive_*`` (ITU-T Y.1541 class 0 / G.1010, see configs/targets.toml).
* ``edu_ladder``: the county, city and province nodes each within their RTT
  limit and ``ladder_loss_share``; value = levels meeting (of 3).
* ``class_hours_availability``: the lowest uptime share among the school's
  targets on that uplink, against ``availability_share``.

These verdicts stay out of the school's "all" summary, which is the policy
targets' (千兆进校, 百兆进班, 无线校园, IPv6): a school without reflectors to
measure against is not failed for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from collector.judge.reader import InfluxQLReader, Row
from collector.judge.registry import School
from collector.judge.rules import Health, Verdict
from collector.judge.targets import Targets

QUALITY_TARGETS = ("interactive_classroom", "edu_ladder", "class_hours_availability")
LADDER = ("county", "city", "province")
# Outages older than this without an update are left to the "silent" alert.
OUTAGE_FRESH_SECONDS = 600

Figures = dict[str, Row]  # level -> the row of that level's aggregates


def figures_query(share: float, days: float) -> str:
    pct = round(share * 100, 3)
    return (f"SELECT count(sent) AS minutes, percentile(rtt_p95_seconds, {pct:g}) AS rtt, "
            f"percentile(pdv_seconds, {pct:g}) AS pdv, percentile(loss_share, {pct:g}) AS loss, "
            f'mean(up_share) AS up FROM "path_quality" WHERE class_hours = true AND '
            f"time > now() - {int(days * 86400)}s GROUP BY school, uplink, level")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _meets(row: Row, rtt_ms: float, loss: float, pdv_ms: float | None = None) -> bool:
    # No RTT at all means no answer in most minutes: loss decides, and fails.
    ok = row.get("loss") is not None and row["loss"] <= loss
    ok = ok and row.get("rtt") is not None and row["rtt"] * 1000 <= rtt_ms
    if pdv_ms is not None:
        ok = ok and row.get("pdv") is not None and row["pdv"] * 1000 <= pdv_ms
    return ok


def interactive(school: School, uplink: str, levels: Figures, t: Targets) -> Verdict:
    row = levels.get("platform")
    threshold = t.interactive_rtt_p95_ms
    if row is None or row["minutes"] < t.quality_min_minutes:
        return Verdict(school, "interactive_classroom", "no_data", None, threshold,
                       row["minutes"] if row else 0, f"uplink {uplink}", uplink)
    ok = _meets(row, t.interactive_rtt_p95_ms, t.interactive_loss_share, t.interactive_pdv_ms)
    loss = row["loss"] if row.get("loss") is not None else 1.0
    detail = (f"uplink {uplink}: in {t.ready_share:.0%} of class minutes RTT p95 <= "
              f"{_ms(row.get('rtt'))}, PDV <= {_ms(row.get('pdv'))}, loss <= {loss:.2%}")
    value = round(row["rtt"] * 1000, 1) if row.get("rtt") is not None else None
    return Verdict(school, "interactive_classroom", "pass" if ok else "fail", value, threshold,
                   int(row["minutes"]), detail, uplink)


def ladder(school: School, uplink: str, levels: Figures, t: Targets) -> Verdict:
    limits = {"county": t.ladder_county_rtt_ms, "city": t.ladder_city_rtt_ms,
              "province": t.ladder_province_rtt_ms}
    parts, meeting, minutes, missing = [], 0, 0, []
    for level in LADDER:
        row = levels.get(level)
        if row is None or row["minutes"] < t.quality_min_minutes:
            missing.append(level)
            parts.append(f"{level} not measured")
            continue
        minutes += int(row["minutes"])
        ok = _meets(row, limits[level], t.ladder_loss_share)
        meeting += ok
        loss = row["loss"] if row.get("loss") is not None else 1.0
        parts.append(f"{level} {_ms(row.get('rtt'))} {loss:.2%} {'ok' if ok else 'FAIL'}")
    detail = f"uplink {uplink}: " + ", ".join(parts)
    if len(missing) == len(LADDER):
        status = "no_data"
    elif meeting + len(missing) < len(LADDER):
        status = "fail"  # a measured level misses its limit, whatever the others say
    else:
        status = "inconclusive" if missing else "pass"
    return Verdict(school, "edu_ladder", status, float(meeting) if status != "no_data" else None,
                   float(len(LADDER)), minutes, detail, uplink)


def availability(school: School, uplink: str, levels: Figures, t: Targets) -> Verdict:
    measured = {lvl: r for lvl, r in levels.items()
                if r["minutes"] >= t.quality_min_minutes and r.get("up") is not None}
    if not measured:
        return Verdict(school, "class_hours_availability", "no_data", None,
                       t.availability_share, 0, f"uplink {uplink}", uplink)
    worst = min(measured, key=lambda lvl: (measured[lvl]["up"], lvl))
    share = float(measured[worst]["up"])
    status = "pass" if share >= t.availability_share else "fail"
    return Verdict(school, "class_hours_availability", status, round(share, 5),
                   t.availability_share, int(sum(r["minutes"] for r in measured.values())),
                   f"uplink {uplink}: lowest {worst} {share:.2%}", uplink)


def evaluate(reader: InfluxQLReader, schools: Iterable[School],
             targets: dict[str, Targets]) -> list[Verdict]:
    schools = list(schools)
    days = max(t.quality_days for t in targets.values())
    by_share: dict[float, dict[tuple[str, str], Figures]] = {}
    for share in sorted({t.ready_share for t in targets.values()}):
        grouped: dict[tuple[str, str], Figures] = defaultdict(dict)
        for row in reader.rows(figures_query(share, days)):
            grouped[(row["school"], row["uplink"])][row["level"]] = row
        by_share[share] = grouped
    verdicts = []
    for school in schools:
        t = targets[school.school_type]
        grouped = by_share[t.ready_share]
        uplinks = sorted(u for sid, u in grouped if sid == school.school_id) or ["default"]
        for uplink in uplinks:
            levels = grouped.get((school.school_id, uplink), {})
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
