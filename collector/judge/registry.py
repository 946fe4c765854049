"""The school registry: which schools exist, where they are, what they are.

A CSV kept by the education bureau (UTF-8, header below). The collector
rejects readings from schools not listed or whose topic names another region,
and reloads the file when it changes, without a restart.
"""

from __future__ import annotations

import csv
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent.contract.errors import ConfigError
from agent.contract.schools import SCHOOL_TYPES
from agent.contract.wire import REGION, SCHOOL_ID, Identity

log = logging.getLogger(__name__)

COLUMNS = ("school_id", "name", "province_code", "province_name", "city_code", "city_name",
           "county_code", "county_name", "school_type", "classes", "contracted_mbps")
LEVELS = ("province", "city", "county", "school")


@dataclass(frozen=True)
class School:
    school_id: str
    name: str
    province: str
    province_name: str
    city: str
    city_name: str
    county: str
    county_name: str
    school_type: str
    classes: int
    contracted_mbps: float

    @property
    def identity(self) -> Identity:
        return Identity(self.province, self.city, self.county, self.school_id)

    def region(self, level: str) -> tuple[str, str]:
        """(code, name) of the region holding this school at ``level``."""
        if level == "school":
            return self.school_id, self.name
        return getattr(self, level), getattr(self, f"{level}_name")


def _row(file: str, line: int, row: dict[str, str]) -> School:
    def bad(column: str, why: str) -> ConfigError:
        return ConfigError(file, column, line, f"{why}, got {row.get(column)!r}")

    for column, pattern in (("school_id", SCHOOL_ID), ("province_code", REGION),
                            ("city_code", REGION), ("county_code", REGION)):
        if not pattern.fullmatch(row[column] or ""):
            raise bad(column, "must be ASCII letters, digits, . _ -")
    if row["school_type"] not in SCHOOL_TYPES:
        raise bad("school_type", "must be one of " + ", ".join(SCHOOL_TYPES))
    try:
        classes = int(row["classes"])
        contracted = float(row["contracted_mbps"] or 0)
    except ValueError:
        raise bad("classes", "classes must be an integer and contracted_mbps a number") from None
    if classes < 0 or contracted < 0:
        raise bad("classes", "classes and contracted_mbps must not be negative")
    return School(row["school_id"], row["name"], row["province_code"], row["province_name"],
                  row["city_code"], row["city_name"], row["county_code"], row["county_name"],
                  row["school_type"], classes, contracted)


def load(path: str | Path) -> dict[str, School]:
    """Read a registry CSV; errors name the file, line and column."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # Excel saves a BOM
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(file, "", None, f"cannot read: {err}") from err
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ConfigError(file, "", 1, "header must be " + ",".join(COLUMNS))
    schools: dict[str, School] = {}
    for row in reader:
        school = _row(file, reader.line_num, row)
        if school.school_id in schools:
            raise ConfigError(file, "school_id", reader.line_num,
                              f"duplicate school {school.school_id}")
        schools[school.school_id] = school
    return schools


class Registry:
    """The loaded registry, reloaded when the file changes (checked at most every few s)."""

    def __init__(self, path: str | Path, check_every: float = 5.0) -> None:
        self.path = Path(path)
        self.check_every = check_every
        self._lock = threading.Lock()
        self._mtime = os.stat(self.path).st_mtime_ns
        self.schools = load(self.path)
        self._checked = time.monotonic()

    def maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_every:
            return
        with self._lock:
            self._checked = now
            try:
                mtime = os.stat(self.path).st_mtime_ns
                if mtime == self._mtime:
                    return
                self._mtime = mtime
                schools = load(self.path)
            except (OSError, ConfigError) as err:
                # A half-edited file must not empty the registry: keep the last good one.
                log.error("registry not reloaded, keeping %d schools: %s", len(self.schools), err)
                return
            self.schools = schools
        log.info("registry reloaded: %d schools", len(schools))

    def get(self, school_id: str) -> School | None:
        self.maybe_reload()
        return self.schools.get(school_id)
