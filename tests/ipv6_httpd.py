"""A tiny HTTP server for the ipv6 tests: serves 200 on every address given.

Run inside a test namespace: ``python -m tests.ipv6_httpd 203.0.113.30:80 [2001:db8:e::30]:80``.
Prints ``ready`` once every socket is bound, so the test knows when to start.
"""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"school site\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


class Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def parse(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


def main(binds: list[str]) -> None:
    servers = []
    for bind in binds:
        host, port = parse(bind)
        cls = Server6 if ":" in host else ThreadingHTTPServer
        servers.append(cls((host, port), Handler))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()  # runs until the test closes our stdin (or kills us)


if __name__ == "__main__":
    main(sys.argv[1:])
