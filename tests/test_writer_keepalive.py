"""The InfluxDB 1.x writer keeps its connection between writes, and a kept
connection the server closed meanwhile costs a reconnect, not a failed batch."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from agent.contract.configschema import build
from collector.config import Storage
from collector.errors import BadData, Unavailable
from collector.ingest.writer import InfluxV1Writer
from tests.services import Influxd

# Integration tier: a real influxd, and a real HTTP server that drops connections.
pytestmark = pytest.mark.integration


def writer_for(url: str, database: str = "db") -> InfluxV1Writer:
    return InfluxV1Writer(build(Storage, {"kind": "influxdb1", "url": url,
                                         "database": database, "timeout_seconds": 5.0}))


class Dropping(http.server.BaseHTTPRequestHandler):
    """Answers every write with 204, then closes the connection without saying
    so (as a server restarted, or an idle timeout, does), or with ``status``."""

    protocol_version = "HTTP/1.1"
    bodies: ClassVar[list[bytes]] = []
    status = 204

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        body = b"" if self.status == 204 else b'{"error":"unable to parse"}'
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dropping() -> Iterator[str]:
    Dropping.bodies.clear()
    Dropping.status = 204
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Dropping)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_connection_is_kept_between_writes(influxd: Influxd, database: str) -> None:
    writer = writer_for(influxd.url, database)
    writer.write([f"keep,school=s1 v=1.0 {1_700_000_000_000_000_000}"])
    first = writer._local.conn
    writer.write([f"keep,school=s1 v=2.0 {1_700_000_000_000_000_001}"])
    assert writer._local.conn is first and first.sock is not None
    assert len(influxd.rows("SELECT v FROM keep", database)) == 2
    with pytest.raises(BadData, match="HTTP 400"):  # a content error keeps its meaning
        writer.write(["keep,school=s1 v=1.0,v=\"x\" 1"])
    writer.close()
    assert first.sock is None


def test_a_connection_the_server_closed_is_reopened_for_the_same_batch(dropping: str) -> None:
    writer = writer_for(dropping)
    writer.write(["m v=1.0 1"])
    writer.write(["m v=2.0 2"])  # the kept connection is dead: one reconnect, no error
    assert Dropping.bodies == [b"m v=1.0 1", b"m v=2.0 2"]


def test_refusals_and_outages_are_told_apart(dropping: str) -> None:
    writer = writer_for(dropping)
    Dropping.status = 400
    with pytest.raises(BadData, match="unable to parse"):
        writer.write(["m v= 1"])
    Dropping.status = 401  # credentials are the operator's to fix: hold and retry
    with pytest.raises(Unavailable, match="HTTP 401"):
        writer.write(["m v=1.0 1"])
    with pytest.raises(Unavailable, match=r"127\.0\.0\.1:1"):
        writer_for("http://127.0.0.1:1").write(["m v=1.0 1"])
