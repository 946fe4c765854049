"""wan_link's continuous sampling: a burst shows as peak and 95th percentile, not only as a mean."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from agent.contract.configschema import build
from agent.probes.wan_link.probe import WanLink, WanLinkOptions
from agent.probes.wan_link.rates import RateSampler, percentile, summary
from tests.netns import veth_link
from tests.services import free_port
from tests.speed_support import SPEED_NET, ctx


@pytest.mark.integration
def test_burst_shows_in_peak_and_p95(tmp_path: Path) -> None:
    with veth_link(SPEED_NET) as link:
        port = free_port()
        server = subprocess.Popen(["iperf3", "-s", "-1", "-B", link.host_addr, "-p", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wan = WanLink(build(WanLinkOptions, {"interface": link.host_if, "contracted_mbps": 100.0,
                                             "sample_seconds": 0.2, "sample_every": 0.25}),
                      ctx(tmp_path))
        first = wan.collect()[0]  # starts the sampler
        time.sleep(0.5)
        # 3 s at 40 Mbit/s into the school, then 3 s quiet, in one reporting interval.
        subprocess.run(["ip", "netns", "exec", link.ns, "iperf3", "-c", link.host_addr, "-p",
                        str(port), "-u", "-b", "40M", "-t", "3", "-l", "1400"],
                       capture_output=True, check=True, timeout=20)
        time.sleep(3)
        second = wan.collect()[0]
        server.wait(10)
    assert "rx_peak_bps" not in first.fields
    f = second.fields
    assert 22 <= int(f["samples"]) <= 30
    assert 38e6 < float(f["rx_peak_bps"]) < 48e6
    assert 38e6 < float(f["rx_p95_bps"]) <= float(f["rx_peak_bps"])
    # The mean over the interval hides the burst: about half of it.
    assert float(f["rx_bps"]) < 0.7 * float(f["rx_peak_bps"])
    assert float(f["tx_peak_bps"]) < 2e6


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 301)]
    assert percentile(values, 0.95) == 285.0
    assert percentile([5.0], 0.95) == 5.0
    assert summary([]) == {}


def test_counter_reset_skips_one_sample() -> None:
    # Constructed counter values (no real interface restarts on demand here):
    # 1 MB per tick, then the counters restart from zero.
    values = iter([(0, 0), (1_000_000, 0), (2_000_000, 0), (10, 0), (1_000_010, 0)])
    last = (1_000_010, 0)
    sampler = RateSampler("x", 0.05, lambda _i: next(values, last))
    sampler.start()
    time.sleep(0.4)
    sampler.stop()
    sampler.join(1)
    rates = sampler.take()
    assert sampler.resets == 1
    assert all(rx >= 0 for rx, _ in rates)
    assert sum(1 for rx, _ in rates if rx > 1e7) == 3  # the three 1 MB ticks, not the reset
