"""What every wan_throughput method returns, and how network errors become result codes."""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from agent.contract.reading import FieldValue
from agent.errors import AgentError


class HttpStatusError(AgentError, ConnectionError):
    """The server answered, but not 200: 401/403 no or a wrong token, 429 the
    day's budget is used up, 503 busy. The text carries the server's reason."""

    def __init__(self, status_line: str, reason: bytes = b"") -> None:
        parts = status_line.split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        said = " ".join(reason.decode("utf-8", "replace").split())
        # The server's words are shown to a person: printable text only, bounded.
        said = "".join(c for c in said if c.isprintable())[:160]
        super().__init__(f"{status_line}: {said}" if said else status_line)


def refusal(head: bytes, sock_recv: Callable[[int], bytes] | None = None) -> HttpStatusError:
    """The error for a non-200 reply whose head (and perhaps body) is ``head``."""
    header, _, body = head.partition(b"\r\n\r\n")
    status = header.split(b"\r\n", 1)[0].decode("ascii", "replace")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", header)
    want = min(int(length.group(1)), 400) if length else 0
    while sock_recv is not None and len(body) < want:
        try:
            more = sock_recv(want - len(body))
        except OSError:
            break
        if not more:
            break
        body += more
    return HttpStatusError(status, body[:want])


@dataclass
class SpeedResult:
    method: str
    server: str
    result: str = "ok"
    error: str = ""
    download_bps: float | None = None
    upload_bps: float | None = None
    rtt_seconds: float | None = None
    jitter_seconds: float | None = None
    download_bytes: int = 0  # payload bytes the test moved, both counted in bytes_used
    upload_bytes: int = 0
    download_seconds: float | None = None
    upload_seconds: float | None = None
    streams: int = 0
    extra: dict[str, FieldValue] = field(default_factory=dict)

    def fields(self) -> dict[str, FieldValue]:
        out: dict[str, FieldValue] = {}
        for key in ("download_bps", "upload_bps", "download_seconds", "upload_seconds"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(value, 3)
        for key in ("rtt_seconds", "jitter_seconds"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(value, 6)
        out["download_bytes"] = self.download_bytes
        out["upload_bytes"] = self.upload_bytes
        out["bytes_used"] = self.download_bytes + self.upload_bytes
        out["streams"] = self.streams
        out.update(self.extra)
        if self.error:
            # One printable line: tool output may carry newlines or tabs.
            out["error"] = " ".join(self.error.split())[:200] or "error"
        out["result"] = self.result
        return out


def classify(err: BaseException) -> tuple[str, str]:
    """A result code and a short reason for an expected network failure."""
    if isinstance(err, HttpStatusError):
        code = {401: "auth_failed", 403: "auth_failed", 429: "unavailable",
                503: "unavailable"}.get(err.status, "error")
        return code, str(err)[:200]
    if isinstance(err, socket.gaierror):
        return "unreachable", f"dns: {err.strerror or err}"
    if isinstance(err, (TimeoutError, socket.timeout)):
        return "timeout", "timed out"
    if isinstance(err, ConnectionRefusedError):
        return "refused", "connection refused"
    if isinstance(err, OSError) and err.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH,
                                                  errno.EADDRNOTAVAIL):
        return "unreachable", err.strerror or str(err)
    if isinstance(err, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return "error", "connection reset"
    reason = getattr(err, "reason", None)  # urllib wraps the socket error
    if isinstance(reason, BaseException):
        return classify(reason)
    return "error", f"{type(err).__name__}: {err}"


def split_url(url: str, default_port: int = 80) -> tuple[str, int]:
    parts = urlsplit(url if "//" in url else f"//{url}")
    return parts.hostname or "", parts.port or default_port


def server_tag(url: str) -> str:
    """A bounded tag value naming the server: host[:port], never a path or query."""
    host, port = split_url(url)
    if ":" in host:
        host = f"[{host}]"
    text = f"{host}:{port}" if port not in (80, 443) else host
    return text[:128] or "unknown"


def preflight(url: str, timeout: float, source: str = "") -> SpeedResult | None:
    """Open and close one TCP connection; a failure result, or None when reachable."""
    host, port = split_url(url)
    try:
        with socket.create_connection((host, port), timeout=timeout,
                                      source_address=(source, 0) if source else None):
            return None
    except OSError as err:
        result, reason = classify(err)
        return SpeedResult("", server_tag(url), result=result, error=reason)
