"""Measurement server for the agents' ``wan_throughput`` probe (stdlib only).

An education network centre runs ``schoolnet-collector speed-server -c
speed-server.toml`` so that schools can measure their exit bandwidth
without the public internet. Only clients holding a token from that file
are served, each within a daily byte budget; half-open and trickling
connections are cut by absolute deadlines (see :mod:`.guard`).
"""

from __future__ import annotations

import logging

from collector.speedserver.config import SpeedServerConfig
from collector.speedserver.http import LEGACY_FILES, UPLOAD_PATHS, SpeedServer

__all__ = ["LEGACY_FILES", "UPLOAD_PATHS", "SpeedServer", "serve"]
log = logging.getLogger(__name__)


def serve(cfg: SpeedServerConfig, listen: str | None = None, port: int | None = None) -> None:
    s = cfg.server
    server = SpeedServer((listen or s.listen, s.port if port is None else port),
                         dict(cfg.tokens), max_bytes=s.max_bytes,
                         max_connections=s.max_connections, max_transfers=s.max_transfers,
                         max_transfers_per_client=s.max_transfers_per_client,
                         header_seconds=s.header_seconds, min_rate_kbps=s.min_rate_kbps,
                         body_grace_seconds=s.body_grace_seconds,
                         daily_budget_mb=s.daily_budget_mb, budgets=dict(cfg.budgets))
    log.info("speed server listening on %s:%d for %d client(s)", listen or s.listen,
             server.server_address[1], len(cfg.tokens))
    try:
        server.serve_forever()
    finally:
        server.server_close()
