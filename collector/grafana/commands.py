"""``schoolnet-collector grafana``: write dashboards and alert rules, or load demo data.

    schoolnet-collector grafana dashboards --out /var/lib/grafana/dashboards/schoolnet
    schoolnet-collector grafana alerts --out /etc/grafana/provisioning/alerting/schoolnet.yaml
    schoolnet-collector grafana demo --url http://127.0.0.1:8086 --database schoolnet
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from agent.contract.configschema import build
from collector.config import Storage
from collector.errors import CollectorError
from collector.grafana import alerting, dashboards, demo
from collector.ingest.lineproto import line
from collector.ingest.writer import InfluxV1Writer

log = logging.getLogger(__name__)
BATCH = 5000


def write_dashboards(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for board in dashboards.all_dashboards():
        path = out / f"{board['uid']}.json"
        path.write_text(json.dumps(board, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def write_alerts(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(alerting.provisioning(), ensure_ascii=False, indent=1) + "\n",
                   encoding="utf-8")
    return out


def load_demo(url: str, database: str, username: str = "", password: str = "",
              days: int = 3) -> int:
    """Write the constructed demo readings through the collector's InfluxDB 1.x writer."""
    writer = InfluxV1Writer(build(Storage, {
        "kind": "influxdb1", "url": url, "database": database, "timeout_seconds": 30,
        "username": username, "password": password}))
    lines = [line(r) for r in demo.readings(days)]
    for start in range(0, len(lines), BATCH):
        writer.write(lines[start:start + BATCH])
    return len(lines)


def run(args: argparse.Namespace) -> int:
    """The ``grafana`` subcommands; their arguments are defined in collector.cli."""
    if args.what == "dashboards":
        for path in write_dashboards(args.out):
            print(path)
    elif args.what == "alerts":
        print(write_alerts(args.out))
    else:
        try:
            count = load_demo(args.url, args.database, args.username, args.password, args.days)
        except CollectorError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"wrote {count} demo points to {args.database} at {args.url}")
    return 0
