"""The collector process: MQTT subscription in, pipeline, dead letters out."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time

from agent.contract.mqttclient import connect_async, make_client
from collector.config import CollectorConfig
from collector.errors import Unavailable
from collector.ingest.pipeline import Pipeline
from collector.ingest.receipts import Receipts
from collector.ingest.transport import Message, make_transport
from collector.ingest.validate import Validator
from collector.ingest.writer import Writer, make_writer
from collector.judge.alerts import apprise_sink, mqtt_sink
from collector.judge.evaluate import Evaluator
from collector.judge.registry import Registry

log = logging.getLogger(__name__)
DEAD_LETTER_PAYLOAD_BYTES = 4096


def dead_letter_body(message: Message, reason: str, detail: str) -> bytes:
    """The rejected message with its reason, small enough to inspect by hand."""
    raw = message.payload[:DEAD_LETTER_PAYLOAD_BYTES]
    return json.dumps({
        "reason": reason, "detail": detail[:500], "topic": message.topic[:300],
        "payload": raw.decode("utf-8", "replace"), "payload_bytes": len(message.payload),
        "received_ns": message.received_ns,
    }, ensure_ascii=False).encode("utf-8")


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
        registry = Registry(cfg.registry.file) if cfg.registry.file else None
        if registry is None:
            log.warning("no school registry configured: readings from any school are accepted")
        self.evaluator: Evaluator | None = None
        if cfg.targets.file:
            sinks = [mqtt_sink(self._publish_alert, cfg.alerts.topic_prefix)]
            if cfg.alerts.urls:
                sinks.append(apprise_sink(cfg.alerts.urls, cfg.alerts.language))
            self.evaluator = Evaluator(cfg, self.writer, sinks, registry)
        self.pipeline = Pipeline(Validator.from_config(cfg.validation, registry), self.writer,
                                 self._ack, self._dead_letter, cfg.batch.max_points,
                                 cfg.batch.max_delay_seconds, cfg.batch.max_backoff_seconds,
                                 self.receipts.add)
        self.transport = make_transport(m, m.client_id, self.topic, self.pipeline.submit,
                                        lambda: self.pipeline.queued)
        self.connected = self.transport.connected  # set while the subscription stands
        self.stop_event = threading.Event()

    def _ack(self, messages: list[Message]) -> None:
        self.transport.ack(messages)

    def _dead_letter(self, message: Message, reason: str, detail: str) -> None:
        topic = f"{self.cfg.mqtt.dead_letter_prefix}/{reason}"
        self.client.publish(topic, dead_letter_body(message, reason, detail), qos=1)

    def _publish_alert(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def _evaluate_loop(self) -> None:
        assert self.evaluator is not None
        interval = self.cfg.targets.evaluate_interval_seconds
        while not self.stop_event.wait(interval):
            try:
                self.evaluator.run_once()
            except Unavailable as err:
                log.warning("compliance not evaluated this round: %s", err)
            except Exception:  # a rules bug must not stop the storing of readings
                log.exception("compliance evaluation failed")

    def start(self) -> threading.Thread:
        connect_async(self.client, self.cfg.mqtt)
        self.transport.start()
        worker = threading.Thread(target=self.pipeline.run, name="pipeline",
                                  args=(self.stop_event, self.cfg.mqtt.receive_maximum))
        worker.start()
        threading.Thread(target=self.receipts.run, args=(self.stop_event,), name="receipts",
                         daemon=True).start()
        if self.evaluator is not None:
            threading.Thread(target=self._evaluate_loop, name="evaluate", daemon=True).start()
        return worker

    def stop(self, worker: threading.Thread) -> None:
        self.stop_event.set()
        worker.join()
        self.receipts.flush()
        self.transport.stop()
        self.client.disconnect()
        self.client.loop_stop()
        self.writer.close()
        log.info("collector stopped: %s", self.pipeline.stats.summary())

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        worker = self.start()
        interval = self.cfg.logging.stats_interval_seconds
        next_log = time.monotonic() + interval
        while not self.stop_event.wait(1.0):
            if time.monotonic() >= next_log:
                log.info("stats: %s backlog=%d", self.pipeline.stats.summary(),
                         self.pipeline.queued)
                next_log += interval
        self.stop(worker)
        return 0
