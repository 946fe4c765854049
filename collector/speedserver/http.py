"""The speed server's HTTP side: routes, token check, budgets, streaming.

Speaks two layouts over plain HTTP/1.1:

* the legacy speedtest "mini" layout that speedtest-cli understands:
  ``/speedtest/latency.txt``, ``/speedtest/random{N}x{N}.jpg`` (same byte
  sizes as speedtest.net's files) and ``POST /speedtest/upload.php``;
* the built-in tester's endpoints: ``GET /download?bytes=N`` streams N bytes,
  ``POST /upload`` swallows the body and answers ``size=N``.

Every request needs ``Authorization: Bearer TOKEN`` (401 without, 403 for
an unknown token); a request that would pass its client's daily budget gets
429, one past the transfer caps 503, each with a plain-words body.

Why speedtest-cli's upload "fails" against a plain file server: it POSTs the
body to ``upload.php``; a static server answers 501/405 straight away and
closes without reading the body, and speedtest-cli then counts only the few
kilobytes it had handed to the socket before the reset, so the upload reads
about 1 Mbps. Here every upload route reads the whole body before it answers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collector.speedserver.guard import Budget, Conn, Tokens, Tracker, seconds_to_midnight_utc

log = logging.getLogger(__name__)

# Byte sizes of speedtest.net's random{N}x{N}.jpg files, so that speedtest-cli
# moves exactly as many bytes here as against a public server.
LEGACY_FILES = {350: 245388, 500: 505544, 750: 1118012, 1000: 1986284, 1500: 4468241,
                2000: 7907740, 2500: 12407926, 3000: 17816816, 3500: 24262167,
                4000: 31625365}
UPLOAD_PATHS = {"/upload", "/speedtest/upload.php", "/speedtest/upload.asp",
                "/speedtest/upload.aspx", "/speedtest/upload.jsp"}
_RANDOM = re.compile(r"/speedtest/random(\d+)x(\d+)\.jpg")
_CHUNK = 1 << 20
# Incompressible bytes, made once: a proxy that compresses must not flatter the link.
_DATA = memoryview(os.urandom(_CHUNK))
# What set_mini_server() looks for to learn the upload script's extension.
_INDEX = b'<html><body>schoolnet speed server<script>upload_extension: "php"</script></body></html>'
_NEED_TOKEN = (b"this speed server needs a token: set token in [probes.wan_throughput] of "
               b"the agent's config (ask the network centre for one)\n")
_BAD_TOKEN = (b"this token is not known to the speed server: check token in "
              b"[probes.wan_throughput], or ask the network centre for a new one\n")


class SpeedServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], tokens: dict[str, str], *,
                 max_bytes: int = 1 << 30, max_connections: int = 1024,
                 max_transfers: int = 64, max_transfers_per_client: int = 16,
                 header_seconds: float = 10.0, min_rate_kbps: float = 64.0,
                 body_grace_seconds: float = 5.0, daily_budget_mb: float = 5000.0,
                 budgets: dict[str, float] | None = None, reaper_every: float = 0.25) -> None:
        self.max_bytes = max_bytes
        self.tokens = Tokens(tokens)
        self.budget = Budget(daily_budget_mb * 1e6,
                             {k: v * 1e6 for k, v in (budgets or {}).items()})
        self.tracker = Tracker(max_connections, max_transfers, max_transfers_per_client,
                               header_seconds, min_rate_kbps * 1000 / 8, body_grace_seconds)
        # Backstop only; the reaper's absolute deadlines are what bound a client.
        self.socket_timeout = max(60.0, header_seconds * 2)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, SpeedHandler)
        self._reaper = threading.Thread(target=self.tracker.run_reaper, args=(reaper_every,),
                                        daemon=True, name="speed-reaper")
        self._reaper.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.tracker.admit(request, client_address[0]) is None:
            # Every open socket is moving bytes: refuse cheaply, without a thread.
            with contextlib.suppress(OSError):
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.tracker.release(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        self.tracker.stop()
        super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Testers close sockets mid-transfer on purpose when they have enough.
        log.debug("connection from %s ended with an error", client_address[0], exc_info=True)


class SpeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "schoolnet-speed/1"
    server: SpeedServer
    conn: Conn

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.socket_timeout)
        # Headers and a short body go out in two writes; without this, Nagle
        # holds the body for the client's delayed ACK and latency reads 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = self.server.tracker.get(self.connection) \
            or Conn(self.connection, self.client_address[0])

    def handle_one_request(self) -> None:
        # Each request on a kept-alive connection gets its own header deadline.
        self.server.tracker.headers(self.conn)
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:
        # requestline holds no token: it travels in a header.
        log.debug("%s " + format, self.client_address[0], *args)

    def _reply(self, status: int, body: bytes, ctype: str = "text/plain",
               extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _client(self) -> str | None:
        """The authenticated client's name, or None after refusing the request."""
        client = self.server.tokens.client(self.headers.get("Authorization"))
        if client:
            self.conn.client = client
            return client
        self.close_connection = True
        if client == "":
            self._reply(401, _NEED_TOKEN, extra={"WWW-Authenticate": "Bearer"})
        else:
            log.info("unknown token from %s", self.client_address[0])
            self._reply(403, _BAD_TOKEN)
        return None

    def handle_expect_100(self) -> bool:
        # A client that asks before sending its body learns of a missing
        # token then, instead of after pushing the body into a closed socket.
        if self._client() is None:
            return False
        return super().handle_expect_100()

    def _admit_transfer(self, client: str, size: int) -> bool:
        left = self.server.budget.reserve(client, size)
        if left is not None:
            limit = self.server.budget.limit(client)
            log.info("%s is past its daily budget (%.0f of %.0f MB left, asked %.0f MB)",
                     client, left / 1e6, limit / 1e6, size / 1e6)
            self.close_connection = True
            self._reply(429, (f"the daily budget of {limit / 1e6:.0f} MB for '{client}' is "
                              f"used up ({left / 1e6:.0f} MB left, this request needs "
                              f"{size / 1e6:.0f} MB); it renews at 00:00 UTC\n").encode(),
                        extra={"Retry-After": str(seconds_to_midnight_utc())})
            return False
        busy = self.server.tracker.start_transfer(client)
        if busy:
            self.server.budget.refund(client, size)
            self.close_connection = True
            self._reply(503, f"{busy}; try again in a minute\n".encode(),
                        extra={"Retry-After": "60"})
            return False
        self.server.tracker.body(self.conn)
        return True

    def do_GET(self) -> None:
        client = self._client()
        if client is None:
            return
        url = urlsplit(self.path)
        if url.path in ("/", "/speedtest/", "/speedtest"):
            self._reply(200, _INDEX, "text/html")
        elif url.path == "/speedtest/latency.txt":
            self._reply(200, b"test=test\n")
        elif url.path in UPLOAD_PATHS:
            self._reply(200, b"size=0")
        elif url.path == "/download":
            try:
                size = int(parse_qs(url.query).get("bytes", ["0"])[0])
            except ValueError:
                size = -1
            if not 0 < size <= self.server.max_bytes:
                self._reply(400, b"bytes must be 1..%d\n" % self.server.max_bytes)
            else:
                self._stream(client, size, "application/octet-stream")
        elif (m := _RANDOM.fullmatch(url.path)) and int(m[1]) in LEGACY_FILES:
            self._stream(client, LEGACY_FILES[int(m[1])], "image/jpeg")
        else:
            self._reply(404, b"not found\n")

    def _stream(self, client: str, size: int, ctype: str) -> None:
        if not self._admit_transfer(client, size):
            return
        left = size
        try:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(size))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            sock, conn = self.connection, self.conn
            while left > 0:
                # send, not sendall: the count the reaper checks moves with the wire.
                n = sock.send(_DATA[:min(left, _CHUNK)])
                left -= n
                conn.moved += n
        finally:
            self.server.budget.refund(client, left)
            self.server.tracker.end_transfer(client)

    def do_POST(self) -> None:
        client = self._client()
        if client is None:
            return
        if urlsplit(self.path).path not in UPLOAD_PATHS:
            self._reply(404, b"not found\n")
            return
        length_text = self.headers.get("Content-Length")
        if length_text is None or self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._reply(411, b"Content-Length required\n")
            return
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if not 0 <= length <= self.server.max_bytes:
            self.close_connection = True
            self._reply(413, b"body must be 0..%d bytes\n" % self.server.max_bytes)
            return
        if not self._admit_transfer(client, length):
            return
        got = 0
        try:
            got = self._drain(length)
        finally:
            self.server.budget.refund(client, length - got)
            self.server.tracker.end_transfer(client)
        if got < length:
            self.close_connection = True  # the tester stopped early; nobody reads a reply
            return
        self._reply(200, b"size=%d" % got)

    def _drain(self, length: int) -> int:
        buf = memoryview(bytearray(min(length, _CHUNK) or 1))
        got = 0
        conn = self.conn
        while got < length:
            try:
                n = self.rfile.readinto1(buf[:min(length - got, len(buf))])
            except OSError:
                break  # reset, or shut down by the reaper
            if not n:
                break
            got += n
            conn.moved += n
        return got
