"""``schoolnet-collector check-config`` (and run, evaluate, report) on broken files,
and a broken registry edit under a running collector.

The real command in a child process: every problem in the registry, targets
and alert state is listed, and the exit code is 2. A running collector whose
registry gains a row with 9 of 11 columns logs it and keeps storing.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import Identity, encode
from collector.judge.registry import COLUMNS
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import collector_toml, influx1_storage, publisher_client, running_collector

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
ROW = "{sid},学校,37,山东省,3701,济南市,370102,历下区,primary,10,1000\n"
NINE = "bad-1,学校,37,山东省,3701,济南市,370102,历下区,primary\n"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "collector.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def config(tmp: Path, registry: Path, targets: Path, state: Path) -> Path:
    path = tmp / "collector.toml"
    path.write_text(f"""
[mqtt]
host = "127.0.0.1"
port = 1
[storage]
kind = "influxdb1"
url = "http://127.0.0.1:1"
[registry]
file = "{registry}"
[targets]
file = "{targets}"
[alerts]
state_file = "{state}"
""", encoding="utf-8")
    return path


def test_check_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    registry, targets, state = (tmp_path / "schools.csv", tmp_path / "targets.toml",
                                tmp_path / "alerts.json")
    registry.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid="s1") + NINE
                        + ROW.format(sid="s2").replace(",10,", ",99999,"), encoding="utf-8")
    targets.write_text("[defaults]\nexit_mbps = 'fast'\n", encoding="utf-8")
    state.write_text("{not json", encoding="utf-8")
    path = config(tmp_path, registry, targets, state)
    out = cli("check-config", "-c", str(path))
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert f"config error: {registry}:3: has 9 columns, expected 11" in lines[0], lines
    assert (f"config error: {registry}:4: key 'classes': must be between 0 and 1000, "
            "got '99999'") in lines, lines
    assert any(line.startswith(f"config error: {targets}:2: key 'defaults.exit_mbps'")
               for line in lines), lines
    assert any(line.startswith(f"config error: {state}: alert state is not valid JSON")
               for line in lines), lines
    assert "Traceback" not in out.stderr
    # The other commands refuse the same files the same way, before touching anything.
    for command in (["run"], ["evaluate", "--dry-run"], ["report"]):
        again = cli(command[0], "-c", str(path), *command[1:])
        assert again.returncode == 2, (command, again)
        assert again.stderr == out.stderr, command
    # Fixed, it passes and names what it loaded.
    registry.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid="s1"), encoding="utf-8")
    targets.write_text((REPO / "configs/targets.toml").read_text(encoding="utf-8"),
                       encoding="utf-8")
    state.write_text("{}", encoding="utf-8")
    ok = cli("check-config", "-c", str(path))
    assert ok.returncode == 0, ok
    assert f"registry {registry}, targets {targets}, alert state {state}" in ok.stdout


def test_a_nine_column_row_at_reload_is_logged_and_storing_goes_on(
        tmp_path: Path, broker: Mosquitto, influxd: Influxd, database: str, unique: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sid = f"reg-{unique}"
    identity = Identity("37", "3701", "370102", sid)
    registry = tmp_path / "schools.csv"
    registry.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid=sid), encoding="utf-8")
    cfg = collector_toml(tmp_path, broker.port, influx1_storage(influxd.url, database), sid,
                         f'[registry]\nfile = "{registry}"\n')
    client = publisher_client(broker.port)
    base = time.time_ns() - 10**12

    def send(first: int, count: int) -> None:
        for n in range(first, first + count):
            reading = Reading("wan_link", {"rx_bps": float(n), "result": "ok"},
                              {"iface": "eth0"}, base + n * 1000)
            client.publish(identity.topic("wan_link"), encode(identity, reading, n),
                           qos=1).wait_for_publish(5)

    with running_collector(cfg) as collector:
        send(1, 20)
        wait_for(lambda: collector.pipeline.stats.stored >= 20, 20, "first readings")
        registry.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid=sid) + NINE,
                            encoding="utf-8")
        os.utime(registry, ns=(time.time_ns(), time.time_ns() + 10**9))
        time.sleep(5.5)  # the registry is looked at again at most every 5 s
        send(21, 20)
        wait_for(lambda: collector.pipeline.stats.stored >= 40, 20, "readings after the edit")
        assert collector.failure is None
        assert all(t.is_alive() for t in collector.threads)
    client.disconnect()
    client.loop_stop()
    assert f"{registry}:3: has 9 columns, expected 11" in caplog.text
    assert "registry not reloaded, keeping 1 schools" in caplog.text
    rows = influxd.rows(f"SELECT count(rx_bps) FROM wan_link WHERE school = '{sid}'", database)
    assert rows[0]["count"] == 40


# Every file a config names, read as the daemon will: each broken one is named
# with what is wrong, by check-config and by run alike, and the exit code is 2
# (the units' RestartPreventExitStatus=2), never a restart loop.

def agent_cli(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    # As another user: setpriv, so the check sees that user's permissions.
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user else []
    return subprocess.run([*prefix, sys.executable, "-m", "agent.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's own make-certs.sh: a CA and two schools' certificates and keys."""
    out = tmp_path_factory.mktemp("pki")
    script = REPO / "deploy/mosquitto/make-certs.sh"
    for args in (["ca"], ["client", "s1", "s2"]):
        subprocess.run(["sh", str(script), str(out), *args], check=True, timeout=60,
                       capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(out / "clients/s1.key"), "-aes256",
                    "-passout", "pass:secret", "-out", str(out / "encrypted.key")],
                   check=True, timeout=30)
    (out / "garbage.pem").write_bytes(b"\x89PNG not a certificate\n")
    return out


