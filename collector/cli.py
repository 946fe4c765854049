"""``schoolnet-collector``: check-config, run."""

from __future__ import annotations

import argparse
import logging
import sys

from agent.errors import ConfigError
from collector import __version__, config

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="schoolnet-collector",
                                     description="School network audit collector")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("check-config", "validate a config file and exit"),
                       ("run", "subscribe to the agents' readings and store them")):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("-c", "--config", required=True, help="collector TOML config file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = config.load(args.config)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    if not args.verbose:
        logging.getLogger().setLevel(cfg.logging["level"].upper())
    if args.command == "check-config":
        print(f"{cfg.file}: OK — {cfg.storage['kind']} at {cfg.storage['url']}, "
              f"broker {cfg.mqtt['host']}:{cfg.mqtt['port']}")
        return 0
    from collector.service import Collector  # paho and the database client load only here

    return Collector(cfg).run()


if __name__ == "__main__":
    sys.exit(main())
