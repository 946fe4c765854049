"""schoolnet-audit agent: measures a school's network and publishes readings over MQTT."""

__version__ = "0.1.0"
