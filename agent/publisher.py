"""Sends spooled readings to the broker over MQTT (paho-mqtt 2.x), QoS 1.

Readings go to the spool first and leave it only when the collector's receipt
says they are stored (or, with receipts off, on the broker's PUBACK), so a
broker crash, a cut link or an agent restart loses nothing. A window of
``max_inflight`` unacknowledged readings is fed oldest first from the spool,
which also replays whatever a previous run left behind.

One thread, the pump, owns the in-flight window and is the only one that
publishes readings; paho's thread just queues acks for it. (paho calls
on_publish while holding its own lock, so publishing from there, or under a
lock that on_publish also takes, deadlocks.)

The retained status topic carries a birth message on every connect and the
broker publishes the last will (offline) if the agent vanishes.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from agent import __version__
from agent.advice import advice
from agent.config import AgentMqtt
from agent.contract.mqttclient import connect_async, make_client
from agent.contract.reading import Reading
from agent.contract.wire import (
    Identity,
    Receipt,
    WireError,
    decode_receipt_full,
    encode,
    encode_status,
)
from agent.linkcause import LinkLog, describe, describe_connack
from agent.spool import Spool

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, mqtt_cfg: AgentMqtt, identity: Identity, spool: Spool) -> None:
        self.identity = identity
        self.spool = spool
        self.window = mqtt_cfg.max_inflight
        self.published = 0
        self.confirmed = 0
        self.refused = 0  # readings the collector refused for good, dropped from the spool
        self._refusals_logged: set[str] = set()  # warn once per reason, not per receipt
        # reason -> readings the collector holds back for it (kept, resent later)
        self.held: dict[str, int] = {}
        self.refusals: dict[str, int] = {}  # reason -> readings refused for good
        self.clock_offset: float | None = None  # this clock minus the collector's, seconds
        self.last_published: float | None = None  # wall-clock times, for status
        self.last_receipt: float | None = None
        self.rejected_by_broker = ""  # the broker's reason for refusing a publish
        self.receipts = mqtt_cfg.receipts
        self.receipt_timeout = mqtt_cfg.receipt_timeout
        self._inflight: dict[int, int] = {}  # paho mid -> spool seq; pump thread only
        self._cursor = 0  # highest seq handed to paho since the last resend sweep
        self._swept = time.monotonic()
        self._spool_changes = spool.changes
        self._retained_logged = False
        # When the pump last came round; the watchdog is fed only while it does.
        self.beat = time.monotonic()
        # Work for the pump: ("ack", mid, failed), ("receipt", ranges), WAKE or STOP.
        self._events: queue.SimpleQueue[tuple[Any, ...] | str] = queue.SimpleQueue()
        self._connected = threading.Event()
        self._stopping = False
        self._cfg = mqtt_cfg
        self._pump_thread = threading.Thread(target=self._pump_loop, name="publisher",
                                             daemon=True)
        client_id = mqtt_cfg.client_id or f"schoolnet-agent-{identity.school_id}"
        self.client = make_client(mqtt_cfg, client_id)
        self.client.max_inflight_messages_set(self.window)
        self.client.will_set(identity.status_topic, self._status("offline"), qos=1, retain=True)
        self.link = LinkLog()
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_receipt

    def _status(self, state: str) -> bytes:
        return encode_status(self.identity, state, time.time_ns(), __version__)

    def start(self) -> None:
        self._pump_thread.start()
        # connect_async + loop_start: paho retries with backoff in its own
        # thread, so an unreachable broker at boot is not an error.
        connect_async(self.client, self._cfg)

    def submit(self, reading: Reading) -> int:
        """Spool a reading and send it when the window allows; returns its seq."""
        topic = self.identity.topic(reading.measurement)
        seq = self.spool.append(topic, lambda s: encode(self.identity, reading, s))
        self._events.put("WAKE")
        return seq

    def connected(self) -> bool:
        return self._connected.is_set()

    def alive(self) -> bool:
        return self._pump_thread.is_alive()

    def _pump_loop(self) -> None:
        while True:
            self.beat = time.monotonic()
            try:
                event = self._events.get(timeout=1.0)
            except queue.Empty:
                event = "WAKE"
            if event == "STOP":
                return
            if isinstance(event, tuple) and event[0] == "ack":
                self._acked(event[1], event[2])
            elif isinstance(event, tuple) and event[0] == "receipt":
                self._receipted(event[1])
            if time.monotonic() - self._swept >= 1.0:
                self._sweep()
            self._fill()

    def _sweep(self) -> None:
        self._swept = time.monotonic()
        self.spool.maintain()
        if self.spool.changes != self._spool_changes:
            # Readings moved between memory and disk (or a fresh spool
            # replaced a corrupt one): look at all of them again.
            self._spool_changes = self.spool.changes
            self._cursor = 0
        if self.receipts:
            again = self.spool.resend_unconfirmed(self.receipt_timeout)
            if again:
                log.info("%d readings have no receipt from the collector yet; resending",
                         again)
                self._cursor = 0

    def record(self) -> dict[str, Any]:
        """What ``status`` shows of this publisher (the daemon saves it)."""
        return {"last_published": self.last_published, "last_receipt": self.last_receipt,
                "published": self.published, "confirmed": self.confirmed,
                "refused": self.refusals, "held": self.held,
                "clock_offset": self.clock_offset, "link_problem": self.link.message,
                "broker_refused": self.rejected_by_broker}

    def _receipted(self, receipt: Receipt) -> None:
        self.last_receipt = time.time()
        if receipt.now_ns is not None:
            self.clock_offset = self.last_receipt - receipt.now_ns / 1e9
        stored = self.spool.confirm(receipt.stored)
        self.confirmed += stored
        log.debug("receipt: %d of the readings it names were sent and are now stored", stored)
        if stored and self.held:
            log.info("the collector stores this school's readings again")
            self.held.clear()
            self._refusals_logged = {r for r in self._refusals_logged if r in self.refusals}
        for reason, ranges in receipt.refused.items():
            # Refused for good: resending would be refused again, so they go.
            gone = self.spool.confirm(ranges)
            self.refused += gone
            self.refusals[reason] = self.refusals.get(reason, 0) + gone
            if gone and reason not in self._refusals_logged:
                self._refusals_logged.add(reason)
                log.warning("the collector refused %d readings for good (%s), e.g. seq %d; "
                            "they are dropped from the spool: %s", gone, reason, ranges[0][0],
                            advice(reason, self.identity))
        for reason, ranges in receipt.held.items():
            # Kept: they stay sent-but-unconfirmed, so the spool resends them
            # with its growing backoff until the centre fixes the cause.
            self.held[reason] = sum(last - first + 1 for first, last in ranges)
            if reason not in self._refusals_logged:
                self._refusals_logged.add(reason)
                log.error("the collector did not store this school's readings (%s): %s; "
                          "they stay spooled and are resent later", reason,
                          advice(reason, self.identity))

    def _acked(self, mid: int, failed: str) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is None:
            return  # the status message, which is not spooled
        if failed:
            # The broker refused it (e.g. an ACL): it stays spooled for a
            # later start instead of being retried in a tight loop.
            self.rejected_by_broker = failed
            log.error("broker rejected reading seq %d (%s): its ACL lets this account "
                      "publish only under its own school's topic; check that [school] id and "
                      "region codes match the account the network centre issued (%s/...)",
                      seq, failed, self.identity.prefix)
        else:
            self.published += 1
            self.last_published = time.time()
            if self.receipts:
                self.spool.mark_sent(seq)
            else:
                self.spool.remove(seq)

    def _fill(self) -> None:
        room = self.window - len(self._inflight)
        if room <= 0 or not self._connected.is_set():
            return
        flying = set(self._inflight.values())
        rows = self.spool.after(self._cursor, room + len(flying))
        for seq, topic, payload in [r for r in rows if r[0] not in flying][:room]:
            info = self.client.publish(topic, payload, qos=1)
            # An ack for this mid can only be handled after this line: acks
            # reach this same thread through the queue.
            self._inflight[info.mid] = seq
            self._cursor = seq

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.link.failed(*describe_connack(reason, f"{self._cfg.host}:{self._cfg.port}"))
            return
        self.link.connected()
        log.info("connected to %s:%s (session present: %s)", self._cfg.host,
                 self._cfg.port, flags.session_present)
        client.publish(self.identity.status_topic, self._status("online"), qos=1, retain=True)
        if self.receipts:
            client.subscribe(self.identity.receipt_topic, qos=1)
        self._connected.set()
        self._events.put("WAKE")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this inside its ``except OSError`` and passes no error:
        # the exception being handled is the cause.
        err = sys.exc_info()[1]
        if err is not None:
            self.link.failed(*describe(err, self._cfg.host, self._cfg.port, self._cfg.tls))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason: Any, props: Any) -> None:
        self._connected.clear()
        if self._stopping:
            log.info("disconnected from broker")
        else:
            log.warning("disconnected from broker: %s; retrying with backoff", reason)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int,
                    reason: Any, props: Any) -> None:
        self._events.put(("ack", mid, str(reason) if reason.is_failure else ""))

    def _on_receipt(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:
            # The collector never retains a receipt: a retained one is replayed
            # on every connect, so it is stale at best and forged at worst.
            if not self._retained_logged:
                self._retained_logged = True
                log.warning("ignoring a retained receipt on %s: receipts are never retained, "
                            "so it is stale or forged; clear it on the broker", msg.topic)
            return
        try:
            self._events.put(("receipt", decode_receipt_full(bytes(msg.payload))))
        except WireError as err:
            log.warning("ignoring a malformed receipt on %s: %s", msg.topic, err)

    def wait_drained(self, timeout: float, stored: bool = True) -> bool:
        """Wait until every spooled reading is stored (receipted) or, with
        ``stored=False``, acknowledged by the broker; False on timeout."""
        left = self.spool.depth if stored else self.spool.unsent
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if left() == 0:
                return True
            time.sleep(0.05)
        return left() == 0

    def stop(self, timeout: float = 5.0) -> None:
        """Publish the offline status and disconnect cleanly (no last will)."""
        self._stopping = True
        if self._connected.is_set():
            info = self.client.publish(self.identity.status_topic, self._status("offline"),
                                       qos=1, retain=True)
            info.wait_for_publish(timeout)
        self.client.disconnect()
        self.client.loop_stop()
        self._events.put("STOP")
        if self._pump_thread.is_alive():
            self._pump_thread.join(timeout)
