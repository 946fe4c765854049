"""Probe ``wan_link``: the school's exit interface from the kernel's counters
(and, optionally, the router's WAN port over SNMP). Config: ``sample.toml``."""
