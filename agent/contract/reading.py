"""A reading: what one probe measured at one instant."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

FieldValue = float | int | bool | str

# Outcomes a probe reports in the ``result`` field. Expected network failures
# are data, not exceptions, so dashboards can count them.
RESULTS = (
    "ok", "timeout", "refused", "unreachable", "auth_failed", "unavailable",
    "inconclusive", "error", "partial", "no_data",
)


@dataclass
class Reading:
    measurement: str
    fields: dict[str, FieldValue]
    tags: dict[str, str] = field(default_factory=dict)
    ts_ns: int = field(default_factory=time.time_ns)

    @property
    def result(self) -> str:
        value = self.fields.get("result", "ok")
        return value if isinstance(value, str) else "ok"
