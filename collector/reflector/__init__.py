"""STAMP reflector (RFC 8762) for the agents' ``path_quality`` probe (stdlib only).

A county, city or province network centre runs ``schoolnet-collector
reflector`` so that schools can measure round-trip time, jitter and loss to it
(see :mod:`.server` for the limits that keep it from being abused).
"""

from __future__ import annotations

from collector.reflector.server import Limits, Reflector, open_socket, serve

__all__ = ["Limits", "Reflector", "open_socket", "serve"]
