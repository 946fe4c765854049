"""systemd's notify protocol (sd_notify) with the standard library only.

The agent runs as ``Type=notify`` with ``WatchdogSec=``: it says READY=1 once
the daemon is up, WATCHDOG=1 at half the watchdog period from a task on the
event loop (so a wedged loop stops the pings and systemd restarts the
agent), and STOPPING=1 on shutdown. Outside systemd (no NOTIFY_SOCKET, as on
OpenWrt or in a terminal) every call is a cheap no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

log = logging.getLogger(__name__)


def _address() -> str | None:
    addr = os.environ.get("NOTIFY_SOCKET", "")
    if not addr:
        return None
    if addr.startswith("@"):  # abstract namespace socket
        return "\0" + addr[1:]
    if addr.startswith("/"):
        return addr
    # vsock and other transports are not used for services on a gateway.
    log.debug("ignoring NOTIFY_SOCKET %r: not a unix socket path", addr)
    return None


def notify(state: str) -> bool:
    """Send one state string (e.g. ``READY=1``); True if it was delivered."""
    addr = _address()
    if addr is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(addr)
            sock.sendall(state.encode())
    except OSError as err:
        # systemd going away must never take the agent down with it.
        log.warning("sd_notify %s to %s failed: %s", state, addr, err)
        return False
    return True


def watchdog_period() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None if off."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    # The variables are inherited by children; only the process systemd
    # started (WATCHDOG_PID) may feed the watchdog.
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2e6


async def watchdog(stop: asyncio.Event) -> None:
    """Feed systemd's watchdog until ``stop`` is set; returns at once if none is set."""
    period = watchdog_period()
    if period is None:
        return
    log.debug("feeding the systemd watchdog every %.1f s", period)
    while not stop.is_set():
        notify("WATCHDOG=1")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), period)
