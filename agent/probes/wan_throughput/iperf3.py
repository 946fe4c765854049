"""The ``iperf3`` method: Debian's iperf3 client against a county/province iperf3 server.

Runs ``iperf3 -J`` twice (``-R`` for download) with N parallel streams and
reads goodput from the JSON summary. iperf3 reports its failures as text in
the JSON ``error`` key; they are mapped to result codes here. A direction
whose control connection was reset or closed is tried once more, a second
later: iperf3 servers do that now and then between two tests (esnet/iperf
issues 447, 499, 1683), and the day's only test should not be lost to it.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

from agent.probes.wan_throughput.result import SpeedResult, classify

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

# Substrings of iperf3's error texts, most specific first.
_ERRORS = (
    ("busy", "unavailable"),
    ("refused", "refused"),
    ("resolve", "unreachable"),
    ("name or service not known", "unreachable"),
    ("no route", "unreachable"),
    ("unreachable", "unreachable"),
    ("timed out", "timeout"),
    ("timeout", "timeout"),
    ("authentication", "auth_failed"),
)


# iperf3's words for a control connection the server dropped (reset or closed).
_CONTROL_DROPPED = ("control message", "control socket has closed")
RETRY_AFTER = 1.0  # seconds before a direction's one retry


def classify_error(text: str) -> str:
    low = text.lower()
    return next((code for needle, code in _ERRORS if needle in low), "error")


def _one(host: str, port: int, seconds: float, streams: int, reverse: bool,
         timeout: float, source: str = "") -> dict[str, Any]:
    cmd = ["iperf3", "-c", host, "-p", str(port), "-J", "-t", f"{seconds:g}", "-O", "1",
           "-P", str(streams), "--connect-timeout", str(int(timeout * 1000))]
    if source:
        cmd += ["-B", source]  # the test takes the uplink holding this address
    if reverse:
        cmd.append("-R")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=seconds + 1 + timeout * 3)
    except subprocess.TimeoutExpired:
        return {"error": "iperf3 did not finish (timed out)"}
    try:
        out: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        return {"error": (proc.stderr or proc.stdout or "no output").strip()[:200]}
    return out


def run(host: str, port: int, seconds: float, streams: int, timeout: float,
        progress: Progress, source: str = "") -> SpeedResult:
    tag = f"{host}:{port}" if port != 5201 else host
    out = SpeedResult("iperf3", tag[:128], streams=streams)
    if shutil.which("iperf3") is None:
        out.result, out.error = "unavailable", "iperf3 is not installed"
        return out
    # Resolve here: iperf3 words a DNS failure as "Resource temporarily unavailable".
    try:
        addr = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)[0][4][0]
    except OSError as err:
        out.result, out.error = classify(err)
        return out
    errors: list[str] = []
    for reverse in (True, False):
        direction = "download" if reverse else "upload"
        progress(f"iperf3: {direction} {seconds:g} s with {streams} streams…")
        data = _one(str(addr), port, seconds, streams, reverse, timeout, source)
        if "error" in data and any(w in str(data["error"]) for w in _CONTROL_DROPPED):
            log.info("iperf3 %s to %s: %s; trying once more", direction, tag, data["error"])
            time.sleep(RETRY_AFTER)
            data = _one(str(addr), port, seconds, streams, reverse, timeout, source)
        if "error" in data:
            errors.append(str(data["error"]))
            log.info("iperf3 %s to %s failed: %s", direction, tag, data["error"])
            continue
        end = data["end"]
        received, sent = end["sum_received"], end["sum_sent"]
        rate = float(received["bits_per_second"])
        # iperf3 counts the omitted first second in neither figure; add the
        # bytes it moved then from the intervals so bytes_used is the real cost.
        omitted = sum(int(i["sum"]["bytes"]) for i in data.get("intervals", [])
                      if i["sum"].get("omitted"))
        moved = int(sent["bytes"]) + omitted
        if reverse:
            out.download_bps, out.download_bytes = rate, moved
            out.download_seconds = float(received["seconds"])
        else:
            out.upload_bps, out.upload_bytes = rate, moved
            out.upload_seconds = float(received["seconds"])
            rtts = [s["sender"]["mean_rtt"] for s in end.get("streams", [])
                    if "mean_rtt" in s.get("sender", {})]
            if rtts:  # microseconds, from the kernel's TCP_INFO of each stream
                out.rtt_seconds = sum(rtts) / len(rtts) / 1e6
        progress(f"iperf3: {direction} {rate / 1e6:.1f} Mbit/s")
    if len(errors) == 2:
        out.result, out.error = classify_error(errors[0]), errors[0]
    elif errors:
        out.result, out.error = "partial", errors[0]
    return out
