"""The instant a report stands at (``--as-of``, ``--compare``) and the period before it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from collector.errors import CollectorError

NS = 1_000_000_000
DAY_NS = 86400 * NS


class ReportError(CollectorError):
    """A report asked for something the registry or the dates cannot give."""


@dataclass(frozen=True)
class Period:
    """Readings with ``start_ns < time <= end_ns`` count; ``label`` is what the reader sees."""

    end_ns: int
    days: float
    label: str

    @property
    def start_ns(self) -> int:
        return self.end_ns - int(self.days * DAY_NS)

    def where(self) -> str:
        return f"time > {self.start_ns} AND time <= {self.end_ns}"


def parse(text: str | None, days: float, now_ns: int) -> Period:
    """``2026-06-30`` (the end of that day, UTC), an ISO time (UTC unless it has an
    offset), or None for now."""
    if text is None:
        now = dt.datetime.fromtimestamp(now_ns / NS, dt.UTC)
        return Period(now_ns, days, now.strftime("%Y-%m-%d %H:%M UTC"))
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
            if _ns(end) - DAY_NS > now_ns:
                raise ReportError(f"{text} is in the future: a report can only stand at "
                                  "a past date")
            return Period(min(_ns(end) - 1, now_ns), days, day.isoformat())
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{text!r} is not a date: write it as 2026-06-30 or "
                          "2026-06-30T18:00+08:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    end_ns = _ns(when)
    if end_ns > now_ns:
        raise ReportError(f"{text} is in the future: a report can only stand at a past time")
    return Period(end_ns, days, when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))


def _ns(when: dt.datetime) -> int:
    return int(when.timestamp()) * NS + when.microsecond * 1000


def time_label(ns: int | None) -> str:
    if ns is None:
        return ""
    return dt.datetime.fromtimestamp(ns // NS, dt.UTC).strftime("%Y-%m-%d %H:%M")
