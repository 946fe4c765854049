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

Sample config::

    [probes.wan_throughput]
    enabled = false          # opt in: a test fills the school's exit for seconds
    interval = 300           # how often to check whether a test is due (seconds)
    timeout = 180            # a whole test, both directions
    method = "http"          # http, iperf3 or speedtest
    server = "http://speed.edu.example.cn:8080/"  # iperf3: "host" or "host:port";
                             # speedtest: a self-hosted URL, or "" for speedtest.net
    streams = 4              # parallel TCP streams per direction
    max_seconds = 10         # longest a direction may run (iperf3: its -t; speedtest:
                             # its test length, 10 as speedtest.net sets it)
    stable_tolerance = 0.03  # http: stop when 1 s of windows agree within this share
    include = []             # speedtest.net only: server ids to choose from
    exclude = []             # speedtest.net only: server ids never to use
    exclude_isp = false      # speedtest.net only: skip servers run by the school's own ISP
    interface = ""           # WAN interface for traffic counters; "": route to the server
    cpu_limit_share = 0.9    # all cores this busy: result "inconclusive"
    windows = ["12:10-13:50", "18:00-07:00"]  # local times; [] = whenever due
    max_tests_per_day = 2    # 0 = no limit
    daily_budget_mb = 2000   # bytes all tests of a day may use; 0 = no limit
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

from agent.contract.configschema import Opt, between, one_of
from agent.contract.reading import Reading
from agent.netinfo import default_route_interface
from agent.probes import Probe, ProbeContext
from agent.probes.speed_result import SpeedResult, split_url
from agent.probes.speed_schedule import SpeedSchedule, check_windows
from agent.probes.speed_trust import TrustMonitor, interface_for

log = logging.getLogger(__name__)


def _ids(value: list[Any]) -> str | None:
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    return None if ok else "must be a list of speedtest.net server ids (integers)"


class WanThroughput(Probe):
    name = "wan_throughput"
    default_interval = 300.0
    default_timeout = 180.0
    options: ClassVar[dict[str, Any]] = {
        "method": Opt(str, "http", one_of("http", "iperf3", "speedtest")),
        "server": Opt(str),
        "streams": Opt(int, 4, between(1, 32)),
        "max_seconds": Opt(float, 10.0, between(1, 60)),
        "stable_tolerance": Opt(float, 0.03, between(0.005, 0.5)),
        "include": Opt(list, [], _ids),
        "exclude": Opt(list, [], _ids),
        "exclude_isp": Opt(bool, False),
        "secure": Opt(bool, False),
        "connect_timeout": Opt(float, 5.0, between(0.5, 60)),
        "interface": Opt(str, ""),
        "cpu_limit_share": Opt(float, 0.9, between(0.1, 1.0)),
        "windows": Opt(list, [], check_windows),
        "max_tests_per_day": Opt(int, 0, between(0, 1000)),
        "daily_budget_mb": Opt(float, 0.0, between(0, 1e7)),
    }

    @classmethod
    def check_options(cls, opts: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
        if opts["method"] != "speedtest" and not opts["server"]:
            return [(("server",), f"is required with method = \"{opts['method']}\"")]
        schemes = {"http": ("http://",), "speedtest": ("http://", "https://")}
        wanted = schemes.get(opts["method"])
        if opts["server"] and wanted and not opts["server"].startswith(wanted):
            return [(("server",), f"must be a {' or '.join(wanted)} URL for this method")]
        return []

    def __init__(self, opts: dict[str, Any], ctx: ProbeContext) -> None:
        super().__init__(opts, ctx)
        self.schedule = SpeedSchedule(ctx.state_dir / "wan_throughput.json", opts["windows"],
                                     opts["max_tests_per_day"], opts["daily_budget_mb"] * 1e6)

    def collect(self) -> list[Reading]:
        due, why = self.schedule.due()
        if not due:
            if not self.ctx.interactive:
                log.debug("wan_throughput not due: %s", why)
                return []
            log.info("running now on request (the schedule would not: %s)", why)
        host, _ = split_url(self.opts["server"]) if self.opts["server"] else ("", 0)
        # speedtest.net's server is not known yet: then the default route's interface.
        iface = self.opts["interface"] or (interface_for(host) if host else None) \
            or default_route_interface()
        monitor = TrustMonitor(iface, self.opts["cpu_limit_share"])
        started = time.monotonic()
        monitor.start()
        result = self._measure()
        trust = monitor.finish(result.download_bytes, result.upload_bytes)
        fields = result.fields()
        fields.update(trust)
        fields["duration_seconds"] = round(time.monotonic() - started, 3)
        if trust["cpu_limited"] and result.result in ("ok", "partial"):
            fields["result"] = "inconclusive"
            log.warning("CPU was %.0f%% busy during the test: result is inconclusive",
                        float(trust["cpu_busy_share"]) * 100)
        # Only tests that moved bytes count against the day's budget.
        if result.download_bytes or result.upload_bytes:
            self.schedule.record(result.download_bytes + result.upload_bytes)
        return [Reading(self.name, fields, {"method": result.method or self.opts["method"],
                                            "server": result.server or "none"})]

    def _progress(self, text: str) -> None:
        log.info("%s", text)

    def _measure(self) -> SpeedResult:
        opts, timeout = self.opts, self.opts["connect_timeout"]
        method = opts["method"]
        if method == "http":
            from agent.probes.speed_http import HttpTester

            return HttpTester(opts["server"], opts["streams"], tolerance=opts["stable_tolerance"],
                              max_seconds=opts["max_seconds"], timeout=timeout,
                              progress=self._progress).run()
        if method == "iperf3":
            from agent.probes import speed_iperf3

            host, port = split_url(opts["server"], default_port=5201)
            return speed_iperf3.run(host, port, opts["max_seconds"], opts["streams"], timeout,
                                    self._progress)
        from agent.probes import speed_cli

        return speed_cli.run({**opts, "server_url": opts["server"]}, timeout, self._progress)
