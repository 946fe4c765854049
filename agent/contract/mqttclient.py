"""paho-mqtt 2.x client set-up shared by the agent's publisher and the collector's
outbound connection."""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.contract.mqttconfig import SESSION_EXPIRY_SECONDS, MqttConfig


def make_client(cfg: MqttConfig, client_id: str) -> mqtt.Client:
    """An MQTT 5 client with TLS and credentials from an ``[mqtt]`` config table."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    if cfg.tls:
        client.tls_set(ca_certs=cfg.ca_file or None, certfile=cfg.cert_file or None,
                       keyfile=cfg.key_file or None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    if cfg.username:
        client.username_pw_set(cfg.username, cfg.password or None)
    client.reconnect_delay_set(min_delay=1, max_delay=120)
    return client


def connect_async(client: mqtt.Client, cfg: MqttConfig) -> None:
    """Start connecting in paho's thread; it retries with backoff on its own."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
    client.connect_async(cfg.host, cfg.port, cfg.keepalive, clean_start=False,
                         properties=props)
    client.loop_start()
