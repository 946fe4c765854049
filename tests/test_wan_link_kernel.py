"""wan_link's arithmetic on given kernel counters: no root, no interface, no traffic.

The veth tests in test_wan_link.py check the same probe against the real
kernel; here the counters are constructed so each rule shows on its own.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from agent.contract.configschema import build
from agent.contract.wire import Identity
from agent.probes import ProbeContext
from agent.probes.wan_link.probe import WanLink, WanLinkOptions
from tests.kernel_support import RecordedKernel, io, up, v4, v6

CTX = ProbeContext(Identity("37", "3701", "370102", "s1"), "primary", Path("/nonexistent"))
ROUTE = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
         "wan0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n")


def probe(kernel: RecordedKernel, route_file: Path = Path("/nonexistent"),
          **opts: object) -> WanLink:
    options = build(WanLinkOptions, {"contracted_mbps": 100.0, "sample_seconds": 0.1,
                                     "sample_every": 0, **opts})
    return WanLink(options, CTX, ps=kernel, route_file=route_file)


def kernel() -> RecordedKernel:
    return RecordedKernel(counters={"wan0": io(10**9, 10**8)}, stats={"wan0": up(1000)},
                          addrs={"wan0": [v4("192.0.2.10"), v6("fe80::1"), v6("fd00::5"),
                                          v6("2001:db8:1::2")]})


def test_rates_utilisation_link_and_addresses(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text(ROUTE)
    k = kernel()
    wan = probe(k, route)  # interface "": the IPv4 default route's, from the route file
    started = time.monotonic()  # before the probe's first counter read, so its window <= elapsed
    first = wan.collect()[0]
    time.sleep(0.2)
    k.counters["wan0"] = io(10**9 + 2_500_000, 10**8 + 250_000)  # 2.5 MB in, 0.25 MB out
    second = wan.collect()[0]
    elapsed = time.monotonic() - started
    assert first.tags == second.tags == {"iface": "wan0"}
    assert first.fields["rx_bps"] == 0.0  # nothing moved during the first window
    f = second.fields
    assert f["result"] == "ok" and f["oper_up"] is True and f["duplex"] == "full"
    assert (f["link_speed_mbps"], f["mtu"], f["contracted_mbps"]) == (1000, 1500, 100.0)
    # 20 Mbit over a window of at least 0.2 s and at most the time both collects spanned.
    assert 20e6 / elapsed <= float(f["rx_bps"]) <= 100e6
    assert float(f["tx_bps"]) * 10 == pytest.approx(float(f["rx_bps"]), rel=1e-6)
    assert float(f["utilisation"]) == round(float(f["rx_bps"]) / 100e6, 4)
    # Only 2000::/3 counts as a global address: link-local and ULA do not reach out.
    assert (f["ipv4_addr"], f["ipv4_addrs"]) == ("192.0.2.10", 1)
    assert (f["ipv6_addr"], f["ipv6_global_addrs"]) == ("2001:db8:1::2", 1)


def test_counters_going_backwards_give_no_rate() -> None:
    k = kernel()
    wan = probe(k, interface="wan0")
    wan.collect()
    k.counters["wan0"] = io(5_000, 10**8 + 1)  # the driver reset: rx restarted from zero
    f = wan.collect()[0].fields
    assert f["counter_reset"] is True and "rx_bps" not in f and "utilisation" not in f
    assert f["result"] == "ok"


def test_down_unknown_speed_missing_and_no_route() -> None:
    k = kernel()
    k.stats["wan0"] = up(0, duplex=psutil.NIC_DUPLEX_UNKNOWN)._replace(isup=False)
    f = probe(k, interface="wan0").collect()[0].fields
    assert f["result"] == "unreachable" and f["oper_up"] is False
    assert "link_speed_mbps" not in f and "duplex" not in f  # the driver did not say
    gone = probe(k, interface="wan9").collect()[0]
    assert gone.fields["result"] == "unavailable" and gone.tags == {"iface": "wan9"}
    nowhere = probe(k).collect()[0]  # no interface configured, no default route
    assert nowhere.fields["result"] == "unavailable" and nowhere.tags == {"iface": "none"}
