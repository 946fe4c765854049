"""The remembered AP inventory: an AP that leaves a controller's tables still reads as down.

Pure tests drive :class:`Inventory` directly; the integration tests poll
snmpsim serving CONSTRUCTED controller walks (tests/fixtures/wifi/README.md)
before and after an AP is unplugged, through the real probe and state dir.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.probes.wifi.aps import OFFLINE, ONLINE, ApState
from agent.probes.wifi.controllers import string_index
from agent.probes.wifi.inventory import FILE_NAME, Inventory
from tests.wifi_support import SNMP, collect, make_probe, one, snmpsim

DAY = 86400 * 10**9
T0 = 1_800_000_000 * 10**9


def ap(name: str, state: str = ONLINE, group: str = "g") -> ApState:
    return ApState(name, state, group, 3 if state == ONLINE else 0, "ac")


def test_missing_ap_reads_down_with_last_seen_then_back(tmp_path: Path) -> None:
    inv = Inventory(tmp_path)
    inv.reconcile("ac", [ap("A"), ap("B")], T0, complete=True)
    inv.save()
    later = Inventory(tmp_path)  # a new run reads what the last one saved
    out = {a.name: a for a in later.reconcile("ac", [ap("A")], T0 + DAY, complete=True)}
    assert out["B"].state == OFFLINE and out["B"].last_seen_ns == T0 and out["B"].group == "g"
    assert out["A"].remembered is False
    back = {a.name: a for a in later.reconcile("ac", [ap("A"), ap("B")], T0 + 2 * DAY, True)}
    assert back["B"].state == ONLINE and not back["B"].remembered


def test_incomplete_poll_adds_no_remembered_ap(tmp_path: Path) -> None:
    inv = Inventory(tmp_path)
    inv.reconcile("ac", [ap("A"), ap("B")], T0, complete=True)
    out = inv.reconcile("ac", [ap("A")], T0 + 1, complete=False)
    assert [a.name for a in out] == ["A"]
    assert "B" in inv.known["ac"], "a truncated walk must not forget an AP either"


def test_retired_and_expired_aps_are_forgotten(tmp_path: Path) -> None:
    inv = Inventory(tmp_path, forget_after_days=7, retired=["OLD-*"])
    inv.reconcile("ac", [ap("A"), ap("OLD-1"), ap("B")], T0, complete=True)
    out = inv.reconcile("ac", [], T0 + 3 * DAY, complete=True)
    assert sorted(a.name for a in out) == ["A", "B"]  # OLD-1 retired by the operator
    out = inv.reconcile("ac", [ap("A")], T0 + 8 * DAY, complete=True)
    assert [a.name for a in out] == ["A"]  # B gone longer than 7 days
    assert set(inv.known["ac"]) == {"A"}
    # A retired AP the AC still lists as down is not counted either.
    assert inv.reconcile("ac", [ap("OLD-2", OFFLINE)], T0 + 9 * DAY, True)[-1].name == "A"


def test_group_learnt_once_is_kept_for_rows_without_one(tmp_path: Path) -> None:
    # Ruijie's offline table names an AP but gives no group.
    inv = Inventory(tmp_path)
    inv.reconcile("rj", [ap("R1", group="jxl-c")], T0, complete=True)
    [row] = inv.reconcile("rj", [ap("R1", OFFLINE, group="")], T0 + 1, complete=True)
    assert (row.group, row.remembered) == ("jxl-c", False)


def test_unreadable_inventory_starts_afresh(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text("{not json", encoding="utf-8")
    inv = Inventory(tmp_path)
    assert inv.reconcile("ac", [ap("A")], T0, complete=True) == [ap("A")]
    inv.save()
    assert json.loads((tmp_path / FILE_NAME).read_text())["ac"]["A"]["last_seen_ns"] == T0


def test_string_index_decodes_length_prefixed_octets() -> None:
    assert string_index("8.72.51.67.45.65.80.45.49") == "H3C-AP-1"
    assert string_index("3.230.149.153") == "教"  # a Chinese AP name, UTF-8
    assert string_index("2.1.7") == ""  # bytes that are not text: no name
    assert string_index("4.1.2") == "" and string_index("0.224.252.18.52.1") == ""


WALKS = {name: SNMP / f"{file}.snmprec" for name, file in {
    "hw": "huawei_ac_active", "hwgone": "huawei_ac_unplugged", "hwold": "huawei_ac_old",
    "h3c": "h3c_wx", "h3cgone": "h3c_wx_unplugged", "h3cstandby": "h3c_wx_standby",
    "h3cold": "h3c_wx_h3c", "a3com": "h3c_wx_a3com",
    "rj": "ruijie_ac", "rjgone": "ruijie_ac_unplugged", "rjstandby": "ruijie_ac_standby",
}.items()}


@pytest.fixture(scope="module")
def sim() -> Iterator[int]:
    with snmpsim(WALKS) as port:
        yield port


def config(port: int, controllers: dict[str, tuple[str, str]], area: str,
           extra: str = "") -> str:
    out = "[probes.wifi]\n" + extra
    for name, (vendor, community) in controllers.items():
        out += f"""
