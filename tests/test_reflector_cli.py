"""``schoolnet-collector reflector`` from the command line: the words a centre's admin sees."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.ladder_net import REPO

pytestmark = pytest.mark.integration


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "collector.cli", "reflector", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_a_taken_port_is_named_with_what_to_do() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        done = run("--listen", "127.0.0.1", "--port", str(port))
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1 UDP port {port}" in done.stderr
    assert "Choose another --listen or --port" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_arguments_say_what_is_wanted() -> None:
    done = run("--allow", "schools")
    assert done.returncode == 2
    assert "'schools' is not a network such as 10.0.0.0/8" in done.stderr
    done = run("--rate", "-3")
    assert done.returncode == 2 and "'-3' is not a positive number" in done.stderr
