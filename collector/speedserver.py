"""Measurement server for the agents' ``wan_throughput`` probe (stdlib only).

An education network centre runs ``schoolnet-collector speed-server`` so that
schools can measure their exit bandwidth without the public internet. It
speaks two layouts over plain HTTP/1.1:

* the legacy speedtest "mini" layout that speedtest-cli understands:
  ``/speedtest/latency.txt``, ``/speedtest/random{N}x{N}.jpg`` (same byte
  sizes as speedtest.net's files) and ``POST /speedtest/upload.php``;
* the built-in tester's endpoints: ``GET /download?bytes=N`` streams N bytes,
  ``POST /upload`` swallows the body and answers ``size=N``.

Why speedtest-cli's upload "fails" against a plain file server: it POSTs the
body to ``upload.php``; a static server answers 501/405 straight away and
closes without reading the body, and speedtest-cli then counts only the few
kilobytes it had handed to the socket before the reset, so the upload reads
about 1 Mbps. Here every upload route reads the whole body before it answers.

Abuse limits: bodies and downloads are capped per request, connections are
capped in total and per client address (a school's tester needs <= 16), and
idle sockets time out.
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


class SpeedServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], max_bytes: int = 1 << 30,
                 max_connections: int = 512, max_per_client: int = 32,
                 idle_timeout: float = 30.0) -> None:
        self.max_bytes = max_bytes
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}
        self.rejected = 0
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, SpeedHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        host = client_address[0]
        with self._lock:
            total = sum(self._active.values())
            if total >= self.max_connections or self._active.get(host, 0) >= self.max_per_client:
                self.rejected += 1
                busy = True
            else:
                self._active[host] = self._active.get(host, 0) + 1
                busy = False
        if busy:
            # Refuse cheaply, without a thread: the client reports "unavailable".
            with contextlib.suppress(OSError):
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                host = client_address[0]
                self._active[host] -= 1
                if not self._active[host]:
                    del self._active[host]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Testers close sockets mid-transfer on purpose when they have enough.
        log.debug("connection from %s ended with an error", client_address[0], exc_info=True)


class SpeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "schoolnet-speed/1"
    server: SpeedServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)
        # Headers and a short body go out in two writes; without this, Nagle
        # holds the body for the client's delayed ACK and latency reads 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def _reply(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
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
                self._stream(size, "application/octet-stream")
        elif (m := _RANDOM.fullmatch(url.path)) and int(m[1]) in LEGACY_FILES:
            self._stream(LEGACY_FILES[int(m[1])], "image/jpeg")
        else:
            self._reply(404, b"not found\n")

    def _stream(self, size: int, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(size))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        sock = self.connection
        left = size
        while left > 0:
            n = min(left, _CHUNK)
            sock.sendall(_DATA[:n])
            left -= n

    def do_POST(self) -> None:
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
        got = self._drain(length)
        if got < length:
            self.close_connection = True  # the tester stopped early; nobody reads a reply
            return
        self._reply(200, b"size=%d" % got)

    def _drain(self, length: int) -> int:
        buf = memoryview(bytearray(min(length, _CHUNK) or 1))
        got = 0
        while got < length:
            n = self.rfile.readinto1(buf[:min(length - got, len(buf))])
            if not n:
                break
            got += n
        return got


def serve(host: str, port: int, **limits: Any) -> None:
    server = SpeedServer((host, port), **limits)
    log.info("speed server listening on %s:%d", host, server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()
