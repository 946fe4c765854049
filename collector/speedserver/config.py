"""The speed server's own TOML config: who may test (tokens) and how much.

It is a file of its own, not a table of the collector's config, because the
speed server usually runs on another host (at the centre's exit), and its
tokens are secrets the collector has no use for.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from agent.contract import configschema
from agent.contract.configschema import Problem, between, not_a_key, opt, section

# Printable ASCII without spaces or quotes, long enough not to be guessed.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{16,200}")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
PLACEHOLDER = "replace-with"  # configs/speed-server.example.toml's, never to be served


@section
class Server:
    listen: str = opt("0.0.0.0")
    port: int = opt(8080, between(1, 65535))
    # Largest download or upload one request may ask for.
    max_bytes: int = opt(1 << 30, between(1, 1 << 40))
    # Open sockets. When full, the oldest socket still sending its headers
    # (from the address with most of those) is closed to make room, so a
    # crowd of half-open connections cannot keep a school out.
    max_connections: int = opt(1024, between(8, 100_000))
    # Requests moving bytes at once: in total and per client (token).
    max_transfers: int = opt(64, between(1, 10_000))
    max_transfers_per_client: int = opt(16, between(1, 10_000))
    # A request line and headers must arrive within this, however they trickle.
    header_seconds: float = opt(10.0, between(0.5, 300))
    # After body_grace_seconds a body (either way) must have averaged this.
    min_rate_kbps: float = opt(64.0, between(0, 1e7))
    body_grace_seconds: float = opt(5.0, between(0.5, 300))
    # Bytes each client (token) may move per UTC day, both directions together.
    daily_budget_mb: float = opt(5000.0, between(1, 1e9))


@section
class SpeedServerConfig:
    server: Server = opt()
    # NAME = TOKEN: one per school, or one shared; NAME appears in logs and
    # budgets, the token never does.
    tokens: dict[str, str] = opt({})
    # NAME = MB per day, for clients that need more or less than the default
    # (a token shared by many schools).
    budgets: dict[str, float] = opt({})
    file: str = not_a_key("")

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if not self.tokens:
            out.append((("tokens",), "lists no token: add NAME = \"TOKEN\" lines (one per "
                                     "school, or one shared); anonymous tests are not served"))
        seen: dict[str, str] = {}
        for name, token in self.tokens.items():
            if not _NAME.fullmatch(name):
                out.append((("tokens", name), "names must be letters, digits, '.', '_' or '-'"))
            if not _TOKEN.fullmatch(token):
                # Never echo the value: it is a secret.
                out.append((("tokens", name), "must be 16-200 characters of letters, digits "
                                              "or ._~+/=- (e.g. from: openssl rand -hex 24)"))
            elif token.startswith(PLACEHOLDER):
                out.append((("tokens", name), "is the example's placeholder: make a token "
                                              "with openssl rand -hex 24"))
            elif token in seen:
                out.append((("tokens", name), f"is the same token as '{seen[token]}'"))
            seen.setdefault(token, name)
        for name, mb in self.budgets.items():
            if name not in self.tokens:
                out.append((("budgets", name), "names no client in [tokens]"))
            elif not 0 < mb <= 1e9:
                out.append((("budgets", name), "must be between 0 and 1e9 MB"))
        return out


def load(path: str | Path) -> SpeedServerConfig:
    cfg = configschema.load(path, SpeedServerConfig)
    return dataclasses.replace(cfg, file=str(path))
