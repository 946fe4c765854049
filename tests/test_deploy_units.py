"""The systemd units as shipped: what a restart loop or a read-only file system
would otherwise find out in the field (pure logic: the files are read, nothing
runs; ``tests/test_deploy_install.py`` verifies them with systemd-analyze)."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from agent import config as agent_config
from collector import config as collector_config

REPO = Path(__file__).resolve().parents[1]
UNITS = sorted((REPO / "deploy/systemd").glob("*.service"))


def service(path: Path) -> configparser.SectionProxy:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(path)
    return unit["Service"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_a_config_error_is_not_restarted(path: Path) -> None:
    # Both programs exit 2 on a config error (tests/test_check_config.py).
    assert service(path)["RestartPreventExitStatus"].split() == ["2"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_comments_name_only_scripts_that_ship(path: Path) -> None:
    comments = "\n".join(line for line in path.read_text().splitlines()
                         if line.startswith("#"))
    for name in re.findall(r"[\w.-]+\.sh\b", comments):
        assert list(REPO.glob(f"deploy/**/{name}")), \
            f"{path.name} names {name}, which does not exist"


@pytest.mark.parametrize("name", ["schoolnet-collector.service", "schoolnet-collector@.service"])
def test_collector_alert_state_lies_in_its_state_directory(name: str) -> None:
    svc = service(REPO / "deploy/systemd" / name)
    assert svc["ProtectSystem"] == "strict"  # nothing else is writable
    state_dir = Path("/var/lib") / svc["StateDirectory"]
    example = collector_config.load(REPO / "configs/collector.example.toml")
    assert Path(example.alerts.state_file).parent == state_dir


def test_agent_spool_lies_in_its_state_directory() -> None:
    svc = service(REPO / "deploy/systemd/schoolnet-agent.service")
    example = agent_config.load(REPO / "configs/agent.example.toml")
    assert example.state_dir == Path("/var/lib") / svc["StateDirectory"]


def test_reflector_unit_binds_its_port_with_one_capability_and_valid_arguments() -> None:
    from collector.cli import _parser

    svc = service(REPO / "deploy/systemd/schoolnet-reflector.service")
    assert svc["CapabilityBoundingSet"] == svc["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert svc["DynamicUser"] == "yes" and svc["ProtectSystem"] == "strict"
    argv = svc["ExecStart"].split()
    assert argv[0] == "/opt/schoolnet-collector/bin/schoolnet-collector"
    args = _parser().parse_args(argv[1:])  # the shipped arguments are the CLI's
    assert args.command == "reflector" and args.port == 862 and args.rate == 50
