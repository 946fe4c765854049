"""Who may test, how much, and for how long: the speed server's abuse limits.

Deadlines are absolute and enforced by one reaper thread, never by socket
idle timeouts: an idle timeout restarts on every byte, so a client
trickling a byte every 20 s would hold its connection for ever. A request's
line and headers get ``header_seconds`` in total; a body, after a grace,
must have averaged ``min_rate`` bytes per second. A connection past either
is shut down, which wakes its thread from the blocked read or write.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class Tokens:
    """Token -> client name, looked up by digest so no comparison leaks timing."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._by_digest = {self._digest(t): name for name, t in tokens.items()}

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def client(self, authorization: str | None) -> str | None:
        """The client name for an ``Authorization: Bearer`` header, "" if the
        header is missing, None if the token is not known."""
        if not authorization:
            return ""
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._by_digest.get(self._digest(token.strip()))


class Budget:
    """Bytes per client per UTC day. A request reserves what it asks for and
    gets back what it did not move, so concurrent requests cannot overrun."""

    def __init__(self, daily_bytes: float, overrides: Mapping[str, float] | None = None) -> None:
        self.daily = daily_bytes
        self.overrides = dict(overrides or {})
        self._lock = threading.Lock()
        self._day = ""
        self._used: Counter[str] = Counter()

    def limit(self, client: str) -> float:
        return self.overrides.get(client, self.daily)

    def _roll(self) -> None:
        today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        if today != self._day:
            self._day, self._used = today, Counter()

    def reserve(self, client: str, size: int) -> float | None:
        """None when reserved; otherwise the bytes that were left."""
        with self._lock:
            self._roll()
            left = self.limit(client) - self._used[client]
            if size > left:
                return max(0.0, left)
            self._used[client] += size
            return None

    def refund(self, client: str, size: int) -> None:
        with self._lock:
            if size > 0 and self._used[client] >= size:
                self._used[client] -= size

    def used(self, client: str) -> int:
        with self._lock:
            self._roll()
            return self._used[client]


def seconds_to_midnight_utc() -> int:
    now = datetime.datetime.now(datetime.timezone.utc)
    tomorrow = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                           microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


@dataclass(eq=False)
class Conn:
    sock: socket.socket
    address: str
    since: float = field(default_factory=time.monotonic)
    phase: str = "headers"  # or "body"
    moved: int = 0
    client: str = ""
    killed: str = ""


class Tracker:
    """Every open connection, its phase and deadline; transfer slots."""

    def __init__(self, max_connections: int, max_transfers: int, per_client: int,
                 header_seconds: float, min_rate: float, grace: float) -> None:
        self.max_connections, self.max_transfers = max_connections, max_transfers
        self.per_client = per_client
        self.header_seconds, self.min_rate, self.grace = header_seconds, min_rate, grace
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, Conn] = {}
        self._transfers: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self._stop = threading.Event()

    def admit(self, sock: socket.socket, address: str) -> Conn | None:
        """Track a new connection, making room if need be; None: refuse it."""
        with self._lock:
            # Connections already shut but not yet released by their handler
            # hold no room: counting them could leave a school's request the
            # only header-phase one to evict when its handlers lag (a busy host).
            live = sum(not c.killed for c in self._conns.values())
            if live >= self.max_connections and not self._evict():
                self.stats["refused_full"] += 1
                return None
            conn = Conn(sock, address)
            self._conns[sock] = conn
            return conn

    def _evict(self) -> bool:
        # The oldest header-phase socket of the address holding most of them:
        # a newcomer from a school's address is never the one to go.
        waiting = [c for c in self._conns.values() if c.phase == "headers" and not c.killed]
        if not waiting:
            return False
        per_address = Counter(c.address for c in waiting)
        victim = min(waiting, key=lambda c: (-per_address[c.address], c.since))
        self._kill(victim, "evicted")
        del self._conns[victim.sock]
        return True

    def get(self, sock: socket.socket) -> Conn | None:
        with self._lock:
            return self._conns.get(sock)

    def release(self, sock: socket.socket) -> None:
        # Called before the socket closes, so the reaper never shuts a reused fd.
        with self._lock:
            self._conns.pop(sock, None)

    def headers(self, conn: Conn) -> None:
        with self._lock:
            conn.phase, conn.since, conn.moved = "headers", time.monotonic(), 0

    def body(self, conn: Conn) -> None:
        with self._lock:
            conn.phase, conn.since, conn.moved = "body", time.monotonic(), 0

    def start_transfer(self, client: str) -> str:
        """"" when a slot is taken; otherwise why not."""
        with self._lock:
            if sum(self._transfers.values()) >= self.max_transfers:
                self.stats["busy"] += 1
                return f"the server is at its limit of {self.max_transfers} transfers at once"
            if self._transfers[client] >= self.per_client:
                self.stats["busy_client"] += 1
                return f"this client already runs {self.per_client} transfers at once"
            self._transfers[client] += 1
            return ""

    def end_transfer(self, client: str) -> None:
        with self._lock:
            self._transfers[client] -= 1
            if self._transfers[client] <= 0:
                del self._transfers[client]

    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def _kill(self, conn: Conn, why: str) -> None:
        conn.killed = why
        self.stats[why] += 1
        with contextlib.suppress(OSError):  # already closed by the peer
            conn.sock.shutdown(socket.SHUT_RDWR)

    def reap(self, now: float | None = None) -> None:
        """Shut every connection past its deadline (one pass)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for conn in list(self._conns.values()):
                if conn.killed:
                    continue
                age = now - conn.since
                if conn.phase == "headers" and age > self.header_seconds:
                    self._kill(conn, "header_deadline")
                elif conn.phase == "body" and age > self.grace \
                        and conn.moved < self.min_rate * (age - self.grace):
                    log.info("closing a transfer of %s from %s: %d bytes in %.0f s is below "
                             "the minimum rate", conn.client, conn.address, conn.moved, age)
                    self._kill(conn, "too_slow")

    def run_reaper(self, every: float = 0.25) -> None:
        while not self._stop.wait(every):
            self.reap()

    def stop(self) -> None:
        self._stop.set()
