"""Config checks a school engineer meets first: region codes, probe extras."""

from __future__ import annotations

import asyncio
import configparser
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.config import ProbeConfig, region_code_problems
from agent.contract.reading import Reading
from agent.contract.wire import Identity
from agent.extras import EXTRAS, MODULES, Need, needs, pip_command
from agent.probes import Probe, ProbeContext
from agent.scheduler import Scheduler

REPO = Path(__file__).resolve().parents[1]


def test_contradicting_region_codes_are_named() -> None:
    problems = region_code_problems("37", "4401", "370102")
    assert [key for key, _ in problems] == [("city",), ("county",)]
    assert "city code 4401 is not in province 37" in problems[0][1]


@pytest.mark.parametrize("codes", [("37", "3701", "370102"), ("sd", "jinan", "lixia"),
                                   ("37", "3701", "lixia")])
def test_nested_codes_and_slugs_pass(codes: tuple[str, str, str]) -> None:
    assert region_code_problems(*codes) == []


def test_extras_mirror_setup_cfg() -> None:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    declared = parser["options.extras_require"]
    for extra, packages in EXTRAS.items():
        lines = [line for line in declared[extra].splitlines()
                 if line.strip() and not line.strip().startswith("#")]
        assert tuple(line.strip() for line in lines) == packages
    assert set(MODULES) == set(EXTRAS)


def test_probe_needs_follow_their_options() -> None:
    wifi = SimpleNamespace(controllers={"ac": object()}, scan_interface="wlan0",
                           scan_method="scapy")
    assert needs("wifi", wifi) == [Need("wifi", "snmp"), Need("wifi", "wifi-sniff")]
    assert needs("classroom_links", None) == [Need("classroom_links", "snmp")]
    assert needs("wan_link", None) == []
    command = pip_command(["snmp"])
    assert command.endswith("-m pip install 'cryptography>=42' 'pysnmp>=7.1,<8'")


def test_installer_reads_the_extras_from_the_example_config(
        capsys: pytest.CaptureFixture[str]) -> None:
    from agent import extras
    assert extras.main([str(REPO / "configs/agent.example.toml")]) == 0
    assert capsys.readouterr().out.strip() == "ipv6,snmp"


def test_collector_paths_are_the_config_files_neighbours(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from collector import config as collector_config
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/schools.csv").write_text((REPO / "configs/schools.example.csv").read_text())
    path = tmp_path / "etc/collector.toml"
    path.write_text('[mqtt]\nhost = "127.0.0.1"\n[storage]\nkind = "influxdb1"\n'
                    'url = "http://127.0.0.1:8086"\n[registry]\nfile = "schools.csv"\n'
                    '[alerts]\nstate_file = "state/alerts.json"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # anywhere but the config's directory
    cfg = collector_config.load(path)
    assert cfg.registry.file == str(tmp_path / "etc/schools.csv")
    assert cfg.alerts.state_file == str(tmp_path / "etc/state/alerts.json")


def test_a_silent_schools_alert_is_in_one_language() -> None:
    from collector.judge.alerts import Alert
    from collector.judge.registry import School
    school = School("b-1", "学校b", "37", "山东省", "3701", "济南市", "370102", "历下区",
                    "primary", 12, 1000)
    alert = Alert("silent", school, "", "2026-12-01 08:00 UTC", 0)
    assert alert.text("zh") == "学校b（b-1）监测探针失联：最后一次上报 2026-12-01 08:00 UTC"
    assert alert.text("en") == "学校b (b-1) agent is silent: last reading 2026-12-01 08:00 UTC"


# Named as real probes: probe_run's tag takes only the contract's probe names.
class _NoModule(Probe):
    name = "ipv6"

    def collect(self) -> list[Reading]:
        import importlib
        importlib.import_module("schoolnet_missing_extra_module")
        return []


class _NoPrivilege(Probe):
    name = "wifi"

    def collect(self) -> list[Reading]:
        raise PermissionError(1, "Operation not permitted")


def test_a_probe_that_cannot_run_says_why_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    ctx = ProbeContext(Identity("37", "3701", "370102", "s1"), "primary", Path("/tmp"))
    scheduler = Scheduler([ProbeConfig(c.name, c, 60.0, 5.0, {})
                           for c in (_NoModule, _NoPrivilege)], ctx)
    with caplog.at_level(logging.ERROR):
        runs = {r.tags["probe"]: r.fields for r in asyncio.run(scheduler.run_once())}
    assert runs["ipv6"]["reason"] == "module 'schoolnet_missing_extra_module' is not " \
        "installed"
    assert runs["wifi"]["reason"] == "not permitted: Operation not permitted"
    assert all(r.exc_info is None for r in caplog.records)  # no tracebacks
    assert "probe wifi cannot run: not permitted" in caplog.text


def test_status_speaks_the_locales_language() -> None:
    from agent.doctor import Check
    from agent.doctortext import language, render
    found = [Check("config", True, "school s1"),
             Check("dns", False, "cannot resolve 'x'", "check [mqtt] host", "dns",
                   {"where": "x:8883"}),
             Check("tcp", False, "refused", "check port", "refused", {})]
    assert language(None, {"LANG": "zh_CN.UTF-8"}) == "zh"
    assert language(None, {"LC_ALL": "C.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert language("zh", {}) == "zh"
    zh = render(found, "a.toml", "zh", "utf-8")
    assert "✔ 配置有效: school s1" in zh
    assert "    → 处理办法: 检查 [mqtt] host 的拼写和本网关的 DNS 设置" in zh
    assert "? 上没有代理服务器在监听" in zh  # a missing particular is shown, not an error
    assert zh.endswith("2 项检查未通过：请先处理第一个 ✘")
    plain = render(found, "a.toml", "en", "ascii")
    assert "OK   config valid: school s1" in plain and "FAIL broker name resolves" in plain
