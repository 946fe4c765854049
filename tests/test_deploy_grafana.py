"""Every dashboard panel query and alert query, variables substituted, against real influxd.

Grafana cannot run here, so the test does what Grafana's InfluxDB datasource
does with a panel: replace the template variables, send the InfluxQL to
InfluxDB (Debian's influxd 1.6.7, holding the constructed demo data of
collector.grafana.demo) and read the series back. Shares and counts are
compared with what the demo data says they must be.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from collector.cli import main
from collector.grafana import DATASOURCE_UID, alerting, dashboards, demo, regional
from collector.grafana.commands import load_demo
from tests.deploy_support import REPO
from tests.grafana_emulation import Range, alert_query, panel_query
from tests.services import Influxd

ALL = {"province": ".*", "city": ".*", "county": ".*", "level": "province"}
SCHOOLS = demo.schools()
# Every variable of every dashboard, by name (the same definitions on each board).
VARIABLES = list({v["name"]: v for b in dashboards.all_dashboards()
                  for v in b["templating"]["list"]}.values())
REPORTING = next(s for s in SCHOOLS if not s.silent and min(s.classroom_speeds) < 100)


@pytest.fixture(scope="module")
def db(influxd: Influxd) -> Iterator[str]:
    name = "grafana_demo"
    influxd.create_db(name)
    assert load_demo(influxd.url, name) > 5_000
    yield name
    influxd.query(f'DROP DATABASE "{name}"', method="POST")


def substitute(query: str, variables: dict[str, str], window: str = "7d",
               interval: str = "") -> str:
    """What Grafana does before sending a query (tests/grafana_emulation.py).

    Region values are given as the regex they stand for: ".*" is "All",
    "(a|b)" a multi-value choice.
    """
    chosen: dict[str, Sequence[str] | str] = {}
    for name, value in variables.items():
        if name in ("level", "school"):
            chosen[name] = value
        elif value == ".*":
            chosen[name] = "All"
        else:
            chosen[name] = value.strip("()").split("|")
    query = panel_query(query, Range.relative(f"now-{window}"), VARIABLES, chosen, interval)
    assert not re.search(r"\$[A-Za-z_{]", query), query  # a variable left over
    return query


def run(influxd: Influxd, db: str, query: str, variables: dict[str, str],
        interval: str = "") -> list[dict[str, Any]]:
    return influxd.query(substitute(query, variables, interval=interval), db, method="POST")


def values(series: list[dict[str, Any]]) -> list[Any]:
    return [v for s in series for row in s["values"] for v in row[1:] if v is not None]


def panel(board: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in board["panels"] if p["title"].startswith(title))


def share(statuses: list[str]) -> float:
    return statuses.count("pass") / len(statuses)


@pytest.mark.integration
@pytest.mark.parametrize("board", dashboards.all_dashboards(), ids=lambda b: b["uid"])
def test_every_panel_query_returns_series(influxd: Influxd, db: str,
                                          board: dict[str, Any]) -> None:
    variables = {**ALL, "school": REPORTING.sid}
    # The per-school agent tables list the chosen cities' or counties' schools only.
    counties = {**variables, "county": f"({'|'.join(sorted({s.county for s in SCHOOLS}))})"}
    for p in board["panels"]:
        for target in p["targets"]:
            chosen = counties if regional.NARROWED in target["query"] else variables
            series = run(influxd, db, target["query"], chosen, p.get("interval", ""))
            assert series and values(series), (board["uid"], p["title"], target["refId"])


@pytest.mark.integration
def test_variables_narrow_by_region(influxd: Influxd, db: str) -> None:
    board = dashboards.school()
    queries = {v["name"]: v["query"] for v in board["templating"]["list"]}
    def tag_values(name: str, **chosen: str) -> set[str]:
        return {row[1] for row in values_rows(run(influxd, db, queries[name],
                                                  {**ALL, **chosen}))}
    assert tag_values("province") == {"11", "37"}
    assert tag_values("city", province="37") == {"3701", "3702"}
    assert tag_values("county", province="37", city="3701") == {"370102", "370103"}
    assert tag_values("school", county="370202") == {s.sid for s in SCHOOLS
                                                      if s.county == "370202"}
    # Grafana's multi-value format is a regex alternation.
    assert tag_values("county", city="(3702|1101)") == {"370202", "110101", "110102"}


def values_rows(series: list[dict[str, Any]]) -> list[list[Any]]:
    return [row for s in series for row in s["values"]]


@pytest.mark.integration
def test_overview_shares_match_the_demo_data(influxd: Influxd, db: str) -> None:
    board = dashboards.overview()
    for n, target in enumerate(("exit_bandwidth", "classroom_links", "wifi", "ipv6")):
        stat = board["panels"][n]["targets"][0]["query"]
        want = share([s.statuses()[target] for s in SCHOOLS])
        assert values(run(influxd, db, stat, ALL)) == [pytest.approx(want)], target
        only_11 = share([s.statuses()[target] for s in SCHOOLS if s.province == "11"])
        assert values(run(influxd, db, stat, {**ALL, "province": "11"})) == [
            pytest.approx(only_11)]
    by_region = panel(board, "Share of schools meeting")["targets"][0]["query"]
    got = {s["tags"]["city"]: s["values"][0][1]
           for s in run(influxd, db, by_region, {**ALL, "level": "city"})
           if s["tags"]["target"] == "exit_bandwidth"}
    cities = {s.city for s in SCHOOLS}
    assert got == {c: pytest.approx(share([s.statuses()["exit_bandwidth"]
                                           for s in SCHOOLS if s.city == c])) for c in cities}


@pytest.mark.integration
def test_overview_status_counts(influxd: Influxd, db: str) -> None:
    query = panel(dashboards.overview(), "Schools by overall status")["targets"][0]["query"]
    for level in ("province", "county"):
        rows = run(influxd, db, query, {**ALL, "level": level})
        got = {s["tags"][level]: dict(zip(s["columns"][1:], s["values"][0][1:], strict=True))
               for s in rows}
        regions = {getattr(s, level) for s in SCHOOLS}
        assert set(got) == regions
        for region in regions:
            mine = [s.statuses()["all"] for s in SCHOOLS if getattr(s, level) == region]
            want = {st: mine.count(st) for st in ("pass", "fail", "inconclusive", "no_data")}
            assert got[region] == {**want, "schools": len(mine),
                                   "share": pytest.approx(share(mine))}, region
    statuses = Counter(s.statuses()["all"] for s in SCHOOLS)
    assert all(statuses[st] for st in ("pass", "fail", "inconclusive", "no_data")), statuses


@pytest.mark.integration
def test_classroom_and_ipv6_figures(influxd: Influxd, db: str) -> None:
    room = dashboards.classrooms()
    variables = {**ALL, "school": REPORTING.sid}
    speeds = REPORTING.classroom_speeds
    assert values(run(influxd, db, panel(room, "Classrooms at")["targets"][0]["query"],
                      variables)) == [pytest.approx(sum(v >= 100 for v in speeds) / len(speeds))]
    assert values(run(influxd, db, panel(room, "Classrooms below")["targets"][0]["query"],
                      variables)) == [sum(v < 100 for v in speeds)]
    levels = panel(dashboards.ipv6(), "Schools by IPv6 level")["targets"][0]["query"]
    counts = [v for row in values_rows(run(influxd, db, levels, ALL)) for v in row[1:]]
    assert counts == [sum(s.ipv6_level == n for s in SCHOOLS) for n in range(5)]


@pytest.mark.integration
def test_alert_queries_find_exactly_the_schools_in_trouble(influxd: Influxd, db: str) -> None:
    found: dict[str, set[tuple[str, ...]]] = {}
    for rule in alerting.rules():
        series = influxd.query(alert_query(rule), db, method="POST")
        assert all(s["tags"]["province"] and s["tags"]["county"] for s in series)
        found[rule["uid"]] = {tuple(v for k, v in sorted(s["tags"].items())
                                    if k in ("school", "target")) for s in series}
    assert found["schoolnet-below-target"] == {
        (s.sid, t) for n, s in enumerate(SCHOOLS)
        for t, st in {**s.statuses(), **demo.quality_statuses(s, n)}.items()
        if st == "fail" and t != "all"}
    silent = {(s.sid,) for s in SCHOOLS if s.silent}
    assert silent and found["schoolnet-school-silent"] == silent
    assert found["schoolnet-agent-offline"] == silent


def test_dashboard_json_is_consistent() -> None:
    provisioned = (REPO / "deploy/grafana/provisioning/datasources/schoolnet.yaml").read_text()
    assert f"uid: {DATASOURCE_UID}" in provisioned
    boards = dashboards.all_dashboards()
    assert len({b["uid"] for b in boards}) == len(boards) == 7
    for board in boards:
        ids = [p["id"] for p in board["panels"]]
        assert len(set(ids)) == len(ids)
        for p in board["panels"]:
            pos = p["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24
            assert p["datasource"]["uid"] == DATASOURCE_UID
            assert all(t["datasource"]["uid"] == DATASOURCE_UID for t in p["targets"])


def test_cli_writes_provisioning_files(tmp_path: Path) -> None:
    assert main(["grafana", "dashboards", "--out", str(tmp_path / "boards")]) == 0
    written = sorted(p.name for p in (tmp_path / "boards").glob("*.json"))
    assert written == sorted(f"{b['uid']}.json" for b in dashboards.all_dashboards())
    assert json.loads((tmp_path / "boards/schoolnet-overview.json").read_text())["panels"]
    assert main(["grafana", "alerts", "--out", str(tmp_path / "alerting/schoolnet.yaml")]) == 0
    rules = json.loads((tmp_path / "alerting/schoolnet.yaml").read_text())
    assert rules["apiVersion"] == 1 and len(rules["groups"][0]["rules"]) == 3
