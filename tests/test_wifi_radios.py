"""Per-radio state on every vendor: a classroom AP whose 5 GHz radio is down does not cover.

Pure tests feed each vendor's decoder the columns a walk returns (values as
the MIB text numbers them); the integration test polls snmpsim serving the
CONSTRUCTED radio walks (tests/fixtures/wifi/README.md) through the real
probe.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.probes.wifi.aps import ONLINE, STANDBY
from agent.probes.wifi.controllers.h3c import H3c
from agent.probes.wifi.controllers.ruijie import CURRENT, Ruijie
from agent.probes.wifi.radios import band_of_channel, percent_share
from tests.wifi_support import SNMP, collect, make_probe, one, snmpsim

MAC = "88.105.108.0.0.1"


def s_index(text: str) -> str:
    raw = text.encode()
    return ".".join(str(p) for p in (len(raw), *raw))


def test_band_of_channel_and_percent_share() -> None:
    assert [band_of_channel(c) for c in (1, 14, 36, 165, 0, None, 200)] == \
        ["2.4ghz", "2.4ghz", "5ghz", "5ghz", "unknown", "unknown", "unknown"]
    assert (percent_share(0), percent_share(100), percent_share(255), percent_share(None)) == \
        (0.0, 1.0, None, None)


def test_ruijie_backup_state_numbering_from_the_mib() -> None:
    # ruijieApBackupState: unknown(0), master(1), slave(2). master is not standby.
    cols = {"name": {MAC: "RJ-1"}, "state": {MAC: 1}, "backup_state": {MAC: 1}}
    [ap] = Ruijie().decode(CURRENT, cols, "rj").aps
    assert ap.state == ONLINE
    [ap] = Ruijie().decode(CURRENT, {**cols, "backup_state": {MAC: 2}}, "rj").aps
    assert ap.state == STANDBY


def test_ruijie_radio_without_oper_status_reads_its_enable_and_type() -> None:
    cols = {"name": {MAC: "RJ-1"}, "state": {MAC: 1},
            # ruijieApRadioEn 0 disable; ruijieApRadioType 2 = 802.11a; no FIT-AP table
            "radio_enabled": {f"{MAC}.1": 1, f"{MAC}.2": 0},
            "radio_type": {f"{MAC}.1": 1, f"{MAC}.2": 2},
            "radio_cfg_channel": {f"{MAC}.1": 1, f"{MAC}.2": 44}}
    [ap] = Ruijie().decode(CURRENT, cols, "rj").aps
    assert [(r.radio, r.band, r.up, r.channel) for r in ap.radios] == \
        [("1", "2.4ghz", True, 1), ("2", "5ghz", False, 44)]
    assert not ap.serving


def test_h3c_radio_joined_by_either_tables_id_and_band_from_modes() -> None:
    sid, oid = s_index("SERIAL-1"), s_index("OBJ-1")
    gen = H3c.generations[0]
    cols = {"state": {sid: 5}, "template": {sid: "AP-1"}, "name": {oid: "AP-1"},
            "clients": {oid: 4},
            # radio 1 by the object-table id, radio 2 by the status-table id; radio 3
            # of an id no table lists is left out.
            "radio_oper": {f"{oid}.1": 1, f"{sid}.2": 2, f"{s_index('GHOST')}.1": 1},
            # channel 0 (none yet): the band comes from the modes, an(32) + a(1) = 5 GHz
            "radio_channel": {f"{oid}.1": 6, f"{sid}.2": 0},
            "radio_modes": {f"{oid}.1": 22, f"{sid}.2": 33},
            "radio_busy": {f"{oid}.1": 255}}
    [ap] = H3c().decode(gen, cols, "wx").aps
    assert [(r.radio, r.band, r.up, r.utilisation_share) for r in ap.radios] == \
        [("1", "2.4ghz", True, None), ("2", "5ghz", False, None)]
    # OperStatusCM, where given, wins over the TruthValue column.
    [ap] = H3c().decode(gen, {**cols, "radio_oper_cm": {f"{sid}.2": 1}}, "wx").aps
    assert all(r.up for r in ap.radios) and ap.serving


WALKS = {"huawei": SNMP / "huawei_ac_radios.snmprec", "h3c": SNMP / "h3c_wx_radios.snmprec",
         "ruijie": SNMP / "ruijie_ac_radios.snmprec"}


@pytest.fixture(scope="module")
def sim() -> Iterator[int]:
    with snmpsim(WALKS) as port:
        yield port


# vendor, the radio ids of ROOM-2-AP's (2.4 GHz, 5 GHz) radios
VENDORS = [("huawei", ("0", "1")), ("h3c", ("1", "2")), ("ruijie", ("1", "2"))]


@pytest.mark.integration
@pytest.mark.parametrize(("vendor", "radio_ids"), VENDORS, ids=[v[0] for v in VENDORS])
def test_classroom_ap_with_5ghz_radio_down_is_not_covered(sim: int, tmp_path: Path,
                                                           vendor: str,
                                                           radio_ids: tuple[str, str]) -> None:
    readings = collect(make_probe(tmp_path, f"""[probes.wifi]
[probes.wifi.controllers.ac]
vendor = "{vendor}"
host = "127.0.0.1"
port = {sim}
community = "{vendor}"
timeout = 1.0
retries = 1

[probes.wifi.areas."一班"]
kind = "teaching"
aps = ["ROOM-1-AP"]

[probes.wifi.areas."二班"]
kind = "teaching"
aps = ["ROOM-2-AP"]
"""))
    assert one(readings, "wifi_controller", controller="ac", vendor=vendor)["result"] == "ok"
    first = one(readings, "wifi_area", area="一班")
    assert (first["aps_online"], first["covered"], first.get("aps_radio_down")) == (1, True, None)
    second = one(readings, "wifi_area", area="二班")
    # Joined and online, but its 5 GHz radio is down: the classroom is not covered.
    assert (second["aps_online"], second["aps_radio_down"], second["covered"]) == (1, 1, False)
    low, high = radio_ids
    down = one(readings, "wifi_radio", ap="ROOM-2-AP", radio=high, controller="ac")
    assert (down["band"], down["up"], down["channel"]) == ("5ghz", False, 36)
    busy = one(readings, "wifi_radio", ap="ROOM-2-AP", radio=low, controller="ac")
    assert (busy["band"], busy["up"], busy["channel"]) == ("2.4ghz", True, 11)
    assert (busy["utilisation_share"], busy["clients"]) == (0.8, 9)
    assert one(readings, "wifi_coverage")["coverage_share"] == 0.5
