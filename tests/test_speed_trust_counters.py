"""wan_throughput's trust figures on given CPU times and counters: no load, no root.

test_speed_trust.py saturates real cores and links; here the readings are
constructed so each rule (busy share, other traffic, counter reset) shows alone.
"""

from __future__ import annotations

import pytest

from agent.probes.wan_throughput.trust import (
    ACK_ALLOWANCE,
    HEADER_ALLOWANCE,
    TrustMonitor,
    interface_for,
)
from tests.kernel_support import RecordedKernel, cpu, io, v4


def test_busy_cores_make_the_result_untrusted() -> None:
    k = RecordedKernel(cpus=[cpu(10.0), cpu(10.0)])
    monitor = TrustMonitor(None, 0.9, ps=k)
    monitor.start()
    k.cpus = [cpu(10.0 + 9.5, 110.0), cpu(10.0 + 9.0, 110.0)]  # 95% and 90% of 10 s
    f = monitor.finish(0, 0)
    assert f["cpu_busy_share"] == pytest.approx(0.925)
    assert f["cpu_max_core_share"] == pytest.approx(0.95)
    assert f["cpu_limited"] is True and f["agent_cpu_share"] == 0.0
    assert "iface" not in f and "other_rx_bps" not in f  # no interface known


def test_other_traffic_is_what_the_test_does_not_explain() -> None:
    k = RecordedKernel(counters={"wan0": io(1_000, 2_000)}, cpus=[cpu(1.0)])
    monitor = TrustMonitor("wan0", 0.9, ps=k)
    monitor.start()
    test_rx, test_tx = 100_000_000, 10_000_000
    others = 3_000_000  # bytes the school's users moved meanwhile
    rx = test_rx * (1 + HEADER_ALLOWANCE) + test_tx * ACK_ALLOWANCE + others
    tx = test_tx * (1 + HEADER_ALLOWANCE) + test_rx * ACK_ALLOWANCE
    k.counters["wan0"] = io(1_000 + int(rx), 2_000 + int(tx))
    k.cpus = [cpu(1.5, 101.0)]
    f = monitor.finish(test_rx, test_tx)
    assert f["iface"] == "wan0" and f["cpu_limited"] is False
    assert (f["iface_rx_bytes"], f["iface_tx_bytes"]) == (int(rx), int(tx))
    assert float(f["other_rx_bps"]) > 0 and f["other_tx_bps"] == 0.0
    # The rate's window is the real time between start and finish: check the bytes.
    elapsed = others * 8 / float(f["other_rx_bps"])
    assert 0 < elapsed < 5


def test_reset_counters_give_no_traffic_figures() -> None:
    k = RecordedKernel(counters={"wan0": io(10**9, 10**9)}, cpus=[cpu(1.0)])
    monitor = TrustMonitor("wan0", ps=k)
    monitor.start()
    k.counters["wan0"] = io(5, 5)
    f = monitor.finish(1_000, 1_000)
    assert "iface_rx_bytes" not in f and "other_rx_bps" not in f


def test_interface_for_a_host_is_the_one_holding_the_source_address() -> None:
    # The kernel picks 127.0.0.1 as the source towards 127.0.0.2; only the
    # address list is given here.
    k = RecordedKernel(addrs={"eth9": [v4("192.0.2.1")], "lo-test": [v4("127.0.0.1")]})
    assert interface_for("127.0.0.2", ps=k) == "lo-test"
    assert interface_for("127.0.0.2", ps=RecordedKernel(addrs={"eth9": [v4("192.0.2.1")]})) \
        is None
