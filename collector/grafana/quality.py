"""The connection-quality dashboard: readiness, the 教育专网 ladder, availability, outages.

Region panels show shares of schools passing the path-quality verdicts
(collector.judge.quality); the school panels show the minutes behind them:
RTT, jitter and loss per target and uplink, uptime, the outage windows
(断网时段), and latency under load from the bandwidth tests. A school with
several uplinks has one verdict per uplink; the region shares come from the
collector's roll-ups (collector.judge.rollups), where a school meets a target
when one of its uplinks does, so they read one series per county and target
whatever the number of schools.
"""

from __future__ import annotations

from collector.grafana import regional
from collector.grafana.influxql import as_of, last_fields, q, region_filter, series
from collector.grafana.panels import (
    SHARE_STEPS,
    Json,
    Panel,
    custom_variable,
    dashboard,
    region_variables,
)

QUALITY = {"interactive_classroom": "互动课堂就绪 interactive classroom ready",
           "edu_ladder": "教育专网四级互联 education network ladder",
           "class_hours_availability": "上课时段可用率 class-hour availability"}
LEVEL = q("$level")
BY_PATH = ["target", "uplink"]
ALIAS = "$tag_target ($tag_uplink)"
CLASS_HOURS = f"{q('class_hours')} = true"


def quality() -> Json:
    shares = [Panel("stat", title, [regional.share(t)], width=8, height=5,
                    unit="percentunit", steps=SHARE_STEPS, minmax=(0, 1),
                    description=f"Share of schools with an uplink whose latest {t} verdict "
                                "is pass; schools without one count as not meeting it.")
              for t, title in QUALITY.items()]
    by_region = Panel("bargauge", "Share of schools meeting each quality target, by $level",
                      [(regional.shares_by(tuple(QUALITY), LEVEL),
                        "$tag_${level} $tag_target")],
                      width=24, height=9, unit="percentunit", steps=SHARE_STEPS,
                      minmax=(0, 1), options={"displayMode": "gradient",
                                              "orientation": "horizontal"})
    verdicts = Panel("table", "Quality verdicts of $school", [last_fields(
        "compliance", ["status", "value", "threshold", "readings", "detail"],
        ["target", "uplink"], extra=f"{q('target')} =~ /^({'|'.join(QUALITY)})$/",
        window=as_of(lookback="25h"))], width=24, height=6, table=True)
    rtt = Panel("timeseries", "RTT p95 per target (class hours)", [(series(
        "path_quality", [(f"mean({q('rtt_p95_seconds')})", "p95")], BY_PATH,
        extra=CLASS_HOURS), ALIAS)], width=12, height=8, unit="s")
    loss = Panel("timeseries", "Loss per target (class hours)", [(series(
        "path_quality", [(f"mean({q('loss_share')})", "loss")], BY_PATH,
        extra=CLASS_HOURS), ALIAS)], width=12, height=8, unit="percentunit")
    jitter = Panel("timeseries", "Jitter (mean |IPDV|) per target", [(series(
        "path_quality", [(f"mean({q('jitter_seconds')})", "jitter")], BY_PATH,
        extra=CLASS_HOURS), ALIAS)], width=12, height=8, unit="s")
    uptime = Panel("timeseries", "Uptime share per target (class hours)", [(series(
        "path_quality", [(f"mean({q('up_share')})", "up")], BY_PATH, extra=CLASS_HOURS),
        ALIAS)], width=12, height=8, unit="percentunit", minmax=(0, 1))
    outages = Panel("table", "Outages of $school, last 7 days (time = start)", [
        f"SELECT {q('duration_seconds')}, {q('lost_packets')}, {q('ongoing')} "
        f"FROM {q('path_outage')} WHERE {as_of(lookback='7d')} AND "
        f"{region_filter(school=True)} GROUP BY {q('target')}, {q('level')}, {q('uplink')}"],
        width=12, height=8, table=True)
    bloat = Panel("timeseries", "Latency under load (bandwidth tests)", [series(
        "wan_throughput", [(f"mean({q('idle_rtt_seconds')})", "idle"),
                           (f"mean({q('loaded_rtt_seconds')})", "loaded"),
                           (f"mean({q('bufferbloat_seconds')})", "bufferbloat")])],
        width=12, height=8, unit="s")
    variables = [*region_variables(school=True),
                 custom_variable("level", "Group by", ["province", "city", "county"],
                                 "province")]
    return dashboard("schoolnet-quality", "schoolnet · Connection quality 连接质量",
                     "Class-hour RTT, jitter, loss and availability to the county, city, "
                     "province and platform nodes; outages; latency under load.",
                     [*shares, by_region, verdicts, rtt, loss, jitter, uptime, outages, bloat],
                     variables)
