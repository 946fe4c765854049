"""The collector process: MQTT subscription in, pipeline, dead letters out.

Crash-only: an exception nobody handles, in any thread, ends the process with
``EXIT_CRASH`` and systemd starts it again. Nothing is lost by that: a reading
is acked to the broker only once stored, so the broker redelivers whatever was
in flight, and a lost receipt costs the agent one resend. What is expected
(the database down, a broken registry edit, an alert channel failing) is
handled where it happens, with a logged reason. systemd's watchdog is fed
only while the pipeline makes progress, or waits with nothing to do.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.contract import sdnotify
from agent.contract.measurements import SCHEMA
from agent.contract.mqttclient import connect_async, make_client
from collector.config import CollectorConfig
from collector.errors import CollectorError, Unavailable
from collector.ingest.limits import DeadLetterSample, SchoolBounds
from collector.ingest.pipeline import Pipeline
from collector.ingest.receipts import Receipts
from collector.ingest.series import SeriesBounds, influx_seed
from collector.ingest.stats import school_of
from collector.ingest.transport import Message, make_transport
from collector.ingest.validate import Validator
from collector.ingest.writer import Writer, make_writer
from collector.judge.alerts import apprise_sink, mqtt_sink
from collector.judge.evaluate import Evaluator
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import Registry
from collector.judge.rounds import WindowJudge
from collector.national.wire import publisher
from collector.report.digest import Digester
from collector.retained import RetainedGuard

log = logging.getLogger(__name__)
DEAD_LETTER_PAYLOAD_BYTES = 4096
EXIT_CRASH = 70  # EX_SOFTWARE: systemd's Restart= starts the collector again


def dead_letter_body(message: Message, reason: str, detail: str) -> bytes:
    """The rejected message with its reason, small enough to inspect by hand."""
    raw = message.payload[:DEAD_LETTER_PAYLOAD_BYTES]
    return json.dumps({
        "reason": reason, "detail": detail[:500], "topic": message.topic[:300],
        "payload": raw.decode("utf-8", "replace"), "payload_bytes": len(message.payload),
        "received_ns": message.received_ns,
    }, ensure_ascii=False).encode("utf-8")


class BeatingPipeline(Pipeline):
    """The pipeline, noting when its loop comes round for the next batch and
    whether it is waiting for one (idle, nothing to do)."""

    beat = 0.0
    waiting = False

    def next_batch(self, stop: threading.Event, limit: int) -> list[Message]:
        self.beat, self.waiting = time.monotonic(), True
        try:
            return super().next_batch(stop, limit)
        finally:
            self.beat, self.waiting = time.monotonic(), False


class Collector:
    def __init__(self, cfg: CollectorConfig, writer: Writer | None = None) -> None:
        self.cfg = cfg
        m = cfg.mqtt
        # Readings come in, and receipts go out, on the transport's connection
        # (collector.ingest.transport); dead letters and alerts go out through paho.
        self.client = make_client(m, f"{m.client_id}-out")
        self.topic = f"$share/{m.share_group}/{m.topic}" if m.share_group else m.topic
        self.writer = writer or make_writer(cfg.storage)
        # QoS 0: a lost receipt costs one resend, which overwrites itself.
        self.receipts = Receipts(lambda topic, body: self.transport.publish(topic, body),
                                 cfg.mqtt.receipt_interval_seconds)
        registry = (Registry(cfg.registry.file, max_drop_share=cfg.registry.max_drop_share)
                    if cfg.registry.file else None)
        if registry is None:
            log.warning("no school registry configured: readings from any school are accepted")
        self.evaluator: Evaluator | None = None
        if cfg.targets.file:
            sinks = [mqtt_sink(self._publish_alert, cfg.alerts.topic_prefix)]
            if cfg.alerts.urls:
                sinks.append(apprise_sink(cfg.alerts.urls, cfg.alerts.language))
            self.evaluator = Evaluator(cfg, self.writer, sinks, registry)
            if not m.share_group:  # this process stores every reading: judge from them
                self.evaluator.judge = WindowJudge(self.evaluator.reader,
                                                   self.evaluator.targets,
                                                   cfg.targets.state_file)
            if cfg.national.publish:  # to the bridge that carries them to the national tier
                self.evaluator.rollup_sink = publisher(
                    lambda topic, body: self._publish_alert(topic, body), cfg.national.topic)
        limits = cfg.limits
        # A flood of refusals must not become a flood of dead letters.
        self.dead_letters = DeadLetterSample(limits.dead_letters_per_minute, self._dead_letter)
        series = None
        if limits.enabled:
            series = SeriesBounds(SCHEMA, limits.series_scale,
                                  influx_seed(InfluxQLReader(cfg.storage).series, SCHEMA))
        self.digester: Digester | None = None
        if cfg.digest.schedule and registry is not None:
            self.digester = Digester(cfg, registry, [apprise_sink(cfg.alerts.urls,
                                                                  cfg.digest.language)])
        self.pipeline = BeatingPipeline(
            Validator.from_config(cfg.validation, registry), self.writer, self._ack,
            self.dead_letters, cfg.batch.max_points, cfg.batch.max_delay_seconds,
            cfg.batch.max_backoff_seconds, self.receipts.add, series=series)
        if self.evaluator is not None and isinstance(self.evaluator.judge, WindowJudge) \
                and self.evaluator.judge.streamed:
            self.pipeline.on_stored = self.evaluator.judge.feed
        self.bounds = SchoolBounds(limits, self._ack, self.pipeline.count,
                                   dead_letter=self.dead_letters)
        self.retained = RetainedGuard(
            self._clear_retained, self._ack, self.dead_letters, self.bounds.charge,
            lambda topic, reason: self.pipeline.count(school_of(topic), reason))
        # Transport -> retained guard -> per-school rate bounds -> pipeline.
        self.transport = make_transport(
            m, m.client_id, self.topic,
            self.retained.filter(self.bounds.filter(self.pipeline.submit)),
            lambda: self.pipeline.queued)
        self.connected = self.transport.connected  # set while the subscription stands
        self.stop_event = threading.Event()
        self.failure: str | None = None  # why the process must end, once a thread died
        self.threads: list[threading.Thread] = []

    def _ack(self, messages: list[Message]) -> None:
        self.transport.ack(messages)

    def _dead_letter(self, message: Message, reason: str, detail: str) -> None:
        topic = f"{self.cfg.mqtt.dead_letter_prefix}/{reason}"
        self.client.publish(topic, dead_letter_body(message, reason, detail), qos=1)

    def _publish_alert(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def _clear_retained(self, topic: str) -> None:
        # An empty retained publish deletes what the broker keeps for the topic.
        self.client.publish(topic, b"", qos=1, retain=True)

    def fail(self, why: str) -> None:
        """A thread died: stop everything; ``run`` exits with EXIT_CRASH."""
        if self.failure is None:
            self.failure = why
        self.stop_event.set()

    def _guarded(self, name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
        def body() -> None:
            try:
                target(*args)
            except BaseException as err:
                log.critical("thread %s died: %r; the collector exits for a restart", name,
                             err, exc_info=True)
                self.fail(f"thread {name} died: {err!r}")
                return
            if not self.stop_event.is_set():
                log.critical("thread %s ended on its own; the collector exits for a restart",
                             name)
                self.fail(f"thread {name} ended")
        thread = threading.Thread(target=body, name=name, daemon=True)
        self.threads.append(thread)
        return thread

    def _evaluate_loop(self) -> None:
        assert self.evaluator is not None
        interval = self.cfg.targets.evaluate_interval_seconds
        while not self.stop_event.wait(interval):
            try:
                self.evaluator.run_once()
            except Unavailable as err:  # the database is down: the next round will do
                log.warning("compliance not evaluated this round: %s", err)
            except CollectorError as err:  # e.g. the database refused the verdicts
                log.error("compliance not evaluated this round: %s", err)
            # Anything else is a bug: it ends the process (crash-only), and
            # readings already acked are stored, so nothing is lost.

    def _digest_loop(self) -> None:
        assert self.digester is not None
        while not self.stop_event.wait(60):
            try:
                self.digester.maybe_send(datetime.datetime.now(datetime.UTC).date())
            except Unavailable as err:  # the database is down: try again in a minute
                log.warning("digest not sent yet: %s", err)
            except CollectorError as err:  # e.g. the digest's region left the registry
                log.error("digest not sent: %s", err)

    def start(self) -> threading.Thread:
        connect_async(self.client, self.cfg.mqtt)
        self.transport.start()
        worker = self._guarded("pipeline", self.pipeline.run, self.stop_event,
                               self.cfg.mqtt.receive_maximum)
        worker.start()
        self._guarded("receipts", self.receipts.run, self.stop_event).start()
        if self.evaluator is not None:
            self._guarded("evaluate", self._evaluate_loop).start()
        if self.digester is not None:
            self._guarded("digest", self._digest_loop).start()
        return worker

    def stop(self, worker: threading.Thread) -> None:
        self.stop_event.set()
        worker.join()
        self.receipts.flush()
        self.transport.stop()
        self.client.disconnect()
        self.client.loop_stop()
        self.writer.close()
        if self.evaluator is not None and isinstance(self.evaluator.judge, WindowJudge):
            self.evaluator.judge.save()
        log.info("collector stopped: %s", self.pipeline.stats.summary())

    def progressing(self, since: float, failures_then: int) -> bool:
        """Whether the pipeline came round for a batch since ``since``, waits
        for one, or is retrying a database that is down (a restart would not
        help that)."""
        return (self.pipeline.beat >= since or self.pipeline.waiting
                or self.pipeline.stats.write_failures != failures_then)

    def _hook(self, args: threading.ExceptHookArgs) -> None:
        # Threads not started here (the transport's, paho's) end up here.
        name = args.thread.name if args.thread else "?"
        log.critical("thread %s died: %r; the collector exits for a restart", name,
                     args.exc_value, exc_info=args.exc_value)
        self.fail(f"thread {name} died: {args.exc_value!r}")

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        threading.excepthook = self._hook
        worker = self.start()
        sdnotify.notify("READY=1")
        period = sdnotify.watchdog_period()
        interval = self.cfg.logging.stats_interval_seconds
        tick = min(1.0, period) if period else 1.0
        next_log = time.monotonic() + interval
        window_start, failures_then = time.monotonic(), 0
        while not self.stop_event.wait(tick):
            now = time.monotonic()
            dead = [t.name for t in self.threads if not t.is_alive()]
            if dead:
                self.fail(f"thread {', '.join(dead)} is gone")
                break
            if period and now - window_start >= period:
                if self.progressing(window_start, failures_then):
                    sdnotify.notify("WATCHDOG=1")
                else:
                    log.error("pipeline made no progress for %.0f s: not feeding the watchdog",
                              now - window_start)
                window_start, failures_then = now, self.pipeline.stats.write_failures
            if now >= next_log:
                log.info("stats: %s backlog=%d dead_letters_sampled_out=%d",
                         self.pipeline.stats.summary(), self.pipeline.queued,
                         self.dead_letters.sampled_out)
                next_log += interval
        if self.failure is not None:
            # Crash-only: no orderly stop that could hang on the broken part;
            # unacked readings are redelivered to the next run.
            log.critical("exiting (%s): %s", self.failure, self.pipeline.stats.summary())
            logging.shutdown()
            sys.stderr.flush()
            os._exit(EXIT_CRASH)
        sdnotify.notify("STOPPING=1")
        self.stop(worker)
        return 0
