"""The agent's exceptions: one root, so callers can catch the package's own failures."""

from __future__ import annotations


class AgentError(Exception):
    """Root of every exception the agent raises on purpose."""


class ConfigError(AgentError):
    """A configuration file is unreadable or invalid; names file, line and key."""

    def __init__(self, file: str, key: str, line: int | None, message: str) -> None:
        self.file = file
        self.key = key
        self.line = line
        self.message = message
        where = f"{file}:{line}" if line else file
        what = f"key '{key}': " if key else ""
        super().__init__(f"{where}: {what}{message}")
