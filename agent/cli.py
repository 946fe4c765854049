"""``schoolnet-agent``: check-config, once, run."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import stat
import sys

from agent import __version__, config, doctor
from agent.contract.cli import EXIT_CONFIG, config_error, set_level, start
from agent.contract.errors import ConfigError, ConfigErrors
from agent.contract.filecheck import tls_problems, writable_dir_problem
from agent.contract.reading import Reading
from agent.extras import missing, pip_command
from agent.probes import REGISTRY
from agent.probes.wifi import survey
from agent.runtime import probe_context, publish_once, run_daemon
from agent.scheduler import Scheduler

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="schoolnet-agent",
                                     description="School network audit agent")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("check-config", "validate a config file and exit"),
                       ("once", "run the probes once and print their readings"),
                       ("run", "run as a daemon, publishing readings to the broker"),
                       ("status", "check this gateway end to end and say what to fix")):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("-c", "--config", required=True, help="agent TOML config file")
        if name == "once":
            cmd.add_argument("--probe", help="run only this probe")
            cmd.add_argument("--json", action="store_true", help="print JSON lines")
            cmd.add_argument("--publish", action="store_true",
                             help="also publish the readings and wait for the broker's ack")
            cmd.add_argument("--timeout", type=float, default=30.0,
                             help="seconds to wait for the broker with --publish")
        if name == "status":
            cmd.add_argument("--json", action="store_true", help="print one JSON object")
            cmd.add_argument("--lang", choices=("en", "zh"),
                             help="language (default: from the system locale)")
            cmd.add_argument("--timeout", type=float, default=15.0,
                             help="seconds to wait for the broker and the collector")
    text = "Wi-Fi site survey: scan here, show what is heard, publish the area's reading"
    survey_cmd = sub.add_parser("survey", help=text, description=text)
    survey.add_arguments(survey_cmd)
    survey_cmd.add_argument("--no-publish", action="store_true",
                            help="do not send the reading to the broker")
    return parser


def format_reading(reading: Reading) -> str:
    tags = ",".join(f"{k}={v}" for k, v in reading.tags.items())
    fields = " ".join(f"{k}={v}" for k, v in reading.fields.items() if k != "result")
    return f"{reading.measurement:<14} {tags:<24} {reading.result:<12} {fields}"


def _once(cfg: config.AgentConfig, args: argparse.Namespace) -> int:
    if not cfg.probes:
        print(f"no probe is enabled in {cfg.file}: add a [probes.NAME] table; known probes: "
              f"{', '.join(sorted(REGISTRY))}", file=sys.stderr)
        return EXIT_CONFIG
    if args.probe and args.probe not in REGISTRY:
        print(f"unknown probe {args.probe!r}; known: {', '.join(sorted(REGISTRY))}",
              file=sys.stderr)
        return EXIT_CONFIG
    if args.probe and args.probe not in {p.name for p in cfg.probes}:
        print(f"probe {args.probe!r} is not enabled in {cfg.file}: add a [probes.{args.probe}] "
              "table (or remove enabled = false)", file=sys.stderr)
        return EXIT_CONFIG
    if args.publish and (unwritable := writable_dir_problem(cfg.agent.state_dir,
                                                            "agent.state_dir")):
        config_error(unwritable)
        return EXIT_CONFIG
    ctx = dataclasses.replace(probe_context(cfg), interactive=True)
    readings = asyncio.run(Scheduler(cfg.probes, ctx).run_once(args.probe))
    for reading in readings:
        if args.json:
            print(json.dumps({"measurement": reading.measurement, "ts": reading.ts_ns,
                              "tags": reading.tags, "fields": reading.fields},
                             ensure_ascii=False))
        else:
            print(format_reading(reading))
    if args.publish:
        return asyncio.run(publish_once(cfg, readings, args.timeout))
    return 0


def check_files(cfg: config.AgentConfig) -> list[ConfigError]:
    """Every file the config names, read as the daemon will, and the spool
    directory it must write: all problems."""
    m = cfg.mqtt
    problems = tls_problems(m.ca_file, m.cert_file, m.key_file)
    for probe in cfg.probes:
        ca_file = getattr(probe.opts, "ca_file", "")
        if isinstance(ca_file, str) and ca_file:
            problems += tls_problems(ca_file, "", "", f"probes.{probe.name}")
    unwritable = writable_dir_problem(cfg.agent.state_dir, "agent.state_dir")
    for need in missing([(p.name, p.opts) for p in cfg.probes]):
        problems.append(ConfigError(cfg.file, f"probes.{need.probe}", None, (
            f"needs the optional packages of extra '{need.extra}', which are not installed: "
            f"{pip_command([need.extra])} (or disable the probe with enabled = false)")))
    return problems + ([unwritable] if unwritable else [])


def warn_if_world_readable(path: str) -> None:
    """The config holds the broker's (and switches') credentials; an install
    by hand or an older installer may have left it readable by every user."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if mode & stat.S_IROTH:
        log.warning("%s is readable by every user of this host (mode %04o) and holds "
                    "credentials: chmod 0640 %s", path, stat.S_IMODE(mode), path)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "status":
        # status reports a broken config as one of its checks, not as an exit.
        set_level(args.verbose, "warning")
        return doctor.main(args.config, args.json, args.lang, args.timeout)
    cfg = start(args.verbose, config.load, args.config)
    if cfg is None:
        return EXIT_CONFIG
    set_level(args.verbose, cfg.agent.log_level)
    warn_if_world_readable(cfg.file)
    if args.command in ("check-config", "run") and (problems := check_files(cfg)):
        config_error(ConfigErrors(problems))
        return EXIT_CONFIG
    if args.command == "check-config":
        probes = ", ".join(f"{p.name} every {p.interval:g}s" for p in cfg.probes) or "none"
        print(f"{cfg.file}: OK — school {cfg.identity.school_id} "
              f"({cfg.identity.prefix}), probes: {probes}")
        return 0
    if args.command == "once":
        return _once(cfg, args)
    if args.command == "survey":
        def publish(readings: list[Reading]) -> None:
            # Unsent readings stay in the spool for the daemon, if one runs here.
            asyncio.run(publish_once(cfg, readings, 15.0))
        return survey.run(args, None if args.no_publish else publish)
    return asyncio.run(run_daemon(cfg))


if __name__ == "__main__":
    sys.exit(main())
