"""Controller polling over real SNMP: snmpsim serving controller walks on loopback.

No wireless controller can run here. The Huawei AC6605 walk is a real
recording (LibreNMS, GPL-3.0); the other walks are CONSTRUCTED from the
vendors' MIB definitions (see tests/fixtures/wifi/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.probes.wifi import surveys
from tests.snmp_support import free_udp_port
from tests.wifi_support import SNMP, collect, make_probe, one, snmpsim

WALKS = {
    "ac6605": SNMP / "vrp_ac6605-26.snmprec",
    "hwactive": SNMP / "huawei_ac_active.snmprec",
    "hwstandby": SNMP / "huawei_ac_standby.snmprec",
    "h3c": SNMP / "h3c_wx.snmprec",
    "ruijie": SNMP / "ruijie_ac.snmprec",
    "hwvap": SNMP / "huawei_ac_vap.snmprec",
    "hwradio": SNMP / "huawei_ac_radios.snmprec",
}

AREAS = """
[probes.wifi.areas."教学楼A"]
kind = "teaching"
ap_groups = ["teach-a"]

[probes.wifi.areas."教学楼B"]
kind = "teaching"
ap_groups = ["教学楼B"]

[probes.wifi.areas."办公楼"]
kind = "office"
aps = ["BGL-*"]

[probes.wifi.areas."操场"]
kind = "activity"
aps = ["CAOCHANG-1", "CAOCHANG-2"]

[probes.wifi.areas."食堂"]
kind = "other"
aps = ["SHITANG-*"]
"""


@pytest.fixture(scope="module")
def sim() -> Iterator[int]:
    with snmpsim(WALKS) as port:
        yield port


def controller(name: str, vendor: str, community: str, port: int, role: str = "primary") -> str:
    return f"""
[probes.wifi.controllers.{name}]
vendor = "{vendor}"
role = "{role}"
host = "127.0.0.1"
port = {port}
community = "{community}"
timeout = 0.5
retries = 0
"""


@pytest.mark.integration
def test_recorded_huawei_ac6605(sim: int, tmp_path: Path) -> None:
    probe = make_probe(tmp_path, '[probes.wifi]\nssids = ["acme"]\n'
                       + controller("ac", "huawei", "ac6605", sim) + """
[probes.wifi.areas.lab]
kind = "teaching"
aps = ["TestAP-NAME"]
""")
    readings = collect(probe)
    ctl = one(readings, "wifi_controller", controller="ac", vendor="huawei")
    assert ctl["result"] == "ok" and ctl["aps"] == 1
    area = one(readings, "wifi_area", area="lab", area_kind="teaching")
    # The recording has no run state; the AP's six VAPs mark it as running,
    # and their recorded station counts (all 0) are its clients.
    assert (area["aps_total"], area["aps_online"], area["clients"]) == (1, 1, 0)
    assert area["covered"] is True and area["source"] == "controller"
    cov = one(readings, "wifi_coverage")
    assert (cov["required_areas"], cov["covered_areas"], cov["coverage_share"]) == (1, 1, 1.0)
    # The recording's radio table: radio 0 on 2.4 GHz channel 6 (7 % busy),
    # radio 1 on 5 GHz channel 40 (1 %); no run-state column recorded.
    radios = {r.tags["radio"]: r.fields for r in readings if r.measurement == "wifi_radio"}
    assert radios["0"] == {"band": "2.4ghz", "up": True, "channel": 6,
                           "utilisation_share": 0.07, "clients": 0}
    assert (radios["1"]["band"], radios["1"]["channel"], radios["1"]["utilisation_share"]) == \
        ("5ghz", 40, 0.01)


@pytest.mark.integration
def test_ap_with_5ghz_radio_down_does_not_cover(sim: int, tmp_path: Path) -> None:
    areas = """
[probes.wifi.areas."一班"]
kind = "teaching"
ap_groups = ["room-1"]

