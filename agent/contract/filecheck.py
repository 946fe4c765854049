"""The files a config names, read the way the daemon will use them.

Loading a config checks its keys and that named files exist; a CA that is
not PEM, a key that does not belong to its certificate or a spool directory
the daemon cannot write would fail only once the daemon runs, under systemd,
in a restart loop. ``check-config`` and ``run`` call these first, so each such
file is named with what is wrong and the exit code is 2. Nothing here touches
the network.
"""

from __future__ import annotations

import os
import pwd
import ssl
from pathlib import Path

from agent.contract.errors import ConfigError

PEM_CERT = "-----BEGIN CERTIFICATE-----"


def _text(path: str, key: str, problems: list[ConfigError]) -> str | None:
    try:
        return Path(path).read_bytes().decode("ascii", "replace")
    except OSError as err:
        problems.append(ConfigError(path, "", None, f"{key}: cannot read: "
                                    f"{err.strerror or err} (as user {_user()})"))
        return None


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def tls_problems(ca_file: str, cert_file: str, key_file: str,
                 section: str = "mqtt") -> list[ConfigError]:
    """Every problem with a CA file and a client certificate and key."""
    problems: list[ConfigError] = []
    if ca_file and (text := _text(ca_file, f"{section}.ca_file", problems)) is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            if PEM_CERT not in text:
                raise ssl.SSLError("no certificate")
            context.load_verify_locations(cafile=ca_file)
        except ssl.SSLError:
            problems.append(ConfigError(ca_file, "", None, (
                f"{section}.ca_file holds no PEM certificate (a line {PEM_CERT}); "
                "use the CA certificate (ca.crt) from the network centre")))
    if not (cert_file and key_file):
        return problems
    cert = _text(cert_file, f"{section}.cert_file", problems)
    key = _text(key_file, f"{section}.key_file", problems)
    if cert is None or key is None:
        return problems
    if PEM_CERT not in cert:
        problems.append(ConfigError(cert_file, "", None, (
            f"{section}.cert_file holds no PEM certificate (a line {PEM_CERT}); "
            "use the school's certificate (<school_id>.crt)")))
    if "PRIVATE KEY-----" not in key:
        problems.append(ConfigError(key_file, "", None, (
            f"{section}.key_file holds no PEM private key (a line -----BEGIN ... PRIVATE "
            "KEY-----); use the key issued with the certificate (<school_id>.key)")))
    elif "ENCRYPTED" in key:
        problems.append(ConfigError(key_file, "", None, (
            f"{section}.key_file is protected by a passphrase, which a daemon cannot type; "
            "store it unencrypted, readable only by the service (openssl pkey -in KEY "
            "-out KEY.plain; chmod 0640)")))
    if problems:
        return problems
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert_file, key_file)
    except ssl.SSLError as err:
        why = ("does not belong to the certificate: use the key issued with it"
               if "KEY_VALUES_MISMATCH" in str(err) else f"cannot be used ({err.reason})")
        problems.append(ConfigError(key_file, "", None,
                                    f"{section}.key_file {why} ({cert_file})"))
    return problems


def writable_dir_problem(path: str, key: str) -> ConfigError | None:
    """A directory the daemon must write (created if missing), or why it cannot."""
    here = Path(path)
    while not here.exists() and here != here.parent:
        here = here.parent  # the daemon creates the missing part
    if not here.is_dir():
        return ConfigError(path, "", None, f"{key}: {here} is not a directory")
    if not os.access(here, os.W_OK | os.X_OK):
        return ConfigError(path, "", None, (
            f"{key}: {here} is not writable as user {_user()}; under systemd only the "
            "unit's StateDirectory (/var/lib/<unit name>) is writable"))
    return None
