"""Probe ``wifi``: wireless coverage of the school's areas (无线校园).

Three sources, combined per area: the wireless controllers' AP tables over
SNMP (Huawei, H3C, Ruijie), a scan from this gateway's own radio, and the
latest site survey of each area (``schoolnet-agent survey``). An area is
covered when a serving AP is online and, where its signal was measured, the
school SSID reaches ``min_signal_dbm``. Readings: ``wifi_area`` per area,
``wifi_coverage`` for the school, ``wifi_controller`` per controller and
``wifi_scan`` for the local radio.

Sample config::

    [probes.wifi]
    interval = 300              # seconds between readings
    ssids = ["XX-School"]       # the school's SSIDs; only their signal counts
    min_signal_dbm = -67        # weakest signal that still counts as covered
    scan_interface = ""         # this gateway's radio to scan with, e.g. "wlan0"; "" = none
    scan_method = "iw"          # "iw" (managed mode) or "scapy" (monitor mode, needs scapy)
    scan_seconds = 5            # how long scapy listens for beacons
    scan_timeout = 20           # seconds before an iw scan is given up
    scan_area = ""              # the area this gateway's radio stands in, if any
    survey_max_age_days = 365   # older surveys no longer count
    controller_deadline = 40    # seconds for all controller walks (below the probe timeout)

    [probes.wifi.controllers.ac1]   # one table per wireless controller (AC)
    vendor = "huawei"           # huawei, h3c or ruijie
    role = "primary"            # "backup" for the standby AC of an HA pair
    host = "10.0.0.2"           # plus the SNMP keys: port, version, community,
    community = "public"        # user, auth_*, priv_*, timeout, retries

    [probes.wifi.areas."教学楼A"]  # one table per area; the name is shown in reports
    kind = "teaching"           # teaching, office, activity or other
    required = true             # default: true unless kind = "other"
    aps = ["JXL-A-*"]           # AP names or shell patterns (* ? [..])
    ap_groups = ["jxl-a"]       # AP groups on the controller (Huawei, Ruijie)
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, ClassVar

from agent.contract.configschema import Opt, Table, between, one_of
from agent.contract.reading import FieldValue, Reading
from agent.probes import Probe, ProbeContext
from agent.probes.wifi import surveys
from agent.probes.wifi.aps import merge_ha
from agent.probes.wifi.areas import AREA, Area, AreaResult, judge_area, names_check, summary
from agent.probes.wifi.controllers import VENDORS
from agent.probes.wifi.controllers.poll import ControllerPoll, poll_all
from agent.probes.wifi.iwscan import Bss
from agent.probes.wifi.scanner import IFACE, ScanOutcome, iw_scan
from agent.snmp.target import SNMP_TARGET_OPTIONS, target_problems

log = logging.getLogger(__name__)


def _iface(value: str) -> str | None:
    return None if not value or IFACE.fullmatch(value) else "must be an interface name"


CONTROLLER = Table({
    **SNMP_TARGET_OPTIONS,
    "vendor": Opt(str, check=one_of(*VENDORS)),
    "role": Opt(str, "primary", one_of("primary", "backup")),
})


class Wifi(Probe):
    name = "wifi"
    default_interval = 300.0
    default_timeout = 60.0
    options: ClassVar[dict[str, Any]] = {
        "ssids": Opt(list, [], names_check),
        "min_signal_dbm": Opt(float, -67.0, between(-100, -20)),
        "scan_interface": Opt(str, "", _iface),
        "scan_method": Opt(str, "iw", one_of("iw", "scapy")),
        "scan_seconds": Opt(float, 5.0, between(1, 60)),
        "scan_area": Opt(str, ""),
        "scan_timeout": Opt(float, 20.0, between(1, 120)),
        "survey_max_age_days": Opt(float, 365.0, between(1, 3650)),
        # Seconds for all controller walks together; keep it below the probe's
        # timeout so a slow AC still ends as a reading with result=partial/timeout.
        "controller_deadline": Opt(float, 40.0, between(1, 600)),
        "controllers": Table(item=CONTROLLER),
        "areas": Table(item=AREA),
    }

    @classmethod
    def check_options(cls, opts: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for key in opts["areas"]:
            if not (key.isprintable() and 0 < len(key) <= 64):
                problems.append((("areas", key), "area names must be 1-64 printable characters"))
        if opts["scan_area"] and opts["scan_area"] not in opts["areas"]:
            problems.append((("scan_area",), "names no area in [probes.wifi.areas]"))
        if opts["scan_area"] and not opts["scan_interface"]:
            problems.append((("scan_area",), "needs scan_interface (the radio that scans there)"))
        for name, ctl in opts["controllers"].items():
            problems += [(("controllers", name, key), msg) for key, msg in target_problems(ctl)]
        return problems

    def __init__(self, opts: dict[str, Any], ctx: ProbeContext) -> None:
        super().__init__(opts, ctx)
        self.areas = [Area.from_config(k, v) for k, v in opts["areas"].items()]
        self.iw = "iw"  # the binary; tests point it at a stand-in (no radio there)

    async def collect(self) -> list[Reading]:
        ts = time.time_ns()
        # The radio scan (seconds, in a thread) runs while the controllers answer.
        scan_task = asyncio.ensure_future(asyncio.to_thread(self.scan)) \
            if self.opts["scan_interface"] else None
        polls = await poll_all(self.opts["controllers"], self.opts["controller_deadline"])
        scan = await scan_task if scan_task else None
        return self.readings(ts, polls, scan, surveys.load(self.ctx.state_dir))

    def scan(self) -> ScanOutcome:
        iface = self.opts["scan_interface"]
        if self.opts["scan_method"] == "scapy":
            from agent.probes.wifi.beacons import sniff_beacons
            try:
                return ScanOutcome("ok", sniff_beacons(iface, self.opts["scan_seconds"]))
            except ImportError:
                return ScanOutcome("unavailable", detail="scapy not installed (extra wifi-sniff)")
            except Exception as err:  # scapy raises its own types for a missing/unfit interface
                log.info("beacon sniffing on %s failed: %s", iface, err)
                return ScanOutcome("unavailable", detail=str(err)[:200])
        return iw_scan(iface, timeout=self.opts["scan_timeout"], iw=self.iw)

    def readings(self, ts: int, polls: list[ControllerPoll], scan: ScanOutcome | None,
                 surveyed: dict[str, surveys.Survey]) -> list[Reading]:
        out: list[Reading] = [p.reading(ts) for p in polls]
        usable = [p for p in polls if p.usable]
        aps = merge_ha(ap for p in usable for ap in p.aps) if usable else None
        complete = all(p.result == "ok" for p in polls)
        scan_signal = None
        if scan is not None:
            out.append(self.scan_reading(ts, scan))
            mine = surveys.school_bss(scan.bsses, self.opts["ssids"])
            scan_signal = mine[0].signal_dbm if mine else None
        oldest = ts - int(self.opts["survey_max_age_days"] * 86400e9)
        results: list[AreaResult] = []
        for area in self.areas:
            signal, source = None, ""
            survey = surveyed.get(area.name)
            if survey and survey.ts_ns >= oldest and survey.best_signal_dbm is not None:
                signal, source = survey.best_signal_dbm, "survey"
            if area.name == self.opts["scan_area"] and scan_signal is not None \
                    and (signal is None or scan_signal > signal):
                signal, source = scan_signal, "scan"
            results.append(judge_area(area, aps, signal, source, self.opts["min_signal_dbm"],
                                      complete))
        out.extend(r.reading(ts) for r in results)
        extra: dict[str, FieldValue] = {"controllers": len(polls),
                                        "controllers_ok": len(usable)}
        if polls and not usable:
            extra["result"] = "partial"
        out.append(summary(results, ts, extra))
        return out

    def scan_reading(self, ts: int, scan: ScanOutcome) -> Reading:
        fields: dict[str, FieldValue] = {"result": scan.result}
        if scan.result in ("ok", "partial"):
            fields.update(scan_fields(scan.bsses, self.opts["ssids"]))
        if scan.detail:
            fields["detail"] = scan.detail[:200]
        return Reading("wifi_scan", fields, {"iface": self.opts["scan_interface"],
                                             "method": self.opts["scan_method"]}, ts)


def scan_fields(bsses: list[Bss], ssids: list[str]) -> dict[str, FieldValue]:
    """Summary of one scan: what is on the air and how busy the school's channels are."""
    mine = surveys.school_bss(bsses, ssids)
    fields: dict[str, FieldValue] = {
        "bss_total": len(bsses),
        "bss_2g": sum(1 for b in bsses if b.band == "2.4ghz"),
        "bss_5g": sum(1 for b in bsses if b.band == "5ghz"),
        "hidden_bss": sum(1 for b in bsses if b.hidden),
        "school_bss": len(mine),
    }
    if mine:
        fields["best_signal_dbm"] = mine[0].signal_dbm or 0.0
        loads = [b.utilisation_share for b in mine if b.utilisation_share is not None]
        if loads:
            fields["max_utilisation_share"] = max(loads)
        stations = [b.station_count for b in mine if b.station_count is not None]
        if stations:
            fields["school_stations"] = sum(stations)
    return fields


__all__ = ["ProbeContext", "Wifi", "scan_fields"]
