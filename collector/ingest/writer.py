"""Storage behind one small interface: write a batch of lines or say why not.

``Unavailable`` means try the same batch again later (nothing is acked
meanwhile); ``BadData`` means the content was refused and the batch must be
split to find the line at fault.
"""

from __future__ import annotations

import base64
import http.client
import logging
import ssl
import threading
import urllib.parse
from typing import Protocol

from collector.config import Storage
from collector.errors import BadData, Unavailable, unreachable

log = logging.getLogger(__name__)


# Points a collector-written batch holds (verdicts, summaries, agent states): a
# province's round never holds them all at once, and influxd refuses a body over
# 25 MB (max-body-size).
WRITE_BATCH = 5000


class Writer(Protocol):
    def write(self, lines: list[str]) -> None: ...

    def close(self) -> None: ...


def _classify(status: int, body: str) -> BadData | Unavailable:
    # 400 is a content problem; 413 shrinks once split. Auth, missing database
    # and server errors are the operator's to fix, so hold the data and retry.
    if status in (400, 413, 422):
        return BadData(f"HTTP {status}: {body[:300]}")
    return Unavailable(f"HTTP {status}: {body[:300]}")


class InfluxV1Writer:
    """InfluxDB 1.x ``/write`` with database, retention policy and basic auth.

    Each thread keeps its connection open between writes (HTTP/1.1
    keep-alive): a drain writes a batch every few milliseconds, and a new
    TCP connection and urllib's handler chain per batch cost the collector
    CPU it needs for decoding. A kept connection the server has closed
    meanwhile is reopened once for the same batch; a write is idempotent
    (the same points overwrite themselves), so a repeat loses nothing.
    """

    def __init__(self, cfg: Storage) -> None:
        params = {"db": cfg.database, "precision": "ns"}
        if cfg.retention_policy:
            params["rp"] = cfg.retention_policy
        self.base = cfg.url.rstrip("/")
        self.url = self.base + "/write?" + urllib.parse.urlencode(params)
        parts = urllib.parse.urlsplit(self.url)
        self.path = f"{parts.path}?{parts.query}"
        self.host, self.port, self.tls = parts.hostname or "", parts.port, parts.scheme == "https"
        self.timeout = cfg.timeout_seconds
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if cfg.username:
            token = f"{cfg.username}:{cfg.password}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        self._local = threading.local()  # the ingest and the evaluator write from their own
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.tls:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                   context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
            with self._lock:
                self._open.add(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def write(self, lines: list[str]) -> None:
        body = "\n".join(lines).encode("utf-8")
        for attempt in (1, 2):
            reused = getattr(self._local, "conn", None) is not None
            conn = self._connection()
            try:
                conn.request("POST", self.path, body, self.headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as err:
                self._drop()
                if reused and attempt == 1 and isinstance(
                        err, (ConnectionError, http.client.BadStatusLine)):
                    continue  # closed by the server while idle: once more on a new one
                raise unreachable("InfluxDB", self.base, err, "[storage] url") from err
            if response.will_close:
                self._drop()
            if 200 <= response.status < 300:
                return
            raise _classify(response.status, data.decode("utf-8", "replace"))

    def close(self) -> None:
        with self._lock:
            conns, self._open = self._open, set()
        for conn in conns:
            conn.close()  # a thread's next write, if any, opens a new one
        self._local = threading.local()


class InfluxV2Writer:
    """InfluxDB 2.x/3.x (and anything speaking ``/api/v2/write``) through influxdb-client."""

    def __init__(self, cfg: Storage) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        # retries=False: the collector owns retrying, so a failed batch is held,
        # not silently dropped by the client's own background logic.
        self.client = InfluxDBClient(url=cfg.url, token=cfg.token, org=cfg.org,
                                     timeout=int(cfg.timeout_seconds * 1000), retries=False)
        self.api = self.client.write_api(write_options=SYNCHRONOUS)
        self.bucket, self.org = cfg.bucket, cfg.org

    def write(self, lines: list[str]) -> None:
        from influxdb_client.client.write_api import WritePrecision
        from influxdb_client.rest import ApiException

        try:
            self.api.write(self.bucket, self.org, record=lines, write_precision=WritePrecision.NS)  # type: ignore[arg-type]
        except ApiException as err:
            raise _classify(int(err.status or 0), str(err.body or err.reason)) from err
        except OSError as err:
            raise unreachable("InfluxDB", self.client.url, err, "[storage] url") from err
        except Exception as err:  # urllib3 errors do not all derive from OSError
            if type(err).__module__.startswith("urllib3"):
                raise unreachable("InfluxDB", self.client.url, err, "[storage] url") from err
            raise

    def close(self) -> None:
        self.client.close()


def make_writer(cfg: Storage) -> Writer:
    if cfg.kind == "influxdb2":
        return InfluxV2Writer(cfg)
    return InfluxV1Writer(cfg)
