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
    speed = sub.add_parser("speed-server", help="serve the agents' bandwidth tests over HTTP")
    speed.add_argument("--listen", default="0.0.0.0", help="address to bind (default all)")
    speed.add_argument("--port", type=int, default=8080)
    speed.add_argument("--max-bytes", type=int, default=1 << 30,
                       help="largest download or upload per request")
    speed.add_argument("--max-connections", type=int, default=512)
    speed.add_argument("--max-per-client", type=int, default=32)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "speed-server":
        from collector.speedserver import serve

        serve(args.listen, args.port, max_bytes=args.max_bytes,
              max_connections=args.max_connections, max_per_client=args.max_per_client)
        return 0
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
