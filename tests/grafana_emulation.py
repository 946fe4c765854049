"""An emulation of what Grafana 11 does to an InfluxQL query before InfluxDB sees it.

This is NOT Grafana (none runs here); it reproduces the few rules our panels
and alert rules depend on, each taken from grafana/grafana's source:

* ``$timeFilter`` becomes ``time >= <from>ms and time <= <to>ms`` with the
  range resolved to absolute epoch milliseconds (``renderTimeFilter`` and
  ``Build`` in pkg/tsdb/influxdb/influxql/models/query.go; the frontend turns
  "now-2d" into absolute times before the query reaches that code).
* ``$__interval`` (and ``$interval``, ``$__interval_ms``) are replaced in the
  same ``Build``; the interval is the range divided by the panel's max data
  points, rounded by ``RoundInterval`` (grafana-plugin-sdk-go backend/gtime) and
  never below the panel's ``interval`` or the datasource's ``timeInterval``.
  Alert rules carry ``intervalMs`` in their model instead.
* ``${__from}`` / ``${__to}`` are global variables: the range's ends in epoch
  milliseconds (public/app/features/templating/template_srv.ts, time macros).
* Dashboard variables go through the InfluxDB datasource's
  ``interpolateQueryExpr`` (public/app/plugins/datasource/influxdb/datasource.ts):
  a variable that is neither multi nor include-all is used as is (regex-escaped
  when it stands inside ``/.../``); a multi or include-all variable has each
  value regex-escaped, one value alone, several as ``(a|b)``; "All" with a
  custom ``allValue`` is that value verbatim (template_srv.ts).

Panel max data points are taken as 1000 (Grafana uses the panel's width in
pixels); the alert query sees no dashboard variables at all.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MS = 1
SECOND = 1000 * MS
MINUTE, HOUR, DAY = 60 * SECOND, 3600 * SECOND, 86400 * SECOND
MAX_DATA_POINTS = 1000
DATASOURCE_TIME_INTERVAL = MINUTE  # jsonData.timeInterval in the provisioned datasource
_UNITS = {"ms": MS, "s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY, "w": 7 * DAY}
# (upper bound of the raw interval, rounded interval) from gtime.RoundInterval, in ms
_ROUND = ((10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500),
          (1500, 1000), (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000),
          (25000, 20000), (45000, 30000), (90000, 60000), (210000, 120000),
          (450000, 300000), (750000, 600000), (1050000, 900000), (1500000, 1200000),
          (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
          (16200000, 10800000), (32400000, 21600000), (86400000, 43200000),
          (172800000, 86400000), (604800000, 86400000), (1814400000, 604800000))
_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")  # escapeRegex in @grafana/data


def duration_ms(text: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", text)
    assert match, text
    return int(match[1]) * _UNITS[match[2]]


def round_interval(ms: int) -> int:
    for bound, rounded in _ROUND:
        if ms <= bound:
            return rounded
    return 2592000000 if ms < 3628800000 else 31536000000


def format_interval(ms: int) -> str:
    """gtime.FormatInterval: the largest whole unit."""
    for unit, size in (("y", 365 * DAY), ("d", DAY), ("h", HOUR), ("m", MINUTE),
                       ("s", SECOND)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


@dataclass(frozen=True)
class Range:
    """A dashboard time range, resolved to absolute epoch milliseconds."""
    name: str
    from_ms: int
    to_ms: int

    @classmethod
    def relative(cls, start: str, end: str = "now", now_ms: int | None = None) -> Range:
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000

        def resolve(expr: str) -> int:
            return now if expr == "now" else now - duration_ms(expr.removeprefix("now-"))
        label = start if end == "now" else f"{start} to {end}"
        return cls(label, resolve(start), resolve(end))

    def interval(self, panel_min: str = "") -> str:
        calculated = round_interval((self.to_ms - self.from_ms) // MAX_DATA_POINTS)
        floor = max(DATASOURCE_TIME_INTERVAL, duration_ms(panel_min) if panel_min else 0)
        return format_interval(max(calculated, floor))


def escape_regex(value: str) -> str:
    return _SPECIAL.sub(lambda m: "\\" + m[0], value)


def format_variable(definition: Mapping[str, Any], selected: Sequence[str] | str,
                    in_regex: bool) -> str:
    """One dashboard variable's value as the InfluxDB datasource writes it into a query."""
    if selected == "All":
        assert definition.get("includeAll"), definition["name"]
        return str(definition["allValue"])
    values = [selected] if isinstance(selected, str) else list(selected)
    if not definition.get("multi") and not definition.get("includeAll"):
        assert len(values) == 1, definition["name"]
        return escape_regex(values[0]) if in_regex else values[0]
    escaped = [escape_regex(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")


def panel_query(query: str, rng: Range, variables: Sequence[Mapping[str, Any]],
                chosen: Mapping[str, Sequence[str] | str], panel_interval: str = "") -> str:
    """A dashboard panel's query as Grafana sends it for this range and selection."""
    interval = rng.interval(panel_interval)
    definitions = {v["name"]: v for v in variables}

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name == "timeFilter":
            return f"time >= {rng.from_ms}ms and time <= {rng.to_ms}ms"
        if name in ("__interval", "interval"):
            return interval
        if name == "__interval_ms":
            return str(duration_ms(interval))
        if name in ("__from", "__to"):
            return str(rng.from_ms if name == "__from" else rng.to_ms)
        assert name in definitions, f"unknown variable ${name} in {query}"
        in_regex = re.search(r"=~\s*/[^/]*$", query[:match.start()]) is not None
        return format_variable(definitions[name], chosen[name], in_regex)
    return _VARIABLE.sub(replace, query)


def alert_query(rule: Mapping[str, Any], now_ms: int | None = None) -> str:
    """An alert rule's query as Grafana's backend sends it (no dashboard variables)."""
    data = rule["data"][0]
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    rel = data["relativeTimeRange"]
    from_ms, to_ms = now - rel["from"] * SECOND, now - rel["to"] * SECOND
    interval = format_interval(max(data["model"]["intervalMs"], DATASOURCE_TIME_INTERVAL))
    query = data["model"]["query"]
    query = query.replace("$timeFilter", f"time >= {from_ms}ms and time <= {to_ms}ms")
    query = query.replace("$__interval_ms", str(duration_ms(interval)))
    query = query.replace("$__interval", interval)
    assert "$" not in query, query  # Grafana would leave it for InfluxDB to reject
    return query
