"""The dashboards: region overview, school, classrooms, Wi-Fi, IPv6, agent health, and
connection quality (collector.grafana.quality)."""

from __future__ import annotations

from agent.contract.probes import PROBE_NAMES
from collector.grafana import regional
from collector.grafana.influxql import (
    ALL_TIME,
    READING_LOOKBACK,
    TARGETS,
    as_of,
    last_fields,
    q,
    region_filter,
    series,
    verdict_window,
    where,
)
from collector.grafana.panels import (
    SHARE_STEPS,
    Json,
    Panel,
    custom_variable,
    dashboard,
    region_variables,
    thresholds,
)
from collector.grafana.quality import quality
from collector.judge.agentstate import BACKLOG

TARGET_TITLES = {"exit_bandwidth": "千兆进校 exit ≥ 1000 Mbps",
                 "classroom_links": "百兆进班 classrooms ≥ 100 Mbps",
                 "wifi": "无线校园 Wi-Fi coverage", "ipv6": "IPv6"}
LEVEL = q("$level")
MBPS = 1_000_000
PROBES = tuple(sorted(PROBE_NAMES))


# Time series that carry thresholds keep one colour per series and draw the
# threshold as a line; the default colour mode for thresholds would paint
# every series in the threshold's colour.
PALETTE = {"mode": "palette-classic"}
HIDE_TIME = [{"id": "organize", "options": {"excludeByName": {"Time": True}}}]
LATEST = as_of(lookback=READING_LOOKBACK)


def overview() -> Json:
    # Above a school, every figure comes from the counties' roll-ups: one
    # series per county and target, however many schools and however long the history.
    stats = [Panel("stat", TARGET_TITLES[t], [regional.share(t)], width=6, height=5,
                   unit="percentunit", steps=SHARE_STEPS, minmax=(0, 1),
                   description=f"Share of schools whose latest {t} judgement is pass; "
                               "schools that did not report count as not meeting it.")
             for t in TARGETS]
    by_region = Panel("bargauge", "Share of schools meeting each target, by $level",
                      [(regional.shares_by(TARGETS, LEVEL), "$tag_${level} $tag_target")],
                      width=24, height=10, unit="percentunit", steps=SHARE_STEPS,
                      minmax=(0, 1), options={"displayMode": "gradient",
                                              "orientation": "horizontal"})
    counts = Panel("table", "Schools by overall status (all four targets), by $level",
                   [regional.status_table("all", LEVEL)], width=12, height=10, table=True,
                   description="pass: meets every target; fail: below at least one; "
                               "inconclusive: a reading could not be trusted; "
                               "no_data: did not report.",
                   overrides=[{"matcher": {"id": "byName", "options": "share"},
                               "properties": [{"id": "unit", "value": "percentunit"}]}],
                   transformations=[{"id": "organize",
                                     "options": {"excludeByName": {"Time": True}}}])
    trend = Panel("timeseries", "Share meeting each target over time",
                  [(regional.share_over_time(t), t) for t in TARGETS],
                  width=12, height=10, unit="percentunit", minmax=(0, 1),
                  # Verdicts change a few times a day; finer buckets only cost time
                  # (one row per county and bucket in the subquery).
                  interval="1d")
    variables = [*region_variables(),
                 custom_variable("level", "Group by", ["province", "city", "county"],
                                 "province")]
    return dashboard("schoolnet-overview", "schoolnet · Region compliance 达标概览",
                     "Shares of schools meeting 千兆进校、百兆进班, 无线校园 and IPv6, "
                     "by province, city or county.",
                     [*stats, by_region, counts, trend], variables)


