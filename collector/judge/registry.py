"""The school registry: which schools exist, where they are, what they are.

A CSV kept by the education bureau (UTF-8, header below). The collector
rejects readings from schools not listed or whose topic names another region,
and reloads the file when it changes, without a restart. The file is edited by
hand or in a spreadsheet, so every line is checked and every bad line is
reported at once, as ``file:line``; a reload that is broken, or that would
drop more than ``max_drop_share`` of the schools, keeps the last good registry.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent.contract.configschema import read_text
from agent.contract.errors import ConfigError, ConfigErrors
from agent.contract.schools import SCHOOL_TYPES
from agent.contract.wire import REGION, SCHOOL_ID, Identity

log = logging.getLogger(__name__)

COLUMNS = ("school_id", "name", "province_code", "province_name", "city_code", "city_name",
           "county_code", "county_name", "school_type", "classes", "contracted_mbps")
LEVELS = ("province", "city", "county", "school")
NAMES = ("name", "province_name", "city_name", "county_name")
SHARED = ("province_code", "province_name", "city_code", "city_name", "county_code",
          "county_name", "school_type")
MAX_NAME = 100
# No school has a thousand classes: a bigger figure is a typo (or a pasted id),
# and it would make the classroom share meaningless.
MAX_CLASSES = 1000
MAX_CONTRACTED_MBPS = 100_000.0
DEFAULT_MAX_DROP_SHARE = 0.2


@dataclass(frozen=True, slots=True)  # one per school (and target), kept
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


def _number(text: str, integer: bool, limit: float) -> tuple[float, str | None]:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        return 0, "must be " + ("a whole number" if integer else "a number")
    if not math.isfinite(value):
        return 0, "must be a finite number"
    if not 0 <= value <= limit:
        return 0, f"must be between 0 and {limit:g}"
    return value, None


def _row(file: str, line: int, cells: list[str]) -> tuple[School | None, list[ConfigError]]:
    """One data line as a School, or every problem it has."""
    if len(cells) != len(COLUMNS):
        return None, [ConfigError(file, "", line, f"has {len(cells)} columns, expected "
                                  f"{len(COLUMNS)}: {','.join(COLUMNS)}")]
    row = dict(zip(COLUMNS, (c.strip() for c in cells), strict=True))
    errors: list[ConfigError] = []

    def bad(column: str, why: str) -> None:
        errors.append(ConfigError(file, column, line, f"{why}, got {row[column][:60]!r}"))

    for column in COLUMNS:
        if not row[column] and column != "contracted_mbps":
            bad(column, "is required")
    for column, pattern in (("school_id", SCHOOL_ID), ("province_code", REGION),
                            ("city_code", REGION), ("county_code", REGION)):
        if row[column] and not pattern.fullmatch(row[column]):
            bad(column, "must be ASCII letters, digits, . _ -")
    for column in NAMES:
        # U+2028, tabs and other invisible characters break alert texts and reports.
        if not row[column].isprintable():
            bad(column, "has a line break or other non-printable character")
        elif len(row[column]) > MAX_NAME:
            bad(column, f"must be at most {MAX_NAME} characters")
    if row["school_type"] and row["school_type"] not in SCHOOL_TYPES:
        bad("school_type", "must be one of " + ", ".join(SCHOOL_TYPES))
    classes, why = _number(row["classes"], True, MAX_CLASSES) if row["classes"] else (0, None)
    if why:
        bad("classes", why)
    contracted, why = _number(row["contracted_mbps"] or "0", False, MAX_CONTRACTED_MBPS)
    if why:
        bad("contracted_mbps", why)
    if errors:
        return None, errors
    # Region codes and names and the type repeat across a province's schools,
    # which are kept all the while: one string each, not one a school.
    shared = {c: sys.intern(row[c]) for c in SHARED}
    return School(row["school_id"], row["name"], shared["province_code"],
                  shared["province_name"], shared["city_code"], shared["city_name"],
                  shared["county_code"], shared["county_name"], shared["school_type"],
                  int(classes), float(contracted)), []


# The last registry parsed: a command checks its files, then loads the registry
# again (a province's 50,000 lines took about 1.7 s each time).
_LAST: tuple[str, str, dict[str, School]] | None = None


def load(path: str | Path) -> dict[str, School]:
    """Read a registry CSV; ConfigErrors names the file, line and column of every problem."""
    global _LAST
    file = str(path)
    text = read_text(path, "utf-8-sig")  # Excel saves a BOM
    if _LAST is not None and _LAST[:2] == (file, text):
        return dict(_LAST[2])
    # Not str.splitlines(): it splits at U+2028 inside a name, hiding the problem.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
        if tuple(c.strip() for c in header) != COLUMNS:
            raise ConfigError(file, "", 1, "header must be " + ",".join(COLUMNS))
        schools: dict[str, School] = {}
        errors: list[ConfigError] = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # blank lines, as spreadsheets leave at the end
            school, problems = _row(file, reader.line_num, cells)
            errors += problems
            if school is None:
                continue
            if school.school_id in schools:
                errors.append(ConfigError(file, "school_id", reader.line_num,
                                          f"duplicate school {school.school_id}"))
            schools[school.school_id] = school
    except csv.Error as err:
        raise ConfigError(file, "", reader.line_num, f"not valid CSV: {err}") from None
    if errors:
        raise ConfigErrors(errors)
    if not schools:
        raise ConfigError(file, "", 1, "lists no schools (only the header)")
    _LAST = (file, text, schools)
    return dict(schools)


class Registry:
    """The loaded registry, reloaded when the file changes (checked at most every few s)."""

    def __init__(self, path: str | Path, check_every: float = 5.0,
                 max_drop_share: float = DEFAULT_MAX_DROP_SHARE) -> None:
        self.path = Path(path)
        self.check_every = check_every
        self.max_drop_share = max_drop_share
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
                self._mtime = mtime  # a refused file is reported once, not every check
                schools = load(self.path)
            except (OSError, ConfigError) as err:
                # A half-edited file must not empty the registry: keep the last good one.
                log.error("registry not reloaded, keeping %d schools: %s", len(self.schools),
                          str(err).replace("\n", "; "))
                return
            except Exception:  # a bug here must not stop the readings being checked
                log.exception("registry not reloaded, keeping %d schools", len(self.schools))
                return
            dropped = len(set(self.schools) - set(schools))
            if dropped > self.max_drop_share * len(self.schools):
                log.error("registry not reloaded, keeping %d schools: %s would drop %d of "
                          "them (more than max_drop_share %.0f%%); restart the collector to "
                          "accept it", len(self.schools), self.path, dropped,
                          self.max_drop_share * 100)
                return
            self.schools = schools
        log.info("registry reloaded: %d schools", len(schools))

    def get(self, school_id: str) -> School | None:
        self.maybe_reload()
        return self.schools.get(school_id)
