"""Running ``iw``: the real binary where it can run here, recorded output where it cannot.

No Wi-Fi radio (nor cfg80211) exists on these machines, so a real ``iw`` can
only show its failure path. The success and busy paths replay RECORDED scan
output (tests/fixtures/wifi/iw) with iw's own error format: through the
scanner's runner seam (no process), and once through a stand-in ``iw``
script to prove the command really runs.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from agent.probes.wifi.scanner import iw_scan
from tests.wifi_support import (
    BUSY,
    NO_DEVICE,
    NO_NL80211,
    NOT_PERMITTED,
    SCAN1,
    ReplayIw,
)


def stand_in(tmp: Path, scan_exit: str) -> str:
    path = tmp / "iw"
    path.write_text(f"""#!/bin/sh
# Stand-in for iw: no radio here. Replays recorded output from {SCAN1.name}.
if [ "$3 $4" = "scan dump" ]; then cat '{SCAN1}'; exit 0; fi
{scan_exit}
""")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.integration
def test_real_iw_without_a_radio_is_unavailable() -> None:
    iw = shutil.which("iw") or "/usr/sbin/iw"
    assert Path(iw).exists(), "apt-get install iw"
    out = iw_scan("wlan-none0", timeout=10, iw=iw)
    assert out.result == "unavailable" and out.bsses == []
    assert out.detail


@pytest.mark.integration
def test_a_stand_in_iw_really_runs(tmp_path: Path) -> None:
    out = iw_scan("wlan0", iw=stand_in(tmp_path, f"cat '{SCAN1}'; exit 0"))
    assert out.result == "ok" and len(out.bsses) == 26
    busy = f"echo '{BUSY[2].strip()}' >&2; exit {BUSY[0]}"
    out = iw_scan("wlan0", iw=stand_in(tmp_path, busy))
    assert out.result == "partial" and len(out.bsses) == 26 and "busy" in out.detail
    assert iw_scan("wlan0", iw=str(tmp_path / "no-iw")).result == "unavailable"


@pytest.mark.integration
def test_hung_iw_times_out(tmp_path: Path) -> None:
    out = iw_scan("wlan0", timeout=0.5, iw=stand_in(tmp_path, "sleep 5"))
    assert out.result == "timeout"


def test_scan_parses_recorded_output() -> None:
    iw = ReplayIw()
    out = iw_scan("wlan0", run=iw)
    assert out.result == "ok" and len(out.bsses) == 26
    assert iw.calls == [["iw", "dev", "wlan0", "scan"]]


def test_busy_radio_falls_back_to_cached_results() -> None:
    iw = ReplayIw(BUSY)
    out = iw_scan("wlan0", run=iw)
    assert out.result == "partial" and len(out.bsses) == 26
    assert "busy" in out.detail
    assert iw.calls[-1] == ["iw", "dev", "wlan0", "scan", "dump"]


def test_failures_are_data() -> None:
    assert iw_scan("wlan9", run=ReplayIw(NO_DEVICE)).result == "unavailable"
    out = iw_scan("wlan0", run=ReplayIw(NOT_PERMITTED))
    assert out.result == "error" and "root" in out.detail
    out = iw_scan("wlan0", run=ReplayIw(NO_NL80211))
    assert out.result == "unavailable" and "nl80211" in out.detail
    assert iw_scan("wlan0", run=ReplayIw(FileNotFoundError())).result == "unavailable"
    out = iw_scan("wlan0", timeout=3, run=ReplayIw(subprocess.TimeoutExpired("iw", 3)))
    assert out.result == "timeout" and "3 s" in out.detail
    out = iw_scan("wlan0", run=ReplayIw((1, "", "command failed: Invalid argument (-71)\n")))
    assert out.result == "error" and "(-71)" in out.detail


def test_bad_interface_names_never_run_iw() -> None:
    iw = ReplayIw()
    assert iw_scan("wlan0; reboot", run=iw).result == "error"
    assert iw.calls == []
