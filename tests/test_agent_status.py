"""What a school engineer sees when something is wrong, asserted on the words.

Each test runs the real ``schoolnet-agent`` (status, once --publish) against
real peers: a name that does not resolve, a closed port, TLS against a plain
listener, the shipped TLS broker with a CA it was not signed by, a registry
without the school, an unprivileged user, and a healthy gateway.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_process import Agent
from tests.broker_support import deployed_broker
from tests.deploy_support import REPO, write_registry
from tests.services import Influxd, Mosquitto, free_port, wait_for
from tests.support import collector_toml, influx1_storage, running_collector

pytestmark = pytest.mark.integration

REGISTERED = "370102-0001"
UNREGISTERED = "370102-0099"
# Where the status outputs are kept for people to read (set by whoever runs the tests).
SAVE_DIR = os.environ.get("SCHOOLNET_STATUS_SAMPLES", "")


def agent_config(directory: Path, host: str, port: int, school: str = REGISTERED,
                 tls: bool = False, extra: str = "") -> Path:
    path = directory / f"agent-{school}-{port}.toml"
    path.write_text(f"""
[school]
id = "{school}"
province = "37"
city = "3701"
county = "370102"
[mqtt]
host = "{host}"
port = {port}
tls = {str(tls).lower()}
receipt_timeout = 5
{extra}
[agent]
state_dir = "{directory / ('state-' + school)}"
[probes.wan_link]
interface = "lo"
sample_seconds = 0.1
""", encoding="utf-8")
    path.chmod(0o640)
    return path


def agent(*args: str, user: str = "") -> subprocess.CompletedProcess[str]:
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user else []
    env = {**os.environ, "PYTHONPATH": str(REPO), "LANG": "C.UTF-8",
           "PYTHONIOENCODING": "utf-8"}
    env.pop("LC_ALL", None)
    return subprocess.run([*prefix, sys.executable, "-m", "agent.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=env)


def status(config: Path, *more: str, user: str = "") -> subprocess.CompletedProcess[str]:
    out = agent("status", "-c", str(config), "--timeout", "10", *more, user=user)
    assert "Traceback" not in out.stdout + out.stderr, out.stdout + out.stderr
    return out


def save(name: str, out: subprocess.CompletedProcess[str]) -> None:
    if SAVE_DIR:
        Path(SAVE_DIR, f"status-{name}.txt").write_text(
            f"$ schoolnet-agent status -c agent.toml   (exit {out.returncode})\n{out.stdout}",
            encoding="utf-8")


def publish_once(config: Path, user: str = "", timeout: float = 8
                 ) -> subprocess.CompletedProcess[str]:
    # A link that fails at once (refused, a TLS mismatch) is retried until the
    # timeout: those calls pass a short one (the first failure names the cause).
    out = agent("once", "--publish", "--timeout", f"{timeout:g}", "-c", str(config), user=user)
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    return out


@pytest.fixture
def work() -> Iterator[Path]:
    """A directory every user may enter (pytest's own is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="schoolnet-status-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def centre(tmp_path: Path, influxd: Influxd, database: str, unique: str
           ) -> Iterator[tuple[Mosquitto, object]]:
    """A broker and a collector whose registry holds REGISTERED only."""
    registry = write_registry(tmp_path / "schools.csv", [REGISTERED])
    with Mosquitto(tmp_path / "broker").running() as broker:
        config = collector_toml(tmp_path, broker.port, influx1_storage(influxd.url, database),
                                unique, f'[registry]\nfile = "{registry}"\n')
        # Receipts sooner than the default 2 s, so status answers quickly.
        config.write_text(config.read_text().replace(
            "[mqtt]\n", "[mqtt]\nreceipt_interval_seconds = 0.2\n", 1))
        with running_collector(config) as collector:
            yield broker, collector


def test_healthy_gateway_passes_every_check(work: Path, centre: tuple[Mosquitto, object]
                                            ) -> None:
    broker, _ = centre
    config = agent_config(work, "127.0.0.1", broker.port)
    record = work / f"state-{REGISTERED}" / "status.json"
    daemon = Agent(config)
    try:  # the daemon's own record of its last publish and receipt
        wait_for(lambda: record.exists() and json.loads(record.read_text())["last_receipt"],
                 60, "the daemon's first receipt in status.json")
    finally:
        daemon.stop()
    out = status(config)
    save("healthy", out)
    assert "✔ daemon's last publish and receipt: last publish " in out.stdout
    assert out.returncode == 0, out.stdout
    assert "✔ broker login" in out.stdout
    assert "✔ collector stores readings: the collector confirmed the test reading is stored" \
        in out.stdout
    assert "✔ clock agrees with the collector" in out.stdout
    assert out.stdout.rstrip().endswith("all checks passed")
    report = json.loads(status(config, "--json").stdout)
    assert report["ok"] is True
    assert {c["key"] for c in report["checks"]} >= {"config", "dns", "tcp", "login", "acl",
                                                   "receipt", "clock", "spool"}
    zh = status(config, "--lang", "zh")
    assert "✔ 采集端存储读数" in zh.stdout and "全部检查通过" in zh.stdout


