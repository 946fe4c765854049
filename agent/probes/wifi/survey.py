"""``schoolnet-agent survey --area NAME``: a site survey at one spot of an area.

For IT staff walking the campus with a laptop: takes a few ``iw`` scans,
shows every network heard (the school's marked), stores the result as the
area's latest survey in the agent's state directory (the ``wifi`` probe
judges coverage with it) and hands one ``wifi_area`` reading to the
publisher. ``--from-file`` reads saved ``iw dev IF scan`` output instead of
scanning, for a scan taken on another machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from agent.contract.errors import ConfigError
from agent.contract.reading import Reading
from agent.probes.wifi import surveys
from agent.probes.wifi.areas import Area, judge_area
from agent.probes.wifi.iwscan import Bss, merge_scans, parse_scan
from agent.probes.wifi.options import Options
from agent.probes.wifi.scanner import Runner, iw_scan, run_command

log = logging.getLogger(__name__)

Publish = Callable[[list[Reading]], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="agent config (TOML)")
    parser.add_argument("--area", required=True, help="area name as in [probes.wifi.areas]")
    parser.add_argument("--interface", default="",
                        help="Wi-Fi interface to scan with (default: the probe's scan_interface)")
    parser.add_argument("--scans", type=int, default=3, help="scans to take here (default 3)")
    parser.add_argument("--interval", type=float, default=2.0,
                        help="seconds between scans (default 2)")
    parser.add_argument("--from-file", action="append", default=[], metavar="PATH",
                        help="use saved `iw dev IF scan` output instead of scanning (repeatable)")
    parser.add_argument("--no-store", action="store_true",
                        help="show only; do not keep as the area's survey")
    parser.add_argument("--json", action="store_true", help="print the reading as JSON")


def survey_readings(area: Area, survey: surveys.Survey, min_signal_dbm: float) -> list[Reading]:
    """The reading(s) a survey publishes: one ``wifi_area`` with source=survey."""
    res = judge_area(area, None, survey.best_signal_dbm, "survey", min_signal_dbm)
    reading = res.reading(survey.ts_ns)
    reading.fields.update({"survey_scans": survey.scans, "bss_total": survey.bss_total,
                           "school_bss": survey.school_bss})
    return [reading]


def _wifi_opts(config: str) -> tuple[Options, Path]:
    from agent.config import load

    cfg = load(config)
    for probe in cfg.probes:
        if probe.name == "wifi":
            return probe.opts, cfg.state_dir
    raise ConfigError(config, "probes.wifi", None, "no enabled [probes.wifi] table")


def _scan(args: argparse.Namespace, iface: str, err: TextIO,
          runner: Runner) -> list[list[Bss]]:
    if args.from_file:
        return [parse_scan(Path(p).read_text(encoding="utf-8", errors="replace"))
                for p in args.from_file]
    scans: list[list[Bss]] = []
    for i in range(max(1, args.scans)):
        if i:
            time.sleep(args.interval)
        outcome = iw_scan(iface, run=runner)
        if outcome.result in ("ok", "partial"):
            scans.append(outcome.bsses)
        print(f"scan {i + 1}: {outcome.result}, {len(outcome.bsses)} networks"
              + (f" ({outcome.detail})" if outcome.detail else ""), file=err)
    return scans


def pad(text: str, width: int) -> str:
    """Cut and pad to ``width`` terminal columns; Chinese characters take two."""
    out, used = "", 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used + w > width:
            break
        out, used = out + ch, used + w
    return out + " " * (width - used)


def show(bsses: Sequence[Bss], ssids: Sequence[str], out: TextIO) -> None:
    school = set(ssids)
    print(f"{'':2}{'SSID':<24} {'BSSID':<17} {'band':>6} {'ch':>3} {'dBm':>6} {'sta':>4} "
          f"{'util':>5}", file=out)
    for b in sorted(bsses, key=lambda x: x.signal_dbm or -999.0, reverse=True):
        mark = "* " if b.ssid in school and not b.hidden else "  "
        name = "(hidden)" if b.hidden else b.ssid
        sig = f"{b.signal_dbm:.0f}" if b.signal_dbm is not None else "?"
        sta = "" if b.station_count is None else str(b.station_count)
        util = "" if b.utilisation_share is None else f"{b.utilisation_share:.0%}"
        print(f"{mark}{pad(name, 24)} {b.bssid:<17} {b.band:>6} {b.channel or '':>3} {sig:>6} "
              f"{sta:>4} {util:>5}", file=out)


def run(args: argparse.Namespace, publish: Publish | None = None,
        out: TextIO = sys.stdout, err: TextIO = sys.stderr,
        runner: Runner = run_command) -> int:
    """Exit code: 0 surveyed, 1 no scan succeeded, 2 bad config or area.

    ``runner`` runs ``iw`` (tests replay recorded output through it)."""
    try:
        opts, state_dir = _wifi_opts(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=err)
        return 2
    if args.area not in opts.areas:
        known = ", ".join(opts.areas) or "none configured"
        print(f"error: unknown area {args.area!r}; areas: {known}", file=err)
        return 2
    if not opts.ssids:
        print("warning: [probes.wifi] ssids is empty, so no network counts as the school's",
              file=err)
    iface = args.interface or opts.scan_interface
    if not iface and not args.from_file:
        print("error: no interface: give --interface or set scan_interface", file=err)
        return 2
    scans = _scan(args, iface, err, runner)
    if not scans:
        print("error: no scan succeeded; is this a Wi-Fi interface and are you root?", file=err)
        return 1
    bsses = merge_scans(scans)
    survey = surveys.summarise(args.area, time.time_ns(), len(scans), bsses, opts.ssids)
    area = Area.from_config(args.area, opts.areas[args.area])
    readings = survey_readings(area, survey, opts.min_signal_dbm)
    show(bsses, opts.ssids, out)
    verdict = "covered" if readings[0].fields["covered"] else "NOT covered"
    best = "no school SSID heard" if survey.best_signal_dbm is None else \
        f"best school signal {survey.best_signal_dbm:.0f} dBm ({survey.best_ssid})"
    print(f"\narea {args.area}: {best}; threshold {opts.min_signal_dbm:.0f} dBm -> {verdict}",
          file=out)
    if not args.no_store:
        surveys.store(state_dir, survey)
    if args.json:
        print(json.dumps([{"measurement": r.measurement, "tags": r.tags, "fields": r.fields,
                           "ts": r.ts_ns} for r in readings], ensure_ascii=False), file=out)
    if publish is not None:
        publish(readings)
    return 0
