"""The real ``schoolnet-collector speed-server`` against anonymous, greedy and slow clients.

Each test starts the command as a process on loopback with its own config
and talks to it over sockets, as a school (or an attacker) would.
"""

from __future__ import annotations

import http.client
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agent.probes.wan_throughput.http import HttpTester
from tests.services import free_port, wait_for
from tests.speed_support import ROOT, TOKEN, speed_config

# Integration tier: the real server process.
pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def speed_server(tmp_path: Path, **server: object) -> Iterator[int]:
    port = free_port()
    cfg = speed_config(tmp_path / "speed-server.toml", listen="127.0.0.1", port=port, **server)
    proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "speed-server", "-c",
                             str(cfg)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True, 15,
                 "speed server up")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.headers
    finally:
        conn.close()


def head_only(port: int, head: str) -> bytes:
    """Send a request's head without its body; the whole reply until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    return reply


def test_anonymous_and_unknown_tokens_are_refused(tmp_path: Path) -> None:
    with speed_server(tmp_path) as port:
        status, body, headers = request(port, "GET", "/download?bytes=100000000")
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
        assert b"needs a token: set token in [probes.wan_throughput]" in body
        # Uploads too: refused before a byte of the body is read.
        reply = head_only(port, "POST /upload HTTP/1.1\r\nHost: x\r\n"
                                "Content-Length: 100000000\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 401 ") and b"needs a token" in reply
        # A client that asks first ("Expect: 100-continue") hears it before sending.
        reply = head_only(port, "POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                "Content-Length: 100000000\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 401 ") and b"100 Continue" not in reply
        status, body, _ = request(port, "GET", "/speedtest/random4000x4000.jpg",
                                  headers={"Authorization": "Bearer not-the-token-0000000000"})
        assert status == 403 and b"not known to the speed server" in body
        # The agent's tester turns the refusal into a reading a person can act on.
        result = HttpTester(f"http://127.0.0.1:{port}/", 2, max_seconds=1.0).run()
        assert result.result == "auth_failed" and result.download_bytes == 0
        assert "needs a token" in result.fields()["error"]
        assert request(port, "GET", "/download?bytes=1000", headers=AUTH)[:2][0] == 200


def test_a_token_past_its_daily_budget_gets_429(tmp_path: Path) -> None:
    with speed_server(tmp_path, daily_budget_mb=40) as port:
        # A download abandoned early is charged only for what was sent.
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(f"GET /download?bytes=30000000 HTTP/1.1\r\nHost: x\r\n"
                         f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
            got = 0
            while got < 1_000_000:
                got += len(sock.recv(65536))
        status, body, _ = wait_for(lambda: (r := request(port, "GET", "/download?bytes=30000000",
                                                          headers=AUTH))[0] == 200 and r, 15,
                                   "the unsent bytes refunded")
        assert len(body) == 30_000_000
        status, body, headers = request(port, "GET", "/download?bytes=30000000", headers=AUTH)
        assert status == 429, status
        assert b"daily budget of 40 MB for 's1' is used up" in body
        assert b"renews at 00:00 UTC" in body and 0 < int(headers["Retry-After"]) <= 86400
        # The refusal comes before the body is read: a client may stop there.
        reply = head_only(port, f"POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                                f"{TOKEN}\r\nContent-Length: 30000000\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 429 ") and b"used up" in reply
        # Small requests that fit what is left still pass.
        assert request(port, "GET", "/download?bytes=1000", headers=AUTH)[0] == 200
        result = HttpTester(f"http://127.0.0.1:{port}/", 2, max_seconds=1.0, token=TOKEN).run()
        assert result.result == "unavailable", result
        assert "used up" in str(result.fields()["error"])


class Trickler:
    """The issue's slow-loris: ADDRESSES x PER_ADDRESS connections, each
    sending a request head one byte per ``every`` seconds and reconnecting
    when the server cuts it."""

    def __init__(self, port: int, addresses: int, per_address: int, every: float) -> None:
        self.port, self.every = port, every
        self.sources = [f"127.0.1.{i + 1}" for i in range(addresses) for _ in range(per_address)]
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.cut = 0  # connections the server closed on us
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, source: str) -> None:
        sock = socket.socket()
        sock.bind((source, 0))
        sock.settimeout(5)
        try:
            sock.connect(("127.0.0.1", self.port))
        except OSError:
            sock.close()
            return
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, [source, 0])

    def _run(self) -> None:
        head = b"GET /download?bytes=1000000000 HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 500
        for source in self.sources:
            self._open(source)
        next_tick = time.monotonic()
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.1):
                source = key.data[0]
                try:
                    data = key.fileobj.recv(4096)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if not data:
                    self.cut += 1
                    self.sel.unregister(key.fileobj)
                    key.fileobj.close()  # type: ignore[union-attr]
                    self._open(source)
            if time.monotonic() >= next_tick:
                next_tick += self.every
                for key in list(self.sel.get_map().values()):
                    sent = key.data[1]
                    try:
                        key.fileobj.send(head[sent:sent + 1])  # type: ignore[union-attr]
                        key.data[1] = min(sent + 1, len(head) - 1)
                    except OSError:
                        pass  # cut; the read side notices
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]

    def __enter__(self) -> Trickler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def test_slow_loris_does_not_keep_a_school_out(tmp_path: Path) -> None:
    # The attack was 16 addresses x 32 connections, one byte every
    # 20 s against a 30 s idle timeout that each byte reset. Same shape,
    # faster: one byte every 2 s against a 3 s header deadline, and fewer
    # sockets allowed (256) than the attack opens (512), so the attackers
    # also compete for sockets. The school's budget is set out of reach: a fast
    # machine moves the default day's 5,000 MB within the 12 s and gets 429.
    with speed_server(tmp_path, header_seconds=3, max_connections=256,
                      daily_budget_mb=1e6) as port, \
            Trickler(port, addresses=16, per_address=32, every=2.0) as attack:
        wait_for(lambda: attack.cut >= 100, 60, "the attack under way")
        outcomes = []
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            status, body, _ = request(port, "GET", "/download?bytes=2000000", headers=AUTH)
            outcomes.append((status, len(body)))
            status, body, _ = request(port, "POST", "/upload", b"u" * 2_000_000, headers=AUTH)
            outcomes.append((status, int(body.partition(b"=")[2] or 0)))
        cut = attack.cut
    assert len(outcomes) >= 4
    assert all(o == (200, 2_000_000) for o in outcomes), outcomes
    # The trickling connections were cut and replaced again and again.
    assert cut >= 512, cut


def trickle_until_cut(port: int, head: bytes, every: float, limit: int) -> int:
    """Send ``head`` then one byte per ``every`` s; how many trickled bytes
    went out before the server closed the connection (``limit`` if never)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        sock.settimeout(every)
        for sent in range(limit):
            try:
                if sock.recv(4096) == b"":
                    return sent
            except TimeoutError:
                pass
            except OSError:
                return sent
            try:
                sock.send(b"a")
            except OSError:
                return sent
    return limit


