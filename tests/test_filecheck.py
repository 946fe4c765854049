"""What check-config reads beyond the config (pure logic on files in a temp dir;
the real commands on real certificates are in tests/test_check_config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.contract.configschema import build
from agent.contract.errors import ConfigError
from agent.contract.filecheck import tls_problems, writable_dir_problem
from collector.config import Storage

V1 = {"kind": "influxdb1", "url": "http://127.0.0.1:8086"}


def test_a_missing_directory_is_fine_when_it_can_be_created(tmp_path: Path) -> None:
    assert writable_dir_problem(str(tmp_path / "a" / "b"), "agent.state_dir") is None


def test_a_directory_below_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    problem = writable_dir_problem(str(tmp_path / "f" / "spool"), "agent.state_dir")
    assert problem is not None
    assert str(problem) == (f"{tmp_path / 'f' / 'spool'}: agent.state_dir: "
                            f"{tmp_path / 'f'} is not a directory")


def test_tls_files_without_pem_content_are_named(tmp_path: Path) -> None:
    ca, crt, key = tmp_path / "ca.crt", tmp_path / "s.crt", tmp_path / "s.key"
    ca.write_text("")
    crt.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n"
                   "-----END ENCRYPTED PRIVATE KEY-----\n")
    problems = [str(p) for p in tls_problems(str(ca), str(crt), str(key))]
    assert problems == [f"{ca}: mqtt.ca_file holds no PEM certificate (a line -----BEGIN "
                        "CERTIFICATE-----); use the CA certificate (ca.crt) from the network "
                        "centre",
                        f"{key}: mqtt.key_file is protected by a passphrase, which a daemon "
                        "cannot type; store it unencrypted, readable only by the service "
                        "(openssl pkey -in KEY -out KEY.plain; chmod 0640)"]


def test_a_missing_tls_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    problems = tls_problems("", str(tmp_path / "gone.crt"), str(tmp_path / "gone.key"))
    assert [p.file for p in problems] == [str(tmp_path / "gone.crt"),
                                          str(tmp_path / "gone.key")]
    assert all("cannot read: No such file or directory" in p.message for p in problems)


def test_queries_use_the_reader_when_one_is_configured() -> None:
    writer_only = build(Storage, {**V1, "username": "collector", "password": "w"})
    assert writer_only.reader() == ("collector", "w", "")
    split = build(Storage, {**V1, "username": "collector", "password": "w",
                            "read_username": "reader", "read_password": "r"})
    assert split.reader() == ("reader", "r", "")
    v2 = build(Storage, {"kind": "influxdb2", "url": "http://x", "token": "write", "org": "o",
                         "read_token": "read"})
    assert v2.reader()[2] == "read"


def test_a_read_password_without_its_user_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"read_username.*is required when read_password"):
        build(Storage, {**V1, "read_password": "r"})
