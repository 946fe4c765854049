"""deploy/install-agent.sh in a throwaway root, the systemd units, the OpenWrt init script.

The script runs for real with DESTDIR: a real venv, pip installing from an
offline wheelhouse, the real unit checked by ``systemd-analyze verify`` (Debian's
systemd package) against a root holding the installed files.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy_support import REPO, tree, wheelhouse

# Integration tier: the install script, systemd-analyze and shellcheck.
pytestmark = pytest.mark.integration

UNITS = REPO / "deploy" / "systemd"


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("install")
    wheel = wheelhouse(tmp / "wheels")
    root = tmp / "root"
    # Not the test run's PYTHONPATH: pip would take the checkout (and the
    # egg-info the wheel build leaves there) for an installed copy and skip it.
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "DESTDIR": str(root),
           "PIP_OPTS": f"--no-index --find-links {wheel.parent}"}
    # No extras: this wheelhouse holds the agent's own dependencies only.
    out = subprocess.run(["sh", str(REPO / "deploy/install-agent.sh"), "--source", str(wheel),
                          "--extras", "none"],
                         env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    yield root, env


def run_install(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(["sh", str(REPO / "deploy/install-agent.sh"), *args], env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def verify(root: Path, unit: str) -> str:
    """systemd-analyze verify in root; returns its complaints (none expected)."""
    units = root / "usr/lib/systemd/system"
    shutil.copytree("/usr/lib/systemd/system", units, symlinks=True)
    try:
        out = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}", unit],
                             capture_output=True, text=True, timeout=60)
        security = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                                   f"--root={root}", unit],
                                  capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(units)
    assert out.returncode == 0, out.stderr
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert level, security.stdout + security.stderr
    # verify exits 0 on unknown keys and bad values, printing them: none allowed.
    return out.stdout + out.stderr + f"\nexposure={level.group(1)}"


def exposure(report: str) -> float:
    return float(report.rsplit("exposure=", 1)[1])


def test_install_produces_the_layout(staged: tuple[Path, dict[str, str]]) -> None:
    root, _ = staged
    files = tree(root)
    for path in ("opt/schoolnet-agent/bin/schoolnet-agent", "etc/schoolnet/agent.toml",
                 "etc/systemd/system/schoolnet-agent.service",
                 "usr/lib/sysusers.d/schoolnet-agent.conf", "usr/local/bin/schoolnet-agent"):
        assert path in files, path
    assert "opt/schoolnet-agent/bin/schoolnet-collector" not in files  # a gateway's venv
    config = root / "etc/schoolnet/agent.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640  # it holds the broker password
    assert os.readlink(root / "usr/local/bin/schoolnet-agent") == \
        "/opt/schoolnet-agent/bin/schoolnet-agent"
    assert (root / "usr/lib/sysusers.d/schoolnet-agent.conf").read_text().startswith(
        "u schoolnet-agent - ")
    # The installed agent runs and reads the installed config ...
    agent = root / "opt/schoolnet-agent/bin/schoolnet-agent"
    out = subprocess.run([str(agent), "check-config", "-c", str(config)],
                         capture_output=True, text=True, timeout=60)
    # ... and, installed with --extras none, says which probes of the example
    # lack their packages and the command that installs them ...
    assert out.returncode == 2, out.stdout + out.stderr
    assert "key 'probes.ipv6': needs the optional packages of extra 'ipv6'" in out.stderr
    # The venv's interpreter by the name it runs under (python3 or python3.11).
    assert re.search(r"bin/python3(\.\d+)? -m pip install 'dnspython>=2\.3' 'scapy>=2\.5'",
                     out.stderr), out.stderr
    lean = root.parent / "lean.toml"  # not in the staged tree, which later tests compare
    lean.write_text(config.read_text().replace("[probes.ipv6]", "[probes.ipv6]\nenabled = false")
                    .replace("[probes.classroom_links]\n", "[probes.classroom_links]\n"
                             "enabled = false\n")
                    .replace("[probes.wifi]\n", "[probes.wifi]\nenabled = false\n"))
    out = subprocess.run([str(agent), "check-config", "-c", str(lean)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr
    # ... and the router install holds none of the collector's dependencies.
    python = root / "opt/schoolnet-agent/bin/python"
    probe = subprocess.run([str(python), "-c", "import paho.mqtt, psutil, influxdb_client"],
                           capture_output=True, text=True, timeout=60)
    assert "No module named 'influxdb_client'" in probe.stderr


def test_agent_unit_verifies_and_is_hardened(staged: tuple[Path, dict[str, str]]) -> None:
    root, _ = staged
    report = verify(root, "/etc/systemd/system/schoolnet-agent.service")
    assert report.split("\nexposure=")[0].strip() == "", report
    assert exposure(report) <= 2.5, report
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(root / "etc/systemd/system/schoolnet-agent.service")
    svc = unit["Service"]
    assert svc["Type"] == "notify" and int(svc["WatchdogSec"]) > 0
    assert svc["CapabilityBoundingSet"] == svc["AmbientCapabilities"] == "CAP_NET_RAW"
    assert svc["NoNewPrivileges"] == "yes" and svc["ProtectSystem"] == "strict"
    assert svc["User"] == "schoolnet-agent"


@pytest.mark.parametrize(("unit", "name"), [
    ("schoolnet-collector.service", "schoolnet-collector.service"),
    # The template, for several processes: verified as an instance of it.
    ("schoolnet-collector@.service", "schoolnet-collector@2.service")])
def test_collector_unit_verifies(tmp_path: Path, unit: str, name: str) -> None:
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNITS / unit, root / "etc/systemd/system")
    # The unit's ExecStart must exist in the root: the real console script.
    bindir = root / "opt/schoolnet-collector/bin"
    bindir.mkdir(parents=True)
    script = shutil.which("schoolnet-collector", path=str(Path(sys.executable).parent))
    assert script
    shutil.copy(script, bindir)
    report = verify(root, f"/etc/systemd/system/{name}")
    assert report.split("\nexposure=")[0].strip() == "", report
    assert exposure(report) <= 2.0, report
    text = (UNITS / unit).read_text()
    assert "CapabilityBoundingSet=\n" in text
    # The two differ only in what they say and in the instance argument.
    plain = (UNITS / "schoolnet-collector.service").read_text()
    body = text[text.index("[Unit]"):].replace(" %i (", " (").replace(" --instance %i", "")
    assert body == plain[plain.index("[Unit]"):]


def test_reinstall_keeps_config_and_uninstall_keeps_only_the_spool(
        staged: tuple[Path, dict[str, str]]) -> None:
    root, env = staged
    config = root / "etc/schoolnet/agent.toml"
    config.write_text(config.read_text().replace('id = "370102-0001"', 'id = "edited-1"'))
    config.chmod(0o644)  # as an older install or a copy by hand left it
    wheel = next(Path(env["PIP_OPTS"].split()[-1]).glob("schoolnet_audit-*.whl"))
    assert "keeping the existing" in run_install(env, "--source", str(wheel), "--extras", "none")
    assert 'id = "edited-1"' in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640  # it holds the broker password
    state = root / "var/lib/schoolnet-agent"
    state.mkdir(parents=True)
    for name in ("spool.sqlite3", "spool.sqlite3-wal", "other.tmp"):
        (state / name).write_bytes(b"x")
    run_install(env, "--uninstall", "--keep-spool")
    assert tree(root) == {"var/lib/schoolnet-agent/spool.sqlite3",
                          "var/lib/schoolnet-agent/spool.sqlite3-wal"}
    assert not (root / "etc/schoolnet").exists() and not (root / "opt/schoolnet-agent").exists()
    run_install(env, "--uninstall")
    assert tree(root) == set()


def documented_config_steps(readme: Path) -> list[str]:
    """The lines of a README's shell blocks that create /etc/schoolnet or agent.toml."""
    blocks = re.findall(r"```sh\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    return [line.split("#")[0].strip() for line in lines
            if line.startswith("umask")
            or (re.match(r"(mkdir|install|cp|chmod)\b", line) and "/etc/schoolnet" in line
                and ("agent.toml" in line or line.startswith("mkdir")))]


