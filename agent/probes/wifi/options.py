"""The ``wifi`` probe's config: ``[probes.wifi]`` with its controllers and areas.

The documented block is ``sample.toml`` beside this module. Checked at load,
without touching the network: an area or controller with a bad key, a
``scan_area`` that names no area, an SNMP table that could never work.
"""

from __future__ import annotations

from agent.contract.configschema import Problem, between, one_of, opt, section
from agent.probes.wifi.areas import AreaSection, names_check
from agent.probes.wifi.controllers import ControllerSection
from agent.probes.wifi.scanner import IFACE


def _iface(value: str) -> str | None:
    return None if not value or IFACE.fullmatch(value) else "must be an interface name"


@section
class Options:
    """``[probes.wifi]``."""

    ssids: list[str] = opt([], names_check)
    min_signal_dbm: float = opt(-67.0, between(-100, -20))
    scan_interface: str = opt("", _iface)
    scan_method: str = opt("iw", one_of("iw", "scapy"))
    scan_seconds: float = opt(5.0, between(1, 60))
    scan_area: str = opt("")
    scan_timeout: float = opt(20.0, between(1, 120))
    survey_max_age_days: float = opt(365.0, between(1, 3650))
    # Seconds for all controller walks together; keep it below the probe's
    # timeout so a slow AC still ends as a reading with result=partial/timeout.
    controller_deadline: float = opt(40.0, between(1, 600))
    # An AP a controller stopped listing counts as down for this long after it
    # was last seen, unless retired_aps (names or shell patterns) names it.
    forget_after_days: float = opt(30.0, between(1, 3650))
    retired_aps: list[str] = opt([], names_check)
    # One wifi_radio reading per radio of each online AP (two per AP, each run).
    radio_readings: bool = opt(True)
    controllers: dict[str, ControllerSection] = opt()
    areas: dict[str, AreaSection] = opt()

    def problems(self) -> list[Problem]:
        problems: list[Problem] = []
        for key in self.areas:
            if not (key.isprintable() and 0 < len(key) <= 64):
                problems.append((("areas", key), "area names must be 1-64 printable characters"))
        if self.scan_area and self.scan_area not in self.areas:
            problems.append((("scan_area",), "names no area in [probes.wifi.areas]"))
        if self.scan_area and not self.scan_interface:
            problems.append((("scan_area",), "needs scan_interface (the radio that scans there)"))
        return problems
