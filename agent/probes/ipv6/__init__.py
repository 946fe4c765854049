"""Probe ``ipv6``: the school's IPv6 deployment level (0-4) with its evidence.
Config: ``sample.toml``."""
