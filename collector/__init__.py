"""schoolnet-audit collector: validates agents' readings and stores them in InfluxDB."""

from agent.contract import __version__

__all__ = ["__version__"]
