"""A one-way delay line between two namespaces (any IP version), with optional jitter.

This machine's kernel has no netem (nor prio, sfq, fq...), so tc cannot add
delay. Instead: a TUN device ``dly0`` in the gateway namespace and ``dly1`` in
the isp namespace, and this process copying every packet from the first to
the second after ``delay_ms``. Routes the tests add send only chosen IPv6
destinations through it; answers return on the normal veth, undelayed.

Run: ``ip netns exec GW python -m tests.ipv6_delayline ISP_NETNS DELAY_MS [JITTER_MS]``;
prints ``ready`` once both devices exist. With a jitter, each packet's delay is
DELAY_MS plus a uniform random 0..JITTER_MS (packets may then overtake each
other, as on a real jittery path); the mean absolute difference between two
packets' delays is then JITTER_MS / 3.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
CLONE_NEWNET = 0x40000000


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def enter_netns(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{name}") as ns:
        if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")


def main(isp_netns: str, delay_ms: float, jitter_ms: float = 0.0) -> None:
    src = open_tun("dly0")  # created in the namespace we were started in
    enter_netns(isp_netns)
    dst = open_tun("dly1")
    print("ready", flush=True)
    delay = delay_ms / 1000
    queue: list[tuple[float, int, bytes]] = []
    count = 0
    while True:
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
        readable, _, _ = select.select([src, sys.stdin], [], [], timeout)
        if sys.stdin in readable:
            return  # the test closed our stdin: done
        if src in readable:
            count += 1
            extra = random.uniform(0.0, jitter_ms / 1000) if jitter_ms else 0.0
            heapq.heappush(queue, (time.monotonic() + delay + extra, count,
                                   os.read(src, 65536)))
        while queue and queue[0][0] <= time.monotonic():
            packet = heapq.heappop(queue)[2]
            # dly1 not up yet (EIO): drop the packet, as a real link would.
            with contextlib.suppress(OSError):
                os.write(dst, packet)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
