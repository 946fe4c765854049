"""Probe ``wan_throughput``: active exit-bandwidth test for 千兆进校, without the public internet.

Methods (all give the same reading):

* ``http``: the built-in multi-stream tester against ``schoolnet-collector
  speed-server``; stops once throughput is stable, so a gigabit costs little.
* ``iperf3``: Debian's iperf3 against the county/province iperf3 server.
* ``speedtest``: speedtest-cli (pip extra ``speedtest``), against a
  self-hosted server given by ``server`` (no speedtest.net config fetch) or,
  with ``server = ""``, against speedtest.net's servers.

Each result records the bytes it used, CPU use during the test (a saturated
gateway makes the result ``inconclusive``) and other traffic on the WAN
interface. Tests run only in ``windows``, at a random moment in each, within
``max_tests_per_day`` and ``daily_budget_mb``; ``schoolnet-agent once
--probe wan_throughput`` runs one at once and logs its progress.

Config: ``sample.toml`` beside this module.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import psutil

from agent.contract.configschema import Problem, between, matches, one_of, opt, section
from agent.contract.measurements import UPLINKS
from agent.contract.reading import Reading
from agent.netinfo import default_route_interface, source_address_problem
from agent.probes import Probe, ProbeContext
from agent.probes.wan_throughput.loaded import (
    LoadedLatency,
    Sample,
    node_address,
    node_problem,
    stamp,
    tcp_connect,
)
from agent.probes.wan_throughput.result import SpeedResult, split_url
from agent.probes.wan_throughput.schedule import SpeedSchedule, check_windows
from agent.probes.wan_throughput.trust import TrustMonitor, interface_for

log = logging.getLogger(__name__)


def _ids(value: list[Any]) -> str | None:
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    return None if ok else "must be a list of speedtest.net server ids (integers)"


_TOKEN = matches(r"[A-Za-z0-9._~+/=-]{0,200}", "letters, digits or ._~+/=- as the centre gave it")


@section
class ServerSection:
    """One more server tested in the same cycle (county, city, ISP...)."""

    method: str = opt("http", one_of("http", "iperf3"))
    server: str = opt()
    token: str = opt("", _TOKEN)
    source: str = opt("", source_address_problem)
    uplink: str = opt("default", one_of(*UPLINKS))


@dataclass(frozen=True)
class Target:
    method: str
    server: str
    token: str
    source: str
    uplink: str


@section
class WanThroughputOptions:
    method: str = opt("http", one_of("http", "iperf3", "speedtest"))
    server: str = opt()
    # Sent as "Authorization: Bearer" to the centre's speed server (http, or
    # speedtest against a self-hosted URL); never to speedtest.net.
    token: str = opt("", _TOKEN)
    streams: int = opt(4, between(1, 32))
    max_seconds: float = opt(10.0, between(1, 60))
    min_seconds: float = opt(1.0, between(0.5, 60))  # http: shortest a direction runs
    stable_tolerance: float = opt(0.03, between(0.005, 0.5))
    include: list[int] = opt([], _ids)
    exclude: list[int] = opt([], _ids)
    exclude_isp: bool = opt(False)
    secure: bool = opt(False)
    connect_timeout: float = opt(5.0, between(0.5, 60))
    interface: str = opt("")
    cpu_limit_share: float = opt(0.9, between(0.1, 1.0))
    windows: list[str] = opt([], check_windows)
    max_tests_per_day: int = opt(0, between(0, 1000))
    daily_budget_mb: float = opt(0.0, between(0, 1e7))
    source: str = opt("", source_address_problem)  # bind the test to this address: its uplink
    uplink: str = opt("default", one_of(*UPLINKS))
    loaded_latency: bool = opt(True)    # sample RTT before and during the test
    latency_node: str = opt("", node_problem)  # a STAMP reflector also sampled, host[:port]
    idle_seconds: float = opt(2.0, between(0.5, 30))
    servers: dict[str, ServerSection] = opt({})

    def problems(self) -> list[Problem]:
        for name, extra in self.servers.items():
            if extra.method == "http" and not extra.server.startswith("http://"):
                return [(("servers", name, "server"), "must be a http:// URL for this method")]
        if self.method == "speedtest" and self.source:
            return [(("source",), "works with method \"http\" or \"iperf3\" only")]
        if self.method != "speedtest" and not self.server:
            return [(("server",), f"is required with method = \"{self.method}\"")]
        schemes = {"http": ("http://",), "speedtest": ("http://", "https://")}
        wanted = schemes.get(self.method)
        if self.server and wanted and not self.server.startswith(wanted):
            return [(("server",), f"must be a {' or '.join(wanted)} URL for this method")]
        return []


class WanThroughput(Probe):
    name = "wan_throughput"
    default_interval = 300.0
    default_timeout = 180.0
    Options = WanThroughputOptions
    opts: WanThroughputOptions

    def __init__(self, opts: WanThroughputOptions, ctx: ProbeContext, *,
                 ps: Any = psutil) -> None:
        super().__init__(opts, ctx)
        self.ps = ps  # psutil, or a stand-in for the CPU and counter readings
        self.schedule = SpeedSchedule(ctx.state_dir / "wan_throughput.json", opts.windows,
                                      opts.max_tests_per_day, opts.daily_budget_mb * 1e6)

    def targets(self) -> list[Target]:
        o = self.opts
        return [Target(o.method, o.server, o.token, o.source, o.uplink)] + [
            Target(s.method, s.server, s.token, s.source, s.uplink)
            for _, s in sorted(o.servers.items())]

    def collect(self) -> list[Reading]:
        due, why = self.schedule.due()
        if not due:
            if not self.ctx.interactive:
                log.debug("wan_throughput not due: %s", why)
                return []
            log.info("running now on request (the schedule would not: %s)", why)
        return [self._test(target) for target in self.targets()]

    def _latency(self, target: Target) -> LoadedLatency | None:
        opts = self.opts
        if not opts.loaded_latency:
            return None
        samplers: dict[str, Sample] = {}
        if target.server:
            default = 5201 if target.method == "iperf3" else 80
            host, port = split_url(target.server, default_port=default)
            samplers["server"] = tcp_connect(host, port, 1.0, target.source)
        if opts.latency_node:
            host, port = node_address(opts.latency_node)
            samplers["node"] = stamp(host, port, 1.0, target.source)
        return LoadedLatency(samplers) if samplers else None

    def _test(self, target: Target) -> Reading:
        host, _ = split_url(target.server) if target.server else ("", 0)
        # speedtest.net's server is not known yet: then the default route's interface.
        iface = self.opts.interface or (interface_for(host, self.ps) if host else None) \
            or default_route_interface()
        monitor = TrustMonitor(iface, self.opts.cpu_limit_share, self.ps)
        started = time.monotonic()
        latency = self._latency(target)
        if latency is not None:
            latency.start_idle(self.opts.idle_seconds)
            latency.mark_loaded()
        monitor.start()
        try:
            result = self._measure(target)
        finally:
            if latency is not None:
                latency.stop()
        trust = monitor.finish(result.download_bytes, result.upload_bytes)
        fields = result.fields()
        fields.update(trust)
        if latency is not None and result.result in ("ok", "partial", "inconclusive"):
            fields.update(latency.fields())
        fields["duration_seconds"] = round(time.monotonic() - started, 3)
        if trust["cpu_limited"] and result.result in ("ok", "partial"):
            fields["result"] = "inconclusive"
            log.warning("CPU was %.0f%% busy during the test: result is inconclusive",
                        float(trust["cpu_busy_share"]) * 100)
        # Only tests that moved bytes count against the day's budget.
        if result.download_bytes or result.upload_bytes:
            self.schedule.record(result.download_bytes + result.upload_bytes)
        tags = {"method": result.method or target.method, "server": result.server or "none"}
        if target.uplink != "default":  # one uplink: the series stay as they were
            tags["uplink"] = target.uplink
        return Reading(self.name, fields, tags)

    def _progress(self, text: str) -> None:
        log.info("%s", text)

    def _measure(self, target: Target) -> SpeedResult:
        opts = self.opts
        if target.method == "http":
            from agent.probes.wan_throughput.http import HttpTester

            return HttpTester(target.server, opts.streams, tolerance=opts.stable_tolerance,
                              min_seconds=min(opts.min_seconds, opts.max_seconds),
                              max_seconds=opts.max_seconds, timeout=opts.connect_timeout,
                              progress=self._progress, token=target.token,
                              source=target.source).run()
        if target.method == "iperf3":
            from agent.probes.wan_throughput import iperf3

            host, port = split_url(target.server, default_port=5201)
            return iperf3.run(host, port, opts.max_seconds, opts.streams, opts.connect_timeout,
                              self._progress, target.source)
        from agent.probes.wan_throughput import speedtest_net

        return speedtest_net.run(opts, opts.connect_timeout, self._progress)
