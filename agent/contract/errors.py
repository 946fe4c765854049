"""Every exception schoolnet-audit raises on purpose, under one root.

The agent and the collector each add theirs beneath :class:`SchoolnetError`,
so a caller can tell the project's own failures from bugs with one ``except``.
"""

from __future__ import annotations

from collections.abc import Sequence


class SchoolnetError(Exception):
    """Root of every exception the project raises on purpose."""


class ConfigError(SchoolnetError):
    """A configuration file is unreadable or invalid; names file, line and key."""

    def __init__(self, file: str, key: str, line: int | None, message: str) -> None:
        self.file = file
        self.key = key
        self.line = line
        self.message = message
        where = f"{file}:{line}" if line else file
        what = f"key '{key}': " if key else ""
        super().__init__(f"{where}: {what}{message}")


class ConfigErrors(ConfigError):
    """Every problem found in one file, so an engineer fixes them in one pass."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.file, first.key, first.line, first.message)
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join(str(err) for err in self.errors)


class WireError(SchoolnetError):
    """A message breaks the wire contract; ``reason`` is a short stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
