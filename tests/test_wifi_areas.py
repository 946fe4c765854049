"""Coverage rules per area and the config that declares areas (constructed inputs, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import example
from agent.config import load
from agent.contract.errors import ConfigError
from agent.probes.wifi.aps import OFFLINE, ONLINE, STANDBY, ApState, merge_ha
from agent.probes.wifi.areas import Area, judge_area
from tests.wifi_support import make_probe, write_config

TEACH = Area("A", "teaching", True, ("T-*", "T-9"), ("teach",))


def aps(*rows: ApState) -> dict[str, ApState]:
    return merge_ha(rows)


def test_online_ap_and_strong_signal_cover() -> None:
    r = judge_area(TEACH, aps(ApState("T-1", ONLINE, clients=4), ApState("T-9", ONLINE)),
                   -60.0, "survey", -67.0)
    assert (r.aps_total, r.aps_online, r.clients, r.covered, r.result) == (2, 2, 4, True, "ok")
    assert r.sources == ["controller", "survey"]


def test_weak_signal_fails_even_with_aps_online() -> None:
    r = judge_area(TEACH, aps(ApState("T-1", ONLINE)), -70.0, "survey", -67.0)
    assert r.covered is False and r.result == "ok"
    # Exactly at the threshold counts.
    assert judge_area(TEACH, aps(ApState("T-1", ONLINE)), -67.0, "scan", -67.0).covered


def test_all_aps_down_is_not_covered() -> None:
    r = judge_area(TEACH, aps(ApState("T-1", OFFLINE)), None, "", -67.0)
    # T-9 is named explicitly, missing from every controller: down as well.
    assert (r.aps_total, r.aps_online, r.covered) == (2, 0, False)


def test_group_match_and_unrelated_aps() -> None:
    r = judge_area(TEACH, aps(ApState("X-1", ONLINE, group="teach"), ApState("Y-1", ONLINE)),
                   None, "", -67.0)
    assert (r.aps_total, r.aps_online) == (2, 1)  # X-1 by group, T-9 missing


def test_signal_alone_covers_without_controllers() -> None:
    r = judge_area(TEACH, None, -50.0, "survey", -67.0)
    assert (r.covered, r.result, r.aps_total) == (True, "ok", None)
    assert judge_area(TEACH, None, None, "", -67.0).result == "no_data"


def test_merge_ha_prefers_the_active_controller() -> None:
    merged = merge_ha([ApState("T-1", STANDBY, "teach", 0, "ac2"),
                       ApState("T-1", ONLINE, "", 12, "ac1"),
                       ApState("T-2", OFFLINE, "", None, "ac1"),
                       ApState("T-2", STANDBY, "teach", None, "ac2")])
    assert merged["T-1"] == ApState("T-1", ONLINE, "teach", 12, "ac1")
    assert merged["T-2"].state == OFFLINE and merged["T-2"].group == "teach"


def test_required_defaults_by_kind(tmp_path: Path) -> None:
    probe = make_probe(tmp_path, """
[probes.wifi.areas.canteen]
kind = "other"

[probes.wifi.areas.hall]
kind = "activity"

[probes.wifi.areas.store]
kind = "other"
required = true
""")
    assert {a.name: a.required for a in probe.areas} == \
        {"canteen": False, "hall": True, "store": True}


@pytest.mark.parametrize(("toml", "key", "words"), [
    ('[probes.wifi.areas.a]\nkind = "gym"\n', "probes.wifi.areas.a.kind", "must be one of"),
    ('[probes.wifi.areas.a]\nkind = "office"\nap = ["x"]\n', "probes.wifi.areas.a.ap",
     "did you mean 'aps'"),
    ('[probes.wifi.areas.a]\nkind = "office"\naps = "T-*"\n', "probes.wifi.areas.a.aps",
     "must be a list"),
    ('[probes.wifi.areas.a]\nkind = "office"\naps = [1]\n', "probes.wifi.areas.a.aps",
     "list of names"),
    ('[probes.wifi]\nmin_signal_dbm = -200\n', "probes.wifi.min_signal_dbm", "between"),
    ('[probes.wifi.controllers.ac]\nvendor = "cisco"\nhost = "127.0.0.1"\n',
     "probes.wifi.controllers.ac.vendor", "huawei, h3c, ruijie"),
    ('[probes.wifi.controllers.ac]\nvendor = "h3c"\n', "probes.wifi.controllers.ac.host",
     "required"),
    ('[probes.wifi]\nscan_interface = "wlan0 x"\n', "probes.wifi.scan_interface", "interface"),
])
def test_config_errors_name_file_line_and_key(tmp_path: Path, toml: str, key: str,
                                               words: str) -> None:
    path = write_config(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load(path)
    err = info.value
    assert err.key == key and words in err.message and err.file == str(path)
    assert err.line is not None
    line = path.read_text().splitlines()[err.line - 1]
    # The key's own line, or its table's header when the key is missing.
    parts = key.split(".")
    assert line.startswith(parts[-1]) or line == "[" + ".".join(parts[:-1]) + "]", line


@pytest.mark.parametrize(("toml", "key", "words"), [
    ('[probes.wifi]\nscan_interface = "wlan0"\nscan_area = "nowhere"\n',
     "probes.wifi.scan_area", "names no area"),
    ('[probes.wifi]\nscan_area = "a"\n[probes.wifi.areas.a]\nkind = "office"\n',
     "probes.wifi.scan_area", "needs scan_interface"),
    ('[probes.wifi.controllers.ac]\nvendor = "huawei"\nhost = "127.0.0.1"\ncommunity = ""\n',
     "probes.wifi.controllers.ac.community", "must not be empty"),
    ('[probes.wifi.controllers.ac]\nvendor = "huawei"\nhost = "h"\nversion = "3"\n',
     "probes.wifi.controllers.ac.user", "required"),
])
def test_cross_key_errors_at_load(tmp_path: Path, toml: str, key: str, words: str) -> None:
    path = write_config(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.key == key and words in info.value.message
    assert info.value.line is not None and info.value.file == str(path)


def test_the_sample_builds_a_probe(tmp_path: Path) -> None:
    probe = make_probe(tmp_path, example.probe_sample("wifi"))
    assert [(a.name, a.kind, a.required) for a in probe.areas] == [("教学楼A", "teaching", True)]
    ac1 = probe.opts.controllers["ac1"]
    assert (ac1.vendor, ac1.role, ac1.target.label) == ("huawei", "primary", "10.0.0.2:161")
    assert probe.opts.min_signal_dbm == -67.0


@pytest.mark.integration
def test_probe_module_loads_no_heavy_library() -> None:
    import subprocess
    import sys

    code = ("import sys, agent.probes.wifi.probe, agent.probes.wifi.survey; "
            "heavy = [m for m in ('pysnmp', 'scapy') if m in sys.modules]; "
            "sys.exit(str(heavy) if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, check=False)
    assert done.returncode == 0, done.stderr
