"""Running ``iw``: the real binary where it can run here, recorded output where it cannot.

No Wi-Fi radio (nor cfg80211) exists on these machines, so a real ``iw`` can
only show its failure path. For the success and busy paths a stand-in
``iw`` script replays RECORDED scan output (tests/fixtures/wifi/iw) and
prints iw's own error format; it says so in its first line.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from agent.wlan.scanner import iw_scan
from tests.wifi_support import IW

# Integration tier: iw (real or a recorded stand-in) as a process.
pytestmark = pytest.mark.integration

SCAN1 = IW / "jc_centos-7.7_iw-scan1.txt"


def stand_in(tmp: Path, scan_exit: str) -> str:
    path = tmp / "iw"
    path.write_text(f"""#!/bin/sh
# Stand-in for iw: no radio here. Replays recorded output from {SCAN1.name}.
if [ "$3 $4" = "scan dump" ]; then cat '{SCAN1}'; exit 0; fi
{scan_exit}
""")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_real_iw_without_a_radio_is_unavailable() -> None:
    iw = shutil.which("iw") or "/usr/sbin/iw"
    assert Path(iw).exists(), "apt-get install iw"
    out = iw_scan("wlan-none0", timeout=10, iw=iw)
    assert out.result == "unavailable" and out.bsses == []
    assert out.detail


def test_missing_iw_and_bad_names_are_data(tmp_path: Path) -> None:
    assert iw_scan("wlan0", iw=str(tmp_path / "no-iw")).result == "unavailable"
    assert iw_scan("wlan0; reboot").result == "error"


def test_scan_replays_recorded_output(tmp_path: Path) -> None:
    out = iw_scan("wlan0", iw=stand_in(tmp_path, f"cat '{SCAN1}'; exit 0"))
    assert out.result == "ok" and len(out.bsses) == 26


def test_busy_radio_falls_back_to_cached_results(tmp_path: Path) -> None:
    busy = "echo 'command failed: Device or resource busy (-16)' >&2; exit 240"
    out = iw_scan("wlan0", iw=stand_in(tmp_path, busy))
    assert out.result == "partial" and len(out.bsses) == 26
    assert "busy" in out.detail


def test_no_device_and_permission(tmp_path: Path) -> None:
    nodev = "echo 'command failed: No such device (-19)' >&2; exit 237"
    assert iw_scan("wlan9", iw=stand_in(tmp_path, nodev)).result == "unavailable"
    eperm = "echo 'command failed: Operation not permitted (-1)' >&2; exit 255"
    out = iw_scan("wlan0", iw=stand_in(tmp_path, eperm))
    assert out.result == "error" and "root" in out.detail


def test_hung_iw_times_out(tmp_path: Path) -> None:
    out = iw_scan("wlan0", timeout=0.5, iw=stand_in(tmp_path, "sleep 5"))
    assert out.result == "timeout"
