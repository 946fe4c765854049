"""Storage behind one small interface: write a batch of lines or say why not.

``Unavailable`` means try the same batch again later (nothing is acked
meanwhile); ``BadData`` means the content was refused and the batch must be
split to find the line at fault.
"""

from __future__ import annotations

import base64
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Protocol

from collector.config import Storage
from collector.errors import BadData, Unavailable, unreachable

log = logging.getLogger(__name__)


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
    """InfluxDB 1.x ``/write`` with database, retention policy and basic auth."""

    def __init__(self, cfg: Storage) -> None:
        params = {"db": cfg.database, "precision": "ns"}
        if cfg.retention_policy:
            params["rp"] = cfg.retention_policy
        self.base = cfg.url.rstrip("/")
        self.url = self.base + "/write?" + urllib.parse.urlencode(params)
        self.timeout = cfg.timeout_seconds
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if cfg.username:
            token = f"{cfg.username}:{cfg.password}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(token).decode()

    def write(self, lines: list[str]) -> None:
        body = "\n".join(lines).encode("utf-8")
        request = urllib.request.Request(self.url, body, self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as err:
            raise _classify(err.code, err.read().decode("utf-8", "replace")) from err
        except OSError as err:  # urllib.error.URLError included
            raise unreachable("InfluxDB", self.base, err, "[storage] url") from err

    def close(self) -> None:
        pass


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
