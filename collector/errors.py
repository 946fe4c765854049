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


def unreachable(what: str, url: str, err: BaseException, key: str) -> Unavailable:
    """A service that did not answer, in words that say what to check."""
    reason = getattr(err, "reason", None) or err  # urllib wraps the socket's error
    return Unavailable(f"cannot reach {what} at {url} ({reason}): check that it runs and "
                       f"that {key} is right")
