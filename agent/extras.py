"""Which optional packages (setup.cfg extras) each enabled probe needs.

Probes import their heavy libraries only when they run, so a missing extra
used to show up as a traceback in every cycle; check-config, status and the
installer ask here instead.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from dataclasses import dataclass
from typing import Any

# Mirrors [options.extras_require] in setup.cfg (a test keeps them equal).
EXTRAS: dict[str, tuple[str, ...]] = {
    "ipv6": ("dnspython>=2.3", "scapy>=2.5"),
    "snmp": ("pysnmp>=7.1,<8", "cryptography>=42"),
    "wifi-sniff": ("scapy>=2.5",),
    "speedtest": ("speedtest-cli>=2.1.3",),
}
# extra -> the module that proves it is installed
MODULES = {"ipv6": "dns", "snmp": "pysnmp", "wifi-sniff": "scapy", "speedtest": "speedtest"}


@dataclass(frozen=True)
class Need:
    probe: str
    extra: str

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(MODULES[self.extra]) is not None


def needs(probe: str, opts: Any) -> list[Need]:
    """The extras ``probe`` needs with these options."""
    if probe == "ipv6":
        return [Need(probe, "ipv6")]
    if probe == "classroom_links":
        return [Need(probe, "snmp")]
    if probe == "wifi":
        out = [Need(probe, "snmp")] if getattr(opts, "controllers", None) else []
        if getattr(opts, "scan_interface", "") and getattr(opts, "scan_method", "") == "scapy":
            out.append(Need(probe, "wifi-sniff"))
        return out
    if probe == "wan_throughput" and getattr(opts, "method", "") == "speedtest":
        return [Need(probe, "speedtest")]
    return []


def pip_command(extras: list[str]) -> str:
    """The exact command that installs these extras into this agent's Python."""
    packages = sorted({p for extra in extras for p in EXTRAS[extra]})
    return " ".join([shlex.quote(sys.executable), "-m", "pip", "install",
                     *map(shlex.quote, packages)])


def missing(probes: list[tuple[str, Any]]) -> list[Need]:
    return [n for name, opts in probes for n in needs(name, opts) if not n.installed]


def main(argv: list[str] | None = None) -> int:
    """``python -m agent.extras CONFIG``: the extras the config's probes need,
    comma-separated (for the installer)."""
    from agent import config

    args = sys.argv[1:] if argv is None else argv
    cfg = config.load(args[0])
    wanted = sorted({n.extra for p in cfg.probes for n in needs(p.name, p.opts)})
    print(",".join(wanted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
