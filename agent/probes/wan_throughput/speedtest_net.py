"""The ``speedtest`` method: speedtest-cli, against speedtest.net or a self-hosted server.

speedtest-cli always fetches speedtest.net's config first, even for a
"mini" server, so on an education network without internet it cannot start.
:class:`SelfHostedSpeedtest` subclasses the library and supplies the same
config that speedtest.net serves, so a server given by URL needs nothing else.

Two corrections to the library's figures: its ``ping`` is half the real round
trip (it divides the sum of 3 samples by 6), and it reports no jitter, so we
take RTT and jitter from our own timed requests to ``latency.txt``.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import logging
import statistics
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from agent.probes.wan_throughput.result import (
    HttpStatusError,
    SpeedResult,
    classify,
    preflight,
    server_tag,
    split_url,
)

if TYPE_CHECKING:
    from agent.probes.wan_throughput.probe import WanThroughputOptions

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

# speedtest.net's published client config (speedtest-config.php): 4 threads per
# URL, 10 s per direction, upload ratio 5 and at most 50 upload chunks.
STATIC_CONFIG: dict[str, Any] = {
    "client": {"ip": "", "isp": "", "lat": "0", "lon": "0", "country": ""},
    "ignore_servers": [],
    "sizes": {"upload": [524288, 1048576, 7340032],
              "download": [350, 500, 750, 1000, 1500, 2000, 2500, 3000, 3500, 4000]},
    "counts": {"upload": 17, "download": 4},
    "threads": {"upload": 2, "download": 8},
    "length": {"upload": 10, "download": 10},
    "upload_max": 51,
}


def _speedtest_module() -> Any:
    import speedtest  # optional extra "speedtest"; imported only when the method runs

    return speedtest


def self_hosted_class() -> type:
    st = _speedtest_module()

    class SelfHostedSpeedtest(st.Speedtest):  # type: ignore[name-defined]
        """speedtest-cli with a fixed config: no request to speedtest.net."""

        def get_config(self) -> dict[str, Any]:
            import copy

            self.config.update(copy.deepcopy(STATIC_CONFIG))
            self.lat_lon = (0.0, 0.0)
            return self.config

    return SelfHostedSpeedtest


# What the library's upload bodies hold ("content1=" then A-Z0-9 over and over).
_PATTERN = b"content1=" + b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 2000


def streaming_upload_class(st: Any) -> type:
    """speedtest-cli's upload body, made on the fly instead of held in memory.

    The library builds every upload body up front (51 bodies, 144 MB; 187 MiB
    peak RSS measured), too much for a router. This subclass keeps its
    timeout and byte counting and only changes where the bytes come from.
    """

    class StreamingUploadData(st.HTTPUploaderData):
        def pre_allocate(self) -> None:
            self._sent = 0

        def read(self, n: int = 10240) -> bytes:
            if (st.timeit.default_timer() - self.start) > self.timeout \
                    or self._shutdown_event.isSet():
                raise st.SpeedtestUploadTimeout()
            sent = getattr(self, "_sent", 0)
            size = max(0, min(n, int(self.length) - sent, len(_PATTERN)))
            self._sent = sent + size
            self.total.append(size)
            return _PATTERN[:size]

    return StreamingUploadData


@contextlib.contextmanager
def _streaming_uploads(st: Any) -> Iterator[None]:
    # upload() looks the class up in its module at call time: swap it for the
    # duration of our own call only.
    original = st.HTTPUploaderData
    st.HTTPUploaderData = streaming_upload_class(st)
    try:
        yield
    finally:
        st.HTTPUploaderData = original


def latency(url: str, count: int, timeout: float, token: str = "",
            source: str = "") -> tuple[float, float]:
    """Median RTT and mean jitter (|difference| of successive samples) over one
    keep-alive connection, from ``GET /speedtest/latency.txt``."""
    host, port = split_url(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    samples: list[float] = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            conn.request("GET", "/speedtest/latency.txt", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            samples.append(time.perf_counter() - start)
            if resp.status != 200:  # e.g. 401: no token; the server says what to do
                raise HttpStatusError(f"HTTP/1.1 {resp.status} {resp.reason}", body[:400])
    finally:
        conn.close()
    jitter = statistics.fmean(abs(a - b) for a, b in itertools.pairwise(samples)) \
        if len(samples) > 1 else 0.0
    return statistics.median(samples), jitter


def exclude_isp_servers(servers: dict[float, list[dict[str, Any]]], isp: str) -> None:
    """Drop servers whose sponsor is the school's own ISP (its figures flatter the ISP)."""
    needle = isp.strip().lower()
    if not needle:
        return
    for dist in list(servers):
        servers[dist] = [s for s in servers[dist] if needle not in s.get("sponsor", "").lower()]
        if not servers[dist]:
            del servers[dist]