def school() -> Json:
    exit_target = f"{q('target')} = 'exit_bandwidth'"
    status = Panel("table", "Compliance of $school", [last_fields(
        "compliance", ["status", "value", "threshold", "readings"], ["target"],
        window=verdict_window())],
        width=24, height=7, table=True)
    bandwidth = Panel(
        "timeseries", "Exit bandwidth against the 1000 Mbps target", [
            (series("wan_throughput", [(f"mean({q('download_bps')})", "download"),
                                       (f"mean({q('upload_bps')})", "upload")]), ""),
            (series("wan_link", [(f"mean({q('rx_bps')})", "WAN in (all traffic)"),
                                 (f"mean({q('tx_bps')})", "WAN out (all traffic)")]), ""),
            (series("wan_link", [(f"last({q('contracted_mbps')}) * {MBPS}", "contracted")]),
             ""),
        ],
        width=24, height=10, unit="bps", steps=thresholds((None, "red"), (1e9, "green")),
        custom={"thresholdsStyle": {"mode": "line"}, "spanNulls": True}, color=PALETTE,
        description="Measured throughput tests, passive WAN counters and the contract; "
                    "the red/green line is the 1000 Mbps target.")
    judged = Panel("timeseries", "Exit bandwidth as judged (value vs threshold)", [
        series("compliance", [(f"last({q('value')})", "judged"),
                              (f"last({q('threshold')})", "threshold")], extra=exit_target)],
        width=12, height=8,
        # A verdict is written when it changes (and re-stated twice a day): it holds
        # until the next point, which a line drawn between points would misstate.
        custom={"lineInterpolation": "stepAfter"})
    rtt = Panel("timeseries", "Latency and jitter to the test server", [series(
        "wan_throughput", [(f"mean({q('rtt_seconds')})", "rtt"),
                           (f"mean({q('jitter_seconds')})", "jitter")])],
        width=12, height=8, unit="s")
    return dashboard("schoolnet-school", "schoolnet · School detail 学校详情",
                     "One school: its judgements and exit bandwidth over time.",
                     [status, bandwidth, judged, rtt], region_variables(school=True))


def classrooms() -> Json:
    # The agent's own tally of its newest poll (classroom_summary, one series per
    # school; a classroom with two uplinks counts once, by its best port): merging
    # per-port subqueries took 1-5 s for one school among a province's 1.5 million
    # port series.
    newest = f"FROM {q('classroom_summary')}{where(region_filter(school=True), window=LATEST)}"
    share = (f"SELECT last({q('classrooms_meeting')}) / last({q('classrooms')}) "
             f"AS {q('share')} {newest}")
    below = f"SELECT last({q('classrooms_below')}) AS {q('below')} {newest}"
    panels = [
        Panel("stat", "Classrooms at ≥ 100 Mbps", [share], width=6, height=6,
              unit="percentunit", steps=SHARE_STEPS, minmax=(0, 1),
              description="Of all classrooms of the newest poll; one that is down or "
                          "could not be read does not meet it."),
        Panel("stat", "Classrooms below 100 Mbps", [below], width=6, height=6,
              steps=thresholds((None, "green"), (1, "red"))),
        Panel("timeseries", "Classroom traffic (in)", [(series(
            "classroom_link", [(f"mean({q('rx_bps')})", "rx")], ["classroom"]),
            "$tag_classroom")],
            width=12, height=6, unit="bps"),
        Panel("table", "Classroom ports (latest)", [last_fields(
            "classroom_link", ["link_speed_mbps", "oper_up", "rx_bps", "tx_bps"],
            ["classroom", "switch", "port"])], width=24, height=12, table=True,
            overrides=[{"matcher": {"id": "byName", "options": "link_speed_mbps"},
                        "properties": [{"id": "thresholds", "value": thresholds(
                            (None, "red"), (100, "green"))},
                            {"id": "custom.cellOptions", "value": {"type": "color-background"}}]}]),
    ]
    return dashboard("schoolnet-classrooms", "schoolnet · Classroom links 百兆进班",
                     "Negotiated speed and traffic of each classroom's switch port.",
                     panels, region_variables(school=True))


