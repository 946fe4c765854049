"""InfluxQL queries, for the rules and the reports.

InfluxQL runs on InfluxDB 1.x, on 2.x through its /query compatibility API
(with a DBRP mapping for the bucket) and on 3.x, so one reader serves all.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from collector.config import Storage
from collector.errors import Unavailable, unreachable

Row = dict[str, Any]
CHUNK_ROWS = 10_000  # per chunk of a streamed answer


# An answer's shape, for decoding it in one typed pass (see InfluxQLReader.firsts).
class _Series(msgspec.Struct):
    columns: list[str] = []
    values: list[list[Any]] = []
    tags: dict[str, str] = {}


class _Result(msgspec.Struct):
    series: list[_Series] = []
    error: str | None = None


class _Answer(msgspec.Struct):
    results: list[_Result] = []


_ANSWER = msgspec.json.Decoder(_Answer)


class InfluxQLReader:
    def __init__(self, storage: Storage) -> None:
        self.base = storage.url.rstrip("/")
        self.url = self.base + "/query"
        v2 = storage.kind == "influxdb2"
        self.db = storage.bucket if v2 else storage.database
        self.timeout = storage.timeout_seconds
        self.headers: dict[str, str] = {}
        user, password, token = storage.reader()
        self.account = "the read token" if v2 else f"user {user!r}" if user else "no account"
        if v2:
            self.headers["Authorization"] = f"Token {token}"
        elif user:
            basic = f"{user}:{password}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(basic).decode()

    def series(self, query: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for body in self._bodies(query, chunked=False):
            out += self._result(body)
        return out

    def stream(self, query: str) -> Iterator[Row]:
        """Rows as :meth:`rows` gives them, read one chunk of the response at a time
        (InfluxDB's chunked answers), so memory holds a chunk, not the whole result."""
        for body in self._bodies(query, chunked=True):
            for series in self._result(body):
                tags = series.get("tags", {})
                columns = series["columns"]
                for values in series["values"]:
                    yield {**dict(zip(columns, values, strict=True)), **tags}

    def firsts(self, query: str, tag: str, column: str) -> list[tuple[str, Any]]:
        """Per series: its ``tag`` ("" without) and ``column`` of its first row. For answers
        of one row a series (LIMIT 1) over many series, as the report's 50,000 schools'
        summaries: decoded in one typed pass, without a dict a row."""
        out: list[tuple[str, Any]] = []
        for answer in self._bodies(query, chunked=False, decode=_ANSWER.decode):
            if not answer.results:
                continue
            if answer.results[0].error is not None:
                raise Unavailable(f"InfluxQL error: {answer.results[0].error}")
            for series in answer.results[0].series:
                if series.values and column in series.columns:
                    out.append((series.tags.get(tag, ""),
                                series.values[0][series.columns.index(column)]))
        return out

    @staticmethod
    def _result(body: dict[str, Any]) -> list[dict[str, Any]]:
        result = body.get("results", [{}])[0]
        if "error" in result:
            raise Unavailable(f"InfluxQL error: {result['error']}")
        return list(result.get("series", []))

    def _bodies(self, query: str, chunked: bool,
                decode: Callable[[bytes], Any] = json.loads) -> Iterator[Any]:
        args = {"db": self.db, "q": query, "epoch": "ns"}
        if chunked:
            args.update(chunked="true", chunk_size=str(CHUNK_ROWS))
        params = urllib.parse.urlencode(args)
        request = urllib.request.Request(f"{self.url}?{params}", headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if not chunked:
                    yield decode(response.read())
                    return
                for line in response:  # one JSON document per chunk
                    if line.strip():
                        yield json.loads(line)
        except urllib.error.HTTPError as err:
            if err.code == 401:
                raise Unavailable(
                    f"InfluxDB did not accept the credentials of {self.account} (HTTP 401): "
                    "check [storage] read_username/read_password (read_token for "
                    "influxdb2; without them username/password)") from err
            if err.code == 403:
                # The deployed writer account may not read: say which keys to set.
                raise Unavailable(
                    f"InfluxDB refused a query on {self.db!r} with {self.account} "
                    "(HTTP 403): set [storage] read_username and read_password "
                    "(read_token for influxdb2) to an account that may READ it; "
                    "deploy/influxdb/bootstrap-influxdb1.sh creates one ('reader')") from err
            raise Unavailable(f"InfluxQL query to {self.url} failed: {err}") from err
        except ValueError as err:
            raise Unavailable(f"InfluxDB at {self.base} answered a query with something "
                              f"that is not JSON ({err}): is [storage] url InfluxDB's?") from err
        except OSError as err:  # urllib.error.URLError included
            raise unreachable("InfluxDB", self.base, err, "[storage] url") from err

    def rows(self, query: str) -> list[Row]:
        """Rows as dicts with the series' GROUP BY tags merged in, newest order kept."""
        out = []
        for series in self.series(query):
            tags = series.get("tags", {})
            for values in series["values"]:
                out.append({**dict(zip(series["columns"], values, strict=True)), **tags})
        return out