[probes.wifi.controllers.{name}]
vendor = "{vendor}"
host = "127.0.0.1"
port = {port}
community = "{community}"
timeout = 1.0
retries = 1
"""
    return out + "\n[probes.wifi.areas.room]\nkind = \"teaching\"\n" + area + "\n"


UNPLUGGED = [
    # vendor, before, after, area, the AP unplugged, area (total, online) before
    ("huawei", "hw", "hwgone", 'ap_groups = ["teach-a"]', "JXL-A-101", (2, 2)),
    ("h3c", "h3c", "h3cgone", 'aps = ["H3C-AP-*"]', "H3C-AP-1", (4, 1)),
    ("ruijie", "rj", "rjgone", 'ap_groups = ["jxl-c"]', "RJ-AP-1", (2, 1)),
]


@pytest.mark.integration
@pytest.mark.parametrize(("vendor", "before", "after", "area", "gone", "counts"), UNPLUGGED,
                         ids=[u[0] for u in UNPLUGGED])
def test_unplugged_ap_reads_down_then_back(sim: int, tmp_path: Path, vendor: str, before: str,
                                           after: str, area: str, gone: str,
                                           counts: tuple[int, int]) -> None:
    def poll(community: str) -> list:  # type: ignore[type-arg]
        # One school, one state dir; only what the controller answers changes.
        return collect(make_probe(tmp_path, config(sim, {"ac": (vendor, community)}, area)))

    first = one(poll(before), "wifi_area", area="room", area_kind="teaching")
    assert (first["aps_total"], first["aps_online"]) == counts
    readings = poll(after)
    room = one(readings, "wifi_area", area="room", area_kind="teaching")
    # The AP left every table; remembered, it still counts, as down.
    assert (room["aps_total"], room["aps_online"]) == (counts[0], counts[1] - 1)
    assert room["aps_remembered"] == 1
    lost = one(readings, "wifi_ap", ap=gone, controller="ac")
    assert lost["remembered"] is True and lost["last_seen_seconds"] >= 0
    assert one(readings, "wifi_controller", controller="ac")["aps_remembered"] == 1
    back = poll(before)
    assert one(back, "wifi_area", area="room", area_kind="teaching")["aps_online"] == counts[1]
    assert not [r for r in back if r.measurement == "wifi_ap" and r.tags["ap"] == gone]


@pytest.mark.integration
def test_retired_ap_no_longer_counts(sim: int, tmp_path: Path) -> None:
    area = 'ap_groups = ["teach-a"]'
    collect(make_probe(tmp_path, config(sim, {"ac": ("huawei", "hw")}, area)))
    readings = collect(make_probe(tmp_path, config(sim, {"ac": ("huawei", "hwgone")}, area,
                                                   'retired_aps = ["JXL-A-101"]\n')))
    room = one(readings, "wifi_area", area="room", area_kind="teaching")
    assert (room["aps_total"], room["aps_online"], room["covered"]) == (1, 1, True)
    assert "JXL-A-101" not in json.loads((tmp_path / "state" / FILE_NAME).read_text())["ac"]


@pytest.mark.integration
def test_cross_check_gap_beyond_the_inventory(sim: int, tmp_path: Path) -> None:
    area = 'ap_groups = ["teach-a"]'
    # Fresh state: the AC counts 6 APs and lists 5; nothing explains the sixth.
    fresh = collect(make_probe(tmp_path / "a", config(sim, {"ac": ("huawei", "hwgone")}, area)))
    ctl = one(fresh, "wifi_controller", controller="ac", vendor="huawei")
    assert (ctl["ctl_aps_total"], ctl["aps"], ctl["count_gap"], ctl["counts_agree"]) == \
        (6, 5, 1, False)
    # Known from an earlier poll, the missing AP is the one the AC still counts.
    collect(make_probe(tmp_path / "b", config(sim, {"ac": ("huawei", "hw")}, area)))
    known = collect(make_probe(tmp_path / "b", config(sim, {"ac": ("huawei", "hwgone")}, area)))
    ctl = one(known, "wifi_controller", controller="ac", vendor="huawei")
    assert (ctl["aps"], ctl["aps_remembered"], ctl["count_gap"], ctl["counts_agree"]) == \
        (6, 1, 0, True)


@pytest.mark.integration
@pytest.mark.parametrize(("vendor", "community", "area"), [
    ("h3c", "h3cstandby", 'aps = ["H3C-AP-*"]'), ("ruijie", "rjstandby", 'aps = ["RJ-*"]')])
def test_standby_controller_recognised_from_the_mib(sim: int, tmp_path: Path, vendor: str,
                                                    community: str, area: str) -> None:
    # No role = "backup" in the config: the MIB says this AC is the standby.
    readings = collect(make_probe(tmp_path, config(sim, {"ac": (vendor, community)}, area)))
    ctl = one(readings, "wifi_controller", controller="ac", vendor=vendor)
    assert ctl["aps_down"] == 0 and ctl["aps_standby"] == ctl["aps"] > 0
    room = one(readings, "wifi_area", area="room", area_kind="teaching")
    assert (room["aps_total"], room["result"], room["covered"]) == (0, "partial", False)
    assert not [r for r in readings if r.measurement == "wifi_ap"]


@pytest.mark.integration
def test_standby_beside_active_pair(sim: int, tmp_path: Path) -> None:
    pair = {"ac1": ("h3c", "h3c"), "ac2": ("h3c", "h3cstandby")}
    readings = collect(make_probe(tmp_path, config(sim, pair, 'aps = ["H3C-AP-*"]')))
    assert one(readings, "wifi_controller", controller="ac2")["ha_state"] == "standby"
    room = one(readings, "wifi_area", area="room", area_kind="teaching")
    assert (room["aps_total"], room["aps_online"], room["clients"]) == (4, 1, 7)


@pytest.mark.integration
@pytest.mark.parametrize(("vendor", "community", "generation", "area", "counts"), [
    ("h3c", "h3cold", "h3c", 'aps = ["H3C-AP-*"]', (4, 1)),
    ("h3c", "a3com", "a3com", 'aps = ["H3C-AP-*"]', (4, 1)),
    ("huawei", "hwold", "huawei-wlan-device", 'aps = ["OLD-AP-*"]', (2, 1)),
])
def test_older_firmware_generations(sim: int, tmp_path: Path, vendor: str, community: str,
                                    generation: str, area: str, counts: tuple[int, int]) -> None:
    readings = collect(make_probe(tmp_path, config(sim, {"ac": (vendor, community)}, area)))
    ctl = one(readings, "wifi_controller", controller="ac", vendor=vendor)
    assert (ctl["result"], ctl["generation"]) == ("ok", generation)
    room = one(readings, "wifi_area", area="room", area_kind="teaching")
    assert (room["aps_total"], room["aps_online"]) == counts


@pytest.mark.integration
def test_unwritable_state_dir_is_logged_not_raised(sim: int, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "state").write_text("a file where the state directory should be")
    readings = collect(make_probe(tmp_path, config(sim, {"ac": ("h3c", "h3c")},
                                                   'aps = ["H3C-AP-*"]')))
    # The poll still counts; only its memory is lost, and the log says where.
    assert one(readings, "wifi_controller", controller="ac", vendor="h3c")["aps"] == 5
    assert "could not save the AP inventory" in caplog.text
    assert str(tmp_path / "state" / FILE_NAME) in caplog.text
