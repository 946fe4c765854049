"""Config errors name file, line and key; the CLI exits 2; loading needs no network."""

from __future__ import annotations

import importlib
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent import config as agent_config
from agent.contract.errors import ConfigError
from collector import config as collector_config

REPO = Path(__file__).resolve().parents[1]
GOOD = """\
[school]
id = "370102-0001"
province = "37"
city = "3701"
county = "370102"

[mqtt]
host = "mqtt.edu.example.cn"

[probes.wan_link]
interval = 30
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        agent_config.load(path)
    return err.value


def test_examples_load() -> None:
    cfg = agent_config.load(REPO / "configs/agent.example.toml")
    assert cfg.identity.school_id == "370102-0001"
    # wan_throughput ships disabled: a test fills the school's exit for a few seconds
    assert [p.name for p in cfg.probes] == ["wan_link", "ipv6", "classroom_links", "wifi"]
    collector = collector_config.load(REPO / "configs/collector.example.toml")
    assert collector.storage.kind == "influxdb1"


def test_defaults_are_filled(tmp_path: Path) -> None:
    cfg = agent_config.load(write(tmp_path, GOOD))
    assert cfg.mqtt.port == 8883 and cfg.mqtt.tls is True
    probe = cfg.probes[0]
    assert (probe.interval, probe.timeout, probe.opts.interface) == (30.0, 30.0, "")


@pytest.mark.parametrize(("change", "key", "line", "words"), [
    (("[mqtt]\n", "[mqtt]\nhots = \"x\"\n"), "mqtt.hots", 8, "did you mean 'host'"),
    (('interval = 30', 'interval = "30s"'), "probes.wan_link.interval", 11, "must be a number"),
    (('interval = 30', 'interval = -1'), "probes.wan_link.interval", 11, "between"),
    (('interval = 30', 'intreval = 30'), "probes.wan_link.intreval", 11, "unknown key"),
    (('county = "370102"\n', ''), "school.county", 1, "required"),
    (('province = "37"', 'province = "山东"'), "school.province", 3, "ASCII"),
    (("[probes.wan_link]", "[probes.wan_lnk]"), "probes.wan_lnk", 10, "unknown probe"),
    (("[mqtt]\n", "[mqtt]\nport = true\n"), "mqtt.port", 8, "must be an integer"),
    (("[mqtt]\n", "[mqtt]\ncert_file = \"/nonexistent.pem\"\n"), "mqtt.cert_file", 8,
     "does not exist"),
])
def test_bad_values_name_key_and_line(tmp_path: Path, change: tuple[str, str], key: str,
                                      line: int, words: str) -> None:
    err = error_of(write(tmp_path, GOOD.replace(*change)))
    assert (err.key, err.line) == (key, line)
    assert words in err.message
    assert str(err).startswith(f"{tmp_path / 'agent.toml'}:{line}: key '{key}'")


def test_syntax_error_names_line(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace('city = "3701"', 'city = 3701"')))
    assert err.line == 4 and "not valid TOML" in err.message


def test_unreadable_file(tmp_path: Path) -> None:
    err = error_of(tmp_path / "missing.toml")
    assert "cannot read" in err.message


def test_collector_needs_token_for_v2(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[mqtt]\nhost = "b"\n[storage]\nkind = "influxdb2"\n'
                    'url = "http://127.0.0.1:8086"\norg = "edu"\n')
    with pytest.raises(ConfigError) as err:
        collector_config.load(path)
    assert err.value.key == "storage.token" and err.value.line == 3


@dataclass
class Cli:
    returncode: int
    stdout: str
    stderr: str


def run_cli(script: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> Cli:
    """The command's main() in this process: its exit code and what it printed.

    The console scripts call the same main(); test_version covers that wiring
    in a real process.
    """
    root = logging.getLogger()
    level = root.level
    try:
        code = importlib.import_module(script).main(argv)
    finally:
        root.setLevel(level)  # main() applies the config's log level
    out = capsys.readouterr()
    return Cli(code, out.out, out.err)


@pytest.mark.parametrize(("script", "example"), [("agent.cli", "agent.example.toml"),
                                                 ("collector.cli", "collector.example.toml")])
def test_cli_exits_2_and_names_the_key(tmp_path: Path, script: str, example: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / "configs" / example).read_text(encoding="utf-8")
    path = write(tmp_path, text.replace("[mqtt]\n", "[mqtt]\nbogus = 1\n"))
    out = run_cli(script, ["check-config", "-c", str(path)], capsys)
    assert out.returncode == 2
    assert f"{path}:" in out.stderr and "bogus" in out.stderr


@pytest.mark.integration
def test_check_config_needs_no_network(tmp_path: Path) -> None:
    """In a network namespace with no interfaces up, a config naming a DNS host loads."""
    assert shutil.which("unshare"), "util-linux unshare is needed (deploy/test.sh installs it)"
    path = write(tmp_path, GOOD)
    out = subprocess.run(["unshare", "--net", sys.executable, "-m", "agent.cli",
                          "check-config", "-c", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "OK" in out.stdout and "wan_link every 30s" in out.stdout


@pytest.mark.integration
@pytest.mark.parametrize("script", ["agent.cli", "collector.cli"])
def test_version(script: str) -> None:
    out = subprocess.run([sys.executable, "-m", script, "--version"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "0.1.0" in out.stdout


@pytest.mark.parametrize(("script", "example"), [("agent.cli", "agent.example.toml"),
                                                 ("collector.cli", "collector.example.toml")])
def test_check_config_lists_every_problem_at_once(tmp_path: Path, script: str, example: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / "configs" / example).read_text(encoding="utf-8")
    text = text.replace("[mqtt]\n", "[mqtt]\nbogus = 1\nkeepalive = 0\n", 1)
    path = write(tmp_path, text.replace("keepalive = 60", ""))
    out = run_cli(script, ["check-config", "-c", str(path)], capsys)
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert any("'mqtt.bogus': unknown key" in line for line in lines), out.stderr
    assert any("'mqtt.keepalive': must be between 5 and 3600" in line for line in lines)
    assert all(line.startswith(f"config error: {path}:") for line in lines), out.stderr
