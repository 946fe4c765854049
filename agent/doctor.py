"""``schoolnet-agent status``: check this gateway end to end and say what to fix.

Each check is a line with ✔ or ✘ and, when it fails, what to do. The checks
follow the path of a reading: the config, the probes' packages and
privileges, the spool's directory, the broker (name, port, TLS, login, the
ACL), the collector (a receipt for a test reading, the clocks), then what the
daemon last recorded. A check that cannot run because an earlier one failed
is not shown, so the first ✘ is the thing to fix first.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agent import config as agent_config
from agent import statefile
from agent.contract.errors import ConfigError, ConfigErrors
from agent.contract.filecheck import writable_dir_problem
from agent.doctorlink import round_trip
from agent.doctortext import language, render
from agent.extras import needs, pip_command
from agent.linkcause import describe

EXIT_FAILED = 1
MIN_FREE_BYTES = 50 * 1024 * 1024
STALE_UNSENT = 3600.0  # an unsent reading older than this means nothing goes out
CAPS = {"net_admin": 12, "net_raw": 13}


@dataclass
class Check:
    key: str  # names the check in every language (doctortext.TITLES)
    ok: bool | None  # None: shown for information, neither passes nor fails
    detail: str = ""
    fix: str = ""
    code: str = ""  # names the remedy in every language (doctortext.FIXES)
    args: dict[str, str] = field(default_factory=dict)  # the remedy's particulars


def _config(path: str) -> tuple[agent_config.AgentConfig | None, Check]:
    try:
        cfg = agent_config.load(path)
    except ConfigErrors as err:
        return None, Check("config", False, "\n".join(str(e) for e in err.errors),
                           f"fix the lines named, then run schoolnet-agent check-config -c {path}",
                           "config", {"path": path})
    except ConfigError as err:
        return None, Check("config", False, str(err),
                           f"fix it, then run schoolnet-agent check-config -c {path}",
                           "config", {"path": path})
    return cfg, Check("config", True, f"school {cfg.identity.school_id} ({cfg.identity.prefix})")


def _extras(cfg: agent_config.AgentConfig) -> list[Check]:
    out = []
    for probe in cfg.probes:
        for need in needs(probe.name, probe.opts):
            if need.installed:
                out.append(Check("extra", True, f"{probe.name}: {need.extra}"))
            else:
                command = pip_command([need.extra])
                out.append(Check("extra", False, f"{probe.name}: extra '{need.extra}' is not "
                                 "installed", command, "extra", {"cmd": command}))
    return out


def _effective_caps() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def _caps(cfg: agent_config.AgentConfig) -> list[Check]:
    wanted: dict[str, set[str]] = {}
    for probe in cfg.probes:
        opts = probe.opts
        if probe.name == "ipv6" and getattr(opts, "lan_interface", None):
            wanted.setdefault(probe.name, set()).add("net_raw")  # captures Router Advertisements
        if probe.name == "wifi" and getattr(opts, "scan_interface", None):
            wanted.setdefault(probe.name, set()).add("net_admin")  # triggers a radio scan
            if getattr(opts, "scan_method", "") == "scapy":
                wanted[probe.name].add("net_raw")
    have = _effective_caps()
    out = []
    for name, caps in wanted.items():
        lacking = sorted(c for c in caps if not have >> CAPS[c] & 1)
        names = ", ".join(f"CAP_{c.upper()}" for c in sorted(caps))
        if lacking:
            out.append(Check("caps", False, f"{name} needs {names}; this process lacks "
                             + ", ".join(f"CAP_{c.upper()}" for c in lacking),
                             "run as the schoolnet-agent service (its unit grants them) or as "
                             "root", "caps"))
        else:
            out.append(Check("caps", True, f"{name}: {names}"))
    return out


def _state_dir(cfg: agent_config.AgentConfig) -> Check:
    problem = writable_dir_problem(cfg.agent.state_dir, "agent.state_dir")
    if problem is not None:
        return Check("state_dir", False, problem.message,
                     "run as the user the service runs as (sudo -u schoolnet-agent "
                     "schoolnet-agent status ...) or point [agent] state_dir at a directory "
                     "this user may write", "state_dir")
    here = Path(cfg.agent.state_dir)
    while not here.exists():
        here = here.parent
    free = shutil.disk_usage(here).free
    if free < MIN_FREE_BYTES:
        return Check("state_dir", False, f"{cfg.agent.state_dir}: only {free >> 20} MiB free",
                     "free disk space: the spool keeps readings there while the broker is away",
                     "disk_full")
    return Check("state_dir", True, f"{cfg.agent.state_dir} writable, {free >> 20} MiB free")


def _network(cfg: agent_config.AgentConfig, timeout: float) -> list[Check]:
    m = cfg.mqtt
    try:
        addrs = socket.getaddrinfo(m.host, m.port, type=socket.SOCK_STREAM)
    except OSError as err:
        return [_failed("dns", err, m.host, m.port, m.tls)]
    out = [Check("dns", True, f"{m.host} → {addrs[0][4][0]}")]
    try:
        sock = socket.create_connection((m.host, m.port), timeout=min(timeout, 10.0))
    except OSError as err:
        return [*out, _failed("tcp", err, m.host, m.port, m.tls)]
    with sock:
        out.append(Check("tcp", True, f"{m.host}:{m.port}"))
        if not m.tls:
            return out
        context = ssl.create_default_context(cafile=m.ca_file or None)
        try:
            if m.cert_file:
                context.load_cert_chain(m.cert_file, m.key_file or None)
            with context.wrap_socket(sock, server_hostname=m.host) as tls:
                cert = tls.getpeercert() or {}
        except OSError as err:
            return [*out, _failed("tls", err, m.host, m.port, True)]
    return [*out, Check("tls", True, f"certificate for {m.host} verified, valid until "
                        f"{cert.get('notAfter', '?')}")]


def _failed(key: str, err: OSError, host: str, port: int, tls: bool) -> Check:
    code, message = describe(err, host, port, tls)
    return Check(key, False, *_split(message), code, {"where": f"{host}:{port}"})


def _split(message: str) -> tuple[str, str]:
    """A linkcause message 'what: what to do' as (detail, fix)."""
    what, _, fix = message.rpartition(": ")
    return (what, fix) if what else (message, "")


def _spool_and_record(cfg: agent_config.AgentConfig, oldest_unsent_ts: float | None,
                      depth: int) -> list[Check]:
    out = []
    age = time.time() - oldest_unsent_ts if oldest_unsent_ts else 0.0
    detail = f"{depth} readings spooled" + (f", oldest unsent {_ago(age)}" if age else "")
    if age > STALE_UNSENT:
        out.append(Check("spool", False, detail, "the readings are not getting out: fix the "
                         "broker checks above, or see journalctl -u schoolnet-agent",
                         "spool_stale"))
    else:
        out.append(Check("spool", True, detail))
    record = statefile.read(cfg.state_dir)
    if record is None:
        out.append(Check("daemon", None, "no record from the daemon yet",
                         "start it: systemctl enable --now schoolnet-agent", "no_daemon"))
        return out
    last_pub, last_rec = record.get("last_published"), record.get("last_receipt")
    detail = (f"last publish {_ago(time.time() - last_pub) if last_pub else 'never'}, "
              f"last receipt {_ago(time.time() - last_rec) if last_rec else 'never'}")
    problem = record.get("link_problem") or record.get("broker_refused")
    out.append(Check("daemon", not problem, detail + (f"; {problem}" if problem else "")))
    return out


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def checks(path: str, timeout: float) -> list[Check]:
    cfg, first = _config(path)
    if cfg is None:
        return [first]
    out = [first, *_extras(cfg), *_caps(cfg)]
    state = _state_dir(cfg)
    out.append(state)
    network = _network(cfg, timeout)
    out += network
    if not all(c.ok for c in network):
        spool_dir = None
    else:
        spool_dir = cfg.state_dir if state.ok else Path(tempfile.mkdtemp(prefix="schoolnet-"))
    if spool_dir is not None:
        try:
            found, oldest, depth = round_trip(cfg, spool_dir, timeout)
        finally:
            if spool_dir != cfg.state_dir:
                shutil.rmtree(spool_dir, ignore_errors=True)
        out += [Check(*c) for c in found]
        if state.ok:
            out += _spool_and_record(cfg, oldest, depth)
    return out


def main(path: str, as_json: bool, lang: str | None, timeout: float) -> int:
    found = checks(path, timeout)
    ok = all(c.ok is not False for c in found)
    if as_json:
        print(json.dumps({"ok": ok, "config": path, "checks": [asdict(c) for c in found]},
                         ensure_ascii=False, indent=1))
    else:
        print(render(found, path, language(lang, os.environ), sys.stdout.encoding or ""))
    if found[0].key == "config" and not found[0].ok:
        return 2
    return 0 if ok else EXIT_FAILED
