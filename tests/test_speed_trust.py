"""Trustworthiness of a result: CPU saturation makes it inconclusive; other WAN traffic shows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.speed_support import IPERF_PORT, wan
from tests.test_speed_accuracy import measure


@pytest.mark.integration
def test_quiet_link_reports_no_other_traffic(tmp_path: Path) -> None:
    with wan(100, 100) as w:
        reading = measure("http", w.speed_url, tmp_path)
    f = reading.fields
    assert f["result"] == "ok" and f["cpu_limited"] is False
    assert f["iface"] == w.link.host_if
    # Counters saw the test itself: at least its payload, at most payload + headers.
    assert float(f["download_bytes"]) <= float(f["iface_rx_bytes"]) \
        <= 1.08 * float(f["download_bytes"]) + 0.05 * float(f["upload_bytes"])
    assert float(f["other_rx_bps"]) < 2e6 and float(f["other_tx_bps"]) < 2e6
    assert 0 < float(f["agent_cpu_share"]) <= 1


@pytest.mark.integration
def test_other_traffic_during_the_test_is_reported(tmp_path: Path) -> None:
    with wan(100, 100) as w:
        # 20 Mbit/s of UDP from the server side: the school's users downloading.
        udp = subprocess.Popen(["iperf3", "-c", w.server, "-p", str(IPERF_PORT), "-u", "-b",
                                "20M", "-R", "-t", "10", "-l", "1400"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)
            reading = measure("http", w.speed_url, tmp_path)
        finally:
            udp.kill()
            udp.wait()
    f = reading.fields
    assert 14e6 < float(f["other_rx_bps"]) < 28e6, f
    assert float(f["other_tx_bps"]) < 3e6, f
    # The test shared the link, so it saw less than the 95 Mbit/s goodput.
    assert float(f["download_bps"]) < 85e6


@pytest.mark.integration
def test_saturated_cpu_makes_the_result_inconclusive(tmp_path: Path) -> None:
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.5)
        with wan(100, 100) as w:
            reading = measure("http", w.speed_url, tmp_path, cpu_limit_share=0.9)
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
    f = reading.fields
    assert f["cpu_limited"] is True and float(f["cpu_busy_share"]) >= 0.9, f
    assert f["result"] == "inconclusive"
    assert "download_bps" in f  # the figure is kept, only not trusted


def test_cpu_verdict() -> None:
    # Constructed shares: the two ways a gateway limits its own test.
    from agent.probes.wan_throughput.trust import cpu_limited

    assert cpu_limited(0.95, 0.3, 0.9)  # every core busy (other work, softirq)
    assert cpu_limited(0.26, 0.97, 0.9)  # 4-core box, the agent's one core pegged
    assert not cpu_limited(0.5, 0.6, 0.9)