def test_trickles_cannot_reset_the_deadlines(tmp_path: Path) -> None:
    with speed_server(tmp_path, header_seconds=2, body_grace_seconds=1,
                      min_rate_kbps=64) as port:
        # Headers: however steadily a byte comes, 2 s in total. An idle
        # timeout would let this run for the 200 bytes (100 s) it asks.
        sent = trickle_until_cut(port, b"GET / HTTP/1.1\r\nX-Slow: ", 0.5, 200)
        assert sent < 100, sent
        # Bodies: an authenticated upload trickling a byte every 0.5 s is
        # far below 64 kbit/s and is cut after the grace.
        head = (f"POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Length: 1000000\r\n\r\n").encode()
        sent = trickle_until_cut(port, head, 0.5, 200)
        assert sent < 100, sent
        # A brisk client is unaffected.
        assert request(port, "POST", "/upload", b"u" * 5_000_000, headers=AUTH)[:2] == \
            (200, b"size=5000000")


def test_the_command_refuses_to_serve_without_tokens(tmp_path: Path) -> None:
    cfg = tmp_path / "speed-server.toml"
    cfg.write_text("[server]\nport = 8080\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "collector.cli", "speed-server", "-c", str(cfg)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"config error: {cfg}: key 'tokens': lists no token" in proc.stderr
    assert "anonymous tests are not served" in proc.stderr and "Traceback" not in proc.stderr
