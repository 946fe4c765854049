"""Why the broker cannot be reached, in plain words with what to do.

paho retries a failed connection in its own thread and only logs it at debug
level, so a school engineer with a wrong host, a closed port or a TLS mismatch
saw nothing. ``describe`` turns the exception (or a refused CONNACK) into one
line; ``LinkLog`` logs a cause once, and again only when it changes.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import threading

log = logging.getLogger(__name__)


def describe(err: BaseException, host: str, port: int, tls: bool) -> tuple[str, str]:
    """(kind, message) for a failed connection attempt to host:port."""
    where = f"{host}:{port}"
    if isinstance(err, socket.gaierror):
        return "dns", (f"cannot resolve the broker's name {host!r} ({err.strerror}): check "
                       "[mqtt] host and this gateway's DNS")
    if isinstance(err, ssl.SSLCertVerificationError):
        why = err.verify_message or str(err)
        if "hostname" in why.lower() or "ip address mismatch" in why.lower():
            hint = "[mqtt] host must be a name the broker's certificate carries"
        else:
            hint = "set [mqtt] ca_file to the CA bundle the network centre gave you"
        return "tls_verify", f"the broker {where}'s TLS certificate is not trusted ({why}): {hint}"
    if isinstance(err, ssl.SSLError) or (tls and isinstance(err, (ConnectionResetError,
                                                                  BrokenPipeError))):
        return "tls", (f"TLS handshake with {where} failed ({_short(err)}): is that port a "
                       "TLS listener? Use port 8883 with tls = true, 1883 with tls = false")
    if isinstance(err, ConnectionRefusedError):
        return "refused", (f"{where} refused the connection: no broker listens on port {port} "
                           "there; check [mqtt] host and port")
    if isinstance(err, (TimeoutError, socket.timeout)):
        return "timeout", (f"no answer from {where}: a firewall may drop the traffic; check "
                           "that this gateway may reach that port")
    if isinstance(err, OSError) and err.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "unreachable", (f"no route to {where} ({_short(err)}): check this gateway's "
                               "default route and uplink")
    return "error", f"cannot connect to {where}: {_short(err)}"


def describe_connack(reason: object, where: str) -> tuple[str, str]:
    """(kind, message) for a CONNACK that refused us."""
    text = str(reason)
    if "password" in text.lower() or "not authorized" in text.lower():
        return "auth", (f"the broker {where} refused the login ({text}): check [mqtt] "
                        "username and password (or the client certificate)")
    return "connack", f"the broker {where} refused the connection: {text}"


def _short(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(str(text).split())[:200]


class LinkLog:
    """The current connection problem; logged when it first appears or changes."""

    def __init__(self) -> None:
        self.kind: str | None = None
        self.message: str | None = None
        self._lock = threading.Lock()

    def failed(self, kind: str, message: str) -> None:
        with self._lock:
            changed = kind != self.kind
            self.kind, self.message = kind, message
        if changed:
            log.error("%s; retrying with backoff", message)

    def connected(self) -> None:
        with self._lock:
            had, self.kind, self.message = self.kind, None, None
        if had is not None:
            log.info("the broker is reachable again")
