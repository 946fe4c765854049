"""Probe ``wifi``: wireless coverage of the school's areas (无线校园).

Three sources, combined per area: the wireless controllers' AP tables over
SNMP (Huawei, H3C, Ruijie), a scan from this gateway's own radio, and the
latest site survey of each area (``schoolnet-agent survey``). An area is
covered when a serving AP is online and, where its signal was measured, the
school SSID reaches ``min_signal_dbm``. Readings: ``wifi_area`` per area,
``wifi_coverage`` for the school, ``wifi_controller`` per controller,
``wifi_radio`` per radio of an online AP (where the MIB lists radios),
``wifi_ap`` per AP that is down (listed so, or remembered from an earlier
poll and no longer listed: see :mod:`agent.probes.wifi.inventory`) and
``wifi_scan`` for the local radio.

The config (``[probes.wifi]``) is checked by :mod:`agent.probes.wifi.options`;
``sample.toml`` beside this module is its documented block.
"""

from __future__ import annotations

import asyncio
import logging
import time

from agent.contract.reading import FieldValue, Reading
from agent.probes import Probe, ProbeContext
from agent.probes.wifi import surveys
from agent.probes.wifi.aps import OFFLINE, ONLINE, ApState, merge_ha
from agent.probes.wifi.areas import Area, AreaResult, judge_area, summary
from agent.probes.wifi.controllers.poll import ControllerPoll, poll_all
from agent.probes.wifi.inventory import Inventory
from agent.probes.wifi.iwscan import Bss
from agent.probes.wifi.options import Options as WifiOptions
from agent.probes.wifi.scanner import Runner, ScanOutcome, iw_scan, run_command

log = logging.getLogger(__name__)


class Wifi(Probe):
    name = "wifi"
    Options = WifiOptions
    opts: WifiOptions
    default_interval = 300.0
    default_timeout = 60.0

    def __init__(self, opts: WifiOptions, ctx: ProbeContext) -> None:
        super().__init__(opts, ctx)
        self.areas = [Area.from_config(k, v) for k, v in opts.areas.items()]
        self.iw = "iw"  # the binary; tests point it at a stand-in (no radio there)
        self.run_iw: Runner = run_command  # or replay recorded output

    async def collect(self) -> list[Reading]:
        ts = time.time_ns()
        # The radio scan (seconds, in a thread) runs while the controllers answer.
        scan_task = asyncio.ensure_future(asyncio.to_thread(self.scan)) \
            if self.opts.scan_interface else None
        inventory = Inventory(self.ctx.state_dir, self.opts.forget_after_days,
                              self.opts.retired_aps) if self.opts.controllers else None
        polls = await poll_all(self.opts.controllers, self.opts.controller_deadline,
                               inventory, ts)
        scan = await scan_task if scan_task else None
        return self.readings(ts, polls, scan, surveys.load(self.ctx.state_dir))

    def scan(self) -> ScanOutcome:
        iface = self.opts.scan_interface
        if self.opts.scan_method == "scapy":
            from agent.probes.wifi.beacons import sniff_beacons
            try:
                return ScanOutcome("ok", sniff_beacons(iface, self.opts.scan_seconds))
            except ImportError:
                return ScanOutcome("unavailable", detail="scapy not installed (extra wifi-sniff)")
            except Exception as err:  # scapy raises its own types for a missing/unfit interface
                log.info("beacon sniffing on %s failed: %s", iface, err)
                return ScanOutcome("unavailable", detail=str(err)[:200])
        return iw_scan(iface, timeout=self.opts.scan_timeout, iw=self.iw, run=self.run_iw)

    def readings(self, ts: int, polls: list[ControllerPoll], scan: ScanOutcome | None,
                 surveyed: dict[str, surveys.Survey]) -> list[Reading]:
        out: list[Reading] = [p.reading(ts) for p in polls]
        usable = [p for p in polls if p.usable]
        aps = merge_ha(ap for p in usable for ap in p.aps) if usable else None
        if aps is not None:
            out.extend(down_reading(ts, ap) for ap in aps.values() if ap.state == OFFLINE)
            if self.opts.radio_readings:
                out.extend(radio.reading(ts, ap.name, ap.controller) for ap in aps.values()
                           if ap.state == ONLINE for radio in ap.radios)
        complete = all(p.result == "ok" for p in polls)
        scan_signal = None
        if scan is not None:
            out.append(self.scan_reading(ts, scan))
            mine = surveys.school_bss(scan.bsses, self.opts.ssids)
            scan_signal = mine[0].signal_dbm if mine else None
        oldest = ts - int(self.opts.survey_max_age_days * 86400e9)
        results: list[AreaResult] = []
        for area in self.areas:
            signal, source = None, ""
            survey = surveyed.get(area.name)
            if survey and survey.ts_ns >= oldest and survey.best_signal_dbm is not None:
                signal, source = survey.best_signal_dbm, "survey"
            if area.name == self.opts.scan_area and scan_signal is not None \
                    and (signal is None or scan_signal > signal):
                signal, source = scan_signal, "scan"
            results.append(judge_area(area, aps, signal, source, self.opts.min_signal_dbm,
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
            fields.update(scan_fields(scan.bsses, self.opts.ssids))
        if scan.detail:
            fields["detail"] = scan.detail[:200]
        return Reading("wifi_scan", fields, {"iface": self.opts.scan_interface,
                                             "method": self.opts.scan_method}, ts)


def down_reading(ts: int, ap: ApState) -> Reading:
    """One AP that serves nobody: listed as down, or remembered and no longer listed."""
    fields: dict[str, FieldValue] = {"state": "down", "remembered": ap.remembered}
    if ap.group:
        fields["group"] = ap.group[:64]
    if ap.last_seen_ns is not None:
        fields["last_seen_seconds"] = round(max(ts - ap.last_seen_ns, 0) / 1e9, 1)
    return Reading("wifi_ap", fields, {"ap": ap.name[:128], "controller": ap.controller}, ts)


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
