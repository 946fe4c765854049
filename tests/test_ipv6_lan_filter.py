"""The LAN check's kernel side: its hand-compiled BPF filter and its fallbacks.

The filter test runs on a real veth pair in test namespaces: the LAN host
sends an echo request, a UDP datagram and a Router Advertisement; the
gateway's filtered packet socket must see only the RA.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from agent.probes.ipv6 import lan as ipv6_lan
from tests.ipv6_support import Scenario, World

LISTEN = """
import json, socket, sys, time
from agent.probes.ipv6.lan import _attach_ra_filter
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
_attach_ra_filter(s, "lan0")
s.bind(("lan0", 3))
# Drain what arrived between socket() and the filter, as listen() tolerates it too.
s.setblocking(False)
try:
    while True:
        s.recv(65535)
except BlockingIOError:
    pass
s.settimeout(0.2)
print("ready", flush=True)
seen, end = [], time.time() + 2.5
while time.time() < end:
    try:
        frame = s.recv(65535)
    except TimeoutError:
        continue
    seen.append([frame[12:14].hex(), frame[20], frame[54] if len(frame) > 54 else -1])
print(json.dumps(seen), flush=True)
"""

SEND = """
import socket
idx = socket.if_nametoindex("eth0")
icmp = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
icmp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
icmp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
icmp.sendto(bytes([128, 0, 0, 0, 0, 1, 0, 1]), ("ff02::1", 0, 0, idx))  # echo request
udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
udp.sendto(b"not an RA", ("ff02::1", 9, 0, idx))
# A minimal RA (constructed here): hop limit 64, no flags, router lifetime 0.
icmp.sendto(bytes([134, 0, 0, 0, 64, 0, 0, 0]) + bytes(8), ("ff02::1", 0, 0, idx))
"""


@pytest.mark.integration
def test_bpf_filter_passes_only_router_advertisements(tmp_path: Path) -> None:
    with World(tmp_path, Scenario(radvd="", dhcpv6=False)) as world:
        listener = world.start(world.gw, sys.executable, "-c", LISTEN, ready="ready")
        world.ns(world.cli, sys.executable, "-c", SEND)
        assert listener.stdout is not None
        seen = json.loads(listener.stdout.readline())
    assert seen == [["86dd", 58, 134]]


def test_missing_interface_and_missing_scapy_are_unavailable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # No packet is sent in either case: the checks stop before any socket opens.
    assert ipv6_lan.listen("nonexistent0", 0.5).result == "unavailable"
    for module in ("scapy", "scapy.config", "scapy.layers.inet6", "scapy.sendrecv"):
        monkeypatch.setitem(sys.modules, module, None)
    start = time.monotonic()
    assert ipv6_lan.listen("lo", 5.0).result == "unavailable"
    assert time.monotonic() - start < 1.0