def wifi() -> Json:
    # The agent's own tally of each run (wifi_coverage, one series per school): the
    # same count as its required areas' rows with covered = false, without
    # merging per-area subqueries (2.6 s for one county's 2,400 areas).
    uncovered = (f"SELECT last({q('required_areas')}) - last({q('covered_areas')}) "
                 f"AS {q('uncovered')} FROM {q('wifi_coverage')}"
                 f"{where(region_filter(), window=LATEST)} GROUP BY {q('school')}")
    panels = [
        Panel("table", "Required areas without coverage, by school",
              [uncovered],
              width=8, height=10, table=True, transformations=HIDE_TIME,
              description="Across the chosen region (the school choice is ignored here)."),
        Panel("table", "Areas of $school (latest)", [last_fields(
            "wifi_area", ["covered", "required", "aps_online", "aps_total", "clients",
                          "best_signal_dbm", "result"], ["area", "area_kind"])],
            width=16, height=10, table=True),
        Panel("timeseries", "Clients per area", [(series(
            "wifi_area", [(f"mean({q('clients')})", "clients")], ["area"]), "$tag_area")],
            width=12, height=8),
        Panel("timeseries", "Best school-SSID signal per area (target ≥ −67 dBm)", [(series(
            "wifi_area", [(f"mean({q('best_signal_dbm')})", "signal")], ["area"]),
            "$tag_area")],
            width=12, height=8, unit="dBm", steps=thresholds((None, "red"), (-67, "green")),
            custom={"thresholdsStyle": {"mode": "line"}}, color=PALETTE),
    ]
    return dashboard("schoolnet-wifi", "schoolnet · Wi-Fi areas 无线校园",
                     "Coverage of teaching, office and activity areas.",
                     panels, region_variables(school=True))


def ipv6() -> Json:
    levels = (f"SELECT last({q('level')}) AS {q('l')} FROM {q('ipv6')}"
              f"{where(region_filter(), window=LATEST)} GROUP BY {q('school')}")
    names = ("0 none", "1 WAN address", "2 IPv6 internet", "3 LAN clients", "4 services")
    # One query for the five bars: each level's schools as a column of its own
    # (influxd reads the schools' newest levels once, not five times).
    per_level = ", ".join(f"(SELECT {q('l')} AS {q(f'l{n}')} FROM ({levels}) "
                          f"WHERE {q('l')} = {n})" for n in range(len(names)))
    counts = ", ".join(f"count({q(f'l{n}')}) AS {q(name)}" for n, name in enumerate(names))
    by_level = f"SELECT {counts} FROM {per_level}, ({levels}) fill(0)"
    panels = [
        Panel("bargauge", "Schools by IPv6 level", [by_level],
              width=8, height=10, options={"orientation": "horizontal"},
              description="Across the chosen region (the school choice is ignored here)."),
        Panel("table", "IPv6 checks per school (latest)", [last_fields(
            "ipv6", ["level", "level_name", "wan_global_addr", "default_route", "tcp_v6",
                     "lan_ra", "lan_dhcpv6", "school_site_aaaa", "failing"], ["school"],
            school=False)], width=16, height=10, table=True,
            description="Across the chosen region (the school choice is ignored here)."),
        # One school's line: a county's hundreds of lines would be unreadable, and
        # were the slowest query of this dashboard.
        Panel("timeseries", "IPv6 level of $school over time", [(series(
            "ipv6", [(f"last({q('level')})", "level")]), "level")],
            width=24, height=8, minmax=(0, 4)),
    ]
    return dashboard("schoolnet-ipv6", "schoolnet · IPv6 checks IPv6 规模部署",
                     "IPv6 level 0-4 and the checks behind it.", panels,
                     region_variables(school=True))


