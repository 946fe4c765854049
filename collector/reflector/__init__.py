"""STAMP reflector (RFC 8762) for the agents' ``path_quality`` probe (stdlib only).

A county, city or province network centre runs ``schoolnet-collector
reflector`` so that schools can measure round-trip time, jitter and loss to it
(see :mod:`.server` for the limits that keep it from being abused).

Ours rather than ``irtt server`` because the agents speak STAMP (see
:mod:`agent.contract.stamp` for why); a router that reflects STAMP or
TWAMP-light can stand in for it. Measured beside ``irtt server``
(``tests/bench/bench_path_methods.py``, one school probing at 10 packets/s,
two of its targets on the province host): peak RSS 25 MiB (a Python
process) against irtt server's 5.4-5.7 MiB. irtt's is lighter, which does
not matter on a centre's server. irtt server answered the host's second
address (the platform's) only when started with ``--set-src-ip``; this
reflector always answers from the address each packet was sent to.
"""

from __future__ import annotations

from collector.reflector.server import Limits, Reflector, open_socket, serve

__all__ = ["Limits", "Reflector", "open_socket", "serve"]
