"""The collector's exceptions, under one root."""

from __future__ import annotations

from agent.contract.errors import SchoolnetError


class CollectorError(SchoolnetError):
    """Root of every exception the collector raises on purpose."""


class WriteError(CollectorError):
    """A batch could not be stored."""


class BadData(WriteError):
    """The database refused the batch's content; retrying it unchanged is futile."""


class Unavailable(WriteError):
    """The database could not be reached or is not ready; retry the same batch later."""