[probes.wifi.areas."二班"]
kind = "teaching"
ap_groups = ["room-2"]
"""
    readings = collect(make_probe(tmp_path, "[probes.wifi]\n"
                                  + controller("ac", "huawei", "hwradio", sim) + areas))
    one_ = one(readings, "wifi_area", area="一班")
    assert (one_["aps_online"], one_["covered"], one_.get("aps_radio_down")) == (1, True, None)
    two = one(readings, "wifi_area", area="二班")
    # Joined and online, but its 5 GHz radio is down: the room is not covered.
    assert (two["aps_online"], two["aps_radio_down"], two["covered"]) == (1, 1, False)
    down = one(readings, "wifi_radio", ap="ROOM-2-AP", radio="1", controller="ac")
    assert (down["band"], down["up"], down["channel"], down["noise_dbm"]) == \
        ("5ghz", False, 36, -96.0)
    busy = one(readings, "wifi_radio", ap="ROOM-2-AP", radio="0", controller="ac")
    assert (busy["utilisation_share"], busy["clients"]) == (0.8, 9)
    assert one(readings, "wifi_coverage")["coverage_share"] == 0.5


@pytest.mark.integration
def test_huawei_states_groups_and_missing_aps(sim: int, tmp_path: Path) -> None:
    probe = make_probe(tmp_path, "[probes.wifi]\n" + controller("ac1", "huawei", "hwactive", sim)
                       + AREAS)
    readings = collect(probe)
    a = one(readings, "wifi_area", area="教学楼A")
    # JXL-A-102 is committing(9): serving, as Huawei's own normal ratio counts it.
    assert (a["aps_total"], a["aps_online"], a["clients"], a["covered"]) == (2, 2, 40, True)
    ctl = one(readings, "wifi_controller", controller="ac1")
    assert (ctl["ctl_aps_total"], ctl["ctl_aps_online"], ctl["counts_agree"]) == (6, 5, True)
    assert ctl["generation"] == "huawei-wlan-ap"
    b = one(readings, "wifi_area", area="教学楼B")  # UTF-8 group name, AP in fault(4)
    assert (b["aps_total"], b["aps_online"], b["covered"]) == (1, 0, False)
    field = one(readings, "wifi_area", area="操场")  # CAOCHANG-2 is on no controller: down
    assert (field["aps_total"], field["aps_online"], field["covered"]) == (2, 1, True)
    canteen = one(readings, "wifi_area", area="食堂", area_kind="other")
    assert canteen["required"] is False and canteen["covered"] is True
    cov = one(readings, "wifi_coverage")
    # Required: 教学楼A, 教学楼B, 办公楼, 操场; 教学楼B is not covered.
    assert (cov["required_areas"], cov["covered_areas"], cov["coverage_share"]) == (4, 3, 0.75)


@pytest.mark.integration
def test_ha_pair_standby_is_never_down(sim: int, tmp_path: Path) -> None:
    both = controller("ac1", "huawei", "hwactive", sim) + controller("ac2", "huawei",
                                                                      "hwstandby", sim)
    pair = collect(make_probe(tmp_path, "[probes.wifi]\n" + both + AREAS))
    assert one(pair, "wifi_controller", controller="ac2")["aps_standby"] == 6
    a = one(pair, "wifi_area", area="教学楼A")
    assert (a["aps_total"], a["aps_online"], a["clients"]) == (2, 2, 40)
    assert one(pair, "wifi_coverage")["coverage_share"] == 0.75

    # Active AC unreachable (nothing listens there): only the standby answers.
    dead = free_udp_port()
    lonely = controller("ac1", "huawei", "hwactive", dead) + controller("ac2", "huawei",
                                                                        "hwstandby", sim)
    readings = collect(make_probe(tmp_path / "b", "[probes.wifi]\n" + lonely + AREAS))
    assert one(readings, "wifi_controller", controller="ac1")["result"] == "timeout"
    a = one(readings, "wifi_area", area="教学楼A")
    # Standby rows are not "down": no AP counted offline, the area is unknown.
    assert (a["aps_total"], a["aps_online"], a["aps_standby"]) == (0, 0, 2)
    assert a["result"] == "partial" and a["covered"] is False
    field = one(readings, "wifi_area", area="操场")
    assert field["aps_total"] == 0, "a partial poll must not count absent APs as down"


def test_unreachable_controller_is_data(tmp_path: Path) -> None:
    dead = free_udp_port()
    readings = collect(make_probe(tmp_path, "[probes.wifi]\n"
                                  + controller("ac1", "huawei", "x", dead) + AREAS))
    assert one(readings, "wifi_controller", controller="ac1")["result"] == "timeout"
    a = one(readings, "wifi_area", area="教学楼A")
    assert a["result"] == "no_data" and a["covered"] is False and "aps_total" not in a
    cov = one(readings, "wifi_coverage")
    assert cov["controllers_ok"] == 0 and cov["covered_areas"] == 0
    assert cov["areas_no_data"] == 4


@pytest.mark.integration
def test_h3c_constructed(sim: int, tmp_path: Path) -> None:
    readings = collect(make_probe(tmp_path, "[probes.wifi]\n" + controller("wx", "h3c", "h3c", sim)
                                  + """