def run(opts: WanThroughputOptions, timeout: float, progress: Progress) -> SpeedResult:
    url = opts.server
    streams = opts.streams
    # speedtest.net's own config says 10 s per direction; max_seconds replaces it.
    length = max(1, round(opts.max_seconds))
    try:
        st = _speedtest_module()
    except ImportError:
        return SpeedResult("speedtest", server_tag(url or "speedtest.net"), result="unavailable",
                           error="speedtest-cli not installed (pip extra 'speedtest')")
    try:
        if url:
            failed = preflight(url, timeout)
            if failed:
                failed.method = "speedtest"
                return failed
            tester = self_hosted_class()(timeout=timeout)
            if opts.token:
                # Only to the centre's own server, never to speedtest.net's.
                tester._opener.addheaders.append(("Authorization", f"Bearer {opts.token}"))
            tester.config["length"] = {"upload": length, "download": length}
            tester.set_mini_server(url.rstrip("/") + "/")
            tester.get_best_server(tester.servers)
            tag = server_tag(url)
        else:
            tester = st.Speedtest(timeout=timeout, secure=opts.secure)
            tester.config["length"] = {"upload": length, "download": length}
            tester.get_servers(list(opts.include), list(opts.exclude))
            if opts.exclude_isp:
                exclude_isp_servers(tester.servers, tester.config["client"].get("isp", ""))
            tester.get_best_server()
            tag = f"speedtest.net/{tester.best['id']}"
        base = tester.best["url"].rsplit("/speedtest/", 1)[0] + "/"
        out = SpeedResult("speedtest", tag, streams=streams)
        out.rtt_seconds, out.jitter_seconds = latency(base, 10, timeout,
                                                      opts.token if url else "")
        progress(f"speedtest: server {tag}, rtt {out.rtt_seconds * 1000:.1f} ms; download…")
        start = time.monotonic()
        out.download_bps = float(tester.download(threads=streams))
        out.download_seconds = time.monotonic() - start
        out.download_bytes = int(tester.results.bytes_received)
        progress(f"speedtest: download {out.download_bps / 1e6:.1f} Mbit/s; upload…")
        start = time.monotonic()
        with _streaming_uploads(st):
            out.upload_bps = float(tester.upload(threads=streams))
        out.upload_seconds = time.monotonic() - start
        out.upload_bytes = int(tester.results.bytes_sent)
        progress(f"speedtest: upload {out.upload_bps / 1e6:.1f} Mbit/s")
    except (st.SpeedtestException, OSError, http.client.HTTPException) as err:
        result, reason = classify(err)
        if isinstance(err, st.SpeedtestException) and result == "error":
            result = "unreachable" if "connect" in str(err).lower() or isinstance(
                err, st.ConfigRetrievalError) else "error"
            reason = f"{type(err).__name__}: {err}"
        return SpeedResult("speedtest", server_tag(url or "speedtest.net"), result=result,
                           error=reason)
    if not out.download_bytes and not out.upload_bytes:
        out.result, out.error = "error", "no bytes moved"
    elif not out.download_bytes or not out.upload_bytes:
        out.result, out.error = "partial", "one direction moved no bytes"
    return out