def test_school_missing_from_the_registry_is_told_who_adds_it(
        work: Path, centre: tuple[Mosquitto, object], caplog: pytest.LogCaptureFixture
        ) -> None:
    broker, collector = centre
    config = agent_config(work, "127.0.0.1", broker.port, school=UNREGISTERED)
    words = ("this school id is not in the county's registry: ask the county network "
             "centre to add 370102-0099")
    with caplog.at_level(logging.WARNING, "collector.ingest"):
        out = status(config)
        save("unregistered", out)
        assert out.returncode == 1
        assert "✘ collector stores readings: the collector did not store the reading " \
               "(unknown_school)" in out.stdout
        assert words in out.stdout
        zh = status(config, "--lang", "zh")
        save("unregistered-zh", zh)
        assert "✘ 采集端存储读数" in zh.stdout
        assert "学校编号不在县级名录中：请县网络中心将 370102-0099（37/3701/370102）加入名录" \
            in zh.stdout
        once = publish_once(config)
    assert once.returncode == 1
    assert words in once.stderr
    assert "stay spooled" in once.stderr
    assert f"school {UNREGISTERED}: 1 readings rejected (unknown_school)" in caplog.text
    # Kept, not deleted: the registry may be fixed later.
    assert collector.pipeline.stats.rejected["unknown_school"] >= 2  # type: ignore[attr-defined]
    assert "readings spooled" in status(config).stdout


def test_unresolvable_broker_is_named(work: Path) -> None:
    config = agent_config(work, "mqtt.edu.example.invalid", 8883, tls=True)
    out = status(config)
    save("dns", out)
    assert out.returncode == 1
    assert ("✘ broker name resolves: cannot resolve the broker's name "
            "'mqtt.edu.example.invalid'") in out.stdout
    assert "check [mqtt] host and this gateway's DNS" in out.stdout
    once = publish_once(config)
    assert once.returncode == 1
    assert "could not publish: cannot resolve the broker's name 'mqtt.edu.example.invalid'" \
        in once.stderr


def test_closed_port_and_tls_against_a_plain_listener(work: Path, broker: Mosquitto) -> None:
    closed = agent_config(work, "127.0.0.1", free_port())
    once = publish_once(closed, timeout=3)
    assert once.returncode == 1
    assert "refused the connection: no broker listens on port" in once.stderr
    assert "✘ broker port reachable" in status(closed).stdout
    plain = agent_config(work, "127.0.0.1", broker.port, tls=True)
    out = status(plain)
    assert "✘ broker TLS certificate: TLS handshake with" in out.stdout
    assert "is that port a TLS listener?" in out.stdout
    once = publish_once(plain, timeout=3)
    assert once.returncode == 1
    assert "could not publish: TLS handshake with" in once.stderr


def test_tls_broker_with_a_ca_it_was_not_signed_by(work: Path) -> None:
    with deployed_broker([REGISTERED]) as setup:
        rogue_ca = setup.broker.workdir / "rogue/ca.crt"
        config = agent_config(work, "localhost", setup.broker.port, tls=True,
                              extra=f'ca_file = "{rogue_ca}"\nusername = "{REGISTERED}"\n'
                              f'password = "{setup.passwords[REGISTERED]}"\n')
        out = status(config)
        save("wrong-ca", out)
        once = publish_once(config, timeout=3)
        wrong_password = agent_config(
            work, "localhost", setup.broker.port, tls=True,
            extra=f'ca_file = "{setup.etc / "ca.crt"}"\nusername = "{REGISTERED}"\n'
            'password = "not-the-password"\n')
        login = status(wrong_password.rename(work / "agent-wrong-password.toml"))
    assert login.returncode == 1
    assert "✔ broker TLS certificate: certificate for localhost verified" in login.stdout
    assert "✘ broker login: the broker localhost:" in login.stdout
    assert "check [mqtt] username and password (or the client certificate)" in login.stdout
    assert out.returncode == 1
    assert "✘ broker TLS certificate: the broker localhost:" in out.stdout
    assert "TLS certificate is not trusted" in out.stdout
    assert "set [mqtt] ca_file to the CA bundle the network centre gave you" in out.stdout
    assert once.returncode == 1
    assert "TLS certificate is not trusted" in once.stderr


def test_unprivileged_user_gets_one_line_about_state_dir(work: Path, broker: Mosquitto) -> None:
    state = work / "state-root"
    state.mkdir(mode=0o755)
    config = agent_config(work, "127.0.0.1", broker.port,
                          extra="").with_name("agent-unprivileged.toml")
    config.write_text(agent_config(work, "127.0.0.1", broker.port).read_text().replace(
        str(work / f"state-{REGISTERED}"), str(state)))
    config.chmod(0o644)
    nobody = str(pwd.getpwnam("nobody").pw_uid)
    once = publish_once(config, user=nobody)
    assert once.returncode == 2
    assert f"agent.state_dir: {state} is not writable as user nobody" in once.stderr
    run = agent("run", "-c", str(config), user=nobody)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"{state} is not writable as user nobody" in run.stderr
    out = status(config, user=nobody)
    save("unprivileged", out)
    assert out.returncode == 1
    assert f"✘ state directory writable: agent.state_dir: {state} is not writable" in out.stdout
    assert "sudo -u schoolnet-agent" in out.stdout


def test_run_names_the_cause_once_and_summarises(work: Path) -> None:
    config = agent_config(work, "mqtt.edu.example.invalid", 8883, tls=True)
    config.write_text(config.read_text().replace(
        "[agent]\n", "[agent]\nsummary_interval = 10\n"))
    daemon = Agent(config)
    try:
        daemon.wait_log("summary: ", timeout=90)
        text = daemon.text()
    finally:
        daemon.stop()
    cause = "cannot resolve the broker's name 'mqtt.edu.example.invalid'"
    # Over 10 s paho retried several times (1, 2, 4 s apart): one line for them all.
    assert text.count(cause) == 1, text
    line = next(x for x in text.splitlines() if "summary: " in x)
    assert "readings made, 0 published, 0 confirmed stored, 0 refused" in line
    record = json.loads((work / f"state-{REGISTERED}" / "status.json").read_text())
    assert cause in record["link_problem"]

