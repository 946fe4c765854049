"""Grafana alert rules (unified alerting, file provisioning format, apiVersion 1).

Each rule's query returns one series per school (and target) that is in
trouble, labelled with its region tags; the series of a school that recovers
disappears and Grafana sends the "resolved" notification. Missing series are
therefore normal (``noDataState: OK``).

No query uses ``$timeFilter``: each reads the newest state as of now, with a
lookback that does not depend on the rule's ``relativeTimeRange``. The offline
rule reads the agent states the collector re-states at least twice a day
(collector.judge.agentstate), so an agent offline for 30 days, or for longer
than the raw readings are kept, still fires, and the query reads one day, not
every school's history.
"""

from __future__ import annotations

from collector.grafana import DATASOURCE_UID
from collector.grafana.influxql import (
    ALERT_END,
    REGION_TAGS,
    VERDICT_LOOKBACK,
    as_of,
    q,
)
from collector.grafana.panels import Json

FOLDER = "schoolnet-audit"
EXPR = {"type": "__expr__", "uid": "__expr__"}  # Grafana's server-side expressions
GROUP_TAGS = ", ".join(q(t) for t in ("school", *REGION_TAGS))


VERDICTS = as_of(ALERT_END, VERDICT_LOOKBACK)
# Grafana requires a range per query; none of these queries reads it.
WINDOW_SECONDS = 25 * 3600


def latest_is(measurement: str, field: str, value: str, window: str, extra_group: str = "",
              condition: str = "") -> str:
    """One series per school whose latest ``field`` equals ``value`` (its value: 1)."""
    group = GROUP_TAGS + (f", {q(extra_group)}" if extra_group else "")
    cond = f" AND {condition}" if condition else ""
    inner = (f"SELECT last({q(field)}) AS {q('s')} FROM {q(measurement)} "
             f"WHERE {window}{cond} GROUP BY {group}")
    return (f"SELECT count({q('s')}) AS {q('n')} FROM ({inner}) "
            f"WHERE {q('s')} = '{value}' GROUP BY {group}")


def rule(uid: str, title: str, query: str, window_seconds: int, pending: str,
         summary: str, severity: str) -> Json:
    return {
        "uid": uid, "title": title, "condition": "C",
        "data": [
            {"refId": "A", "datasourceUid": DATASOURCE_UID,
             "relativeTimeRange": {"from": window_seconds, "to": 0},
             "model": {"refId": "A", "query": query, "rawQuery": True,
                       "resultFormat": "time_series", "intervalMs": 60000,
                       "maxDataPoints": 43200}},
            {"refId": "B", "datasourceUid": "__expr__",
             "model": {"refId": "B", "datasource": EXPR, "type": "reduce", "expression": "A",
                       "reducer": "last", "settings": {"mode": "dropNN"}}},
            {"refId": "C", "datasourceUid": "__expr__",
             "model": {"refId": "C", "datasource": EXPR, "type": "threshold", "expression": "B",
                       "conditions": [{"evaluator": {"type": "gt", "params": [0]}}]}},
        ],
        "noDataState": "OK", "execErrState": "Error", "for": pending,
        "annotations": {"summary": summary},
        "labels": {"severity": severity, "service": "schoolnet-audit"},
        "isPaused": False,
    }


def rules() -> list[Json]:
    return [
        rule("schoolnet-below-target", "School below target",
             latest_is("compliance", "status", "fail", VERDICTS, "target",
                       f"{q('target')} != 'all'"),
             WINDOW_SECONDS, "6h",
             "School {{ $labels.school }} ({{ $labels.province }}/{{ $labels.city }}/"
             "{{ $labels.county }}) is below the {{ $labels.target }} target",
             "warning"),
        rule("schoolnet-school-silent", "School silent (no readings judged)",
             latest_is("compliance", "status", "no_data", VERDICTS,
                       condition=f"{q('target')} = 'all'"),
             WINDOW_SECONDS, "2h",
             "No readings from school {{ $labels.school }} ({{ $labels.county }}) to judge",
             "warning"),
        # agent_attention, not agent_state: only the schools that needed attention
        # within the lookback have its series (collector.judge.agentstate), and a
        # recovered one's newest point there says online.
        rule("schoolnet-agent-offline", "Agent offline (last will)",
             latest_is("agent_attention", "state", "offline", VERDICTS), WINDOW_SECONDS, "1h",
             "The agent of school {{ $labels.school }} ({{ $labels.county }}) is offline",
             "info"),
    ]


def provisioning() -> Json:
    """The file Grafana reads from provisioning/alerting/ (JSON is valid YAML)."""
    return {"apiVersion": 1,
            "groups": [{"orgId": 1, "name": "schoolnet", "folder": FOLDER, "interval": "5m",
                        "rules": rules()}]}
