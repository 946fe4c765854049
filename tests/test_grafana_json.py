"""The generated dashboards, alert rules and provisioning files, checked without a service.

Also the rules of tests/grafana_emulation.py, so that the range tests expand
queries the way Grafana 11 does (the cases follow grafana/grafana's own tests
of interpolateQueryExpr and gtime.RoundInterval).
"""

from __future__ import annotations

import re
from typing import Any

from collector.grafana import alerting, dashboards
from collector.grafana.influxql import WHOLE_RANGE
from tests.deploy_support import REPO
from tests.grafana_emulation import Range, alert_query, format_variable, panel_query

PROVISIONING = REPO / "deploy/grafana/provisioning"
REGION = {"name": "county", "multi": True, "includeAll": True, "allValue": ".*"}
SCHOOL = {"name": "school", "multi": False, "includeAll": False}


def panels() -> list[tuple[str, dict[str, Any]]]:
    return [(b["uid"], p) for b in dashboards.all_dashboards() for p in b["panels"]]


def test_state_panels_do_not_depend_on_the_range_start() -> None:
    for board, panel in panels():
        if panel["type"] == "timeseries":
            continue
        for target in panel["targets"]:
            assert "$timeFilter" not in target["query"], (board, panel["title"])


def test_alert_queries_read_the_newest_state() -> None:
    rules = {r["uid"]: r["data"][0]["model"]["query"] for r in alerting.rules()}
    assert not any("$timeFilter" in q for q in rules.values())
    # The offline rule reads the collector's re-stated agent states (a month-old last
    # will still fires: tests/test_grafana_ranges.py), never the change log's history.
    assert 'FROM "agent_attention"' in rules["schoolnet-agent-offline"]
    assert "now() - 25h" in rules["schoolnet-agent-offline"]
    assert all(r["noDataState"] == "OK" for r in alerting.rules())


def test_threshold_lines_keep_one_colour_per_series() -> None:
    with_steps = [(b, p) for b, p in panels() if p["type"] == "timeseries"
                  and p["fieldConfig"]["defaults"].get("thresholds")]
    assert len(with_steps) == 2
    for board, panel in with_steps:
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["color"] == {"mode": "palette-classic"}, (board, panel["title"])
        assert defaults["custom"]["thresholdsStyle"] == {"mode": "line"}


def test_tables_of_sums_and_counts_hide_their_1970_time() -> None:
    # Sums and counts over subqueries without GROUP BY time carry the epoch as their time.
    bucketed = [(b, p) for b, p in panels() if p["type"] == "table"
                and any(WHOLE_RANGE in t["query"] or (
                    re.match(r"SELECT (sum|count)\(", t["query"])
                    and "GROUP BY time" not in t["query"]) for t in p["targets"])]
    assert len(bucketed) == 1
    for board, panel in bucketed:
        assert {"id": "organize", "options": {"excludeByName": {"Time": True}}} in \
            panel["transformations"], (board, panel["title"])


def test_provisioning_holds_only_files_grafana_reads() -> None:
    files = [p for p in PROVISIONING.rglob("*") if p.is_file()]
    assert files and all(p.suffix in (".yaml", ".yml", ".json") for p in files), files
    assert not (PROVISIONING / "alerting").exists() or not any(
        (PROVISIONING / "alerting").iterdir())
    source = (PROVISIONING / "datasources/schoolnet.yaml").read_text()
    limit = re.search(r"^ +maxSeries: (\d+)", source, re.MULTILINE)
    assert limit and int(limit[1]) >= 10_000, "per-school tables would be cut at 1000 series"


def test_compose_sends_the_alert_rules_to_the_alerting_directory() -> None:
    compose = (REPO / "deploy/compose/docker-compose.yml").read_text()
    assert "grafana alerts --out ./grafana-alerting/" in compose
    assert "./grafana-alerting:/etc/grafana/provisioning/alerting" in compose


def test_variable_formatting_follows_grafana() -> None:
    assert format_variable(REGION, "All", True) == ".*"
    assert format_variable(REGION, ["370102"], True) == "370102"
    assert format_variable(REGION, ["370102", "370103"], True) == "(370102|370103)"
    assert format_variable(REGION, ["a.b"], True) == "a\\.b"
    assert format_variable(SCHOOL, "a.b", True) == "a\\.b"
    assert format_variable(SCHOOL, "a.b", False) == "a.b"


def test_interval_and_time_filter_follow_grafana() -> None:
    week = Range.relative("now-7d", now_ms=10**13)
    assert week.interval() == "10m"        # 604.8 s rounded by RoundInterval
    assert week.interval("1d") == "1d"     # the panel's minimum wins
    assert Range.relative("now-1h", now_ms=10**13).interval() == "1m"  # datasource minimum
    assert Range.relative("now-90d", now_ms=10**13).interval() == "2h"
    query = panel_query('SELECT x FROM m WHERE $timeFilter AND "county" =~ /^$county$/ AND '
                        'time <= ${__to}ms GROUP BY time($__interval)', week, [REGION],
                        {"county": ["k1", "k2"]})
    assert query == (f"SELECT x FROM m WHERE time >= {10**13 - 7 * 86400000}ms and "
                     f'time <= {10**13}ms AND "county" =~ /^(k1|k2)$/ AND '
                     f"time <= {10**13}ms GROUP BY time(10m)")
    rule = alerting.rules()[0]
    assert "$" not in alert_query(rule, now_ms=10**13)
