"""The example config, built from the agent's own sample and each probe's.

Each probe package carries the config block it documents (``sample.toml``);
``configs/agent.example.toml`` is those blocks after the agent's own
sections, in registry order, so a sample is written once and a test proves
every one of them loads. Rebuild the file with ``python -m agent.example``.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from agent.probes import REGISTRY

EXAMPLE = Path(__file__).resolve().parent.parent / "configs" / "agent.example.toml"


def agent_sample() -> str:
    return resources.files("agent").joinpath("sample.toml").read_text(encoding="utf-8")


def probe_sample(name: str) -> str:
    """The probe's documented config block; reading it imports no probe code."""
    package = REGISTRY[name].partition(":")[0].rsplit(".", 1)[0]
    return resources.files(package).joinpath("sample.toml").read_text(encoding="utf-8")


def build() -> str:
    parts = [agent_sample(), *(probe_sample(name) for name in REGISTRY)]
    return "\n".join(part.rstrip("\n") + "\n" for part in parts)


if __name__ == "__main__":
    EXAMPLE.write_text(build(), encoding="utf-8")
    print(f"wrote {EXAMPLE}", file=sys.stderr)
