"""The pysnmp 7 side of :mod:`agent.snmp.client`: engines, sessions and raw requests.

Only :mod:`agent.snmp.client` imports this module, and only when a client is
made, so pysnmp stays out of every code path that does not poll SNMP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyasn1.type import univ
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
)
from pysnmp.hlapi.v3arch.asyncio import auth as hauth
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
from pysnmp.proto import rfc1902, rfc1905

from agent.errors import AgentError
from agent.snmp.target import Target

log = logging.getLogger(__name__)

ABSENT = object()  # noSuchObject / noSuchInstance
END = object()  # endOfMibView

_AUTH = {"none": hauth.USM_AUTH_NONE, "md5": hauth.USM_AUTH_HMAC96_MD5,
         "sha": hauth.USM_AUTH_HMAC96_SHA, "sha224": hauth.USM_AUTH_HMAC128_SHA224,
         "sha256": hauth.USM_AUTH_HMAC192_SHA256, "sha384": hauth.USM_AUTH_HMAC256_SHA384,
         "sha512": hauth.USM_AUTH_HMAC384_SHA512}
_PRIV = {"none": hauth.USM_PRIV_NONE, "des": hauth.USM_PRIV_CBC56_DES,
         "3des": hauth.USM_PRIV_CBC168_3DES, "aes": hauth.USM_PRIV_CFB128_AES,
         "aes192": hauth.USM_PRIV_CFB192_AES, "aes256": hauth.USM_PRIV_CFB256_AES}

_AUTH_ERRORS = frozenset({
    "UnknownUserName", "WrongDigest", "UnknownSecurityName", "UnsupportedSecurityLevel",
    "AuthenticationError", "AuthenticationFailure", "DecryptionError", "NotInTimeWindow",
    "UnknownCommunityName", "NoAuthentication", "NoEncryption", "UnsupportedAuthProtocol",
    "UnsupportedPrivProtocol",
})
_AUTHORIZATION_ERROR = 16  # RFC 3416 error-status authorizationError
_LCD = CommandGeneratorLcdConfigurator()


class SetupError(AgentError):
    """The target cannot even be addressed (name does not resolve)."""


@dataclass
class Reply:
    result: str
    varbinds: list[tuple[tuple[int, ...], Any]] = field(default_factory=list)
    detail: str = ""


def convert(value: Any) -> Any:
    """A pysnmp value as plain Python (see :mod:`agent.snmp.client` for the mapping)."""
    if isinstance(value, rfc1905.EndOfMibView):
        return END
    if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, univ.Null)):
        return ABSENT
    if isinstance(value, rfc1902.IpAddress):
        return ".".join(str(b) for b in bytes(value))
    if isinstance(value, univ.OctetString):
        return bytes(value)
    if isinstance(value, univ.ObjectIdentifier):
        return ".".join(str(x) for x in value)
    if isinstance(value, univ.Integer):
        return int(value)
    return str(value)


def _auth_data(target: Target) -> Any:
    if target.version == "2c":
        return CommunityData(target.community, mpModel=1)
    auth = _AUTH[target.auth_protocol]
    priv = _PRIV[target.priv_protocol] if target.auth_protocol != "none" else hauth.USM_PRIV_NONE
    auth_key = target.auth_key if auth != hauth.USM_AUTH_NONE else None
    priv_key = target.priv_key if priv != hauth.USM_PRIV_NONE else None
    return UsmUserData(target.user, authKey=auth_key, privKey=priv_key,
                       authProtocol=auth, privProtocol=priv)


def credentials_key(target: Target) -> tuple[str, ...]:
    """Targets with equal keys can share a pysnmp engine.

    An engine costs ~0.1 s of CPU to build (it loads its MIB modules), so one
    per switch per poll would eat a 2 s budget for 20 switches. Sharing is
    safe for v2c (communities live per target) and for v3 targets with the
    same user and keys; different v3 keys under one user name would clash in
    one engine's USM table, so they get an engine of their own.
    """
    if target.version == "2c":
        return ("2c",)
    return ("3", target.user, target.auth_protocol, target.auth_key, target.priv_protocol,
            target.priv_key)


def new_engine() -> Any:
    return SnmpEngine()


def close_engine(engine: Any) -> None:
    try:
        engine.close_dispatcher()
    except Exception:  # closing is best effort; a half-open engine has nothing to free
        log.debug("closing an SNMP engine failed", exc_info=True)


class Session:
    """A pysnmp engine, credentials and transport for one target."""

    def __init__(self, target: Target, engine: Any, transport: Any) -> None:
        self.target = target
        self.engine = engine
        self.transport = transport
        self.auth = _auth_data(target)

    @classmethod
    async def open(cls, target: Target, engine: Any) -> Session:
        kind = Udp6TransportTarget if ":" in target.host else UdpTransportTarget
        try:
            transport = await kind.create((target.host, target.port), timeout=target.timeout,
                                          retries=target.retries)
        except PySnmpError as err:
            raise SetupError(f"{target.label}: {err}") from err
        return cls(target, engine, transport)

    async def request(self, kind: str, oids: Sequence[tuple[int, ...]],
                      max_repetitions: int = 25) -> Reply:
        # Below pysnmp's hlapi get_cmd/bulk_cmd on purpose: those resolve every OID
        # through the MIB builder, which with pysmi installed compiles a grammar per
        # engine (~0.8 s) and otherwise still costs more than the request itself.
        binds = [(rfc1902.ObjectName(oid), rfc1902.Null("")) for oid in oids]
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()

        def done(_engine: Any, _handle: Any, err_ind: Any, err_status: Any, err_index: Any,
                 varbinds: Any, _ctx: Any) -> None:
            if not future.done():
                future.set_result(self._reply(err_ind, err_status, err_index, varbinds))

        try:
            addr_name, _params = _LCD.configure(self.engine, self.auth, self.transport,
                                                self.target.context)
            if kind == "bulk":
                cmdgen.BulkCommandGenerator().send_varbinds(
                    self.engine, addr_name, None, self.target.context, 0, max_repetitions,
                    binds, done)
            else:
                cmdgen.GetCommandGenerator().send_varbinds(
                    self.engine, addr_name, None, self.target.context, binds, done)
        except PySnmpError as err:
            return Reply("unreachable", detail=f"{self.target.label}: {err}")
        except OSError as err:
            return Reply("unreachable", detail=f"{self.target.label}: {err}")
        return await future

    def _reply(self, err_ind: Any, err_status: Any, err_index: Any, varbinds: Any) -> Reply:
        if err_ind:
            return Reply(_classify(err_ind), detail=f"{self.target.label}: {err_ind}")
        if err_status:
            code = "auth_failed" if int(err_status) == _AUTHORIZATION_ERROR else "error"
            return Reply(code, detail=f"{self.target.label}: {err_status.prettyPrint()} "
                                      f"at varbind {int(err_index)}")
        return Reply("ok", [(tuple(oid), convert(value)) for oid, value in varbinds])


def _classify(indication: Any) -> str:
    name = type(indication).__name__
    if name == "RequestTimedOut":
        return "timeout"
    if name in _AUTH_ERRORS:
        return "auth_failed"
    return "error"