def tls_keys(pki: Path, case: str) -> str:
    ca, crt, key = pki / "ca.crt", pki / "clients/s1.crt", pki / "clients/s1.key"
    if case == "ca_garbage":
        ca = pki / "garbage.pem"
    elif case == "key_of_another_school":
        key = pki / "clients/s2.key"
    elif case == "key_with_passphrase":
        key = pki / "encrypted.key"
    elif case == "cert_garbage":
        crt = pki / "garbage.pem"
    return f'ca_file = "{ca}"\ncert_file = "{crt}"\nkey_file = "{key}"\n'


TLS_CASES = {
    "ca_garbage": ("garbage.pem", "mqtt.ca_file holds no PEM certificate"),
    "cert_garbage": ("garbage.pem", "mqtt.cert_file holds no PEM certificate"),
    "key_of_another_school": ("s2.key", "mqtt.key_file does not belong to the certificate: "
                                        "use the key issued with it"),
    "key_with_passphrase": ("encrypted.key", "mqtt.key_file is protected by a passphrase, "
                                             "which a daemon cannot type"),
}


def agent_config(tmp: Path, mqtt: str = "", agent: str = "", probes: str = "") -> Path:
    path = tmp / "agent.toml"
    path.write_text(f"""[school]
id = "s1"
province = "37"
city = "3701"
county = "370102"
[mqtt]
host = "127.0.0.1"
{mqtt}
[agent]
state_dir = "{tmp / 'spool'}"
{agent}
{probes}
""", encoding="utf-8")
    return path


def refused_alike(run: object, path: Path, *args: str, **kw: int) -> str:
    """check-config and run both exit 2 with the same words; returns them."""
    assert callable(run)
    checked = run("check-config", "-c", str(path), *args, **kw)
    assert checked.returncode == 2, (checked.stdout, checked.stderr)
    assert "Traceback" not in checked.stderr
    started = run("run", "-c", str(path), *args, **kw)
    assert started.returncode == 2, (started.stdout, started.stderr)

    def errors(text: str) -> str:  # without logged warnings, which carry a time
        return "".join(line for line in text.splitlines(keepends=True)
                       if line.startswith("config error: "))
    assert errors(started.stderr) == errors(checked.stderr)
    return errors(checked.stderr)


@pytest.mark.parametrize("case", sorted(TLS_CASES))
def test_agent_tls_material_is_read(tmp_path: Path, pki: Path, case: str) -> None:
    path = agent_config(tmp_path, tls_keys(pki, case))
    words = refused_alike(agent_cli, path)
    name, problem = TLS_CASES[case]
    assert words.startswith("config error: ") and f"{name}: {problem}" in words, words


def test_agent_good_tls_material_and_spool_pass(tmp_path: Path, pki: Path) -> None:
    out = agent_cli("check-config", "-c", str(agent_config(tmp_path, tls_keys(pki, "good"))))
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr


def test_agent_probe_ca_and_spool_directory_are_checked(tmp_path: Path, pki: Path) -> None:
    (tmp_path / "a-file").write_text("")
    path = agent_config(tmp_path, agent="", probes=f"""
[probes.ipv6]
ca_file = "{pki / 'garbage.pem'}"
""")
    text = path.read_text().replace(f'state_dir = "{tmp_path / "spool"}"',
                                    f'state_dir = "{tmp_path / "a-file" / "spool"}"')
    path.write_text(text, encoding="utf-8")
    words = refused_alike(agent_cli, path)
    assert "garbage.pem: probes.ipv6.ca_file holds no PEM certificate" in words, words
    assert (f"{tmp_path / 'a-file' / 'spool'}: agent.state_dir: {tmp_path / 'a-file'} "
            "is not a directory") in words, words


