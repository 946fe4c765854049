"""The agent daemon: scheduler → spool → publisher, with a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

from agent import __version__, statefile
from agent.advice import advice
from agent.config import AgentConfig
from agent.contract import sdnotify
from agent.contract.reading import Reading
from agent.probes import ProbeContext
from agent.publisher import Publisher
from agent.scheduler import Scheduler, wait_or_stop
from agent.spool import Spool

log = logging.getLogger(__name__)


def probe_context(cfg: AgentConfig) -> ProbeContext:
    return ProbeContext(cfg.identity, cfg.school.type, cfg.state_dir)


EXIT_CRASH = 70  # EX_SOFTWARE: the unit's Restart=on-failure starts the agent again


def open_spool(cfg: AgentConfig) -> Spool:
    return Spool(cfg.state_dir / "spool.sqlite3", cfg.agent.spool_max_readings,
                 cfg.agent.spool_max_age_days * 86400,
                 memory_max_readings=cfg.agent.spool_memory_max_readings)


def health(uptime_seconds: float, spool: Spool, probe_errors: int, published: int) -> Reading:
    """The agent's own reading; the caller reads the clock, so this is pure."""
    return Reading("agent", {
        "version": __version__,
        "uptime_seconds": round(uptime_seconds, 1),
        "spool_depth": spool.depth(),
        "spool_dropped": spool.dropped,
        "spool_full": spool.full,
        "spool_corrupt": spool.corrupt,
        "spool_memory": spool.in_memory(),
        "probe_errors": probe_errors,
        "published": published,
        "result": "ok",
    })


async def _heartbeat(cfg: AgentConfig, sink: Publisher, spool: Spool, scheduler: Scheduler,
                     stop: asyncio.Event) -> None:
    started = time.monotonic()
    while not stop.is_set():
        sink.submit(health(time.monotonic() - started, spool, scheduler.errors, sink.published))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), cfg.agent.heartbeat_interval)


STATE_EVERY = 10.0  # seconds between saves of what status shows


async def _summary(cfg: AgentConfig, sink: Publisher, spool: Spool, scheduler: Scheduler,
                   stop: asyncio.Event) -> None:
    """Say now and then that readings go out (and are stored), and keep the
    record that ``status`` reads up to date."""
    last_line = time.monotonic()
    while not stop.is_set():
        await wait_or_stop(stop, STATE_EVERY)
        statefile.write(cfg.state_dir, sink.record())
        if time.monotonic() - last_line >= cfg.agent.summary_interval:
            last_line = time.monotonic()
            log.info("summary: %d readings made, %d published, %d confirmed stored, "
                     "%d refused, %d held by the collector, %d spooled", scheduler.readings,
                     sink.published, sink.confirmed, sink.refused, sum(sink.held.values()),
                     spool.depth())


def stall_limit(period: float) -> float:
    """Seconds without a pump round before the watchdog goes hungry: well
    above the pump's 1 s wake-up, and never less than one watchdog period."""
    return max(5.0, period)


async def _watchdog(publisher: Publisher, stop: asyncio.Event) -> bool:
    """Feed systemd's watchdog only while the publisher's pump comes round;
    returns True if the pump thread died (the agent then exits for a restart)."""
    period = sdnotify.watchdog_period()
    tick = min(1.0, period) if period else 1.0
    hungry = False
    while not stop.is_set():
        if not publisher.alive():
            log.critical("the publisher thread died, so no reading would be sent; the agent "
                         "exits (code %d) to be started again", EXIT_CRASH)
            stop.set()
            return True
        now = time.monotonic()
        stalled = period is not None and now - publisher.beat > stall_limit(period)
        if stalled and not hungry:
            log.error("the publisher made no progress for %.0f s: not feeding the systemd "
                      "watchdog, so the agent is restarted", now - publisher.beat)
        hungry = stalled
        if period is not None and not stalled:
            sdnotify.notify("WATCHDOG=1")
        await wait_or_stop(stop, tick)
    return False


async def run_daemon(cfg: AgentConfig) -> int:
    spool = open_spool(cfg)
    publisher = Publisher(cfg.mqtt, cfg.identity, spool)
    scheduler = Scheduler(cfg.probes, probe_context(cfg))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("agent %s starting for school %s with probes %s (spool holds %d)", __version__,
             cfg.identity.school_id, ", ".join(p.name for p in cfg.probes) or "none",
             spool.depth())
    publisher.start()
    sdnotify.notify("READY=1")
    try:
        _, _, _, crashed = await asyncio.gather(
            scheduler.run_forever(publisher.submit, stop),
            _heartbeat(cfg, publisher, spool, scheduler, stop),
            _summary(cfg, publisher, spool, scheduler, stop), _watchdog(publisher, stop))
    finally:
        sdnotify.notify("STOPPING=1")
        log.info("stopping; %d readings remain spooled for the next start", spool.depth())
        publisher.stop()
        statefile.write(cfg.state_dir, publisher.record())
        spool.close()
    return EXIT_CRASH if crashed else 0


RECEIPT_WAIT_SECONDS = 5.0


async def publish_once(cfg: AgentConfig, readings: list[Reading], timeout: float) -> int:
    """Publish readings from one cycle; 0 once the broker acknowledged them all.

    Then wait briefly for the collector's receipt, to tell the engineer
    whether the readings are stored; unconfirmed ones stay spooled and the
    daemon resends them if no receipt ever comes.
    """
    spool = open_spool(cfg)
    publisher = Publisher(cfg.mqtt, cfg.identity, spool)
    for reading in readings:
        publisher.submit(reading)
    publisher.start()
    sent = await asyncio.to_thread(publisher.wait_drained, timeout, False)
    stored = sent and publisher.receipts and await asyncio.to_thread(
        publisher.wait_drained, min(RECEIPT_WAIT_SECONDS, timeout))
    publisher.stop()
    statefile.write(cfg.state_dir, publisher.record())
    left = spool.depth()
    spool.close()
    if not sent:
        cause = publisher.link.message or publisher.rejected_by_broker or (
            "the broker accepted the connection but did not acknowledge them")
        log.error("could not publish: %s; %d readings stay spooled and the daemon sends them "
                  "when it can", cause, left)
        return 1
    if stored:
        log.info("the collector confirmed that all %d readings are stored", len(readings))
    elif publisher.held:
        for reason in publisher.held:
            log.error("the collector did not store the readings (%s): %s; %d stay spooled",
                      reason, advice(reason, cfg.identity), left)
        return 1
    elif publisher.receipts:
        log.warning("the broker accepted the readings but no collector confirmed storing %d "
                    "of them yet; they stay spooled and the daemon resends them", left)
    return 0
