"""InfluxQL for the dashboards and alerts, with Grafana's template variables.

Grafana replaces ``$timeFilter``, ``$__interval``, ``${__to}`` and ``$name``
variables before the query reaches InfluxDB; multi-value variables become
regex alternations, so every region filter is a ``=~ /^$var$/`` match and
"All" is the regex ``.*``.

Two kinds of panel. A *state* panel ("agents offline now", "share of schools
meeting a target") shows the newest value of each school as of the end of the
chosen range, whatever its start: a heartbeat or a reading may be older than
the range, so a ``$timeFilter`` would lose it. State queries therefore bound
time by ``STATE_END`` and a fixed lookback that does not depend on the range
(the collector re-states what changes seldom, such as agent states, often
enough for its lookback), or by ``STATE_END`` only.
A *history* panel (lines over time) uses ``$timeFilter``.

Compliance shares follow one pattern: take each school's latest status per
target (``last()`` grouped by school), then count the schools whose status is
``pass`` against all schools with a status. Schools that did not report carry
``no_data`` and count as not meeting the target, which is what officials ask
("how many schools meet it, how many are below, how many did not report").
"""

from __future__ import annotations

from collections.abc import Sequence

REGION_TAGS = ("province", "city", "county")
TARGETS = ("exit_bandwidth", "classroom_links", "wifi", "ipv6")
STATUSES = ("pass", "fail", "inconclusive", "no_data")
# A single bucket wider than any dashboard range: lets fill(0) turn "no school
# passes" into a share of 0 instead of no value at all.
WHOLE_RANGE = "time(36500d)"
# The end of the dashboard's range (epoch ms, a Grafana global variable); the
# alert rules, which Grafana evaluates without a dashboard, use now().
STATE_END = "${__to}ms"
ALERT_END = "now()"
# The judge writes every registered school's verdict every
# evaluate_interval_seconds (at most 86400): a verdict older than this lookback
# means the collector stopped judging, not that the school is fine.
VERDICT_LOOKBACK = "25h"
# A probe's reading older than this is not the school's present state.
READING_LOOKBACK = "7d"


ALL_TIME = f"time <= {STATE_END}"  # the newest point before the range's end, however old


def as_of(end: str = STATE_END, lookback: str = "") -> str:
    """Time bounds of a state query: up to ``end``, back ``lookback`` (none: ever)."""
    return f"time <= {end}" + (f" AND time > {end} - {lookback}" if lookback else "")


def q(name: str) -> str:
    """A quoted InfluxQL identifier."""
    return '"' + name.replace('"', '\\"') + '"'


def region_filter(levels: Sequence[str] = REGION_TAGS, school: bool = False) -> str:
    """``AND``-joined regex matches on the region variables, or on $school alone.

    A school id is unique in the registry and $school is narrowed by the region
    variables already; their regexes would only cost time: influxd builds the
    set of every series each one matches ("All" matches all of them) before
    intersecting, 3.2 s for one school's classroom ports among a province's
    1.5 million where the school alone takes 0.08 s.
    """
    if school:
        return f"{q('school')} =~ /^$school$/"
    return " AND ".join(f"{q(tag)} =~ /^${tag}$/" for tag in levels)


def where(*conditions: str, window: str = "$timeFilter") -> str:
    return " WHERE " + " AND ".join([window, *[c for c in conditions if c]])


def verdict_window(end: str = STATE_END) -> str:
    return as_of(end, VERDICT_LOOKBACK)


def latest_status(target: str, bucket: str = "") -> str:
    """Each school's latest compliance status for one target (field ``s``).

    With a bucket: per ``$__interval`` within the range (history); without:
    as of the range's end (state).
    """
    group = ", ".join(q(t) for t in ("school", *REGION_TAGS))
    window = "$timeFilter" if bucket else verdict_window()
    if bucket:
        group = f"{bucket}, {group}"
    target_is = f"{q('target')} = '{target}'"
    return (f"SELECT last({q('status')}) AS {q('s')} FROM {q('compliance')}"
            f"{where(target_is, region_filter(), window=window)} GROUP BY {group}")


