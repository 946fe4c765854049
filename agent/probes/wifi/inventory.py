"""The APs each controller has ever listed, kept in the agent's state directory.

Controllers drop a disconnected AP from their running tables (H3C, Ruijie)
or from every table once it is deleted, so "not listed" must not read as
"not there". Every AP a controller lists is remembered with when it was
last seen; one that is missing from a complete poll reads as down (with
that time) until an operator retires it (``retired_aps``) or it has been
gone ``forget_after_days``. A poll that did not finish adds nothing: a
truncated table is not evidence that an AP left.

The file (``wifi_inventory.json``) is small: controller -> AP name ->
{group, first_seen_ns, last_seen_ns}. It is rewritten atomically after a
poll that changed it; an unreadable file is logged and started afresh.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from agent.probes.wifi.aps import OFFLINE, ONLINE, ApState

log = logging.getLogger(__name__)

FILE_NAME = "wifi_inventory.json"
Entry = dict[str, object]


class Inventory:
    def __init__(self, state_dir: Path, forget_after_days: float = 30.0,
                 retired: Iterable[str] = ()) -> None:
        self.path = state_dir / FILE_NAME
        self.forget_ns = int(forget_after_days * 86400e9)
        self.retired = tuple(retired)
        self.known: dict[str, dict[str, Entry]] = self._load()
        self.dirty = False

    def _load(self) -> dict[str, dict[str, Entry]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            log.warning("AP inventory %s unreadable, starting afresh: %s", self.path, err)
            return {}
        out: dict[str, dict[str, Entry]] = {}
        for ctl, aps in raw.items() if isinstance(raw, dict) else ():
            if isinstance(aps, dict):
                out[ctl] = {n: e for n, e in aps.items()
                            if isinstance(e, dict) and isinstance(e.get("last_seen_ns"), int)}
        return out

    def is_retired(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.retired)

    def reconcile(self, controller: str, aps: list[ApState], now_ns: int,
                  complete: bool) -> list[ApState]:
        """``aps`` as listed, plus the remembered APs this poll did not list (as down)."""
        known = self.known.setdefault(controller, {})
        out: list[ApState] = []
        for ap in aps:
            if ap.state != ONLINE and self.is_retired(ap.name):
                continue  # still configured on the AC, but taken out of service
            entry = known.get(ap.name)
            if entry is None:
                entry = known[ap.name] = {"group": ap.group, "first_seen_ns": now_ns}
            if ap.group and entry.get("group") != ap.group:
                entry["group"] = ap.group
            entry["last_seen_ns"] = now_ns
            group = ap.group or str(entry.get("group") or "")
            out.append(replace(ap, group=group) if group != ap.group else ap)
        self.dirty = True
        listed = {ap.name for ap in out}
        for name in sorted(set(known) - listed):
            entry = known[name]
            last = int(entry["last_seen_ns"])  # type: ignore[call-overload]
            if self.is_retired(name) or now_ns - last > self.forget_ns:
                log.info("AP %s on %s forgotten (%s)", name, controller,
                         "retired" if self.is_retired(name) else "gone too long")
                del known[name]
                continue
            if complete:
                out.append(ApState(name, OFFLINE, str(entry.get("group") or ""), 0, controller,
                                   last_seen_ns=last))
        return out

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(self.known, ensure_ascii=False, sort_keys=True, indent=1)
        # Write then rename, so a power cut mid-write never leaves half a file.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".wifi_inventory.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.dirty = False
