"""InfluxQL for the dashboards and alerts, with Grafana's template variables.

Grafana replaces ``$timeFilter``, ``$__interval`` and ``$name`` variables
before the query reaches InfluxDB; multi-value variables become regex
alternations, so every region filter is a ``=~ /^$var$/`` match and "All" is
the regex ``.*``.

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


def q(name: str) -> str:
    """A quoted InfluxQL identifier."""
    return '"' + name.replace('"', '\\"') + '"'


def region_filter(levels: Sequence[str] = REGION_TAGS, school: bool = False) -> str:
    """``AND``-joined regex matches on the region variables (and $school)."""
    parts = [f"{q(tag)} =~ /^${tag}$/" for tag in levels]
    if school:
        parts.append(f"{q('school')} =~ /^$school$/")
    return " AND ".join(parts)


def where(*conditions: str) -> str:
    return " WHERE " + " AND ".join(["$timeFilter", *[c for c in conditions if c]])


def latest_status(target: str, bucket: str = "") -> str:
    """Each school's latest compliance status for one target (field ``s``)."""
    group = ", ".join(q(t) for t in ("school", *REGION_TAGS))
    if bucket:
        group = f"{bucket}, {group}"
    target_is = f"{q('target')} = '{target}'"
    return (f"SELECT last({q('status')}) AS {q('s')} FROM {q('compliance')}"
            f"{where(target_is, region_filter())} GROUP BY {group}")


def share_query(target: str, group_by: str, over_time: bool = False) -> str:
    """Share (0-1) of schools whose latest status for ``target`` is pass.

    Two raw subqueries are merged: ``p`` exists only for passing schools, ``s``
    for every school, so ``count(p) / count(s)`` is the share per group.
    """
    bucket = "time($__interval)" if over_time else ""
    inner = latest_status(target, bucket)
    passing = f"SELECT {q('s')} AS {q('p')} FROM ({inner}) WHERE {q('s')} = 'pass'"
    groups = ["time($__interval)" if over_time else WHOLE_RANGE, *([group_by] if group_by else [])]
    fill = "fill(none)" if over_time else "fill(0)"
    return (f"SELECT count({q('p')}) / count({q('s')}) AS {q(target)} "
            f"FROM ({passing}), ({inner}) WHERE $timeFilter "
            f"GROUP BY {', '.join(groups)} {fill}")


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
            f"FROM {', '.join(parts)}, ({inner}) WHERE $timeFilter "
            f"GROUP BY {WHOLE_RANGE}, {group_by} fill(0)")


def last_fields(measurement: str, fields: Sequence[str], group_by: Sequence[str],
                school: bool = True, extra: str = "") -> str:
    """The latest value of each field, one row per tag combination (for tables)."""
    cols = ", ".join(f"last({q(f)}) AS {q(f)}" for f in fields)
    group = ", ".join(q(g) for g in group_by)
    return (f"SELECT {cols} FROM {q(measurement)}"
            f"{where(region_filter(school=school), extra)} GROUP BY {group}")


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