@pytest.mark.parametrize("readme", ["README.md", "deploy/openwrt/README.md"])
@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "over-an-existing-file"])
def test_documented_manual_install_writes_the_config_0640(tmp_path: Path, readme: str,
                                                          existing: bool) -> None:
    """The README's own commands, run as written with /etc moved into a temp root."""
    steps = documented_config_steps(REPO / readme)
    assert any("agent.toml" in step for step in steps), steps
    etc = tmp_path / "etc/schoolnet"
    if existing:
        etc.mkdir(parents=True)
        (etc / "agent.toml").write_text("# an older copy\n")
        (etc / "agent.toml").chmod(0o644)
    example = REPO / "configs/agent.example.toml"
    script = "set -e\numask 022\n" + "\n".join(
        step.replace("/etc/schoolnet", str(etc)).replace("configs/agent.example.toml", "EX")
        .replace(" agent.example.toml", " EX").replace("EX", str(example)) for step in steps)
    out = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, (script, out.stderr)
    config = etc / "agent.toml"
    assert config.read_text() == example.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640, script


def test_openwrt_init_script_registers_the_daemon(tmp_path: Path) -> None:
    """procd cannot run on Debian: a stand-in records what the script asks of it."""
    script = REPO / "deploy/openwrt/schoolnet-agent.init"
    assert subprocess.run(["sh", "-n", str(script)], timeout=10).returncode == 0
    log = tmp_path / "procd.log"
    fake_prog = tmp_path / "schoolnet-agent"
    fake_prog.write_text('#!/bin/sh\necho "prog $*" >> "$LOG"\n')  # stands in for the agent
    fake_prog.chmod(0o755)
    # The rc.common shebang line is what procd runs; the body is plain sh.
    body = tmp_path / "init.sh"
    body.write_text(script.read_text().split("\n", 1)[1])
    shim = f"""
LOG={log}; export LOG
procd_open_instance() {{ echo open >> $LOG; }}
procd_set_param() {{ echo "param $*" >> $LOG; }}
procd_close_instance() {{ echo close >> $LOG; }}
logger() {{ echo "logger $*" >> $LOG; }}
mkdir() {{ :; }}
. {body}
PROG={fake_prog}
start_service
"""
    out = subprocess.run(["sh", "-c", shim], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "prog check-config -c /etc/schoolnet/agent.toml"
    assert f"param command {fake_prog} run -c /etc/schoolnet/agent.toml" in lines
    assert "param respawn 3600 30 0" in lines and lines[-1] == "close"
    # A config that fails its check is logged and never handed to procd to respawn.
    log.unlink()
    fake_prog.write_text('#!/bin/sh\necho "prog $*" >> "$LOG"\nexit 2\n')
    out = subprocess.run(["sh", "-c", shim], capture_output=True, text=True, timeout=10)
    lines = log.read_text().splitlines()
    assert out.returncode != 0, lines
    assert lines[-1].startswith("logger -t schoolnet-agent not started:"), lines
    assert "open" not in lines


def test_shipped_shell_scripts_pass_shellcheck() -> None:
    """The scripts run on gateways with only a POSIX sh (dash, busybox ash)."""
    scripts = [REPO / "deploy/install-agent.sh", REPO / "deploy/install-collector.sh",
               REPO / "deploy/install-venv.sh",
               REPO / "deploy/mosquitto/make-certs.sh",
               *sorted((REPO / "deploy/influxdb").glob("*.sh"))]
    out = subprocess.run(["shellcheck", "-s", "sh", *map(str, scripts)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout
    # rc.common supplies these to the init script: unused/unassigned by design.
    init = REPO / "deploy/openwrt/schoolnet-agent.init"
    out = subprocess.run(["shellcheck", "-s", "sh", "-e", "SC2034,SC2154", str(init)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout
