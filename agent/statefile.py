"""What the daemon last saw, kept in ``state_dir/status.json`` for ``status``.

The daemon and ``status`` are separate processes: the file is how the doctor
knows the last successful publish and receipt, and any reason the collector
gave for holding or refusing this school's readings. Writes replace the file
whole (rename), so a reader never sees half of one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

NAME = "status.json"


def write(state_dir: Path, record: dict[str, Any]) -> None:
    path = state_dir / NAME
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps({**record, "updated": time.time()}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:  # a full or read-only disk: the spool says so already
        log.debug("could not write %s: %s", path, err)


def read(state_dir: Path) -> dict[str, Any] | None:
    """The last record, or None if the daemon never wrote one (or it is unreadable)."""
    try:
        record = json.loads((state_dir / NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
