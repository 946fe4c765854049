"""A tiny HTTP server for the ipv6 tests: serves 200 on every address given.

Run inside a test namespace: ``python -m tests.ipv6_httpd 203.0.113.30:80 [2001:db8:e::30]:80``;
a bind prefixed ``tls:`` serves HTTPS with the certificate and key named by the
environment variables IPV6_TEST_CERT and IPV6_TEST_KEY. Prints ``ready`` once
every socket is bound, so the test knows when to start.
"""

from __future__ import annotations

import os
import socket
import ssl
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
        tls = bind.startswith("tls:")
        host, port = parse(bind.removeprefix("tls:"))
        cls = Server6 if ":" in host else ThreadingHTTPServer
        server = cls((host, port), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(os.environ["IPV6_TEST_CERT"], os.environ["IPV6_TEST_KEY"])
            server.socket = context.wrap_socket(server.socket, server_side=True)
        servers.append(server)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()  # runs until the test closes our stdin (or kills us)


if __name__ == "__main__":
    main(sys.argv[1:])
