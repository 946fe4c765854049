"""systemd's notify protocol (sd_notify) with the standard library only.

Both programs run as ``Type=notify`` with ``WatchdogSec=``: they say READY=1
once up, WATCHDOG=1 at half the watchdog period while their work makes
progress (the agent: its event loop runs and its publisher thread comes
round; a stall stops the pings and systemd restarts it), and STOPPING=1 on
shutdown. Outside systemd (no NOTIFY_SOCKET, as on
OpenWrt or in a terminal) every call is a cheap no-op.
"""

from __future__ import annotations

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
            # Never wait on a reader that stopped reading: the caller is the
            # loop whose liveness the pings vouch for.
            sock.setblocking(False)
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
