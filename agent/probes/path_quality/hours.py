"""Class hours: the windows in which the school needs its network for teaching.

Written as ``"HH:MM-HH:MM"`` in the gateway's local time, on the ISO weekdays
listed (1 = Monday). Outside them the probe sends nothing: availability and
readiness are judged on teaching time only.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def window_problem(value: list[Any]) -> str | None:
    for item in value:
        match = _WINDOW.match(str(item))
        if not match:
            return f"{item!r} must look like \"08:00-11:50\" (24-hour local time)"
        start, end = _minutes(match)
        if end <= start or end > 24 * 60:
            return f"{item!r} must end after it starts, within one day"
    return None


def weekday_problem(value: list[Any]) -> str | None:
    if not all(isinstance(d, int) and 1 <= d <= 7 for d in value):
        return "must list ISO weekdays, 1 (Monday) to 7 (Sunday)"
    return None


def _minutes(match: re.Match[str]) -> tuple[int, int]:
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return h1 * 60 + m1, h2 * 60 + m2


def in_class_hours(now: datetime.datetime, windows: list[str], weekdays: list[int]) -> bool:
    """True when ``now`` (local time) falls in a window; no windows means always."""
    if not windows:
        return True
    if now.isoweekday() not in weekdays:
        return False
    minute = now.hour * 60 + now.minute
    for window in windows:
        match = _WINDOW.match(window)
        if match:
            start, end = _minutes(match)
            if start <= minute < end:
                return True
    return False
