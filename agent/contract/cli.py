"""Start-up shared by both command-line tools: logging and loading a config."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from agent.contract.errors import ConfigError, ConfigErrors

EXIT_CONFIG = 2
T = TypeVar("T")


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def config_error(err: ConfigError) -> None:
    """Say what is wrong with a config, one line per problem."""
    for one in err.errors if isinstance(err, ConfigErrors) else [err]:
        print(f"config error: {one}", file=sys.stderr)


def start(verbose: bool, load: Callable[[str], T], path: str) -> T | None:
    """Set up logging and load the config; None (after saying why) if it is invalid."""
    setup_logging(verbose)
    try:
        return load(path)
    except ConfigError as err:
        config_error(err)
        return None


def set_level(verbose: bool, level: str) -> None:
    """The config's log level, unless -v asked for debug."""
    if not verbose:
        logging.getLogger().setLevel(level.upper())