def agents() -> Json:
    # The states come from the collector's re-statements and per-county counts
    # (collector.judge.agentstate), as of its last round: the change log
    # (agent_status) would need every school's newest change however old.
    panels = [
        Panel("stat", "Agents offline now (and never connected)",
              [(regional.agents("offline"), "offline"),
               (regional.agents("never"), "never connected")],
              width=6, height=6, steps=thresholds((None, "green"), (1, "red")),
              description="Registered schools whose agent's last word was its last will, "
                          "and those whose agent never connected, as of the collector's "
                          "last judging round."),
        # Above a city, needing attention is counted per county: on a night when
        # every school switches its gateway off, a province's 50,000 rows took
        # influxd 2-4 s per table and helped no one (collector.grafana.regional).
        Panel("table", "Agents needing attention, by county",
              [regional.attention_by_county()], width=18, height=6, table=True,
              description="Per county with any: its schools whose agent is offline or never "
                          f"connected, those with at least {BACKLOG} readings waiting in "
                          "the agent's spool (backlogged) and how many readings (unsent), "
                          "of all its schools, as of the collector's last judging round. "
                          "Choose a city or county to list the schools below.",
              options={"sortBy": [{"displayName": "offline", "desc": True}]},
              transformations=HIDE_TIME),
        # The per-school tables list only the schools needing attention (the
        # collector's agent_attention), of the chosen cities or counties: with every
        # region chosen, every school's agent_state took 2.6-2.9 s of influxd's CPU at
        # 50,000 schools.
        Panel("table", "Agents offline or never connected (choose a city or county; "
                       "since = last change)",
              [regional.agents_away()], width=12, height=12, table=True,
              description="Schools of the chosen cities or counties whose agent is offline "
                          "or never (connected), as of the collector's last judging round; "
                          "since: when the agent's status last changed. With every city "
                          "and county chosen, the table by county above counts them.",
              overrides=[{"matcher": {"id": "byName", "options": "since"},
                          "properties": [{"id": "unit", "value": "dateTimeAsIso"}]}],
              transformations=HIDE_TIME),
        Panel("table", "Last heartbeat per school (time = last seen)", [last_fields(
            "agent", ["uptime_seconds", "spool_depth", "probe_errors", "version"], ["school"],
            school=False, window=ALL_TIME)], width=12, height=12, table=True),
        # Backlogs from the collector's counts and re-statements too: a line per
        # school drawn from every heartbeat took 5 s for one county of 400.
        Panel("timeseries", f"Schools not getting their readings through ({BACKLOG}+ unsent)",
              [(regional.per_county("backlogged"), "$tag_county")], width=12, height=8,
              # The judge counts at every round; finer buckets only cost time.
              interval="15m",
              description=f"Per county, the schools whose newest heartbeat showed at least "
                          f"{BACKLOG} readings waiting in the agent's spool (not yet confirmed "
                          "stored by the collector), counted at every judging round."),
        Panel("timeseries", "Schools whose probe keeps failing",
              [regional.failing_probes(PROBES)], width=12, height=8,
              interval="15m",
              description="Per probe, the schools whose last runs all failed (as the "
                          "collector judges a probe failing), counted at every judging round."),
        Panel("table", "Spool backlogs per school (choose a city or county; since = first "
                       "seen)",
              [regional.backlogs()], width=12, height=8, table=True,
              description=f"Schools of the chosen cities or counties whose newest heartbeat "
                          f"showed at least {BACKLOG} unsent "
                          "readings, as of the collector's last judging round: how many, "
                          "since when (the heartbeat at which the collector first saw the "
                          "backlog) and the agent's state (an offline agent keeps the "
                          "backlog it last reported).",
              options={"sortBy": [{"displayName": "backlog", "desc": True}]},
              overrides=[{"matcher": {"id": "byName", "options": "since"},
                          "properties": [{"id": "unit", "value": "dateTimeAsIso"}]}],
              transformations=HIDE_TIME),
        Panel("timeseries", "Unsent readings of those schools",
              [(regional.per_county("unsent"), "$tag_county")], width=12, height=8,
              interval="15m",
              description="Per county, the readings waiting in the spools of its schools "
                          "with a backlog, at every judging round."),
    ]
    return dashboard("schoolnet-agents", "schoolnet · Agent health 探针状态",
                     "Which agents are online, how far behind, which probes fail.",
                     panels, region_variables(), time_from="now-2d")


def all_dashboards() -> list[Json]:
    return [overview(), school(), classrooms(), wifi(), ipv6(), agents(), quality()]
