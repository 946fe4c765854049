"""Site surveys: what IT staff measured, walking the campus, kept per area.

A survey takes a few ``iw`` scans at one spot of an area and keeps the
strongest signal of the school's SSIDs there. The agent stores the latest
survey of each area in its state directory; the ``wifi`` probe reads them to
judge coverage. A new survey of an area replaces the old one.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.probes.wifi.iwscan import Bss

log = logging.getLogger(__name__)

FILE_NAME = "wifi_surveys.json"


@dataclass(frozen=True)
class Survey:
    area: str
    ts_ns: int
    scans: int
    bss_total: int
    school_bss: int
    best_signal_dbm: float | None  # of the school's SSIDs; None if none was heard
    best_bssid: str = ""
    best_ssid: str = ""


def school_bss(bsses: Iterable[Bss], ssids: Iterable[str]) -> list[Bss]:
    """The BSSes broadcasting one of the school's SSIDs, strongest first.

    Hidden BSSes never count: a survey cannot tell whose they are.
    """
    wanted = set(ssids)
    mine = [b for b in bsses if not b.hidden and b.ssid in wanted and b.signal_dbm is not None]
    return sorted(mine, key=lambda b: b.signal_dbm or -999.0, reverse=True)


def summarise(area: str, ts_ns: int, scans: int, bsses: list[Bss],
              ssids: Iterable[str]) -> Survey:
    mine = school_bss(bsses, ssids)
    best = mine[0] if mine else None
    return Survey(area, ts_ns, scans, len(bsses), len(mine),
                  best.signal_dbm if best else None,
                  best.bssid if best else "", best.ssid if best else "")


def load(state_dir: Path) -> dict[str, Survey]:
    """The latest survey per area; an unreadable file is logged and ignored."""
    path = state_dir / FILE_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable survey file %s: %s", path, err)
        return {}
    out: dict[str, Survey] = {}
    for area, item in raw.items() if isinstance(raw, dict) else ():
        try:
            out[area] = Survey(**item)
        except TypeError as err:
            log.warning("ignoring survey of %s in %s: %s", area, path, err)
    return out


def store(state_dir: Path, survey: Survey) -> None:
    """Keep ``survey`` as its area's latest (unless a newer one is already there)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    surveys = load(state_dir)
    old = surveys.get(survey.area)
    if old is not None and old.ts_ns > survey.ts_ns:
        return
    surveys[survey.area] = survey
    body = json.dumps({a: asdict(s) for a, s in sorted(surveys.items())}, ensure_ascii=False,
                      indent=1)
    # Write then rename, so a power cut mid-write never leaves half a file.
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".wifi_surveys.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, state_dir / FILE_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
