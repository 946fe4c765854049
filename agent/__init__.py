"""schoolnet-audit agent: measures a school's network and publishes readings over MQTT."""

from agent.contract import __version__

__all__ = ["__version__"]
