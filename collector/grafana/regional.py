"""InfluxQL over the collector's regional roll-ups (measurement ``rollup``), for the panels
above a single county.

The judge writes, at every round, each county's counts of schools per status
and target (``collector.judge.rollups``). A region's figure is the sum of its
counties' newest roll-ups, so a panel reads one series per county and target
whatever the number of schools, and any selection of provinces, cities and
counties sums exactly. Shares are sums of counts divided by sums of schools,
never averages of shares: a county of 10 schools must not weigh as much as
one of 500.

State panels take each county's newest roll-up as of the range's end within
``VERDICT_LOOKBACK`` (a county not judged for that long is not shown, as for
the per-school verdicts); history panels take the newest per ``$__interval``.
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.grafana.influxql import (
    REGION_TAGS,
    STATUSES,
    q,
    region_filter,
    verdict_window,
    where,
)

ROLLUP = "rollup"
COUNTY_ROWS = f"{q('level')} = 'county'"
_LEVEL = q("level")
# The rows an ungrouped figure sums. With every city and county of the chosen
# provinces ("All" below the province), the provinces' own rows: a handful of
# series instead of hundreds of counties (a year's trend at 200,000 schools is
# 4 million county rows). Otherwise the counties' rows, exact for any choice.
# The test of a variable against "All" is a regex on a tag whose value is
# known: "All" is ``.*``, which matches "province"; a chosen code does not.
SUMMED_ROWS = (f"(({_LEVEL} = 'province' AND {_LEVEL} =~ /^$city$/ AND "
               f"{_LEVEL} =~ /^$county$/) OR ({_LEVEL} = 'county' AND "
               f"({_LEVEL} !~ /^$city$/ OR {_LEVEL} !~ /^$county$/)))")


def _newest(target: str, fields: tuple[str, ...], bucket: str = "", rows: str = COUNTY_ROWS
            ) -> str:
    """Each region's newest counts for one target (per bucket, or as of the range's end)."""
    cols = ", ".join(f"last({q(f)}) AS {q(f)}" for f in fields)
    group = ", ".join(q(t) for t in REGION_TAGS)
    window = "$timeFilter" if bucket else verdict_window()
    if bucket:
        group = f"{bucket}, {group}"
    target_is = f"{q('target')} = '{target}'"
    return (f"SELECT {cols} FROM {q(ROLLUP)}"
            f"{where(rows, target_is, region_filter(), window=window)} GROUP BY {group}")


def share(target: str, group_by: str = "") -> str:
    """Share (0-1) of the schools whose newest verdict for ``target`` is pass."""
    inner = _newest(target, ("pass", "schools"), rows=COUNTY_ROWS if group_by else SUMMED_ROWS)
    return (f"SELECT sum({q('pass')}) / sum({q('schools')}) AS {q(target)} FROM ({inner})"
            + (f" GROUP BY {group_by}" if group_by else ""))


def shares_by(targets: tuple[str, ...], group_by: str) -> str:
    """Per group and target, the share passing: one query for every bar of a panel
    (the counties' newest rows read once, not once per target)."""
    cols = ", ".join(f"last({q(f)}) AS {q(f)}" for f in ("pass", "schools"))
    group = ", ".join(q(t) for t in (*REGION_TAGS, "target"))
    target_is = f"{q('target')} =~ /^({'|'.join(targets)})$/"
    inner = (f"SELECT {cols} FROM {q(ROLLUP)}"
             f"{where(COUNTY_ROWS, target_is, region_filter(), window=verdict_window())} "
             f"GROUP BY {group}")
    return (f"SELECT sum({q('pass')}) / sum({q('schools')}) AS {q('share')} FROM ({inner}) "
            f"GROUP BY {group_by}, {q('target')}")


def share_over_time(target: str) -> str:
    """The share per ``$__interval``; intervals without any roll-up draw no point."""
    inner = _newest(target, ("pass", "schools"), "time($__interval)", SUMMED_ROWS)
    return (f"SELECT sum({q('pass')}) / sum({q('schools')}) AS {q(target)} FROM ({inner}) "
            f"WHERE $timeFilter GROUP BY time($__interval) fill(none)")


def status_table(target: str, group_by: str) -> str:
    """Per group: schools per status, all schools, and the share passing."""
    inner = _newest(target, (*STATUSES, "schools"))
    cols = ", ".join(f"sum({q(st)}) AS {q(st)}" for st in STATUSES)
    return (f"SELECT {cols}, sum({q('schools')}) AS {q('schools')}, "
            f"sum({q('pass')}) / sum({q('schools')}) AS {q('share')} "
            f"FROM ({inner}) GROUP BY {group_by}")


AGENT_ROLLUP = "agent_rollup"  # collector.judge.agentstate.ROLLUP
AGENT_ATTENTION = "agent_attention"  # collector.judge.agentstate.ATTENTION


def agents(state: str) -> str:
    """Schools whose agent is ``state`` (online, offline, never) as of the range's end:
    the sum of the counties' newest counts, written by the collector every round."""
    group = ", ".join(q(t) for t in REGION_TAGS)
    inner = (f"SELECT last({q(state)}) AS {q(state)} FROM {q(AGENT_ROLLUP)}"
             f"{where(SUMMED_ROWS, region_filter(), window=verdict_window())} GROUP BY {group}")
    return f"SELECT sum({q(state)}) AS {q(state)} FROM ({inner})"


# True only when a city or a county is chosen: "All" is ``.*``, which matches the
# series' own province code; a chosen city's or county's code never equals it (the
# codes of GB/T 2260 differ by level: 440000, 440100, 440106).
NARROWED = f"({q('province')} !~ /^$city$/ OR {q('province')} !~ /^$county$/)"
ATTENTION_COUNTS = ("offline", "never", "backlogged", "unsent", "schools")


def attention_by_county() -> str:
    """Per chosen county with an agent needing attention as of the range's end: its
    schools whose agent is offline, never connected or has a backlog, the readings
    waiting and all its schools (the county's newest agent roll-up). A row per county
    with the county as a column, whatever the number of schools needing attention."""
    cols = ", ".join(f"last({q(f)}) AS {q(f)}" for f in ATTENTION_COUNTS)
    inner = (f"SELECT {cols} FROM {q(AGENT_ROLLUP)}"
             f"{where(COUNTY_ROWS, region_filter(), window=verdict_window())} "
             f"GROUP BY {q('county')}")
    names = ", ".join(q(name) for name in ("county", *ATTENTION_COUNTS))
    need = " OR ".join(f"{q(f)} > 0" for f in ("offline", "never", "backlogged"))
    return f"SELECT {names} FROM ({inner}) WHERE {need}"


def _attention(selector: str, columns: Sequence[tuple[str, str]], condition: str) -> str:
    """The schools of the chosen cities or counties needing attention as of the range's
    end that meet ``condition``: each school's newest ``agent_attention`` point within
    the verdicts' lookback (a closing point, online without a backlog, meets neither
    table's condition), a row per school with the school as a column. With every city
    and county chosen, no row (:func:`attention_by_county` counts them per county).

    Only the schools that needed attention within the lookback have that series, and
    influxd reads each one's newest point: the cost follows the schools needing
    attention in the choice. Over a whole province of 50,000 schools, as they were
    read before (tests/bench/bench_dashboard_scale.py): with 1 in 7 offline, another
    7th back online within the day and 1 in 50 behind, 0.51 s of influxd's CPU (every
    school's ``agent_state``: 2.56 s); on a night when every school had switched its
    gateway off, 2.1 s, and the backlog table, finding none, 4.3 s. The selector is the
    field the condition tests, and the rows come as one series: with
    ``last("attention")`` beside the fields (another cursor per school) and a series per
    school in the answer, it took 2.1-2.3 s of influxd's CPU where this form took 0.8 s
    and the former table 6.3 s (agent states alone, a busier machine).
    """
    cols = ", ".join(f"{q(field)} AS {q(name)}" for field, name in columns)
    chosen = where(region_filter(), NARROWED, window=verdict_window())
    inner = (f"SELECT last({q(selector)}) AS {q(selector)}, {cols} "
             f"FROM {q(AGENT_ATTENTION)}{chosen} GROUP BY {q('school')}")
    names = ", ".join(q(name) for name in ("school", selector, *(n for _, n in columns)))
    return f"SELECT {names} FROM ({inner}) WHERE {condition}"


def agents_away() -> str:
    """Each school whose agent is offline or never connected as of the range's end, with
    the time its status last changed (none: never connected) and its agent's version."""
    return _attention("state", (("since", "since"), ("agent_version", "agent_version")),
                      f"{q('state')} != 'online'")


def backlogs() -> str:
    """Each school with a spool backlog as of the range's end (unsent readings, since
    when the collector saw it, its agent's state); schools without one are left out."""
    return _attention("backlog", (("backlog_since", "since"), ("state", "state")),
                      f"{q('backlog')} > 0")


def per_county(field: str) -> str:
    """Per ``$__interval``, each chosen county's newest count of ``field`` in the bucket
    (a line per county)."""
    return (f"SELECT last({q(field)}) AS {q(field)} FROM {q(AGENT_ROLLUP)}"
            f"{where(COUNTY_ROWS, region_filter())} "
            f"GROUP BY time($__interval), {q('county')} fill(none)")


def failing_probes(probes: tuple[str, ...]) -> str:
    """Per ``$__interval`` and probe: schools whose probe keeps failing (the judge's
    health), the sum of the counties' newest counts in the bucket."""
    group = ", ".join(q(t) for t in REGION_TAGS)
    cols = ", ".join(f"last({q('failing_' + p)}) AS {q(p)}" for p in probes)
    inner = (f"SELECT {cols} FROM {q(AGENT_ROLLUP)}{where(SUMMED_ROWS, region_filter())} "
             f"GROUP BY time($__interval), {group}")
    sums = ", ".join(f"sum({q(p)}) AS {q(p)}" for p in probes)
    return (f"SELECT {sums} FROM ({inner}) WHERE $timeFilter "
            f"GROUP BY time($__interval) fill(none)")