def test_agent_files_unusable_by_the_service_user(pki: Path) -> None:
    """As the unprivileged user a unit runs the agent as: a root-owned spool
    directory and a key only root may read are refused; root's check passes."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        for name in ("ca.crt", "clients/s1.crt", "clients/s1.key"):
            shutil.copy(pki / name, root / Path(name).name)
        (root / "s1.key").chmod(0o600)  # as make-certs.sh writes it
        (root / "spool").mkdir(mode=0o755)
        path = agent_config(root, f'ca_file = "{root / "ca.crt"}"\ncert_file = '
                                  f'"{root / "s1.crt"}"\nkey_file = "{root / "s1.key"}"\n')
        path.chmod(0o644)
        assert agent_cli("check-config", "-c", str(path)).returncode == 0
        words = refused_alike(agent_cli, path, user=65534)
    assert f"{root / 's1.key'}: mqtt.key_file: cannot read: Permission denied (as user " \
           "nobody)" in words, words
    assert f"{root / 'spool'}: agent.state_dir: {root / 'spool'} is not writable as user " \
           "nobody; under systemd only the unit's StateDirectory" in words, words


def test_agent_config_in_gbk_says_save_as_utf8(tmp_path: Path) -> None:
    path = agent_config(tmp_path)
    path.write_bytes(path.read_text().replace('name = ""', "").replace(
        'id = "s1"', 'id = "s1"\nname = "历下实验学校"').encode("gbk"))
    words = refused_alike(agent_cli, path)
    assert f"{path}:3: is not UTF-8 text; save it as UTF-8" in words, words


def collector_files(tmp: Path, case: str, pki: Path) -> tuple[Path, str]:
    registry, targets, state = (tmp / "schools.csv", tmp / "targets.toml",
                                tmp / "state" / "alerts.json")
    registry.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid="s1"), encoding="utf-8")
    targets.write_text((REPO / "configs/targets.toml").read_text(encoding="utf-8"),
                       encoding="utf-8")
    state.parent.mkdir()
    state.write_text("{}", encoding="utf-8")
    tls = ""
    if case == "registry_gbk":
        registry.write_bytes(registry.read_text(encoding="utf-8").encode("gbk"))
        expect = f"{registry}:2: is not UTF-8 text; save it as UTF-8"
    elif case == "targets_gbk":
        targets.write_bytes(("# 目标\n" + targets.read_text(encoding="utf-8")).encode("gbk"))
        expect = f"{targets}:1: is not UTF-8 text; save it as UTF-8"
    elif case == "state_corrupt":
        state.write_bytes(b"\x00\xff\xfe" + bytes(range(256)))
        expect = f"{state}: alert state is corrupt (not UTF-8 text); delete it to start afresh"
    elif case == "state_directory_is_a_file":
        state = tmp / "targets.toml" / "alerts.json"
        expect = f"{state.parent}: alerts.state_file's directory: {targets} is not a directory"
    elif case in TLS_CASES:
        tls = "tls = true\n" + tls_keys(pki, case)
        name, problem = TLS_CASES[case]
        expect = f"{name}: {problem}"
    else:
        expect = ""
    path = config(tmp, registry, targets, state)
    path.write_text(path.read_text().replace("port = 1\n", "port = 1\n" + tls))
    return path, expect


@pytest.mark.parametrize("case", ["registry_gbk", "targets_gbk", "state_corrupt",
                                  "state_directory_is_a_file", *sorted(TLS_CASES)])
def test_collector_files_named_by_the_config(tmp_path: Path, pki: Path, case: str) -> None:
    path, expect = collector_files(tmp_path, case, pki)
    words = refused_alike(cli, path)
    assert expect in words, words
    assert all(line.startswith("config error: ") for line in words.splitlines()), words


def test_collector_state_unwritable_for_the_service_user(pki: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        path, _ = collector_files(root, "no_tls", pki)
        for p in root.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        assert cli("check-config", "-c", str(path)).returncode == 0
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        out = subprocess.run([*nobody, sys.executable, "-m", "collector.cli", "check-config",
                              "-c", str(path)], cwd=REPO, capture_output=True, text=True,
                             timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 2, out
    assert f"alerts.state_file's directory: {root / 'state'} is not writable as user nobody" \
           in out.stderr, out.stderr


def test_agent_warns_while_its_config_is_world_readable(tmp_path: Path) -> None:
    path = agent_config(tmp_path)
    path.chmod(0o644)
    out = agent_cli("check-config", "-c", str(path))
    assert out.returncode == 0, out.stderr
    assert (f"{path} is readable by every user of this host (mode 0644) and holds "
            f"credentials: chmod 0640 {path}") in out.stderr
    path.chmod(0o640)
    out = agent_cli("check-config", "-c", str(path))
    assert out.returncode == 0 and "readable" not in out.stderr, out.stderr
