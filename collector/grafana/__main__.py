"""``python -m collector.grafana``: write dashboards and alert rules, or load demo data.

    python -m collector.grafana dashboards --out /var/lib/grafana/dashboards/schoolnet
    python -m collector.grafana alerts --out /etc/grafana/provisioning/alerting/schoolnet.yaml
    python -m collector.grafana demo --url http://127.0.0.1:8086 --database schoolnet
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collector.grafana", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dashboards", help="write the dashboards' JSON").add_argument(
        "--out", type=Path, required=True, help="directory (Grafana's dashboard provider path)")
    sub.add_parser("alerts", help="write the alert rules").add_argument(
        "--out", type=Path, required=True, help="file in Grafana's provisioning/alerting/")
    dem = sub.add_parser("demo", help="write constructed demo data to InfluxDB 1.x")
    dem.add_argument("--url", default="http://127.0.0.1:8086")
    dem.add_argument("--database", default="schoolnet")
    dem.add_argument("--username", default="")
    dem.add_argument("--password", default="")
    dem.add_argument("--days", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "dashboards":
        for path in write_dashboards(args.out):
            print(path)
    elif args.command == "alerts":
        print(write_alerts(args.out))
    else:
        try:
            count = load_demo(args.url, args.database, args.username, args.password, args.days)
        except CollectorError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"wrote {count} demo points to {args.database} at {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
