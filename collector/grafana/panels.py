"""Grafana dashboard JSON builders: targets, panels, variables, layout.

Only the parts of Grafana's dashboard model (schemaVersion 39, Grafana 10/11)
that these dashboards use; every target is raw InfluxQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.grafana import DATASOURCE
from collector.grafana.influxql import tag_values

Json = dict[str, Any]
WIDTH = 24  # Grafana's grid columns


def target(query: str, ref: str, alias: str = "", table: bool = False) -> Json:
    out: Json = {"refId": ref, "datasource": DATASOURCE, "query": query, "rawQuery": True,
                 "resultFormat": "table" if table else "time_series"}
    if alias:
        out["alias"] = alias
    return out


def targets(queries: Sequence[str | tuple[str, str]], table: bool = False) -> list[Json]:
    """Targets A, B, C... from queries or (query, alias) pairs."""
    out = []
    for n, item in enumerate(queries):
        query, alias = (item, "") if isinstance(item, str) else item
        out.append(target(query, chr(ord("A") + n), alias, table))
    return out


def thresholds(*steps: tuple[float | None, str]) -> Json:
    return {"mode": "absolute",
            "steps": [{"value": value, "color": color} for value, color in steps]}


SHARE_STEPS = thresholds((None, "red"), (0.8, "orange"), (1.0, "green"))


@dataclass
class Panel:
    kind: str  # timeseries, stat, bargauge, table
    title: str
    queries: Sequence[str | tuple[str, str]]
    width: int = 12
    height: int = 8
    unit: str = ""
    description: str = ""
    table: bool = False
    steps: Json | None = None
    options: Json = field(default_factory=dict)
    custom: Json = field(default_factory=dict)
    overrides: list[Json] = field(default_factory=list)
    transformations: list[Json] = field(default_factory=list)
    minmax: tuple[float | None, float | None] = (None, None)
    interval: str = ""  # smallest $__interval Grafana may choose for this panel
    color: Json | None = None  # fieldConfig colour mode (default: thresholds if steps)

    def json(self, panel_id: int, x: int, y: int) -> Json:
        defaults: Json = {"custom": self.custom}
        if self.unit:
            defaults["unit"] = self.unit
        if self.color:
            defaults["color"] = self.color
        if self.steps:
            defaults["thresholds"] = self.steps
            defaults.setdefault("color", {"mode": "thresholds"})
        if self.minmax[0] is not None:
            defaults["min"] = self.minmax[0]
        if self.minmax[1] is not None:
            defaults["max"] = self.minmax[1]
        extra: Json = {"interval": self.interval} if self.interval else {}
        return {
            **extra,
            "id": panel_id, "type": self.kind, "title": self.title,
            "description": self.description, "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "targets": targets(self.queries, self.table),
            "fieldConfig": {"defaults": defaults, "overrides": self.overrides},
            "options": self.options, "transformations": self.transformations,
        }


def layout(panels: Sequence[Panel]) -> list[Json]:
    """Left to right, wrapping at Grafana's 24 columns; ids from 1."""
    out, x, y, row_height = [], 0, 0, 0
    for n, panel in enumerate(panels, 1):
        if x + panel.width > WIDTH:
            x, y, row_height = 0, y + row_height, 0
        out.append(panel.json(n, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return out


def query_variable(name: str, label: str, measurement: str, parents: Sequence[str],
                   multi: bool = True, key: str = "") -> Json:
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "query": tag_values(measurement, key or name, parents),
        "definition": tag_values(measurement, key or name, parents),
        "refresh": 2,  # on time range change: new schools appear without a reload
        "sort": 1, "multi": multi, "includeAll": multi,
        # Regex "everything", not a list of every value: short queries for
        # provinces with thousands of schools.
        "allValue": ".*" if multi else None,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if multi else {},
        "options": [], "hide": 0,
    }


def custom_variable(name: str, label: str, values: Sequence[str], default: str) -> Json:
    return {
        "name": name, "label": label, "type": "custom", "query": ",".join(values),
        "multi": False, "includeAll": False, "hide": 0,
        "current": {"selected": True, "text": default, "value": default},
        "options": [{"selected": v == default, "text": v, "value": v} for v in values],
    }


def dashboard(uid: str, title: str, description: str, panels: Sequence[Panel],
              variables: Sequence[Json], time_from: str = "now-7d") -> Json:
    return {
        "uid": uid, "title": title, "description": description,
        "tags": ["schoolnet-audit"], "timezone": "browser", "editable": True,
        "schemaVersion": 39, "version": 1, "refresh": "5m", "graphTooltip": 1,
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": list(variables)},
        "annotations": {"list": []},
        # Every dashboard links to the others, keeping the chosen region and time.
        "links": [{"type": "dashboards", "tags": ["schoolnet-audit"], "asDropdown": True,
                   "title": "schoolnet-audit", "includeVars": True, "keepTime": True}],
        "panels": layout(panels),
    }


def region_variables(school: bool = False) -> list[Json]:
    """province → city → county (→ school), each narrowed by the ones above."""
    out = [query_variable("province", "Province", "compliance", []),
           query_variable("city", "City", "compliance", ["province"]),
           query_variable("county", "County", "compliance", ["province", "city"])]
    if school:
        out.append(query_variable("school", "School", "compliance",
                                  ["province", "city", "county"], multi=False))
    return out
