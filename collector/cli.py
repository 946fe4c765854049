"""``schoolnet-collector``: check-config, run, evaluate, report, speed-server,
reflector, broker-access, grafana."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

from agent.contract.cli import EXIT_CONFIG, config_error, set_level, setup_logging, start
from agent.contract.errors import ConfigError, ConfigErrors
from agent.contract.filecheck import tls_problems, writable_dir_problem
from collector import __version__, config
from collector.errors import CollectorError
from collector.judge.registry import LEVELS
from collector.report import FORMATS, SORTS, VIEWS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="schoolnet-collector",
                                     description="School network audit collector")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("check-config", "validate a config file and exit"),
                       ("run", "subscribe to the agents' readings and store them"),
                       ("evaluate", "judge every registered school once and send alerts"),
                       ("report", "print the regional compliance roll-up"),
                       ("national", "store the roll-ups the provinces forward (national "
                                    "tier)")):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("-c", "--config", required=True, help="collector TOML config file")
        if name == "run":
            cmd.add_argument("--instance", type=_instance,
                             help="one of several processes in a shared group (systemd's %%i):"
                                  " client id <client_id>-NAME; only instance 1 judges")
        if name == "evaluate":
            cmd.add_argument("--dry-run", action="store_true",
                             help="print verdicts and the alerts that would be sent; "
                                  "write and send nothing")
        if name == "report":
            cmd.add_argument("--region", help="only this region (province/city/county code "
                             "or a school id)")
            cmd.add_argument("--level", choices=LEVELS, default="county",
                             help="one row per region of this level (school: the ledger)")
            cmd.add_argument("--view", choices=VIEWS, default="summary",
                             help="summary: shares per region; ledger: one line per school")
            cmd.add_argument("--as-of", metavar="DATE",
                             help="as the readings and verdicts stood then: 2026-06-30 (the "
                                  "end of that day, UTC) or 2026-06-30T18:00+08:00")
            cmd.add_argument("--compare", metavar="DATE",
                             help="add each indicator's share at this earlier date and the "
                                  "change")
            cmd.add_argument("--below", action="store_true",
                             help="ledger: only schools not meeting every target of their type")
            cmd.add_argument("--sort", choices=sorted(SORTS), default="region",
                             help="ledger order (exit and last_reading: lowest/oldest first)")
            cmd.add_argument("--format", choices=sorted(FORMATS), default="table")
            cmd.add_argument("--lang", choices=("zh", "en"), default="zh")
            cmd.add_argument("--from-readings", action="store_true",
                             help="compute every school's facts from the raw readings, not "
                                  "the collector's per-school summaries (slower; to check)")
            cmd.add_argument("--from-summaries", action="store_true",
                             help="count from every school's summary, not the collector's "
                                  "indicator roll-ups per county (slower; to check)")
            cmd.add_argument("-o", "--output", help="write to this file instead of stdout "
                             "(needed for xlsx)")
    speed = sub.add_parser("speed-server", help="serve the agents' bandwidth tests over HTTP",
                           description="serve the agents' bandwidth tests over HTTP, to "
                                       "clients holding a token from the config file")
    speed.add_argument("-c", "--config", required=True,
                       help="speed server TOML config (tokens, budgets, limits)")
    speed.add_argument("--listen", help="address to bind (default: the config's)")
    speed.add_argument("--port", type=int, help="port (default: the config's)")
    refl = sub.add_parser("reflector", help="answer the agents' path-quality probes (STAMP)",
                          description="answer the agents' path-quality test packets (STAMP, "
                                      "RFC 8762), rate-limited per source address")
    refl.add_argument("--listen", default="::", help="address to bind (default: all, v4 and v6)")
    refl.add_argument("--port", type=int, default=862, help="UDP port (default: 862, STAMP's)")
    refl.add_argument("--rate", type=_positive, default=50.0,
                      help="packets per second answered per source address (default: 50)")
    refl.add_argument("--burst", type=_positive, default=100.0,
                      help="packets a source may send at once above its rate (default: 100)")
    refl.add_argument("--allow", action="append", type=_network, default=[], metavar="CIDR",
                      help="answer only these networks (repeat; default: everyone)")
    access = sub.add_parser("broker-access", help="Mosquitto password file and ACL from the "
                            "school registry")
    access.add_argument("--registry", required=True, type=Path, help="school registry CSV")
    access.add_argument("--out", required=True, type=Path,
                        help="directory for the ACL and passwd files and passwords.csv")
    access.add_argument("--collector-user", default="collector")
    access.add_argument("--operator", action="append", metavar="NAME",
                        help="a read-only operator account (dashboards, alert readers); "
                        "repeat for several, default: one named operator")
    access.add_argument("--group", default="",
                        help="group that may read the passwd and ACL files (the broker's: "
                        "mosquitto)")
    national = sub.add_parser("national-access", help="national broker accounts: one bridge "
                              "account per province")
    national.add_argument("--province", action="append", required=True, metavar="CODE",
                          help="a province whose bridge may send its roll-ups; repeat")
    national.add_argument("--out", required=True, type=Path,
                          help="directory for national.acl, national.passwd and "
                               "national-passwords.csv")
    national.add_argument("--collector-user", default="national-collector")
    national.add_argument("--group", default="", help="group that may read the passwd and "
                          "ACL files (the broker's: mosquitto)")
    grafana = sub.add_parser("grafana", help="write Grafana dashboards and alert rules, or "
                             "load demo data").add_subparsers(dest="what", required=True)
    grafana.add_parser("dashboards", help="write the dashboards' JSON").add_argument(
        "--out", type=Path, required=True, help="directory (Grafana's dashboard provider path)")
    grafana.add_parser("alerts", help="write the alert rules").add_argument(
        "--out", type=Path, required=True, help="file in Grafana's provisioning/alerting/")
    demo = grafana.add_parser("demo", help="write constructed demo data to InfluxDB 1.x")
    demo.add_argument("--url", default="http://127.0.0.1:8086")
    demo.add_argument("--database", default="schoolnet")
    demo.add_argument("--username", default=os.environ.get("SCHOOLNET_INFLUX_USER", ""),
                      help="default: $SCHOOLNET_INFLUX_USER")
    # A command line is visible to every user of the host (ps): prefer the environment.
    demo.add_argument("--password", default=os.environ.get("SCHOOLNET_INFLUX_PASSWORD", ""),
                      help="default: $SCHOOLNET_INFLUX_PASSWORD (better than this option, "
                           "which every user of the host can see)")
    demo.add_argument("--days", type=int, default=3)
    return parser


def _instance(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", name):
        raise argparse.ArgumentTypeError("letters, digits, _ or -, at most 32")
    return name


def check_files(cfg: config.CollectorConfig) -> list[ConfigError]:
    """Load every file the config names (registry, targets, alert state, TLS
    material) as the daemon will, and check the alert state can be saved: all problems."""
    from collector.judge.alerts import load_state
    from collector.judge.registry import load as load_registry
    from collector.judge.targets import load as load_targets

    m = cfg.mqtt
    problems = tls_problems(m.ca_file, m.cert_file, m.key_file)
    for state, key in ((cfg.alerts.state_file, "alerts.state_file"),
                       (cfg.targets.state_file, "targets.state_file")):
        if state:
            unwritable = writable_dir_problem(str(Path(state).parent), f"{key}'s directory")
            problems += [unwritable] if unwritable else []
    for path, load in ((cfg.registry.file, load_registry), (cfg.targets.file, load_targets),
                       (cfg.alerts.state_file, load_state)):
        if not path:
            continue
        try:
            load(path)
        except ConfigErrors as err:
            problems += err.errors
        except ConfigError as err:
            problems.append(err)
    return problems


def _alert_client(cfg: config.CollectorConfig) -> Any:
    """A connected MQTT client for the alerts, or CollectorError in plain words:
    judging first and then failing to send would save alert state nobody heard."""
    from paho.mqtt.reasoncodes import ReasonCode

    from agent.contract.mqttclient import make_client

    m = cfg.mqtt
    where = f"the MQTT broker at {m.host}:{m.port}"
    client = make_client(m, m.client_id + "-evaluate")
    answered = threading.Event()
    outcome: list[ReasonCode] = []

    def on_connect(_c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any = None) -> None:
        outcome.append(reason)
        answered.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *_: answered.set()  # e.g. not a broker on that port
    try:
        client.connect(m.host, m.port, m.keepalive)
    except (OSError, ValueError) as err:
        raise CollectorError(
            f"cannot reach the broker {m.host}:{m.port} to publish alerts "
            f"({getattr(err, 'strerror', None) or err}): start it or check [mqtt] host and "
            "port, or judge without sending: --dry-run") from err
    client.loop_start()
    if not answered.wait(15.0) or not outcome or outcome[0].is_failure:
        client.loop_stop()
        why = f"it refused the connection: {outcome[0]}" if outcome else "no answer"
        raise CollectorError(f"{where} did not let evaluate in ({why}): check [mqtt] "
                             "username/password and TLS files, or use --dry-run")
    return client


def _evaluate(cfg: config.CollectorConfig, dry_run: bool) -> int:
    from collector.ingest.writer import make_writer
    from collector.judge.alerts import apprise_sink, mqtt_sink
    from collector.judge.evaluate import Evaluator

    writer = make_writer(cfg.storage)
    client = None
    sinks = []
    if not dry_run:
        client = _alert_client(cfg)
        publish = client.publish
        sinks.append(mqtt_sink(lambda t, p: publish(t, p, qos=1).wait_for_publish(10),
                               cfg.alerts.topic_prefix))
        if cfg.alerts.urls:
            sinks.append(apprise_sink(cfg.alerts.urls, cfg.alerts.language))
    evaluator = Evaluator(cfg, writer, sinks, dry_run=dry_run)
    if client is not None and cfg.national.publish:
        from collector.national.wire import publisher

        evaluator.rollup_sink = publisher(lambda t, p: publish(t, p, qos=1).wait_for_publish(10),
                                          cfg.national.topic)
    try:
        verdicts, alerts = evaluator.run_once()
    finally:
        if client is not None:
            client.disconnect()
            client.loop_stop()
    for v in verdicts:
        value = "-" if v.value is None else f"{v.value:g}"
        print(f"{v.school.school_id:<16} {v.target:<16} {v.status:<13} "
              f"{value:>8} / {v.threshold:<8g} readings={v.readings} {v.detail}")
    print(f"{len(alerts)} alert(s)" + (" would be sent" if dry_run else " sent"))
    return 0


REPORT_TIMEOUT_SECONDS = 600.0


def _report(cfg: config.CollectorConfig, args: argparse.Namespace) -> int:
    from collector.judge.reader import InfluxQLReader
    from collector.judge.registry import load as load_registry
    from collector.judge.targets import load_indicators
    from collector.report import PER_SCHOOL_FORMATS, build

    if args.format == "xlsx" and not args.output:
        print("error: an xlsx workbook is a binary file: name it with -o report.xlsx",
              file=sys.stderr)
        return 1
    schools = list(load_registry(cfg.registry.file).values())
    # One line per school is the ledger, never a summary of 1 (100%) cells.
    view = "ledger" if args.level == "school" else args.view
    reader = InfluxQLReader(cfg.storage)
    # A report is a batch job: at province scale its grouped queries take far longer
    # than the daemon's storage timeout allows one write (see tests/bench/bench_report).
    reader.timeout = max(reader.timeout, REPORT_TIMEOUT_SECONDS)
    report = build(schools, reader, load_indicators(cfg.targets.file),
                   lang=args.lang, level=args.level, region=args.region, as_of=args.as_of,
                   compare=args.compare, view=view, only_below=args.below, sort=args.sort,
                   summaries=not args.from_readings,
                   rollups=not args.from_summaries, longterm=cfg.storage.longterm_policy,
                   per_school=view == "ledger" or args.format in PER_SCHOOL_FORMATS)
    out = FORMATS[args.format](report)
    if isinstance(out, bytes):
        Path(args.output).write_bytes(out)
    elif args.output:
        Path(args.output).write_text(out, encoding="utf-8")
    else:
        print(out)
    return 0


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a network such as 10.0.0.0/8") \
            from err


def _reflector(args: argparse.Namespace) -> int:
    from collector import reflector

    setup_logging(args.verbose)
    try:
        sock = reflector.open_socket(args.listen, args.port)
    except OSError as err:
        print(f"schoolnet-collector reflector: cannot listen on {args.listen} UDP port "
              f"{args.port}: {err.strerror}. Choose another --listen or --port, or stop "
              "what is using it.", file=sys.stderr)
        return 1
    limits = reflector.Limits(rate_pps=args.rate, burst=args.burst, allow=tuple(args.allow))
    print(f"reflector listening on {args.listen} UDP port {sock.getsockname()[1]}", flush=True)
    try:
        reflector.serve(sock, limits)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "reflector":
        return _reflector(args)
    if args.command == "speed-server":
        from collector import speedserver
        from collector.speedserver import config as speed_config

        speed_cfg = start(args.verbose, speed_config.load, args.config)
        if speed_cfg is None:
            return EXIT_CONFIG
        try:
            speedserver.serve(speed_cfg, args.listen, args.port)
        except OSError as err:  # the port is taken, or not ours to bind
            if err.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                raise
            where = f"{args.listen or speed_cfg.server.listen}:" \
                f"{speed_cfg.server.port if args.port is None else args.port}"
            print(f"cannot listen on {where}: {err.strerror or err}: another program (or "
                  "another speed server) may hold that port, or the address is not this "
                  "host's; stop it, or choose [server] listen/port or --listen/--port",
                  file=sys.stderr)
            return 1
        return 0
    if args.command == "broker-access":
        from collector import brokeraccess

        setup_logging(args.verbose)
        return brokeraccess.run(args)
    if args.command == "national-access":
        from collector.national import access

        setup_logging(args.verbose)
        return access.run(args)
    if args.command == "grafana":
        from collector.grafana import commands

        setup_logging(args.verbose)
        return commands.run(args)
    cfg = start(args.verbose, config.load, args.config)
    if cfg is None:
        return EXIT_CONFIG
    set_level(args.verbose, cfg.logging.level)
    problems = check_files(cfg)
    if problems:
        config_error(ConfigErrors(problems))
        return EXIT_CONFIG
    if args.command == "check-config":
        named = [f"{what} {path}" for what, path in (
            ("registry", cfg.registry.file), ("targets", cfg.targets.file),
            ("alert state", cfg.alerts.state_file)) if path]
        user, _, _ = cfg.storage.reader()
        accounts = (f" (writes as {cfg.storage.username!r}, queries as {user!r})"
                    if cfg.storage.kind == "influxdb1" and cfg.storage.username else "")
        print(f"{cfg.file}: OK — {cfg.storage.kind} at {cfg.storage.url}{accounts}, "
              f"broker {cfg.mqtt.host}:{cfg.mqtt.port}"
              + (", " + ", ".join(named) if named else ""))
        return 0
    if args.command in ("evaluate", "report") and not (cfg.registry.file
                                                      and cfg.targets.file):
        print(f"config error: {cfg.file}: [registry] file and [targets] file are needed "
              f"for {args.command}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        if args.command == "evaluate":
            return _evaluate(cfg, args.dry_run)
        if args.command == "report":
            return _report(cfg, args)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except CollectorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.command == "national":
        from collector.national.receiver import serve

        return serve(cfg)
    from collector.service import Collector  # paho and the database client load only here

    if args.instance is not None:
        cfg = config.instance(cfg, args.instance)
    try:
        collector = Collector(cfg)
    except ConfigError as err:  # a file changed between the check and now
        config_error(err)
        return EXIT_CONFIG
    return collector.run()


if __name__ == "__main__":
    sys.exit(main())