def share_query(target: str, group_by: str, over_time: bool = False) -> str:
    """Share (0-1) of schools whose latest status for ``target`` is pass.

    Two raw subqueries are merged: ``p`` exists only for passing schools, ``s``
    for every school, so ``count(p) / count(s)`` is the share per group.
    """
    bucket = "time($__interval)" if over_time else ""
    inner = latest_status(target, bucket)
    passing = f"SELECT {q('s')} AS {q('p')} FROM ({inner}) WHERE {q('s')} = 'pass'"
    groups = ["time($__interval)" if over_time else WHOLE_RANGE, *([group_by] if group_by else [])]
    if not over_time:
        return (f"SELECT count({q('p')}) / count({q('s')}) AS {q(target)} "
                f"FROM ({passing}), ({inner}) GROUP BY {', '.join(groups)} fill(0)")
    # Per bucket: fill(0) makes "nobody passes" 0 rather than null (no line),
    # and the outer ns > 0 drops buckets without any verdict, which fill(0)
    # would otherwise draw as a false 0%.
    counts = (f"SELECT count({q('p')}) AS {q('np')}, count({q('s')}) AS {q('ns')} "
              f"FROM ({passing}), ({inner}) WHERE $timeFilter "
              f"GROUP BY {', '.join(groups)} fill(0)")
    return (f"SELECT {q('np')} / {q('ns')} AS {q(target)} FROM ({counts}) "
            f"WHERE {q('ns')} > 0")


def status_table_query(target: str, group_by: str) -> str:
    """Per group: how many schools' latest status is each of STATUSES, all schools, share.

    One raw subquery per status (field named after it) merged with the full
    list, so every group has a row and a status nobody has counts 0.
    """
    inner = latest_status(target)
    parts = [f"(SELECT {q('s')} AS {q(st)} FROM ({inner}) WHERE {q('s')} = '{st}')"
             for st in STATUSES]
    cols = ", ".join(f"count({q(st)}) AS {q(st)}" for st in STATUSES)
    return (f"SELECT {cols}, count({q('s')}) AS {q('schools')}, "
            f"count({q('pass')}) / count({q('s')}) AS {q('share')} "
            f"FROM {', '.join(parts)}, ({inner}) "
            f"GROUP BY {WHOLE_RANGE}, {group_by} fill(0)")


def last_fields(measurement: str, fields: Sequence[str], group_by: Sequence[str],
                school: bool = True, extra: str = "", window: str = "") -> str:
    """The latest value of each field as of the range's end, one row per tag combination."""
    cols = ", ".join(f"last({q(f)}) AS {q(f)}" for f in fields)
    group = ", ".join(q(g) for g in group_by)
    window = window or as_of(lookback=READING_LOOKBACK)
    return (f"SELECT {cols} FROM {q(measurement)}"
            f"{where(region_filter(school=school), extra, window=window)} GROUP BY {group}")


def series(measurement: str, exprs: Sequence[tuple[str, str]], group_by: Sequence[str] = (),
           school: bool = True, extra: str = "") -> str:
    """A time series: (aggregate expression, alias) pairs per $__interval."""
    cols = ", ".join(f"{expr} AS {q(alias)}" for expr, alias in exprs)
    group = ", ".join(["time($__interval)", *(q(g) for g in group_by)])
    return (f"SELECT {cols} FROM {q(measurement)}"
            f"{where(region_filter(school=school), extra)} GROUP BY {group} fill(none)")


def tag_values(measurement: str, key: str, parents: Sequence[str]) -> str:
    """A template variable's values, narrowed by the variables chosen above it."""
    cond = " AND ".join(f"{q(p)} =~ /^${p}$/" for p in parents)
    return (f"SHOW TAG VALUES FROM {q(measurement)} WITH KEY = {q(key)}"
            + (f" WHERE {cond}" if cond else ""))
