"""The collector's inbound MQTT 5 connection: subscribe, receive, acknowledge.

paho spends most of a collector's CPU on the inbound path: a few small
recv() calls, a properties object and a callback per message, and a PUBACK
queued, signalled and sent on its own. A backlog drain needs 20,000 messages a
second from one process, so this connection reads the socket in large chunks,
hands the broker's messages to the pipeline a chunk at a time, and sends the
PUBACKs of a stored batch in one write. It speaks only what a QoS 1
subscriber needs (CONNECT with a persistent session and a receive maximum,
SUBSCRIBE, PUBLISH in, PUBACK out, PINGREQ, DISCONNECT) and QoS 0 out for
receipts, which are as many as the schools; dead letters and alerts go
through paho at QoS 1.

It keeps to what the broker's CONNACK announces (Server Keep Alive, Maximum
Packet Size, Receive Maximum, Topic Alias Maximum, an assigned client id:
MQTT 5, 3.2.2.3) and asks, in CONNECT, for packets no larger than a reading
plus headers and for no topic aliases. The byte work is in ``packets``.

All socket I/O happens in one thread, so a TLS connection is never read and
written from two threads at once; other threads queue their PUBACKs and wake
it through a socket pair.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable

from paho.mqtt.packettypes import PacketTypes

from agent.contract.mqttconfig import MqttConfig
from collector.ingest.packets import (
    CONNACK,
    DISCONNECT,
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBLISH,
    SUBACK,
    ProtocolError,
    ServerLimits,
    connect_packet,
    parse_publish,
    puback_packets,
    publish_packet,
    reason,
    skip_properties,
    split_packets,
    subscribe_packet,
)
from collector.ingest.transport import Deliver, Message

log = logging.getLogger(__name__)
READ_BYTES = 256 * 1024
CONNECT_TIMEOUT = 10.0


class LeanSubscriber:
    """One persistent MQTT 5 subscription feeding ``deliver`` from its own thread."""

    def __init__(self, cfg: MqttConfig, client_id: str, topic: str,
                 receive_maximum: int, deliver: Deliver,
                 backlog: Callable[[], int] | None = None) -> None:
        self.cfg = cfg
        self.client_id = client_id
        self.topic = topic
        # Sent in CONNECT: how many unacked QoS 1 messages the broker may send.
        self.receive_maximum = receive_maximum
        self.deliver = deliver
        # Mosquitto 2.0.11 honours the receive maximum only for the first
        # window after a reconnect, then sends whatever is queued (measured:
        # 17,000+ unacked at receive maximum 1000). So the socket is not read
        # while this many wait unprocessed: the backlog stays in the broker,
        # not in this process.
        self.backlog = backlog or (lambda: 0)
        self.stop_reading_at = 2 * receive_maximum
        self.limits = ServerLimits(cfg.keepalive)
        self.connected = threading.Event()
        self.conn = 0  # connection generation; acks for an older one are dropped
        self._acks: list[int] = []
        self._publishes: list[bytes] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- called from other threads ------------------------------------------
    def ack(self, messages: list[Message]) -> None:
        """PUBACK these messages (thread-safe; sent by the I/O thread)."""
        with self._lock:  # conn changes only under this lock
            mids = [m.mid for m in messages if m.qos and m.conn == self.conn]
            if not mids:
                return
            wake = not self._acks and not self._publishes
            self._acks.extend(mids)
        if wake:
            self._wake()

    def publish(self, topic: str, payload: bytes) -> None:
        """Send at QoS 0 (thread-safe): for messages whose loss costs only a
        resend, such as receipts. Held while disconnected."""
        packet = publish_packet(topic, payload)
        with self._lock:
            wake = not self._acks and not self._publishes
            self._publishes.append(packet)
        if wake:
            self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
            self._wake_w.send(b"\0")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-in", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(CONNECT_TIMEOUT + 5)
        self._wake_r.close()
        self._wake_w.close()

    # -- the I/O thread -------------------------------------------------------
    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                sock, buf = self._open()
            except (OSError, ProtocolError) as err:
                log.warning("cannot connect to broker %s:%s: %s; retry in %.0f s",
                            self.cfg.host, self.cfg.port, err, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 120.0)
                continue
            delay = 1.0
            try:
                self._serve(sock, buf)
            except (OSError, ProtocolError) as err:
                if not self._stop.is_set():
                    log.warning("disconnected from broker: %s", err)
            # Anything else is a bug: it ends this thread, and with it the
            # process (threading.excepthook), so systemd restarts a collector
            # that would otherwise stay deaf or retry the same fault forever.
            finally:
                self.connected.clear()
                sock.close()
            if not self._stop.is_set():
                self._stop.wait(delay)

    def _open(self) -> tuple[socket.socket, bytearray]:
        cfg = self.cfg
        raw = socket.create_connection((cfg.host, cfg.port), timeout=CONNECT_TIMEOUT)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock: socket.socket = raw
        try:
            if cfg.tls:
                ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
                if cfg.cert_file:
                    ctx.load_cert_chain(cfg.cert_file, cfg.key_file or None)
                sock = ctx.wrap_socket(raw, server_hostname=cfg.host)
            sock.sendall(connect_packet(self.client_id, cfg.keepalive, self.receive_maximum,
                                        cfg.username, cfg.password))
            buf = bytearray()
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ProtocolError("broker closed the connection before CONNACK")
                buf += chunk
                packets, _ = split_packets(buf)
                if packets:
                    break
            first, start, end = packets[0]
            body = bytes(buf[start:end])
            if first >> 4 != CONNACK or len(body) < 2:
                raise ProtocolError(f"expected CONNACK, got packet type {first >> 4}")
            if body[1] >= 0x80:
                raise ProtocolError("broker refused the collector: "
                                    + reason(PacketTypes.CONNACK, body[1]))
            self._connack(body)
            with self._lock:
                self.conn += 1
                self._acks.clear()  # for the old connection: the broker redelivers those
            sock.sendall(subscribe_packet(self.topic))
            log.info("connected to %s:%s, subscribing to %s (session present: %s)",
                     cfg.host, cfg.port, self.topic, bool(body[0] & 1))
            sock.setblocking(False)
            return sock, bytearray(buf[end:])  # with anything sent right after CONNACK
        except BaseException:
            sock.close()
            raise

    def _connack(self, body: bytes) -> None:
        limits = ServerLimits.from_connack(body, self.cfg.keepalive)
        if limits.assigned_client_id:
            # Reconnect under this id, or the session and its queue are lost.
            log.info("broker assigned client id %s", limits.assigned_client_id)
            self.client_id = limits.assigned_client_id
        if limits != self.limits:
            log.info("broker limits: keepalive %d s, max packet %s bytes, receive maximum %d, "
                     "topic aliases %d", limits.keepalive, limits.max_packet_size or "any",
                     limits.receive_maximum, limits.topic_alias_maximum)
        self.limits = limits

    def _fits(self, packet: bytes) -> bool:
        limit = self.limits.max_packet_size
        if limit and len(packet) > limit:
            # Sending it would get us disconnected (MQTT 5, 3.2.2.3.6); a lost
            # receipt costs only a resend.
            log.warning("dropped a %d-byte publish: the broker accepts at most %d",
                        len(packet), limit)
            return False
        return True

    def _serve(self, sock: socket.socket, buf: bytearray) -> None:
        keepalive = self.limits.keepalive
        out = bytearray()
        last_sent = time.monotonic()
        ping_sent = 0.0
        # TLS may hold decrypted bytes that select() cannot see.
        def buffered() -> bool:
            return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

        self._handle(buf)
        while not self._stop.is_set():
            now = time.monotonic()
            if keepalive and not out and now - last_sent >= keepalive * 0.75:
                out += PINGREQ
                ping_sent = ping_sent or now
            reading_socket = self.backlog() < self.stop_reading_at
            if reading_socket and ping_sent and now - ping_sent > keepalive:
                raise ProtocolError(f"no answer to a ping in {keepalive} s")
            if not reading_socket:  # the answer may be waiting unread behind the backlog
                wait, ping_sent = 0.05, 0.0
            else:
                wait = 0.0 if buffered() else max((keepalive or 4) * 0.25, 0.5)
            readable, _, _ = select.select(
                [sock, self._wake_r] if reading_socket else [self._wake_r],
                [sock] if out else [], [], wait)
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    self._wake_r.recv(4096)
                with self._lock:
                    mids, self._acks = self._acks, []
                    publishes, self._publishes = self._publishes, []
                out += puback_packets(mids)
                out += b"".join(p for p in publishes if self._fits(p))
            if sock in readable or (reading_socket and buffered()):
                try:
                    chunk = sock.recv(READ_BYTES)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    chunk = None
                if chunk == b"":
                    raise ProtocolError("broker closed the connection")
                if chunk:
                    buf += chunk
                    if self._handle(buf):
                        ping_sent = 0.0
            if out:
                try:
                    sent = sock.send(out)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    sent = 0
                del out[:sent]
                if sent:
                    last_sent = time.monotonic()
        self._disconnect(sock, out)

    def _handle(self, buf: bytearray) -> bool:
        """Deliver complete PUBLISH packets; True if a PINGRESP was among them."""
        packets, used = split_packets(buf)
        if not packets:
            return False
        data = bytes(buf[:used])
        del buf[:used]
        now_ns = time.time_ns()
        messages: list[Message] = []
        pong = False
        try:
            for first, start, end in packets:
                kind = first >> 4
                if kind == PUBLISH:
                    messages.append(parse_publish(data, first, start, end, self.conn, now_ns))
                elif kind == PINGRESP:
                    pong = True
                elif kind == SUBACK:
                    self._suback(data[start:end])
                elif kind == DISCONNECT:
                    code = data[start] if end > start else 0
                    raise ProtocolError("broker disconnected the collector: "
                                        + reason(PacketTypes.DISCONNECT, code))
                elif kind != PUBACK:
                    raise ProtocolError(f"unexpected packet type {kind}")
        except IndexError as err:  # a packet shorter than its own fields say
            raise ProtocolError(f"malformed packet from the broker: {err}") from None
        if messages:
            self.deliver(messages)
        return pong

    def _suback(self, body: bytes) -> None:
        # packet id (2), properties, then one reason code per filter
        code = body[skip_properties(body, 2)]
        if code >= 0x80:
            raise ProtocolError(f"subscription to {self.topic} refused: "
                                + reason(PacketTypes.SUBACK, code))
        self.connected.set()
        log.info("subscribed to %s at QoS %d", self.topic, code)

    def _disconnect(self, sock: socket.socket, out: bytearray) -> None:
        # Normal disconnection: the session (and what the broker queues for
        # it) stays for SESSION_EXPIRY_SECONDS.
        with self._lock:
            out += puback_packets(self._acks) + b"".join(
                p for p in self._publishes if self._fits(p))
            self._acks.clear()
            self._publishes.clear()
        sock.setblocking(True)
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            sock.sendall(bytes(out) + b"\xe0\x00")
