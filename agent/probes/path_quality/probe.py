"""Probe ``path_quality``: round trip, jitter, loss and uptime to the education network's nodes.

During class hours each run sends isochronous STAMP test packets (RFC 8762)
to every configured target at once -- the county, city and province
network centres' reflectors (``schoolnet-collector reflector``), the
education platforms, the internet -- and reports per target one
``path_quality`` reading (see ``stats`` for what each figure means) and,
when a target went silent, ``path_outage`` readings (see ``outages``).
Each target may be bound to a source address, so a school with a 教育专网
link and an ISP link measures each uplink separately (tag ``uplink``).

Config: ``sample.toml`` beside this module. Costs about 10 packets of 44
bytes (plus headers) a second per target: 2.6 kbit/s each.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable

from agent.contract.configschema import between, one_of, opt, section
from agent.contract.measurements import PATH_LEVELS, UPLINKS
from agent.contract.reading import Reading
from agent.contract.stamp import PORT
from agent.netinfo import source_address_problem
from agent.probes import Probe, ProbeContext
from agent.probes.path_quality import session as stamp_session
from agent.probes.path_quality.hours import in_class_hours, weekday_problem, window_problem
from agent.probes.path_quality.outages import OutageTracker, load_state, save_state
from agent.probes.path_quality.stats import summarise

log = logging.getLogger(__name__)


def _host(value: str) -> str | None:
    ok = value and len(value) <= 253 and all(c.isalnum() or c in ".-:_" for c in value)
    return None if ok else "must be a host name or IP address"


@section
class TargetSection:
    host: str = opt(check=_host)
    port: int = opt(PORT, between(1, 65535))
    level: str = opt(check=one_of(*PATH_LEVELS))
    # bind to this address: the test takes its uplink
    source: str = opt("", source_address_problem)
    # stored with the readings: default, edu (教育专网), isp, isp2, mobile, backup
    uplink: str = opt("default", one_of(*UPLINKS))


@section
class PathQualityOptions:
    packets_per_second: float = opt(10.0, between(0.5, 50))
    sample_seconds: float = opt(50.0, between(1, 3600))
    reply_timeout_seconds: float = opt(1.0, between(0.05, 10))
    outage_min_seconds: float = opt(10.0, between(0.5, 3600))
    class_hours: list[str] = opt(["07:50-12:00", "13:50-17:30"], window_problem)
    school_days: list[int] = opt([1, 2, 3, 4, 5], weekday_problem)
    targets: dict[str, TargetSection] = opt({})


class PathQuality(Probe):
    name = "path_quality"
    Options = PathQualityOptions
    opts: PathQualityOptions
    default_interval = 60.0
    default_timeout = 120.0

    def __init__(self, opts: PathQualityOptions, ctx: ProbeContext, *,
                 now: Callable[[], datetime.datetime] = datetime.datetime.now) -> None:
        super().__init__(opts, ctx)
        self.now = now
        # A gap of a few missed runs closes an outage instead of stretching it.
        gap = 3 * opts.sample_seconds + 60
        self.outages = {name: OutageTracker(opts.outage_min_seconds, gap)
                        for name in opts.targets}
        self.state_file = ctx.state_dir / "path_quality.json"
        load_state(self.state_file, self.outages)

    async def collect(self) -> list[Reading]:
        opts = self.opts
        class_hours = in_class_hours(self.now(), opts.class_hours, opts.school_days)
        if not opts.targets or not (class_hours or self.ctx.interactive):
            return []
        names = sorted(opts.targets)
        sessions = await asyncio.gather(*(
            stamp_session.run(t.host, t.port, source=t.source, rate=opts.packets_per_second,
                              seconds=opts.sample_seconds,
                              reply_timeout=opts.reply_timeout_seconds)
            for t in (opts.targets[n] for n in names)))
        readings: list[Reading] = []
        for name, session in zip(names, sessions, strict=True):
            target = opts.targets[name]
            tags = {"target": name, "level": target.level, "uplink": target.uplink}
            fields = summarise(session)
            fields["class_hours"] = class_hours
            readings.append(Reading("path_quality", fields, tags, ts_ns=session.started_ns))
            answered = [seq in session.rtt for seq in range(len(session.sent_ns))]
            readings += self.outages[name].feed(session.sent_ns, answered, tags)
            if session.result != "ok":
                log.debug("path_quality %s: %s %s", name, session.result, session.error)
        save_state(self.state_file, self.outages)
        return readings
