"""Re-record tests/fixtures/ipv6 from the real daemons (root; not part of the test run).

``python -m tests.ipv6_record_fixtures`` builds the test namespaces, lets radvd
(on a LAN host) answer our Router Solicitation and dnsmasq answer our DHCPv6
requests, and writes the captured bytes as hex, with the configs used.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tests.ipv6_support import LAN_V6, Scenario, World

OUT = Path(__file__).parent / "fixtures" / "ipv6"
CAPTURE_RA = r'''
import socket, time
from agent.probes.ipv6.lan import open_icmp, solicit
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("lan0", 3))  # Python converts this protocol to network order itself
s.settimeout(6)
idx = socket.if_nametoindex("lan0")
with open_icmp(idx) as icmp:
    solicit(icmp, idx)
end = time.time() + 6
while time.time() < end:
    frame = s.recv(4096)
    if len(frame) > 54 and frame[12:14] == b"\x86\xdd" and frame[20] == 58 and frame[54] == 134:
        print(frame.hex())
        break
'''
CAPTURE_DHCP = r'''
import socket
from agent.probes.ipv6 import dhcp as d
idx = socket.if_nametoindex("lan0")
for stateful in (False, True):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
    s.bind((d._link_local("lan0"), 546, 0, idx))
    s.settimeout(3)
    xid = bytes.fromhex("5c0001" if stateful else "5c0002")
    request = d.build_request(stateful, xid, bytes.fromhex("020000005c01"))
    s.sendto(request, ("ff02::1:2", 547, 0, idx))
    print(s.recv(4096).hex())
    s.close()
'''
MANAGED_CONF = f"""\
interface eth0 {{
  AdvSendAdvert on; AdvManagedFlag on; AdvOtherConfigFlag on;
  AdvDefaultLifetime 0;
  prefix 2001:db8:200::/64 {{ AdvOnLink on; AdvAutonomous off;
    AdvValidLifetime infinity; AdvPreferredLifetime infinity; }};
  prefix fd00:5c::/64 {{ AdvOnLink on; AdvAutonomous on; }};
  RDNSS {LAN_V6} fd00:5c::53 {{ }};
}};
"""


def run(world: World, code: str) -> str:
    out = world.ns(world.gw, sys.executable, "-c", code)
    if not out.stdout.strip():
        raise RuntimeError(out.stderr)
    return out.stdout.strip()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with World(Path(tmp), Scenario(radvd="cli")) as world:
            time.sleep(3.5)  # past radvd's start-up RA, so the capture is an answer to us
            (OUT / "ra_radvd_slaac_o_rdnss.hex").write_text(run(world, CAPTURE_RA) + "\n")
            (OUT / "radvd_slaac_o_rdnss.conf").write_text(world.radvd_conf("eth0"))
            info, advertise = run(world, CAPTURE_DHCP).splitlines()
            (OUT / "dhcpv6_dnsmasq_reply_information.hex").write_text(info + "\n")
            (OUT / "dhcpv6_dnsmasq_advertise_stateful.hex").write_text(advertise + "\n")
            routes = world.ns(world.gw, "cat", "/proc/net/ipv6_route").stdout
            (OUT / "proc_net_ipv6_route_gateway.txt").write_text(routes)
        with World(Path(tmp), Scenario(radvd="")) as world:
            conf = Path(tmp) / "managed.conf"
            conf.write_text(textwrap.dedent(MANAGED_CONF))
            conf.chmod(0o600)
            world.ns(world.cli, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
            world.start(world.cli, "radvd", "-n", "-C", str(conf), "-p",
                        str(Path(tmp) / "managed.pid"), "-m", "stderr")
            time.sleep(3.5)
            (OUT / "ra_radvd_managed_infinite_lifetime0.hex").write_text(
                run(world, CAPTURE_RA) + "\n")
            (OUT / "radvd_managed_infinite_lifetime0.conf").write_text(conf.read_text())


if __name__ == "__main__":
    main()
