"""deploy/install-collector.sh in a throwaway root: the layout the units expect,
the config's mode (also over an existing file), and what the installed command
says about the registry it still needs.

Like the agent's installer test: a real venv, pip installing from an offline
wheelhouse repacked from this test venv's own packages, no traffic.
"""

from __future__ import annotations

import filecmp
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy_support import REPO, tree, wheelhouse, write_registry

# Integration tier: the install script, pip and the installed command.
pytestmark = pytest.mark.integration

SCRIPT = REPO / "deploy/install-collector.sh"
UNITS = ("schoolnet-collector.service", "schoolnet-collector@.service",
         "schoolnet-reflector.service")


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("install-collector")
    wheel = wheelhouse(tmp / "wheels", ("paho-mqtt", "influxdb-client", "msgspec", "XlsxWriter"))
    root = tmp / "root"
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "DESTDIR": str(root),
           "PIP_OPTS": f"--no-index --find-links {wheel.parent}"}
    out = subprocess.run(["sh", str(SCRIPT), "--source", str(wheel)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    yield root, env


def run_install(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(["sh", str(SCRIPT), *args], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_produces_what_the_units_expect(staged: tuple[Path, dict[str, str]]) -> None:
    root, _ = staged
    for unit in UNITS:  # as shipped, so the tested units are the installed ones
        assert filecmp.cmp(root / "etc/systemd/system" / unit, REPO / "deploy/systemd" / unit,
                           shallow=False)
    assert (root / "opt/schoolnet-collector/bin/schoolnet-collector").is_file()  # ExecStart
    assert os.readlink(root / "usr/local/bin/schoolnet-collector") == \
        "/opt/schoolnet-collector/bin/schoolnet-collector"
    # SupplementaryGroups=schoolnet exists once systemd-sysusers reads this.
    assert (root / "usr/lib/sysusers.d/schoolnet-collector.conf").read_text() == \
        "g schoolnet -\n"
    config = root / "etc/schoolnet/collector.toml"
    assert mode(config) == 0o640  # broker and database passwords
    text = config.read_text(encoding="utf-8")
    assert 'file = "/etc/schoolnet/schools.csv"' in text
    assert 'file = "/etc/schoolnet/targets.toml"' in text
    assert 'state_file = "/var/lib/schoolnet-collector/alerts.json"' in text  # StateDirectory
    assert filecmp.cmp(root / "etc/schoolnet/targets.toml", REPO / "configs/targets.toml",
                       shallow=False)


def test_installed_command_names_the_missing_registry_then_passes(
        staged: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, _ = staged
    command = str(root / "opt/schoolnet-collector/bin/schoolnet-collector")
    config = root / "etc/schoolnet/collector.toml"
    # As installed, its paths point into /etc/schoolnet: seen from the staged root.
    text = config.read_text(encoding="utf-8").replace('"/etc/schoolnet/',
                                                      f'"{root}/etc/schoolnet/')
    text = text.replace('"/var/lib/schoolnet-collector/', f'"{tmp_path}/state/')
    staged_config = tmp_path / "collector.toml"
    staged_config.write_text(text, encoding="utf-8")
    out = subprocess.run([command, "check-config", "-c", str(staged_config)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out
    assert (f"key 'registry.file': names a file that does not exist, got "
            f"'{root}/etc/schoolnet/schools.csv'") in out.stderr, out.stderr
    write_registry(root / "etc/schoolnet/schools.csv", ["370102-0001"])
    try:
        ok = subprocess.run([command, "check-config", "-c", str(staged_config)],
                            capture_output=True, text=True, timeout=60)
    finally:
        (root / "etc/schoolnet/schools.csv").unlink()
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stderr


def test_reinstall_keeps_the_config_and_fixes_its_mode_and_uninstall_keeps_state(
        staged: tuple[Path, dict[str, str]]) -> None:
    root, env = staged
    config = root / "etc/schoolnet/collector.toml"
    config.write_text(config.read_text().replace('password = ""', 'password = "edited"', 1))
    config.chmod(0o644)  # as a copy by hand left it
    wheel = next(Path(env["PIP_OPTS"].split()[-1]).glob("schoolnet_audit-*.whl"))
    assert "keeping the existing" in run_install(env, "--source", str(wheel))
    assert 'password = "edited"' in config.read_text() and mode(config) == 0o640
    state = root / "var/lib/private/schoolnet-collector"
    state.mkdir(parents=True)
    (state / "alerts.json").write_text("{}")
    assert "kept" in run_install(env, "--uninstall")
    assert tree(root) == {"etc/schoolnet/collector.toml", "etc/schoolnet/targets.toml",
                          "var/lib/private/schoolnet-collector/alerts.json"}
    run_install(env, "--uninstall", "--purge")
    assert tree(root) == set()
