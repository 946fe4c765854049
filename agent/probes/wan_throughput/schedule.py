"""When may an active bandwidth test run? Time windows, random jitter and daily budgets.

A full-speed test fills the school's exit for seconds, so it runs outside
class hours, at a random moment in the window (so a county's schools do not
all hit the measurement server at 22:00:00), at most once per window, and
within a daily count and byte budget. State is kept in ``state_dir`` so an
agent restart does not reset the budget.
"""

from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)
_WINDOW = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)")


def check_windows(value: list[object]) -> str | None:
    for item in value:
        if not isinstance(item, str) or not _WINDOW.fullmatch(item):
            return "must be a list of \"HH:MM-HH:MM\" local-time windows"
    return None


def parse_window(text: str) -> tuple[int, int]:
    """Start and end as minutes after midnight; end < start crosses midnight."""
    m = _WINDOW.fullmatch(text)
    if not m:
        raise ValueError(text)
    return int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])


def current_window(windows: list[str], now: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence of a window that contains ``now`` (local, aware), if any."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for text in windows:
        start, end = parse_window(text)
        length = (end - start) % 1440 or 1440
        for day in (0, -1):  # a window crossing midnight may have opened yesterday
            opens = midnight + timedelta(days=day, minutes=start)
            closes = opens + timedelta(minutes=length)
            if opens <= now < closes:
                return opens, closes
    return None


@dataclass
class _State:
    day: str = ""
    tests: int = 0
    bytes: int = 0
    last_cost: int = 0
    slot: float = 0.0
    slot_done: bool = False
    next_at: float = 0.0


class SpeedSchedule:
    def __init__(self, path: Path, windows: list[str], max_tests_per_day: int,
                 daily_budget_bytes: float, reserve_seconds: float = 60.0,
                 rng: random.Random | None = None) -> None:
        self.path = path
        self.windows = windows
        self.max_tests = max_tests_per_day
        self.budget = daily_budget_bytes
        self.reserve = reserve_seconds  # keep the test inside the window
        self.rng = rng or random.Random()
        self.state = self._load()

    def _load(self) -> _State:
        try:
            return _State(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):
            return _State()

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(self.state)))
            tmp.replace(self.path)
        except OSError as err:
            log.warning("cannot save test schedule state to %s: %s", self.path, err)

    def _roll_day(self, now: datetime) -> None:
        day = now.date().isoformat()
        if self.state.day != day:
            self.state.day, self.state.tests, self.state.bytes = day, 0, 0

    def blocked_by_budget(self, now: datetime) -> str | None:
        """Why today's limits forbid another test, or None."""
        self._roll_day(now)
        if self.max_tests and self.state.tests >= self.max_tests:
            return f"daily limit of {self.max_tests} tests reached"
        if self.budget and self.state.bytes + self.state.last_cost > self.budget:
            return (f"daily byte budget: {self.state.bytes / 1e6:.0f} MB used, a test costs "
                    f"~{self.state.last_cost / 1e6:.0f} MB of {self.budget / 1e6:.0f} MB")
        return None

    def due(self, now: datetime | None = None) -> tuple[bool, str]:
        now = now or datetime.now().astimezone()
        reason = self.blocked_by_budget(now)
        if reason:
            return False, reason
        if not self.windows:
            return True, "no windows configured"
        window = current_window(self.windows, now)
        if window is None:
            return False, "outside the test windows"
        opens, closes = window
        if self.state.slot != opens.timestamp():
            # First look at this window: draw the moment to test in it.
            earliest = max(opens.timestamp(), now.timestamp())
            latest = max(earliest, closes.timestamp() - self.reserve)
            self.state.slot, self.state.slot_done = opens.timestamp(), False
            self.state.next_at = self.rng.uniform(earliest, latest)
            self._save()
            log.debug("next bandwidth test at %s",
                      datetime.fromtimestamp(self.state.next_at).isoformat(timespec="seconds"))
        if self.state.slot_done:
            return False, "already tested in this window"
        if now.timestamp() < self.state.next_at:
            return False, "waiting for the drawn moment in the window"
        return True, "in window"

    def record(self, bytes_used: int, now: datetime | None = None) -> None:
        now = now or datetime.now().astimezone()
        self._roll_day(now)
        self.state.tests += 1
        self.state.bytes += bytes_used
        self.state.last_cost = bytes_used
        self.state.slot_done = True
        self._save()
