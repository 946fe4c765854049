"""Async SNMP GET and GETBULK table walks (pysnmp 7), with failures returned as data.

API (stable; additions only):

- :class:`~agent.snmp.target.Target`: re-exported from :mod:`agent.snmp.target`,
  where device tables' config section lives (no pysnmp needed there).
- ``SnmpClient()``: one per probe run or kept across runs; ``await client.close()``
  (or ``async with SnmpClient() as client``) releases its sockets.
- ``await client.get(target, ["1.3.6.1.2.1.1.3.0", ...]) -> GetResult``:
  ``values`` maps each OID that exists to its value; ``missing`` lists the rest.
- ``await client.walk(target, {"name": "1.3.6.1.2.1.31.1.1.1.1", ...},
  deadline=None) -> WalkResult``: walks the columns together with GETBULK and
  returns ``rows[index_tuple][column_name] = value``; ``missing`` names columns
  the agent has no rows for.
- Values: INTEGER, Counter32/64, Gauge32, TimeTicks -> ``int``; OCTET STRING ->
  ``bytes`` (``text()`` decodes UTF-8, then GB 18030 as older Chinese firmware uses);
  IpAddress and OBJECT IDENTIFIER -> dotted ``str``.
- ``result`` is one of the reading results: ok, timeout (no answer: host down,
  filtered, or a wrong v2c community, which agents ignore silently),
  unreachable (name does not resolve, no route), auth_failed (v3 user, key or
  level refused; v2c authorizationError), unavailable (none of the OIDs
  exist), partial (a walk stopped by ``deadline`` or an error after some rows),
  error (anything else the agent said). ``detail`` says which, for logs.

pysnmp is imported on first use so that loading a config never needs it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.devicetext import device_text
from agent.snmp.target import Target

__all__ = ["GetResult", "SnmpClient", "Target", "Value", "WalkResult", "oid_tuple", "text"]

log = logging.getLogger(__name__)

Value = int | str | bytes
Index = tuple[int, ...]



@dataclass
class GetResult:
    result: str
    values: dict[str, Value] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    detail: str = ""
    elapsed_seconds: float = 0.0


@dataclass
class WalkResult:
    result: str
    rows: dict[Index, dict[str, Value]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    detail: str = ""
    requests: int = 0
    elapsed_seconds: float = 0.0


def oid_tuple(oid: str | Sequence[int]) -> Index:
    if isinstance(oid, str):
        return tuple(int(part) for part in oid.strip(".").split("."))
    return tuple(oid)


def text(value: Value | None) -> str:
    """An OCTET STRING as text (see :func:`agent.devicetext.device_text`); one that
    is not text in either encoding (a MAC address, binary) as colon-separated hex,
    the way net-snmp shows a Hex-STRING."""
    if value is None:
        return ""
    if not isinstance(value, bytes):
        return str(value)
    raw = value.rstrip(b"\x00")
    decoded = device_text(raw)
    return raw.hex(":") if decoded is None else decoded


class SnmpClient:
    """Talks to many targets; targets with the same credentials share one pysnmp engine."""

    def __init__(self) -> None:
        from agent.snmp import pysnmp_adapter as snmpwire  # lazy: pulls in pysnmp
        self._wire = snmpwire
        self._engines: dict[tuple[str, ...], Any] = {}
        self._sessions: dict[Target, Any] = {}

    async def __aenter__(self) -> SnmpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for engine in self._engines.values():
            self._wire.close_engine(engine)
        self._engines.clear()
        self._sessions.clear()

    async def _session(self, target: Target) -> Any:
        session = self._sessions.get(target)
        if session is None:
            key = self._wire.credentials_key(target)
            engine = self._engines.get(key)
            if engine is None:
                engine = self._engines[key] = self._wire.new_engine()
            session = await self._wire.Session.open(target, engine)
            self._sessions[target] = session
        return session

    async def get(self, target: Target, oids: Sequence[str]) -> GetResult:
        started = time.monotonic()
        try:
            session = await self._session(target)
        except self._wire.SetupError as err:
            return GetResult("unreachable", detail=str(err))
        reply = await session.request("get", [oid_tuple(o) for o in oids])
        out = GetResult(reply.result, detail=reply.detail)
        if reply.result == "ok":
            for oid, value in reply.varbinds:
                if value is self._wire.ABSENT:
                    out.missing.append(".".join(map(str, oid)))
                else:
                    out.values[".".join(map(str, oid))] = value
            if not out.values:
                out.result, out.detail = "unavailable", "no such object"
        out.elapsed_seconds = time.monotonic() - started
        return out

    async def walk(self, target: Target, columns: Mapping[str, str | Sequence[int]],
                   deadline: float | None = None, max_rows: int = 100_000) -> WalkResult:
        """Walk table columns with GETBULK; ``deadline`` (seconds) bounds the whole walk."""
        started = time.monotonic()
        out = WalkResult("ok")
        try:
            if deadline is None:
                await self._walk(target, columns, out, max_rows)
            else:
                await asyncio.wait_for(self._walk(target, columns, out, max_rows), deadline)
        except asyncio.TimeoutError:
            out.result = "partial" if out.rows else "timeout"
            out.detail = f"walk not finished within {deadline:g} s"
        except self._wire.SetupError as err:
            out.result, out.detail = "unreachable", str(err)
        out.missing = [name for name in columns
                       if not any(name in row for row in out.rows.values())]
        if out.result == "ok" and len(out.missing) == len(columns):
            out.result, out.detail = "unavailable", "no rows in any column"
        out.elapsed_seconds = time.monotonic() - started
        return out

    async def _walk(self, target: Target, columns: Mapping[str, str | Sequence[int]],
                    out: WalkResult, max_rows: int) -> None:
        session = await self._session(target)
        bases = {name: oid_tuple(oid) for name, oid in columns.items()}
        cursor = dict(bases)
        active = list(bases)
        while active:
            reply = await session.request("bulk", [cursor[n] for n in active],
                                          target.max_repetitions)
            out.requests += 1
            if reply.result != "ok":
                out.result = "partial" if out.rows else reply.result
                out.detail = reply.detail
                return
            done: set[str] = set()
            advanced: set[str] = set()
            # GETBULK answers row-major: the i-th varbind belongs to column i mod n.
            for i, (oid, value) in enumerate(reply.varbinds):
                name = active[i % len(active)]
                if name in done:
                    continue
                base = bases[name]
                if value is self._wire.END or oid[:len(base)] != base or len(oid) == len(base):
                    done.add(name)
                    continue
                if oid <= cursor[name]:
                    # A buggy agent looping back would keep us here for ever.
                    log.info("%s: OID not increasing in column %s", target.label, name)
                    done.add(name)
                    continue
                cursor[name] = oid
                advanced.add(name)
                if value is not self._wire.ABSENT:
                    out.rows.setdefault(oid[len(base):], {})[name] = value
            active = [n for n in active if n not in done and n in advanced]
            if len(out.rows) > max_rows:
                out.result, out.detail = "partial", f"more than {max_rows} rows"
                return
