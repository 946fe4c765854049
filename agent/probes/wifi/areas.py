"""Areas of a school and whether Wi-Fi covers them (无线校园).

An area is covered when at least one AP serving it is online (with its 5 GHz
radio up, where the controller lists radios) and, where a
survey or a local scan measured the school SSID there, its signal reaches the
threshold (−67 dBm by default). Coverage is the share of required areas
(teaching, office and main activity areas) that are covered.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.contract.configschema import one_of, opt, section
from agent.contract.reading import FieldValue, Reading
from agent.probes.wifi.aps import OFFLINE, ONLINE, STANDBY, ApState

KINDS = ("teaching", "office", "activity", "other")


def names_check(value: list[object]) -> str | None:
    ok = all(isinstance(v, str) and v.isprintable() and 0 < len(v) <= 64 for v in value)
    return None if ok else "must be a list of names (1-64 printable characters each)"


@section
class AreaSection:
    """``[probes.wifi.areas."NAME"]``: what an area is and which APs serve it."""

    kind: str = opt(check=one_of(*KINDS))
    # None: required unless kind is "other" (policy names teaching, office
    # and main activity areas).
    required: bool | None = opt(None)
    aps: list[str] = opt([], names_check)
    ap_groups: list[str] = opt([], names_check)


@dataclass(frozen=True)
class Area:
    name: str
    kind: str
    required: bool
    aps: tuple[str, ...] = ()
    ap_groups: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, name: str, cfg: AreaSection) -> Area:
        required = cfg.kind != "other" if cfg.required is None else cfg.required
        return cls(name, cfg.kind, required, tuple(cfg.aps), tuple(cfg.ap_groups))

    @property
    def explicit_names(self) -> tuple[str, ...]:
        """AP names written out in full: absent from every controller means down."""
        return tuple(a for a in self.aps if not any(c in a for c in "*?["))

    def serves(self, ap: ApState) -> bool:
        if ap.group and ap.group in self.ap_groups:
            return True
        return any(fnmatch.fnmatchcase(ap.name, pattern) for pattern in self.aps)


@dataclass
class AreaResult:
    area: Area
    aps_total: int | None = None
    aps_online: int | None = None
    aps_standby: int = 0
    aps_remembered: int = 0
    aps_radio_down: int = 0
    clients: int | None = None
    best_signal_dbm: float | None = None
    sources: list[str] = field(default_factory=list)
    covered: bool = False
    result: str = "no_data"

    def reading(self, ts_ns: int) -> Reading:
        fields: dict[str, FieldValue] = {"covered": self.covered, "required": self.area.required,
                                         "result": self.result,
                                         "source": "+".join(self.sources) or "none"}
        for key in ("aps_total", "aps_online", "clients"):
            value = getattr(self, key)
            if value is not None:
                fields[key] = value
        if self.aps_standby:
            fields["aps_standby"] = self.aps_standby
        if self.aps_remembered:
            fields["aps_remembered"] = self.aps_remembered
        if self.aps_radio_down:
            fields["aps_radio_down"] = self.aps_radio_down
        if self.best_signal_dbm is not None:
            fields["best_signal_dbm"] = self.best_signal_dbm
        return Reading("wifi_area", fields, {"area": self.area.name, "area_kind": self.area.kind},
                       ts_ns)


def judge_area(area: Area, aps: Mapping[str, ApState] | None, signal_dbm: float | None,
               signal_source: str, min_signal_dbm: float, complete: bool = True) -> AreaResult:
    """Combine controller state and measured signal for one area.

    ``aps`` is None when no controller answered (or none is configured):
    then only a measured signal can show the area is served. ``complete``
    is False when some controller's table could not be read in full; an AP
    named in the config but absent is then not counted as down.
    """
    res = AreaResult(area)
    ap_evidence: bool | None = None
    if aps is not None:
        serving = [ap for ap in aps.values() if area.serves(ap)]
        seen = {ap.name for ap in serving}
        # Named in config but listed by no controller: removed or never
        # joined; either way it serves nobody.
        missing = [n for n in area.explicit_names if n not in seen and n not in aps] \
            if complete else []
        counted = [ap for ap in serving if ap.state != STANDBY]
        res.aps_standby = len(serving) - len(counted)
        res.aps_total = len(counted) + len(missing)
        # No longer listed by its controller, remembered from earlier polls.
        res.aps_remembered = sum(1 for ap in counted if ap.remembered)
        online = [ap for ap in counted if ap.state == ONLINE]
        res.aps_online = len(online)
        res.clients = sum(ap.clients or 0 for ap in online)
        # Joined but with its main band's radio down: online, serving nobody there.
        res.aps_radio_down = sum(1 for ap in online if not ap.serving)
        if res.aps_total:
            res.sources.append("controller")
            ap_evidence = res.aps_online > res.aps_radio_down
        elif res.aps_standby:
            res.sources.append("controller")
    if signal_dbm is not None:
        res.best_signal_dbm = signal_dbm
        res.sources.append(signal_source)
    signal_ok = None if signal_dbm is None else signal_dbm >= min_signal_dbm
    if ap_evidence is None and signal_ok is None:
        # Standby rows show the APs exist but not whether they work.
        res.covered, res.result = False, "partial" if res.aps_standby else "no_data"
        return res
    # A strong signal of the school SSID proves an AP is serving the spot even
    # where no controller reports (fat APs, controller unreachable).
    res.covered = (ap_evidence is not False) and (signal_ok is not False)
    partial = not complete or ap_evidence is None
    res.result = "partial" if partial and aps is not None else "ok"
    return res


def summary(results: list[AreaResult], ts_ns: int, extra: Mapping[str, FieldValue]) -> Reading:
    """The school's coverage: share of required areas that are covered."""
    required = [r for r in results if r.area.required]
    covered = sum(1 for r in required if r.covered)
    fields: dict[str, FieldValue] = {"required_areas": len(required), "covered_areas": covered,
                                     "areas_no_data": sum(1 for r in required
                                                          if r.result == "no_data")}
    fields.update(extra)
    if required:
        fields["coverage_share"] = round(covered / len(required), 4)
        fields.setdefault("result", "ok")
    else:
        fields["result"] = "no_data"
    return Reading("wifi_coverage", fields, {}, ts_ns)


__all__ = ["KINDS", "OFFLINE", "Area", "AreaResult", "AreaSection", "judge_area", "names_check",
           "summary"]
