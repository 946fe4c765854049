"""Grafana dashboards and alert rules for schoolnet-audit, generated from code.

This package is the single source of the dashboards: ``python -m
collector.grafana dashboards --out DIR`` writes their JSON for Grafana's file
provisioning (``deploy/grafana/provisioning/dashboards/schoolnet.yaml`` points
at DIR), ``alerts --out FILE`` the alert rules, and ``demo`` fills a database
with constructed demo data to try them on. Every query is InfluxQL, which
InfluxDB 1.x, 2.x (through a DBRP mapping) and 3.x all answer, through the
datasource provisioned as ``DATASOURCE_UID``.
"""

from __future__ import annotations

DATASOURCE_UID = "schoolnet-influxql"
DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}
