"""classroom_links config: loads via agent.config; each mistake names file, line and key."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import load
from agent.contract.errors import ConfigError
from agent.probes.classroom_links.map import Options
from agent.probes.classroom_links.probe import ClassroomLinks
from tests.support import AGENT_HEAD

HEAD = "\n" + AGENT_HEAD

GOOD = HEAD + """
[probes.classroom_links]
alias_patterns = ["教室*", "classroom-*"]

[probes.classroom_links.switches.teaching_a]
host = "10.20.0.2"
community = "school-ro"
building = "教学楼A"

[probes.classroom_links.switches.teaching_b]
host = "10.20.0.3"
version = "3"
user = "audit"
auth_key = "auth-key-123"
priv_key = "priv-key-123"

[probes.classroom_links.classrooms."高一(3)班"]
switch = "teaching_b"
port = "GigabitEthernet0/0/3"
floor = 3

[probes.classroom_links.classrooms."高一(4)班"]
switch = "teaching_b"
port = 4
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_config_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, GOOD))
    (probe,) = cfg.probes
    assert probe.cls is ClassroomLinks
    assert probe.interval == 300 and probe.timeout == 60
    opts = probe.opts
    assert isinstance(opts, Options)
    assert opts.min_speed_mbps == 100.0
    assert opts.switches["teaching_a"].port == 161
    assert opts.switches["teaching_a"].alias_patterns is None
    assert opts.switches["teaching_b"].priv_protocol == "aes"
    assert opts.switches["teaching_b"].target.security_level == "authPriv"
    assert opts.classrooms["高一(4)班"].port == 4
    assert opts.classrooms["高一(3)班"].floor == 3


BAD = [
    ('switch = "teaching_b"', 'switch = "teaching_c"',
     r"classrooms\.高一\(3\)班\.switch.*names no switch table", 'switch = "teaching_c"'),
    ('user = "audit"\n', "", r"switches\.teaching_b.: user is required",
     "[probes.classroom_links.switches.teaching_b]"),
    ('auth_key = "auth-key-123"', 'auth_key = "short"', r"auth_key.*at least 8",
     'auth_key = "short"'),
    ('port = 4', 'port = "GigabitEthernet0/0/3"', r"already the port of classroom", None),
    ('community = "school-ro"', 'community = "school-ro"\ncomunity = "x"',
     r"teaching_a\.comunity.*unknown key \(did you mean 'community'\?\)", 'comunity = "x"'),
    ('alias_patterns = ["教室*", "classroom-*"]', 'alias_patterns = ["教室*", ""]',
     r"alias_patterns.*list of non-empty patterns", 'alias_patterns = ["教室*", ""]'),
    ('host = "10.20.0.2"', 'host = "10.20.0.2 x"', r"host.*IP address or host name", None),
    ('version = "3"', 'version = "1"', r"version.*must be one of 2c, 3", 'version = "1"'),
    ('floor = 3', 'floor = "three"', r"floor.*must be an integer", 'floor = "three"'),
    ('port = 4', 'port = "Gi0/0/\\t4"', r"port.*printable", None),
    ('building = "教学楼A"', 'building = "' + "楼" * 129 + '"', r"building.*1-128", None),
    ('community = "school-ro"', 'community = "school-ro"\nuser = "v3-only"',
     r"teaching_a\.user.*only used with version", 'user = "v3-only"'),
]


@pytest.mark.parametrize(("old", "new", "message", "line_text"), BAD,
                         ids=[b[2][:30] for b in BAD])
def test_mistakes_name_the_key_and_line(tmp_path: Path, old: str, new: str, message: str,
                                        line_text: str | None) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text))
    err = caught.value
    assert re.search(message, str(err)), str(err)
    assert err.file.endswith("agent.toml")
    if line_text is not None:
        lines = text.splitlines()
        want = next(i for i, line in enumerate(lines, 1) if line.strip() == line_text.strip())
        assert err.line == want, (str(err), want)


def test_nothing_to_poll_is_an_error(tmp_path: Path) -> None:
    text = HEAD + "\n[probes.classroom_links]\nmin_speed_mbps = 100\n"
    with pytest.raises(ConfigError, match="needs at least one switch"):
        load(write(tmp_path, text))
    text = HEAD + ("\n[probes.classroom_links]\n"
                   "[probes.classroom_links.switches.a]\nhost = \"10.0.0.1\"\n")
    with pytest.raises(ConfigError, match="list classrooms or set alias_patterns"):
        load(write(tmp_path, text))


@pytest.mark.integration
def test_loading_does_not_import_pysnmp(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    code = ("import sys; from agent.config import load; load(sys.argv[1]); "
            "print(any(m.startswith('pysnmp') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "False"