[probes.wifi.areas.north]
kind = "teaching"
aps = ["H3C-AP-*"]
"""))
    ctl = one(readings, "wifi_controller", controller="wx", vendor="h3c")
    # Status and object tables index H3C-AP-1 by different string ids: joined by
    # name, one AP, not two. AP-2 joining and idle, AP-4 only in the idle list and
    # AP-5 only in the brief-info table as idle are down; AP-3 is this AC's slave copy.
    assert (ctl["aps"], ctl["aps_online"], ctl["aps_standby"], ctl["aps_down"]) == (5, 1, 1, 3)
    assert ctl["generation"] == "hh3c" and ctl["ha_state"] == "active"
    assert (ctl["ctl_aps_online"], ctl["counts_agree"]) == (1, True)
    north = one(readings, "wifi_area", area="north")
    assert (north["aps_total"], north["aps_online"], north["clients"]) == (4, 1, 7)
    assert north["aps_standby"] == 1 and north["covered"] is True
    down = {r.tags["ap"] for r in readings if r.measurement == "wifi_ap"}
    assert down == {"H3C-AP-2", "H3C-AP-4", "H3C-AP-5"}


@pytest.mark.integration
def test_ruijie_constructed_and_backup_role(sim: int, tmp_path: Path) -> None:
    areas = """
[probes.wifi.areas.c]
kind = "teaching"
ap_groups = ["jxl-c"]

[probes.wifi.areas."操场"]
kind = "activity"
aps = ["RJ-操场-*"]
"""
    readings = collect(make_probe(tmp_path, "[probes.wifi]\n"
                                  + controller("rj", "ruijie", "ruijie", sim) + areas))
    c = one(readings, "wifi_area", area="c")
    # RJ-AP-2 has no ruijieApState (on-line APs only) and sits in the offline table.
    assert (c["aps_total"], c["aps_online"], c["clients"]) == (2, 1, 9)
    assert one(readings, "wifi_area", area="操场")["clients"] == 4
    # The same AC configured as the backup of a pair: its off-line AP is standby.
    backup = collect(make_probe(tmp_path / "b", "[probes.wifi]\n"
                                + controller("rj", "ruijie", "ruijie", sim, "backup") + areas))
    c = one(backup, "wifi_area", area="c")
    assert (c["aps_total"], c["aps_online"], c["aps_standby"]) == (1, 1, 1)


@pytest.mark.integration
def test_huawei_vap_fallback_reads_vap_status(sim: int, tmp_path: Path) -> None:
    readings = collect(make_probe(tmp_path, "[probes.wifi]\n"
                                  + controller("ac", "huawei", "hwvap", sim) + """
[probes.wifi.areas.lab]
kind = "teaching"
aps = ["VAP-*"]
"""))
    lab = one(readings, "wifi_area", area="lab")
    # No run state in view: VAP-UP-1's VAPs are up (10 stations), VAP-DOWN-2's are
    # all down, so it is down although the AC holds VAP rows for it.
    assert (lab["aps_total"], lab["aps_online"], lab["clients"]) == (2, 1, 10)
    assert {r.tags["ap"] for r in readings if r.measurement == "wifi_ap"} == {"VAP-DOWN-2"}


@pytest.mark.integration
def test_wrong_vendor_is_unavailable(sim: int, tmp_path: Path) -> None:
    readings = collect(make_probe(tmp_path, "[probes.wifi]\n"
                                  + controller("ac", "ruijie", "hwactive", sim) + AREAS))
    assert one(readings, "wifi_controller", controller="ac")["result"] == "unavailable"


@pytest.mark.integration
def test_survey_signal_and_controller_combine(sim: int, tmp_path: Path) -> None:
    # Surveys as `schoolnet-agent survey` stores them (values constructed): the
    # playground heard the school SSID only at -75 dBm, office A at -52 dBm.
    state = tmp_path / "state"
    now = time.time_ns()
    surveys.store(state, surveys.Survey("操场", now, 3, 9, 2, -75.0, "00:e0:fc:00:00:05", "x"))
    surveys.store(state, surveys.Survey("办公楼", now, 3, 9, 2, -52.0, "00:e0:fc:00:00:04", "x"))
    readings = collect(make_probe(tmp_path, "[probes.wifi]\n"
                                  + controller("ac1", "huawei", "hwactive", sim) + AREAS))
    field = one(readings, "wifi_area", area="操场")
    # An AP is online there, but the measured signal is below -67 dBm: not covered.
    assert (field["aps_online"], field["best_signal_dbm"], field["covered"]) == (1, -75.0, False)
    assert field["source"] == "controller+survey"
    office = one(readings, "wifi_area", area="办公楼")
    assert (office["covered"], office["source"]) == (True, "controller+survey")
    assert one(readings, "wifi_coverage")["covered_areas"] == 2
