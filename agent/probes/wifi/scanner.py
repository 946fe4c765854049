"""Run ``iw dev IF scan`` on a local radio and classify what went wrong.

A gateway or AP with a radio can scan its surroundings. Failures are data:
no ``iw`` or no such interface is ``unavailable``; a radio that is busy or
in AP mode cannot trigger a scan, so the cached results (``scan dump``) are
read instead and the outcome is ``partial``.

Running the command is a :data:`Runner`, so the classification can be tested
on recorded ``iw`` output and error messages without a radio or a process.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.probes.wifi.iwscan import Bss, parse_scan

log = logging.getLogger(__name__)

IFACE = re.compile(r"[A-Za-z0-9_.\-]{1,15}")  # Linux IFNAMSIZ - 1
_ERRNO = re.compile(r"\((-?\d+)\)")
# errno values iw prints for a scan it could not start but whose cached
# results may still be there: EBUSY, EOPNOTSUPP, ENETDOWN.
_USE_DUMP = {-16, -95, -100}
_NO_DEVICE = {-19, -22}  # ENODEV, EINVAL (no such wiphy / not a wireless device)


@dataclass
class ScanOutcome:
    result: str
    bsses: list[Bss] = field(default_factory=list)
    detail: str = ""


# Runs a command within a timeout: (exit code, stdout, stderr). Raises
# FileNotFoundError or subprocess.TimeoutExpired as subprocess.run does.
Runner = Callable[[list[str], float], tuple[int, str, str]]


def run_command(cmd: list[str], timeout: float) -> tuple[int, str, str]:
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"))


def iw_scan(iface: str, timeout: float = 20.0, iw: str = "iw",
            run: Runner = run_command) -> ScanOutcome:
    """Scan once on ``iface``; never raises for radio or tool problems."""
    if not IFACE.fullmatch(iface):
        return ScanOutcome("error", detail=f"bad interface name {iface!r}")
    try:
        code, out, err = run([iw, "dev", iface, "scan"], timeout)
    except FileNotFoundError:
        log.debug("iw is not installed")
        return ScanOutcome("unavailable", detail="iw not installed")
    except subprocess.TimeoutExpired:
        return ScanOutcome("timeout", detail=f"iw scan took longer than {timeout:g} s")
    if code == 0:
        return ScanOutcome("ok", parse_scan(out))
    if "nl80211 not found" in err:
        # The kernel has no cfg80211 at all (containers, wired-only boxes).
        log.debug("no nl80211 in this kernel; no Wi-Fi scan")
        return ScanOutcome("unavailable", detail="no Wi-Fi support (nl80211 not found)")
    errno = _errno(err)
    if errno in _USE_DUMP:
        try:
            code, out, _ = run([iw, "dev", iface, "scan", "dump"], timeout)
        except subprocess.TimeoutExpired:
            return ScanOutcome("timeout", detail="iw scan dump timed out")
        if code == 0:
            return ScanOutcome("partial", parse_scan(out),
                               detail=f"scan not started ({err.strip()}); cached results")
    if errno in _NO_DEVICE:
        return ScanOutcome("unavailable", detail=err.strip()[:200])
    if errno == -1:  # EPERM: scanning needs CAP_NET_ADMIN
        return ScanOutcome("error", detail="not permitted: run as root")
    return ScanOutcome("error", detail=(err.strip() or f"iw exited {code}")[:200])


def _errno(stderr: str) -> int | None:
    m = _ERRNO.search(stderr)
    return int(m.group(1)) if m else None
