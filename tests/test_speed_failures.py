"""Every failure of wan_throughput is a reading with a result code, never an exception."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.probes.wan_throughput.iperf3 import classify_error
from tests.netns import ip
from tests.services import free_port, wait_for
from tests.speed_support import ROOT, drop_randomly, wan
from tests.test_speed_accuracy import measure


@pytest.mark.parametrize("method", [
    "http", pytest.param("iperf3", marks=pytest.mark.integration), "speedtest"])
def test_refused(method: str, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    reading = measure(method, f"http://127.0.0.1:{port}/" if method != "iperf3"
                      else f"127.0.0.1:{port}", tmp_path)
    assert reading.fields["result"] == "refused", reading.fields
    assert reading.fields["bytes_used"] == 0
    assert reading.tags == {"method": method, "server": f"127.0.0.1:{port}"}


@pytest.mark.integration
@pytest.mark.parametrize("method", ["http", "iperf3"])
def test_server_that_drops_everything_times_out(method: str, tmp_path: Path) -> None:
    with wan() as w:
        drop_randomly(w.link.ns, 100)  # a firewall that silently drops all
        server = w.speed_url if method == "http" else f"{w.server}:5201"
        reading = measure(method, server, tmp_path, connect_timeout=1.0)
    assert reading.fields["result"] == "timeout", reading.fields


@pytest.mark.integration
def test_busy_server_is_unavailable(tmp_path: Path) -> None:
    with wan() as w:
        # A second client holds the iperf3 server: iperf3 serves one test at a time.
        hold = subprocess.Popen(["iperf3", "-c", w.server, "-t", "8", "-b", "1M"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            subprocess.run(["sleep", "0.5"], check=True)
            reading = measure("iperf3", w.server, tmp_path, max_seconds=1.0)
        finally:
            hold.kill()
            hold.wait()
    assert reading.fields["result"] == "unavailable", reading.fields
    assert "busy" in str(reading.fields["error"])


@contextlib.contextmanager
def resetting_first(target: int) -> Iterator[int]:
    """A port whose first connection is reset, as iperf3 servers now and then do
    between tests; every later one is relayed to ``target``."""
    listener = socket.create_server(("127.0.0.1", 0))
    first, lock = True, threading.Lock()

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def handle(conn: socket.socket) -> None:
        nonlocal first
        cookie = conn.recv(64)  # the probe's own reachability check sends none
        with lock:
            reset, first = first and bool(cookie), first and not cookie
        if not cookie or reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return
        upstream = socket.create_connection(("127.0.0.1", target))
        upstream.sendall(cookie)
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=handle, args=(listener.accept()[0],),
                                 daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.mark.integration
def test_a_reset_control_connection_is_tried_once_more(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    server = subprocess.Popen(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                                        text=True).stdout.strip(), 15, "the iperf3 server")
        with resetting_first(port) as relay, caplog.at_level("INFO"):
            reading = measure("iperf3", f"127.0.0.1:{relay}", tmp_path, max_seconds=1.0)
    finally:
        server.terminate()
        server.wait(10)
    # The download's first try was reset; its retry and the upload went through.
    assert reading.fields["result"] in ("ok", "inconclusive"), reading.fields
    assert float(reading.fields["download_bps"]) > 0 and float(reading.fields["upload_bps"]) > 0
    assert "control message: Connection reset by peer; trying once more" in caplog.text


# Run inside an empty namespace (only loopback): DNS and routes fail there
# without a single packet leaving this machine.
_ISOLATED = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from tests.test_speed_accuracy import measure
    out = {}
    for name, method, server in json.loads(sys.argv[1]):
        r = measure(method, server, Path(sys.argv[2]))
        out[name] = [r.fields["result"], str(r.fields.get("error", ""))]
    print(json.dumps(out))
""")


@pytest.mark.integration
def test_dns_and_no_route_in_an_isolated_namespace(tmp_path: Path) -> None:
    ns = f"snwiso{free_port()}"
    ip("netns", "add", ns)
    try:
        ip("link", "set", "lo", "up", ns=ns)
        cases = [("dns", "http", "http://speed.edu.example.cn:8080/"),
                 ("dns_iperf3", "iperf3", "iperf3.edu.example.cn"),
                 ("no_route", "http", "http://198.18.200.1:8080/"),
                 ("speedtest_net", "speedtest", "")]
        proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", _ISOLATED,
                               json.dumps(cases), str(tmp_path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["dns"][0] == "unreachable" and out["dns"][1].startswith("dns"), out
    assert out["dns_iperf3"][0] == "unreachable", out
    assert out["no_route"][0] == "unreachable", out
    # speedtest.net mode cannot even fetch its config without the internet.
    assert out["speedtest_net"][0] == "unreachable", out


def test_iperf3_error_texts() -> None:
    # Texts as iperf3 3.12 prints them in its JSON "error" key.
    assert classify_error("unable to connect to server: Connection refused") == "refused"
    assert classify_error("the server is busy running a test. try again later") == "unavailable"
    assert classify_error("unable to connect to server: Connection timed out") == "timeout"
    assert classify_error("unable to connect to server: No route to host") == "unreachable"
    assert classify_error("something new") == "error"


def test_isp_servers_can_be_excluded() -> None:
    # Constructed: the shape speedtest-cli's get_servers() returns (distance ->
    # server dicts); no speedtest.net list can be fetched here.
    from agent.probes.wan_throughput.speedtest_net import exclude_isp_servers

    servers = {12.5: [{"id": "1", "sponsor": "China Telecom JiNan"},
                      {"id": "2", "sponsor": "Shandong CERNET"}],
               40.0: [{"id": "3", "sponsor": "China Telecom QingDao"}]}
    exclude_isp_servers(servers, "China Telecom")
    assert servers == {12.5: [{"id": "2", "sponsor": "Shandong CERNET"}]}
    exclude_isp_servers(servers, "")  # ISP unknown: keep everything
    assert len(servers) == 1
