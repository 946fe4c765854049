"""Site survey: ``schoolnet-agent survey --area NAME`` and how the probe uses its result.

No radio exists here, so the survey reads RECORDED ``iw`` scans with
``--from-file`` or replays them through its ``iw`` runner; the Chinese-SSID
scan below is CONSTRUCTED from a recorded one.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from agent.probes.wifi import survey, surveys
from agent.probes.wifi.scanner import Runner, run_command
from tests.wifi_support import (
    BUSY,
    IW,
    NO_DEVICE,
    ReplayIw,
    collect,
    make_probe,
    one,
    write_config,
)

SCAN1 = IW / "jc_centos-7.7_iw-scan1.txt"
SCAN2 = IW / "jc_centos-7.7_iw-scan2.txt"

PROBE = """
[probes.wifi]
ssids = ["UPCCDB29F5", "智慧校园"]
min_signal_dbm = -67

[probes.wifi.areas."教学楼A"]
kind = "teaching"

[probes.wifi.areas.playground]
kind = "activity"
"""


def args(config: Path, area: str, *files: Path, extra: list[str] | None = None
         ) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    survey.add_arguments(parser)
    argv = ["-c", str(config), "--area", area, *(extra or [])]
    for f in files:
        argv += ["--from-file", str(f)]
    return parser.parse_args(argv)


def run(ns: argparse.Namespace, runner: Runner = run_command
        ) -> tuple[int, str, str, list[Reading]]:
    out, err = io.StringIO(), io.StringIO()
    published: list[Reading] = []
    code = survey.run(ns, publish=published.extend, out=out, err=err, runner=runner)
    return code, out.getvalue(), err.getvalue(), published


def test_survey_shows_stores_and_publishes(tmp_path: Path) -> None:
    config = write_config(tmp_path, PROBE)
    code, out, _, published = run(args(config, "教学楼A", SCAN1, extra=["--json"]))
    assert code == 0
    assert "* UPCCDB29F5" in out and "(hidden)" in out
    assert "best school signal -30 dBm" in out and "-> covered" in out
    [reading] = published
    assert reading.measurement == "wifi_area"
    assert reading.tags == {"area": "教学楼A", "area_kind": "teaching"}
    f = reading.fields
    assert (f["best_signal_dbm"], f["covered"], f["source"]) == (-30.0, True, "survey")
    assert (f["bss_total"], f["school_bss"]) == (26, 2)
    printed = json.loads(out.strip().splitlines()[-1])
    assert printed[0]["fields"]["best_signal_dbm"] == -30.0
    stored = surveys.load(tmp_path / "state")
    assert stored["教学楼A"].best_bssid == "ac:22:05:e6:ff:24"


def test_latest_survey_of_an_area_wins_and_the_probe_uses_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, PROBE)
    assert run(args(config, "playground", SCAN1))[0] == 0
    assert run(args(config, "教学楼A", SCAN1))[0] == 0
    # Constructed from the recorded scan2 block: the school SSID, weak, in Chinese.
    weak = tmp_path / "weak.txt"
    name = "".join(f"\\x{b:02x}" for b in "智慧校园".encode())
    weak.write_text(SCAN2.read_text().replace("SSID: Troubleshooting", f"SSID: {name}")
                    .replace("signal: -54.00", "signal: -74.00"))
    code, out, _, published = run(args(config, "playground", weak))
    assert code == 0 and "NOT covered" in out
    # Chinese characters take two terminal columns: the BSSID column stays aligned.
    row = next(line for line in out.splitlines() if "智慧校园" in line)
    assert row.startswith("* 智慧校园" + " " * 16 + " xx:xx:xx:xx:3e:41")
    assert published[0].fields["covered"] is False
    assert surveys.load(tmp_path / "state")["playground"].best_signal_dbm == -74.0

    # The probe (no controller configured) judges areas by their surveys.
    readings = collect(make_probe(tmp_path, PROBE))
    pg = one(readings, "wifi_area", area="playground")
    assert (pg["best_signal_dbm"], pg["covered"], pg["source"]) == (-74.0, False, "survey")
    a = one(readings, "wifi_area", area="教学楼A")
    assert (a["best_signal_dbm"], a["covered"]) == (-30.0, True)
    cov = one(readings, "wifi_coverage")
    assert (cov["required_areas"], cov["covered_areas"], cov["coverage_share"]) == (2, 1, 0.5)


def test_survey_scans_with_the_radio(tmp_path: Path) -> None:
    config = write_config(tmp_path, PROBE)
    iw = ReplayIw(BUSY)  # the radio serves clients: each scan reads the cached results
    code, out, err, published = run(args(config, "教学楼A", extra=[
        "--interface", "wlan1", "--scans", "2", "--interval", "0"]), runner=iw)
    assert code == 0 and err.count("partial, 26 networks") == 2, err
    assert [c[:3] for c in iw.calls] == [["iw", "dev", "wlan1"]] * 4
    assert published[0].fields["survey_scans"] == 2 and "-> covered" in out
    code, _, err, published = run(args(config, "教学楼A", extra=["--interface", "wlan1",
                                                                 "--interval", "0"]),
                                  runner=ReplayIw(NO_DEVICE))
    assert code == 1 and err.count("unavailable") == 3 and not published


def test_older_survey_never_replaces_a_newer_one(tmp_path: Path) -> None:
    new = surveys.Survey("x", 2_000, 3, 5, 1, -50.0)
    surveys.store(tmp_path, new)
    surveys.store(tmp_path, surveys.Survey("x", 1_000, 3, 5, 1, -80.0))
    assert surveys.load(tmp_path)["x"] == new
    (tmp_path / surveys.FILE_NAME).write_text("{not json")
    assert surveys.load(tmp_path) == {}


def test_stale_survey_is_ignored(tmp_path: Path) -> None:
    surveys.store(tmp_path / "state", surveys.Survey("playground", 1, 3, 5, 1, -40.0))
    readings = collect(make_probe(tmp_path, PROBE))
    pg = one(readings, "wifi_area", area="playground")
    assert pg["result"] == "no_data" and "best_signal_dbm" not in pg


@pytest.mark.integration
def test_survey_errors(tmp_path: Path) -> None:
    config = write_config(tmp_path, PROBE)
    code, _, err, published = run(args(config, "nowhere", SCAN1))
    assert code == 2 and "unknown area 'nowhere'" in err and "教学楼A" in err
    assert not published
    # No interface given and none configured.
    code, _, err, _ = run(args(config, "playground"))
    assert code == 2 and "--interface" in err
    # A real iw, but there is no radio on this machine: every scan fails.
    code, _, err, _ = run(args(config, "playground",
                               extra=["--interface", "wlan-none0", "--scans", "1"]))
    assert code == 1 and "unavailable" in err
    bad = write_config(tmp_path / "bad", PROBE.replace("kind = \"activity\"", "kind = \"gym\""))
    code, _, err, _ = run(args(bad, "playground", SCAN1))
    assert code == 2 and "probes.wifi.areas.playground.kind" in err and ":" in err
