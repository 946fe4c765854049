"""Probe ``wan_link``: the school's exit interface, passively, from the kernel's counters.

Reports the negotiated link speed next to the contracted bandwidth (a 1000 Mbps
contract over a 100 Mbps port can never pass 千兆进校), rx/tx rates from byte
counters, and the addresses the interface holds. Costs no traffic.

Config: ``sample.toml`` beside this module; ``[probes.wan_link.upstream]``
(the router's WAN port over SNMP, extra "snmp") is described in ``upstream.py``.

The kernel is read through ``ps`` (psutil, or an object with the same
``net_io_counters``/``net_if_stats``/``net_if_addrs``), so tests can give it
recorded counters without root or a real interface.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from agent.contract.configschema import between, opt, section
from agent.contract.reading import FieldValue, Reading
from agent.netinfo import default_route_interface
from agent.probes import Probe, ProbeContext
from agent.probes.wan_link.rates import RateSampler, summary
from agent.probes.wan_link.upstream import UpstreamPoller, UpstreamSection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    rx_bytes: int
    tx_bytes: int
    at: float  # time.monotonic()


def rate_bps(before: Sample, after: Sample) -> tuple[float, float] | None:
    """Bits per second between two samples, or None after a counter reset."""
    elapsed = after.at - before.at
    drx, dtx = after.rx_bytes - before.rx_bytes, after.tx_bytes - before.tx_bytes
    if elapsed <= 0 or drx < 0 or dtx < 0:
        return None
    return drx * 8 / elapsed, dtx * 8 / elapsed


def _sample_every(value: float) -> str | None:
    return None if value == 0 or 0.1 <= value <= 60 else "must be 0 (off) or between 0.1 and 60"


@section
class WanLinkOptions:
    interface: str = opt("")
    contracted_mbps: float = opt(0.0, between(0, 1e6))
    sample_seconds: float = opt(1.0, between(0.1, 60))
    sample_every: float = opt(1.0, _sample_every)
    upstream: UpstreamSection = opt()


class WanLink(Probe):
    name = "wan_link"
    Options = WanLinkOptions
    opts: WanLinkOptions

    def __init__(self, opts: WanLinkOptions, ctx: ProbeContext, *, ps: Any = psutil,
                 route_file: Path = Path("/proc/net/route")) -> None:
        super().__init__(opts, ctx)
        self.ps, self.route_file = ps, route_file
        self._last: dict[str, Sample] = {}
        self._sampler: RateSampler | None = None
        self._upstream: UpstreamPoller | None = None

    def collect(self) -> list[Reading]:
        readings = self._local()
        upstream = self.opts.upstream
        if upstream.host:
            if self._upstream is None:  # pysnmp loads at its first poll, never without a host
                self._upstream = UpstreamPoller(upstream, self.opts.contracted_mbps,
                                                self.opts.sample_seconds)
            readings.append(self._upstream.collect())
        return readings

    def _counters(self, iface: str) -> tuple[int, int] | None:
        # nowrap=False: psutil would silently stitch a reset counter onto the old
        # one; a reset must show as a skipped interval instead.
        c = self.ps.net_io_counters(pernic=True, nowrap=False).get(iface)
        return (c.bytes_recv, c.bytes_sent) if c is not None else None

    def _peaks(self, iface: str) -> dict[str, FieldValue]:
        """Peak and p95 rates since the last reading; starts sampling on first use."""
        every = self.opts.sample_every
        if not every:
            return {}
        if self._sampler is None or self._sampler.iface != iface:
            if self._sampler is not None:
                self._sampler.stop()  # the default route moved to another interface
            self._sampler = RateSampler(iface, every, self._counters)
            self._sampler.start()
            return {}
        return dict(summary(self._sampler.take()))

    def _sample(self, iface: str) -> Sample | None:
        counters = self._counters(iface)
        return Sample(*counters, time.monotonic()) if counters is not None else None

    def _local(self) -> list[Reading]:
        iface = self.opts.interface or default_route_interface(self.route_file)
        contracted = self.opts.contracted_mbps
        fields: dict[str, FieldValue] = {}
        if contracted:
            fields["contracted_mbps"] = contracted
        if not iface:
            fields["result"] = "unavailable"
            return [Reading(self.name, fields, {"iface": "none"})]
        stats = self.ps.net_if_stats().get(iface)
        now = self._sample(iface)
        if stats is None or now is None:
            log.warning("WAN interface %s not found", iface)
            fields["result"] = "unavailable"
            return [Reading(self.name, fields, {"iface": iface})]
        before = self._last.get(iface)
        if before is None:
            time.sleep(self.opts.sample_seconds)
            before, now = now, self._sample(iface) or now
        self._last[iface] = now
        fields.update(self._link_fields(stats))
        fields.update(self._peaks(iface))
        fields.update(self._address_fields(iface))
        rates = rate_bps(before, now)
        if rates is None:
            # Counters went backwards (interface re-created, driver reset): no
            # honest rate exists for this interval, so report none.
            log.info("counters on %s went backwards; rate skipped this interval", iface)
            fields["counter_reset"] = True
        else:
            fields["rx_bps"], fields["tx_bps"] = round(rates[0], 1), round(rates[1], 1)
            if contracted:
                fields["utilisation"] = round(max(rates) / (contracted * 1e6), 4)
        fields["result"] = "ok" if stats.isup else "unreachable"
        return [Reading(self.name, fields, {"iface": iface})]

    @staticmethod
    def _link_fields(stats: Any) -> dict[str, FieldValue]:
        fields: dict[str, FieldValue] = {"oper_up": bool(stats.isup), "mtu": int(stats.mtu)}
        # 0 means the driver does not say (virtual NICs, some Wi-Fi, many VMs).
        if stats.speed > 0:
            fields["link_speed_mbps"] = int(stats.speed)
        duplex = {psutil.NIC_DUPLEX_FULL: "full", psutil.NIC_DUPLEX_HALF: "half"}
        if stats.duplex in duplex:
            fields["duplex"] = duplex[stats.duplex]
        return fields

    def _address_fields(self, iface: str) -> dict[str, FieldValue]:
        v4: list[str] = []
        v6_global: list[str] = []
        for addr in self.ps.net_if_addrs().get(iface, []):
            if addr.family == socket.AF_INET:
                v4.append(addr.address)
            elif addr.family == socket.AF_INET6:
                ip = addr.address.split("%")[0]
                # 2000::/3 is global unicast; link-local and ULA do not reach the internet.
                if ip[:1] in ("2", "3"):
                    v6_global.append(ip)
        fields: dict[str, FieldValue] = {"ipv4_addrs": len(v4), "ipv6_global_addrs": len(v6_global)}
        if v4:
            fields["ipv4_addr"] = v4[0]
        if v6_global:
            fields["ipv6_addr"] = v6_global[0]
        return fields

