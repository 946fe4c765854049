"""The ``http`` method: the built-in multi-stream tester for ``schoolnet-collector speed-server``.

N TCP streams each ask for (or send) a large body; a sampler adds up their
byte counts every ``window`` seconds. Slow start and the first burst into
empty socket buffers make the first windows wrong, so the test stops only once
``stable_windows`` windows agree with each other within ``tolerance`` (or at
``max_seconds``), which is what makes a gigabit test cost a second or two
instead of ten. Agreeing with each other is not enough: after losses, a
loss-based sender (cubic, the usual default) can run a few percent low for a
second, evenly enough to look steady. So the agreeing windows must also agree
with the windows before them since slow start ended, and the figure is the
rate over all of those windows.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from agent.probes.wan_throughput.result import (
    SpeedResult,
    classify,
    preflight,
    refusal,
    server_tag,
    split_url,
)
from agent.probes.wan_throughput.speedtest_net import latency

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
_CHUNK = 256 * 1024
_REQUEST_BYTES = 128 << 20  # per request, below any sane server cap; repeated on keep-alive


@dataclass
class Phase:
    rate_bps: float | None
    bytes: int
    seconds: float
    stable: bool
    error: BaseException | None


class _Stream(threading.Thread):
    def __init__(self, host: str, port: int, upload: bool, stop: threading.Event,
                 timeout: float, token: str = "", source: str = "") -> None:
        super().__init__(daemon=True)
        self.source = (source, 0) if source else None
        self.host, self.port, self.upload = host, port, upload
        self.host_header = f"[{host}]" if ":" in host else host
        self.auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.stop, self.timeout = stop, timeout
        self.bytes = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout,
                                          source_address=self.source) as sock:
                while not self.stop.is_set():
                    if self.upload:
                        self._upload(sock)
                    else:
                        self._download(sock)
        except OSError as err:
            if not self.stop.is_set():
                self.error = err

    def _download(self, sock: socket.socket) -> None:
        sock.sendall(f"GET /download?bytes={_REQUEST_BYTES} HTTP/1.1\r\n"
                     f"Host: {self.host_header}\r\n{self.auth}\r\n".encode())
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        head = b""
        while b"\r\n\r\n" not in head:
            n = sock.recv_into(view)
            if not n:
                raise ConnectionResetError("server closed before the reply")
            head += bytes(view[:n])
        if not head.startswith(b"HTTP/1.1 200"):
            raise refusal(head, sock.recv)
        body = head.partition(b"\r\n\r\n")[2]
        got = len(body)
        self.bytes += got
        while got < _REQUEST_BYTES and not self.stop.is_set():
            n = sock.recv_into(view)
            if not n:
                raise ConnectionResetError("server closed mid-body")
            got += n
            self.bytes += n

    def _upload(self, sock: socket.socket) -> None:
        sock.sendall(f"POST /upload HTTP/1.1\r\nHost: {self.host_header}\r\n{self.auth}"
                     f"Content-Type: application/octet-stream\r\n"
                     f"Content-Length: {_REQUEST_BYTES}\r\n\r\n".encode())
        # Zeros are fine upstream: the server does not compress, and the
        # sender's CPU is what a gateway has least of.
        chunk = memoryview(bytes(_CHUNK // 4))
        sent = 0
        while sent < _REQUEST_BYTES and not self.stop.is_set():
            try:
                sock.sendall(chunk)
            except OSError as err:
                # A server that refuses (no token, budget used up) answers and
                # closes without reading: its answer says why, the reset does not.
                raise self._answer(sock) or err from err
            sent += len(chunk)
            self.bytes += len(chunk)
        if sent >= _REQUEST_BYTES:
            sock.recv(1024)


    @staticmethod
    def _answer(sock: socket.socket) -> Exception | None:
        try:
            sock.settimeout(0.5)
            head = sock.recv(4096)
        except OSError:
            return None
        return refusal(head) if head.startswith(b"HTTP/1.") else None


class HttpTester:
    def __init__(self, url: str, streams: int, window: float = 0.25, stable_windows: int = 4,
                 tolerance: float = 0.03, min_seconds: float = 1.0, max_seconds: float = 10.0,
                 timeout: float = 5.0, progress: Progress | None = None,
                 token: str = "", source: str = "") -> None:
        self.url, self.token, self.source = url, token, source
        self.host, self.port = split_url(url)
        self.streams, self.window = streams, window
        self.stable_windows, self.tolerance = stable_windows, tolerance
        self.min_seconds, self.max_seconds = min_seconds, max_seconds
        self.timeout = timeout
        self.progress = progress or (lambda _text: None)

    def phase(self, upload: bool) -> Phase:
        stop = threading.Event()
        streams = [_Stream(self.host, self.port, upload, stop, self.timeout, self.token,
                           self.source) for _ in range(self.streams)]
        start = time.monotonic()
        for s in streams:
            s.start()
        marks: list[tuple[float, int]] = [(start, 0)]
        steady: int | None = None
        try:
            while True:
                time.sleep(self.window - (time.monotonic() - marks[-1][0]) % self.window)
                now, total = time.monotonic(), sum(s.bytes for s in streams)
                marks.append((now, total))
                errors = [s.error for s in streams if s.error]
                if len(errors) == len(streams) or (errors and total == 0):
                    return Phase(None, total, now - start, False, errors[0])
                steady = self._steady(marks) if now - start >= self.min_seconds else None
                if steady is not None:
                    break
                if now - start >= self.max_seconds:
                    break
                if len(marks) % 4 == 0:
                    self.progress(f"{'upload' if upload else 'download'} {now - start:.1f} s: "
                                  f"{self._rate(marks[-5:]) / 1e6:.1f} Mbit/s")
        finally:
            stop.set()
        for s in streams:
            s.join(self.timeout)
        # Stable: everything since slow start ended. Otherwise: drop the first
        # quarter, where slow start still ramps, and average the rest.
        if steady is not None:
            rate = self._rate(marks[steady:])
        else:
            rate = self._rate(marks[-(max(1, (len(marks) - 1) * 3 // 4) + 1):])
        # A stream that failed (e.g. the server refused it with 503) leaves
        # fewer streams than asked for: the figure stands but is flagged.
        error = next((s.error for s in streams if s.error), None)
        return Phase(rate, sum(s.bytes for s in streams), marks[-1][0] - start,
                     steady is not None, error)

    def _steady(self, marks: list[tuple[float, int]]) -> int | None:
        """The mark where the steady rate began, once the last windows show one; else None."""
        k, tol = self.stable_windows, self.tolerance
        # Never count the very first window (the burst into empty buffers).
        rates = [(b1 - b0) * 8 / (t1 - t0) for (t0, b0), (t1, b1) in pairwise(marks[1:])]
        if len(rates) < k + 1:
            return None
        mean = sum(rates[-k:]) / k
        if mean <= 0 or any(abs(r - mean) > tol * mean for r in rates[-k:]):
            return None
        # Slow start ended with the first window that reached the agreeing rate.
        first = next(i for i, r in enumerate(rates) if r >= (1 - tol) * mean)
        if first > len(rates) - k - 1:
            # Nothing before the agreeing windows to check them against: a
            # plateau right after slow start may still be a dip.
            return None
        before = self._rate(marks[first + 1:len(marks) - k])
        return first + 1 if abs(before - mean) <= tol * mean else None

    @staticmethod
    def _rate(marks: list[tuple[float, int]]) -> float:
        (t0, b0), (t1, b1) = marks[0], marks[-1]
        return (b1 - b0) * 8 / (t1 - t0) if t1 > t0 else 0.0

    def run(self) -> SpeedResult:
        tag = server_tag(self.url)
        failed = preflight(self.url, self.timeout, self.source)
        if failed:
            failed.method = "http"
            return failed
        out = SpeedResult("http", tag, streams=self.streams)
        try:
            out.rtt_seconds, out.jitter_seconds = latency(self.url, 10, self.timeout, self.token,
                                                          self.source)
        except (OSError, http.client.HTTPException) as err:
            out.result, out.error = classify(err)
            return out
        self.progress(f"http: server {tag}, rtt {out.rtt_seconds * 1000:.2f} ms")
        down = self.phase(upload=False)
        out.download_bytes, out.download_seconds = down.bytes, down.seconds
        out.download_bps = down.rate_bps
        self.progress(f"http: download {(down.rate_bps or 0) / 1e6:.1f} Mbit/s "
                      f"({down.bytes / 1e6:.0f} MB, {down.seconds:.1f} s)")
        up = self.phase(upload=True)
        out.upload_bytes, out.upload_seconds = up.bytes, up.seconds
        out.upload_bps = up.rate_bps
        self.progress(f"http: upload {(up.rate_bps or 0) / 1e6:.1f} Mbit/s "
                      f"({up.bytes / 1e6:.0f} MB, {up.seconds:.1f} s)")
        out.extra["stable"] = down.stable and up.stable
        failures = [p.error for p in (down, up) if p.error is not None]
        if failures and down.rate_bps is None and up.rate_bps is None:
            out.result, out.error = classify(failures[0])
        elif failures:
            out.result, out.error = "partial", classify(failures[0])[1]
        return out
