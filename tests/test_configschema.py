"""The typed config machinery: sections become frozen dataclasses, every problem is named."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agent.contract.configschema import (
    INVALID,
    Problem,
    Source,
    between,
    build,
    check,
    load,
    one_of,
    opt,
    section,
)
from agent.contract.errors import ConfigError, ConfigErrors
from collector import config as collector_config


@section
class Device:
    host: str = opt()
    port: int = opt(161, between(1, 65535))


@section
class Probe:
    mode: str = opt("http", one_of("http", "iperf3"))
    rate: float = opt(1.0)
    port: str | int = opt("")
    floor: int | None = opt(None, between(-10, 200))
    windows: list[str] = opt([])
    ports: tuple[int, ...] = opt(())
    devices: dict[str, Device] = opt()

    def problems(self) -> list[Problem]:
        return [((name,), "needs a host") for name, d in self.devices.items() if not d.host]


@section
class File:
    probe: Probe = opt()
    name: str = opt()


TEXT = """\
name = "x"
[probe]
mode = "ftp"
rate = 2
prot = 3
windows = ["a", 1]
[probe.devices.sw1]
host = "10.0.0.1"
port = 0
[probe.devices.sw2]
"""


def test_a_section_is_a_frozen_typed_dataclass(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text('name = "x"\n[probe]\nrate = 2\nports = [1, 2]\n'
                    '[probe.devices.a]\nhost = "h"\n', encoding="utf-8")
    cfg = load(path, File)
    assert cfg.probe.rate == 2.0 and isinstance(cfg.probe.rate, float)  # an integer is a number
    assert cfg.probe.ports == (1, 2) and cfg.probe.windows == []
    assert cfg.probe.devices["a"] == Device(host="h", port=161)
    assert cfg.probe.floor is None and cfg.probe.port == ""
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "y"  # type: ignore[misc]


def test_every_problem_of_a_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(TEXT, encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load(path, File)
    found = {(e.key, e.line): e.message for e in caught.value.errors}
    assert found == {
        ("probe.mode", 3): "must be one of http, iperf3, got 'ftp'",
        ("probe.prot", 5): "unknown key (did you mean 'port'?)",
        ("probe.windows.1", 6): "must be a string, got 1",
        ("probe.devices.sw1.port", 9): "must be between 1 and 65535, got 0",
        ("probe.devices.sw2.host", 10): "is required but missing",
    }
    # One line per problem, each naming the file, so the CLI can print them as they are.
    assert str(caught.value).count(f"{path}:") == 5


def test_cross_key_problems_run_once_the_keys_are_valid() -> None:
    with pytest.raises(ConfigErrors) as caught:
        build(Probe, {"devices": {"a": {"host": ""}}})
    assert [(e.key, e.message) for e in caught.value.errors] == [("a", "needs a host")]
    src = Source("f", "")
    assert check({"devices": {"a": {"port": "x"}}}, Probe, src) is INVALID
    # The device's own errors are reported; problems() never saw an invalid section.
    assert sorted(e.key for e in src.errors) == ["devices.a.host", "devices.a.port"]


def test_build_fills_defaults_and_refuses_what_a_file_would() -> None:
    assert build(Device, {"host": "h"}).port == 161
    with pytest.raises(ConfigError, match="must be an integer, got True"):
        build(Device, {"host": "h", "port": True})


def test_a_file_that_is_not_utf8_says_how_to_save_it(tmp_path: Path) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes('name = "x"\n# 教学点\n'.encode("gbk"))
    with pytest.raises(ConfigError) as caught:
        load(path, File)
    assert caught.value.line == 2 and "save it as UTF-8" in str(caught.value)


def test_a_retired_key_says_what_replaced_it(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text('[mqtt]\nhost = "b"\nworkers = 2\n[storage]\nkind = "influxdb1"\n'
                    'url = "http://127.0.0.1:8086"\n', encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        collector_config.load(path)
    assert [(e.key, e.line, e.message) for e in caught.value.errors] == [
        ("mqtt.workers", 3, "unknown key (removed: run one schoolnet-collector@N.service "
                            "instance per process)")]
