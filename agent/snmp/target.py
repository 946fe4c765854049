"""How to reach one SNMP agent (a switch, a wireless controller): config schema and value.

Kept apart from :mod:`agent.snmp.client` so that loading a config never imports
pysnmp: a probe's device table (a switch, a controller) subclasses
:class:`SnmpTargetSection`, adds its own keys, and hands the client the
section's ``.target``.

Sample (one device table inside a probe's config)::

    host = "10.20.0.2"        # IP address or name of the switch
    port = 161
    version = "2c"            # "2c" or "3"
    community = "public"      # v2c only
    # v3 only: user, auth_protocol (none, md5, sha, sha224, sha256, sha384,
    # sha512), auth_key, priv_protocol (none, des, 3des, aes, aes192, aes256), priv_key
    timeout = 2.0             # seconds per request
    retries = 1               # extra tries after a timeout
    max_repetitions = 25      # rows per GETBULK request
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from agent.contract.configschema import Problem, between, matches, one_of, opt, section

AUTH_PROTOCOLS = ("none", "md5", "sha", "sha224", "sha256", "sha384", "sha512")
PRIV_PROTOCOLS = ("none", "des", "3des", "aes", "aes192", "aes256")

@section
class SnmpTargetSection:
    """The keys every SNMP device table accepts; a probe's device table
    subclasses it and adds its own."""

    host: str = opt(check=matches(r"[A-Za-z0-9_.:\-]{1,253}", "an IP address or host name"))
    port: int = opt(161, between(1, 65535))
    version: str = opt("2c", one_of("2c", "3"))
    community: str = opt("public")
    user: str = opt("")
    auth_protocol: str = opt("sha", one_of(*AUTH_PROTOCOLS))
    auth_key: str = opt("")
    priv_protocol: str = opt("aes", one_of(*PRIV_PROTOCOLS))
    priv_key: str = opt("")
    context: str = opt("")
    timeout: float = opt(2.0, between(0.1, 60))
    retries: int = opt(1, between(0, 10))
    max_repetitions: int = opt(25, between(1, 200))

    def problems(self) -> list[Problem]:
        return [((key,), message) for key, message in target_problems(vars(self))]

    @property
    def target(self) -> Target:
        return Target(**{f.name: getattr(self, f.name) for f in fields(Target)})


def target_problems(opts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Cross-key mistakes in one checked device table, as (key, message) pairs.

    The per-key schema cannot see these: a v3 target without a user, a key
    shorter than the 8 characters RFC 3414 requires (net-snmp and switches
    refuse it, so the poll would fail every time), privacy without auth.
    """
    problems: list[tuple[str, str]] = []
    if opts.get("version", "2c") == "2c":
        if not opts.get("community"):
            problems.append(("community", "must not be empty for version 2c"))
        for key in ("user", "auth_key", "priv_key"):
            if opts.get(key):
                problems.append((key, 'is only used with version = "3"'))
        return problems
    if not opts.get("user"):
        problems.append(("user", 'is required with version = "3"'))
    auth, priv = opts.get("auth_protocol", "sha"), opts.get("priv_protocol", "aes")
    if auth != "none" and len(opts.get("auth_key", "")) < 8:
        problems.append(("auth_key", f"must be at least 8 characters with auth_protocol {auth}"))
    if priv != "none":
        if auth == "none":
            problems.append(("priv_protocol", "needs an auth_protocol (SNMPv3 has no privNoAuth)"))
        elif len(opts.get("priv_key", "")) < 8:
            problems.append(("priv_key",
                             f"must be at least 8 characters with priv_protocol {priv}"))
    return problems


@dataclass(frozen=True)
class Target:
    """One SNMP agent and the credentials to ask it; hashable, so it keys caches."""

    host: str
    port: int = 161
    version: str = "2c"
    community: str = "public"
    user: str = ""
    auth_protocol: str = "sha"
    auth_key: str = ""
    priv_protocol: str = "aes"
    priv_key: str = ""
    context: str = ""
    timeout: float = 2.0
    retries: int = 1
    max_repetitions: int = 25

    @property
    def label(self) -> str:
        """host:port, for logs (never credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def security_level(self) -> str:
        if self.version == "2c":
            return "community"
        if self.auth_protocol == "none":
            return "noAuthNoPriv"
        return "authNoPriv" if self.priv_protocol == "none" else "authPriv"
